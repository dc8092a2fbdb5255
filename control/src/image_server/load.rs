//! An image server's load: downloads in flight and bytes per second, counted as response bodies
//! stream out, sampled once a second.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Live counters.
#[derive(Debug, Default)]
pub struct Load {
    active: AtomicU64,
    bytes: AtomicU64,
    downloads: AtomicU64,
    bytes_per_s: AtomicU64,
}

/// The load as reported at `/healthz`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
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
            active_downloads: self.active.load(Ordering::Relaxed),
            bytes_per_s: self.bytes_per_s.load(Ordering::Relaxed),
            bytes_served: self.bytes.load(Ordering::Relaxed),
            downloads: self.downloads.load(Ordering::Relaxed),
        }
    }
}

/// Counts one download while its body streams: in flight until the body is dropped (sent or cut).
pub fn count(load: &Arc<Load>, body: Body) -> Body {
    load.active.fetch_add(1, Ordering::Relaxed);
    load.downloads.fetch_add(1, Ordering::Relaxed);
    let guard = InFlight(load.clone());
    Body::from_stream(body.into_data_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            guard.0.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        chunk
    }))
}

struct InFlight(Arc<Load>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
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
