//! Adaptive rate control: find the path's bottleneck below the configured ceiling, from what
//! the receivers say reached them.
//!
//! Each status report carries a [`Delivery`] span: the symbols that reached the receiver
//! between two of our progress packets, over the time it took them, how many we sent in that
//! span, and how much later than the fastest one the latest progress packet arrived (a queue
//! standing on the path). A receiver is *congested* when that queue is longer than
//! [`RateConfig::queue_threshold`], when it lost more than its usual loss plus
//! [`RateConfig::loss_threshold`] and plus that loss's own spread over the span: symbols dropped at its full window of blocks count as lost,
//! and so do those its socket dropped because it fell behind. Random loss on a healthy link
//! stays at its usual level whatever the rate; overload grows the queue, then the loss. How
//! full a receiver's window of blocks is, is no signal by itself: blocks wait there for repair
//! at any rate (netsim, 1 Gbit/s links: half-full windows cut the rate to its floor).
//!
//! A span counts only if we were sending at our rate through it, timed by when its marks went
//! out (the `sends` module): the receiver's own time for it is stretched by any queue.
//!
//! While a queue stands before the bottleneck, what reaches the receiver arrives at the
//! bottleneck's rate, whatever ours: so on congestion the rate drops straight to
//! [`RateConfig::drain_gain`] × that delivery rate (divided by the receiver's usual delivered
//! fraction, so loss after the bottleneck is not taken for a slower link), as TCP Westwood and
//! BBR do, rather than by a fixed factor per round trip. Reports written before the cut's
//! effect could reach their writer (they echo an older progress mark) are not counted again.
//! Without congestion the rate probes upwards, by [`RateConfig::probe_start`] in the first
//! window and twice the step in each following one up to [`RateConfig::probe_max`], so a
//! bottleneck that doubles is found in a few windows and a steady one is overshot by a few
//! percent for one window.
//!
//! With many receivers the rate follows the slowest that is not an outlier (TFMCC, RFC 4654):
//! a congested receiver whose delivery rate is below [`RateConfig::outlier_factor`] × the
//! median of the receivers' best recent rates is left out, as long as such receivers are at most
//! [`RateConfig::outlier_share`] of the group, or one of three or more (a slow rack is a
//! bottleneck, a few slow nodes are stragglers, whom peers serve). The outliers left out are
//! handed to the session ([`AdaptiveRate::take_outliers`]), which stops waiting for them: an
//! outlier kept in the group would be congested again at every probe.

mod sends;
mod usual_loss;

use fec::wire::{Delivery, loss_spread};
use sends::Sends;
use usual_loss::{MAX_USUAL_LOSS, UsualLoss};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Tuning of [`AdaptiveRate`].
#[derive(Debug, Clone)]
pub struct RateConfig {
    /// The configured rate: the ceiling.
    pub max_rate_bps: u64,
    /// Never below this fraction of the ceiling.
    pub min_fraction: f64,
    /// A span that lost this much more than the receiver usually loses is congestion.
    pub loss_threshold: f64,
    /// A queue on the path longer than this is congestion.
    pub queue_threshold: Duration,
    /// After congestion, pace at this fraction of the congested receiver's delivery rate: a
    /// little below it, so the queue that built drains.
    pub drain_gain: f64,
    /// Where the cut that ends startup finds a standing queue longer than
    /// [`Self::queue_threshold`], pace at this fraction of the bottleneck until it is drained
    /// (BBR's drain), then at [`Self::drain_gain`] × it: the queue startup built, drained at 3%
    /// of the link, stood for seconds (a start at half of ten times a 1 Gbit/s link behind a
    /// 900 ms queue: 0.18 s of it left after 3 s), and every repair round trip waited behind it.
    pub drain_deep: f64,
    /// The longest such drain.
    pub max_drain: Duration,
    /// Congestion reports gathered this long before the rate reacts to the slowest of them.
    pub react: Duration,
    /// Length of one probing step.
    pub window: Duration,
    /// The first probing step, as a fraction of the rate; it doubles each quiet window.
    pub probe_start: f64,
    /// The largest probing step near the bottleneck last found (below 1.1 × it): a few percent
    /// over it for one window costs that much loss, and finds it again.
    pub probe_near: f64,
    /// The largest probing step above 1.1 × the bottleneck last found: the path has more room
    /// now (another flow ended), found in a few windows.
    pub probe_max: f64,
    /// A receiver below this fraction of the group's median rate may be an outlier.
    pub outlier_factor: f64,
    /// At most this share of the receivers are outliers; if more are that slow, they are the
    /// bottleneck.
    pub outlier_share: f64,
    /// Spans shorter than this say nothing about the rate (only about loss and delay).
    pub min_span: Duration,
    /// A receiver's best rate is forgotten after this long (the path may have changed).
    pub best_lifetime: Duration,
    /// The rate starts at this fraction of the ceiling and doubles, at most every
    /// [`Self::startup_step`] and only once a receiver has reported the current rate
    /// uncongested, until the first congestion (BBR's startup): started at the ceiling, a
    /// sender told ten times the path loses 90% of what it sends before the first report
    /// reaches it. Half reaches the ceiling in one step: from a sixteenth, doubling every
    /// 40 ms, the startup cost 0.1 s of a 0.45 s transfer, and the median node of the netsim
    /// straggler plans finished at 1.36× the bound (1.16× from a quarter, 20 ms; 1.11× from
    /// half). Told ten times the path, it overloads it 5× until the first reaction; the cut
    /// that ends startup drains the queue this built (see [`Self::drain_deep`]).
    pub startup_fraction: f64,
    /// See [`Self::startup_fraction`]. Longer than a receiver's report takes to arrive (one
    /// progress interval, 10 ms, and the path).
    pub startup_step: Duration,
}

impl RateConfig {
    /// Defaults under a ceiling of `max_rate_bps`.
    pub fn new(max_rate_bps: u64) -> Self {
        Self {
            max_rate_bps,
            min_fraction: 0.01,
            loss_threshold: 0.02,
            queue_threshold: Duration::from_millis(5),
            drain_gain: 0.97,
            drain_deep: 0.75,
            max_drain: Duration::from_secs(1),
            react: Duration::from_millis(20),
            window: Duration::from_millis(100),
            probe_start: 0.01,
            probe_near: 0.03,
            probe_max: 0.16,
            outlier_factor: 0.7,
            outlier_share: 0.15,
            min_span: Duration::from_millis(5),
            best_lifetime: Duration::from_secs(2),
            startup_fraction: 0.5,
            startup_step: Duration::from_millis(20),
        }
    }
}

/// Spans of fewer symbols sent say nothing about the rate.
const MIN_MARKS: u32 = 32;

/// Groups with room for fewer outliers than this follow their slowest congested receiver that
/// is not an outlier; larger ones skip a minority (see [`AdaptiveRate::react`]'s body).
const MIN_MINORITY: usize = 2;

/// How far a span's delivery may fall short of our sending over it, beyond the loss's spread,
/// and still count as keeping pace: the two ends time it on different clocks, each late by
/// its own scheduling.
const TIMING_SLACK: f64 = 0.02;

/// The usual loss taken for the spread of a span's loss when none has been seen.
const MIN_USUAL_LOSS: f64 = 0.001;

/// What the controller knows of one receiver.
#[derive(Debug, Clone, Default)]
struct Peer {
    /// Its usual loss.
    usual: UsualLoss,
    /// Its best recent rate estimate (bits/s) and when it was measured.
    best: Option<(f64, Instant)>,
    /// Its last report's estimate (as [`AdaptiveRate::congested`] holds it), if that report
    /// showed a queue.
    queued: Option<Option<f64>>,
    /// The queue its last report showed.
    queue: Duration,
    /// Its last report's estimate, if it measured one.
    latest: Option<f64>,
}

