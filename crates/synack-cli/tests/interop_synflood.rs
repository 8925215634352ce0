//! A SYN flood from scapy (spoofed TEST-NET sources) at `synack serve
//! --syncookies overflow --backlog 64` while curl clients keep getting
//! served.

mod interop;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interop::*;

/// SYNs to 192.0.2.2:80 from random sources in 198.51.100.0/24 and
/// 203.0.113.0/24 (replies go to the gateway, the kernel, which drops
/// them: nobody answers), in batches until killed.
const FLOOD: &str = r#"
import random, sys
from scapy.all import IP, TCP, send, conf
conf.verb = 0
random.seed(7)
sent = 0
while True:
    batch = [
        IP(src="%s.%d" % (random.choice(["198.51.100", "203.0.113"]), random.randint(1, 254)),
           dst=sys.argv[1])
        / TCP(sport=random.randint(1024, 65535), dport=80, flags="S", seq=random.getrandbits(32))
        for _ in range(500)
    ]
    send(batch)
    sent += len(batch)
    print(sent, flush=True)
"#;

#[test]
fn curl_is_served_through_a_syn_flood_with_syn_cookies() {
    in_namespace(
        "curl_is_served_through_a_syn_flood_with_syn_cookies",
        &[PYTHON, "curl"],
        |env| {
            let scapy = run(Command::new(PYTHON).args(["-c", "import scapy.all"]));
            assert!(
                scapy.status.success(),
                "python3-scapy is missing (scripts/install-test-deps.sh)"
            );
            let www = env.path("www");
            std::fs::create_dir(&www).unwrap();
            std::fs::write(www.join("index.html"), b"still here\n").unwrap();
            let serve = Synack::serve(
                env,
                &[
                    "--port",
                    "80",
                    "--http",
                    www.to_str().unwrap(),
                    "--syncookies",
                    "overflow",
                    "--backlog",
                    "64",
                    "--gateway",
                    KERNEL,
                ],
            );
            let mut flood = Command::new(PYTHON)
                .args(["-c", FLOOD, STACK])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let mut counts =
                std::io::BufRead::lines(std::io::BufReader::new(flood.stdout.take().unwrap()));
            // The flood is under way (a few thousand SYNs) before the clients start.
            let mut sent = 0u64;
            while sent < 2000 {
                sent = counts
                    .next()
                    .expect("the flood runs")
                    .unwrap()
                    .parse()
                    .unwrap();
            }
            let start = Instant::now();
            let mut served = 0;
            for _ in 0..20 {
                let out = run(Command::new("curl").args([
                    "-sS",
                    "--max-time",
                    "5",
                    "http://192.0.2.2/index.html",
                ]));
                if out.status.success() && out.stdout == b"still here\n" {
                    served += 1;
                }
            }
            let took = start.elapsed();
            let _ = flood.kill();
            let _ = flood.wait();
            let (status, summary) = serve.stop();
            assert!(status.success(), "{summary}");
            report(&format!(
                "SYN flood (>= {sent} spoofed SYNs): curl served {served}/20 in {:.2} s; {}",
                took.as_secs_f64(),
                summary
                    .lines()
                    .find(|l| l.starts_with("syn cookies"))
                    .unwrap_or("")
            ));
            assert_eq!(
                served, 20,
                "curl clients were refused during the flood\n{summary}"
            );
            let cookies = summary
                .lines()
                .find(|l| l.starts_with("syn cookies"))
                .unwrap_or_else(|| panic!("no SYN cookies were sent:\n{summary}"));
            let sent_cookies: u64 = cookies
                .split_whitespace()
                .nth(2)
                .and_then(|n| n.parse().ok())
                .unwrap();
            assert!(sent_cookies > 1000, "{cookies}");
            assert!(took < Duration::from_secs(60));
        },
    );
}
