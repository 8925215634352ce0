//! The eight TCP control bits (RFC 9293 §3.1, RFC 3168 §6.1 for ECE/CWR).

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign};

/// The control bits in byte 13 of the header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }

    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }

    pub const fn difference(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }

    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }

    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }

    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }

    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.insert(rhs);
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

/// tcpdump's letters, in tcpdump's order: F S R P . U E W.
const LETTERS: [(TcpFlags, char); 8] = [
    (TcpFlags::FIN, 'F'),
    (TcpFlags::SYN, 'S'),
    (TcpFlags::RST, 'R'),
    (TcpFlags::PSH, 'P'),
    (TcpFlags::ACK, '.'),
    (TcpFlags::URG, 'U'),
    (TcpFlags::ECE, 'E'),
    (TcpFlags::CWR, 'W'),
];

/// tcpdump style: `S`, `S.`, `.`, `P.`, `F.`, `R.`, `SEW`, `none`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        for (flag, letter) in LETTERS {
            if self.contains(flag) {
                fmt::Write::write_char(f, letter)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags[{self}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_tcpdump() {
        let cases = [
            (TcpFlags::SYN, "S"),
            (TcpFlags::SYN | TcpFlags::ACK, "S."),
            (TcpFlags::ACK, "."),
            (TcpFlags::PSH | TcpFlags::ACK, "P."),
            (TcpFlags::FIN | TcpFlags::ACK, "F."),
            (TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK, "FP."),
            (TcpFlags::RST, "R"),
            (TcpFlags::RST | TcpFlags::ACK, "R."),
            (TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR, "SEW"),
            (TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE, "S.E"),
            (TcpFlags::URG | TcpFlags::ACK, ".U"),
            (TcpFlags::empty(), "none"),
        ];
        for (flags, text) in cases {
            assert_eq!(flags.to_string(), text);
        }
        assert_eq!(format!("{:?}", TcpFlags::SYN), "TcpFlags[S]");
    }

    #[test]
    fn set_operations() {
        let mut f = TcpFlags::SYN;
        f.insert(TcpFlags::ACK);
        assert!(f.contains(TcpFlags::SYN | TcpFlags::ACK));
        assert!(f.syn() && f.ack() && !f.fin() && !f.rst());
        f.remove(TcpFlags::SYN);
        assert_eq!(f, TcpFlags::ACK);
        assert!(!f.contains(TcpFlags::SYN | TcpFlags::ACK));
        assert!(f.intersects(TcpFlags::SYN | TcpFlags::ACK));
        assert_eq!((TcpFlags(0xFF).difference(TcpFlags::ACK)).bits(), 0xEF);
        assert_eq!((TcpFlags(0x12) & TcpFlags::ACK), TcpFlags::ACK);
    }
}
