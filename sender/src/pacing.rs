//! A token-bucket pacer with time passed in.
//!
//! The bucket is small (a few packets), so the sender never bursts enough to overflow a switch
//! or qdisc queue; the rate holds over any window longer than a few packets.

use std::time::{Duration, Instant};

/// Paces bytes to `rate_bps`. A rate of 0 means unlimited.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate_bps: u64,
    bucket_bytes: u64,
    tokens: f64,
    last: Option<Instant>,
}

impl Pacer {
    /// A pacer at `rate_bps` bits per second that may burst `bucket_bytes` at once.
    pub fn new(rate_bps: u64, bucket_bytes: u64) -> Self {
        Self { rate_bps, bucket_bytes, tokens: bucket_bytes as f64, last: None }
    }

    /// The configured rate in bits per second (0: unlimited).
    pub fn rate_bps(&self) -> u64 {
        self.rate_bps
    }

    /// Changes the rate, keeping the tokens already earned.
    pub fn set_rate_bps(&mut self, rate_bps: u64) {
        self.rate_bps = rate_bps;
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate_bps as f64 / 8.0).min(self.bucket_bytes as f64);
        }
        self.last = Some(now);
    }

    /// When `bytes` may be sent: `None` if now, else the instant the bucket holds them.
    pub fn delay(&mut self, now: Instant, bytes: usize) -> Option<Instant> {
        if self.rate_bps == 0 {
            return None;
        }
        self.refill(now);
        let missing = bytes as f64 - self.tokens;
        if missing <= 0.0 {
            return None;
        }
        let wait = Duration::from_secs_f64(missing * 8.0 / self.rate_bps as f64);
        Some(now + wait.max(Duration::from_nanos(1)))
    }

    /// Takes `bytes` from the bucket (call after `delay` returned `None`).
    pub fn consume(&mut self, bytes: usize) {
        if self.rate_bps != 0 {
            self.tokens -= bytes as f64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the pacer as a sender would, in virtual time, and checks every 1 s window.
    #[test]
    fn holds_rate_within_two_percent_per_second() {
        let rate_bps = 300_000_000;
        let packet = 1456;
        let mut pacer = Pacer::new(rate_bps, 16 * packet as u64);
        let start = Instant::now();
        let mut now = start;
        let mut sent_per_window = vec![0u64; 5];
        while now < start + Duration::from_secs(5) {
            match pacer.delay(now, packet) {
                None => {
                    pacer.consume(packet);
                    let window = (now - start).as_secs() as usize;
                    sent_per_window[window] += packet as u64 * 8;
                }
                Some(at) => now = at,
            }
        }
        for (window, bits) in sent_per_window.iter().enumerate() {
            let ratio = *bits as f64 / rate_bps as f64;
            assert!((0.98..=1.02).contains(&ratio), "window {window}: {ratio}");
        }
    }

    #[test]
    fn bursts_at_most_the_bucket() {
        let mut pacer = Pacer::new(1_000_000, 3000);
        let now = Instant::now();
        let mut burst = 0;
        while pacer.delay(now, 1000).is_none() {
            pacer.consume(1000);
            burst += 1;
        }
        assert_eq!(burst, 3);
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let mut pacer = Pacer::new(0, 0);
        assert_eq!(pacer.delay(Instant::now(), 1 << 20), None);
    }
}
