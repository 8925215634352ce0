//! A bounded set of byte ranges of a stream.
//!
//! Read first: RFC 2018 §3-4 (SACK blocks describe such ranges), RFC 6675 §3
//! (a sender's scoreboard is one), DESIGN.md §4 ("every resource has a cap").
//!
//! Ranges are half-open `start..end` in 64-bit offsets from the start of the
//! stream, so sequence-number wrap never matters here: the caller maps
//! sequence numbers to offsets once. The set keeps its ranges sorted,
//! disjoint and non-adjacent (touching ranges merge), finds them by binary
//! search, and holds at most `cap` of them: an insert that needs one more
//! range than that is refused, so a peer that sends many tiny out-of-order
//! segments costs a bounded amount of memory.

use core::ops::Range;

/// The set is at its cap and the insert would have needed a new range.
/// The caller drops the data and counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSetFull;

impl core::fmt::Display for RangeSetFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("range set full")
    }
}

impl core::error::Error for RangeSetFull {}

/// Sorted, disjoint, non-adjacent half-open ranges of `u64`, at most `cap`.
///
/// Allocates once, `cap` ranges, on the first insert (so an idle connection's
/// set costs only this struct); [`RangeSet::release_if_empty`] frees it.
/// No operation allocates after that.
#[derive(Debug, Clone)]
pub struct RangeSet {
    /// `(start, end)` pairs, `start < end`, sorted, with a gap between
    /// neighbours (`ranges[i].1 < ranges[i + 1].0`).
    /// Boxed with its header, so an idle set is 16 bytes, not 32 (the
    /// header's allocation comes and goes with the ranges' own).
    #[allow(clippy::box_collection)]
    ranges: Option<Box<Vec<(u64, u64)>>>,
    /// At most `u32::MAX` ranges.
    cap: u32,
}

impl RangeSet {
    /// An empty set that holds at most `cap` ranges. Allocates nothing.
    pub const fn new(cap: usize) -> Self {
        RangeSet {
            ranges: None,
            cap: if cap > u32::MAX as usize {
                u32::MAX
            } else {
                cap as u32
            },
        }
    }

    /// The most ranges the set holds.
    pub fn cap(&self) -> usize {
        self.cap as usize
    }

    /// The ranges, empty while unallocated.
    fn slice(&self) -> &[(u64, u64)] {
        self.ranges.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Number of ranges (not bytes).
    pub fn len(&self) -> usize {
        self.slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.slice().is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.slice().len() >= self.cap()
    }

    /// Total bytes covered.
    pub fn covered_bytes(&self) -> u64 {
        self.slice().iter().map(|&(s, e)| e - s).sum()
    }

    /// The lowest range.
    pub fn first(&self) -> Option<Range<u64>> {
        self.slice().first().map(|&(s, e)| s..e)
    }

    /// The highest range.
    pub fn last(&self) -> Option<Range<u64>> {
        self.slice().last().map(|&(s, e)| s..e)
    }

    /// The ranges in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Range<u64>> + ExactSizeIterator + '_ {
        self.slice().iter().map(|&(s, e)| s..e)
    }

    /// Whether `offset` is covered.
    pub fn contains(&self, offset: u64) -> bool {
        self.range_containing(offset).is_some()
    }

    /// The range that covers `offset`, if any.
    pub fn range_containing(&self, offset: u64) -> Option<Range<u64>> {
        // First range that ends after `offset`: the only candidate.
        let i = self.slice().partition_point(|&(_, e)| e <= offset);
        match self.slice().get(i) {
            Some(&(s, e)) if s <= offset => Some(s..e),
            _ => None,
        }
    }

    /// Bytes of `range` that are covered.
    pub fn covered_within(&self, range: Range<u64>) -> u64 {
        if range.start >= range.end {
            return 0;
        }
        let i = self.slice().partition_point(|&(_, e)| e <= range.start);
        self.slice()[i..]
            .iter()
            .take_while(|&&(s, _)| s < range.end)
            .map(|&(s, e)| e.min(range.end) - s.max(range.start))
            .sum()
    }

    /// The lowest part of `range` that is covered (one contiguous piece).
    pub fn first_overlap(&self, range: Range<u64>) -> Option<Range<u64>> {
        if range.start >= range.end {
            return None;
        }
        let i = self.slice().partition_point(|&(_, e)| e <= range.start);
        match self.slice().get(i) {
            Some(&(s, e)) if s < range.end => Some(s.max(range.start)..e.min(range.end)),
            _ => None,
        }
    }

