//! Copies of the latest progress packet, one before each of the next few data symbols, so that
//! a full drop-tail queue cannot drop a whole progress interval's worth of them.
//!
//! A queue kept full by a sender `r` times faster than its link admits one packet each time
//! its backlog dips below the limit: nearly always a data symbol, since they arrive back to
//! back. A progress packet sent between two data symbols gets in only if it comes in the
//! short gap between that dip and the next symbol, about one time in 2`r`, and every receiver
//! behind the same queue loses the same ones (netsim oversubscribed_uplink, 2.5 Gbit/s rack
//! uplinks, the startup at 9.7 Gbit/s: 14 in a row lost, 140 ms in which no receiver could
//! measure its loss, so the rate stayed at four times the uplinks and the sender sent 1.29×
//! the object). A copy before each of the next `r` data symbols is in the queue's admission
//! slot once in every cycle: in a model of netsim's drop-tail queue (2.5 Gbit/s, 512 packets,
//! 9.7 Gbit/s sent) one progress packet alone got in 24% of the time and up to 10 in a row were
//! lost, with 4 copies none in 2,000 intervals. The copies cost ~70 bytes each per interval.
//!
//! The copies are the same bytes as the original (mark and stamp), so a receiver takes the
//! first that arrives and ignores the rest (`receiver::session::delivery`). A copy's mark is
//! the original's: it counts none of the data symbols sent before it, which the receiver then
//! counts in the span that ends at it (at most `copies - 1` symbols, and none at all for the
//! first copy, which goes out right after the original). Its stamp is the original's too, so a
//! receiver that takes it reads its queue as longer by the copy's delay: copies go out only
//! within a fiftieth of the progress interval of the original ([`SPAN_DIVISOR`]): a queue
//! read 0.2 ms long at most, and no copy below ~60 Mbit/s, where a data symbol takes longer.

use std::time::{Duration, Instant};

/// Copies go out within the progress interval divided by this of the original.
const SPAN_DIVISOR: u32 = 50;

/// The latest progress packet and the copies of it still to send.
#[derive(Debug)]
pub(super) struct ProgressTrain {
    copies: u32,
    span: Duration,
    packet: Vec<u8>,
    sent_at: Option<Instant>,
    left: u32,
}

impl ProgressTrain {
    /// Up to `copies` copies of each progress packet sent every `interval`.
    pub(super) fn new(copies: u32, interval: Duration) -> Self {
        Self { copies, span: interval / SPAN_DIVISOR, packet: Vec::new(), sent_at: None, left: 0 }
    }

    /// A progress packet `packet` went out at `now`: its copies replace any left of the last one.
    pub(super) fn start(&mut self, now: Instant, packet: &[u8]) {
        self.packet.clear();
        self.packet.extend_from_slice(packet);
        self.sent_at = Some(now);
        self.left = self.copies;
    }

    /// The copy to send at `now`, right before a data symbol, if one is left and not too late.
    pub(super) fn next_copy(&mut self, now: Instant) -> Option<Vec<u8>> {
        let sent_at = self.sent_at?;
        if self.left == 0 || now > sent_at + self.span {
            self.left = 0;
            return None;
        }
        self.left -= 1;
        Some(self.packet.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_run_out_and_a_new_packet_replaces_the_old() {
        let t0 = Instant::now();
        let mut train = ProgressTrain::new(2, Duration::from_millis(10));
        assert_eq!(train.next_copy(t0), None, "nothing sent yet");
        train.start(t0, b"first");
        assert_eq!(train.next_copy(t0).as_deref(), Some(&b"first"[..]));
        train.start(t0 + Duration::from_micros(10), b"second");
        assert_eq!(train.next_copy(t0 + Duration::from_micros(10)).as_deref(), Some(&b"second"[..]));
        assert_eq!(train.next_copy(t0 + Duration::from_micros(11)).as_deref(), Some(&b"second"[..]));
        assert_eq!(train.next_copy(t0 + Duration::from_micros(12)), None, "two copies each");
    }

    #[test]
    fn no_copy_goes_out_late() {
        let t0 = Instant::now();
        let mut train = ProgressTrain::new(8, Duration::from_millis(10));
        train.start(t0, b"progress");
        assert!(train.next_copy(t0 + Duration::from_micros(200)).is_some());
        assert_eq!(train.next_copy(t0 + Duration::from_micros(201)), None, "its stamp would read as queue");
        assert_eq!(train.next_copy(t0 + Duration::from_micros(202)), None);
    }
}
