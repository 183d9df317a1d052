//! The simulated WeChat state: credentials, accounts, quotas, media and sends.
//! Everything here is synchronous and runs under one short-held lock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::api::ApiError;
use crate::config::{AccountConfig, SimConfig, TagConfig, TemplateConfig};
use crate::ids::SplitMix64;

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Owner {
    Component,
    Authorizer(String),
}

#[derive(Debug)]
pub(crate) struct TokenInfo {
    pub owner: Owner,
    pub expires_at: u64,
    /// Set when replaced (now + grace) or invalidated (now): from then on 40001.
    pub dead_after: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct CodeState {
    pub expires_at: u64,
    pub used: bool,
}

#[derive(Debug)]
pub(crate) struct AuthCodeState {
    pub appid: String,
    pub expires_at: u64,
    pub used: bool,
    pub refresh_token: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Authorization {
    pub refresh_token: String,
    pub func_info: Vec<u32>,
    pub auth_time: u64,
}

/// Daily/minute counters, indexed by [`Quota`].
#[derive(Debug, Default)]
pub(crate) struct Counters([(u64, u64); 5]);

#[derive(Debug, Clone, Copy)]
pub(crate) enum Quota {
    TemplateDay = 0,
    MassDay = 1,
    MassMinute = 2,
    ComponentTokenDay = 3,
    SubscribeDay = 4,
}

impl Counters {
    /// Count one use in `period`; false (and nothing counted) when `limit` is reached.
    pub(crate) fn take(&mut self, q: Quota, period: u64, limit: u64) -> bool {
        let slot = &mut self.0[q as usize];
        if slot.0 != period {
            *slot = (period, 0);
        }
        if slot.1 >= limit {
            return false;
        }
        slot.1 += 1;
        true
    }

    pub(crate) fn reset(&mut self) {
        self.0 = Default::default();
    }

