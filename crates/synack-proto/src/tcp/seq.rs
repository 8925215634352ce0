//! TCP sequence numbers: 32-bit values compared modulo 2^32.
//!
//! RFC 9293 §3.4: "It is essential to remember that the actual sequence number
//! space is finite, though very large [...] all arithmetic dealing with
//! sequence numbers must be performed modulo 2**32." Comparison is only
//! meaningful between numbers less than 2^31 apart, so `SeqNum` deliberately
//! has no `PartialOrd`: use [`SeqNum::before`] and [`SeqNum::after`], which
//! read like the RFC's `<` and `>` on sequence numbers.

use core::fmt;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A TCP sequence (or acknowledgment) number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    pub const fn new(raw: u32) -> Self {
        SeqNum(raw)
    }

    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Signed distance from `other` to `self`: positive when `self` is after `other`.
    pub const fn diff(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self < other` in sequence space.
    pub const fn before(self, other: SeqNum) -> bool {
        self.diff(other) < 0
    }

    /// `self <= other` in sequence space.
    pub const fn before_eq(self, other: SeqNum) -> bool {
        self.diff(other) <= 0
    }

    /// `self > other` in sequence space.
    pub const fn after(self, other: SeqNum) -> bool {
        self.diff(other) > 0
    }

    /// `self >= other` in sequence space.
    pub const fn after_eq(self, other: SeqNum) -> bool {
        self.diff(other) >= 0
    }

    /// `start <= self < end`, the RFC 9293 window test. An empty range contains nothing.
    pub const fn in_window(self, start: SeqNum, end: SeqNum) -> bool {
        self.after_eq(start) && self.before(end)
    }

    /// `start <= self <= end`.
    pub const fn in_closed(self, start: SeqNum, end: SeqNum) -> bool {
        self.after_eq(start) && self.before_eq(end)
    }

    /// Number of bytes from `earlier` to `self`, or 0 when `self` is not after it.
    pub const fn since(self, earlier: SeqNum) -> u32 {
        let d = self.diff(earlier);
        if d > 0 { d as u32 } else { 0 }
    }

    /// The later of two sequence numbers.
    pub const fn max_seq(self, other: SeqNum) -> SeqNum {
        if self.after(other) { self } else { other }
    }

    /// The earlier of two sequence numbers.
    pub const fn min_seq(self, other: SeqNum) -> SeqNum {
        if self.before(other) { self } else { other }
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs))
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    /// Lengths are truncated to 32 bits, as sequence space is.
    fn add(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<u32> for SeqNum {
    fn add_assign(&mut self, rhs: u32) {
        *self = *self + rhs;
    }
}

impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl Sub<u32> for SeqNum {
    type Output = SeqNum;
    fn sub(self, rhs: u32) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs))
    }
}

impl SubAssign<u32> for SeqNum {
    fn sub_assign(&mut self, rhs: u32) {
        *self = *self - rhs;
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn order_across_the_wrap() {
        let a = SeqNum(u32::MAX - 10);
        let b = a + 20u32;
        assert_eq!(b.0, 9);
        assert!(a.before(b));
        assert!(b.after(a));
        assert_eq!(b.diff(a), 20);
        assert_eq!(a.diff(b), -20);
        assert_eq!(b.since(a), 20);
        assert_eq!(a.since(b), 0);
        assert!(SeqNum(u32::MAX).in_window(a, b));
        assert!(SeqNum(0).in_window(a, b));
        assert!(!b.in_window(a, b));
        assert!(b.in_closed(a, b));
        assert!(!a.in_window(a, a), "an empty window contains nothing");
        assert_eq!(a.max_seq(b), b);
        assert_eq!(a.min_seq(b), a);
    }

    proptest! {
        #[test]
        fn forward_steps_are_after(base: u32, step in 1u32..(1 << 31)) {
            let a = SeqNum(base);
            let b = a + step;
            prop_assert!(b.after(a));
            prop_assert!(a.before(b));
            prop_assert!(!a.after(b));
            prop_assert!(a.before_eq(b) && !b.before_eq(a));
            prop_assert_eq!(b.diff(a) as i64, step as i64);
            prop_assert_eq!(b - step, a);
        }

        #[test]
        fn exactly_one_relation_holds(x: u32, y: u32) {
            let (a, b) = (SeqNum(x), SeqNum(y));
            // Except at the antipode (distance 2^31), exactly one of <, =, > holds,
            // and the relation is antisymmetric.
            prop_assume!(x.wrapping_sub(y) != 1 << 31);
            let relations = [a.before(b), a == b, a.after(b)];
            prop_assert_eq!(relations.iter().filter(|&&r| r).count(), 1);
            prop_assert_eq!(a.before(b), b.after(a));
        }

        #[test]
        fn window_membership_matches_offsets(start: u32, len in 0u32..(1 << 31), off in 0u32..(1 << 31)) {
            let s = SeqNum(start);
            let e = s + len;
            prop_assert_eq!((s + off).in_window(s, e), off < len);
        }

        #[test]
        fn addition_is_modular(base: u32, n: u32) {
            let a = SeqNum(base);
            prop_assert_eq!((a + n).0, base.wrapping_add(n));
            let mut b = a;
            b += n as usize;
            prop_assert_eq!(b, a + n);
        }
    }
}
