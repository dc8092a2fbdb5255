//! Gathering re-imaging nodes into sessions: one open window per image version, closed when
//! `max_receivers` agents have registered or `window` after the first registration, whichever comes
//! first. The window starts at the first registration, not at the first boot script, because an agent
//! takes tens of seconds to boot and a window started earlier would close on nobody.
//!
//! A closing window also decides the delivery: one node alone downloads over HTTP ranges (unicast, no
//! sender), two or more share a multicast session. A node forced to multicast keeps multicast even
//! alone; a node forced to unicast gets a session of its own that closes as soon as it registers.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::{Delivery, DeliveryChoice, EncodedTicket, ReceiverState, SessionId, SessionKey, SessionState, SessionStatus, TransferGrant};

/// Closed sessions kept for the status API before the oldest are forgotten.
pub const SESSION_HISTORY_MAX: usize = 256;

/// Why a node's unicast session ended when its agent registered again (a reset mid-transfer).
pub const RESTARTED: &str = "the node's agent restarted and registered again";

/// Window settings.
#[derive(Debug, Clone, Copy)]
pub struct GatherConfig {
    /// How long a window stays open after its first registration.
    pub window: Duration,
    /// Registrations that close a window at once.
    pub max_receivers: usize,
    /// The delivery of nodes whose re-image did not choose one.
    pub delivery: DeliveryChoice,
}

/// A session whose window closed: start a sender for these receivers (multicast), or only record it
/// (unicast: its node downloads by itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Session id.
    pub id: SessionId,
    /// Image version to send.
    pub key: SessionKey,
    /// Registered nodes.
    pub receivers: Vec<String>,
    /// How they receive it.
    pub delivery: Delivery,
}

/// Why a registration or report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatherError {
    /// The node has not been given a session by a boot script.
    #[error("node {0} has no transfer session: boot it to re-image first")]
    NotAssigned(String),
    /// No such session.
    #[error("transfer session {0} not found")]
    UnknownSession(SessionId),
    /// The node is not a receiver of that session.
    #[error("node {node} is not a receiver of session {session}")]
    NotReceiver {
        /// Node.
        node: String,
        /// Session.
        session: SessionId,
    },
}

#[derive(Debug)]
struct Session {
    key: SessionKey,
    state: SessionState,
    deadline: Option<Instant>,
    receivers: BTreeMap<String, ReceiverState>,
    /// A forced-unicast node's own session, never the open window of its image.
    solo: bool,
    /// Decided when the window closes.
    delivery: Option<Delivery>,
    /// Once the sender runs: its ticket and each receiver's id in it.
    grant: Option<(EncodedTicket, BTreeMap<String, u64>)>,
}

/// The sans-IO gathering state machine.
#[derive(Debug)]
pub struct Gatherer {
    config: GatherConfig,
    next_id: SessionId,
    open: HashMap<SessionKey, SessionId>,
    sessions: BTreeMap<SessionId, Session>,
    node_session: HashMap<String, SessionId>,
    /// Each assigned node's delivery choice, the server default already applied.
    choices: HashMap<String, DeliveryChoice>,
    launches: VecDeque<Launch>,
}

impl Gatherer {
    /// A gatherer whose first session gets id `first_id`.
    pub fn new(config: GatherConfig, first_id: SessionId) -> Self {
        Gatherer {
            config,
            next_id: first_id,
            open: HashMap::new(),
            sessions: BTreeMap::new(),
            node_session: HashMap::new(),
            choices: HashMap::new(),
            launches: VecDeque::new(),
        }
    }

    /// Puts `node` in the open window for `key` (opening one if needed; a session of its own when it
    /// is to be unicast) and returns its id; called when the node is handed a re-image boot script.
    /// `choice` is its re-image's delivery, `None` for the server's default. A node already waiting in
    /// a window moves.
    pub fn assign(&mut self, node: &str, key: SessionKey, choice: Option<DeliveryChoice>) -> SessionId {
        let choice = choice.unwrap_or(self.config.delivery);
        let solo = choice == DeliveryChoice::Unicast;
        self.choices.insert(node.to_string(), choice);
        if let Some(&id) = self.node_session.get(node) {
            match self.sessions.get(&id) {
                Some(s) if s.key == key && s.state == SessionState::Gathering && s.solo == solo => return id,
                _ => {
                    self.leave_gathering(node, id);
                    self.abandon_unicast(node, id);
                }
            }
        }
        self.enter_window(node, key)
    }

