//! Where the store backends seal and open credentials (see
//! [`crate::crypto::at_rest`]): which fields are sealed and under which
//! [`Field`], one place for both DynamoDB and SQLite.
//!
//! Sealed: an authorizer's access and refresh tokens, the component access
//! token, a webhook's signing secrets (current and previous). Not sealed: API key hashes (hashes already), the verify ticket
//! (useless without the component secret, and pushed again every 10 minutes).
//! A store opened without data keys (tests, tools) stores plaintext, and
//! refuses to read a sealed value.

use super::{Authorizer, StoreError, StoreResult, TokenState, Webhook};
use crate::crypto::at_rest::{DataKeys, Field};
use crate::secret::Secret;
use std::sync::Arc;

/// The record kind of an authorizer's sealed fields.
pub const AUTHORIZER: &str = "authorizer";
/// The record kind of the component token.
pub const COMPONENT_TOKEN: &str = "component token";
/// The record kind of a webhook's sealed fields.
pub const WEBHOOK: &str = "webhook";
pub const ACCESS_TOKEN: &str = "access_token";
/// A webhook's current and previous secret share one field name: a rotation
/// moves the sealed current secret into the previous one as it is.
pub const SIGNING_SECRET: &str = "signing_secret";
pub const REFRESH_TOKEN: &str = "refresh_token";

/// Seals on write and opens on read for one component's store.
#[derive(Clone)]
pub struct Sealer {
    component: String,
    keys: Option<Arc<DataKeys>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(component: &str, keys: Option<DataKeys>) -> Self {
        Sealer {
            component: component.to_owned(),
            keys: keys.map(Arc::new),
        }
    }

    /// The stored form of `value` (plaintext without keys).
    pub fn seal(&self, record: &str, id: &str, name: &str, value: &Secret) -> String {
        match &self.keys {
            Some(keys) => keys.seal(&Field::new(&self.component, record, id, name), value),
            None => value.expose().to_owned(),
        }
    }

    /// The value of a stored form; an unknown key or a refused value is
    /// `Corrupt`, naming the record and field, never the value.
    pub fn open(
        &self,
        record: &'static str,
        id: &str,
        name: &str,
        stored: &Secret,
    ) -> StoreResult<Secret> {
        let corrupt = |reason: String| StoreError::Corrupt {
            record,
            attribute: name.to_owned(),
            reason: format!("{reason} ({record} {id})"),
        };
        match &self.keys {
            Some(keys) => keys
                .open(
                    &Field::new(&self.component, record, id, name),
                    stored.expose(),
                )
                .map(|opened| opened.value)
                .map_err(|e| corrupt(e.to_string())),
            None if stored.expose().starts_with("enc:") => Err(corrupt(
                "sealed, but this store was opened without a data key".to_owned(),
            )),
            None => Ok(stored.clone()),
        }
    }

    fn open_opt(
        &self,
        record: &'static str,
        id: &str,
        name: &str,
        stored: Option<Secret>,
    ) -> StoreResult<Option<Secret>> {
        stored.map(|s| self.open(record, id, name, &s)).transpose()
    }

    /// An authorizer as read (sealed fields) → as used.
    pub fn open_authorizer(&self, mut a: Authorizer) -> StoreResult<Authorizer> {
        a.refresh_token = self.open_opt(AUTHORIZER, &a.appid, REFRESH_TOKEN, a.refresh_token)?;
        a.token.access_token =
            self.open_opt(AUTHORIZER, &a.appid, ACCESS_TOKEN, a.token.access_token)?;
        Ok(a)
    }

    /// An authorizer as used → as stored.
    pub fn seal_authorizer(&self, mut a: Authorizer) -> Authorizer {
        a.refresh_token = a
            .refresh_token
            .map(|t| Secret::new(self.seal(AUTHORIZER, &a.appid, REFRESH_TOKEN, &t)));
        a.token.access_token = a
            .token
            .access_token
            .map(|t| Secret::new(self.seal(AUTHORIZER, &a.appid, ACCESS_TOKEN, &t)));
        a
    }

    /// The component token as read → as used.
    pub fn open_component_token(&self, mut t: TokenState) -> StoreResult<TokenState> {
        t.access_token = self.open_opt(
            COMPONENT_TOKEN,
            &self.component.clone(),
            ACCESS_TOKEN,
            t.access_token,
        )?;
        Ok(t)
    }

    /// The component token's stored form.
    pub fn seal_component_token(&self, token: &Secret) -> String {
        self.seal(COMPONENT_TOKEN, &self.component, ACCESS_TOKEN, token)
    }

    /// A webhook as read (sealed secrets) → as used.
    pub fn open_webhook(&self, mut w: Webhook) -> StoreResult<Webhook> {
        w.secret = self.open(WEBHOOK, &w.id, SIGNING_SECRET, &w.secret)?;
        w.previous_secret = self.open_opt(WEBHOOK, &w.id, SIGNING_SECRET, w.previous_secret)?;
        Ok(w)
    }

    /// A webhook as used → as stored.
    pub fn seal_webhook(&self, mut w: Webhook) -> Webhook {
        w.secret = self.seal_webhook_secret(&w.id, &w.secret);
        w.previous_secret = w
            .previous_secret
            .map(|p| self.seal_webhook_secret(&w.id, &p));
        w
    }

    /// A webhook's new signing secret, as stored.
    pub fn seal_webhook_secret(&self, id: &str, secret: &Secret) -> Secret {
        Secret::new(self.seal(WEBHOOK, id, SIGNING_SECRET, secret))
    }
}
