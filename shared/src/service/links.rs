//! One-time merchant authorization links (design.md §2, Authorization): a
//! client creates a link for a tenant; the merchant's page gets a fresh
//! pre_auth_code and WeChat's page URL; WeChat's redirect finishes the
//! authorization, bound to the link's tenant.
//!
//! A link is used up by a successful authorization, not by being viewed: the
//! merchant may reload the page (each view issues a new pre_auth_code) and may
//! retry a callback that failed for a transient reason.

use crate::app::App;
use crate::config::{Config, WechatWeb};
use crate::domain::{Appid, HttpUrl, Tenant};
use crate::secret::Secret;
use crate::service::authorization::{self, ExchangeError};
use crate::store::{AuthorizerProfile, ConsumeOutcome, GrantOutcome, Link, PreAuth, StoreError};
use crate::tokens::TokenError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Random bytes in a link id (192 bits; the id is their URL-safe base64, 32 characters).
const LINK_ID_BYTES: usize = 24;
/// Length of a link id as text.
const LINK_ID_LEN: usize = 32;
/// `auth_type` when the client names none: official accounts, what this platform serves.
pub const DEFAULT_AUTH_TYPE: u8 = 1;
/// Shortest lifetime a client may ask for.
pub const MIN_EXPIRES_IN: u64 = 60;
/// Longest lifetime a client may ask for (30 days).
pub const MAX_EXPIRES_IN: u64 = 30 * 24 * 3600;
/// Longest `return_url` accepted.
const MAX_RETURN_URL_LEN: usize = 2048;
/// How long after a pre_auth_code expires its tenant mapping is kept: the
/// `authorized` push naming it can arrive (or be retried) after the merchant
/// approved at the last moment; an authorization code lives about an hour.
const PREAUTH_MAPPING_SLACK_SECS: u64 = 3600;

/// Real hosts of WeChat's authorization pages.
const REAL_PC_PAGE_BASE: &str = "https://mp.weixin.qq.com";
const REAL_MOBILE_PAGE_BASE: &str = "https://open.weixin.qq.com";
const PC_PAGE_PATH: &str = "/cgi-bin/componentloginpage";
const MOBILE_PAGE_PATH: &str = "/wxaopen/safe/bindcomponent";

/// What a client asks for (`POST /v1/authorization-links`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub tenant: Tenant,
    pub auth_type: Option<u8>,
    pub biz_appid: Option<Appid>,
    pub return_url: Option<HttpUrl>,
    /// Seconds from now; the configured `link_ttl_secs` when absent.
    pub expires_in: Option<u64>,
}

/// Why a link could not be created.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("auth_type must be 1 (official accounts), 2 (mini programs) or 3 (both)")]
    InvalidAuthType,
    #[error("return_url must be an absolute http(s) URL on an allowed origin (WXOPEN_RETURN_URL_ORIGINS)")]
    ReturnUrlNotAllowed,
    #[error("expires_in must be {MIN_EXPIRES_IN}..={MAX_EXPIRES_IN} seconds")]
    InvalidExpiresIn,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored link and the URL to send the merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedLink {
    pub link: Link,
    pub url: String,
}

/// Checks the request, stores a new link with a random id and a TTL.
pub async fn create(app: &App, new: NewLink) -> Result<CreatedLink, LinkError> {
    let auth_type = new.auth_type.unwrap_or(DEFAULT_AUTH_TYPE);
    if !(1..=3).contains(&auth_type) {
        return Err(LinkError::InvalidAuthType);
    }
    let return_url = match new.return_url {
        Some(u) => Some(
            allowed_return_url(u.as_str(), &app.config.return_url_origins)
                .ok_or(LinkError::ReturnUrlNotAllowed)?,
        ),
        None => None,
    };
    let ttl = match new.expires_in {
        Some(s) if (MIN_EXPIRES_IN..=MAX_EXPIRES_IN).contains(&s) => s,
        Some(_) => return Err(LinkError::InvalidExpiresIn),
        None => app.config.link_ttl_secs,
    };
    let now = app.now();
    let link = Link {
        id: new_link_id(),
        tenant: new.tenant.into_string(),
        auth_type,
        biz_appid: new.biz_appid.map(Appid::into_string),
        return_url,
        created_at: now,
        expires_at: now.saturating_add(ttl),
        used: false,
        used_by: None,
    };
    app.store.create_link(&link).await?;
    tracing::info!(tenant = %link.tenant, auth_type, expires_at = link.expires_at, "authorization link created");
    let url = page_url(&app.config, &link.id);
    Ok(CreatedLink { link, url })
}

