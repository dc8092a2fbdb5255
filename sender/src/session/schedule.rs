//! What to send next: the interleaved first pass, then repair bursts driven by feedback.

use fec::{BlockId, ObjectLayout};
use std::collections::VecDeque;
use std::time::Instant;

/// Per-block sending state.
#[derive(Debug, Clone, Default)]
struct BlockSend {
    /// Next fresh ESI: every symbol below it has been sent once.
    next_esi: u32,
    /// Repair symbols owed to the block's worst receiver.
    pending: u32,
    /// When the block's latest symbol left.
    last_sent: Option<Instant>,
    /// Repair symbols sent in answer to feedback.
    repaired: u32,
}

/// The sender's plan: a first pass over groups of `interleave` blocks, round-robin one symbol of
/// each block at a time, then repair bursts, round-robin across the first `repair_window` blocks
/// owed repair.
#[derive(Debug)]
pub struct Schedule {
    layout: ObjectLayout,
    overhead_pct: f64,
    interleave: u32,
    repair_window: u32,
    blocks: Vec<BlockSend>,
    /// Blocks below this have had their whole first pass.
    closed: BlockId,
    /// Position in the current interleave group: the block offset within the group.
    cursor: u32,
    /// ESI the first pass is at within the current group.
    pass_esi: u32,
    repair_queue: VecDeque<BlockId>,
}

impl Schedule {
    /// A schedule for `layout`.
    pub fn new(layout: ObjectLayout, overhead_pct: f64, interleave: u32, repair_window: u32) -> Self {
        Self {
            layout,
            overhead_pct,
            interleave: interleave.max(1),
            repair_window: repair_window.max(1),
            blocks: vec![BlockSend::default(); layout.block_count() as usize],
            closed: 0,
            cursor: 0,
            pass_esi: 0,
            repair_queue: VecDeque::new(),
        }
    }

    /// Symbols of `block` in the first pass: its source symbols plus proactive repair.
    pub fn pass_symbols(&self, block: BlockId) -> u32 {
        let k = self.layout.source_symbols(block);
        k + (f64::from(k) * self.overhead_pct / 100.0).ceil() as u32
    }

    /// Blocks whose first pass is complete.
    pub fn closed(&self) -> BlockId {
        self.closed
    }

    /// Whether the first pass is over and no repair is owed.
    pub fn is_idle(&self) -> bool {
        self.closed == self.layout.block_count() && self.repair_queue.is_empty()
    }

    /// Records a receiver's need for `block`. The need counts only if the report was written
    /// after the block's last symbol could have arrived: it saw every ESI sent so far, or the
    /// holdoff since the last one has passed (that symbol was lost). While the first pass runs,
    /// a need above `straggler_need_pct` of K comes from a receiver that is far behind (slow,
    /// late or restarted): it waits until the pass is over, so one straggler does not set the
    /// pace of the whole group (netsim: 2% of nodes at 1/10 speed).
    pub fn on_need(
        &mut self,
        now: Instant,
        block: BlockId,
        need: u32,
        seen: u32,
        holdoff: std::time::Duration,
        straggler_need_pct: f64,
    ) {
        if block >= self.closed || need == 0 {
            return;
        }
        let first_pass_running = self.closed < self.layout.block_count();
        let straggler = f64::from(need) > f64::from(self.layout.source_symbols(block)) * straggler_need_pct / 100.0;
        if first_pass_running && straggler {
            return;
        }
        let state = &mut self.blocks[block as usize];
        let fresh = seen >= state.next_esi || state.last_sent.is_none_or(|at| now >= at + holdoff);
        if !fresh || need <= state.pending {
            return;
        }
        if state.pending == 0 {
            self.repair_queue.push_back(block);
        }
        state.pending = need;
    }

    /// The next symbol to send, and records it as sent at `now`. Repair goes first: it finishes
    /// blocks, which keeps every receiver's window of blocks in flight small.
    pub fn next(&mut self, now: Instant) -> Option<(BlockId, u32, bool)> {
        if let Some(block) = self.repair_queue.pop_front() {
            let state = &mut self.blocks[block as usize];
            let esi = state.next_esi;
            state.next_esi += 1;
            state.pending -= 1;
            state.repaired += 1;
            state.last_sent = Some(now);
            if state.pending > 0 {
                // Round-robin within the first `repair_window` blocks owed repair, not across all
                // of them: a block's repair encoder is built once (~14 ms at K=1024) and serves
                // the block while it is in this window. Cycling one symbol at a time through more
                // blocks than the driver caches encoders for rebuilt one per symbol (1 Gbit/s,
                // 4 receivers at 1% loss: the sender stalled for good).
                let at = (self.repair_window as usize - 1).min(self.repair_queue.len());
                self.repair_queue.insert(at, block);
            }
            return Some((block, esi, true));
        }
        self.next_first_pass(now).map(|(block, esi)| (block, esi, false))
    }