    /// Records that `node`'s agent is up and waiting; returns the session it is in, which is a new
    /// window when its first one closed before it registered.
    pub fn register(&mut self, now: Instant, node: &str) -> Result<SessionId, GatherError> {
        let id = *self.node_session.get(node).ok_or_else(|| GatherError::NotAssigned(node.to_string()))?;
        let session = self.sessions.get(&id).ok_or(GatherError::UnknownSession(id))?;
        let id = if session.state == SessionState::Gathering {
            id
        } else {
            // Registering again after its session started: the agent rebooted, so it needs a new one.
            let key = session.key.clone();
            self.abandon_unicast(node, id);
            self.enter_window(node, key)
        };
        let session = self.sessions.get_mut(&id).ok_or(GatherError::UnknownSession(id))?;
        session.receivers.insert(node.to_string(), ReceiverState::Registered);
        session.deadline.get_or_insert(now + self.config.window);
        let registered = session.receivers.values().filter(|r| **r == ReceiverState::Registered).count();
        if session.solo || registered >= self.config.max_receivers {
            self.close(id);
        }
        Ok(id)
    }

    /// Closes window `id` now when nobody it could still wait for is missing: every node in it has
    /// registered, and so has every node of `company` (the other nodes set to re-image or boot that
    /// version, [`crate::api::window_peers::company`]) that is not busy receiving in another running
    /// session. An operator re-imaging a few nodes then waits for their agents, not out the window,
    /// which stays the upper bound for nodes that never come. Returns whether it closed.
    pub fn close_if_complete(&mut self, id: SessionId, company: &[String]) -> bool {
        let complete = self.sessions.get(&id).is_some_and(|s| {
            s.state == SessionState::Gathering
                && !s.receivers.is_empty()
                && s.receivers.values().all(|r| *r == ReceiverState::Registered)
                && company.iter().all(|n| s.receivers.contains_key(n) || self.busy_elsewhere(n, id))
        });
        if complete {
            self.close(id);
        }
        complete
    }

    /// Whether `node` is a receiver of a running session other than `id` (it will not come to `id`'s
    /// window unless its agent restarts, and then it registers anew).
    fn busy_elsewhere(&self, node: &str, id: SessionId) -> bool {
        self.node_session.get(node).is_some_and(|&other| {
            other != id && self.sessions.get(&other).is_some_and(|s| s.state == SessionState::Running && matches!(s.receivers.get(node), Some(r) if !matches!(r, ReceiverState::Failed { .. })))
        })
    }

    /// Takes `node` out of the window it waits in, if any (it is no longer set to re-image).
    pub fn withdraw(&mut self, node: &str) {
        if let Some(&id) = self.node_session.get(node)
            && self.sessions.get(&id).is_some_and(|s| s.state == SessionState::Gathering)
        {
            self.leave_gathering(node, id);
            self.node_session.remove(node);
        }
        self.choices.remove(node);
    }