/// The controller. Feed it status reports; read the rate.
#[derive(Debug)]
pub struct AdaptiveRate {
    config: RateConfig,
    rate_bps: f64,
    peers: HashMap<u64, Peer>,
    /// Congested receivers reported since the last reaction, with their bottleneck estimate
    /// (`None`: no span long enough to tell).
    congested: HashMap<u64, Option<f64>>,
    /// Reports that echo a progress mark below this were written before the last cut reached
    /// their writer.
    cut_mark: u64,
    /// When congestion reports were first gathered for the next reaction.
    react_from: Option<Instant>,
    /// A drain in progress (see [`RateConfig::drain_deep`]): until when, and the rate after it.
    drain: Option<(Instant, f64)>,
    /// When the current probing window started.
    window_start: Option<Instant>,
    /// Whether the rate was cut in the current window.
    cut_in_window: bool,
    /// Whether a queue was seen draining in the current window: no probe ends it, unless the
    /// window before was held too.
    hold_in_window: bool,
    /// Whether the last window ended without its probe for a draining queue.
    held_last_window: bool,
    /// The next probing step.
    probe: f64,
    /// The bottleneck found at the last cut, bits/s.
    bottleneck_bps: Option<f64>,
    /// Still in startup (see [`RateConfig::startup_fraction`]).
    startup: bool,
    /// The rate before startup's last doubling, which no receiver found congested (`None`
    /// before the first doubling: the starting rate was never tested).
    doubled_from: Option<f64>,
    /// Whether a receiver reported a span sent at the current rate, uncongested: startup
    /// doubles only a rate the path was seen to carry. Doubling on a clock, it doubled before
    /// any report came back where the overload lost most progress packets (netsim's 1 Gbit/s
    /// nodes told 10 Gbit/s, started at half: sent the ceiling, 1.088x the bound and 1.10x the
    /// object). A few receivers report their first spans for this (see the receiver's
    /// `STARTUP_REPORTERS`); the others stay quiet while they keep up.
    confirmed: bool,
    /// The progress mark when the current probing window started: a window in which the sender
    /// sent well below its rate (it waited for feedback) says nothing about a higher rate.
    window_mark: u64,
    /// Wire bits per symbol, from the latest report.
    symbol_bits: f64,
    /// Congested receivers left out as outliers since [`Self::take_outliers`] last ran.
    outliers: Vec<u64>,
    /// Receivers whose reports count, as of the last reaction. Those that never sent a span
    /// long enough to measure keep up with the rate: a receiver reports at once when congested,
    /// and otherwise only a keepalive every half second.
    group: usize,
    /// The outliers' bound at the last reaction (see [`Self::is_outlier`]).
    outlier_bound_bps: Option<f64>,
    /// Outliers left out so far: the share allowed counts them, so a small group does not lose
    /// one receiver per reaction (the harness, 4 receivers: two handed off with 0 blocks at the
    /// first cuts, one of four and then one of three).
    left_out: std::collections::HashSet<u64>,
    /// When our progress marks went out (see [`sends`]).
    sends: Sends,
}

impl AdaptiveRate {
    /// Starts at [`RateConfig::startup_fraction`] of the ceiling.
    pub fn new(config: RateConfig) -> Self {
        Self {
            rate_bps: config.max_rate_bps as f64 * config.startup_fraction.clamp(config.min_fraction, 1.0),
            startup: config.startup_fraction < 1.0,
            doubled_from: None,
            confirmed: false,
            window_mark: 0,
            symbol_bits: 0.0,
            probe: config.probe_start,
            bottleneck_bps: None,
            config,
            peers: HashMap::new(),
            congested: HashMap::new(),
            cut_mark: 0,
            react_from: None,
            drain: None,
            window_start: None,
            cut_in_window: false,
            hold_in_window: false,
            held_last_window: false,
            outliers: Vec::new(),
            group: 0,
            outlier_bound_bps: None,
            left_out: Default::default(),
            sends: Sends::default(),
        }
    }

    /// The congested receivers left out as outliers since the last call, by id: too slow for
    /// the group, they should complete from their peers.
    pub fn take_outliers(&mut self) -> Vec<u64> {
        // In a stable order: simulations must be deterministic, and the set came from a map.
        self.outliers.sort_unstable();
        std::mem::take(&mut self.outliers)
    }

    /// Whether some receiver's deliveries were heard, and every one heard is known (see
    /// [`usual_loss`]) to lose less than `share` usually. Stops at the first that is not: asked at
    /// every report, it costs one receiver's look on a lossy path.
    pub fn all_lose_below(&self, share: f64) -> bool {
        !self.peers.is_empty() && self.peers.values().all(|peer| peer.usual.is_known() && peer.usual.share() < share)
    }

    /// A progress packet carrying `mark` went out at `now`: reports' spans are timed by it.
    pub fn on_progress(&mut self, now: Instant, mark: u64) {
        self.sends.on_progress(now, mark, self.rate_bps);
    }

    /// The rate to pace at now.
    pub fn rate_bps(&self) -> u64 {
        self.rate_bps as u64
    }

