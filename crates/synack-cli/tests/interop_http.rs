//! curl against `synack serve --http` over a TAP (and a TUN), in a namespace
//! of its own.

mod interop;

use std::process::Command;
use std::time::Instant;

use interop::*;

const BIG: usize = 50 << 20;

#[test]
fn curl_fetches_small_and_50_mib_files_from_serve_http() {
    in_namespace(
        "curl_fetches_small_and_50_mib_files_from_serve_http",
        &["curl", "sha256sum", "ss"],
        |env| {
            let www = env.path("www");
            std::fs::create_dir(&www).unwrap();
            std::fs::write(www.join("index.html"), b"<h1>hello from synack</h1>\n").unwrap();
            random_file(&www.join("big.bin"), BIG, 50);
            let serve = Synack::serve(env, &["--port", "80", "--http", www.to_str().unwrap()]);

            // A small page.
            let out = run(Command::new("curl").args(["-sS", "http://192.0.2.2/index.html"]));
            assert!(out.status.success(), "{out:?}");
            assert_eq!(out.stdout, b"<h1>hello from synack</h1>\n");

            // 50 MiB, sha256 equal.
            let dest = env.path("big.out");
            let start = Instant::now();
            let out = run(Command::new("curl").args(["-sS", "-o"]).arg(&dest).args([
                "-w",
                "%{http_code} %{size_download}",
                "http://192.0.2.2/big.bin",
            ]));
            let took = start.elapsed();
            assert!(out.status.success(), "{out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("200 {BIG}"));
            assert_eq!(sha256(&dest), sha256(&www.join("big.bin")));
            report(&format!(
                "curl GET 50 MiB from synack serve --http: {:.2} s, {:.0} Mbit/s",
                took.as_secs_f64(),
                mbit_s(BIG as u64, took)
            ));

            // HEAD: the length without the body.
            let out = run(Command::new("curl").args(["-sS", "-I", "http://192.0.2.2/big.bin"]));
            let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            assert!(head.contains(&format!("content-length: {BIG}")), "{head}");

            // 404, and keep-alive: two requests over one connection.
            let out = run(Command::new("curl").args([
                "-sS",
                "-v",
                "-o",
                "/dev/null",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}\n",
                "http://192.0.2.2/missing",
                "http://192.0.2.2/index.html",
            ]));
            assert_eq!(String::from_utf8_lossy(&out.stdout), "404\n200\n");
            let verbose = String::from_utf8_lossy(&out.stderr);
            assert!(
                verbose.contains("Re-using existing connection")
                    || verbose.contains("Reusing existing"),
                "curl opened a second connection:\n{verbose}"
            );

            let (status, summary) = serve.stop();
            assert!(status.success(), "{status:?}\n{summary}");
            assert!(summary.contains("stopped by SIGINT"), "{summary}");
            assert!(summary.contains("5 HTTP requests"), "{summary}");
        },
    );
}

#[test]
fn curl_fetches_a_page_over_a_tun_too() {
    in_namespace("curl_fetches_a_page_over_a_tun_too", &["curl"], |env| {
        let www = env.path("www");
        std::fs::create_dir(&www).unwrap();
        random_file(&www.join("f.bin"), 1 << 20, 9);
        let serve = Synack::serve_on(
            env,
            "--tun",
            &["--port", "80", "--http", www.to_str().unwrap()],
        );
        // The TUN takes synack's packets through NAPI on a kernel thread:
        // its sysfs attribute, read through a sysfs of this namespace.
        let threaded = synack_tap::sysfs::read("syn0", "threaded").unwrap();
        assert_eq!(threaded, "1");
        let dest = env.path("f.out");
        let out = run(Command::new("curl")
            .args(["-sS", "-o"])
            .arg(&dest)
            .arg("http://192.0.2.2/f.bin"));
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            std::fs::read(www.join("f.bin")).unwrap()
        );
        let (status, _) = serve.stop();
        assert!(status.success());
    });
}