/// The merchant-facing URL of a link.
pub fn page_url(config: &Config, link_id: &str) -> String {
    format!("{}/authorize/{link_id}", config.public_url)
}

/// Where WeChat sends the browser back after approval.
pub fn callback_url(config: &Config, link_id: &str) -> String {
    format!("{}/authorize/{link_id}/callback", config.public_url)
}

fn new_link_id() -> String {
    let mut random = [0u8; LINK_ID_BYTES];
    rand::fill(&mut random);
    URL_SAFE_NO_PAD.encode(random)
}

/// Whether `id` can be a link id at all; anything else is unknown without asking the store.
fn plausible_link_id(id: &str) -> bool {
    id.len() == LINK_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The return URL as given, if it is an absolute http(s) URL without
/// credentials whose origin is exactly one of `origins` (no open redirects).
pub fn allowed_return_url(candidate: &str, origins: &[String]) -> Option<String> {
    if candidate.len() > MAX_RETURN_URL_LEN {
        return None;
    }
    let url = url::Url::parse(candidate).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    let allowed = origins
        .iter()
        .filter_map(|o| url::Url::parse(o).ok())
        .any(|o| o.origin().ascii_serialization() == origin);
    allowed.then(|| url.to_string())
}

/// What a link id stands for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Usable(Link),
    /// Already used to authorize `used_by`.
    Used(Link),
    Expired,
    Unknown,
}

/// Reads a link without changing it.
pub async fn state(app: &App, id: &str) -> Result<LinkState, StoreError> {
    if !plausible_link_id(id) {
        return Ok(LinkState::Unknown);
    }
    let now = app.now();
    match app.store.get_link(id, now).await? {
        Some(link) if link.used => Ok(LinkState::Used(link)),
        Some(link) => Ok(LinkState::Usable(link)),
        // get_link hides expired links; consume_link tells expired from unknown,
        // and by its contract writes nothing to a link that is expired or absent.
        None => match app.store.consume_link(id, "", now).await? {
            ConsumeOutcome::Expired => Ok(LinkState::Expired),
            ConsumeOutcome::NotFound => Ok(LinkState::Unknown),
            ConsumeOutcome::AlreadyUsed(link) => Ok(LinkState::Used(link)),
            ConsumeOutcome::Consumed(link) => {
                // Only if the link appeared between the two reads: it is now marked used by nobody.
                tracing::error!(link = %link.id, "link appeared between get_link and consume_link; marked used");
                Ok(LinkState::Used(link))
            }
        },
    }
}

/// Which of WeChat's authorization pages to open (the HTTP layer picks it
/// from the merchant's browser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// Computer browsers: a page with a QR code the administrator scans.
    Pc,
    /// WeChat's in-app browser on a phone: the `bindcomponent` page.
    Mobile,
}

/// Why the authorization page could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A fresh pre_auth_code for `link` (remembered with the link's tenant, so the
/// `authorized` push binds the same tenant) and WeChat's page URL carrying it.
pub async fn start(app: &App, link: &Link, device: Device) -> Result<String, StartError> {
    let now = app.now();
    if let Some(code) = app.preauth_codes.get(&link.id, now) {
        return Ok(wechat_page_url(&app.config, device, &code, link));
    }
    let cappid = app.config.component_appid.as_str();
    let code = app
        .tokens
        .with_component_token(
            |token| async move { app.wechat.create_preauthcode(&token, cappid).await },
        )
        .await?;
    let mapping = PreAuth {
        code_hash: authorization::hash_code(code.pre_auth_code.expose()),
        link_id: link.id.clone(),
        tenant: link.tenant.clone(),
        expires_at: now
            .saturating_add(code.expires_in)
            .saturating_add(PREAUTH_MAPPING_SLACK_SECS),
    };
    app.store.put_preauth(&mapping).await?;
    app.preauth_codes.put(
        &link.id,
        code.pre_auth_code.clone(),
        now.saturating_add(code.expires_in),
        now,
    );
    Ok(wechat_page_url(
        &app.config,
        device,
        &code.pre_auth_code,
        link,
    ))
}

