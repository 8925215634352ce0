//! IP_TTL on a TCP connection (`tcp_set_ttl`; RFC 1122 §3.2.1.7): every
//! segment after it carries the TTL, software GSO's pieces included; the
//! peer's keep the default.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::tcp::conn::SetOptionError;

#[test]
fn a_connections_ttl_goes_on_every_segment_it_sends() {
    let mut w = Wire::new();
    let (c, s) = connected(&mut w);
    assert_eq!(w.a.tcp_ttl(c), Some(64));
    w.a.tcp_set_ttl(c, 9).unwrap();
    assert_eq!(w.a.tcp_ttl(c), Some(9));
    let ttls = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&ttls);
    w.drop = Box::new(move |to_b, frame| {
        log.borrow_mut().push((to_b, frame[8]));
        false
    });
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    w.transfer(true, c, s, &data);
    w.transfer(false, s, c, &data[..10_000]);
    let ttls = ttls.borrow();
    assert!(ttls.iter().filter(|(to_b, _)| *to_b).count() > 200);
    assert!(
        ttls.iter()
            .all(|&(to_b, ttl)| ttl == if to_b { 9 } else { 64 })
    );
    // Software GSO wrote most of A's segments as pieces of larger packets.
    assert!(w.a.piece_polls > 100, "{}", w.a.piece_polls);
    assert_eq!(w.a.tcp_set_ttl(c, 0), Err(SetOptionError::InvalidValue));
    w.a.tcp_abort(w.now, c);
    assert_eq!(w.a.tcp_set_ttl(c, 5), Err(SetOptionError::InvalidHandle));
    assert_eq!(w.a.tcp_ttl(c), None);
}
