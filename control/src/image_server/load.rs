//! An image server's load: the distinct nodes downloading from it, object downloads (range
//! responses) in flight and bytes per second, counted as response bodies stream out, sampled once a
//! second. Nodes are the unit the control plane assigns in (its choice does not weigh these figures
//! yet, see docs/decisions.md): a node keeps several range requests in flight and leaves short gaps
//! between them, so counting responses would double a server's load and counting only open bodies
//! would flicker.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::sync::lock;

/// How long a node that has no body open still counts as downloading: the gap between one range
/// response ending and the next starting, with room for a loaded machine.
pub const NODE_LINGER: Duration = Duration::from_secs(1);

/// Live counters.
#[derive(Debug, Default)]
pub struct Load {
    active: AtomicU64,
    bytes: AtomicU64,
    downloads: AtomicU64,
    bytes_per_s: AtomicU64,
    nodes: Mutex<Nodes>,
}

/// By node name: bodies open now, and when the last one ended.
#[derive(Debug, Default)]
pub struct Nodes {
    open: HashMap<String, (u32, Instant)>,
}

impl Nodes {
    /// A body for `node` starts streaming.
    pub fn start(&mut self, node: &str, now: Instant) {
        let e = self.open.entry(node.to_string()).or_insert((0, now));
        *e = (e.0 + 1, now);
    }

    /// A body for `node` ended (sent or cut).
    pub fn end(&mut self, node: &str, now: Instant) {
        if let Some(e) = self.open.get_mut(node) {
            *e = (e.0.saturating_sub(1), now);
        }
    }

    /// Nodes with a body open, or one that ended within [`NODE_LINGER`] of `now`; forgets the rest.
    pub fn downloading(&mut self, now: Instant) -> u64 {
        self.open.retain(|_, (open, last)| *open > 0 || now.saturating_duration_since(*last) < NODE_LINGER);
        self.open.len() as u64
    }
}

/// The load as reported at `/healthz`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Distinct nodes downloading now.
    pub downloading_nodes: u64,
    /// Object downloads (range responses) streaming now.
    pub active_downloads: u64,
    /// Object bytes sent in the last second.
    pub bytes_per_s: u64,
    /// Object bytes sent since the start.
    pub bytes_served: u64,
    /// Object downloads started since the start.
    pub downloads: u64,
}

impl Load {
    /// The current figures.
    pub fn report(&self) -> LoadReport {
        LoadReport {
            downloading_nodes: lock(&self.nodes).downloading(Instant::now()),
            active_downloads: self.active.load(Ordering::Relaxed),
            bytes_per_s: self.bytes_per_s.load(Ordering::Relaxed),
            bytes_served: self.bytes.load(Ordering::Relaxed),
            downloads: self.downloads.load(Ordering::Relaxed),
        }
    }
}

/// Counts one download of `node` while its body streams: in flight until the body is dropped (sent
/// or cut).
pub fn count(load: &Arc<Load>, node: &str, body: Body) -> Body {
    load.active.fetch_add(1, Ordering::Relaxed);
    load.downloads.fetch_add(1, Ordering::Relaxed);
    lock(&load.nodes).start(node, Instant::now());
    let guard = InFlight(load.clone(), node.to_string());
    Body::from_stream(body.into_data_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            guard.0.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        chunk
    }))
}

struct InFlight(Arc<Load>, String);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
        lock(&self.0.nodes).end(&self.1, Instant::now());
    }
}

/// Samples the byte counter once a second into `bytes_per_s` until stopped.
pub async fn run_sampler(load: Arc<Load>, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.changed() => return,
        }
        let now = load.bytes.load(Ordering::Relaxed);
        load.bytes_per_s.store(now - last, Ordering::Relaxed);
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_counts_once_however_many_ranges_it_has_open_and_lingers_between_them() {
        let mut nodes = Nodes::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            nodes.start("n1", t0);
        }
        nodes.start("n2", t0);
        assert_eq!(nodes.downloading(t0), 2, "three ranges of n1 are one node");
        for _ in 0..3 {
            nodes.end("n1", t0);
        }
        nodes.end("n2", t0);
        assert_eq!(nodes.downloading(t0 + NODE_LINGER / 2), 2, "between two ranges a node still downloads");
        nodes.start("n1", t0 + NODE_LINGER / 2);
        assert_eq!(nodes.downloading(t0 + NODE_LINGER + Duration::from_millis(1)), 1, "n2 finished; n1 has a range open");
        nodes.end("n1", t0 + NODE_LINGER);
        assert_eq!(nodes.downloading(t0 + 3 * NODE_LINGER), 0);
        nodes.end("ghost", t0);
        assert_eq!(nodes.downloading(t0), 0, "an end without a start counts nothing");
    }
}
