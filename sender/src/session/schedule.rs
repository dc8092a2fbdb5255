//! What to send next: the interleaved first pass, then repair bursts driven by feedback.

use fec::{BlockId, ObjectLayout};
use std::collections::VecDeque;

/// Per-block sending state.
#[derive(Debug, Clone, Default)]
struct BlockSend {
    /// Next fresh ESI: every symbol below it has been sent once.
    next_esi: u32,
    /// Repair symbols owed to the block's worst receiver.
    pending: u32,
    /// [`Schedule::sent`] just after the block's latest symbol left: a report that echoes a
    /// progress mark at least this high was written after that symbol arrived or was lost.
    last_mark: u64,
    /// Repair symbols sent in answer to feedback.
    repaired: u32,
    /// Symbols of its first pass, fixed when its interleave group starts; 0 before.
    pass: u32,
}

/// The sender's plan: a first pass over groups of `interleave` blocks, round-robin one symbol of
/// each block at a time, then repair bursts, round-robin across the first `repair_window` blocks
/// owed repair.
#[derive(Debug)]
pub struct Schedule {
    layout: ObjectLayout,
    /// Proactive repair while it is on, percent of K.
    max_overhead_pct: f64,
    /// Proactive repair of the groups not yet started: `max_overhead_pct`, or 0 while it is off
    /// (see [`Self::set_proactive`]).
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
    /// Data symbols sent so far: the mark progress packets carry.
    sent: u64,
}

impl Schedule {
    /// A schedule for `layout`, with `overhead_pct` of proactive repair in each block's first
    /// pass while it is on.
    pub fn new(layout: ObjectLayout, overhead_pct: f64, interleave: u32, repair_window: u32) -> Self {
        Self {
            layout,
            max_overhead_pct: overhead_pct,
            overhead_pct,
            interleave: interleave.max(1),
            repair_window: repair_window.max(1),
            blocks: vec![BlockSend::default(); layout.block_count() as usize],
            closed: 0,
            cursor: 0,
            pass_esi: 0,
            repair_queue: VecDeque::new(),
            sent: 0,
        }
    }

    /// Symbols of `block` in the first pass: its source symbols plus proactive repair.
    pub fn pass_symbols(&self, block: BlockId) -> u32 {
        match self.blocks[block as usize].pass {
            0 => {
                let k = self.layout.source_symbols(block);
                k + (f64::from(k) * self.overhead_pct / 100.0).ceil() as u32
            }
            fixed => fixed,
        }
    }

    /// Turns proactive repair on or off for the groups not yet started (see
    /// [`super::SenderConfig::overhead_idle`]).
    pub fn set_proactive(&mut self, on: bool) {
        self.overhead_pct = if on { self.max_overhead_pct } else { 0.0 };
    }

    /// Blocks whose first pass is complete.
    pub fn closed(&self) -> BlockId {
        self.closed
    }

    /// Whether every block has had its whole first pass.
    pub fn first_pass_over(&self) -> bool {
        self.closed == self.layout.block_count()
    }

    /// Whether a need of `need` symbols for `block` is above `straggler_need_pct` of its K: a
    /// receiver far behind the group.
    pub fn is_straggler_need(&self, block: BlockId, need: u32, straggler_need_pct: f64) -> bool {
        self.layout.contains(block) && f64::from(need) > f64::from(self.layout.source_symbols(block)) * straggler_need_pct / 100.0
    }

    /// Data symbols sent so far (see [`fec::wire::Packet::Progress`]'s `sent`).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Whether the first pass is over and no repair is owed.
    pub fn is_idle(&self) -> bool {
        self.closed == self.layout.block_count() && self.repair_queue.is_empty()
    }

    /// Records a receiver's need for `block`, in a report that echoed progress mark `heard`.
    /// The need counts only if the report was written after the block's last symbol arrived or
    /// was lost: it saw every ESI sent so far, or it had taken in a progress packet sent after
    /// that symbol (same socket, same order). A receiver that lags, its socket holding a queue
    /// of datagrams, reports needs the repair on their way already covers; a timer cannot tell
    /// those apart (a 30 ms holdoff resent each need every report at 1 Gbit/s, 4 receivers on
    /// 2 cores: repair 30% of the object), the echoed mark can. (Needs far behind that wait
    /// for the end of the first pass are the session's to hold back: see
    /// `SenderSession::holds_far_behind`.)
    pub fn on_need(&mut self, block: BlockId, need: u32, seen: u32, heard: u64) {
        if block >= self.closed || need == 0 {
            return;
        }
        let state = &mut self.blocks[block as usize];
        let fresh = seen >= state.next_esi || heard >= state.last_mark;
        if !fresh || need <= state.pending {
            return;
        }
        if state.pending == 0 {
            self.repair_queue.push_back(block);
        }
        state.pending = need;
    }

