//! Adaptive rate control: back off when receivers lose too much, probe back up when they don't.
//!
//! Loss here is what receivers report needing after a block's first pass, as a fraction of the
//! block: random loss on a healthy link stays flat as the rate changes, while loss from overload
//! (full switch queues, receivers that cannot keep up) grows with the rate. So the controller
//! cuts the rate multiplicatively when a window's worst loss exceeds the threshold and raises it
//! additively when loss is well below it, between a floor and the configured ceiling. A receiver
//! whose loss stays far above everyone else's is left out of the decision, so one slow node does
//! not hold the session at its speed forever (it is served by repair, then by its deadline).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Tuning of [`AdaptiveRate`].
#[derive(Debug, Clone)]
pub struct RateConfig {
    /// The configured rate: the ceiling.
    pub max_rate_bps: u64,
    /// Never below this fraction of the ceiling.
    pub min_fraction: f64,
    /// Back off when a window's worst loss exceeds this fraction.
    pub loss_threshold: f64,
    /// Multiply the rate by this on back-off.
    pub decrease_factor: f64,
    /// Add this fraction of the ceiling per quiet window.
    pub increase_fraction: f64,
    /// Length of one decision window.
    pub window: Duration,
    /// A receiver above this multiple of the threshold for `outlier_windows` windows running,
    /// while others are below the threshold, no longer sets the rate.
    pub outlier_factor: f64,
    /// See `outlier_factor`.
    pub outlier_windows: u32,
    /// A receiver whose window of blocks in flight is fuller than this fraction is not keeping
    /// up (it decodes, hashes or writes slower than the link brings data); see
    /// [`AdaptiveRate::on_backlog`].
    pub backlog_threshold: f64,
}

impl RateConfig {
    /// Defaults under a ceiling of `max_rate_bps`.
    pub fn new(max_rate_bps: u64) -> Self {
        Self {
            max_rate_bps,
            min_fraction: 0.1,
            loss_threshold: 0.10,
            decrease_factor: 0.8,
            increase_fraction: 0.05,
            window: Duration::from_millis(100),
            outlier_factor: 3.0,
            outlier_windows: 5,
            backlog_threshold: 0.5,
        }
    }
}

/// The controller. Feed it loss reports; read the rate.
#[derive(Debug)]
pub struct AdaptiveRate {
    config: RateConfig,
    rate_bps: u64,
    window_start: Option<Instant>,
    /// Worst loss per receiver in the current window.
    window_loss: HashMap<u64, f64>,
    /// Consecutive windows each receiver was an outlier.
    outlier_streak: HashMap<u64, u32>,
}

impl AdaptiveRate {
    /// Starts at the ceiling.
    pub fn new(config: RateConfig) -> Self {
        Self { rate_bps: config.max_rate_bps, config, window_start: None, window_loss: HashMap::new(), outlier_streak: HashMap::new() }
    }

    /// The rate to pace at now.
    pub fn rate_bps(&self) -> u64 {
        self.rate_bps
    }

    /// Whether `receiver` is currently left out of the rate decision.
    pub fn is_outlier(&self, receiver: u64) -> bool {
        self.outlier_streak.get(&receiver).is_some_and(|&n| n >= self.config.outlier_windows)
    }

    /// `receiver` needed `loss` (fraction of a block) after that block's first pass.
    pub fn on_loss(&mut self, now: Instant, receiver: u64, loss: f64) {
        self.roll(now);
        let worst = self.window_loss.entry(receiver).or_insert(0.0);
        *worst = worst.max(loss);
    }

    /// `receiver`'s window of blocks in flight is `fraction` full. Past the threshold it counts
    /// like loss of the same share of the headroom above it (a full window: loss 1.0), so an
    /// overloaded receiver slows the sender before its window overflows and drops symbols (a
    /// drop costs a repair round trip and more load: on 2 cores at 1 Gbit/s, 4 receivers at 1%
    /// loss, drops were 40% of one receiver's data and goodput fell to a quarter). A receiver
    /// that alone stays full (a slow disk) becomes an outlier like a lossy one and stops
    /// setting the pace.
    pub fn on_backlog(&mut self, now: Instant, receiver: u64, fraction: f64) {
        let threshold = self.config.backlog_threshold;
        let pressure = (fraction - threshold) / (1.0 - threshold);
        if pressure > 0.0 {
            self.on_loss(now, receiver, pressure.min(1.0));
        }
    }