    /// A status report from `receiver` at `now`: it had heard progress mark `heard`, and
    /// `delivery` reached it, each symbol worth `symbol_bits` on the wire.
    pub fn on_report(&mut self, now: Instant, receiver: u64, heard: u64, delivery: &Delivery, symbol_bits: f64) {
        let sent = self.sends.span(heard.saturating_sub(u64::from(delivery.marks)), heard);
        let config = &self.config;
        self.symbol_bits = symbol_bits;
        let peer = self.peers.entry(receiver).or_default();
        let measured = delivery.marks > 0 && u64::from(delivery.span_us) >= config.min_span.as_micros() as u64;
        // Symbols dropped at a full window count as lost: the receiver could not use them. But
        // the path delivered them, and its rate is what the estimate is about.
        let kept = delivery.symbols.saturating_sub(delivery.window_drops).min(delivery.marks);
        let loss = if delivery.marks > 0 { 1.0 - f64::from(kept) / f64::from(delivery.marks) } else { 0.0 };
        let queue_us = u128::from(delivery.queue_us);
        let threshold_us = config.queue_threshold.as_micros();
        // Loss above the usual is congestion once the usual is known, or with a queue behind it
        // (a full drop-tail queue: 512 packets are 0.6 ms at 10 Gbit/s), or where it is more than
        // any link's usual loss (a bottleneck that drops what it cannot queue: unknown, such loss
        // kept the rate at 2.5x the bottleneck for a whole transfer); the first spans of a link
        // with random loss are not.
        // And the excess must be more than the usual loss's own spread over the span's symbols
        // (binomial, [`fec::wire::LOSS_SIGNIFICANCE`] standard deviations): at 5% random loss a 10 ms span
        // at 300 Mbit/s holds ~250 symbols, whose loss exceeds 7% in one span of 20; four
        // receivers reporting every 10 ms read that as congestion several times a second, and each
        // cut to the span's delivery ratcheted the rate down (the harness: ~83 Mbit/s on a 300
        // Mbit/s link at 5% loss).
        let marks = f64::from(delivery.marks);
        let usual = peer.usual.share();
        let spread = loss_spread(usual.max(MIN_USUAL_LOSS), marks);
        let lossy = delivery.marks > 0
            && loss > usual + config.loss_threshold.max(spread)
            && (peer.usual.is_known() || queue_us * 10 >= threshold_us || loss >= MAX_USUAL_LOSS);
        // A span in which the sender sent little (it waited for feedback, or sent a few repair
        // symbols) says nothing about the rate: its loss is a few symbols' luck, its delivery
        // rate ours.
        // How fast we sent is timed by our own clock where the marks are still known: the
        // receiver's span is the path's delivery, which a queue stretches (see [`sends`]).
        let sent_bits = f64::from(delivery.marks) * symbol_bits;
        let busy = delivery.marks >= MIN_MARKS
            && match sent {
                Some(sent) => sent_bits >= 0.5 * sent.rate_bps * sent.duration.as_secs_f64(),
                None => sent_bits / (f64::from(delivery.span_us.max(1)) / 1e6) >= 0.5 * self.rate_bps,
            };
        // A queue counts only where two reports in a row show it. A receiver descheduled for a
        // few ms sees one progress packet late, and its span stretched by as much: the harness,
        // 300 Mbit/s with 1% loss, cut 17 times in 12 s on 5-12 ms of queue that the next
        // report no longer had, each time to that span's delivery (642 symbols delivered of 647
        // sent; spans of 14 ms delivered at 0.45-0.96 of what was sent), and paced at half the
        // link. A queue on the path is still there 20 ms later. And a queue that delivery
        // outruns (beyond the usual loss, its spread and the two clocks' slack) is draining: no
        // cut, and no probe. Startup keeps the single report where delivery fell short of what
        // we sent: a doubling rate must not wait for a second. Where our marks are forgotten,
        // the queue alone counts, as before; a span too short to time does not count alone (a
        // receiver that reads two progress packets in one burst after it was descheduled
        // reports its queue over a span of a few µs: each such report cut the rate by the
        // drain's margin).
        let sent_bps = sent.map(|sent| sent_bits / sent.duration.as_secs_f64()).filter(|bps| bps.is_finite());
        let pace = sent_bps.filter(|_| measured).map(|sent_bps| {
            let delivered_bps = f64::from(delivery.symbols) * symbol_bits / (f64::from(delivery.span_us) / 1e6);
            delivered_bps / (sent_bps * (1.0 - usual))
        });
        let queued = queue_us > threshold_us;
        let tolerance = spread + TIMING_SLACK;
        let short = pace.is_none_or(|pace| pace < 1.0 - tolerance);
        // A queue that delivery outruns is draining: we already send below the bottleneck, and
        // probing now would keep it standing.
        let draining = pace.is_some_and(|pace| pace > 1.0 + tolerance);
        let before = peer.queued.take();
        let queue_counts = queued && !draining && (before.is_some() || sent_bps.is_none() || (self.startup && short));
        let congested = busy && (queue_counts || lossy);
        if busy && !congested && sent.is_some_and(|sent| sent.rate_bps >= self.rate_bps) {
            self.confirmed = true;
        }
        if busy && queued && draining {
            self.hold_in_window = true;
        }
        // Loss that outlasts a cut, without a queue or a full window behind it, is the path's
        // usual loss: a usual loss learned too low (see [`usual_loss`]) would take every span
        // for congestion, and cut the rate for good.
        let after_cut = self.cut_mark > 0 && heard.saturating_sub(u64::from(delivery.marks)) >= self.cut_mark;
        let outlasts_cut = after_cut && !queue_counts && delivery.window_drops == 0;
        if !congested || outlasts_cut {
            peer.usual.learn(loss, delivery.marks);
        }
        // Where the receiver dropped more at its window than the path lost, the receiver is the
        // bottleneck: what it kept is its rate.
        let path_lost = delivery.marks.saturating_sub(delivery.symbols);
        let taken = if delivery.window_drops > path_lost { kept } else { delivery.symbols };
        let estimate = (measured && busy).then(|| {
            let delivered_bps = f64::from(taken) * symbol_bits / (f64::from(delivery.span_us) / 1e6);
            delivered_bps / (1.0 - peer.usual.share()).max(0.5)
        });
        if let Some(estimate) = estimate
            && peer.best.is_none_or(|(best, at)| estimate >= best || now >= at + config.best_lifetime)
        {
            peer.best = Some((estimate, now));
        }
        // The cut sets the pacer's rate, and a sender short of CPU sends below it (the harness,
        // 2 cores under load: 0.57-0.71 of it): the estimate is scaled to the pacer's rate that
        // sent at it, or each cut would compound the shortfall (a cut to 0.97x the delivery at
        // 0.7x the pacer's rate lands at 0.68x it).
        let efficiency = sent.zip(sent_bps).map_or(1.0, |(sent, bps)| (sent.rate_bps / bps).clamp(1.0, 2.0));
        let estimate = estimate.map(|e| e * efficiency);
        peer.queued = queued.then_some(estimate);
        peer.queue = Duration::from_micros(delivery.queue_us.into());
        peer.latest = estimate.or(peer.latest);
        if congested && heard >= self.cut_mark {
            tracing::debug!(receiver, loss, usual = peer.usual.share(), queue_us, ?pace, ?sent, ?estimate, ?delivery, "congested");
            self.react_from.get_or_insert(now);
            // A receiver's best span since the last reaction: a span that began before the
            // queue (or that its receiver, short of CPU, timed late) underestimates the
            // bottleneck, and none overestimates it by much (BBR's max filter).
            // The better of this span and the one before it that made it count: one of them
            // may be stretched by its receiver's scheduling.
            let estimate = match before.flatten() {
                Some(before) => Some(estimate.map_or(before, |e| e.max(before))),
                None => estimate,
            };
            let best = self.congested.entry(receiver).or_insert(estimate);
            if let (Some(old), Some(new)) = (*best, estimate) {
                *best = Some(old.max(new));
            }
        }
    }

    /// Forgets `receiver` (it finished, left, or finishes from its peers): its reports no
    /// longer count.
    pub fn forget(&mut self, receiver: u64) {
        self.peers.remove(&receiver);
        self.congested.remove(&receiver);
    }

    /// Whether `receiver` was too slow to set the group's pace at the last reaction to
    /// congestion (see the module's doc).
    pub fn is_outlier(&self, receiver: u64) -> bool {
        let Some((best, _)) = self.peers.get(&receiver).and_then(|p| p.best) else { return false };
        self.outlier_bound_bps.is_some_and(|bound| best < bound)
    }

    /// Rates below this are outliers' (`None`: nobody is an outlier now), given the receivers
    /// `congested` now. A receiver that is not congested keeps up with the rate, whatever rate
    /// its spans measured (in startup they lag the doubling rate), and so does one never
    /// measured (see `group`); a congested one is worth its best recent rate.
    fn outlier_bound(&self, congested: &HashMap<u64, Option<f64>>) -> Option<f64> {
        let mut rates: Vec<f64> = Vec::with_capacity(self.group.max(self.peers.len()));
        for (id, peer) in &self.peers {
            match (peer.best, congested.contains_key(id)) {
                (Some((best, _)), true) => rates.push(best),
                (best, false) => rates.push(best.map_or(self.rate_bps, |(b, _)| b.max(self.rate_bps))),
                (None, true) => {}
            }
        }
        if rates.is_empty() {
            return None;
        }
        rates.resize(rates.len().max(self.group), self.rate_bps);
        rates.sort_by(f64::total_cmp);
        let bound = rates[rates.len() / 2] * self.config.outlier_factor;
        let below = rates.iter().take_while(|&&b| b < bound).count();
        // Of the whole group, those left out before and since forgotten included.
        let gone = self.left_out.iter().filter(|id| !self.peers.contains_key(id)).count();
        let group = rates.len() + gone;
        let allowed = (self.config.outlier_share * group as f64).floor().max(if group >= 3 { 1.0 } else { 0.0 });
        ((below + gone) as f64 <= allowed && below > 0).then_some(bound)
    }

