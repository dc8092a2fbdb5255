//! What reaches this receiver from the sender, measured between the sender's progress packets:
//! the samples the sender's adaptive rate reads the path's bottleneck from (see
//! [`fec::wire::Delivery`]).
//!
//! Progress packets travel in the data's queue, in order, so the symbols taken in between two
//! of them are those the sender sent between them, less what the path lost; and the time
//! between their arrivals, on our own clock, is how long the path took to deliver them. While a
//! queue stands before the bottleneck that is the bottleneck's rate, whatever the sender's. Each
//! progress packet also carries the sender's clock: how much later than the fastest one seen it
//! arrives is the queue on the path (clock offsets cancel, drift over a transfer is negligible).

use fec::wire::{Delivery, loss_spread};
use std::time::Instant;

/// One progress packet's arrival: when, its mark, and the symbols taken in and dropped by then.
#[derive(Debug, Clone, Copy)]
struct Point {
    at: Instant,
    mark: u64,
    stamp_us: u64,
    symbols: u64,
    dropped: u64,
}

/// Measures delivery from the sender between progress packets.
#[derive(Debug, Default)]
pub(super) struct DeliveryMeter {
    /// Data symbols from the sender that arrived so far.
    symbols: u64,
    /// Of those, dropped at a full window of blocks.
    dropped: u64,
    /// When the latest of them arrived.
    last_symbol_at: Option<Instant>,
    /// Our clock's origin for delay offsets.
    epoch: Option<Instant>,
    /// The smallest arrival minus sender stamp seen, µs.
    min_offset_us: Option<i64>,
    /// The latest progress packet's delay above that minimum, µs.
    queue_us: u32,
    /// Where the span not yet reported starts.
    start: Option<Point>,
    /// The latest progress packet.
    last: Option<Point>,
    /// The one before it.
    before_last: Option<Point>,
    /// The first one: the path's loss is counted from it (see [`Self::path_loss`]).
    first: Option<Point>,
    /// The loss of a progress interval without congestion, learned (see [`Self::congested_loss`]).
    usual_loss: Option<f64>,
}

/// Marks below this say too little about the path's loss to act on.
const MIN_LOSS_MARKS: u64 = 100;

/// Until the usual loss is known, a progress interval that lost more than this is congested.
const CONGESTED_LOSS: f64 = 0.2;

/// A progress interval that lost this much more than usual, and more than the usual loss's own
/// spread over its marks, is congested: the sender's test (`sender::rate`), so a receiver it
/// would count as congested tells it at once.
const LOSS_MARGIN: f64 = 0.02;

/// Weight of a new interval in the usual loss.
const USUAL_GAIN: f64 = 0.1;

/// The share of `marks` symbols sent that `received` does not cover (0 when none were sent).
fn lost_share(received: u64, marks: u64) -> f64 {
    if marks == 0 { 0.0 } else { 1.0 - received.min(marks) as f64 / marks as f64 }
}

impl DeliveryMeter {
    /// A data symbol from the sender arrived; `dropped` if the window of blocks had no room.
    pub(super) fn on_symbol(&mut self, now: Instant, dropped: bool) {
        self.symbols += 1;
        self.last_symbol_at = Some(now);
        self.dropped += u64::from(dropped);
    }

    /// Lost between the last two progress packets (a fraction, and the marks sent; 0 without
    /// two): overload shows here within a progress interval, where the whole span since the
    /// last report (up to a keepalive's half second) would dilute it.
    fn recent_loss(&self) -> (f64, u64) {
        let (Some(before), Some(last)) = (self.before_last, self.last) else { return (0.0, 0) };
        let marks = last.mark.saturating_sub(before.mark);
        let kept = (last.symbols - before.symbols).saturating_sub(last.dropped - before.dropped);
        (lost_share(kept, marks), marks)
    }

    /// Whether the last progress interval lost enough to be congestion: more than usual by
    /// [`LOSS_MARGIN`] and by [`fec::wire::LOSS_SIGNIFICANCE`] standard deviations once the usual loss is
    /// known, else more than [`CONGESTED_LOSS`]. With only the fixed 20%, a receiver losing
    /// 3-15% behind a rate probed above a 2.5 Gbit/s uplink (netsim oversubscribed_uplink) did not
    /// report until its share of the feedback budget came round, every ~0.7 s in a group of
    /// 500, while the sender, hearing nothing, probed on to 1.15x the uplink.
    pub(super) fn congested_loss(&self) -> bool {
        let (loss, marks) = self.recent_loss();
        self.is_congested(loss, marks)
    }

    fn is_congested(&self, loss: f64, marks: u64) -> bool {
        match self.usual_loss {
            Some(usual) if marks >= MIN_LOSS_MARKS => {
                let spread = loss_spread(usual.max(1.0 / marks as f64), marks as f64);
                loss > usual + LOSS_MARGIN.max(spread)
            }
            _ => loss > CONGESTED_LOSS,
        }
    }

