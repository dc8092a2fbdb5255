//! A receiver's usual loss: what its path loses at random, whatever our rate. Loss above it is
//! congestion; the delivery a receiver reports is scaled up by it to read the bottleneck.
//!
//! It is the share of the symbols lost over the last [`WINDOW_MARKS`] sent, each span weighted
//! by its symbols, and it is known once [`KNOWN_MARKS`] were learned (the rate controller also
//! learns the lossy spans that outlast a cut: see `AdaptiveRate::on_report`). Learned instead per
//! span (a moving average started from the first span), a first span of a hundred symbols that lost
//! none set a receiver behind 5% random loss at 0%: every span after it was then "congested",
//! so never learned, and each cut the rate to its delivery, 5% below what was sent (the harness,
//! 300 Mbit/s told 1 Gbit/s: 62 s instead of 8.5, down to 58 Mbit/s).

/// Symbols sent over which the usual loss is learned: older spans fade, so a path whose loss
/// changes is followed within a few spans (80 ms at 300 Mbit/s). At 5% loss the usual loss's
/// standard deviation over them is 0.5 points, a quarter of the excess taken for congestion; over
/// 8,192 a rise from 1% to 5% (the tests in `rate`) cut the rate to 58% of the link for a second.
const WINDOW_MARKS: f64 = 2048.0;

/// Symbols sent before the usual loss is known: at 5% random loss its standard deviation is
/// then 0.7%, a third of the excess taken for congestion.
const KNOWN_MARKS: f64 = 1024.0;

/// Loss at or above this is never taken for a path's usual random loss.
pub(super) const MAX_USUAL_LOSS: f64 = 0.25;

/// See the module's doc.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct UsualLoss {
    /// Symbols lost, of [`Self::marks`] sent, both fading.
    lost: f64,
    marks: f64,
}

impl UsualLoss {
    /// The share usually lost (0 until something was learned).
    pub(super) fn share(&self) -> f64 {
        if self.marks > 0.0 { self.lost / self.marks } else { 0.0 }
    }

    /// Whether enough symbols were learned to tell loss above the usual.
    pub(super) fn is_known(&self) -> bool {
        self.marks >= KNOWN_MARKS
    }

    /// Learns a span of `marks` symbols sent, of which `loss` was lost (unless that is at or
    /// above [`MAX_USUAL_LOSS`]).
    pub(super) fn learn(&mut self, loss: f64, marks: u32) {
        if loss >= MAX_USUAL_LOSS {
            return;
        }
        self.lost += loss * f64::from(marks);
        self.marks += f64::from(marks);
        if self.marks > WINDOW_MARKS {
            let fade = WINDOW_MARKS / self.marks;
            self.lost *= fade;
            self.marks *= fade;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_first_span_does_not_set_the_usual_loss() {
        let mut usual = UsualLoss::default();
        usual.learn(0.0, 100);
        assert!(!usual.is_known());
        for _ in 0..3 {
            usual.learn(0.05, 400);
        }
        assert!(usual.is_known());
        assert!((usual.share() - 0.0462).abs() < 0.001, "{}", usual.share());
    }

    #[test]
    fn a_path_whose_loss_changes_is_followed() {
        let mut usual = UsualLoss::default();
        for _ in 0..100 {
            usual.learn(0.01, 400);
        }
        assert!((usual.share() - 0.01).abs() < 1e-9);
        // Another window's worth at 5%: two thirds of the way there (1 - 1/e).
        for _ in 0..20 {
            usual.learn(0.05, 410);
        }
        assert!(usual.share() > 0.034, "{}", usual.share());
    }
}
