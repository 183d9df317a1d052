//! Webhook subscriptions: where a tenant's events are delivered, with the
//! secret that signs them. All of a platform's subscriptions are read at once
//! (one query) when an event is recorded; there are tens, not thousands.

use super::StoreResult;
use crate::secret::Secret;
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `wh_…`
    pub id: String,
    /// The tenant whose events it receives; `None`: every tenant's.
    pub tenant: Option<String>,
    pub url: String,
    /// `*`, an exact type, or `prefix.*`.
    pub events: Vec<String>,
    /// Asked to answer followers synchronously (passive replies).
    pub reply: bool,
    pub secret: Secret,
    /// The secret before the last rotation, signing alongside until `previous_until`.
    pub previous_secret: Option<Secret>,
    pub previous_until: u64,
    pub created_at: u64,
    /// Since when every attempt failed (`None` while healthy).
    pub failing_since: Option<u64>,
    /// Disabled after failing continuously for too long; receives nothing.
    pub disabled: bool,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// A new subscription; an id already used is refused (`Invalid`).
    async fn create_webhook(&self, webhook: &Webhook) -> StoreResult<()>;
    async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>>;
    /// Every subscription of the platform, by id.
    async fn list_webhooks(&self) -> StoreResult<Vec<Webhook>>;
    /// Whether it existed.
    async fn delete_webhook(&self, id: &str) -> StoreResult<bool>;
    /// A new secret; the old one keeps signing until `previous_until`. `None`: no such webhook.
    async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret: &Secret,
        previous_until: u64,
    ) -> StoreResult<Option<Webhook>>;
    /// Records the subscription's health after an attempt.
    async fn set_webhook_health(
        &self,
        id: &str,
        failing_since: Option<u64>,
        disabled: bool,
    ) -> StoreResult<()>;
}
