//! The pre_auth_code a link's page handed out, kept in this process while it
//! has time left, so views of one link reuse it (issue #18, item 7: each view
//! made an `api_create_preauthcode` call and stored a mapping row, unthrottled:
//! a reload loop spent WeChat's quota and grew the store).
//!
//! Per process on purpose: a Lambda instance or `serve` reuses its own codes;
//! another instance makes at most one of its own. A code is forgotten when
//! the link's callback is reached (WeChat uses a code up on approval).

use crate::secret::Secret;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A code is reused only while at least this long is left of it: time for the
/// merchant to read WeChat's page, scan and approve.
pub const MIN_LEFT_SECS: u64 = 300;
/// Links remembered at once; past it, expired entries go, then all of them.
const MAX_LINKS: usize = 4096;

#[derive(Default)]
pub struct PreauthCodes {
    by_link: Mutex<HashMap<String, (Secret, u64)>>,
}

impl PreauthCodes {
    /// The code last handed out for `link_id`, if it has [`MIN_LEFT_SECS`] left at `now`.
    pub fn get(&self, link_id: &str, now: u64) -> Option<Secret> {
        let map = self.by_link.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(link_id)
            .filter(|(_, expires_at)| *expires_at >= now.saturating_add(MIN_LEFT_SECS))
            .map(|(code, _)| code.clone())
    }

    /// Remembers `code` (valid until `expires_at`) for `link_id`.
    pub fn put(&self, link_id: &str, code: Secret, expires_at: u64, now: u64) {
        let mut map = self.by_link.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_LINKS {
            map.retain(|_, (_, at)| *at > now);
            if map.len() >= MAX_LINKS {
                map.clear();
            }
        }
        map.insert(link_id.to_owned(), (code, expires_at));
    }

    /// Forgets the code of `link_id` (its callback was reached: it may be used up).
    pub fn forget(&self, link_id: &str) {
        self.by_link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(link_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_reused_while_enough_of_it_is_left() {
        let codes = PreauthCodes::default();
        codes.put("l1", Secret::new("c1"), 1_000 + 600, 1_000);
        assert_eq!(
            codes.get("l1", 1_000).map(|c| c.expose().to_owned()),
            Some("c1".into())
        );
        assert_eq!(
            codes.get("l1", 1_300).map(|c| c.expose().to_owned()),
            Some("c1".into())
        );
        assert!(codes.get("l1", 1_301).is_none(), "too little left");
        assert!(codes.get("l2", 1_000).is_none());
        codes.forget("l1");
        assert!(codes.get("l1", 1_000).is_none());
    }

    #[test]
    fn the_memory_is_bounded() {
        let codes = PreauthCodes::default();
        for i in 0..(MAX_LINKS + 10) {
            codes.put(&format!("l{i}"), Secret::new("c"), 2_000, 1_000);
        }
        let kept = codes
            .by_link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        assert!(kept <= MAX_LINKS, "{kept}");
    }
}
