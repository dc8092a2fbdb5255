//! How often a failed re-image is tried again before the agent waits for the operator, and how long
//! it pauses between tries: a control plane restarting or a sender that failed is over in seconds,
//! while a broken disk or image will fail every time, so a few tries with growing pauses, then a
//! person.
use std::time::Duration;

/// The retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// Pause before the second try.
    pub first_pause: Duration,
    /// Each later pause is this many times the one before.
    pub factor: u32,
}

impl Default for RetryPolicy {
    /// Three tries, 15 s then 45 s apart.
    fn default() -> Self {
        RetryPolicy { attempts: 3, first_pause: Duration::from_secs(15), factor: 3 }
    }
}

impl RetryPolicy {
    /// The pause before try number `attempt` (2 for the first retry), or `None` when the tries are
    /// used up.
    pub fn pause_before(&self, attempt: u32) -> Option<Duration> {
        if attempt < 2 || attempt > self.attempts {
            return None;
        }
        Some(self.first_pause * self.factor.saturating_pow(attempt - 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_the_tries_end() {
        let p = RetryPolicy::default();
        assert_eq!(p.pause_before(2), Some(Duration::from_secs(15)));
        assert_eq!(p.pause_before(3), Some(Duration::from_secs(45)));
        assert_eq!(p.pause_before(4), None);
        assert_eq!(p.pause_before(1), None);
        let once = RetryPolicy { attempts: 1, ..p };
        assert_eq!(once.pause_before(2), None);
    }
}