    /// The next symbol to send, and records it as sent. Repair goes first: it finishes blocks,
    /// which keeps every receiver's window of blocks in flight small.
    pub fn next(&mut self) -> Option<(BlockId, u32, bool)> {
        if let Some(block) = self.repair_queue.pop_front() {
            let esi = self.fresh_repair_esi(block);
            let state = &mut self.blocks[block as usize];
            state.pending -= 1;
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
        self.next_first_pass().map(|(block, esi)| (block, esi, false))
    }

    fn next_first_pass(&mut self) -> Option<(BlockId, u32)> {
        let count = self.layout.block_count();
        loop {
            if self.closed >= count {
                return None;
            }
            let group_end = (self.closed + self.interleave).min(count);
            let group_len = group_end - self.closed;
            if self.cursor == 0 && self.pass_esi == 0 && self.blocks[self.closed as usize].pass == 0 {
                // A new group: its first pass is fixed now, whatever happens to the overhead.
                for block in self.closed..group_end {
                    self.blocks[block as usize].pass = self.pass_symbols(block);
                }
            }
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
                self.mark_sent(block);
                return Some((block, esi));
            }
        }
    }

    /// A fresh repair ESI of `block` (closed) for one receiver alone (without multicast),
    /// counted as repair sent.
    pub fn fresh_repair_esi(&mut self, block: BlockId) -> u32 {
        self.mark_sent(block);
        let state = &mut self.blocks[block as usize];
        let esi = state.next_esi;
        state.next_esi += 1;
        state.repaired += 1;
        esi
    }

    /// Counts a symbol of `block` as sent: the progress mark moves past it.
    fn mark_sent(&mut self, block: BlockId) {
        self.sent += 1;
        self.blocks[block as usize].last_mark = self.sent;
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

    #[test]
    fn first_pass_interleaves_and_closes_groups() {
        let layout = ObjectLayout::new(4 * 64 * 3, 64, 4).unwrap();
        let mut schedule = Schedule::new(layout, 0.0, 2, 2);
        let order: Vec<_> = std::iter::from_fn(|| schedule.next()).map(|(b, e, _)| (b, e)).collect();
        assert_eq!(&order[..4], &[(0, 0), (1, 0), (0, 1), (1, 1)]);
        assert_eq!(order.len(), 12);
        assert_eq!(schedule.closed(), 3);
        assert!(schedule.is_idle());
    }

    #[test]
    fn needs_take_the_maximum_not_the_sum() {
        let layout = ObjectLayout::new(64 * 8, 64, 8).unwrap();
        let mut schedule = Schedule::new(layout, 0.0, 1, 1);
        while schedule.next().is_some() {}
        let heard = schedule.sent();
        schedule.on_need(0, 3, 8, heard);
        schedule.on_need(0, 5, 8, heard);
        schedule.on_need(0, 2, 8, heard);
        let sent: Vec<_> = std::iter::from_fn(|| schedule.next()).collect();
        assert_eq!(sent, vec![(0, 8, true), (0, 9, true), (0, 10, true), (0, 11, true), (0, 12, true)]);
    }

    #[test]
    fn a_need_counts_only_once_the_repair_before_it_arrived_or_was_lost() {
        let layout = ObjectLayout::new(64 * 8, 64, 8).unwrap();
        let mut schedule = Schedule::new(layout, 0.0, 1, 1);
        while schedule.next().is_some() {}
        schedule.on_need(0, 2, 8, schedule.sent());
        assert_eq!(schedule.next(), Some((0, 8, true)));
        let before_burst_ended = schedule.sent();
        assert_eq!(schedule.next(), Some((0, 9, true)));
        // Written by a receiver that had not yet heard a mark past the burst (it lags, or the
        // burst's last symbol is still on its way), however long ago the burst left: ignored.
        schedule.on_need(0, 2, 8, before_burst_ended);
        assert_eq!(schedule.next(), None);
        // It saw every symbol sent: its need is what is left.
        schedule.on_need(0, 1, 10, before_burst_ended);
        assert_eq!(schedule.next(), Some((0, 10, true)));
        // The last symbol was lost: a mark past it says so.
        schedule.on_need(0, 1, 10, schedule.sent());
        assert_eq!(schedule.next(), Some((0, 11, true)));
        assert_eq!(schedule.repaired(0), 4);
    }

    #[test]
    fn repair_cycles_through_a_window_of_interleave_blocks() {
        let layout = ObjectLayout::new(64 * 8 * 6, 64, 8).unwrap();
        let mut schedule = Schedule::new(layout, 0.0, 2, 2);
        while schedule.next().is_some() {}
        for block in 0..6 {
            schedule.on_need(block, 2, 8, schedule.sent());
        }
        let blocks: Vec<BlockId> = std::iter::from_fn(|| schedule.next()).map(|(b, _, _)| b).collect();
        assert_eq!(blocks, vec![0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5]);
    }

    #[test]
    fn proactive_repair_applies_to_groups_not_yet_started() {
        let layout = ObjectLayout::new(64 * 100 * 12, 64, 100).unwrap();
        let mut schedule = Schedule::new(layout, 10.0, 2, 2);
        let proactive = |schedule: &mut Schedule, blocks: BlockId| {
            let mut repair = 0;
            while schedule.closed() < blocks {
                let Some((_, esi, _)) = schedule.next() else { break };
                repair += u32::from(esi >= 100);
            }
            repair
        };
        assert_eq!(proactive(&mut schedule, 4), 4 * 10);
        // Group 4-5 started when 2-3 closed: it keeps its 10%; the next ones carry none.
        schedule.set_proactive(false);
        assert_eq!(proactive(&mut schedule, 8), 2 * 10);
        assert_eq!(schedule.pass_symbols(4), 110);
        assert_eq!(schedule.pass_symbols(6), 100);
        schedule.set_proactive(true);
        assert_eq!(proactive(&mut schedule, 12), 2 * 10, "group 8-9 had started without");
    }
}
