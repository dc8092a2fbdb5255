//! The real launcher: one in-process multicast sender per session, on its own thread, with a fresh
//! packet key per session and the control plane's receiver ids, so the sender's events name nodes.
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fec::SessionTicket;
use fec::wire::SessionKey;
use netio::MulticastOptions;
use sender::Event;

use super::launcher::{EventSink, LaunchError, LaunchPlan, TransferLauncher};
use super::manifest_file;
use super::{EncodedTicket, ReceiverState};
use crate::sync::lock;

/// Why a sender stops when the control plane does.
pub const SHUTDOWN_REASON: &str = "the control plane shut down";

/// How sessions are sent.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The first session's multicast group; concurrent sessions take the next addresses up
    /// (same port), so switches with IGMP snooping keep one image's traffic off another's nodes.
    pub group: SocketAddrV4,
    /// Sessions that may run at once, each on its own group address.
    pub max_sessions: u32,
    /// Local address of the interface multicast leaves by.
    pub interface: Ipv4Addr,
    /// Multicast TTL.
    pub ttl: u32,
    /// Pacing rate on the wire, bits per second (0: unlimited).
    pub rate_bps: u64,
    /// After the first receiver joins, start sending after this long even if not all have.
    pub join_window: Duration,
    /// Drop a receiver not heard from for this long.
    pub receiver_timeout: Duration,
    /// Give a session up when no node has joined it this long after it started: its nodes were
    /// gathered because their agents registered, so they join within seconds or not at all.
    pub first_join_timeout: Duration,
    /// Give a session up after this long, whether or not anyone joined.
    pub session_timeout: Duration,
}

impl EngineConfig {
    /// Loopback multicast (127.0.0.1, TTL 1) from `group` up, paced at 1 Gbit/s, as tests and demos
    /// use it.
    pub fn loopback(group: SocketAddrV4) -> Self {
        EngineConfig {
            group,
            max_sessions: 64,
            interface: Ipv4Addr::LOCALHOST,
            ttl: 1,
            rate_bps: 1_000_000_000,
            join_window: Duration::from_secs(30),
            receiver_timeout: Duration::from_secs(10),
            first_join_timeout: Duration::from_secs(120),
            session_timeout: Duration::from_secs(4 * 3600),
        }
    }
}

/// Starts each session's sender on a thread of its own.
#[derive(Debug)]
pub struct MulticastLauncher {
    config: EngineConfig,
    groups: Arc<Mutex<BTreeSet<u32>>>,
    /// Set on shutdown: every running sender stops at its next look.
    stopping: Arc<AtomicBool>,
    /// The sender threads, joined on shutdown.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl MulticastLauncher {
    /// A launcher sending as `config` says.
    pub fn new(config: EngineConfig) -> Self {
        MulticastLauncher { config, groups: Arc::default(), stopping: Arc::default(), threads: Mutex::default() }
    }

    /// The lowest free group address, held until the lease is dropped.
    fn lease_group(&self) -> Result<GroupLease, LaunchError> {
        let mut used = lock(&self.groups);
        let offset = (0..self.config.max_sessions)
            .find(|o| !used.contains(o))
            .ok_or_else(|| LaunchError::Failed(format!("all {} multicast groups are in use by running sessions", self.config.max_sessions)))?;
        let ip = u32::from(*self.config.group.ip())
            .checked_add(offset)
            .map(Ipv4Addr::from)
            .filter(Ipv4Addr::is_multicast)
            .ok_or_else(|| LaunchError::Failed(format!("group {} + {offset} is past the multicast range", self.config.group)))?;
        used.insert(offset);
        Ok(GroupLease { group: SocketAddrV4::new(ip, self.config.group.port()), offset, groups: self.groups.clone() })
    }
}

/// A group address one session holds.
struct GroupLease {
    group: SocketAddrV4,
    offset: u32,
    groups: Arc<Mutex<BTreeSet<u32>>>,
}

