//! Resets, ICMP and UDP against the Linux kernel: connecting to a closed
//! port is refused both ways; `ping` gets echo replies; UDP echo with socat.

mod interop;

use std::process::Command;

use interop::*;

const CONNECT: &str = r#"
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    print("connected")
except ConnectionRefusedError:
    print("refused")
"#;

#[test]
fn linux_connecting_to_a_closed_synack_port_is_refused() {
    in_namespace(
        "linux_connecting_to_a_closed_synack_port_is_refused",
        &[PYTHON],
        |env| {
            let serve = Synack::serve(env, &["--port", "7", "--echo"]);
            let out = python(CONNECT, &[STACK, "8"]);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "refused",
                "{out:?}"
            );
            // The open port still works.
            let out = python(CONNECT, &[STACK, "7"]);
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "connected");
            // Stopping aborts what is still open with a reset: let the echo
            // connection's close finish first, so the count below is only
            // the refusal's.
            serve.wait_idle();
            let (status, summary) = serve.stop();
            assert!(status.success(), "{summary}");
            assert!(summary.contains("1 resets sent"), "{summary}");
        },
    );
}

#[test]
fn synack_connecting_to_a_closed_linux_port_is_refused() {
    in_namespace(
        "synack_connecting_to_a_closed_linux_port_is_refused",
        &[],
        |env| {
            let out = run(Command::new(BIN)
                .args(["connect", "192.0.2.1:9"])
                .args(link_args(env)));
            assert_eq!(out.status.code(), Some(1), "{out:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("refused"), "{err}");
        },
    );
}

#[test]
fn ping_gets_echo_replies_from_the_stack() {
    in_namespace("ping_gets_echo_replies_from_the_stack", &["ping"], |env| {
        let serve = Synack::serve(env, &["--port", "7", "--echo"]);
        let out = run(Command::new("ping").args(["-c", "3", "-i", "0.2", "-W", "2", STACK]));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("3 received"), "{text}");
        // A big one: 4000 bytes of payload arrive in fragments and go back in fragments.
        let out = run(Command::new("ping").args(["-c", "1", "-s", "4000", "-W", "2", STACK]));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("1 received"), "{text}");
        drop(serve);
    });
}

#[test]
fn socat_gets_udp_echoes_from_serve_echo() {
    in_namespace("socat_gets_udp_echoes_from_serve_echo", &["socat"], |env| {
        let serve = Synack::serve(env, &["--port", "7", "--echo"]);
        for msg in ["hello over udp", "a second datagram"] {
            let mut child = Command::new("socat")
                .args(["-T", "5", "-", "UDP:192.0.2.2:7"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::{Read, Write};
            child
                .stdin
                .as_mut()
                .unwrap()
                .write_all(msg.as_bytes())
                .unwrap();
            let mut got = vec![0u8; msg.len()];
            child.stdout.as_mut().unwrap().read_exact(&mut got).unwrap();
            assert_eq!(got, msg.as_bytes());
            let _ = child.kill();
            let _ = child.wait();
        }
        // A datagram to a closed port draws ICMP port unreachable (socat sees ECONNREFUSED).
        let out = python(
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(5)\ns.connect(('192.0.2.2', 9))\ns.send(b'x')\ntry:\n    s.recv(10)\n    print('answered')\nexcept ConnectionRefusedError:\n    print('refused')\n",
            &[],
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "refused",
            "{out:?}"
        );
        let (status, summary) = serve.stop();
        assert!(status.success(), "{summary}");
        assert!(
            summary.contains("udp:         2 datagrams in, 2 out"),
            "{summary}"
        );
    });
}
