//! Simulator configuration: the component, its merchant accounts, lifetimes and limits.
//! Durations are written in TOML as seconds (fractions allowed).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wxopen::secret::Secret;

/// Everything the simulator needs to stand in for WeChat.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// The one third-party platform registered with this WeChat.
    pub component: ComponentConfig,
    /// Merchant accounts that can authorize the component.
    pub accounts: Vec<AccountConfig>,
    /// How long a replaced access token keeps working (WeChat: 5 min).
    #[serde(with = "secs")]
    pub token_grace: Duration,
    /// Virtual time between timer-driven component_verify_ticket pushes (WeChat: 10 min).
    #[serde(with = "secs")]
    pub ticket_interval: Duration,
    /// Seed for every random choice (tokens, codes, fault decisions).
    pub seed: u64,
    /// Push TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH after sends.
    pub finish_pushes: bool,
    /// Real-time limit on one push attempt (WeChat: 5 s).
    #[serde(with = "secs")]
    pub push_timeout: Duration,
    /// Attempts per push (WeChat: 3).
    pub push_attempts: u32,
    /// Pushes in flight at once.
    pub push_concurrency: usize,
    /// How long a `timeout` fault holds a request before answering busy.
    #[serde(with = "secs")]
    pub fault_hold: Duration,
    /// Real-time bound for the release test waiting on our API calls.
    #[serde(with = "secs")]
    pub release_test_wait: Duration,
    /// Calls kept in the call log (oldest dropped first).
    pub max_call_records: usize,
    /// Lifetimes and quotas.
    pub limits: Limits,
}

/// Lifetimes (virtual seconds) and quotas.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// component_verify_ticket validity (12 h).
    pub ticket_ttl: u64,
    /// component and authorizer access tokens (7200 s).
    pub token_ttl: u64,
    /// pre_auth_code lifetime; the simulator answers `expires_in: 600`.
    pub pre_auth_code_ttl: u64,
    /// authorization_code lifetime (3600 s).
    pub auth_code_ttl: u64,
    /// Temporary media lifetime (3 days).
    pub media_ttl: u64,
    /// Customer-service reply window after a user's last message (48 h).
    pub custom_window: u64,
    /// Template sends per account per day.
    pub template_sends_per_day: u64,
    /// Subscription notifications (bizsend) per account per day.
    pub subscribe_sends_per_day: u64,
    /// client_msg_id dedupe window for template sends (10 min).
    pub template_dedupe_window: u64,
    /// Mass sends per account per day (100) and per minute (60).
    pub mass_sends_per_day: u64,
    pub mass_sends_per_minute: u64,
    /// clientmsgid dedupe window for mass sends (24 h); a repeat within `mass_retry_gap` is 45066.
    pub mass_dedupe_window: u64,
    pub mass_retry_gap: u64,
    /// api_component_token calls per day.
    pub component_token_per_day: u64,
    /// Quota resets per appid per month (10).
    pub clear_quota_per_month: u64,
    /// Openids per page of user/get (10,000).
    pub user_page_size: usize,
    /// Templates an account may hold (25).
    pub max_templates: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ticket_ttl: 12 * 3600,
            token_ttl: 7200,
            pre_auth_code_ttl: 600,
            auth_code_ttl: 3600,
            media_ttl: 3 * 86400,
            custom_window: 48 * 3600,
            template_sends_per_day: 100_000,
            subscribe_sends_per_day: 100_000,
            template_dedupe_window: 600,
            mass_sends_per_day: 100,
            mass_sends_per_minute: 60,
            mass_dedupe_window: 86400,
            mass_retry_gap: 60,
            component_token_per_day: 2000,
            clear_quota_per_month: 10,
            user_page_size: 10_000,
            max_templates: 25,
        }
    }
}

/// The third-party platform's identity and where WeChat pushes to.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ComponentConfig {
    pub appid: String,
    pub secret: Secret,
    /// The message token used for push signatures.
    pub token: Secret,
    /// The 43-character EncodingAESKey.
    pub encoding_aes_key: Secret,
    /// Our `POST /wechat/component/events`.
    pub component_push_url: Option<String>,
    /// Template with the literal `$APPID$`, e.g. `http://127.0.0.1:8080/wechat/authorizers/$APPID$/events`.
    pub authorizer_push_url: Option<String>,
}

/// One merchant account (official account or mini program).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AccountConfig {
    pub appid: String,
    /// Original id, `gh_…`.
    pub user_name: String,
    pub nick_name: String,
    /// The avatar URL `api_get_authorizer_info` returns; a path (`/_sim/avatars/…`)
    /// is served by the simulator itself and returned as an absolute URL.
    pub head_img: String,
    pub principal_name: String,
    /// 0 subscription, 1 upgraded subscription, 2 service account.
    pub service_type: u32,
    /// -1 unverified, 0 WeChat-verified.
    pub verify_type: i32,
    /// The WeChat id followers search for; empty for none.
    pub alias: String,
    /// The account's QR code image; empty: `https://sim.invalid/qrcode/{appid}.jpg`.
    pub qrcode_url: String,
    /// The business features opened (answered as WeChat's 0/1).
    pub business_info: BusinessInfoConfig,
    pub is_mini_program: bool,
    /// Permission sets granted when approved on the authorization page.
    pub func_info: Vec<u32>,
    pub followers: Vec<String>,
    /// Users who followed once and left (template sends to them → 43004).
    pub former_followers: Vec<String>,
    /// Followers whose template sends finish with `failed:user block`.
    pub blocked: Vec<String>,
    pub tags: Vec<TagConfig>,
    pub templates: Vec<TemplateConfig>,
}

