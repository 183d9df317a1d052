//! Exchanging an authorization code (design.md §2, Authorization), shared by the
//! `authorized` push and the browser callback: whichever arrives first does the
//! exchange, the other finds it done. WeChat accepts a code once (a second
//! api_query_auth answers 61009), so "done" is decided from our own records:
//! the authorizer's `last_auth_code_hash`, and a short-lived code → appid note
//! for the browser callback, which does not know the appid.

use super::profile;
use crate::app::App;
use crate::secret::Secret;
use crate::store::{AuthorizationGrant, AuthorizerProfile, GrantOutcome, PreAuth, StoreError};
use crate::tokens::{store_with_retry, TokenError};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// WeChat's answer to a code that was already used (or never valid).
const ERRCODE_CODE_INVALID: i64 = 61009;
/// How long the code → appid note is kept (an authorization code lives about 1 h).
const EXCHANGED_NOTE_SECS: u64 = 3600;
/// How long a 61009 waits for a concurrent exchange of the same code to be stored.
const CONCURRENT_EXCHANGE_WAIT: Duration = Duration::from_secs(3);

/// sha256 hex of a code (authorization code, pre-auth code): how codes are stored and compared.
pub fn hash_code(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A finished exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchanged {
    pub appid: String,
    /// `Created`, `Updated` or `AlreadyDone` (never `TenantConflict`: that is an error).
    pub outcome: GrantOutcome,
    /// The account's name and ids (empty fields when WeChat could not be asked).
    pub profile: AuthorizerProfile,
}

/// Why a code could not be exchanged.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The account is bound to another tenant: refused, nothing changed.
    #[error("authorizer {appid} is bound to another tenant")]
    TenantConflict {
        appid: String,
        existing_tenant: String,
    },
    /// WeChat refused the code (61009 invalid, 61010 expired), or no token could be had.
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ExchangeError {
    /// Whether trying again later may succeed (WeChat or the store failing, not a refusal).
    pub fn is_transient(&self) -> bool {
        use crate::wechat::ErrorClass;
        match self {
            ExchangeError::TenantConflict { .. } => false,
            ExchangeError::Store(_) => true,
            ExchangeError::Token(TokenError::Wechat(e)) => {
                matches!(
                    e.class(),
                    ErrorClass::Busy
                        | ErrorClass::Unavailable
                        | ErrorClass::Unknown
                        | ErrorClass::TokenInvalid
                )
            }
            ExchangeError::Token(
                TokenError::Store(_) | TokenError::Busy | TokenError::NoTicket,
            ) => true,
            ExchangeError::Token(_) => false,
        }
    }
}

/// Exchange a code from the browser callback: api_query_auth with the component
/// token, store the grant (idempotent by appid + code), fetch the account's profile.
pub async fn exchange_code(
    app: &App,
    auth_code: &Secret,
    tenant: Option<&str>,
) -> Result<Exchanged, ExchangeError> {
    exchange(app, None, auth_code, tenant).await
}

/// Exchange a code from an `authorized`/`updateauthorized` push, which names the account.
pub async fn exchange_pushed_code(
    app: &App,
    appid: &str,
    auth_code: &Secret,
    tenant: Option<&str>,
) -> Result<Exchanged, ExchangeError> {
    exchange(app, Some(appid), auth_code, tenant).await
}

/// The link (and its tenant) a pre-auth code was issued for, if any.
pub async fn preauth_of(app: &App, pre_auth_code: &str) -> Result<Option<PreAuth>, StoreError> {
    if pre_auth_code.is_empty() {
        return Ok(None);
    }
    app.store
        .get_preauth(&hash_code(pre_auth_code), app.now())
        .await
}

/// The link an authorization code belongs to, as far as we know: the link
/// whose pre_auth_code the `authorized` push named with it, or the link
/// whose callback exchanged it. A code is only ever good for its own link.
pub async fn link_of_code(app: &App, auth_code: &Secret) -> Result<Option<String>, StoreError> {
    let key = code_link_note_key(&hash_code(auth_code.expose()));
    Ok(app
        .store
        .get_preauth(&key, app.now())
        .await?
        .map(|note| note.link_id))
}

/// Notes that `auth_code` belongs to `link_id` (see [`link_of_code`]).
pub async fn note_link_of_code(
    app: &App,
    auth_code: &Secret,
    link_id: &str,
) -> Result<(), StoreError> {
    let note = PreAuth {
        code_hash: code_link_note_key(&hash_code(auth_code.expose())),
        link_id: link_id.to_owned(),
        tenant: String::new(),
        expires_at: app.now().saturating_add(EXCHANGED_NOTE_SECS),
    };
    store_with_retry("code link note", || app.store.put_preauth(&note)).await
}

/// Whether some path already exchanged `auth_code` (its grant is stored).
pub async fn code_was_exchanged(app: &App, auth_code: &Secret) -> Result<bool, StoreError> {
    Ok(already_exchanged(app, None, &hash_code(auth_code.expose()))
        .await?
        .is_some())
}

/// The key of the code → link note, in its own hash domain.
fn code_link_note_key(code_hash: &str) -> String {
    hash_code(&format!("authorization-code-link:{code_hash}"))
}

async fn exchange(
    app: &App,
    appid_hint: Option<&str>,
    auth_code: &Secret,
    tenant: Option<&str>,
) -> Result<Exchanged, ExchangeError> {
    let code_hash = hash_code(auth_code.expose());
    if let Some(appid) = already_exchanged(app, appid_hint, &code_hash).await? {
        return finish_already_done(app, &appid, tenant).await;
    }
    let cappid = app.config.component_appid.as_str();
    let queried = app
        .tokens
        .with_component_token(|token| async move {
            app.wechat.query_auth(&token, cappid, auth_code).await
        })
        .await;
    let info = match queried {
        Ok(info) => info,
        Err(e) if e.errcode() == Some(ERRCODE_CODE_INVALID) => {
            // The other path may have used the code a moment ago: wait for its
            // record. The browser's path waits only when the push is known to
            // hold this code (it notes the code's link before exchanging): a
            // forged or stale code is refused at once instead of holding its
            // request for seconds.
            if appid_hint.is_none() && !push_holds_code(app, &code_hash).await? {
                return Err(e.into());
            }
            match wait_for_exchange(app, appid_hint, &code_hash).await? {
                Some(appid) => return finish_already_done(app, &appid, tenant).await,
                None => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    if appid_hint.is_some_and(|hint| hint != info.authorizer_appid) {
        tracing::warn!(pushed = appid_hint, exchanged = %info.authorizer_appid, "authorization code belongs to another account than the push named");
    }
    let appid = info.authorizer_appid.clone();
    let now = app.now();
    let grant = AuthorizationGrant {
        appid: appid.clone(),
        tenant: tenant.map(str::to_owned),
        auth_code_hash: code_hash.clone(),
        access_token: info.authorizer_access_token,
        expires_at: now.saturating_add(info.expires_in),
        refresh_token: info.authorizer_refresh_token,
        func_info: info.func_info,
        now,
    };
    // The code is used up now: this write is the only copy of the refresh token.
    let outcome = store_with_retry("authorization grant", || app.store.put_grant(&grant)).await?;
    // Noted even when refused: the other path (push or browser) carrying the same
    // code must find this exchange and refuse it the same way, not meet WeChat's
    // 61009 for a code already used and show the merchant the wrong reason.
    remember_exchange(app, &code_hash, &appid, tenant).await;
    if let GrantOutcome::TenantConflict { existing_tenant } = outcome {
        tracing::warn!(
            appid,
            "authorization refused: account bound to another tenant"
        );
        return Err(ExchangeError::TenantConflict {
            appid,
            existing_tenant,
        });
    }
    tracing::info!(appid, outcome = ?outcome, "authorization code exchanged");
    let event_type = match outcome {
        GrantOutcome::Created => Some("authorizer.authorized"),
        GrantOutcome::Updated => Some("authorizer.updated"),
        _ => None,
    };
    if let Some(event_type) = event_type {
        // The code's hash: the push and the browser carrying one code are one event.
        let tenant = match tenant {
            Some(t) => Some(t.to_owned()),
            None => crate::service::events::tenant_of(app, &appid).await?,
        };
        crate::service::events::record_lifecycle(
            app.store.as_ref(),
            event_type,
            &appid,
            tenant,
            &code_hash,
            crate::service::events::record::appid_data(&appid, &[]),
            now,
        )
        .await;
    }
    let profile = fetch_profile(app, &appid).await?;
    Ok(Exchanged {
        appid,
        outcome,
        profile,
    })
}

/// The appid whose grant already used this code, if any.
async fn already_exchanged(
    app: &App,
    appid_hint: Option<&str>,
    code_hash: &str,
) -> Result<Option<String>, StoreError> {
    if let Some(appid) = appid_hint {
        let stored = app.store.get_authorizer(appid).await?;
        if stored.is_some_and(|a| a.last_auth_code_hash.as_deref() == Some(code_hash)) {
            return Ok(Some(appid.to_owned()));
        }
        return Ok(None);
    }
    let note = app
        .store
        .get_preauth(&exchanged_note_key(code_hash), app.now())
        .await?;
    Ok(note.map(|n| n.link_id))
}

/// Whether a push noted this code's link (see [`note_link_of_code`]).
async fn push_holds_code(app: &App, code_hash: &str) -> Result<bool, StoreError> {
    Ok(app
        .store
        .get_preauth(&code_link_note_key(code_hash), app.now())
        .await?
        .is_some())
}

async fn wait_for_exchange(
    app: &App,
    appid_hint: Option<&str>,
    code_hash: &str,
) -> Result<Option<String>, StoreError> {
    let deadline = tokio::time::Instant::now() + CONCURRENT_EXCHANGE_WAIT;
    loop {
        if let Some(appid) = already_exchanged(app, appid_hint, code_hash).await? {
            return Ok(Some(appid));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The key of the code → appid note: its own hash domain, so it can never match
/// a pre-auth code's hash in the same record family.
fn exchanged_note_key(code_hash: &str) -> String {
    hash_code(&format!("exchanged-authorization-code:{code_hash}"))
}

/// Notes which account a code opened, so the browser callback (which knows only
/// the code) finds an exchange the push already did. It reuses the short-lived
/// pre-auth record (code hash → id, with a TTL); losing the note only costs a
/// 61009 answer on the second path, so a failure is logged, not raised.
async fn remember_exchange(app: &App, code_hash: &str, appid: &str, tenant: Option<&str>) {
    let note = PreAuth {
        code_hash: exchanged_note_key(code_hash),
        link_id: appid.to_owned(),
        tenant: tenant.unwrap_or_default().to_owned(),
        expires_at: app.now().saturating_add(EXCHANGED_NOTE_SECS),
    };
    if let Err(e) = app.store.put_preauth(&note).await {
        tracing::warn!(appid, error = %e, "could not note the exchanged code");
    }
}

/// The other path exchanged this code: bind the tenant if the record has none.
async fn finish_already_done(
    app: &App,
    appid: &str,
    tenant: Option<&str>,
) -> Result<Exchanged, ExchangeError> {
    if let Some(tenant) = tenant {
        if !app.store.bind_tenant(appid, tenant, app.now()).await? {
            let existing_tenant = app
                .store
                .get_authorizer(appid)
                .await?
                .and_then(|a| a.tenant)
                .unwrap_or_default();
            tracing::warn!(
                appid,
                "authorization refused: account bound to another tenant"
            );
            return Err(ExchangeError::TenantConflict {
                appid: appid.to_owned(),
                existing_tenant,
            });
        }
    }
    let profile = app
        .store
        .get_authorizer(appid)
        .await?
        .map(|a| a.profile)
        .unwrap_or_default();
    tracing::info!(
        appid,
        "authorization code already exchanged by the other path"
    );
    Ok(Exchanged {
        appid: appid.to_owned(),
        outcome: GrantOutcome::AlreadyDone,
        profile,
    })
}

/// api_get_authorizer_info → the stored profile. WeChat failing here does not
/// undo the grant: the profile stays as it was and the failure is logged.
async fn fetch_profile(app: &App, appid: &str) -> Result<AuthorizerProfile, StoreError> {
    match profile::fetch(app, appid).await {
        Ok(profile) => {
            app.store.set_profile(appid, &profile, app.now()).await?;
            Ok(profile)
        }
        Err(e) => {
            tracing::warn!(appid, errcode = e.errcode(), error = %e, "could not fetch the authorizer's profile");
            Ok(app
                .store
                .get_authorizer(appid)
                .await?
                .map(|a| a.profile)
                .unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_code_is_sha256_hex() {
        assert_eq!(
            hash_code("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_exchanged_note_never_collides_with_a_preauth_hash() {
        let h = hash_code("code");
        assert_ne!(exchanged_note_key(&h), h);
    }
}
