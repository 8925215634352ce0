//! The control socket answers with the stack's sockets.

mod common;

use std::io::ErrorKind;

use common::*;
use synack::control::{ControlServer, QueryError, query};
use synack::net::{TcpListener, TcpStream};

#[test]
fn ss_rows_come_over_the_control_socket() {
    let (a, b) = pair();
    let l = TcpListener::bind(&b, "0.0.0.0:80").unwrap();
    let c = TcpStream::connect(&a, addr(B, 80)).unwrap();
    let (_s, _) = l.accept().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.sock");
    let server = ControlServer::start(b.clone(), "tunb", &path).unwrap();
    // A second server on the same path is refused while the first answers.
    let e = ControlServer::start(b.clone(), "tunb", &path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");

    let snap = query(&path).unwrap();
    assert_eq!(snap.pid, std::process::id());
    assert_eq!(snap.device, "tunb");
    let rows: Vec<_> = snap
        .sockets
        .iter()
        .map(|r| {
            (
                r.state.as_str(),
                r.local.to_string(),
                r.peer.map(|p| p.to_string()),
            )
        })
        .collect();
    let client = c.local_addr().unwrap().to_string();
    assert_eq!(
        rows,
        vec![
            ("LISTEN", "0.0.0.0:80".to_owned(), None),
            ("ESTAB", "192.0.2.2:80".to_owned(), Some(client)),
        ]
    );
    assert_eq!(
        snap.sockets[0].send_q, 128,
        "a listener's Send-Q is its backlog"
    );
    let info = snap.sockets[1]
        .info
        .as_ref()
        .expect("tcp_info of a held connection");
    assert!(info.ts && info.sack && info.wscale.is_some());
    assert!(info.mss > 0 && info.cwnd > 0);

    drop(server);
    assert!(!path.exists(), "the socket file is removed");
    assert!(matches!(query(&path), Err(QueryError::Missing(_))));
}
