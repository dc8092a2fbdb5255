//! The serving budget: peer traffic a member sends is bounded in rate and in requesters, so
//! helping others never starves its own download or its node's uplink.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A token bucket of symbols per second, plus a cap on distinct requesters served at once.
#[derive(Debug, Clone)]
pub struct ServeBudget {
    symbols_per_s: f64,
    burst: f64,
    tokens: f64,
    refilled: Option<Instant>,
    max_requesters: usize,
    /// Requesters served recently, and when they were last served.
    recent: Vec<(SocketAddr, Instant)>,
}

/// How long a requester counts as being served after its last request.
const REQUESTER_WINDOW: Duration = Duration::from_secs(1);

impl ServeBudget {
    /// At most `symbols_per_s` on average, bursts of `burst` symbols, `max_requesters` at once.
    pub fn new(symbols_per_s: f64, burst: u32, max_requesters: usize) -> Self {
        Self { symbols_per_s, burst: f64::from(burst), tokens: f64::from(burst), refilled: None, max_requesters, recent: Vec::new() }
    }

    /// Symbols `to` may have now, up to `want` (0 when over budget).
    pub fn grant(&mut self, now: Instant, to: SocketAddr, want: u32) -> u32 {
        if let Some(at) = self.refilled {
            self.tokens = (self.tokens + now.saturating_duration_since(at).as_secs_f64() * self.symbols_per_s).min(self.burst);
        }
        self.refilled = Some(now);
        self.recent.retain(|&(_, at)| now.saturating_duration_since(at) < REQUESTER_WINDOW);
        let known = self.recent.iter().position(|&(addr, _)| addr == to);
        if known.is_none() && self.recent.len() >= self.max_requesters {
            return 0;
        }
        let granted = (want as f64).min(self.tokens.max(0.0)).floor() as u32;
        if granted == 0 {
            return 0;
        }
        self.tokens -= f64::from(granted);
        match known {
            Some(i) => self.recent[i].1 = now,
            None => self.recent.push((to, now)),
        }
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_requesters_are_bounded() {
        let t0 = Instant::now();
        let a = SocketAddr::from(([127, 0, 0, 1], 1));
        let b = SocketAddr::from(([127, 0, 0, 1], 2));
        let mut budget = ServeBudget::new(1000.0, 500, 1);
        assert_eq!(budget.grant(t0, a, 400), 400);
        assert_eq!(budget.grant(t0, a, 400), 100, "burst spent");
        assert_eq!(budget.grant(t0, b, 10), 0, "one requester at a time");
        assert_eq!(budget.grant(t0 + Duration::from_millis(100), a, 400), 100, "refilled at the rate");
        assert_eq!(budget.grant(t0 + Duration::from_millis(1200), b, 10), 10, "a's slot expired");
    }
}
