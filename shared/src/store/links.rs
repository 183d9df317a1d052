//! One-time merchant authorization links, and the pre_auth_codes issued for
//! them (so an `authorized` push finds its link's tenant).

use super::error::StoreResult;
use super::model::{Link, PreAuth};
use async_trait::async_trait;

/// Result of consuming a one-time link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeOutcome {
    Consumed(Link),
    AlreadyUsed(Link),
    Expired,
    NotFound,
}

#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Stores a new link; an id already stored is refused (`Invalid`), never overwritten.
    async fn create_link(&self, link: &Link) -> StoreResult<()>;
    async fn get_link(&self, id: &str, now: u64) -> StoreResult<Option<Link>>;
    /// One-time: marks the link used (by `appid`) unless [`consume_refusal`] refuses.
    async fn consume_link(&self, id: &str, appid: &str, now: u64) -> StoreResult<ConsumeOutcome>;
    async fn put_preauth(&self, preauth: &PreAuth) -> StoreResult<()>;
    async fn get_preauth(&self, code_hash: &str, now: u64) -> StoreResult<Option<PreAuth>>;
}

/// Why a link as stored may not be consumed at `now` (unknown, expired,
/// already used), or `None` when it may.
pub fn consume_refusal(link: Option<&Link>, now: u64) -> Option<ConsumeOutcome> {
    match link {
        None => Some(ConsumeOutcome::NotFound),
        Some(link) if link.expires_at <= now => Some(ConsumeOutcome::Expired),
        Some(link) if link.used => Some(ConsumeOutcome::AlreadyUsed(link.clone())),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(used: bool) -> Link {
        Link {
            id: "L".into(),
            tenant: "t".into(),
            auth_type: 3,
            biz_appid: None,
            return_url: None,
            created_at: 0,
            expires_at: 100,
            used,
            used_by: None,
        }
    }

    #[test]
    fn expiry_is_checked_before_use() {
        assert_eq!(consume_refusal(None, 1), Some(ConsumeOutcome::NotFound));
        assert_eq!(
            consume_refusal(Some(&link(true)), 100),
            Some(ConsumeOutcome::Expired)
        );
        assert_eq!(
            consume_refusal(Some(&link(true)), 99),
            Some(ConsumeOutcome::AlreadyUsed(link(true)))
        );
        assert_eq!(consume_refusal(Some(&link(false)), 99), None);
    }
}