    /// Uses counted in `period` (openapi/quota/get).
    pub(crate) fn used(&self, q: Quota, period: u64) -> u64 {
        let slot = self.0[q as usize];
        if slot.0 == period {
            slot.1
        } else {
            0
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct ReplyWindow {
    pub last_message_at: u64,
    pub replies: u32,
}

#[derive(Debug)]
pub(crate) struct Account {
    pub cfg: AccountConfig,
    pub followers: Vec<String>,
    pub follower_set: HashSet<String>,
    pub former: HashSet<String>,
    pub blocked: HashSet<String>,
    pub tags: Vec<TagConfig>,
    pub templates: Vec<TemplateConfig>,
    pub authorization: Option<Authorization>,
    pub ever_authorized: bool,
    pub current_token: Option<String>,
    pub windows: HashMap<String, ReplyWindow>,
    pub template_dedupe: HashMap<String, (u64, u64)>,
    pub mass_dedupe: HashMap<String, (u64, u64)>,
    pub counters: Counters,
    pub clear_quota: (u64, u64),
    pub release_test: bool,
    pub subscribe_time: u64,
    /// The account's notes on followers (user/info/updateremark).
    pub remarks: HashMap<String, String>,
    /// The template industries (api_set_industry ids): IT科技/互联网 and IT科技/IT软件与服务.
    pub industry: (u64, u64),
    /// Fields of api_get_authorizer_info's `authorizer_info` answered exactly
    /// as set, however malformed (`ProfileChange::raw`).
    pub profile_overrides: serde_json::Map<String, serde_json::Value>,
}

impl Account {
    fn new(cfg: AccountConfig, release_test: bool, now: u64) -> Self {
        let mut followers = Vec::new();
        let mut follower_set = HashSet::new();
        for f in cfg.followers.iter().chain(cfg.blocked.iter()) {
            if follower_set.insert(f.clone()) {
                followers.push(f.clone());
            }
        }
        Account {
            former: cfg.former_followers.iter().cloned().collect(),
            blocked: cfg.blocked.iter().cloned().collect(),
            tags: cfg.tags.clone(),
            templates: cfg.templates.clone(),
            followers,
            follower_set,
            authorization: None,
            ever_authorized: false,
            current_token: None,
            windows: HashMap::new(),
            template_dedupe: HashMap::new(),
            mass_dedupe: HashMap::new(),
            counters: Counters::default(),
            clear_quota: (0, 0),
            release_test,
            subscribe_time: now.saturating_sub(86400 * 30),
            remarks: HashMap::new(),
            industry: (1, 2),
            profile_overrides: serde_json::Map::new(),
            cfg,
        }
    }

    /// 40003 for an openid this account never saw, 43004 for one who left.
    pub(crate) fn check_follower(&self, openid: &str) -> Result<(), ApiError> {
        if self.follower_set.contains(openid) {
            Ok(())
        } else if self.former.contains(openid) {
            Err(ApiError::new(43004, "require subscribe"))
        } else {
            Err(ApiError::new(40003, "invalid openid"))
        }
    }
}

#[derive(Debug)]
pub(crate) struct Media {
    pub appid: String,
    pub kind: &'static str,
    pub expires_at: u64,
    /// The file as uploaded (empty for news and article images): media/get answers it.
    pub data: bytes::Bytes,
    pub content_type: &'static str,
}

/// A permanent material (add_material): kept until deleted.
#[derive(Debug)]
pub(crate) struct Material {
    pub appid: String,
    pub kind: &'static str,
    pub name: String,
    pub data: bytes::Bytes,
    pub content_type: &'static str,
    pub update_time: u64,
    /// A video's title and introduction.
    pub description: Option<(String, String)>,
}

#[derive(Debug)]
pub(crate) struct Mass {
    pub appid: String,
    pub status: &'static str,
}

/// The whole simulated WeChat.
#[derive(Debug)]
pub(crate) struct World {
    pub cfg: Arc<SimConfig>,
    pub rng: SplitMix64,
    pub tickets: HashMap<String, u64>,
    pub component_token: Option<String>,
    pub component_counters: Counters,
    pub component_clear_quota: (u64, u64),
    pub pre_auth_codes: HashMap<String, CodeState>,
    pub auth_codes: HashMap<String, AuthCodeState>,
    /// authorization_code → the access token api_query_auth returned for it.
    pub exchanged: HashMap<String, String>,
    pub tokens: HashMap<String, TokenInfo>,
    pub accounts: HashMap<String, Account>,
    pub account_order: Vec<String>,
    pub media: HashMap<String, Media>,
    /// Permanent materials by media_id, and their order of addition.
    pub materials: HashMap<String, Material>,
    pub material_order: Vec<String>,
    pub masses: HashMap<u64, Mass>,
    pub next_msgid: u64,
    pub template_sends: HashMap<String, Vec<(String, Option<String>, u64)>>,
    /// Subscription notifications WeChat accepted: appid → openid → how many.
    pub subscribe_sends: HashMap<String, HashMap<String, u64>>,
    pub last_ticket_at: u64,
    pub identity: crate::identity::IdentityState,
}

/// Release-test account groups (wechat-api.md §7): official account, mini program.
pub const RELEASE_TEST_GROUPS: [(&str, &str); 5] = [
    ("wx570bc396a51b8ff8", "wxd101a85aa106f53e"),
    ("wx9252c5e0bb1836fc", "wxc39235c15087f6f3"),
    ("wx8e1097c5bc82cde9", "wx7720d01d4b2a4500"),
    ("wx14550af28c71a144", "wx05d483572dcd5d8b"),
    ("wxa35b9c23cfe664eb", "wx5910277cae6fd970"),
];

/// The user who talks to release-test accounts.
pub const RELEASE_TEST_OPENID: &str = "ozy4qt1eDxSxzCr0aNT0mXCWfrDE";

fn release_test_account(appid: &str, n: usize, mini: bool) -> AccountConfig {
    AccountConfig {
        appid: appid.to_owned(),
        user_name: if n == 0 && !mini {
            "gh_3c884a361561".to_owned()
        } else {
            format!("gh_5e1ea5e7e5{n}{}", if mini { 1 } else { 0 })
        },
        nick_name: format!("Release test {}{n}", if mini { "mini " } else { "" }),
        service_type: if mini { 0 } else { 2 },
        is_mini_program: mini,
        func_info: vec![1, 2, 3],
        followers: vec![RELEASE_TEST_OPENID.to_owned()],
        ..AccountConfig::default()
    }
}

impl World {
    pub(crate) fn new(cfg: Arc<SimConfig>, now: u64) -> Self {
        let mut accounts = HashMap::new();
        let mut account_order = Vec::new();
        for a in &cfg.accounts {
            account_order.push(a.appid.clone());
            accounts.insert(a.appid.clone(), Account::new(a.clone(), false, now));
        }
        for (n, (oa, mp)) in RELEASE_TEST_GROUPS.iter().enumerate() {
            for (appid, mini) in [(oa, false), (mp, true)] {
                if !accounts.contains_key(*appid) {
                    account_order.push((*appid).to_owned());
                    let acc = Account::new(release_test_account(appid, n, mini), true, now);
                    accounts.insert((*appid).to_owned(), acc);
                }
            }
        }
        World {
            rng: SplitMix64::new(cfg.seed),
            tickets: HashMap::new(),
            component_token: None,
            component_counters: Counters::default(),
            component_clear_quota: (0, 0),
            pre_auth_codes: HashMap::new(),
            auth_codes: HashMap::new(),
            exchanged: HashMap::new(),
            tokens: HashMap::new(),
            accounts,
            account_order,
            media: HashMap::new(),
            materials: HashMap::new(),
            material_order: Vec::new(),
            masses: HashMap::new(),
            next_msgid: 2_200_000_001,
            template_sends: HashMap::new(),
            subscribe_sends: HashMap::new(),
            last_ticket_at: now,
            identity: Default::default(),
            cfg,
        }
    }

    pub(crate) fn next_msgid(&mut self) -> u64 {
        let id = self.next_msgid;
        self.next_msgid += 1;
        id
    }

    /// A fresh ticket, valid for `ticket_ttl`.
    pub(crate) fn issue_ticket(&mut self, now: u64) -> String {
        let ticket = format!("ticket@@@{}", self.rng.alnum(64));
        self.tickets.insert(ticket.clone(), now);
        self.last_ticket_at = now;
        ticket
    }

    /// Issue an access token; the owner's previous one keeps working for the grace period.
    pub(crate) fn issue_token(&mut self, owner: Owner, now: u64) -> String {
        let tag = match owner {
            Owner::Component => "c",
            Owner::Authorizer(_) => "a",
        };
        let token = format!("simtok_{tag}_{}", self.rng.alnum(48));
        let previous = match &owner {
            Owner::Component => self.component_token.replace(token.clone()),
            Owner::Authorizer(appid) => self
                .accounts
                .get_mut(appid)
                .and_then(|a| a.current_token.replace(token.clone())),
        };
        let grace = self.cfg.token_grace.as_secs();
        if let Some(info) = previous.and_then(|p| self.tokens.get_mut(&p)) {
            let end = now + grace;
            info.dead_after = Some(info.dead_after.map_or(end, |d| d.min(end)));
        }
        let expires_at = now + self.cfg.limits.token_ttl;
        self.tokens.insert(
            token.clone(),
            TokenInfo {
                owner,
                expires_at,
                dead_after: None,
            },
        );
        token
    }

    /// Every token of the owner stops working now.
    pub(crate) fn invalidate_tokens(&mut self, owner: &Owner, now: u64) {
        for info in self.tokens.values_mut() {
            if &info.owner == owner {
                info.dead_after = Some(info.dead_after.map_or(now, |d| d.min(now)));
            }
        }
    }

    /// Resolve a token: 41001 missing, 40001 unknown/replaced/invalidated, 42001 expired.
    pub(crate) fn check_token(&self, token: Option<&str>, now: u64) -> Result<&Owner, ApiError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::new(41001, "access_token missing"))?;
        let info = self.tokens.get(token).ok_or_else(invalid_credential)?;
        if info.dead_after.is_some_and(|d| now >= d) {
            return Err(invalid_credential());
        }
        if now >= info.expires_at {
            return Err(ApiError::new(42001, "access_token expired"));
        }
        Ok(&info.owner)
    }

    /// Authorize `appid` and issue an authorization code; returns (code, was already authorized).
    /// A new authorization replaces the refresh token; an update (`keep_refresh`) keeps it.
    pub(crate) fn authorize(
        &mut self,
        appid: &str,
        func_info: &[u32],
        now: u64,
        keep_refresh: bool,
    ) -> Option<(String, bool)> {
        let fresh = format!("refreshtoken@@@{}", self.rng.alnum(40));
        let code = format!("queryauthcode@@@{}", self.rng.alnum(40));
        let account = self.accounts.get_mut(appid)?;
        let was_authorized = account.authorization.is_some();
        let refresh = match (&account.authorization, keep_refresh) {
            (Some(current), true) => current.refresh_token.clone(),
            _ => fresh,
        };
        account.authorization = Some(Authorization {
            refresh_token: refresh.clone(),
            func_info: func_info.to_vec(),
            auth_time: now,
        });
        account.ever_authorized = true;
        self.auth_codes.insert(
            code.clone(),
            AuthCodeState {
                appid: appid.to_owned(),
                expires_at: now + self.cfg.limits.auth_code_ttl,
                used: false,
                refresh_token: refresh,
            },
        );
        Some((code, was_authorized))
    }

    /// The merchant cancels: tokens die now, the refresh token is no longer accepted.
    pub(crate) fn revoke(&mut self, appid: &str, now: u64) -> bool {
        let Some(account) = self.accounts.get_mut(appid) else {
            return false;
        };
        account.authorization = None;
        account.current_token = None;
        self.invalidate_tokens(&Owner::Authorizer(appid.to_owned()), now);
        true
    }

    /// A user message opens (or renews) the customer-service reply window.
    pub(crate) fn user_spoke(&mut self, appid: &str, openid: &str, now: u64) {
        if let Some(a) = self.accounts.get_mut(appid) {
            let w = a.windows.entry(openid.to_owned()).or_default();
            w.last_message_at = now;
            w.replies = 0;
        }
    }
}

pub(crate) fn invalid_credential() -> ApiError {
    ApiError::new(
        40001,
        "invalid credential, access_token is invalid or not latest",
    )
}
