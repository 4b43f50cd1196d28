//! Call deadlines of one net thread: a min-heap with lazy deletion.
//!
//! Calls answered before their deadline are not removed from the heap (that would cost a
//! search); their entries are skipped when they come up, and the heap is compacted when stale
//! entries outnumber live calls, so its size stays proportional to the calls in flight.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Stale entries tolerated beyond twice the live calls before a compaction.
const SLACK: usize = 4096;

#[derive(Default)]
pub(super) struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, i32)>>,
}

impl Deadlines {
    /// Remembers that call `id` ends at `at`.
    pub fn push(&mut self, at: Instant, id: i32) {
        self.heap.push(Reverse((at, id)));
    }

    /// The earliest deadline, if any (possibly of a call already answered).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns the next entry due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, i32)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Drops entries of calls no longer live once they outnumber the live calls.
    pub fn compact(&mut self, live: usize, is_live: impl Fn(Instant, i32) -> bool) {
        if self.heap.len() <= 2 * live + SLACK {
            return;
        }
        let entries = std::mem::take(&mut self.heap).into_vec();
        self.heap = entries
            .into_iter()
            .filter(|Reverse((at, id))| is_live(*at, *id))
            .collect();
    }

    /// Entries held (live and stale).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let now = Instant::now();
        let mut d = Deadlines::default();
        d.push(now + Duration::from_millis(30), 3);
        d.push(now + Duration::from_millis(10), 1);
        d.push(now + Duration::from_millis(20), 2);
        assert_eq!(d.pop_due(now), None);
        let later = now + Duration::from_millis(25);
        assert_eq!(d.pop_due(later).map(|e| e.1), Some(1));
        assert_eq!(d.pop_due(later).map(|e| e.1), Some(2));
        assert_eq!(d.pop_due(later), None);
        assert_eq!(d.next(), Some(now + Duration::from_millis(30)));
    }

    #[test]
    fn compaction_keeps_only_live_entries() {
        let now = Instant::now();
        let mut d = Deadlines::default();
        for id in 0..10_000 {
            d.push(now, id);
        }
        d.compact(10, |_, id| id < 10);
        assert_eq!(d.len(), 10);
        // Below the threshold nothing is scanned.
        d.compact(10, |_, _| false);
        assert_eq!(d.len(), 10);
    }
}
