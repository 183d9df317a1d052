//! Web OAuth on behalf of an authorizer (代公众号发起网页授权, issue 16).
//!
//! A tenant creates a link for one of its accounts; every opening of the link
//! is an attempt with a fresh one-time state that WeChat carries back; the
//! callback takes the state (once), exchanges WeChat's code (once, WeChat
//! enforces it), and stores who the user is as a one-time result the tenant
//! reads back. The user's sns tokens are used in memory and dropped: only the
//! openid (and the profile for `snsapi_userinfo`) is ever stored.
//!
//! Order matters for "nothing stored on a refusal": the result is written
//! only after every check and WeChat call succeeded.

use crate::app::App;
use crate::config::{Config, WechatWeb};
use crate::secret::Secret;
use crate::service::authorization::hash_code;
use crate::service::links::allowed_return_url;
use crate::store::{OauthAttempt, OauthLink, OauthResult, StoreError};
use crate::tokens::TokenError;
use crate::wechat::paths;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The scopes of web authorization.
pub const SCOPES: [&str; 2] = ["snsapi_base", "snsapi_userinfo"];
/// A link lives an hour unless the client asks otherwise.
pub const DEFAULT_LINK_TTL_SECS: u64 = 3600;
pub const MIN_LINK_TTL_SECS: u64 = 60;
/// At most a week: a link identifies whoever opens it.
pub const MAX_LINK_TTL_SECS: u64 = 7 * 24 * 3600;
/// An attempt's state is good for 10 minutes (WeChat's code lives 5).
pub const ATTEMPT_TTL_SECS: u64 = 600;
/// A result is readable once within 10 minutes.
pub const RESULT_TTL_SECS: u64 = 600;
/// Longest client state handed back on `return_url`.
pub const MAX_CLIENT_STATE_LEN: usize = 256;
/// Longest code or state worth looking at.
const MAX_PARAM_LEN: usize = 512;
/// WeChat's own host of the authorize page.
const REAL_AUTHORIZE_BASE: &str = "https://open.weixin.qq.com";
/// Random bytes of ids and states (192 bits; 32 URL-safe characters).
const ID_BYTES: usize = 24;
const ID_LEN: usize = 32;
/// WeChat's errcodes for a code that is invalid (40029) or already used (40163).
const CODE_REFUSED_ERRCODES: &[i64] = &[40029, 40163];

/// What a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOauthLink {
    pub tenant: String,
    pub appid: String,
    pub scope: String,
    pub return_url: String,
    pub client_state: Option<String>,
    pub expires_in: Option<u64>,
}

/// Why a link could not be created; each names its field.
#[derive(Debug, thiserror::Error)]
pub enum OauthLinkError {
    #[error("must be snsapi_base or snsapi_userinfo")]
    Scope,
    #[error("must be an absolute http(s) URL on an allowed origin (WXOPEN_RETURN_URL_ORIGINS)")]
    ReturnUrl,
    #[error("must be at most {MAX_CLIENT_STATE_LEN} bytes")]
    State,
    #[error("must be {MIN_LINK_TTL_SECS}..={MAX_LINK_TTL_SECS} seconds")]
    ExpiresIn,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OauthLinkError {
    /// The request field at fault (empty for a store failure).
    pub fn field(&self) -> &'static str {
        match self {
            OauthLinkError::Scope => "scope",
            OauthLinkError::ReturnUrl => "return_url",
            OauthLinkError::State => "state",
            OauthLinkError::ExpiresIn => "expires_in",
            OauthLinkError::Store(_) => "",
        }
    }
}