    fn next_first_pass(&mut self, now: Instant) -> Option<(BlockId, u32)> {
        let count = self.layout.block_count();
        loop {
            if self.closed >= count {
                return None;
            }
            let group_end = (self.closed + self.interleave).min(count);
            let group_len = group_end - self.closed;
            let group_max = (self.closed..group_end).map(|b| self.pass_symbols(b)).max().unwrap_or(0);
            if self.pass_esi >= group_max {
                for block in self.closed..group_end {
                    self.blocks[block as usize].next_esi = self.pass_symbols(block);
                }
                self.closed = group_end;
                self.cursor = 0;
                self.pass_esi = 0;
                continue;
            }
            let block = self.closed + self.cursor;
            let esi = self.pass_esi;
            self.cursor += 1;
            if self.cursor == group_len {
                self.cursor = 0;
                self.pass_esi += 1;
            }
            if esi < self.pass_symbols(block) {
                self.blocks[block as usize].last_sent = Some(now);
                return Some((block, esi));
            }
        }
    }

    /// A fresh repair ESI of `block` (closed) for one receiver alone (without multicast),
    /// counted as repair sent.
    pub fn fresh_repair_esi(&mut self, now: Instant, block: BlockId) -> u32 {
        let state = &mut self.blocks[block as usize];
        let esi = state.next_esi;
        state.next_esi += 1;
        state.repaired += 1;
        state.last_sent = Some(now);
        esi
    }

    /// The next ESI [`Self::fresh_repair_esi`] gives for `block`.
    pub fn next_esi(&self, block: BlockId) -> u32 {
        self.blocks[block as usize].next_esi
    }

    /// Repair symbols sent for `block` in answer to feedback.
    pub fn repaired(&self, block: BlockId) -> u32 {
        self.blocks.get(block as usize).map_or(0, |b| b.repaired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn first_pass_interleaves_and_closes_groups() {
        let layout = ObjectLayout::new(4 * 64 * 3, 64, 4).unwrap();
        let mut schedule = Schedule::new(layout, 0.0, 2, 2);
        let now = Instant::now();
        let order: Vec<_> = std::iter::from_fn(|| schedule.next(now)).map(|(b, e, _)| (b, e)).collect();
        assert_eq!(&order[..4], &[(0, 0), (1, 0), (0, 1), (1, 1)]);
        assert_eq!(order.len(), 12);
        assert_eq!(schedule.closed(), 3);
        assert!(schedule.is_idle());
    }

    #[test]
    fn needs_take_the_maximum_not_the_sum() {
        let layout = ObjectLayout::new(64 * 8, 64, 8).unwrap();
        let mut schedule = Schedule::new(layout, 0.0, 1, 1);
        let now = Instant::now();
        while schedule.next(now).is_some() {}
        let holdoff = Duration::from_millis(10);
        schedule.on_need(now, 0, 3, 8, holdoff, 100.0);
        schedule.on_need(now, 0, 5, 8, holdoff, 100.0);
        schedule.on_need(now, 0, 2, 8, holdoff, 100.0);
        let sent: Vec<_> = std::iter::from_fn(|| schedule.next(now)).collect();
        assert_eq!(sent, vec![(0, 8, true), (0, 9, true), (0, 10, true), (0, 11, true), (0, 12, true)]);
        // A report written before that burst arrived is ignored until the holdoff passes.
        schedule.on_need(now, 0, 5, 8, holdoff, 100.0);
        assert_eq!(schedule.next(now), None);
        schedule.on_need(now + holdoff, 0, 1, 8, holdoff, 100.0);
        assert_eq!(schedule.next(now), Some((0, 13, true)));
        assert_eq!(schedule.repaired(0), 6);
    }

    #[test]
    fn repair_cycles_through_a_window_of_interleave_blocks() {
        let layout = ObjectLayout::new(64 * 8 * 6, 64, 8).unwrap();
        let mut schedule = Schedule::new(layout, 0.0, 2, 2);
        let now = Instant::now();
        while schedule.next(now).is_some() {}
        for block in 0..6 {
            schedule.on_need(now, block, 2, 8, Duration::ZERO, 100.0);
        }
        let blocks: Vec<BlockId> = std::iter::from_fn(|| schedule.next(now)).map(|(b, _, _)| b).collect();
        assert_eq!(blocks, vec![0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5]);
    }

    #[test]
    fn stragglers_wait_for_the_end_of_the_first_pass() {
        let layout = ObjectLayout::new(64 * 8 * 3, 64, 8).unwrap();
        let mut schedule = Schedule::new(layout, 0.0, 1, 1);
        let now = Instant::now();
        for _ in 0..9 {
            schedule.next(now);
        }
        assert_eq!(schedule.closed(), 1);
        let holdoff = Duration::from_millis(10);
        schedule.on_need(now, 0, 6, 8, holdoff, 25.0);
        assert_eq!(schedule.next(now), Some((1, 1, false)), "a straggler's need is held back");
        while schedule.next(now).is_some() {}
        schedule.on_need(now, 0, 6, 8, holdoff, 25.0);
        assert_eq!(schedule.next(now), Some((0, 8, true)), "and served once the pass is over");
    }
}
