//! Who a follower is, as WeChat tells a platform (wechat-api.md §8): web OAuth
//! codes and the user's sns tokens, jsapi tickets, and parametric QR codes with
//! their scans. The state lives in the [`crate::world::World`] under its lock;
//! the consent page is [`page`], the QR image [`image`].

pub(crate) mod image;
pub(crate) mod page;

use std::collections::HashMap;

use crate::api::ApiError;
use crate::ids::SplitMix64;

/// An OAuth code lives 5 minutes and is exchanged at most once.
pub(crate) const OAUTH_CODE_TTL: u64 = 300;
/// The user's sns access token (7200 s, as WeChat answers).
pub(crate) const SNS_TOKEN_TTL: u64 = 7200;
/// A jsapi_ticket (7200 s).
pub(crate) const JSAPI_TICKET_TTL: u64 = 7200;
/// A temporary QR code without `expire_seconds` lives 60 s; at most 30 days.
pub(crate) const QR_DEFAULT_EXPIRE: u64 = 60;
pub(crate) const QR_MAX_EXPIRE: u64 = 2_592_000;
/// The scopes of web authorization.
pub(crate) const SCOPES: [&str; 2] = ["snsapi_base", "snsapi_userinfo"];

#[derive(Debug)]
pub(crate) struct OauthCode {
    pub appid: String,
    pub openid: String,
    pub scope: String,
    pub expires_at: u64,
    pub used: bool,
}

#[derive(Debug)]
pub(crate) struct SnsToken {
    pub openid: String,
    pub scope: String,
    pub expires_at: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct QrState {
    pub appid: String,
    /// The scene as the push's EventKey carries it (`123` or `order-42`).
    pub scene: String,
    /// `None`: permanent.
    pub expires_at: Option<u64>,
}

/// The identity part of the simulated WeChat.
#[derive(Debug, Default)]
pub(crate) struct IdentityState {
    pub oauth_codes: HashMap<String, OauthCode>,
    pub sns_tokens: HashMap<String, SnsToken>,
    /// Every jsapi_ticket issued: ticket → (appid, expires_at).
    pub jsapi_tickets: HashMap<String, (String, u64)>,
    pub qrcodes: HashMap<String, QrState>,
}

impl IdentityState {
    /// A follower consented: a fresh one-time code for `appid`.
    pub(crate) fn issue_code(
        &mut self,
        rng: &mut SplitMix64,
        appid: &str,
        openid: &str,
        scope: &str,
        now: u64,
    ) -> String {
        let code = format!("simoauth_{}", rng.alnum(32));
        self.oauth_codes.insert(
            code.clone(),
            OauthCode {
                appid: appid.to_owned(),
                openid: openid.to_owned(),
                scope: scope.to_owned(),
                expires_at: now + OAUTH_CODE_TTL,
                used: false,
            },
        );
        code
    }

    /// The exchange's checks on the code, in WeChat's order: unknown, for
    /// another account or expired → 40029; already exchanged → 40163. Marks it used.
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        appid: &str,
        now: u64,
    ) -> Result<(String, String), ApiError> {
        let invalid = || ApiError::new(40029, "invalid code");
        let state = self.oauth_codes.get_mut(code).ok_or_else(invalid)?;
        if state.appid != appid || now >= state.expires_at {
            return Err(invalid());
        }
        if state.used {
            return Err(ApiError::new(40163, "code been used"));
        }
        state.used = true;
        Ok((state.openid.clone(), state.scope.clone()))
    }

    pub(crate) fn issue_sns_token(
        &mut self,
        rng: &mut SplitMix64,
        openid: &str,
        scope: &str,
        now: u64,
    ) -> String {
        let token = format!("simsns_{}", rng.alnum(48));
        self.sns_tokens.insert(
            token.clone(),
            SnsToken {
                openid: openid.to_owned(),
                scope: scope.to_owned(),
                expires_at: now + SNS_TOKEN_TTL,
            },
        );
        token
    }

    pub(crate) fn issue_jsapi_ticket(
        &mut self,
        rng: &mut SplitMix64,
        appid: &str,
        now: u64,
    ) -> String {
        let ticket = format!("simjsapi_{}", rng.alnum(64));
        self.jsapi_tickets
            .insert(ticket.clone(), (appid.to_owned(), now + JSAPI_TICKET_TTL));
        ticket
    }

    pub(crate) fn issue_qrcode(&mut self, rng: &mut SplitMix64, qr: QrState) -> String {
        let ticket = format!("gQ{}", rng.alnum(62));
        self.qrcodes.insert(ticket.clone(), qr);
        ticket
    }

    /// The QR code behind `ticket`, if it is still valid.
    pub(crate) fn qrcode(&self, ticket: &str, now: u64) -> Option<&QrState> {
        self.qrcodes
            .get(ticket)
            .filter(|q| q.expires_at.is_none_or(|e| now < e))
    }
}

/// A follower's profile as `sns/userinfo` gives it: made up from the openid.
pub(crate) fn nickname_of(openid: &str) -> String {
    let tail: String = openid
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("Follower {tail}")
}