    /// When [`Gatherer::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.open.values().filter_map(|id| self.sessions.get(id)?.deadline).min()
    }

    /// Closes every window whose deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<SessionId> = self.open.values().copied().filter(|id| self.sessions[id].deadline.is_some_and(|d| d <= now)).collect();
        for id in due {
            self.close(id);
        }
    }

    /// The next session to start a sender for.
    pub fn poll_launch(&mut self) -> Option<Launch> {
        self.launches.pop_front()
    }

    /// Updates one receiver of a running session (from the sender's events or the agent's reports). A
    /// unicast session has no sender to end it, so it ends when its last receiver is done or failed.
    pub fn update_receiver(&mut self, id: SessionId, node: &str, state: ReceiverState) -> Result<(), GatherError> {
        let session = self.sessions.get_mut(&id).ok_or(GatherError::UnknownSession(id))?;
        let r = session.receivers.get_mut(node).ok_or_else(|| GatherError::NotReceiver { node: node.to_string(), session: id })?;
        *r = state;
        if session.delivery == Some(Delivery::Unicast) && session.state == SessionState::Running {
            let failed = session.receivers.values().find_map(|r| match r {
                ReceiverState::Failed { reason } => Some(reason.clone()),
                _ => None,
            });
            if session.receivers.values().all(|r| matches!(r, ReceiverState::Done | ReceiverState::Failed { .. })) {
                session.state = failed.map_or(SessionState::Finished, |reason| SessionState::Failed { reason });
                self.forget_old();
            }
        }
        Ok(())
    }

    /// Records a running session's ticket and the receiver id each node joins with, so its nodes can
    /// be given them; ignored once the session has ended.
    pub fn set_ticket(&mut self, id: SessionId, ticket: EncodedTicket, receiver_ids: BTreeMap<String, u64>) {
        if let Some(s) = self.sessions.get_mut(&id)
            && s.state == SessionState::Running
        {
            s.grant = Some((ticket, receiver_ids));
        }
    }

    /// What `node` needs to join its running session, if it is a receiver of one that has a ticket.
    pub fn grant(&self, node: &str) -> Option<TransferGrant> {
        let id = *self.node_session.get(node)?;
        let s = self.sessions.get(&id).filter(|s| s.state == SessionState::Running)?;
        let (ticket, ids) = s.grant.as_ref()?;
        Some(TransferGrant { session: id, receiver_id: *ids.get(node)?, ticket: ticket.to_hex() })
    }

    /// Marks `node` failed for `reason` if it never got further than registering (the sender ended
    /// without hearing from it); later states, such as an agent's report, are kept.
    pub fn fail_waiting(&mut self, id: SessionId, node: &str, reason: &str) {
        if let Some(r) = self.sessions.get_mut(&id).and_then(|s| s.receivers.get_mut(node))
            && matches!(r, ReceiverState::Assigned | ReceiverState::Registered)
        {
            *r = ReceiverState::Failed { reason: reason.to_string() };
        }
    }

    /// Records the end of a session. A failed session takes every receiver that is not done (or
    /// failed for a reason of its own) down with it, so its agents learn why (see
    /// [`Gatherer::failure`]) instead of waiting for a ticket that will never come.
    pub fn finish(&mut self, id: SessionId, outcome: Result<(), String>) {
        if let Some(s) = self.sessions.get_mut(&id) {
            if let Err(reason) = &outcome {
                for r in s.receivers.values_mut() {
                    if !matches!(r, ReceiverState::Done | ReceiverState::Failed { .. }) {
                        *r = ReceiverState::Failed { reason: format!("transfer session failed: {reason}") };
                    }
                }
            }
            s.state = match outcome {
                Ok(()) => SessionState::Finished,
                Err(reason) => SessionState::Failed { reason },
            };
            s.grant = None;
        }
        self.forget_old();
    }

    /// Why `node`'s transfer failed, if its last session has ended and left it failed.
    pub fn failure(&self, node: &str) -> Option<String> {
        let s = self.sessions.get(self.node_session.get(node)?)?;
        if matches!(s.state, SessionState::Gathering | SessionState::Running) {
            return None;
        }
        match s.receivers.get(node)? {
            ReceiverState::Failed { reason } => Some(reason.clone()),
            _ => None,
        }
    }

    /// The session `node` was last put in.
    pub fn session_of(&self, node: &str) -> Option<SessionId> {
        self.node_session.get(node).copied()
    }

    /// How `node` receives its image, once its session's window has closed.
    pub fn delivery_of(&self, node: &str) -> Option<Delivery> {
        self.sessions.get(self.node_session.get(node)?)?.delivery
    }

    /// Every known session, oldest first.
    pub fn status(&self) -> Vec<SessionStatus> {
        self.sessions.iter().map(|(&id, s)| status_of(id, s)).collect()
    }

    /// One session's status.
    pub fn session_status(&self, id: SessionId) -> Option<SessionStatus> {
        self.sessions.get(&id).map(|s| status_of(id, s))
    }

    /// What session `id` sends and `node`'s state in it (`None` when not a receiver), without copying
    /// the session: for checks on every agent request.
    pub fn receiver(&self, id: SessionId, node: &str) -> Option<(&SessionKey, Option<&ReceiverState>)> {
        self.sessions.get(&id).map(|s| (&s.key, s.receivers.get(node)))
    }

    /// Puts `node` in a window for `key` as its delivery choice says: the open window of the image, or
    /// a session of its own for unicast.
    fn enter_window(&mut self, node: &str, key: SessionKey) -> SessionId {
        let id = if self.choices.get(node) == Some(&DeliveryChoice::Unicast) { self.new_session(key, true) } else { self.open_window(key) };
        self.join(node, id, ReceiverState::Assigned);
        id
    }

    fn open_window(&mut self, key: SessionKey) -> SessionId {
        if let Some(&id) = self.open.get(&key) {
            return id;
        }
        let id = self.new_session(key.clone(), false);
        self.open.insert(key, id);
        id
    }

    fn new_session(&mut self, key: SessionKey, solo: bool) -> SessionId {
        let id = self.next_id;
        self.next_id += 1;
        self.sessions.insert(id, Session { key, state: SessionState::Gathering, deadline: None, receivers: BTreeMap::new(), solo, delivery: None, grant: None });
        id
    }

    /// Forgets `id` as the open window of its image, if it is that.
    fn unlist(&mut self, key: &SessionKey, id: SessionId) {
        if self.open.get(key) == Some(&id) {
            self.open.remove(key);
        }
    }

    fn join(&mut self, node: &str, id: SessionId, state: ReceiverState) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.receivers.insert(node.to_string(), state);
        }
        self.node_session.insert(node.to_string(), id);
    }

    /// Ends `node`'s part in running unicast session `id` (its agent restarted and is given a new
    /// session): a unicast session has no sender to give up on it, and would otherwise stay running.
    fn abandon_unicast(&mut self, node: &str, id: SessionId) {
        let running_unicast = self.sessions.get(&id).is_some_and(|s| s.state == SessionState::Running && s.delivery == Some(Delivery::Unicast));
        if running_unicast && self.sessions[&id].receivers.get(node).is_some_and(|r| !matches!(r, ReceiverState::Done | ReceiverState::Failed { .. })) {
            let _ = self.update_receiver(id, node, ReceiverState::Failed { reason: RESTARTED.to_string() });
        }
    }

    fn leave_gathering(&mut self, node: &str, id: SessionId) {
        let Some(s) = self.sessions.get_mut(&id) else { return };
        if s.state != SessionState::Gathering {
            return;
        }
        s.receivers.remove(node);
        if s.receivers.is_empty() {
            let key = s.key.clone();
            self.unlist(&key, id);
            self.sessions.remove(&id);
        }
    }

    /// Ends a window: its registered nodes become a launch with the delivery [`decide`] picks, and
    /// nodes that were given the session but have not registered yet move to a fresh window for the
    /// same image.
    fn close(&mut self, id: SessionId) {
        let Some(key) = self.sessions.get(&id).map(|s| s.key.clone()) else { return };
        self.unlist(&key, id);
        let Some(s) = self.sessions.get_mut(&id) else { return };
        let waiting: Vec<String> = s.receivers.iter().filter(|(_, r)| **r != ReceiverState::Registered).map(|(n, _)| n.clone()).collect();
        s.receivers.retain(|_, r| *r == ReceiverState::Registered);
        if s.receivers.is_empty() {
            self.sessions.remove(&id);
        } else {
            let receivers: Vec<String> = s.receivers.keys().cloned().collect();
            let delivery = decide(s.solo, receivers.iter().map(|n| self.choices.get(n).copied().unwrap_or(self.config.delivery)));
            s.state = SessionState::Running;
            s.delivery = Some(delivery);
            self.launches.push_back(Launch { id, key: key.clone(), receivers, delivery });
        }
        for node in waiting {
            self.enter_window(&node, key.clone());
        }
    }

    fn forget_old(&mut self) {
        let closed = |s: &Session| matches!(s.state, SessionState::Finished | SessionState::Failed { .. });
        while self.sessions.values().filter(|s| closed(s)).count() > SESSION_HISTORY_MAX {
            let Some(oldest) = self.sessions.iter().find(|(_, s)| closed(s)).map(|(&id, _)| id) else { break };
            if let Some(s) = self.sessions.remove(&oldest) {
                for node in s.receivers.keys() {
                    if self.node_session.get(node) == Some(&oldest) {
                        self.node_session.remove(node);
                    }
                }
            }
        }
    }
}