/// Checks and stores a new link; the URL to send customers.
pub async fn create_link(
    app: &App,
    new: NewOauthLink,
) -> Result<(OauthLink, String), OauthLinkError> {
    if !SCOPES.contains(&new.scope.as_str()) {
        return Err(OauthLinkError::Scope);
    }
    let return_url = allowed_return_url(&new.return_url, &app.config.return_url_origins)
        .ok_or(OauthLinkError::ReturnUrl)?;
    if new
        .client_state
        .as_ref()
        .is_some_and(|s| s.len() > MAX_CLIENT_STATE_LEN)
    {
        return Err(OauthLinkError::State);
    }
    let ttl = match new.expires_in {
        Some(s) if (MIN_LINK_TTL_SECS..=MAX_LINK_TTL_SECS).contains(&s) => s,
        Some(_) => return Err(OauthLinkError::ExpiresIn),
        None => DEFAULT_LINK_TTL_SECS,
    };
    let now = app.now();
    let link = OauthLink {
        id: random_id(),
        tenant: new.tenant,
        appid: new.appid,
        scope: new.scope,
        return_url,
        client_state: new.client_state,
        created_at: now,
        expires_at: now.saturating_add(ttl),
    };
    app.store.create_oauth_link(&link).await?;
    tracing::info!(tenant = %link.tenant, appid = %link.appid, scope = %link.scope, "oauth link created");
    let url = link_url(&app.config, &link.id);
    Ok((link, url))
}

/// The customer-facing URL of a link.
pub fn link_url(config: &Config, id: &str) -> String {
    format!("{}/oauth/{id}", config.public_url)
}

/// Where WeChat sends the browser back (the platform's web-authorization domain).
pub fn callback_url(config: &Config) -> String {
    format!("{}/oauth/callback", config.public_url)
}

fn random_id() -> String {
    let mut random = [0u8; ID_BYTES];
    rand::fill(&mut random);
    URL_SAFE_NO_PAD.encode(random)
}

/// Whether `id` can be an id or state this module made; anything else is
/// unknown without asking the store.
fn plausible_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why the customer's flow stopped: each is a page.
#[derive(Debug, thiserror::Error)]
pub enum OauthFlowError {
    /// Unknown or expired link.
    #[error("the link is unknown or expired")]
    LinkGone,
    /// No state, an unknown, tampered, expired or replayed one.
    #[error("the state is unknown or was already used")]
    StateRefused,
    /// WeChat's `appid` is not the link's account.
    #[error("the answer is for another account")]
    WrongAccount,
    /// WeChat refused the code (invalid or already used).
    #[error("WeChat refused the code")]
    CodeRefused,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `GET /oauth/{id}`: a fresh attempt and WeChat's authorize URL carrying its state.
pub async fn open(app: &App, id: &str) -> Result<String, OauthFlowError> {
    if !plausible_id(id) {
        return Err(OauthFlowError::LinkGone);
    }
    let now = app.now();
    let link = app
        .store
        .get_oauth_link(id, now)
        .await?
        .ok_or(OauthFlowError::LinkGone)?;
    let state = random_id();
    app.store
        .create_oauth_attempt(&OauthAttempt {
            state_hash: hash_code(&state),
            link_id: link.id.clone(),
            expires_at: now.saturating_add(ATTEMPT_TTL_SECS),
        })
        .await?;
    Ok(authorize_url(&app.config, &link, &state))
}

/// WeChat's authorize page on the configured web host.
pub fn authorize_url(config: &Config, link: &OauthLink, state: &str) -> String {
    let base = match &config.wechat_web {
        WechatWeb::WechatHosts => REAL_AUTHORIZE_BASE,
        WechatWeb::Base(base) => base.as_str(),
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("appid", &link.appid)
        .append_pair("redirect_uri", &callback_url(config))
        .append_pair("response_type", "code")
        .append_pair("scope", &link.scope)
        .append_pair("state", state)
        .append_pair("component_appid", &config.component_appid)
        .finish();
    format!("{base}{}?{query}#wechat_redirect", paths::OAUTH2_AUTHORIZE)
}

/// What WeChat's redirect carried.
#[derive(Debug, Default)]
pub struct Callback {
    pub code: Option<Secret>,
    pub state: Option<String>,
    pub appid: Option<String>,
}

/// `GET /oauth/callback`: the `return_url` location to send the browser to.
pub async fn finish(app: &App, cb: Callback) -> Result<String, OauthFlowError> {
    let state = cb
        .state
        .filter(|s| plausible_id(s))
        .ok_or(OauthFlowError::StateRefused)?;
    let now = app.now();
    let attempt = app
        .store
        .take_oauth_attempt(&hash_code(&state), now)
        .await?
        .ok_or(OauthFlowError::StateRefused)?;
    let link = app
        .store
        .get_oauth_link(&attempt.link_id, now)
        .await?
        .ok_or(OauthFlowError::LinkGone)?;
    let Some(code) = cb
        .code
        .filter(|c| !c.expose().is_empty() && c.expose().len() <= MAX_PARAM_LEN)
    else {
        return Ok(return_location(&link, &[("error", "access_denied")]));
    };
    if cb.appid.as_deref().is_some_and(|a| a != link.appid) {
        return Err(OauthFlowError::WrongAccount);
    }
    let cappid = app.config.component_appid.as_str();
    let appid = link.appid.as_str();
    let code = &code;
    let grant = app
        .tokens
        .with_component_token(|token| async move {
            app.wechat
                .sns_component_access_token(&token, cappid, appid, code)
                .await
        })
        .await
        .map_err(refused_code)?;
    let profile = if link.scope == "snsapi_userinfo" {
        Some(
            app.wechat
                .sns_userinfo(&grant.access_token, &grant.openid)
                .await
                .map_err(|e| OauthFlowError::Token(TokenError::Wechat(e)))?,
        )
    } else {
        None
    };
    let scope = if grant.scope.is_empty() {
        link.scope.clone()
    } else {
        grant.scope.clone()
    };
    let result = OauthResult {
        id: random_id(),
        tenant: link.tenant.clone(),
        appid: link.appid.clone(),
        openid: grant.openid.clone(),
        unionid: grant
            .unionid
            .clone()
            .or_else(|| profile.as_ref().and_then(|p| p.unionid.clone())),
        scope,
        nickname: profile.as_ref().and_then(|p| p.nickname.clone()),
        headimgurl: profile.as_ref().and_then(|p| p.headimgurl.clone()),
        expires_at: now.saturating_add(RESULT_TTL_SECS),
    };
    app.store.create_oauth_result(&result).await?;
    tracing::info!(tenant = %result.tenant, appid = %result.appid, "oauth result stored");
    Ok(return_location(&link, &[("wxopen_result", &result.id)]))
}

fn refused_code(e: TokenError) -> OauthFlowError {
    match &e {
        TokenError::Wechat(w)
            if w.errcode()
                .is_some_and(|c| CODE_REFUSED_ERRCODES.contains(&c)) =>
        {
            OauthFlowError::CodeRefused
        }
        _ => OauthFlowError::Token(e),
    }
}

/// `return_url` with `pairs` and the client's state appended (before any fragment).
fn return_location(link: &OauthLink, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(&link.return_url) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
                if let Some(state) = &link.client_state {
                    q.append_pair("state", state);
                }
            }
            url.to_string()
        }
        // Checked when the link was created; an unparsable one cannot be stored.
        Err(_) => link.return_url.clone(),
    }
}