    /// Advances to `now`, when the sender's progress mark is `mark`: reacts to the congestion
    /// gathered, or probes upwards after a quiet window. `group` counts the receivers whose
    /// reports count (asked only to react). Returns the new rate if it changed.
    pub fn roll(&mut self, now: Instant, mark: u64, group: impl FnOnce() -> usize) -> Option<u64> {
        let old = self.rate_bps();
        let window_start = *self.window_start.get_or_insert(now);
        if self.react_from.is_some_and(|at| now >= at + self.config.react) {
            self.group = group();
            self.react(now, mark);
            self.react_from = None;
        }
        if let Some((until, after)) = self.drain
            && now >= until
        {
            self.rate_bps = after;
            self.drain = None;
        }
        // A draining window is a cut's: it ends without a probe.
        self.cut_in_window |= self.drain.is_some();
        let sent_bits = mark.saturating_sub(self.window_mark) as f64 * self.symbol_bits;
        let busy = sent_bits >= 0.5 * self.rate_bps * now.saturating_duration_since(window_start).as_secs_f64();
        if self.startup {
            // Congestion is being gathered: doubling now would overshoot it twice. Unless so
            // far only a minority the reaction will skip is congested: slow nodes, congested
            // from their first report, held the whole group of netsim stragglers_slow at half
            // the ceiling for two more steps (the median node at 1.23x the bound).
            let gathering = self.react_from.is_some() && self.congested.len() > self.minority();
            // Silence as long as four steps is consent: receivers of another version, or none
            // sampled to report, must not hold the rate at half the ceiling.
            let heard = self.confirmed || now >= window_start + 4 * self.config.startup_step;
            let double = heard && busy && !gathering && now >= window_start + self.config.startup_step;
            if double {
                tracing::debug!(from = self.rate_bps, mark, "double");
                self.confirmed = false;
                self.doubled_from = Some(self.rate_bps);
                self.rate_bps *= 2.0;
            }
            // A window of waiting (for receivers to join) says nothing about the rate.
            if double || (!busy && now >= window_start + self.config.startup_step) {
                self.window_start = Some(now);
                self.window_mark = mark;
            }
        } else if now >= window_start + self.config.window {
            self.window_start = Some(now);
            self.window_mark = mark;
            // A window in which a queue drained ends without a probe, but not two in a row: a
            // queue drains within a window, and a receiver short of CPU reports a span that
            // catches up after it was descheduled in nearly every window (the VM lab's TCG
            // guests), which held the rate at a cut for good.
            let held = std::mem::take(&mut self.hold_in_window) && !self.held_last_window;
            self.held_last_window = held;
            let busy = busy && !held;
            if std::mem::take(&mut self.cut_in_window) {
                self.probe = self.config.probe_start;
            } else if busy {
                tracing::debug!(from = self.rate_bps, probe = self.probe, "probe");
                self.rate_bps *= 1.0 + self.probe;
                let near = self.bottleneck_bps.is_some_and(|b| self.rate_bps < 1.1 * b);
                self.probe = (self.probe * 2.0).min(if near { self.config.probe_near } else { self.config.probe_max });
            }
        }
        let max = self.config.max_rate_bps as f64;
        self.rate_bps = self.rate_bps.clamp(max * self.config.min_fraction, max);
        self.startup &= self.rate_bps < max;
        (self.rate_bps() != old).then_some(self.rate_bps())
    }

    /// How many congested receivers of the group are a minority the rate does not follow (see
    /// [`Self::react`]'s body); 0 in groups too small to have one.
    fn minority(&self) -> usize {
        let group = self.group.max(self.peers.len());
        let allowed = (self.config.outlier_share * group as f64).floor() as usize;
        if allowed >= MIN_MINORITY { allowed } else { 0 }
    }