    /// Adds `range`, merging it with every range it overlaps or touches.
    /// Returns the range that now contains it (after merging); an empty
    /// `range` changes nothing and is returned as is.
    ///
    /// Refused with [`RangeSetFull`], leaving the set unchanged, when the set
    /// holds `cap` ranges and `range` touches none of them.
    pub fn insert(&mut self, range: Range<u64>) -> Result<Range<u64>, RangeSetFull> {
        let (start, end) = (range.start, range.end);
        if start >= end {
            return Ok(range);
        }
        // Ranges i..j overlap or touch start..end: i is the first that ends
        // at or after `start`, j the first that starts after `end`.
        let i = self.slice().partition_point(|&(_, e)| e < start);
        let j = self.slice().partition_point(|&(s, _)| s <= end);
        let cap = self.cap();
        if i == j {
            if self.slice().len() >= cap {
                return Err(RangeSetFull);
            }
            // The one allocation: exactly `cap` ranges.
            let ranges = self
                .ranges
                .get_or_insert_with(|| Box::new(Vec::with_capacity(cap)));
            ranges.insert(i, (start, end));
            return Ok(start..end);
        }
        // i < j: some range overlaps, so the set is allocated.
        let Some(ranges) = self.ranges.as_deref_mut() else {
            return Ok(range);
        };
        let merged = (start.min(ranges[i].0), end.max(ranges[j - 1].1));
        ranges[i] = merged;
        ranges.drain(i + 1..j);
        Ok(merged.0..merged.1)
    }

    /// Removes everything below `upto`: ranges that end at or before it go,
    /// a range that straddles it is trimmed to start at `upto`.
    pub fn remove_front(&mut self, upto: u64) {
        let Some(ranges) = self.ranges.as_deref_mut() else {
            return;
        };
        let k = ranges.partition_point(|&(_, e)| e <= upto);
        ranges.drain(..k);
        if let Some(first) = ranges.first_mut() {
            first.0 = first.0.max(upto);
        }
    }

    /// Removes every range; keeps the allocation.
    pub fn clear(&mut self) {
        if let Some(ranges) = self.ranges.as_deref_mut() {
            ranges.clear();
        }
    }

    /// Frees the allocation if the set is empty; returns whether it did.
    pub fn release_if_empty(&mut self) -> bool {
        if !self.is_empty() || self.ranges.is_none() {
            return false;
        }
        self.ranges = None;
        true
    }