/// `GET /v1/oauth-results/{id}`: the result, once, for its own tenant only
/// (`None`: a key for every tenant).
pub async fn take_result(
    app: &App,
    tenant: Option<&str>,
    id: &str,
) -> Result<Option<OauthResult>, StoreError> {
    if !plausible_id(id) {
        return Ok(None);
    }
    app.store.take_oauth_result(id, tenant, app.now()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(client_state: Option<&str>) -> OauthLink {
        OauthLink {
            id: "L".into(),
            tenant: "t".into(),
            appid: "wx1".into(),
            scope: "snsapi_base".into(),
            return_url: "https://erp.example.com/done?x=1#top".into(),
            client_state: client_state.map(str::to_owned),
            created_at: 0,
            expires_at: 1,
        }
    }

    #[test]
    fn the_return_location_carries_the_result_and_the_clients_state_before_the_fragment() {
        assert_eq!(
            return_location(&link(Some("a b")), &[("wxopen_result", "R")]),
            "https://erp.example.com/done?x=1&wxopen_result=R&state=a+b#top"
        );
        assert_eq!(
            return_location(&link(None), &[("error", "access_denied")]),
            "https://erp.example.com/done?x=1&error=access_denied#top"
        );
    }

    #[test]
    fn ids_are_32_url_safe_characters_and_nothing_else_is_plausible() {
        let id = random_id();
        assert!(plausible_id(&id), "{id}");
        assert!(!plausible_id(&id[1..]));
        assert!(!plausible_id(&format!("{}/", &id[1..])));
    }
}
