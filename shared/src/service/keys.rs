//! Client API keys: random, shown once, stored only as their SHA-256 with a
//! tenant scope (`*` or a list) and permission scopes (design.md §3).

use crate::app::App;
use crate::domain::Tenant;
use crate::store::{ApiKey, StoreError, TenantScope};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Every key starts with this, so a leaked key is recognisable in a scan.
pub const KEY_PREFIX: &str = "wxk_";
/// Characters of a key shown in listings (`wxk_` and eight more, 48 bits): enough to
/// tell keys apart, useless to an attacker (the other 210 bits stay secret).
const SHOWN_PREFIX_LEN: usize = 12;
/// Random bytes in a key (256 bits).
const KEY_BYTES: usize = 32;

/// May send messages, upload media and read jobs.
pub const SCOPE_SEND: &str = "send";
/// May read an authorizer's access token.
pub const SCOPE_TOKEN_READ: &str = "token:read";
/// Everything, including authorization links.
pub const SCOPE_ADMIN: &str = "admin";
/// May call WeChat through the pass-through (`/v1/authorizers/{appid}/wechat/…`).
pub const SCOPE_PROXY: &str = "proxy";
/// The scopes a key may carry.
pub const SCOPES: &[&str] = &[SCOPE_SEND, SCOPE_TOKEN_READ, SCOPE_ADMIN, SCOPE_PROXY];

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("unknown scope `{0}` (known: send, token:read, admin, proxy)")]
    UnknownScope(String),
    #[error("a key needs at least one scope")]
    NoScopes,
    #[error("a key needs `*` or at least one tenant")]
    NoTenants,
    #[error("invalid tenant `{0}`: use 1..=64 characters of [A-Za-z0-9_.-]")]
    InvalidTenant(String),
    #[error("no key matches `{0}`")]
    NotFound(String),
    #[error("`{0}` matches several keys; give more of it or the full hash")]
    Ambiguous(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// SHA-256 hex of a presented key: the only form in which keys are stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether a tenant name is acceptable (the same rule for keys and links: [`Tenant`]).
pub fn valid_tenant(tenant: &str) -> bool {
    Tenant::parse(tenant).is_ok()
}

/// `*` → every tenant; `a,b` → those tenants. For the CLI's `--tenant`.
pub fn parse_tenant_scope(text: &str) -> Result<TenantScope, KeyError> {
    let text = text.trim();
    if text == "*" {
        return Ok(TenantScope::All);
    }
    let tenants: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if tenants.is_empty() {
        return Err(KeyError::NoTenants);
    }
    if let Some(bad) = tenants.iter().find(|t| !valid_tenant(t)) {
        return Err(KeyError::InvalidTenant(bad.clone()));
    }
    Ok(TenantScope::Only(tenants))
}

/// `send,token:read` → the scopes, checked against [`SCOPES`]. For the CLI's `--scope`.
pub fn parse_scopes(text: &str) -> Result<Vec<String>, KeyError> {
    let scopes: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    check_scopes(&scopes)?;
    Ok(scopes)
}

fn check_scopes(scopes: &[String]) -> Result<(), KeyError> {
    if scopes.is_empty() {
        return Err(KeyError::NoScopes);
    }
    match scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        Some(bad) => Err(KeyError::UnknownScope(bad.clone())),
        None => Ok(()),
    }
}

/// Whether `key` carries `scope` (`admin` carries every scope).
pub fn has_scope(key: &ApiKey, scope: &str) -> bool {
    key.scopes.iter().any(|s| s == scope || s == SCOPE_ADMIN)
}

/// Creates a key and returns it with its stored record. The key itself is
/// returned only here: print it once, it cannot be recovered.
pub async fn create_key(
    app: &App,
    tenants: TenantScope,
    scopes: Vec<String>,
    label: Option<String>,
) -> Result<(String, ApiKey), KeyError> {
    check_scopes(&scopes)?;
    if let TenantScope::Only(list) = &tenants {
        if list.is_empty() {
            return Err(KeyError::NoTenants);
        }
        if let Some(bad) = list.iter().find(|t| !valid_tenant(t)) {
            return Err(KeyError::InvalidTenant(bad.clone()));
        }
    }
    let mut random = [0u8; KEY_BYTES];
    rand::fill(&mut random);
    let key = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
    let record = ApiKey {
        hash: hash_key(&key),
        prefix: key.chars().take(SHOWN_PREFIX_LEN).collect(),
        tenants,
        scopes,
        label: label.filter(|l| !l.trim().is_empty()),
        created_at: app.now(),
        revoked: false,
    };
    app.store.put_api_key(&record).await?;
    Ok((key, record))
}