/// The delivery of a closing window with these registered nodes' choices: a forced-unicast node's own
/// session is unicast; two or more nodes share a multicast session; one node alone is unicast unless
/// it was forced to multicast.
fn decide(solo: bool, mut choices: impl ExactSizeIterator<Item = DeliveryChoice>) -> Delivery {
    match choices.len() {
        _ if solo => Delivery::Unicast,
        1 if choices.next() != Some(DeliveryChoice::Multicast) => Delivery::Unicast,
        _ => Delivery::Multicast,
    }
}

fn status_of(id: SessionId, s: &Session) -> SessionStatus {
    SessionStatus { id, image: s.key.image.clone(), version: s.key.version, state: s.state.clone(), delivery: s.delivery, receivers: s.receivers.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(image: &str) -> SessionKey {
        SessionKey { image: image.into(), version: 1 }
    }

    fn gatherer(max_receivers: usize) -> Gatherer {
        Gatherer::new(GatherConfig { window: Duration::from_secs(10), max_receivers, delivery: DeliveryChoice::Auto }, 1)
    }

    #[test]
    fn window_closes_after_delay_from_first_registration() {
        let mut g = gatherer(100);
        let t0 = Instant::now();
        let a = g.assign("a", key("rocky"), None);
        assert_eq!(g.assign("b", key("rocky"), None), a, "same image, same window");
        assert_eq!(g.poll_timeout(), None, "no deadline before anyone registers");
        g.register(t0, "a").unwrap();
        g.register(t0 + Duration::from_secs(3), "b").unwrap();
        assert_eq!(g.poll_timeout(), Some(t0 + Duration::from_secs(10)));
        g.handle_timeout(t0 + Duration::from_secs(9));
        assert_eq!(g.poll_launch(), None);
        g.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(g.poll_launch(), Some(Launch { id: a, key: key("rocky"), receivers: vec!["a".into(), "b".into()], delivery: Delivery::Multicast }));
        assert_eq!(g.status()[0].state, SessionState::Running);
    }

    #[test]
    fn max_receivers_closes_at_once_and_images_get_separate_sessions() {
        let mut g = gatherer(2);
        let now = Instant::now();
        let r = g.assign("a", key("rocky"), None);
        let u = g.assign("u", key("ubuntu"), None);
        assert_ne!(r, u);
        g.assign("b", key("rocky"), None);
        g.register(now, "a").unwrap();
        g.register(now, "u").unwrap();
        assert_eq!(g.poll_launch(), None);
        g.register(now, "b").unwrap();
        let launch = g.poll_launch().unwrap();
        assert_eq!((launch.id, launch.receivers.len()), (r, 2));
        assert_eq!(g.poll_launch(), None, "ubuntu still gathering");
    }

    #[test]
    fn nodes_not_registered_in_time_move_to_a_fresh_window() {
        let mut g = gatherer(100);
        let t0 = Instant::now();
        let first = g.assign("a", key("rocky"), None);
        g.assign("late", key("rocky"), None);
        g.register(t0, "a").unwrap();
        g.handle_timeout(t0 + Duration::from_secs(10));
        let launch = g.poll_launch().unwrap();
        assert_eq!(launch.receivers, vec!["a".to_string()], "late never registered in time");
        let second = g.session_of("late").unwrap();
        assert_ne!(second, first, "moved to a fresh window");
        assert_eq!(g.register(t0 + Duration::from_secs(11), "late").unwrap(), second);
        assert_eq!(g.register(t0 + Duration::from_secs(11), "a").unwrap(), second, "re-registering after start joins the open window");
    }

    #[test]
    fn empty_windows_vanish_and_unknown_nodes_are_refused() {
        let mut g = gatherer(100);
        assert_eq!(g.register(Instant::now(), "x"), Err(GatherError::NotAssigned("x".into())));
        g.assign("a", key("rocky"), None);
        g.assign("a", key("ubuntu"), None);
        let status = g.status();
        assert_eq!(status.len(), 1, "the emptied window is gone");
        assert_eq!(status[0].image, "ubuntu");
        g.withdraw("a");
        assert!(g.status().is_empty());
        assert_eq!(g.session_of("a"), None);
    }

    #[test]
    fn progress_and_finish_show_in_status() {
        let mut g = gatherer(1);
        let id = g.assign("a", key("rocky"), None);
        g.register(Instant::now(), "a").unwrap();
        g.poll_launch().unwrap();
        g.update_receiver(id, "a", ReceiverState::Receiving { blocks_done: 3, blocks_total: 10 }).unwrap();
        assert_eq!(g.status()[0].receivers["a"], ReceiverState::Receiving { blocks_done: 3, blocks_total: 10 });
        assert!(g.update_receiver(id, "zz", ReceiverState::Done).is_err());
        g.finish(id, Ok(()));
        assert_eq!(g.status()[0].state, SessionState::Finished);
    }

    #[test]
    fn tickets_go_to_receivers_of_running_sessions_only() {
        let mut g = gatherer(2);
        let id = g.assign("a", key("rocky"), None);
        g.assign("b", key("rocky"), None);
        g.register(Instant::now(), "a").unwrap();
        g.set_ticket(id, EncodedTicket::new(vec![0xab, 1]), BTreeMap::from([("a".to_string(), 7)]));
        assert_eq!(g.grant("a"), None, "still gathering: no ticket yet");
        g.register(Instant::now(), "b").unwrap();
        g.poll_launch().unwrap();
        g.set_ticket(id, EncodedTicket::new(vec![0xab, 1]), BTreeMap::from([("a".to_string(), 7), ("b".to_string(), 9)]));
        assert_eq!(g.grant("b"), Some(TransferGrant { session: id, receiver_id: 9, ticket: "ab01".into() }));
        assert_eq!(g.grant("zz"), None);
        g.update_receiver(id, "a", ReceiverState::Done).unwrap();
        g.fail_waiting(id, "a", "never joined");
        g.fail_waiting(id, "b", "never joined");
        assert_eq!(g.status()[0].receivers["a"], ReceiverState::Done, "a later state is kept");
        assert_eq!(g.status()[0].receivers["b"], ReceiverState::Failed { reason: "never joined".into() });
        g.finish(id, Ok(()));
        assert_eq!(g.grant("a"), None, "the ticket is withdrawn when the session ends");
    }

    #[test]
    fn a_failed_session_fails_its_waiting_receivers_and_says_why() {
        let mut g = gatherer(3);
        let id = g.assign("a", key("rocky"), None);
        g.assign("b", key("rocky"), None);
        g.assign("c", key("rocky"), None);
        for node in ["a", "b", "c"] {
            g.register(Instant::now(), node).unwrap();
        }
        g.poll_launch().unwrap();
        g.update_receiver(id, "a", ReceiverState::Done).unwrap();
        g.update_receiver(id, "b", ReceiverState::Receiving { blocks_done: 1, blocks_total: 9 }).unwrap();
        assert_eq!(g.failure("b"), None, "running");
        g.finish(id, Err("bad magic".into()));
        let status = &g.status()[0];
        assert_eq!(status.receivers["a"], ReceiverState::Done);
        for node in ["b", "c"] {
            assert_eq!(status.receivers[node], ReceiverState::Failed { reason: "transfer session failed: bad magic".into() });
            assert_eq!(g.failure(node).as_deref(), Some("transfer session failed: bad magic"));
        }
        assert_eq!(g.failure("a"), None);
    }

    #[test]
    fn one_node_alone_is_unicast_and_ends_with_its_report() {
        let mut g = gatherer(100);
        let t0 = Instant::now();
        let id = g.assign("a", key("rocky"), None);
        g.register(t0, "a").unwrap();
        assert_eq!(g.delivery_of("a"), None, "undecided while the window is open");
        g.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(g.poll_launch(), Some(Launch { id, key: key("rocky"), receivers: vec!["a".into()], delivery: Delivery::Unicast }));
        assert_eq!(g.delivery_of("a"), Some(Delivery::Unicast));
        assert_eq!(g.status()[0].delivery, Some(Delivery::Unicast));
        g.update_receiver(id, "a", ReceiverState::Receiving { blocks_done: 1, blocks_total: 2 }).unwrap();
        assert_eq!(g.status()[0].state, SessionState::Running);
        g.update_receiver(id, "a", ReceiverState::Done).unwrap();
        assert_eq!(g.status()[0].state, SessionState::Finished, "no sender ends a unicast session: its last receiver does");
    }

    #[test]
    fn a_unicast_node_that_registers_again_ends_its_old_session() {
        let mut g = gatherer(1);
        let first = g.assign("a", key("rocky"), None);
        g.register(Instant::now(), "a").unwrap();
        g.poll_launch().unwrap();
        g.update_receiver(first, "a", ReceiverState::Receiving { blocks_done: 5, blocks_total: 10 }).unwrap();
        let second = g.register(Instant::now(), "a").unwrap();
        assert_ne!(second, first, "a reset node gets a new session");
        assert_eq!(g.session_status(first).unwrap().state, SessionState::Failed { reason: RESTARTED.into() }, "not left running forever");
        assert_eq!(g.poll_launch().map(|l| (l.id, l.delivery)), Some((second, Delivery::Unicast)));
        assert_eq!(g.failure("a"), None, "its new session is running");

        // The usual order after a reset: the boot script assigns the node again before it registers.
        g.update_receiver(second, "a", ReceiverState::Receiving { blocks_done: 7, blocks_total: 10 }).unwrap();
        let third = g.assign("a", key("rocky"), None);
        assert_ne!(third, second);
        assert_eq!(g.session_status(second).unwrap().state, SessionState::Failed { reason: RESTARTED.into() });
        g.register(Instant::now(), "a").unwrap();
        g.update_receiver(third, "a", ReceiverState::Done).unwrap();
        assert_eq!(g.session_status(third).unwrap().state, SessionState::Finished);
    }

    #[test]
    fn a_failed_unicast_node_fails_its_session() {
        let mut g = gatherer(1);
        let id = g.assign("a", key("rocky"), None);
        g.register(Instant::now(), "a").unwrap();
        assert_eq!(g.poll_launch().unwrap().delivery, Delivery::Unicast);
        g.update_receiver(id, "a", ReceiverState::Failed { reason: "disk full".into() }).unwrap();
        assert_eq!(g.status()[0].state, SessionState::Failed { reason: "disk full".into() });
        assert_eq!(g.failure("a").as_deref(), Some("disk full"));
    }

    #[test]
    fn forced_multicast_holds_for_one_node_and_two_nodes_are_multicast() {
        let mut g = gatherer(100);
        let t0 = Instant::now();
        let alone = g.assign("a", key("rocky"), Some(DeliveryChoice::Multicast));
        g.register(t0, "a").unwrap();
        g.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(g.poll_launch().map(|l| (l.id, l.delivery)), Some((alone, Delivery::Multicast)));
        let pair = g.assign("b", key("ubuntu"), None);
        g.assign("c", key("ubuntu"), None);
        g.register(t0, "b").unwrap();
        g.register(t0, "c").unwrap();
        g.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(g.poll_launch().map(|l| (l.id, l.delivery)), Some((pair, Delivery::Multicast)));
    }

    #[test]
    fn forced_unicast_skips_the_window_and_leaves_it_to_the_others() {
        let mut g = gatherer(100);
        let t0 = Instant::now();
        let shared = g.assign("a", key("rocky"), None);
        g.assign("b", key("rocky"), None);
        let own = g.assign("u", key("rocky"), Some(DeliveryChoice::Unicast));
        assert_ne!(own, shared, "a session of its own");
        assert_eq!(g.register(t0, "u").unwrap(), own);
        assert_eq!(g.poll_launch(), Some(Launch { id: own, key: key("rocky"), receivers: vec!["u".into()], delivery: Delivery::Unicast }), "no waiting for the window");
        assert_eq!(g.assign("late", key("rocky"), None), shared, "the image's open window is still open");
        g.register(t0, "a").unwrap();
        g.register(t0, "b").unwrap();
        g.handle_timeout(t0 + Duration::from_secs(10));
        let launch = g.poll_launch().unwrap();
        assert_eq!((launch.id, launch.receivers.len(), launch.delivery), (shared, 2, Delivery::Multicast));
        assert_ne!(g.session_of("late"), Some(shared), "late moved to a fresh window");
        // Re-registering after its session started (the agent rebooted) gives u a fresh session of its own.
        let again = g.register(t0 + Duration::from_secs(11), "u").unwrap();
        assert!(again != own && Some(again) != g.session_of("late"));
        assert_eq!(g.poll_launch().map(|l| l.delivery), Some(Delivery::Unicast));
    }

    #[test]
    fn a_window_closes_once_every_node_set_to_that_version_registered() {
        let mut g = gatherer(100);
        let t0 = Instant::now();
        let company = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let id = g.assign("a", key("rocky"), None);
        g.assign("b", key("rocky"), None);
        g.register(t0, "a").unwrap();
        assert!(!g.close_if_complete(id, &company(&["b", "c"])), "b was given the session but has not registered");
        g.register(t0 + Duration::from_secs(2), "b").unwrap();
        assert!(!g.close_if_complete(id, &company(&["b", "c"])), "c is set to re-image too and has not booted yet");
        assert_eq!(g.poll_launch(), None);
        assert!(g.close_if_complete(id, &company(&["a", "b"])), "everyone who could come is here");
        assert_eq!(g.poll_launch(), Some(Launch { id, key: key("rocky"), receivers: vec!["a".into(), "b".into()], delivery: Delivery::Multicast }));
        assert!(!g.close_if_complete(id, &[]), "a closed window stays closed");

        // A node already receiving in a running session is not waited for; one alone closes at once.
        let next = g.assign("c", key("rocky"), None);
        g.register(t0, "c").unwrap();
        assert!(g.close_if_complete(next, &company(&["a", "b"])), "a and b are busy in the first session");
        assert_eq!(g.poll_launch().map(|l| (l.id, l.delivery)), Some((next, Delivery::Unicast)));

        // Nodes that never come: the window's deadline is still the upper bound.
        let late = g.assign("d", key("rocky"), None);
        g.register(t0, "d").unwrap();
        assert!(!g.close_if_complete(late, &company(&["e"])));
        g.handle_timeout(t0 + Duration::from_secs(10));
        assert_eq!(g.poll_launch().map(|l| (l.id, l.receivers)), Some((late, vec!["d".to_string()])));
    }

    #[test]
    fn the_server_default_applies_when_the_reimage_chose_nothing() {
        let mut g = Gatherer::new(GatherConfig { window: Duration::from_secs(10), max_receivers: 100, delivery: DeliveryChoice::Unicast }, 1);
        let id = g.assign("a", key("rocky"), None);
        g.register(Instant::now(), "a").unwrap();
        assert_eq!(g.poll_launch().map(|l| (l.id, l.delivery)), Some((id, Delivery::Unicast)));
        let b = g.assign("b", key("rocky"), Some(DeliveryChoice::Auto));
        g.assign("c", key("rocky"), Some(DeliveryChoice::Auto));
        g.register(Instant::now(), "b").unwrap();
        g.register(Instant::now(), "c").unwrap();
        g.handle_timeout(Instant::now() + Duration::from_secs(10));
        assert_eq!(g.poll_launch().map(|l| (l.id, l.delivery)), Some((b, Delivery::Multicast)));
    }
}
