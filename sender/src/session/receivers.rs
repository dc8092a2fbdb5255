//! The receivers registered with a session.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// What the sender knows of one receiver.
#[derive(Debug, Clone)]
pub struct ReceiverInfo {
    /// Where its feedback comes from, and where acks go.
    pub addr: SocketAddr,
    /// Blocks it reported as stored.
    pub done_blocks: u32,
    /// Whether it reported the whole object verified.
    pub done: bool,
    /// When it was last heard from.
    pub last_heard: Instant,
}

/// Registered receivers, keyed by the id each picked.
#[derive(Debug, Default)]
pub struct Receivers {
    by_id: HashMap<u64, ReceiverInfo>,
}

impl Receivers {
    /// Registers (or refreshes) `id`; returns whether it is new.
    pub fn join(&mut self, now: Instant, id: u64, addr: SocketAddr) -> bool {
        match self.by_id.get_mut(&id) {
            Some(info) => {
                info.addr = addr;
                info.last_heard = now;
                false
            }
            None => {
                self.by_id.insert(id, ReceiverInfo { addr, done_blocks: 0, done: false, last_heard: now });
                true
            }
        }
    }

    /// The receiver `id`, refreshed as heard from now.
    pub fn heard(&mut self, now: Instant, id: u64) -> Option<&mut ReceiverInfo> {
        let info = self.by_id.get_mut(&id)?;
        info.last_heard = now;
        Some(info)
    }

    /// Removes receivers not heard from after `deadline`, returning their ids. (Inclusive: the
    /// session asks to be woken exactly at `last_heard + timeout`, and must act then.)
    pub fn expire(&mut self, deadline: Instant) -> Vec<u64> {
        let lost: Vec<u64> = self
            .by_id
            .iter()
            .filter(|(_, info)| !info.done && info.last_heard <= deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in &lost {
            self.by_id.remove(id);
        }
        lost
    }

    /// Registered receivers.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none are registered.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether every registered receiver is done.
    pub fn all_done(&self) -> bool {
        self.by_id.values().all(|info| info.done)
    }

    /// The receivers, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &ReceiverInfo)> {
        self.by_id.iter()
    }

    /// When the least recently heard, unfinished receiver was last heard from.
    pub fn oldest_unfinished(&self) -> Option<Instant> {
        self.by_id.values().filter(|info| !info.done).map(|info| info.last_heard).min()
    }
}