/// Every key, revoked ones included (never the keys themselves: they are not stored).
pub async fn list_keys(app: &App) -> Result<Vec<ApiKey>, KeyError> {
    Ok(app.store.list_api_keys().await?)
}

/// Revokes the key named by `prefix_or_hash`: the key itself, its hash, or a
/// beginning of its hash or shown prefix that matches exactly one key.
/// Revoking a revoked key again is not an error.
pub async fn revoke_key(app: &App, prefix_or_hash: &str) -> Result<ApiKey, KeyError> {
    let wanted = prefix_or_hash.trim();
    if wanted.is_empty() {
        return Err(KeyError::NotFound(String::new()));
    }
    let keys = app.store.list_api_keys().await?;
    let key = select_key(keys, wanted)?;
    app.store.revoke_api_key(&key.hash).await?;
    Ok(ApiKey {
        revoked: true,
        ..key
    })
}

fn select_key(keys: Vec<ApiKey>, wanted: &str) -> Result<ApiKey, KeyError> {
    let hashed = hash_key(wanted);
    if let Some(exact) = keys.iter().find(|k| k.hash == wanted || k.hash == hashed) {
        return Ok(exact.clone());
    }
    let mut matching = keys.into_iter().filter(|k| {
        k.hash.starts_with(wanted)
            || (wanted.len() >= KEY_PREFIX.len() && k.prefix.starts_with(wanted))
    });
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(one),
        (Some(_), Some(_)) => Err(KeyError::Ambiguous(wanted.to_owned())),
        (None, _) => Err(KeyError::NotFound(wanted.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: &str, prefix: &str) -> ApiKey {
        ApiKey {
            hash: hash.into(),
            prefix: prefix.into(),
            tenants: TenantScope::All,
            scopes: vec![SCOPE_SEND.into()],
            label: None,
            created_at: 0,
            revoked: false,
        }
    }

    #[test]
    fn tenant_scope_star_means_all_and_lists_are_split() {
        assert_eq!(parse_tenant_scope("*").unwrap(), TenantScope::All);
        assert_eq!(
            parse_tenant_scope("acme, globex").unwrap(),
            TenantScope::Only(vec!["acme".into(), "globex".into()])
        );
        assert!(matches!(
            parse_tenant_scope(" , "),
            Err(KeyError::NoTenants)
        ));
        assert!(matches!(
            parse_tenant_scope("a b"),
            Err(KeyError::InvalidTenant(_))
        ));
    }

    #[test]
    fn unknown_scopes_are_named() {
        assert_eq!(
            parse_scopes("send,token:read").unwrap(),
            vec!["send", "token:read"]
        );
        assert!(matches!(parse_scopes("send,root"), Err(KeyError::UnknownScope(s)) if s == "root"));
        assert!(matches!(parse_scopes(""), Err(KeyError::NoScopes)));
    }

    #[test]
    fn admin_carries_every_scope_and_others_only_their_own() {
        let mut k = key("h", "wxk_abcd");
        assert!(has_scope(&k, SCOPE_SEND));
        assert!(!has_scope(&k, SCOPE_TOKEN_READ));
        k.scopes = vec![SCOPE_ADMIN.into()];
        assert!(has_scope(&k, SCOPE_TOKEN_READ));
    }

    #[test]
    fn revoke_selects_by_full_hash_hash_prefix_or_shown_prefix_and_refuses_ambiguity() {
        let keys = vec![key("aa11", "wxk_Xy12"), key("aa22", "wxk_Zz34")];
        assert_eq!(select_key(keys.clone(), "aa22").unwrap().hash, "aa22");
        assert_eq!(select_key(keys.clone(), "wxk_Xy").unwrap().hash, "aa11");
        assert!(matches!(
            select_key(keys.clone(), "aa"),
            Err(KeyError::Ambiguous(_))
        ));
        assert!(matches!(
            select_key(keys.clone(), "bb"),
            Err(KeyError::NotFound(_))
        ));
        let mut with_real = keys;
        with_real.push(key(&hash_key("wxk_the-real-key"), "wxk_the-real"));
        assert_eq!(
            select_key(with_real, "wxk_the-real-key").unwrap().hash,
            hash_key("wxk_the-real-key")
        );
    }

    #[test]
    fn the_stored_hash_is_sha256_hex_of_the_key() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