    /// The share of the sender's symbols the path lost since the first progress packet (0 until
    /// [`MIN_LOSS_MARKS`] were sent). Symbols dropped at a full window of blocks reached us: they
    /// are no loss of the path.
    pub(super) fn path_loss(&self) -> f64 {
        let (Some(first), Some(last)) = (self.first, self.last) else { return 0.0 };
        let marks = last.mark.saturating_sub(first.mark);
        if marks < MIN_LOSS_MARKS {
            return 0.0;
        }
        lost_share(last.symbols - first.symbols, marks)
    }

    /// A progress packet with mark `sent` and the sender's clock `stamp_us` arrived at `now`.
    /// Older marks (reordered) are ignored, and so are copies of the latest (same mark, same
    /// stamp: the sender repeats each progress packet before the next few data symbols so a
    /// full drop-tail queue cannot drop them all); an unchanged mark with a new stamp is an
    /// idle sender's.
    pub(super) fn on_progress(&mut self, now: Instant, sent: u64, stamp_us: u64) {
        if self.last.is_some_and(|last| sent < last.mark || (sent, stamp_us) == (last.mark, last.stamp_us)) {
            return;
        }
        let epoch = *self.epoch.get_or_insert(now);
        let local_us = now.saturating_duration_since(epoch).as_micros() as i64;
        let offset = local_us.saturating_sub(stamp_us as i64);
        let min = self.min_offset_us.map_or(offset, |min| min.min(offset));
        self.min_offset_us = Some(min);
        self.queue_us = (offset - min).clamp(0, i64::from(u32::MAX)) as u32;
        // A span ends when its last symbol arrived: the sender may have fallen idle before this
        // progress packet (its first pass over), and the idle time is no slowness of the path.
        let data_until = self.last_symbol_at.filter(|_| self.last.is_some_and(|last| last.symbols != self.symbols));
        let point = Point { at: data_until.unwrap_or(now), mark: sent, stamp_us, symbols: self.symbols, dropped: self.dropped };
        // Nothing arrived since the previous progress packet: the sender was idle (waiting for
        // receivers to join, or for feedback), or the path was down. The span starts over here,
        // so the time without data does not pass for a slow path.
        if self.last.is_none_or(|last| last.symbols == self.symbols) {
            self.start = Some(point);
        }
        self.first.get_or_insert(point);
        self.before_last = self.last.replace(point);
        let (loss, marks) = self.recent_loss();
        if marks >= MIN_LOSS_MARKS && !self.is_congested(loss, marks) {
            self.usual_loss = Some(self.usual_loss.map_or(loss, |usual| usual + USUAL_GAIN * (loss - usual)));
        }
    }

    /// The queue on the path at the latest progress packet, µs.
    pub(super) fn queue_us(&self) -> u32 {
        self.queue_us
    }

    /// Whether a span of the sender's data is waiting to be reported.
    pub(super) fn has_span(&self) -> bool {
        self.start.zip(self.last).is_some_and(|(start, last)| last.mark > start.mark)
    }

