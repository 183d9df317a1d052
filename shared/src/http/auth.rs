//! API-key authentication for /v1. Keys are random, shown once, stored as
//! SHA-256; the presented key's hash is compared with the stored one in
//! constant time. 401 without a valid key, 403 without the scope or tenant.

use super::error::ErrorCode;
use super::{ApiError, Request};
use crate::app::App;
use crate::service::keys::{has_scope, hash_key};
use crate::store::{ApiKey, Authorizer};
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

/// 403 unless the key may act for `tenant`.
pub fn require_tenant(key: &ApiKey, tenant: &str) -> Result<(), ApiError> {
    if key.tenants.allows(tenant) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden))
    }
}

/// The authorizer `appid`, if the key may act for its tenant: 404 when unknown,
/// 403 when bound to another tenant (or to none, for a key limited to tenants).
pub async fn authorizer_for_key(
    app: &App,
    key: &ApiKey,
    appid: &str,
) -> Result<Authorizer, ApiError> {
    let authorizer = app
        .store
        .get_authorizer(appid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("authorizer {appid} is not known")))?;
    match (&authorizer.tenant, &key.tenants) {
        (_, crate::store::TenantScope::All) => Ok(authorizer),
        (Some(tenant), _) => require_tenant(key, tenant).map(|()| authorizer),
        (None, _) => Err(ApiError::forbidden(
            "this authorizer is not bound to a tenant yet; only a key for every tenant may use it",
        )),
    }
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
