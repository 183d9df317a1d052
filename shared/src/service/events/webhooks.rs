//! Webhook subscriptions (issue #15): created with a checked URL and a signing
//! secret shown once, listed and read by tenant, deleted, rotated (the old
//! secret keeps signing for a day), pinged.

use super::model::{lifecycle, valid_pattern};
use crate::app::App;
use crate::outbound::{self, Policy, UrlRefusal};
use crate::secret::Secret;
use crate::store::{EventRecord, StoreError, Webhook};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Subscriptions a platform may have (one event's write holds its deliveries).
pub const MAX_WEBHOOKS: usize = 50;
/// Patterns one subscription may list.
pub const MAX_PATTERNS: usize = 50;
/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP_SECS: u64 = 86400;
/// Every signing secret starts with this.
pub const SECRET_PREFIX: &str = "whsec_";

/// A subscription as asked for, its tenant already checked against the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    /// `None`: every tenant's events (a key of every tenant only).
    pub tenant: Option<String>,
    pub reply: bool,
}

/// Why a subscription was refused or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("`url` {0}")]
    Url(#[from] UrlRefusal),
    #[error("`events`: {0}")]
    Events(String),
    #[error("a platform has at most {MAX_WEBHOOKS} webhooks")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outbound policy this process runs under.
pub fn policy(app: &App) -> Policy {
    Policy {
        allow_private: app.config.webhook_allow_private,
    }
}

fn check_events(events: &[String]) -> Result<(), WebhookError> {
    if events.is_empty() {
        return Err(WebhookError::Events(
            "must list at least one type or pattern (`*` for every event)".into(),
        ));
    }
    if events.len() > MAX_PATTERNS {
        return Err(WebhookError::Events(format!(
            "at most {MAX_PATTERNS} entries"
        )));
    }
    for (i, pattern) in events.iter().enumerate() {
        if !valid_pattern(pattern) {
            return Err(WebhookError::Events(format!(
                "[{i}] `{}` is no event type, `prefix.*` or `*`",
                pattern.chars().take(64).collect::<String>()
            )));
        }
    }
    Ok(())
}

fn new_secret() -> Secret {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    Secret::new(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn new_id() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    format!("wh_{}", hex::encode(bytes))
}

/// Checks and stores a subscription; the answer holds its secret (shown once).
pub async fn create(app: &App, new: NewWebhook) -> Result<Webhook, WebhookError> {
    check_events(&new.events)?;
    let url = outbound::check_url(&new.url, policy(app)).await?;
    if app.store.list_webhooks().await?.len() >= MAX_WEBHOOKS {
        return Err(WebhookError::TooMany);
    }
    let webhook = Webhook {
        id: new_id(),
        tenant: new.tenant,
        url: url.to_string(),
        events: new.events,
        reply: new.reply,
        secret: new_secret(),
        previous_secret: None,
        previous_until: 0,
        created_at: app.now(),
        failing_since: None,
        disabled: false,
    };
    app.store.create_webhook(&webhook).await?;
    tracing::info!(webhook_id = %webhook.id, tenant = ?webhook.tenant, "webhook created");
    Ok(webhook)
}

/// A new secret; the old one keeps signing for [`ROTATION_OVERLAP_SECS`].
pub async fn rotate(app: &App, id: &str) -> Result<Option<Webhook>, StoreError> {
    let until = app.now().saturating_add(ROTATION_OVERLAP_SECS);
    let rotated = app
        .store
        .rotate_webhook_secret(id, &new_secret(), until)
        .await?;
    if rotated.is_some() {
        tracing::info!(webhook_id = id, "webhook secret rotated");
    }
    Ok(rotated)
}

/// A `webhook.ping` event delivered to this subscription only.
pub async fn ping(app: &App, webhook: &Webhook) -> Result<EventRecord, StoreError> {
    let now = app.now();
    let mut nonce = [0u8; 8];
    rand::fill(&mut nonce);
    let mut data = serde_json::Map::new();
    data.insert("webhook_id".into(), webhook.id.clone().into());
    let event = lifecycle(
        "webhook.ping",
        "",
        webhook.tenant.clone(),
        &format!("{}\n{}", webhook.id, hex::encode(nonce)),
        data,
        now,
    );
    app.store
        .record_event(&event, std::slice::from_ref(&webhook.id))
        .await?;
    Ok(event)
}

/// The secrets signing now: the current one, and the previous one during its overlap.
pub fn signing_secrets(webhook: &Webhook, now: u64) -> Vec<&Secret> {
    let mut secrets = vec![&webhook.secret];
    if let Some(previous) = &webhook.previous_secret {
        if now < webhook.previous_until {
            secrets.push(previous);
        }
    }
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lists_are_checked_naming_the_entry() {
        assert!(check_events(&["*".into()]).is_ok());
        assert!(check_events(&["message.*".into(), "event.click".into()]).is_ok());
        let err = check_events(&["message.text".into(), "message.sticker".into()]).unwrap_err();
        assert!(err.to_string().contains("[1]"), "{err}");
        assert!(check_events(&[]).is_err());
    }

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert!(a.expose().len() >= 40);
        assert_ne!(a.expose(), b.expose());
    }
}
