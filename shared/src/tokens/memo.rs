//! The component token as this process last read or stored it, used for a
//! short while instead of a store read: every authorizer renewal needs the
//! component token, and a sweep renews thousands.
//!
//! Bounded so a token another instance replaced is used at most
//! [`MEMO_SECS`] longer, well inside the 5 minutes WeChat keeps a replaced
//! token working; a token WeChat rejects is forgotten before it is
//! invalidated (compare-and-invalidate, one renewal, one retry, as always).

use super::Held;
use crate::secret::Secret;
use std::sync::{Arc, Mutex, PoisonError};

/// How long (store-clock seconds) a remembered token is used without a read.
pub(crate) const MEMO_SECS: u64 = 60;

#[derive(Clone, Default)]
pub(crate) struct ComponentMemo(Arc<Mutex<Option<Remembered>>>);

struct Remembered {
    token: Secret,
    version: u64,
    expires_at: u64,
    read_at: u64,
}

impl ComponentMemo {
    /// The remembered token, if read less than [`MEMO_SECS`] ago and valid beyond `margin`.
    pub(crate) fn recall(&self, now: u64, margin: u64) -> Option<Held> {
        let memo = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let r = memo.as_ref()?;
        (now < r.read_at.saturating_add(MEMO_SECS) && r.expires_at > now.saturating_add(margin))
            .then(|| Held {
                token: r.token.clone(),
                version: r.version,
                renewed: false,
            })
    }

    pub(crate) fn keep(&self, token: &Secret, version: u64, expires_at: u64, now: u64) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Remembered {
            token: token.clone(),
            version,
            expires_at,
            read_at: now,
        });
    }

    /// Forgets the token of `version` (WeChat rejected it).
    pub(crate) fn forget(&self, version: u64) {
        let mut memo = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.as_ref().is_some_and(|r| r.version == version) {
            *memo = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_recalled_only_while_fresh_and_valid_beyond_the_margin() {
        let memo = ComponentMemo::default();
        assert!(memo.recall(100, 0).is_none());
        memo.keep(&Secret::new("t"), 3, 10_000, 100);
        assert_eq!(memo.recall(120, 300).map(|h| h.version), Some(3));
        assert!(
            memo.recall(100 + MEMO_SECS, 0).is_none(),
            "read too long ago"
        );
        assert!(
            memo.recall(120, 10_000).is_none(),
            "expires within the margin"
        );
    }

    #[test]
    fn only_the_rejected_version_is_forgotten() {
        let memo = ComponentMemo::default();
        memo.keep(&Secret::new("t"), 3, 10_000, 100);
        memo.forget(2);
        assert!(memo.recall(101, 0).is_some());
        memo.forget(3);
        assert!(memo.recall(101, 0).is_none());
    }
}
