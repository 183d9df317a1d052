//! API-key authentication for /v1, and the one place tenant access is decided.
//! Keys are random, shown once, stored as SHA-256; the presented key's hash is
//! compared with the stored one in constant time.
//!
//! The rule, for every route:
//! - 401 without a valid, unrevoked key; 403 without the route's scope (the
//!   scope is checked before anything is looked up).
//! - 403 for a tenant the caller names itself (a body's `tenant`, `?tenant=`)
//!   that its key may not act for: that answer does not depend on what is stored.
//! - 404 for a record addressed by id (an authorizer, a job, anything under
//!   them) that belongs to a tenant the key may not act for, or to no tenant
//!   yet for a key limited to tenants: answered exactly as a record that does
//!   not exist, so another tenant's key learns nothing of its existence.
//!   Routes get there through [`authorizer_for_key`] and [`visible_to_key`].

use super::error::ErrorCode;
use super::{ApiError, Request};
use crate::app::App;
use crate::service::keys::{has_scope, hash_key};
use crate::store::{ApiKey, Authorizer, TenantScope};
use subtle::ConstantTimeEq;

/// Longest `Authorization` value worth hashing; real keys are 47 characters.
const MAX_KEY_LEN: usize = 256;

/// The caller's key, checked for `scope` ([`crate::service::keys::SCOPES`]).
/// 401 without a valid, unrevoked key; 403 without the scope.
pub async fn authenticate(app: &App, req: &Request, scope: &str) -> Result<ApiKey, ApiError> {
    let key = authenticate_any(app, req).await?;
    if !has_scope(&key, scope) {
        return Err(ApiError::detailed(
            ErrorCode::InsufficientScope,
            format!("`{scope}`"),
        ));
    }
    Ok(key)
}

/// The caller's key, whatever its scopes (read-only routes). 401 without a valid, unrevoked key.
pub async fn authenticate_any(app: &App, req: &Request) -> Result<ApiKey, ApiError> {
    let presented = bearer_key(req)?;
    let hash = hash_key(presented);
    let key = app
        .store
        .get_api_key(&hash)
        .await?
        // The lookup is by hash already; the constant-time comparison keeps a
        // backend that matched loosely (or a future cache) from leaking anything.
        .filter(|k| bool::from(k.hash.as_bytes().ct_eq(hash.as_bytes())))
        .filter(|k| !k.revoked)
        .ok_or_else(|| ApiError::unauthorized("the key is unknown or revoked"))?;
    Ok(key)
}

/// 403 unless the key may act for `tenant`, a tenant the caller named.
pub fn require_tenant(key: &ApiKey, tenant: &str) -> Result<(), ApiError> {
    if key.tenants.allows(tenant) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden))
    }
}

/// Whether `key` may see a record of `tenant` (`None`: bound to no tenant yet,
/// which only a key for every tenant may see).
pub fn visible_to_key(key: &ApiKey, tenant: Option<&str>) -> bool {
    match (&key.tenants, tenant) {
        (TenantScope::All, _) => true,
        (_, Some(tenant)) => !tenant.is_empty() && key.tenants.allows(tenant),
        (_, None) => false,
    }
}

/// The authorizer `appid`, if the key may act for its tenant; 404 alike when
/// it is unknown and when the key may not see it.
pub async fn authorizer_for_key(
    app: &App,
    key: &ApiKey,
    appid: &str,
) -> Result<Authorizer, ApiError> {
    app.store
        .get_authorizer(appid)
        .await?
        .filter(|a| visible_to_key(key, a.tenant.as_deref()))
        .ok_or_else(|| ApiError::not_found(format!("authorizer {appid} is not known")))
}

fn bearer_key(req: &Request) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <key>`"))?;
    let value = header.to_str().map_err(|_| {
        ApiError::unauthorized("malformed Authorization header: expected `Bearer <key>`")
    })?;
    let (scheme, key) = value.trim().split_once(' ').ok_or_else(|| {
        ApiError::unauthorized("malformed Authorization header: expected `Bearer <key>`")
    })?;
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ApiError::unauthorized(
            "malformed Authorization header: expected `Bearer <key>`",
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn request(auth: Option<&str>) -> Request {
        let mut b = http::Request::builder().uri("/v1/authorizers");
        if let Some(a) = auth {
            b = b.header(http::header::AUTHORIZATION, a);
        }
        b.body(Bytes::new()).unwrap()
    }

    #[test]
    fn bearer_key_is_read_case_insensitively_and_trimmed() {
        assert_eq!(
            bearer_key(&request(Some("Bearer wxk_abc"))).unwrap(),
            "wxk_abc"
        );
        assert_eq!(
            bearer_key(&request(Some("bearer  wxk_abc "))).unwrap(),
            "wxk_abc"
        );
    }

    #[test]
    fn missing_or_malformed_authorization_is_401() {
        for auth in [
            None,
            Some("wxk_abc"),
            Some("Basic dXNlcjpwYXNz"),
            Some("Bearer "),
        ] {
            let err = bearer_key(&request(auth)).unwrap_err();
            assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED, "{auth:?}");
        }
    }
}