/// WeChat's authorization page for one pre_auth_code, on the hosts the
/// configuration names (`WXOPEN_WECHAT_WEB_BASE`): WeChat's own, or one
/// stand-in serving both pages under WeChat's paths.
pub fn wechat_page_url(
    config: &Config,
    device: Device,
    pre_auth_code: &Secret,
    link: &Link,
) -> String {
    let base = match (&config.wechat_web, device) {
        (WechatWeb::WechatHosts, Device::Pc) => REAL_PC_PAGE_BASE,
        (WechatWeb::WechatHosts, Device::Mobile) => REAL_MOBILE_PAGE_BASE,
        (WechatWeb::Base(base), _) => base.as_str(),
    };
    let path = match device {
        Device::Pc => PC_PAGE_PATH,
        Device::Mobile => MOBILE_PAGE_PATH,
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if device == Device::Mobile {
        query.append_pair("action", "bindcomponent");
        query.append_pair("no_scan", "1");
    }
    query.append_pair("component_appid", &config.component_appid);
    query.append_pair("pre_auth_code", pre_auth_code.expose());
    query.append_pair("redirect_uri", &callback_url(config, &link.id));
    query.append_pair("auth_type", &link.auth_type.to_string());
    if let Some(biz) = &link.biz_appid {
        query.append_pair("biz_appid", biz);
    }
    let fragment = if device == Device::Mobile {
        "#wechat_redirect"
    } else {
        ""
    };
    format!("{base}{path}?{}{fragment}", query.finish())
}

/// A finished authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    pub link: Link,
    pub appid: String,
    pub profile: AuthorizerProfile,
    /// `AlreadyDone` when the push (or an earlier visit of the callback) did the exchange.
    pub outcome: GrantOutcome,
}

/// Why the callback could not finish.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    #[error("unknown link")]
    UnknownLink,
    #[error("link expired")]
    ExpiredLink,
    /// Used to authorize another account (or with another code).
    #[error("link already used")]
    UsedLink {
        used_by: Option<String>,
        profile: Option<AuthorizerProfile>,
    },
    #[error("WeChat sent no authorization code")]
    MissingCode,
    /// The code belongs to another link, or was already used: nothing changed.
    #[error("authorization code of another link")]
    CodeOfAnotherLink,
    /// The exchange failed: nothing was stored (see `ExchangeError`).
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The callback: exchange the code, bind the link's tenant, use up the link.
///
/// Order matters for "nothing half-written": the link is checked first, the
/// exchange stores the grant (or refuses it whole), and only a successful
/// exchange uses up the link, so a failed attempt can be retried by reloading.
pub async fn finish(
    app: &App,
    id: &str,
    auth_code: Option<&Secret>,
) -> Result<Authorized, FinishError> {
    // WeChat uses a pre_auth_code up on approval: the next view gets a new one.
    app.preauth_codes.forget(id);
    let link = match state(app, id).await? {
        LinkState::Unknown => return Err(FinishError::UnknownLink),
        LinkState::Expired => return Err(FinishError::ExpiredLink),
        LinkState::Used(link) => {
            return match repeat_of_used(app, link, auth_code).await {
                Err(FinishError::UsedLink { .. }) if auth_code.is_some() => {
                    used_by_its_own_push(app, id, auth_code).await
                }
                other => other,
            };
        }
        LinkState::Usable(link) => link,
    };
    let code = auth_code.ok_or(FinishError::MissingCode)?;
    // A code completes only its own link: not one issued through another link
    // (the push told us), nor one some path already used.
    match authorization::link_of_code(app, code).await? {
        Some(of) if of == link.id => {}
        Some(of) => {
            tracing::warn!(link = %link.id, code_link = %of, "callback with another link's authorization code refused");
            return Err(FinishError::CodeOfAnotherLink);
        }
        None if authorization::code_was_exchanged(app, code).await? => {
            tracing::warn!(link = %link.id, "callback with an authorization code already used refused");
            return Err(FinishError::CodeOfAnotherLink);
        }
        None => {}
    }
    let exchanged = authorization::exchange_code(app, code, Some(&link.tenant)).await?;
    authorization::note_link_of_code(app, code, &link.id).await?;
    let link = match app
        .store
        .consume_link(&link.id, &exchanged.appid, app.now())
        .await?
    {
        ConsumeOutcome::Consumed(used) => used,
        ConsumeOutcome::AlreadyUsed(used)
            if used.used_by.as_deref() == Some(exchanged.appid.as_str()) =>
        {
            used
        }
        other => {
            // A race we cannot undo (another account finished through the same
            // link a moment ago, or the link expired while WeChat's page was
            // open): the grant is stored and bound to the link's tenant, exactly
            // as the `authorized` push would have bound it, so say so.
            tracing::warn!(link = %link.id, appid = %exchanged.appid, outcome = ?consume_kind(&other), "authorized, but the link could not be marked used by this account");
            link
        }
    };
    tracing::info!(link = %link.id, appid = %exchanged.appid, tenant = %link.tenant, outcome = ?exchanged.outcome, "merchant authorization finished");
    let profile = match exchanged.profile.nick_name {
        Some(_) => exchanged.profile,
        None => profile_now(app, &exchanged.appid, exchanged.profile).await,
    };
    Ok(Authorized {
        link,
        appid: exchanged.appid,
        profile,
        outcome: exchanged.outcome,
    })
}

