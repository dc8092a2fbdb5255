//! Locking that survives a panic elsewhere.

use std::sync::{Mutex, MutexGuard};

/// Locks `m` even if a thread panicked while holding it: every value guarded in this crate is changed
/// in single steps that leave it consistent, so refusing all later requests would only turn one
/// failed request into an outage.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