impl Drop for GroupLease {
    fn drop(&mut self) {
        lock(&self.groups).remove(&self.offset);
    }
}

impl TransferLauncher for MulticastLauncher {
    fn launch(&self, plan: LaunchPlan, events: EventSink) -> Result<EncodedTicket, LaunchError> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(LaunchError::Failed(SHUTDOWN_REASON.into()));
        }
        let manifest = manifest_file::read(&plan.manifest, Some(&plan.manifest_blake3)).map_err(|e| LaunchError::Failed(e.to_string()))?.manifest;
        let object = File::open(&plan.artifact).map_err(|e| LaunchError::Failed(format!("opening {}: {e}", plan.artifact.display())))?;
        let size = object.metadata().map_err(|e| LaunchError::Failed(format!("reading {}: {e}", plan.artifact.display())))?.len();
        if size != manifest.layout().object_size() {
            return Err(LaunchError::Failed(format!(
                "{} holds {size} bytes but its manifest describes {}",
                plan.artifact.display(),
                manifest.layout().object_size()
            )));
        }
        let lease = self.lease_group()?;
        let ticket = SessionTicket { session_id: plan.id, group: lease.group, key: Some(SessionKey::new(rand::random())), manifest };
        let mut config = sender::ticket_config(&ticket);
        config.rate_bps = self.config.rate_bps;
        // The configured rate is a ceiling, as with `fountain send`: back off while nodes lose
        // much or fall behind.
        config.adaptive_rate = (config.rate_bps > 0).then(|| sender::rate::RateConfig::new(config.rate_bps));
        config.min_receivers = plan.receivers.len();
        config.join_window = Some(self.config.join_window);
        config.receiver_timeout = self.config.receiver_timeout;
        let multicast = MulticastOptions { interface: self.config.interface, ttl: self.config.ttl };
        let mut sender = sender::setup(&ticket, config, object, multicast).map_err(|e| LaunchError::Failed(format!("binding the sender socket: {e}")))?;
        let nodes: HashMap<u64, String> = plan.receivers.iter().map(|r| (r.id, r.node.clone())).collect();
        let blocks_total = u64::from(ticket.manifest.layout().block_count());
        let started = Instant::now();
        let deadline = started + self.config.session_timeout;
        let (stopping, first_join_timeout) = (self.stopping.clone(), self.config.first_join_timeout);
        // Whether any node has joined: once every one that did was dropped, the session ends for a
        // different reason than a window nobody came to.
        let mut anyone_joined = false;
        let mut stop = move |session: &sender::SenderSession| {
            let empty = session.receivers().next().is_none();
            anyone_joined |= !empty;
            if stopping.load(Ordering::Relaxed) {
                Some(SHUTDOWN_REASON.to_string())
            } else if empty && anyone_joined {
                Some("every node that joined fell silent and was dropped".to_string())
            } else if empty && started.elapsed() >= first_join_timeout {
                Some(format!("no node joined within {} s", first_join_timeout.as_secs_f64()))
            } else {
                None
            }
        };
        tracing::info!(session = plan.id, group = %lease.group, receivers = nodes.len(), "multicast sender starting");
        let thread = std::thread::Builder::new()
            .name(format!("fountain-session-{}", plan.id))
            .spawn(move || {
                let _lease = lease;
                let mut joined = BTreeSet::new();
                let outcome = sender.run_stoppable(Some(deadline), &mut stop, |session, event| {
                    let (id, state) = match *event {
                        Event::ReceiverJoined(id) => {
                            joined.insert(id);
                            (id, ReceiverState::Receiving { blocks_done: 0, blocks_total })
                        }
                        Event::ReceiverDone(id) => (id, ReceiverState::Done),
                        Event::ReceiverLost(id) => (id, ReceiverState::Failed { reason: "fell silent and was dropped by the sender".into() }),
                        Event::ReceiverWrongRoot(id) => (id, ReceiverState::Failed { reason: "reported another image's root hash".into() }),
                        // It completes from its peers and reports done through the agent API.
                        Event::ReceiverHandedOff(id) => {
                            let info = session.receivers().find(|(r, _)| **r == id).map(|(_, info)| info);
                            let blocks_done = info.map_or(0, |info| u64::from(info.done_blocks));
                            (id, ReceiverState::Receiving { blocks_done, blocks_total })
                        }
                        Event::Started | Event::Finished => return,
                    };
                    match nodes.get(&id) {
                        Some(node) => events.receiver(node, state),
                        None => tracing::debug!(session = events.session(), receiver = id, "event for a receiver id no node was given"),
                    }
                });
                for (id, node) in &nodes {
                    if !joined.contains(id) {
                        events.never_joined(node);
                    }
                }
                match &outcome {
                    Ok(()) => tracing::info!(session = events.session(), "multicast sender finished"),
                    Err(e) => tracing::warn!(session = events.session(), error = %e, "multicast sender failed"),
                }
                events.finished(outcome.map_err(|e| e.to_string()));
            })
            .map_err(|e| LaunchError::Failed(format!("starting the sender thread: {e}")))?;
        let mut threads = lock(&self.threads);
        threads.retain(|t| !t.is_finished());
        threads.push(thread);
        Ok(EncodedTicket::new(ticket.encode()))
    }

    fn shutdown(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fec::Manifest;
    use crate::transfer::gather::{GatherConfig, Gatherer};
    use crate::transfer::launcher::PlannedReceiver;

    fn plan(dir: &std::path::Path, manifest: &[u8], manifest_blake3: String) -> LaunchPlan {
        std::fs::write(dir.join("root.img"), [1u8; 100]).unwrap();
        std::fs::write(dir.join("root.manifest"), manifest).unwrap();
        LaunchPlan {
            id: 1,
            image: "rocky".into(),
            version: 1,
            artifact: dir.join("root.img"),
            manifest: dir.join("root.manifest"),
            manifest_blake3,
            receivers: vec![PlannedReceiver { node: "n1".into(), id: 5 }],
        }
    }

    fn sink() -> EventSink {
        EventSink::new(Arc::new(Mutex::new(Gatherer::new(GatherConfig { window: Duration::from_secs(1), max_receivers: 1, delivery: crate::transfer::DeliveryChoice::Multicast }, 1))), 1)
    }

    #[test]
    fn refuses_swapped_foreign_and_mismatched_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let launcher = MulticastLauncher::new(EngineConfig::loopback("239.255.93.2:47932".parse().unwrap()));
        let launch = |bytes: &[u8], hash: String| launcher.launch(plan(dir.path(), bytes, hash), sink()).unwrap_err().to_string();

        assert!(launch(b"{}", "00".repeat(32)).contains("changed since the image version was published"));
        assert!(launch(b"{}", blake3::hash(b"{}").to_hex().to_string()).contains("is not a fountain manifest"));
        let other = Manifest::hash_object(fec::ObjectLayout::new(50, 64, 4).unwrap(), &[1u8; 50][..]).unwrap().encode();
        assert!(launch(&other, blake3::hash(&other).to_hex().to_string()).contains("holds 100 bytes but its manifest describes 50"));
        assert!(lock(&launcher.groups).is_empty(), "no group is held by a session that did not start");
    }

    #[test]
    fn concurrent_sessions_get_distinct_groups_and_freed_ones_are_reused() {
        let launcher = MulticastLauncher::new(EngineConfig { max_sessions: 2, ..EngineConfig::loopback("239.255.93.254:47933".parse().unwrap()) });
        let a = launcher.lease_group().unwrap();
        let b = launcher.lease_group().unwrap();
        assert_eq!((a.group.to_string(), b.group.to_string()), ("239.255.93.254:47933".into(), "239.255.93.255:47933".into()));
        assert!(launcher.lease_group().is_err(), "only max_sessions at once");
        drop(a);
        assert_eq!(launcher.lease_group().unwrap().group, "239.255.93.254:47933".parse().unwrap());
    }
}
