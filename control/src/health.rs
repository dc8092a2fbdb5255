//! Health of stateless servers: each is probed with an HTTP GET of its URL; two failures in a row mark
//! it unhealthy (one lost probe is not an outage), one success marks it healthy again. Only changes
//! are written to the store, so a steady pool costs no writes.
use std::collections::HashMap;
use std::time::Duration;

use crate::stateless::StatelessServer;

/// Consecutive failed probes that make a server unhealthy.
pub const FAILS_TO_UNHEALTHY: u32 = 2;
/// How long one probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Consecutive failures per server, deciding when health changes.
#[derive(Debug, Default)]
pub struct HealthTracker {
    fails: HashMap<i64, u32>,
}

impl HealthTracker {
    /// Records one probe of `server`; returns its new health when that changes.
    pub fn observe(&mut self, server: &StatelessServer, ok: bool) -> Option<bool> {
        let fails = self.fails.entry(server.id).or_default();
        *fails = if ok { 0 } else { fails.saturating_add(1) };
        let healthy = match (ok, *fails >= FAILS_TO_UNHEALTHY) {
            (true, _) => true,
            (false, true) => false,
            (false, false) => server.healthy,
        };
        (healthy != server.healthy).then_some(healthy)
    }
}

/// Whether `url` answers a GET with anything below 500 within [`PROBE_TIMEOUT`].
pub fn probe(url: &str) -> bool {
    let agent = ureq::AgentBuilder::new().timeout(PROBE_TIMEOUT).redirects(0).build();
    match agent.get(url).call() {
        Ok(_) => true,
        Err(ureq::Error::Status(code, _)) => code < 500,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(healthy: bool) -> StatelessServer {
        StatelessServer { id: 1, url: "http://127.0.0.1:1".into(), weight: 1, healthy, load: 0 }
    }

    #[test]
    fn two_failures_to_go_down_one_success_to_come_back() {
        let mut t = HealthTracker::default();
        assert_eq!(t.observe(&server(true), false), None, "one lost probe is not an outage");
        assert_eq!(t.observe(&server(true), false), Some(false));
        assert_eq!(t.observe(&server(false), false), None, "already down");
        assert_eq!(t.observe(&server(false), true), Some(true));
        assert_eq!(t.observe(&server(true), true), None);
        assert_eq!(t.observe(&server(false), false), None, "one failure does not bring a down server back");
    }
}
