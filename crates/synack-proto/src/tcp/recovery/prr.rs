//! Proportional Rate Reduction (RFC 6937): how much a sender in fast
//! recovery may send per ACK, so the window glides to `ssthresh` instead of
//! halting and bursting.
//!
//! Read first: RFC 6937 §3 (the algorithm), §3.1 (PRR-SSRB, the slow start
//! reduction bound, which Linux uses).
//!
//! ```text
//! On entering recovery:
//!    prr_delivered = 0; prr_out = 0; RecoverFS = snd.nxt - snd.una
//! On every ACK during recovery:
//!    prr_delivered += DeliveredData
//!    if (pipe > ssthresh)
//!       sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out
//!    else
//!       limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS
//!       sndcnt = MIN(ssthresh - pipe, limit)
//!    cwnd = pipe + sndcnt
//! On any transmission: prr_out += (data sent)
//! ```
//!
//! As Linux does, the first ACK of a recovery always allows one segment
//! (the fast retransmission, RFC 5681 §3.2 step 2), even when the
//! arithmetic says zero.

/// PRR's state during one recovery. Bytes throughout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prr {
    /// Bytes delivered to the receiver since recovery began.
    pub delivered: u64,
    /// Bytes sent since recovery began.
    pub out: u64,
    /// FlightSize when recovery began.
    pub recover_fs: u32,
    /// The target: ssthresh.
    pub ssthresh: u32,
    /// The window to send against: pipe + sndcnt at the last ACK.
    pub cwnd: u32,
}

impl Prr {
    /// RFC 6937 §3 "On entering recovery". `cwnd` is the window until the
    /// first ACK is processed.
    pub fn start(flight: u32, ssthresh: u32, cwnd: u32) -> Prr {
        Prr {
            delivered: 0,
            out: 0,
            recover_fs: flight.max(1),
            ssthresh,
            cwnd,
        }
    }

    /// RFC 6937 §3 "On every ACK during recovery": `delivered` bytes left
    /// the network with this ACK (cumulatively or by SACK) and `pipe` is
    /// what is in flight after it. Returns sndcnt and sets the window.
    pub fn on_ack(&mut self, delivered: u32, pipe: u32, mss: u32) -> u32 {
        self.delivered += u64::from(delivered);
        let ssthresh = u64::from(self.ssthresh);
        let sndcnt = if pipe > self.ssthresh {
            // Proportional part: CEIL(prr_delivered * ssthresh / RecoverFS).
            let target = (self.delivered * ssthresh).div_ceil(u64::from(self.recover_fs));
            target.saturating_sub(self.out)
        } else {
            // PRR-SSRB.
            let limit = self
                .delivered
                .saturating_sub(self.out)
                .max(u64::from(delivered))
                + u64::from(mss);
            (ssthresh - u64::from(pipe)).min(limit)
        };
        let mut sndcnt = u32::try_from(sndcnt).unwrap_or(u32::MAX);
        // The fast retransmission goes out whatever the arithmetic says.
        if self.out == 0 {
            sndcnt = sndcnt.max(mss);
        }
        self.cwnd = pipe.saturating_add(sndcnt);
        sndcnt
    }

    /// RFC 6937 §3 "On any data transmission or retransmission".
    pub fn on_sent(&mut self, bytes: u32) {
        self.out += u64::from(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    /// RFC 6937 §5's example (figure): 20 segments in flight, one lost,
    /// ssthresh 10 (Reno). Each later ACK delivers one segment; PRR sends
    /// one segment for every two delivered, keeping the ACK clock.
    #[test]
    fn rfc6937_one_loss_sends_every_other_ack() {
        let mut p = Prr::start(20 * MSS, 10 * MSS, 20 * MSS);
        let mut sent = Vec::new();
        // Pipe: 19 segments after the first duplicate (one lost, one SACKed).
        let mut pipe = 18 * MSS;
        for _ in 0..18 {
            // The sender sends while pipe < cwnd: whole segments.
            let sndcnt = p.on_ack(MSS, pipe, MSS);
            let n = sndcnt.div_ceil(MSS);
            sent.push(n);
            p.on_sent(n * MSS);
            pipe = pipe - MSS + n * MSS;
        }
        // The first ACK forces the retransmission; then 1, 0, 1, 0, ...:
        // CEIL(k * 10 / 20) - prr_out.
        assert_eq!(&sent[..6], &[1, 0, 1, 0, 1, 0]);
        assert_eq!(sent.iter().sum::<u32>(), 9);
        assert!(pipe <= 10 * MSS);
    }

    #[test]
    fn below_ssthresh_ssrb_catches_up_at_most_one_segment_beyond_delivery() {
        // Heavy loss: pipe already below ssthresh = 10.
        let mut p = Prr::start(20 * MSS, 10 * MSS, 20 * MSS);
        p.out = u64::from(MSS); // the fast retransmission went out
        p.delivered = u64::from(MSS);
        // An ACK delivering 2 segments with pipe 4: limit = max(3 - 1, 2)
        // + 1 = 3 segments; ssthresh - pipe = 6: sndcnt 3.
        assert_eq!(p.on_ack(2 * MSS, 4 * MSS, MSS), 3 * MSS);
        assert_eq!(p.cwnd, 7 * MSS);
    }

    #[test]
    fn the_first_ack_always_allows_the_fast_retransmission() {
        let mut p = Prr::start(10 * MSS, 5 * MSS, 10 * MSS);
        // Nothing delivered yet (a SACK for data sent before), pipe 9.
        assert_eq!(p.on_ack(0, 9 * MSS, MSS), MSS);
        p.on_sent(MSS);
        assert_eq!(p.on_ack(0, 10 * MSS, MSS), 0);
    }
}