    /// Closes the window if it is over and adjusts the rate; returns the new rate if it changed.
    pub fn roll(&mut self, now: Instant) -> Option<u64> {
        let start = *self.window_start.get_or_insert(now);
        if now < start + self.config.window {
            return None;
        }
        self.window_start = Some(now);
        let threshold = self.config.loss_threshold;
        let losses = std::mem::take(&mut self.window_loss);
        let typical_ok = losses.values().any(|&l| l <= threshold);
        for (&receiver, &loss) in &losses {
            let streak = self.outlier_streak.entry(receiver).or_insert(0);
            *streak = if typical_ok && loss > threshold * self.config.outlier_factor { *streak + 1 } else { 0 };
        }
        let worst = losses.iter().filter(|(r, _)| !self.is_outlier(**r)).map(|(_, &l)| l).fold(0.0, f64::max);
        let max = self.config.max_rate_bps as f64;
        let floor = max * self.config.min_fraction;
        let old = self.rate_bps;
        let new = if worst > threshold {
            (old as f64 * self.config.decrease_factor).max(floor)
        } else if worst < threshold / 2.0 {
            (old as f64 + max * self.config.increase_fraction).min(max)
        } else {
            old as f64
        };
        self.rate_bps = new as u64;
        (self.rate_bps != old).then_some(self.rate_bps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link that loses whatever exceeds its capacity: the controller settles near capacity.
    #[test]
    fn converges_below_an_overloaded_link() {
        let capacity = 400e6;
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let start = Instant::now();
        let mut settled = Vec::new();
        for step in 0..400u32 {
            let now = start + Duration::from_millis(10) * step;
            let sent = rate.rate_bps() as f64;
            let loss = ((sent - capacity) / sent).max(0.0) + 0.01;
            rate.on_loss(now, 1, loss);
            rate.roll(now);
            if step >= 300 {
                settled.push(rate.rate_bps() as f64);
            }
        }
        let mean = settled.iter().sum::<f64>() / settled.len() as f64;
        assert!((0.75 * capacity..=1.15 * capacity).contains(&mean), "settled at {mean}");
    }

    #[test]
    fn random_loss_below_threshold_keeps_full_rate() {
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let start = Instant::now();
        for step in 0..100u32 {
            let now = start + Duration::from_millis(10) * step;
            rate.on_loss(now, 1, 0.03);
            rate.on_loss(now, 2, 0.01);
        }
        assert_eq!(rate.rate_bps(), 1_000_000_000);
    }

    #[test]
    fn one_slow_receiver_stops_setting_the_rate() {
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let start = Instant::now();
        for step in 0..200u32 {
            let now = start + Duration::from_millis(10) * step;
            rate.on_loss(now, 1, 0.01);
            rate.on_loss(now, 2, 0.90);
        }
        assert!(rate.is_outlier(2));
        assert!(!rate.is_outlier(1));
        assert_eq!(rate.rate_bps(), 1_000_000_000, "recovered to full rate once the slow node was left out");
    }

    #[test]
    fn a_filling_window_backs_off_and_a_half_empty_one_does_not() {
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let start = Instant::now();
        for step in 0..50u32 {
            rate.on_backlog(start + Duration::from_millis(10) * step, 1, 0.45);
        }
        assert_eq!(rate.rate_bps(), 1_000_000_000, "a window under half full is normal work");
        for step in 50..100u32 {
            let now = start + Duration::from_millis(10) * step;
            rate.on_backlog(now, 1, 0.8);
            rate.on_backlog(now, 2, 0.7);
        }
        assert!(rate.rate_bps() < 500_000_000, "every receiver behind: {} bit/s", rate.rate_bps());
    }

    #[test]
    fn never_below_the_floor() {
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let start = Instant::now();
        for step in 0..500u32 {
            rate.on_loss(start + Duration::from_millis(10) * step, 1, 0.5);
        }
        assert_eq!(rate.rate_bps(), 100_000_000);
    }
}