/// `business_info` of `api_get_authorizer_info`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BusinessInfoConfig {
    pub open_store: bool,
    pub open_scan: bool,
    pub open_pay: bool,
    pub open_card: bool,
    pub open_shake: bool,
}

/// A user tag and its members.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TagConfig {
    pub id: u64,
    pub name: String,
    pub members: Vec<String>,
}

/// A private template of an account.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TemplateConfig {
    pub template_id: String,
    pub title: String,
    /// e.g. `"{{first.DATA}}\n…{{remark.DATA}}"`.
    pub content: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            component: ComponentConfig::default(),
            accounts: Vec::new(),
            token_grace: Duration::from_secs(300),
            ticket_interval: Duration::from_secs(600),
            seed: 1,
            finish_pushes: true,
            push_timeout: Duration::from_secs(5),
            push_attempts: 3,
            push_concurrency: 32,
            fault_hold: Duration::from_secs(120),
            release_test_wait: Duration::from_secs(10),
            max_call_records: 1_000_000,
            limits: Limits::default(),
        }
    }
}

/// Fixed credentials of the sandbox component (safe to print: they only open the simulator).
pub mod sandbox {
    pub const COMPONENT_APPID: &str = "wx5add0c0000000001";
    pub const COMPONENT_SECRET: &str = "5add0c5ec7e7000000000000000000a1";
    pub const MESSAGE_TOKEN: &str = "sandboxtoken";
    pub const ENCODING_AES_KEY: &str = "SandboxEncodingAesKey0123456789abcdefghijkl";
}

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config is not valid TOML for the simulator")]
    Parse(#[source] toml::de::Error),
}

impl SimConfig {
    /// A ready demo: the sandbox component, 3 official accounts with followers, tags and 2 templates each.
    pub fn sandbox() -> Self {
        let accounts = (1..=3u32).map(sandbox_account).collect();
        SimConfig {
            component: ComponentConfig {
                appid: sandbox::COMPONENT_APPID.into(),
                secret: sandbox::COMPONENT_SECRET.into(),
                token: sandbox::MESSAGE_TOKEN.into(),
                encoding_aes_key: sandbox::ENCODING_AES_KEY.into(),
                component_push_url: None,
                authorizer_push_url: None,
            },
            accounts,
            ..SimConfig::default()
        }
    }

    /// Parse a TOML configuration; missing fields take their defaults.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(ConfigError::Parse)
    }

    /// Read and parse a TOML configuration file.
    pub fn from_toml_file(path: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text)
    }
}

/// A sandbox follower openid (28 characters like WeChat's).
pub fn sandbox_openid(account: u32, n: u32) -> String {
    format!("oSbx{account:02}Follower{n:014}")
}

fn sandbox_account(n: u32) -> AccountConfig {
    let names = ["Sandbox Coffee", "Sandbox Books", "Sandbox Bikes"];
    let nick = names.get(n as usize - 1).copied().unwrap_or("Sandbox Shop");
    let followers: Vec<String> = (1..=5).map(|i| sandbox_openid(n, i)).collect();
    let blocked = format!("oSbx{n:02}Blocked0{:014}", 1);
    let mut all_followers = followers.clone();
    all_followers.push(blocked.clone());
    AccountConfig {
        appid: format!("wx5add0a00000000{n:02}"),
        user_name: format!("gh_5add0a0000{n:02}"),
        nick_name: nick.into(),
        head_img: format!("/_sim/avatars/wx5add0a00000000{n:02}.svg"),
        principal_name: format!("{nick} Co., Ltd."),
        service_type: 2,
        verify_type: 0,
        alias: nick.to_lowercase().replace(' ', "_"),
        qrcode_url: String::new(),
        business_info: BusinessInfoConfig {
            open_pay: true,
            ..BusinessInfoConfig::default()
        },
        is_mini_program: false,
        func_info: vec![1, 2, 3, 4, 7, 11],
        former_followers: vec![format!("oSbx{n:02}Unfollow{:014}", 1)],
        blocked: vec![blocked],
        tags: vec![
            TagConfig {
                id: 100,
                name: "VIP".into(),
                members: followers.iter().take(2).cloned().collect(),
            },
            TagConfig {
                id: 101,
                name: "Newcomers".into(),
                members: followers.iter().skip(2).cloned().collect(),
            },
        ],
        templates: vec![
            TemplateConfig {
                template_id: format!("SimTpl{n:02}OrderShipped"),
                title: "Order shipped".into(),
                content: "{{first.DATA}}\nOrder: {{keyword1.DATA}}\nCarrier: {{keyword2.DATA}}\n{{remark.DATA}}".into(),
            },
            TemplateConfig {
                template_id: format!("SimTpl{n:02}PaymentReceived"),
                title: "Payment received".into(),
                content: "{{first.DATA}}\nAmount: {{keyword1.DATA}}\nTime: {{keyword2.DATA}}\n{{remark.DATA}}".into(),
            },
        ],
        followers: all_followers,
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}