/// The account's profile when the exchange found none: the other path (the
/// push) may have stored the grant and still be fetching the name, so ask
/// WeChat once and store it. On failure the page names the account by appid.
async fn profile_now(app: &App, appid: &str, known: AuthorizerProfile) -> AuthorizerProfile {
    let profile = match super::profile::fetch(app, appid).await {
        Ok(profile) => profile,
        Err(e) => {
            tracing::warn!(appid, errcode = e.errcode(), error = %e, "could not fetch the authorizer's profile");
            return known;
        }
    };
    if let Err(e) = app.store.set_profile(appid, &profile, app.now()).await {
        tracing::warn!(appid, error = %e, "could not store the authorizer's profile");
    }
    profile
}

fn consume_kind(o: &ConsumeOutcome) -> &'static str {
    match o {
        ConsumeOutcome::Consumed(_) => "consumed",
        ConsumeOutcome::AlreadyUsed(_) => "already_used",
        ConsumeOutcome::Expired => "expired",
        ConsumeOutcome::NotFound => "not_found",
    }
}

/// The browser's callback for a link the `authorized` push of this very code
/// used up a moment ago (the push takes the link before it exchanges the
/// code): finish as that push does, never binding anything itself. Any other
/// code of a used link stays "already used".
async fn used_by_its_own_push(
    app: &App,
    id: &str,
    auth_code: Option<&Secret>,
) -> Result<Authorized, FinishError> {
    let LinkState::Used(link) = state(app, id).await? else {
        return Err(FinishError::UnknownLink);
    };
    let used = || FinishError::UsedLink {
        used_by: link.used_by.clone().filter(|a| !a.is_empty()),
        profile: None,
    };
    let Some(code) = auth_code else {
        return Err(used());
    };
    if authorization::link_of_code(app, code).await?.as_deref() != Some(link.id.as_str()) {
        return Err(used());
    }
    // Unbound first: the tenant is bound only once the account is known to be
    // the one the link went to (the push binds it too; either may be first).
    let exchanged = authorization::exchange_code(app, code, None).await?;
    if link.used_by.as_deref() != Some(exchanged.appid.as_str()) {
        return Err(used());
    }
    if !app
        .store
        .bind_tenant(&exchanged.appid, &link.tenant, app.now())
        .await?
    {
        let existing_tenant = app
            .store
            .get_authorizer(&exchanged.appid)
            .await?
            .and_then(|a| a.tenant)
            .unwrap_or_default();
        return Err(ExchangeError::TenantConflict {
            appid: exchanged.appid,
            existing_tenant,
        }
        .into());
    }
    let profile = match exchanged.profile.nick_name {
        Some(_) => exchanged.profile,
        None => profile_now(app, &exchanged.appid, exchanged.profile).await,
    };
    Ok(Authorized {
        link,
        appid: exchanged.appid,
        profile,
        outcome: exchanged.outcome,
    })
}