    /// Cuts the rate to the slowest congested receiver that is not an outlier, at `now`, when
    /// the sender's progress mark is `mark`.
    fn react(&mut self, now: Instant, mark: u64) {
        let congested = std::mem::take(&mut self.congested);
        let bound = self.outlier_bound(&congested);
        self.outlier_bound_bps = bound;
        // In a large group, up to `allowed` receivers congested at once are a minority: a
        // burst of loss, a crash, a few slow links. The rate follows the group, and skips as
        // many of the slowest estimates (netsim, bursty loss: one node's burst cut the rate to
        // its floor for all 500).
        let skip = self.minority();
        let mut estimates: Vec<f64> = Vec::new();
        let mut unmeasured = 0;
        // The least queue a counted receiver reported, and the least rate its latest span
        // measured.
        let mut queue: Option<Duration> = None;
        let mut latest: Option<f64> = None;
        let mut ids: Vec<u64> = congested.keys().copied().collect();
        ids.sort_unstable();
        for receiver in ids {
            let best = self.peers.get(&receiver).and_then(|p| p.best.map(|(b, _)| b));
            if bound.is_some_and(|bound| best.is_some_and(|b| b < bound)) {
                self.outliers.push(receiver);
                self.left_out.insert(receiver);
                continue;
            }
            let peer = self.peers.get(&receiver);
            let reported = peer.map_or(Duration::ZERO, |p| p.queue);
            queue = Some(queue.map_or(reported, |q| q.min(reported)));
            if let Some(rate) = peer.and_then(|p| p.latest) {
                latest = Some(latest.map_or(rate, |l: f64| l.min(rate)));
            }
            match congested[&receiver] {
                Some(e) => estimates.push(e),
                None => unmeasured += 1,
            }
        }
        if estimates.len() + unmeasured + self.outliers.len() <= skip {
            return;
        }
        estimates.sort_by(f64::total_cmp);
        let slowest = estimates.get(skip.saturating_sub(self.outliers.len()).min(estimates.len().saturating_sub(1))).copied();
        // Startup's queue builds through every span since the first congested one, so the
        // latest span delivered at the bottleneck's rate; the best may be a first span that a
        // token bucket's burst let through faster (the harness's tbf: 1.73 Gbit/s measured on
        // a 1 Gbit/s link told 10 Gbit/s, and a drain at 0.75x that which still grew the queue).
        let slowest = match (slowest, latest) {
            (Some(best), Some(latest)) if self.startup => Some(best.min(latest)),
            _ => slowest,
        };
        let unmeasured = unmeasured > 0;
        let target = match (slowest, unmeasured) {
            (Some(bottleneck), _) => {
                self.bottleneck_bps = Some(bottleneck);
                bottleneck * self.config.drain_gain
            }
            // Congested without a span long enough to measure: back off by the drain's margin.
            (None, true) => self.rate_bps * self.config.drain_gain,
            (None, false) => return,
        };
        // In startup the rate before the last doubling was not congested, and the first
        // congested span began below the bottleneck: it underestimates it. Before any doubling
        // nothing is known to be below the bottleneck: a start at half of ten times the path
        // floored at half the start overloaded it 2.5x.
        let target = match self.doubled_from {
            Some(below) if self.startup => target.max(below),
            _ => target,
        };
        // A queue that drains while we already send below its rate needs no further cut, and
        // congestion whose bottleneck is above our rate (a burst of loss, a queue draining)
        // must not stop the probing either: the harness at 300 Mbit/s logged such "cuts" (from
        // 284 to a target of 476 Mbit/s), each of which ended its window without a probe.
        if !self.startup && target >= self.rate_bps {
            return;
        }
        tracing::debug!(from = self.rate_bps, target, estimates = ?estimates, outliers = self.outliers.len(), "cut");
        // Startup's cut drains the queue it built. The queue reported is the delay of a mark
        // sent before we stopped sending faster than the bottleneck: by now it has grown by our
        // rate over the bottleneck's, for as long. Later cuts follow a probe a few percent over
        // the bottleneck, whose queue the drain's margin clears; and one receiver short of CPU
        // reads a progress packet late as a queue, which a drain would pay for in link time.
        self.drain = None;
        if self.startup
            && let Some((bottleneck, queue)) = slowest.zip(queue).filter(|&(b, _)| b > 0.0)
            && target < self.rate_bps
        {
            let standing_s = queue.as_secs_f64() * (self.rate_bps / bottleneck).max(1.0);
            if standing_s > self.config.queue_threshold.as_secs_f64() {
                let takes = Duration::from_secs_f64(standing_s / (1.0 - self.config.drain_deep)).min(self.config.max_drain);
                tracing::debug!(standing_s, ?takes, "drain");
                self.drain = Some((now + takes, target));
                self.rate_bps = bottleneck * self.config.drain_deep;
            }
        }
        self.rate_bps = self.rate_bps.min(target);
        self.cut_mark = mark;
        self.cut_in_window = true;
        self.startup = false;
        self.probe = self.config.probe_start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYMBOL_BITS: f64 = 8.0 * 1500.0;

    /// A path of `capacity` bits/s with a drop-tail queue of `queue` behind which receivers lose
    /// `loss` at random, stepped every 10 ms, the sender's progress mark going out after each
    /// step's symbols. Each step's symbols reach the receivers once the bottleneck has served
    /// them: a receiver reports their span when they arrive, timed on its own clock (a standing
    /// queue stretches it to the bottleneck's rate), echoing the mark sent after them.
    struct Path {
        capacity: f64,
        queue: Duration,
        loss: f64,
        /// The sender's progress mark.
        mark: u64,
        /// Each step's symbols not yet across the bottleneck.
        chunks: std::collections::VecDeque<Chunk>,
        /// Virtual time, s.
        now_s: f64,
        /// When the last chunk was across.
        last_done_s: f64,
        /// xorshift state of the random loss.
        rng: u64,
    }

    struct Chunk {
        mark: u64,
        marks: u32,
        admitted: u32,
        left_bits: f64,
        sent_s: f64,
    }

    const STEP_S: f64 = 0.01;

    impl Path {
        fn new(capacity: f64, queue: Duration, loss: f64) -> Self {
            Self { capacity, queue, loss, mark: 0, chunks: Default::default(), now_s: 0.0, last_done_s: 0.0, rng: 0x9e37_79b9_7f4a_7c15 }
        }

        fn lost(&mut self) -> bool {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            (self.rng >> 11) as f64 / (1u64 << 53) as f64 <= self.loss
        }

        /// One step sending at `rate`: the spans that reached the receivers in it, with the
        /// mark each echoes.
        fn step(&mut self, rate: f64) -> Vec<(u64, Delivery)> {
            let marks = (rate * STEP_S / SYMBOL_BITS) as u32;
            self.mark += u64::from(marks);
            let backlog: f64 = self.chunks.iter().map(|c| c.left_bits).sum();
            let room = (self.queue.as_secs_f64() * self.capacity - backlog).max(0.0) + self.capacity * STEP_S;
            let admitted = marks.min((room / SYMBOL_BITS) as u32);
            let sent_s = self.now_s;
            self.chunks.push_back(Chunk { mark: self.mark, marks, admitted, left_bits: f64::from(admitted) * SYMBOL_BITS, sent_s });
            let mut budget = self.capacity * STEP_S;
            let mut reports = Vec::new();
            while let Some(chunk) = self.chunks.front_mut() {
                let take = chunk.left_bits.min(budget);
                chunk.left_bits -= take;
                budget -= take;
                if chunk.left_bits > 0.0 {
                    break;
                }
                let chunk = self.chunks.pop_front().expect("front");
                let done_s = (self.now_s + (self.capacity * STEP_S - budget) / self.capacity).max(chunk.sent_s + STEP_S);
                let symbols = (0..chunk.admitted).filter(|_| !self.lost()).count() as u32;
                let span_us = ((done_s - self.last_done_s) * 1e6) as u32;
                let queue_us = ((done_s - chunk.sent_s - STEP_S).max(0.0) * 1e6) as u32;
                self.last_done_s = done_s;
                reports.push((chunk.mark, Delivery { symbols, window_drops: 0, marks: chunk.marks, span_us, queue_us }));
            }
            self.now_s += STEP_S;
            reports
        }
    }

    fn run(rate: &mut AdaptiveRate, path: &mut Path, receivers: u64, from: u32, steps: u32, capacity_at: impl Fn(u32) -> f64) -> Vec<f64> {
        let start = Instant::now();
        let mut rates = Vec::new();
        rate.on_progress(start + Duration::from_millis(10) * from, path.mark);
        for step in from..from + steps {
            let now = start + Duration::from_millis(10) * (step + 1);
            path.capacity = capacity_at(step);
            let reports = path.step(rate.rate_bps() as f64);
            rate.on_progress(now, path.mark);
            for (heard, delivery) in &reports {
                for receiver in 0..receivers {
                    rate.on_report(now, receiver, *heard, delivery, SYMBOL_BITS);
                }
            }
            rate.roll(now, path.mark, || 0);
            rates.push(rate.rate_bps() as f64);
        }
        rates
    }

    /// Steps a fresh `rate` over `path` for `steps` steps of 10 ms, sending at `sending` times its
    /// pacer's rate, each of `receivers` reporting what `report` makes of a span (the step, the
    /// span's index in it, the receiver, the span). Returns the rate and what was sent, per step.
    fn drive(rate: &mut AdaptiveRate, path: &mut Path, receivers: u64, steps: u32, sending: f64, report: impl Fn(u32, usize, u64, &Delivery) -> Delivery) -> Vec<(f64, f64)> {
        let start = Instant::now();
        let mut trace = Vec::new();
        rate.on_progress(start, 0);
        for step in 0..steps {
            let now = start + Duration::from_millis(10) * (step + 1);
            let sent = sending * rate.rate_bps() as f64;
            let reports = path.step(sent);
            rate.on_progress(now, path.mark);
            for (i, (heard, delivery)) in reports.iter().enumerate() {
                for receiver in 0..receivers {
                    rate.on_report(now, receiver, *heard, &report(step, i, receiver, delivery), SYMBOL_BITS);
                }
            }
            rate.roll(now, path.mark, || receivers as usize);
            trace.push((rate.rate_bps() as f64, sent));
        }
        trace
    }

    fn mean(rates: &[f64]) -> f64 {
        rates.iter().sum::<f64>() / rates.len() as f64
    }

    /// Told 10 Gbit/s, behind a 1 Gbit/s link with a short queue and 1% random loss: within a
    /// second the rate averages near the link.
    #[test]
    fn finds_a_bottleneck_ten_times_below_the_ceiling() {
        let mut rate = AdaptiveRate::new(RateConfig::new(10_000_000_000));
        let mut path = Path::new(1e9, Duration::from_millis(1), 0.01);
        let rates = run(&mut rate, &mut path, 4, 0, 500, |_| 1e9);
        let settled = mean(&rates[100..]);
        assert!((0.93e9..=1.05e9).contains(&settled), "settled at {settled}");
        let peak = rates.iter().copied().fold(0.0, f64::max);
        assert!(peak <= 5e9, "startup went on past the first congestion, to {peak}");
    }

    /// With the path as fast as the ceiling, startup reaches it in one step: on a 0.45 s
    /// transfer (netsim's straggler plans), every 10 ms spent below it is 2% of the bound.
    #[test]
    fn an_uncongested_path_is_at_the_ceiling_after_one_startup_step() {
        let mut rate = AdaptiveRate::new(RateConfig::new(10_000_000_000));
        let mut path = Path::new(10e9, Duration::from_millis(1), 0.0);
        let rates = run(&mut rate, &mut path, 4, 0, 6, |_| 10e9);
        assert_eq!(rates[0], 5e9, "starts at half");
        assert!(rates[2..].iter().all(|&r| r == 10e9), "at the ceiling by 30 ms: {rates:?}");
    }

    /// Startup doubles a rate a receiver has reported uncongested: told 10 Gbit/s, one
    /// receiver's report, and it is at the ceiling by 30 ms. Hearing nothing back (an overload
    /// that loses the progress packets too), it stays at half the ceiling for four steps, and
    /// then takes the silence for consent.
    #[test]
    fn startup_doubles_a_rate_a_receiver_has_seen() {
        let mut rate = AdaptiveRate::new(RateConfig::new(10_000_000_000));
        let mut path = Path::new(10e9, Duration::from_millis(1), 0.0);
        let heard = run(&mut rate, &mut path, 1, 0, 3, |_| 10e9);
        assert_eq!(heard, [5e9, 5e9, 10e9]);
        let mut rate = AdaptiveRate::new(RateConfig::new(10_000_000_000));
        let mut path = Path::new(10e9, Duration::from_millis(1), 0.0);
        // Keepalives only: no span.
        let silent: Vec<f64> = drive(&mut rate, &mut path, 1, 10, 1.0, |_, _, _, _| Delivery::default()).iter().map(|&(r, _)| r).collect();
        assert!(silent[..7].iter().all(|&r| r == 5e9), "{silent:?}");
        assert_eq!(silent.last(), Some(&10e9), "{silent:?}");
    }

    /// A deep queue (16 MB at 300 Mbit/s, as tbf in the head-to-head harness): the delay tells
    /// before any loss does.
    #[test]
    fn a_deep_queue_is_found_by_its_delay() {
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let mut path = Path::new(300e6, Duration::from_millis(430), 0.0);
        let rates = run(&mut rate, &mut path, 4, 0, 1000, |_| 300e6);
        let settled = mean(&rates[300..]);
        assert!((0.9 * 300e6..=1.05 * 300e6).contains(&settled), "settled at {settled}");
        let backlog_s = path.chunks.iter().map(|c| c.left_bits).sum::<f64>() / path.capacity;
        assert!(backlog_s < 0.05, "the queue drained: {backlog_s} s");
    }

    /// The harness's over-estimate rows: a 300 Mbit/s link told 1 Gbit/s and a 1 Gbit/s link
    /// told 10 Gbit/s, a deep queue before it (tbf), 5% random loss after it. The queue built
    /// in startup drains within 2 s, and the rate is the link's.
    #[test]
    fn random_loss_behind_a_deep_queue_keeps_the_bottleneck_rate() {
        for (link, ceiling) in [(300e6, 1_000_000_000), (1e9, 10_000_000_000)] {
            let mut rate = AdaptiveRate::new(RateConfig::new(ceiling));
            let mut path = Path::new(link, Duration::from_millis(900), 0.05);
            run(&mut rate, &mut path, 4, 0, 300, |_| link);
            let backlog_s = path.chunks.iter().map(|c| c.left_bits).sum::<f64>() / path.capacity;
            assert!(backlog_s < 0.05, "{link}: the queue drained within 3 s: {backlog_s} s");
            let rates = run(&mut rate, &mut path, 4, 300, 700, |_| link);
            let settled = mean(&rates);
            assert!((0.9 * link..=1.05 * link).contains(&settled), "{link}: settled at {settled}");
        }
    }

    /// The same 300 Mbit/s row, where one receiver's first span was a hundred symbols that lost
    /// none: its usual loss must still become the path's 5%, and its spans stop cutting the rate
    /// (learned from that span alone, every span after it was congestion: here the rate slid to
    /// half the link for a second; in the harness to a fifth of it, for a minute).
    #[test]
    fn a_lucky_first_span_does_not_make_random_loss_congestion() {
        let link = 300e6;
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let mut path = Path::new(link, Duration::from_millis(900), 0.05);
        let first = std::cell::Cell::new(true);
        let lucky = |_, _, receiver, delivery: &Delivery| match receiver == 0 && first.replace(false) {
            true => Delivery { symbols: 100, marks: 100, ..*delivery },
            false => *delivery,
        };
        let trace = drive(&mut rate, &mut path, 4, 1000, 1.0, lucky);
        // Past startup's drain (0.2 s), never below 85% of the link (it was 49%).
        let lowest = trace[20..].iter().map(|&(rate, _)| rate).fold(f64::INFINITY, f64::min);
        assert!(lowest >= 0.85 * link, "down to {lowest}");
        let settled = trace[300..].iter().map(|&(rate, _)| rate).sum::<f64>() / 700.0;
        assert!((0.9 * link..=1.05 * link).contains(&settled), "settled at {settled}");
    }

    /// A path whose random loss rises from 1% to 5% mid-transfer: the new loss outlasts the cuts
    /// it causes, becomes the usual, and the rate stays near the link.
    #[test]
    fn random_loss_that_rises_becomes_the_usual() {
        let link = 300e6;
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let mut path = Path::new(link, Duration::from_millis(900), 0.01);
        run(&mut rate, &mut path, 4, 0, 300, |_| link);
        path.loss = 0.05;
        let rates = run(&mut rate, &mut path, 4, 300, 700, |_| link);
        let lowest = rates.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(lowest >= 0.8 * link, "down to {lowest}");
        let settled = mean(&rates[200..]);
        assert!((0.9 * link..=1.05 * link).contains(&settled), "settled at {settled}");
    }

    /// The bottleneck halves at 3 s: within a second the rate is at the new one.
    #[test]
    fn follows_a_bottleneck_that_halves() {
        let mut rate = AdaptiveRate::new(RateConfig::new(10_000_000_000));
        let mut path = Path::new(1e9, Duration::from_millis(2), 0.0);
        let capacity = |step: u32| if step < 300 { 1e9 } else { 0.5e9 };
        run(&mut rate, &mut path, 8, 0, 300, capacity);
        let after = run(&mut rate, &mut path, 8, 300, 200, capacity);
        assert!(after[..100].iter().any(|&r| r < 0.55e9), "never came down");
        let settled = mean(&after[100..]);
        assert!((0.45e9..=0.53e9).contains(&settled), "settled at {settled}");
    }

    /// The harness at 300 Mbit/s with 1% loss, told 1 Gbit/s: now and then a receiver short
    /// of CPU reports 5-12 ms of queue, its span stretched by as much, and none at its next
    /// report. That is no bottleneck: the rate stays near the link, where cutting to each such span's
    /// delivery (our own rate) held it at about half.
    #[test]
    fn a_queue_with_full_delivery_does_not_cut_to_our_own_rate() {
        let link = 300e6;
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let mut path = Path::new(link, Duration::from_millis(100), 0.01);
        let trace = drive(&mut rate, &mut path, 4, 1200, 1.0, |step, i, receiver, delivery| {
            // One receiver in turn, every 70 ms, late by 5-12 ms in one report.
            let late = i == 0 && step % 7 == 0 && u64::from(step / 7) % 4 == receiver;
            // Its span is stretched by as much as its progress packet was late.
            let lateness = if late { 5_000 + 1_000 * (step % 8) } else { 0 };
            Delivery { queue_us: delivery.queue_us.max(lateness), span_us: delivery.span_us + lateness, ..*delivery }
        });
        let rates: Vec<f64> = trace.iter().map(|&(r, _)| r).collect();
        let cuts = rates.windows(2).skip(199).filter(|w| w[1] < w[0]).count();
        let settled = mean(&rates[200..]);
        assert!((0.9 * link..=1.05 * link).contains(&settled), "settled at {settled}");
        let lowest = rates[200..].iter().copied().fold(f64::MAX, f64::min);
        assert!(lowest >= 0.85 * link, "{cuts} cuts in 10 s, down to {lowest}");
    }

    /// A sender short of CPU sends at 70% of its pacer's rate: a cut sets the pacer's rate
    /// from the delivery scaled by that, so the sending settles at the link instead of each cut
    /// landing at 0.7x the one before.
    #[test]
    fn a_sender_below_its_pacer_rate_settles_at_the_link() {
        let link = 300e6;
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let mut path = Path::new(link, Duration::from_millis(100), 0.01);
        let sending: Vec<f64> = drive(&mut rate, &mut path, 4, 1000, 0.7, |_, _, _, delivery| *delivery).iter().map(|&(_, sent)| sent).collect();
        let settled = mean(&sending[200..]);
        assert!((0.88 * link..=1.05 * link).contains(&settled), "sent at {settled}");
    }

    /// Receivers short of CPU (TCG guests beside other VMs) read in bursts: now and then one
    /// reports a span that catches up after it was descheduled, 10 ms of queue behind it and
    /// delivery above our sending. That is no queue draining at the bottleneck, and it comes in
    /// nearly every probing window: after a cut (here to a third of the link, on two starved
    /// reports) the rate must still climb back to the link, where holding every such window's
    /// probe kept it at the cut.
    #[test]
    fn catching_up_receivers_do_not_stop_the_probing() {
        let link = 300e6;
        // Its span's symbols in half its time (at the rate after the cut, too short to time:
        // such a queue counted at once, and each cut the rate by the drain's margin), or in two
        // thirds (timed, and taken for a queue draining: every window's probe was held).
        for shrink in [0.5, 0.67] {
            let mut rate = AdaptiveRate::new(RateConfig::new(300_000_000));
            let mut path = Path::new(link, Duration::from_millis(100), 0.0);
            let trace = drive(&mut rate, &mut path, 2, 1000, 1.0, |step, _, receiver, delivery| match step {
                // Both starved for two reports: a third of what we sent, 30 ms late.
                100..=101 => Delivery { symbols: delivery.symbols / 3, queue_us: 30_000, ..*delivery },
                // Then one in turn, every 80 ms, catches up.
                102.. if step % 8 == 0 && u64::from(step / 8) % 2 == receiver => Delivery { queue_us: 10_000, span_us: (f64::from(delivery.span_us) * shrink) as u32, ..*delivery },
                _ => *delivery,
            });
            let rates: Vec<f64> = trace.iter().map(|&(r, _)| r).collect();
            let cut = rates[105];
            assert!(cut < 0.5 * link, "{shrink}: the starved reports cut the rate: {cut}");
            let settled = mean(&rates[400..]);
            let trace: Vec<u32> = rates.iter().step_by(20).map(|r| (r / 1e6) as u32).collect();
            assert!(settled >= 0.85 * link, "{shrink}: from {cut} back to only {settled}: {trace:?}");
        }
    }

    /// Random loss, however high, is not congestion: the rate climbs to the ceiling and stays.
    #[test]
    fn random_loss_keeps_the_full_rate() {
        let mut rate = AdaptiveRate::new(RateConfig::new(1_000_000_000));
        let mut path = Path::new(10e9, Duration::from_millis(1), 0.05);
        let rates = run(&mut rate, &mut path, 4, 0, 300, |_| 10e9);
        assert!(rates[50..].iter().all(|&r| r >= 0.99e9), "backed off: {:?}", &rates[..20]);
    }

    /// Among 50 receivers, two at a quarter of the others' speed stop setting the pace; a fifth
    /// of the group that slow sets it.
    #[test]
    fn a_few_slow_receivers_are_outliers_and_many_are_the_bottleneck() {
        for (slow, expected) in [(2u64, 1e9), (10, 0.25e9)] {
            let mut rate = AdaptiveRate::new(RateConfig::new(10_000_000_000));
            let mut fast = Path::new(1e9, Duration::from_millis(1), 0.0);
            let mut slow_path = Path::new(0.25e9, Duration::from_millis(1), 0.0);
            let start = Instant::now();
            let mut rates = Vec::new();
            rate.on_progress(start, 0);
            for step in 1..=600u32 {
                let now = start + Duration::from_millis(10) * step;
                let r = rate.rate_bps() as f64;
                let (f, s) = (fast.step(r), slow_path.step(r));
                rate.on_progress(now, fast.mark);
                for receiver in 0..50 {
                    for (heard, delivery) in if receiver < slow { &s } else { &f } {
                        rate.on_report(now, receiver, *heard, delivery, SYMBOL_BITS);
                    }
                }
                rate.roll(now, fast.mark, || 0);
                rates.push(rate.rate_bps() as f64);
            }
            let settled = mean(&rates[300..]);
            assert!((0.85 * expected..=1.1 * expected).contains(&settled), "{slow} slow: settled at {settled}");
            assert_eq!(rate.is_outlier(0), slow == 2);
        }
    }

    /// In startup, a few slow receivers of a large group, congested from their first report,
    /// do not hold the others' doubling: they are a minority the reaction skips.
    #[test]
    fn a_congested_minority_does_not_hold_the_startup() {
        let mut rate = AdaptiveRate::new(RateConfig::new(10_000_000_000));
        let mut fast = Path::new(10e9, Duration::from_millis(1), 0.0);
        let mut slow = Path::new(2.5e9, Duration::from_millis(1), 0.0);
        let start = Instant::now();
        let mut rates = Vec::new();
        rate.on_progress(start, 0);
        for step in 1..=6u32 {
            let now = start + Duration::from_millis(10) * step;
            let r = rate.rate_bps() as f64;
            let (f, s) = (fast.step(r), slow.step(r));
            rate.on_progress(now, fast.mark);
            for receiver in 0..50 {
                for (heard, delivery) in if receiver < 5 { &s } else { &f } {
                    rate.on_report(now, receiver, *heard, delivery, SYMBOL_BITS);
                }
            }
            rate.roll(now, fast.mark, || 50);
            rates.push(rate.rate_bps() as f64);
        }
        assert_eq!(rates[5], 10e9, "at the ceiling by 60 ms: {rates:?}");
    }

    /// In a group of four, one outlier may be left out, not one per reaction: the group's share
    /// counts those already left out.
    #[test]
    fn a_small_group_leaves_out_one_outlier_in_all() {
        let mut rate = at_ceiling(1_000_000_000);
        let start = Instant::now();
        // The others keep up and stay silent.
        let slow = Delivery { symbols: 100, window_drops: 0, marks: 1000, span_us: 12_000, queue_us: 20_000 };
        let mut left_out = Vec::new();
        for (round, receiver) in [0u64, 1].into_iter().enumerate() {
            let now = start + Duration::from_millis(100) * (round as u32 + 1);
            rate.on_report(now, receiver, 1000 * (round as u64 + 1), &slow, SYMBOL_BITS);
            let waited = 4 - left_out.len();
            rate.roll(now + Duration::from_millis(30), 1000 * (round as u64 + 2), || waited);
            for id in rate.take_outliers() {
                rate.forget(id);
                left_out.push(id);
            }
        }
        assert_eq!(left_out, vec![0], "one of four, then none of three");
        assert!(rate.rate_bps() < 200_000_000, "the second slow receiver sets the pace: {}", rate.rate_bps());
    }

    /// A controller that starts at its ceiling.
    fn at_ceiling(max_rate_bps: u64) -> AdaptiveRate {
        AdaptiveRate::new(RateConfig { startup_fraction: 1.0, ..RateConfig::new(max_rate_bps) })
    }

    /// A full window of blocks is no congestion by itself; the symbols it drops are.
    #[test]
    fn window_drops_back_off_and_a_full_window_alone_does_not() {
        let mut rate = at_ceiling(1_000_000_000);
        let start = Instant::now();
        let clean = Delivery { symbols: 1000, window_drops: 0, marks: 1000, span_us: 10_000, queue_us: 0 };
        for step in 0..50u32 {
            let now = start + Duration::from_millis(10) * step;
            rate.on_report(now, 1, u64::from(step), &clean, SYMBOL_BITS);
            rate.roll(now, u64::from(step) * 1000, || 0);
        }
        assert_eq!(rate.rate_bps(), 1_000_000_000);
        let dropping = Delivery { symbols: 1000, window_drops: 500, marks: 1000, span_us: 10_000, queue_us: 0 };
        for step in 50..100u32 {
            let now = start + Duration::from_millis(10) * step;
            rate.on_report(now, 1, u64::from(step) * 1000, &dropping, SYMBOL_BITS);
            rate.roll(now, u64::from(step) * 1000, || 0);
        }
        assert!(rate.rate_bps() < 700_000_000, "dropping half: {} bit/s", rate.rate_bps());
    }

    /// Reports that echo a mark from before the last cut do not cut again.
    #[test]
    fn stale_reports_do_not_cut_twice() {
        let mut rate = at_ceiling(1_000_000_000);
        let start = Instant::now();
        let congested = Delivery { symbols: 500, window_drops: 0, marks: 1000, span_us: 10_000, queue_us: 1000 };
        rate.on_report(start, 1, 10, &congested, SYMBOL_BITS);
        rate.roll(start + Duration::from_millis(30), 100, || 0);
        let cut = rate.rate_bps();
        assert!(cut < 700_000_000, "{cut}");
        let later = Delivery { symbols: 200, window_drops: 0, marks: 1000, span_us: 10_000, queue_us: 1000 };
        rate.on_report(start + Duration::from_millis(40), 1, 99, &later, SYMBOL_BITS);
        rate.roll(start + Duration::from_millis(70), 200, || 0);
        assert_eq!(rate.rate_bps(), cut, "written before the cut reached it");
        rate.on_report(start + Duration::from_millis(80), 1, 100, &later, SYMBOL_BITS);
        rate.roll(start + Duration::from_millis(110), 300, || 0);
        assert!(rate.rate_bps() < cut);
    }

    /// In a group of 40, three receivers congested at once with tiny delivery (a burst of loss)
    /// move nothing; when most of the group is congested, the rate follows it, skipping the
    /// slowest few.
    #[test]
    fn a_congested_minority_of_a_large_group_does_not_cut() {
        let mut rate = at_ceiling(1_000_000_000);
        let start = Instant::now();
        let clean = Delivery { symbols: 1000, window_drops: 0, marks: 1000, span_us: 12_000, queue_us: 0 };
        let burst = Delivery { symbols: 50, window_drops: 0, marks: 1000, span_us: 12_000, queue_us: 0 };
        let queued = Delivery { symbols: 500, window_drops: 0, marks: 1000, span_us: 12_000, queue_us: 20_000 };
        for receiver in 0..40 {
            rate.on_report(start, receiver, 0, &clean, SYMBOL_BITS);
        }
        let now = start + Duration::from_millis(10);
        for receiver in 0..3 {
            rate.on_report(now, receiver, 0, &burst, SYMBOL_BITS);
        }
        rate.roll(now + Duration::from_millis(30), 1000, || 40);
        assert_eq!(rate.rate_bps(), 1_000_000_000, "a minority's burst");
        assert!(rate.take_outliers().is_empty(), "their best rates are the group's: no outliers");
        let now = now + Duration::from_millis(40);
        for receiver in 0..40 {
            rate.on_report(now, receiver, 1000, if receiver < 3 { &burst } else { &queued }, SYMBOL_BITS);
        }
        rate.roll(now + Duration::from_millis(30), 2000, || 40);
        assert!((450_000_000..=500_000_000).contains(&rate.rate_bps()), "the group's bottleneck: {}", rate.rate_bps());
    }

    /// Congestion whose estimate is above the rate (a burst of loss at one receiver) does not
    /// stop the probing after a cut.
    #[test]
    fn congestion_above_the_rate_does_not_stop_the_probe() {
        let mut rate = at_ceiling(10_000_000_000);
        let start = Instant::now();
        let clean = Delivery { symbols: 10_000, window_drops: 0, marks: 10_000, span_us: 12_000, queue_us: 0 };
        for step in 0..20u32 {
            rate.on_report(start + Duration::from_millis(10) * step, 1, u64::from(step) * 10_000, &clean, SYMBOL_BITS);
        }
        let queued = Delivery { symbols: 5_000, window_drops: 0, marks: 10_000, span_us: 12_000, queue_us: 20_000 };
        let now = start + Duration::from_millis(200);
        rate.on_report(now, 1, 200_000, &queued, SYMBOL_BITS);
        rate.on_report(now + Duration::from_millis(10), 1, 210_000, &queued, SYMBOL_BITS);
        rate.roll(now + Duration::from_millis(30), 220_000, || 1);
        let cut = rate.rate_bps();
        assert!(cut < 6_000_000_000, "cut to the queued span's delivery: {cut}");
        // A burst of loss at 9 Gbit/s of delivery every other step from then on.
        let burst = Delivery { symbols: 9_000, window_drops: 0, marks: 10_000, span_us: 12_000, queue_us: 0 };
        for step in 24..224u32 {
            let now = start + Duration::from_millis(10) * step;
            let mark = u64::from(step) * 10_000;
            rate.on_report(now, 1, mark, if step % 2 == 0 { &burst } else { &clean }, SYMBOL_BITS);
            rate.roll(now, mark, || 1);
        }
        assert!(rate.rate_bps() as f64 > 1.3 * cut as f64, "from {cut} to {}", rate.rate_bps());
    }

    #[test]
    fn never_below_the_floor() {
        let mut rate = at_ceiling(1_000_000_000);
        let start = Instant::now();
        for step in 0..500u32 {
            let now = start + Duration::from_millis(10) * step;
            let marks = (rate.rate_bps() as f64 * 0.01 / SYMBOL_BITS) as u32;
            rate.on_report(now, 1, u64::from(step), &Delivery { symbols: 0, window_drops: 0, marks, span_us: 10_000, queue_us: 1000 }, SYMBOL_BITS);
            rate.roll(now, u64::from(step), || 0);
        }
        assert_eq!(rate.rate_bps(), 10_000_000);
    }
}
