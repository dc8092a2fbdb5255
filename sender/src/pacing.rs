//! A token-bucket pacer with time passed in, its bucket sized in time.
//!
//! The bucket holds `burst` worth of the rate (5 ms by default), never less than a floor of a
//! few dozen packets. Sized in time, it absorbs a driver that wakes late: on a loaded machine a
//! sleep overshoots by milliseconds, and a bucket of a fixed 64 packets (2.6 ms at 300 Mbit/s)
//! lost those tokens, so the sender ran well below its rate. Tokens accrue only while the sender
//! has something to send ([`Pacer::idle`]): after an idle spell (waiting for feedback) it
//! restarts with the floor, so it never bursts a whole bucket into a switch or qdisc queue.

use std::time::{Duration, Instant};

/// Paces bytes to `rate_bps`. A rate of 0 means unlimited.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate_bps: u64,
    burst: Duration,
    min_burst_bytes: u64,
    tokens: f64,
    last: Option<Instant>,
    /// Nothing to send since the last refill: time earns tokens up to the floor only.
    idle: bool,
}

impl Pacer {
    /// A pacer at `rate_bps` bits per second that may burst `burst` of its rate at once, and at
    /// least `min_burst_bytes`; it starts with the floor.
    pub fn new(rate_bps: u64, burst: Duration, min_burst_bytes: u64) -> Self {
        Self { rate_bps, burst, min_burst_bytes, tokens: min_burst_bytes as f64, last: None, idle: false }
    }

    /// The configured rate in bits per second (0: unlimited).
    pub fn rate_bps(&self) -> u64 {
        self.rate_bps
    }

    /// Changes the rate, keeping the tokens already earned; the bucket follows the rate.
    pub fn set_rate_bps(&mut self, rate_bps: u64) {
        self.rate_bps = rate_bps;
    }

    /// The bucket's size now: `burst` of the rate, at least the floor.
    pub fn bucket_bytes(&self) -> u64 {
        ((self.rate_bps as f64 / 8.0 * self.burst.as_secs_f64()) as u64).max(self.min_burst_bytes)
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            let cap = if self.idle { self.min_burst_bytes } else { self.bucket_bytes() };
            self.tokens = (self.tokens + elapsed * self.rate_bps as f64 / 8.0).min(cap as f64);
        }
        self.last = Some(now);
    }

    /// The sender has nothing to send at `now`: the time until it next asks [`Self::delay`]
    /// earns no burst beyond the floor.
    pub fn idle(&mut self, now: Instant) {
        self.refill(now);
        self.idle = true;
        self.tokens = self.tokens.min(self.min_burst_bytes as f64);
    }

    /// When `bytes` may be sent: `None` if now, else the instant the bucket holds them.
    pub fn delay(&mut self, now: Instant, bytes: usize) -> Option<Instant> {
        if self.rate_bps == 0 {
            return None;
        }
        self.refill(now);
        self.idle = false;
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

    const PACKET: usize = 1456;
    const RATE_BPS: u64 = 300_000_000;

    /// Drives the pacer as the UDP driver does, in virtual time: whenever it must wait, it
    /// sleeps until the instant the pacer names plus `overshoot` (a loaded machine wakes late).
    /// Returns the bits sent in each 1 s window over 5 s.
    fn drive(pacer: &mut Pacer, overshoot: Duration) -> Vec<u64> {
        let start = Instant::now();
        let mut now = start;
        let mut sent_per_window = vec![0u64; 5];
        while now < start + Duration::from_secs(5) {
            match pacer.delay(now, PACKET) {
                None => {
                    pacer.consume(PACKET);
                    sent_per_window[(now - start).as_secs() as usize] += PACKET as u64 * 8;
                }
                Some(at) => now = at + overshoot,
            }
        }
        sent_per_window
    }

    fn assert_within_two_percent(sent_per_window: &[u64]) {
        for (window, bits) in sent_per_window.iter().enumerate() {
            let ratio = *bits as f64 / RATE_BPS as f64;
            assert!((0.98..=1.02).contains(&ratio), "window {window}: {ratio}");
        }
    }

    #[test]
    fn holds_rate_within_two_percent_per_second() {
        let mut pacer = Pacer::new(RATE_BPS, Duration::from_millis(5), 16 * PACKET as u64);
        assert_within_two_percent(&drive(&mut pacer, Duration::ZERO));
    }

    /// Every wake-up 3 ms late (more than 64 packets' worth at 300 Mbit/s): a bucket sized in
    /// time still holds the rate, where the old fixed 64-packet bucket lost the tokens.
    #[test]
    fn late_wake_ups_do_not_lose_the_rate() {
        let overshoot = Duration::from_millis(3);
        let mut pacer = Pacer::new(RATE_BPS, Duration::from_millis(5), 64 * 1500);
        assert_within_two_percent(&drive(&mut pacer, overshoot));
        let mut packets_only = Pacer::new(RATE_BPS, Duration::ZERO, 64 * 1500);
        let bits: u64 = drive(&mut packets_only, overshoot).iter().sum();
        assert!((bits as f64) < 0.9 * 5.0 * RATE_BPS as f64, "the fixed bucket keeps up: {bits}");
    }

    #[test]
    fn bucket_is_sized_in_time_with_a_floor() {
        assert_eq!(Pacer::new(8_000_000_000, Duration::from_millis(5), 3000).bucket_bytes(), 5_000_000);
        assert_eq!(Pacer::new(1_000_000, Duration::from_millis(5), 3000).bucket_bytes(), 3000);
    }

    #[test]
    fn idle_time_earns_only_the_floor() {
        let mut pacer = Pacer::new(8_000_000, Duration::from_millis(10), 2000);
        let start = Instant::now();
        let burst = |pacer: &mut Pacer, at| {
            let mut sent = 0;
            while pacer.delay(at, 1000).is_none() {
                pacer.consume(1000);
                sent += 1;
            }
            sent
        };
        assert_eq!(burst(&mut pacer, start), 2, "starts with the floor");
        let later = start + Duration::from_secs(1);
        assert_eq!(burst(&mut pacer, later), 10, "busy: a full bucket (10 ms at 1 MB/s)");
        pacer.idle(later + Duration::from_millis(1));
        assert_eq!(burst(&mut pacer, later + Duration::from_secs(2)), 2, "after idling: the floor");
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let mut pacer = Pacer::new(0, Duration::ZERO, 0);
        assert_eq!(pacer.delay(Instant::now(), 1 << 20), None);
    }
}
