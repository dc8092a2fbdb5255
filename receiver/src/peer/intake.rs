//! What our link takes in: the rate a member names in its requests once it finishes from
//! peers, so their answers come at about the rate its link lets through.
//!
//! A peer serves at its own rate (1 Gbit/s by default) unless told otherwise. An asker behind a
//! 10 Mbit/s link, or short of CPU, was sent 46 symbols for each one that got through, for as
//! long as it asked (docs/decisions.md, peer repair). With a fountain code every symbol that
//! gets through is useful, so a flooded link still fills; what flooding costs is the peer's
//! uplink and every hop before the bottleneck.
//!
//! The meter counts every symbol taken in (from the sender and from peers, duplicates too: they
//! crossed the link) per window, and keeps the best window of the last [`MEMORY`], as BBR keeps
//! the best delivery rate it saw. Gaps between requests (an answer cut short by losses waits out
//! a stall before it is asked again) read as slow windows and must not drag the estimate down:
//! an estimate of the latest windows, or of each answer's own rate, spiralled down to a tenth
//! of the link and left the asker's runs that slow for seconds. The multicast before the
//! handoff filled the link, so its windows say what the link takes in when the answers begin.

use std::time::{Duration, Instant};

/// Windows the rate is measured over.
const WINDOW: Duration = Duration::from_millis(100);
/// How long a window's rate counts toward the estimate: a link that got slower is flooded at
/// most this long, at [`WINDOW`]'s best rate.
const MEMORY: Duration = Duration::from_secs(10);

/// Symbols taken in per second: the best window of the last [`MEMORY`].
#[derive(Debug, Clone, Default)]
pub struct IntakeMeter {
    /// The open window: when it started and the symbols in it.
    start: Option<Instant>,
    count: u32,
    /// The best closed window of the last [`MEMORY`] (when it closed, its rate), and the best
    /// since, which takes over when that one expires.
    best: Option<(Instant, f64)>,
    runner_up: Option<(Instant, f64)>,
}

impl IntakeMeter {
    /// One symbol came in at `now`.
    #[inline]
    pub fn on_symbol(&mut self, now: Instant) {
        let start = *self.start.get_or_insert(now);
        self.count += 1;
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= WINDOW {
            self.close(now, f64::from(self.count - 1) / elapsed.as_secs_f64());
            self.start = Some(now);
            self.count = 1;
        }
    }

    fn close(&mut self, now: Instant, rate: f64) {
        if self.best.is_some_and(|(at, _)| now.saturating_duration_since(at) > MEMORY) {
            self.best = self.runner_up.take();
        }
        match self.best {
            Some((_, best)) if best > rate => {
                if self.runner_up.is_none_or(|(_, r)| r <= rate) {
                    self.runner_up = Some((now, rate));
                }
            }
            _ => {
                self.best = Some((now, rate));
                self.runner_up = None;
            }
        }
    }

    /// The best rate of the windows that closed within the last [`MEMORY`] (roughly: a window
    /// that stopped being the best may stand for up to twice as long), in symbols per second.
    pub fn symbols_per_s(&self, now: Instant) -> Option<f64> {
        [self.best, self.runner_up].into_iter().flatten().filter(|&(at, _)| now.saturating_duration_since(at) <= MEMORY).map(|(_, rate)| rate).reduce(f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(meter: &mut IntakeMeter, from: Instant, per_s: u32, for_ms: u64) -> Instant {
        let gap = Duration::from_secs(1) / per_s;
        let mut at = from;
        while at < from + Duration::from_millis(for_ms) {
            meter.on_symbol(at);
            at += gap;
        }
        at
    }

    #[test]
    fn the_best_recent_window_is_the_rate() {
        let t0 = Instant::now();
        let mut meter = IntakeMeter::default();
        assert_eq!(meter.symbols_per_s(t0), None, "nothing measured yet");
        let t1 = feed(&mut meter, t0, 1_000, 500);
        let rate = meter.symbols_per_s(t1).unwrap();
        assert!((rate - 1_000.0).abs() < 20.0, "{rate}");
        // A slower stretch, then a gap (waiting on a stall): the best window still stands.
        let t2 = feed(&mut meter, t1, 200, 3_000) + Duration::from_millis(400);
        meter.on_symbol(t2);
        let rate = meter.symbols_per_s(t2).unwrap();
        assert!((rate - 1_000.0).abs() < 20.0, "{rate}");
        // Long after, at the slower rate, the fast windows are forgotten.
        let t3 = feed(&mut meter, t2, 200, 12_000);
        let rate = meter.symbols_per_s(t3).unwrap();
        assert!((rate - 200.0).abs() < 10.0, "{rate}");
        assert_eq!(meter.symbols_per_s(t3 + Duration::from_secs(30)), None, "all windows too old");
    }
}