    /// Bytes allocated for ranges (0 while idle).
    pub fn allocated_bytes(&self) -> usize {
        self.ranges.as_ref().map_or(0, |r| r.capacity()) * core::mem::size_of::<(u64, u64)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn set_of(ranges: &[(u64, u64)], cap: usize) -> RangeSet {
        let mut s = RangeSet::new(cap);
        for &(a, b) in ranges {
            s.insert(a..b).unwrap();
        }
        s
    }

    fn pairs(s: &RangeSet) -> Vec<(u64, u64)> {
        s.iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn insert_merges_overlapping_and_touching_ranges() {
        let mut s = set_of(&[(10, 20), (30, 40), (50, 60)], 8);
        assert_eq!(pairs(&s), [(10, 20), (30, 40), (50, 60)]);
        // Touching on both sides merges into one.
        assert_eq!(s.insert(20..30), Ok(10..40));
        assert_eq!(pairs(&s), [(10, 40), (50, 60)]);
        // Spanning several ranges.
        assert_eq!(s.insert(5..55), Ok(5..60));
        assert_eq!(pairs(&s), [(5, 60)]);
        // Inside an existing range: nothing changes.
        assert_eq!(s.insert(7..9), Ok(5..60));
        assert_eq!(s.len(), 1);
        assert_eq!(s.covered_bytes(), 55);
    }

    #[test]
    fn empty_insert_changes_nothing() {
        let mut s = RangeSet::new(0);
        assert_eq!(s.insert(5..5), Ok(5..5));
        let (hi, lo) = (9, 3);
        assert_eq!(s.insert(hi..lo), Ok(hi..lo));
        assert!(s.is_empty());
        assert_eq!(s.allocated_bytes(), 0);
    }

    #[test]
    fn full_set_refuses_new_ranges_but_accepts_merges() {
        let mut s = set_of(&[(0, 10), (20, 30)], 2);
        assert!(s.is_full());
        assert_eq!(s.insert(40..50), Err(RangeSetFull));
        assert_eq!(s.insert(12..15), Err(RangeSetFull));
        assert_eq!(
            pairs(&s),
            [(0, 10), (20, 30)],
            "a refused insert changes nothing"
        );
        assert_eq!(s.insert(30..35), Ok(20..35), "touching merges");
        assert_eq!(s.insert(10..20), Ok(0..35), "filling a hole frees a slot");
        assert_eq!(s.insert(40..50), Ok(40..50));
    }

    #[test]
    fn allocates_cap_once_and_releases_when_empty() {
        let mut s = RangeSet::new(16);
        assert_eq!(s.allocated_bytes(), 0);
        s.insert(1..2).unwrap();
        let allocated = s.allocated_bytes();
        assert_eq!(allocated, 16 * 16);
        for i in 0..15 {
            s.insert(10 * i + 10..10 * i + 12).unwrap();
        }
        assert_eq!(s.allocated_bytes(), allocated, "no growth up to cap");
        assert!(!s.release_if_empty());
        s.remove_front(u64::MAX);
        assert!(s.release_if_empty());
        assert_eq!(s.allocated_bytes(), 0);
    }

    #[test]
    fn remove_front_drops_and_trims() {
        let mut s = set_of(&[(10, 20), (30, 40), (50, 60)], 8);
        s.remove_front(5);
        assert_eq!(pairs(&s), [(10, 20), (30, 40), (50, 60)]);
        s.remove_front(35);
        assert_eq!(pairs(&s), [(35, 40), (50, 60)]);
        s.remove_front(40);
        assert_eq!(pairs(&s), [(50, 60)]);
        s.remove_front(100);
        assert!(s.is_empty());
    }

    #[test]
    fn queries_find_covering_ranges() {
        let s = set_of(&[(10, 20), (30, 40)], 8);
        assert!(!s.contains(9));
        assert!(s.contains(10));
        assert!(s.contains(19));
        assert!(!s.contains(20));
        assert_eq!(s.range_containing(35), Some(30..40));
        assert_eq!(s.range_containing(25), None);
        assert_eq!(s.covered_within(15..35), 5 + 5);
        assert_eq!(s.covered_within(0..100), 20);
        assert_eq!(s.covered_within(20..30), 0);
        assert_eq!(s.first_overlap(15..35), Some(15..20));
        assert_eq!(s.first_overlap(20..35), Some(30..35));
        assert_eq!(s.first_overlap(20..30), None);
        assert_eq!(s.first(), Some(10..20));
        assert_eq!(s.last(), Some(30..40));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u64),
        RemoveFront(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => (0u64..200, 0u64..20).prop_map(|(s, l)| Op::Insert(s, s + l)),
            1 => (0u64..220).prop_map(Op::RemoveFront),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn behaves_like_a_set_of_offsets(cap in 1usize..8, ops in proptest::collection::vec(op(), 1..80)) {
            let mut s = RangeSet::new(cap);
            let mut model = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(a, b) => {
                        let touches = (a..b).any(|x| model.contains(&x))
                            || (a < b && (model.contains(&(a.wrapping_sub(1))) || model.contains(&b)));
                        match s.insert(a..b) {
                            Ok(r) => {
                                model.extend(a..b);
                                if a < b {
                                    prop_assert!(r.start <= a && b <= r.end);
                                    prop_assert_eq!(s.range_containing(a), Some(r));
                                }
                            }
                            Err(RangeSetFull) => {
                                prop_assert!(!touches, "an insert that merges must not be refused");
                                prop_assert_eq!(s.len(), cap);
                            }
                        }
                    }
                    Op::RemoveFront(u) => {
                        s.remove_front(u);
                        model.retain(|&x| x >= u);
                    }
                }
                // Invariants: sorted, disjoint, non-adjacent, non-empty, within cap.
                let v = pairs(&s);
                prop_assert!(v.len() <= cap);
                for w in v.windows(2) {
                    prop_assert!(w[0].1 < w[1].0, "ranges {:?} must not touch", w);
                }
                prop_assert!(v.iter().all(|&(a, b)| a < b));
                // Same coverage as the model.
                let covered: BTreeSet<u64> = v.iter().flat_map(|&(a, b)| a..b).collect();
                prop_assert_eq!(&covered, &model);
                for x in 0..230 {
                    prop_assert_eq!(s.contains(x), model.contains(&x));
                }
                prop_assert_eq!(s.covered_bytes(), model.len() as u64);
            }
        }

        #[test]
        fn covered_within_counts_model_bytes(ranges in proptest::collection::vec((0u64..100, 1u64..10), 0..10), a in 0u64..120, l in 0u64..40) {
            let mut s = RangeSet::new(64);
            let mut model = BTreeSet::new();
            for (start, len) in ranges {
                s.insert(start..start + len).unwrap();
                model.extend(start..start + len);
            }
            let expect = (a..a + l).filter(|x| model.contains(x)).count() as u64;
            prop_assert_eq!(s.covered_within(a..a + l), expect);
            let first = (a..a + l).find(|x| model.contains(x));
            match s.first_overlap(a..a + l) {
                None => prop_assert_eq!(first, None),
                Some(r) => {
                    prop_assert_eq!(Some(r.start), first);
                    prop_assert!((r.start..r.end).all(|x| model.contains(&x)));
                    prop_assert!(r.end == a + l || !model.contains(&r.end));
                }
            }
        }
    }
}