    /// The span since the last call, up to the latest progress packet, where the next span
    /// starts.
    pub(super) fn take(&mut self) -> Delivery {
        let (Some(start), Some(last)) = (self.start, self.last) else { return Delivery::default() };
        self.start = Some(last);
        let clamp = |n: u64| n.min(u64::from(u32::MAX)) as u32;
        Delivery {
            symbols: clamp(last.symbols - start.symbols),
            window_drops: clamp(last.dropped - start.dropped),
            marks: clamp(last.mark - start.mark),
            span_us: clamp(last.at.saturating_duration_since(start.at).as_micros() as u64),
            queue_us: self.queue_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A sender at 100 symbols per ms through a path that delivers 50 per ms: the queue grows
    /// by 1 ms every ms, and the span reports the path's rate, not the sender's.
    #[test]
    fn a_standing_queue_shows_as_delay_and_the_path_rate() {
        let t0 = Instant::now();
        let mut meter = DeliveryMeter::default();
        for ms in 0..=10u64 {
            // The progress packet sent at `ms` (after 100·ms symbols) arrives behind the queue.
            let arrival = t0 + Duration::from_micros(200 + 2000 * ms);
            if ms > 0 {
                for _ in 0..100 {
                    meter.on_symbol(arrival, false);
                }
            }
            meter.on_progress(arrival, 100 * ms, 1000 * ms);
        }
        let span = meter.take();
        assert_eq!(span.symbols, 1000);
        assert_eq!(span.marks, 1000);
        assert_eq!(span.span_us, 20_000, "1000 symbols over 20 ms: 50 per ms");
        assert_eq!(span.queue_us, 10_000);
        assert_eq!(meter.take().marks, 0, "the next span starts where this one ended");
    }

    #[test]
    fn time_without_data_is_left_out() {
        let t0 = Instant::now();
        let mut meter = DeliveryMeter::default();
        for ms in 0..100 {
            meter.on_progress(t0 + Duration::from_millis(ms), 0, 1000 * ms);
        }
        for ms in 100..110 {
            meter.on_progress(t0 + Duration::from_millis(ms), ms, 1000 * ms);
            meter.on_symbol(t0 + Duration::from_micros(1000 * ms + 500), false);
        }
        // The sender fell idle after its last symbol (at 109.5 ms): the span ends there.
        meter.on_progress(t0 + Duration::from_millis(120), 110, 120_000);
        let span = meter.take();
        assert_eq!((span.symbols, span.marks, span.span_us), (10, 10, 9_500), "from the last idle progress to the last symbol");
    }

    #[test]
    fn path_loss_counts_from_the_first_progress_and_leaves_window_drops_out() {
        let t0 = Instant::now();
        let mut meter = DeliveryMeter::default();
        meter.on_progress(t0, 1000, 0);
        assert_eq!(meter.path_loss(), 0.0, "nothing sent yet");
        for i in 0..90 {
            meter.on_symbol(t0 + Duration::from_micros(500), i % 3 == 0);
        }
        meter.on_progress(t0 + Duration::from_millis(1), 1050, 1000);
        assert_eq!(meter.path_loss(), 0.0, "50 marks say too little");
        meter.on_progress(t0 + Duration::from_millis(2), 1100, 2000);
        assert!((meter.path_loss() - 0.1).abs() < 1e-9, "{}", meter.path_loss());
    }

    /// A progress packet and the copies the sender sends before the next symbols: whichever
    /// arrives first is taken, the rest change nothing.
    #[test]
    fn copies_of_a_progress_packet_are_taken_once() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut meter = DeliveryMeter::default();
        meter.on_progress(ms(0), 0, 0);
        for _ in 0..200 {
            meter.on_symbol(ms(5), false);
        }
        // The original of mark 200 was lost at a full queue; its first copy arrives, then a
        // symbol, then another copy.
        meter.on_progress(ms(10), 200, 10_000);
        meter.on_symbol(ms(10), false);
        meter.on_progress(ms(10), 200, 10_000);
        let span = meter.take();
        assert_eq!((span.symbols, span.marks, span.span_us), (200, 200, 5_000), "the span ends at the first copy");
        assert_eq!(meter.recent_loss(), (0.0, 200), "the copy after it did not start a new interval");
        // An idle sender's progress repeats its mark with a new stamp: that is no copy.
        meter.on_progress(ms(20), 201, 20_000);
        meter.on_progress(ms(30), 201, 30_000);
        assert_eq!(meter.recent_loss(), (0.0, 0));
    }

    /// Spans of 1000 marks that lose 1% at random: the usual. An interval that loses 4% is
    /// congested (the sender's test: 2 points above the usual, beyond its spread), where the
    /// fixed threshold of 20% waited for the receiver's turn to report.
    #[test]
    fn loss_above_the_usual_is_congestion() {
        let t0 = Instant::now();
        let mut meter = DeliveryMeter::default();
        let mut mark = 0;
        let mut interval = |meter: &mut DeliveryMeter, lost: u64| {
            for _ in 0..1000 - lost {
                meter.on_symbol(t0 + Duration::from_micros(mark), false);
            }
            mark += 1000;
            meter.on_progress(t0 + Duration::from_micros(mark), mark, mark);
        };
        interval(&mut meter, 0);
        interval(&mut meter, 150);
        assert!(!meter.congested_loss(), "15% before the usual loss is known: below the fixed 20%");
        interval(&mut meter, 250);
        assert!(meter.congested_loss(), "25%");
        for _ in 0..50 {
            interval(&mut meter, 10);
            assert!(!meter.congested_loss());
        }
        interval(&mut meter, 25);
        assert!(!meter.congested_loss(), "2.5% is within the usual 1% and its spread");
        interval(&mut meter, 40);
        assert!(meter.congested_loss(), "4%");
        interval(&mut meter, 10);
        assert!(!meter.congested_loss());
    }

    #[test]
    fn stale_marks_are_ignored_and_losses_show() {
        let t0 = Instant::now();
        let mut meter = DeliveryMeter::default();
        meter.on_progress(t0, 10, 0);
        for _ in 0..90 {
            meter.on_symbol(t0 + Duration::from_micros(500), false);
        }
        meter.on_progress(t0 + Duration::from_millis(1), 110, 1000);
        meter.on_progress(t0 + Duration::from_millis(2), 60, 500);
        let span = meter.take();
        assert_eq!((span.symbols, span.marks, span.span_us, span.queue_us), (90, 100, 500, 0));
    }
}