/// A used link's callback again: the same answer when it carries the very code
/// that used the link (a reload), "already used" otherwise. Never exchanges.
async fn repeat_of_used(
    app: &App,
    link: Link,
    auth_code: Option<&Secret>,
) -> Result<Authorized, FinishError> {
    let authorizer = match &link.used_by {
        Some(appid) if !appid.is_empty() => app.store.get_authorizer(appid).await?,
        _ => None,
    };
    let same_code = match (&authorizer, auth_code) {
        (Some(a), Some(code)) => {
            a.last_auth_code_hash.as_deref()
                == Some(authorization::hash_code(code.expose()).as_str())
        }
        _ => false,
    };
    match authorizer {
        Some(a) if same_code && a.tenant.as_deref() == Some(link.tenant.as_str()) => {
            // The push may have stored the grant and used the link up before
            // it fetched the profile: fetch it here rather than show none.
            let profile = match a.profile.nick_name.as_deref().filter(|n| !n.is_empty()) {
                Some(_) => a.profile,
                None => profile_now(app, &a.appid, a.profile).await,
            };
            Ok(Authorized {
                appid: a.appid,
                profile,
                outcome: GrantOutcome::AlreadyDone,
                link,
            })
        }
        other => Err(FinishError::UsedLink {
            used_by: link.used_by.filter(|a| !a.is_empty()),
            profile: other.map(|a| a.profile),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> Vec<String> {
        vec![
            "https://erp.example.com".to_owned(),
            "http://localhost:3000".to_owned(),
        ]
    }

    fn config(api_base: Option<&str>) -> Config {
        let mut m: std::collections::BTreeMap<String, String> = [
            ("WXOPEN_COMPONENT_APPID", "wxcomponent0001"),
            ("WXOPEN_COMPONENT_SECRET", "s3cr3t"),
            ("WXOPEN_MESSAGE_TOKEN", "tok"),
            (
                "WXOPEN_ENCODING_AES_KEY",
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            ),
            ("WXOPEN_PUBLIC_URL", "https://wx.example.com"),
            (
                "WXOPEN_DATA_KEY",
                "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(base) = api_base {
            m.insert("WXOPEN_WECHAT_API_BASE".into(), base.into());
        }
        Config::from_map(&m).unwrap()
    }

    fn link() -> Link {
        Link {
            id: "L".repeat(LINK_ID_LEN),
            tenant: "acme".into(),
            auth_type: 1,
            biz_appid: None,
            return_url: None,
            created_at: 0,
            expires_at: 1,
            used: false,
            used_by: None,
        }
    }

    #[test]
    fn against_real_wechat_the_pages_are_wechats_own_hosts() {
        let c = config(None);
        let code = Secret::new("preauthcode@@@xyz".to_owned());
        let pc = wechat_page_url(&c, Device::Pc, &code, &link());
        let redirect = "redirect_uri=https%3A%2F%2Fwx.example.com%2Fauthorize%2FLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL%2Fcallback";
        assert_eq!(
            pc,
            format!("https://mp.weixin.qq.com/cgi-bin/componentloginpage?component_appid=wxcomponent0001&pre_auth_code=preauthcode%40%40%40xyz&{redirect}&auth_type=1")
        );
        let mobile = wechat_page_url(&c, Device::Mobile, &code, &link());
        assert!(mobile.starts_with("https://open.weixin.qq.com/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&component_appid=wxcomponent0001&"));
        assert!(mobile.ends_with("&auth_type=1#wechat_redirect"));
    }

    #[test]
    fn an_explicit_web_base_serves_both_pages_whatever_the_api() {
        let mut c = config(None);
        c.wechat_web = WechatWeb::Base("https://pages.example.com".into());
        let code = Secret::new("c".to_owned());
        assert!(wechat_page_url(&c, Device::Pc, &code, &link())
            .starts_with("https://pages.example.com/cgi-bin/componentloginpage?"));
        assert!(wechat_page_url(&c, Device::Mobile, &code, &link())
            .starts_with("https://pages.example.com/wxaopen/safe/bindcomponent?"));
    }

    #[test]
    fn against_another_api_base_the_pages_are_served_there() {
        let c = config(Some("http://127.0.0.1:9999"));
        let mut l = link();
        l.biz_appid = Some("wx5add0a0000000001".into());
        let code = Secret::new("c".to_owned());
        assert!(wechat_page_url(&c, Device::Pc, &code, &l)
            .starts_with("http://127.0.0.1:9999/cgi-bin/componentloginpage?"));
        let mobile = wechat_page_url(&c, Device::Mobile, &code, &l);
        assert!(mobile
            .starts_with("http://127.0.0.1:9999/wxaopen/safe/bindcomponent?action=bindcomponent"));
        assert!(mobile.ends_with("&auth_type=1&biz_appid=wx5add0a0000000001#wechat_redirect"));
    }

    #[test]
    fn return_urls_on_allowed_origins_are_kept() {
        assert_eq!(
            allowed_return_url("https://erp.example.com/done?x=1", &origins()).as_deref(),
            Some("https://erp.example.com/done?x=1")
        );
        assert!(allowed_return_url("http://localhost:3000/", &origins()).is_some());
        assert!(allowed_return_url("https://ERP.example.com:443/a", &origins()).is_some());
    }

    #[test]
    fn return_urls_elsewhere_are_refused() {
        for bad in [
            "https://evil.example.com/",
            "https://erp.example.com.evil.com/",
            "https://erp.example.com@evil.com/",
            "https://user:pw@erp.example.com/",
            "http://erp.example.com/",
            "https://erp.example.com:8443/",
            "//erp.example.com/",
            "/relative",
            "javascript:alert(1)",
            "http://localhost:3001/",
        ] {
            assert!(allowed_return_url(bad, &origins()).is_none(), "{bad}");
        }
    }

    #[test]
    fn link_ids_are_random_url_safe_and_recognised() {
        let a = new_link_id();
        let b = new_link_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), LINK_ID_LEN);
        assert!(plausible_link_id(&a));
        assert!(!plausible_link_id("short"));
        assert!(!plausible_link_id(&format!("{}/", &a[1..])));
    }
}
