//! When the sender's progress marks went out, and at what rate: the sender's side of a
//! receiver's delivery span.
//!
//! A receiver times its span on its own clock, between the arrivals of two progress packets.
//! That is the path's delivery rate, but not how fast we sent: behind a queue (a 300 Mbit/s
//! link told 1 Gbit/s) the symbols we sent at 1 Gbit/s arrive at 300 Mbit/s, and a span judged
//! by the receiver's time looked like one in which we sent below half our rate, so the queue it
//! reported was never taken for congestion (the harness: 900 ms of queue at 1 Gbit/s before
//! the first cut; netsim with a deep queue: the rate stayed at the ceiling for the whole
//! transfer). The marks' own sending times say how fast we sent.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Marks older than this are forgotten: a span is at most a keepalive's half second, behind
/// a queue of at most a second or two.
const HISTORY: Duration = Duration::from_secs(4);

/// At most this many marks are kept (progress goes out every 10 ms: 400 over [`HISTORY`]).
const MAX_MARKS: usize = 1024;

/// One progress mark: the first and last progress packet that carried it (an idle sender
/// repeats its mark), and the pacing rate when it first went out.
#[derive(Debug, Clone, Copy)]
struct Sent {
    mark: u64,
    first: Instant,
    last: Instant,
    rate_bps: f64,
}

/// The recent progress marks, in increasing order.
#[derive(Debug, Default)]
pub(super) struct Sends {
    marks: VecDeque<Sent>,
}

/// How a span of marks was sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SentSpan {
    /// From the last progress packet with the span's first mark to the first with its last.
    pub(super) duration: Duration,
    /// The pacing rate at the span's start.
    pub(super) rate_bps: f64,
}

impl Sends {
    /// A progress packet with `mark` went out at `now`, paced at `rate_bps`.
    pub(super) fn on_progress(&mut self, now: Instant, mark: u64, rate_bps: f64) {
        match self.marks.back_mut() {
            Some(last) if last.mark == mark => last.last = now,
            Some(last) if last.mark > mark => {}
            _ => self.marks.push_back(Sent { mark, first: now, last: now, rate_bps }),
        }
        while self.marks.front().is_some_and(|s| s.last + HISTORY < now) || self.marks.len() > MAX_MARKS {
            self.marks.pop_front();
        }
    }

    /// How the marks from `from` to `to` were sent, if both are still known. A receiver's
    /// span starts at the last progress packet with its first mark (it starts over while
    /// nothing arrives) and ends with the first that carried its last.
    pub(super) fn span(&self, from: u64, to: u64) -> Option<SentSpan> {
        let find = |mark: u64| {
            let at = self.marks.partition_point(|s| s.mark < mark);
            self.marks.get(at).filter(|s| s.mark == mark)
        };
        let (start, end) = (find(from)?, find(to)?);
        Some(SentSpan { duration: end.first.saturating_duration_since(start.last), rate_bps: start.rate_bps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_is_timed_by_its_marks_sending() {
        let t0 = Instant::now();
        let mut sends = Sends::default();
        sends.on_progress(t0, 0, 1e9);
        sends.on_progress(t0 + Duration::from_millis(10), 0, 1e9);
        sends.on_progress(t0 + Duration::from_millis(20), 800, 2e9);
        sends.on_progress(t0 + Duration::from_millis(30), 2400, 2e9);
        sends.on_progress(t0 + Duration::from_millis(40), 2400, 2e9);
        let span = sends.span(0, 2400).expect("both marks known");
        assert_eq!(span, SentSpan { duration: Duration::from_millis(20), rate_bps: 1e9 }, "from the idle mark's last to the busy mark's first");
        assert_eq!(sends.span(0, 1000), None, "no progress packet carried 1000");
    }

    #[test]
    fn old_marks_are_forgotten() {
        let t0 = Instant::now();
        let mut sends = Sends::default();
        sends.on_progress(t0, 0, 1e9);
        sends.on_progress(t0 + Duration::from_millis(10), 100, 1e9);
        sends.on_progress(t0 + HISTORY + Duration::from_millis(5), 200, 1e9);
        assert_eq!(sends.span(0, 200), None);
        assert!(sends.span(100, 200).is_some());
    }
}
