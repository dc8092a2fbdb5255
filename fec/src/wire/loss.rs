//! How far one span's loss may exceed a receiver's usual loss by chance: the measure the sender's
//! adaptive rate applies to each report's [`super::Delivery`], and a receiver applies to its own
//! last progress interval to decide whether to report at once, so that it reports at once what
//! the sender will count as congestion.

/// Standard deviations of the usual loss over a span's symbols that are still chance.
pub const LOSS_SIGNIFICANCE: f64 = 4.0;

/// [`LOSS_SIGNIFICANCE`] binomial standard deviations of a loss rate `usual` over `marks` symbols
/// sent, as a share of them.
pub fn loss_spread(usual: f64, marks: f64) -> f64 {
    LOSS_SIGNIFICANCE * (marks * usual * (1.0 - usual)).sqrt() / marks.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_narrows_with_the_symbols_and_is_zero_without_loss() {
        // 1% over 10,000 symbols: sigma 0.1%, four of them.
        assert!((loss_spread(0.01, 10_000.0) - 4.0 * (0.01f64 * 0.99 / 10_000.0).sqrt()).abs() < 1e-12);
        assert!(loss_spread(0.01, 100.0) > loss_spread(0.01, 10_000.0));
        assert_eq!(loss_spread(0.0, 500.0), 0.0);
        assert_eq!(loss_spread(0.05, 0.0), 0.0, "no symbols sent");
    }
}
