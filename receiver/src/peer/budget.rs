//! The serving budget: peer traffic a member sends is bounded in rate and in requesters, so
//! helping others never starves its own download or its node's uplink.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A few streams, each a leaky bucket of symbols: a granted run goes to the stream that frees
/// first and queues behind what it holds at the serving rate, and a request that would wait
/// longer than the backlog allows is refused (the asker turns to another peer). Plus a cap on
/// distinct requesters served at once. Drivers serve the runs the same way (see
/// [`ServeBudget::stream_for`]).
#[derive(Debug, Clone)]
pub struct ServeBudget {
    symbols_per_s: f64,
    /// Per stream: when everything granted to it will have been sent, at the serving rate.
    busy_until: Vec<Option<Instant>>,
    max_backlog: Duration,
    max_requesters: usize,
    /// Requesters served recently, and when they were last served.
    recent: Vec<(SocketAddr, Instant)>,
}

/// How long a requester counts as being served after its last request.
const REQUESTER_WINDOW: Duration = Duration::from_secs(1);

impl ServeBudget {
    /// `streams` streams of at most `symbols_per_s` each, at most `max_backlog` of granted
    /// symbols waiting in any, `max_requesters` at once.
    pub fn new(symbols_per_s: f64, streams: usize, max_backlog: Duration, max_requesters: usize) -> Self {
        Self { symbols_per_s, busy_until: vec![None; streams.max(1)], max_backlog, max_requesters, recent: Vec::new() }
    }

    /// The stream a run granted at `now` goes to: the one that frees first (the lowest on a
    /// tie), given when each frees.
    pub fn stream_for<T: Ord + Copy>(free_at: &[T], now: T) -> usize {
        let start = |i: usize| free_at[i].max(now);
        (0..free_at.len()).min_by_key(|&i| (start(i), i)).unwrap_or(0)
    }

    /// Symbols `to` may have now: all of `want`, or 0 when the backlog or the requesters are
    /// full.
    pub fn grant(&mut self, now: Instant, to: SocketAddr, want: u32) -> u32 {
        let free_at: Vec<Instant> = self.busy_until.iter().map(|busy| busy.unwrap_or(now)).collect();
        let stream = Self::stream_for(&free_at, now);
        let start = free_at[stream].max(now);
        if start.duration_since(now) > self.max_backlog || want == 0 {
            return 0;
        }
        self.recent.retain(|&(_, at)| now.saturating_duration_since(at) < REQUESTER_WINDOW);
        match self.recent.iter().position(|&(addr, _)| addr == to) {
            Some(i) => self.recent[i].1 = now,
            None if self.recent.len() >= self.max_requesters => return 0,
            None => self.recent.push((to, now)),
        }
        self.busy_until[stream] = Some(start + Duration::from_secs_f64(f64::from(want) / self.symbols_per_s));
        want
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_and_requesters_are_bounded() {
        let t0 = Instant::now();
        let a = SocketAddr::from(([127, 0, 0, 1], 1));
        let b = SocketAddr::from(([127, 0, 0, 1], 2));
        let ms = Duration::from_millis;
        // 1,000 symbols/s, at most 500 ms waiting, one requester at a time.
        let mut budget = ServeBudget::new(1000.0, 1, ms(500), 1);
        assert_eq!(budget.grant(t0, a, 400), 400);
        assert_eq!(budget.grant(t0, a, 400), 400, "queued behind the first: 400 ms of backlog");
        assert_eq!(budget.grant(t0, a, 10), 0, "800 ms of backlog is over the limit");
        assert_eq!(budget.grant(t0 + ms(300), b, 10), 0, "one requester at a time");
        assert_eq!(budget.grant(t0 + ms(400), a, 10), 10, "the backlog drained at the rate");
        assert_eq!(budget.grant(t0 + ms(1500), b, 10), 10, "a's slot expired");
    }

    #[test]
    fn streams_serve_side_by_side() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let peer = |port| SocketAddr::from(([127, 0, 0, 1], port));
        // Two streams of 1,000 symbols/s, at most 100 ms waiting.
        let mut budget = ServeBudget::new(1000.0, 2, ms(100), 8);
        assert_eq!(budget.grant(t0, peer(1), 500), 500);
        assert_eq!(budget.grant(t0, peer(2), 500), 500, "a second asker starts at once on the other stream");
        assert_eq!(budget.grant(t0, peer(3), 10), 0, "both streams are 500 ms busy");
        assert_eq!(budget.grant(t0 + ms(450), peer(3), 10), 10, "within the backlog of the stream that frees first");
        assert_eq!(ServeBudget::stream_for(&[5u64, 3, 3], 0), 1);
        assert_eq!(ServeBudget::stream_for(&[5u64, 3, 3], 9), 0, "all free: the lowest");
    }
}
