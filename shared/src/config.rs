//! Configuration, parsed once at start-up into a typed struct. Every setting has
//! an environment name (the product contract) and the same name, lowercase and
//! without the `WXOPEN_` prefix, as a key in an optional TOML file; the
//! environment wins. A missing or invalid setting is reported by name.

use crate::crypto::at_rest::DataKeys;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// WeChat's own API host, the default `WXOPEN_WECHAT_API_BASE`.
pub const DEFAULT_WECHAT_API_BASE: &str = crate::wechat::DEFAULT_BASE_URL;

/// Where the merchant's browser finds WeChat's authorization pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WechatWeb {
    /// WeChat's own page hosts (mp.weixin.qq.com for computers,
    /// open.weixin.qq.com inside WeChat on a phone).
    WechatHosts,
    /// One stand-in serving both pages under WeChat's paths (the simulator).
    Base(String),
}

impl WechatWeb {
    /// `wechat` or an http(s) base URL; unset: WeChat's hosts when the API is
    /// WeChat's own, otherwise the API base (a simulator serves both).
    fn from_setting(value: Option<&str>, api_base: &str) -> Result<WechatWeb, String> {
        match value {
            Some(v) if v.eq_ignore_ascii_case("wechat") => Ok(WechatWeb::WechatHosts),
            Some(v) => match url::Url::parse(v) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {
                    Ok(WechatWeb::Base(v.trim_end_matches('/').to_owned()))
                }
                _ => {
                    Err("WXOPEN_WECHAT_WEB_BASE must be `wechat` or an http(s) base URL".to_owned())
                }
            },
            None if api_base.trim_end_matches('/') == DEFAULT_WECHAT_API_BASE => {
                Ok(WechatWeb::WechatHosts)
            }
            None => Ok(WechatWeb::Base(api_base.trim_end_matches('/').to_owned())),
        }
    }
}

/// Where state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    Sqlite(PathBuf),
    Dynamodb(String),
}

impl StoreSpec {
    /// `sqlite:PATH` or `dynamodb:TABLE`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some(("sqlite", path)) if !path.is_empty() => {
                Ok(StoreSpec::Sqlite(PathBuf::from(path)))
            }
            Some(("dynamodb", table)) if !table.is_empty() => {
                Ok(StoreSpec::Dynamodb(table.to_owned()))
            }
            _ => Err(format!("expected sqlite:PATH or dynamodb:TABLE, got `{s}`")),
        }
    }
}

impl std::fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSpec::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            StoreSpec::Dynamodb(t) => write!(f, "dynamodb:{t}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub component_appid: String,
    pub component_secret: Secret,
    /// The message-check token configured on the open platform.
    pub message_token: Secret,
    pub encoding_aes_key: Secret,
    pub encoding_aes_key_previous: Option<Secret>,
    /// Seals credentials at rest (`WXOPEN_DATA_KEY`, and `WXOPEN_DATA_KEY_PREVIOUS`
    /// during a rotation); its Debug shows key ids only.
    pub data_keys: DataKeys,
    pub wechat_api_base: String,
    /// Where WeChat's authorization pages are (`WXOPEN_WECHAT_WEB_BASE`).
    pub wechat_web: WechatWeb,
    /// Externally visible base URL (no trailing slash), used in redirect_uri and links.
    pub public_url: String,
    pub store: StoreSpec,
    pub listen: SocketAddr,
    /// Origins (`https://example.com`) a link's `return_url` may point to.
    pub return_url_origins: Vec<String>,
    /// Pushes whose timestamp is further than this from now are replays.
    pub replay_window_secs: u64,
    /// Renew tokens that expire within this margin.
    pub refresh_margin_secs: u64,
    /// Template sends with at most this many recipients are answered inline.
    pub inline_send_limit: usize,
    pub chunk_size: usize,
    /// Concurrent WeChat calls per authorizer when sending.
    pub send_concurrency: usize,
    pub link_ttl_secs: u64,
    /// Path prefixes the pass-through may call (`WXOPEN_PROXY_PATHS`);
    /// token paths stay forbidden whatever this says.
    pub proxy_paths: Vec<String>,
    /// Development only (`WXOPEN_WEBHOOK_ALLOW_PRIVATE=true`, set by the
    /// sandbox): webhook URLs may be plain `http` and internal addresses.
    pub webhook_allow_private: bool,
    /// How long a push waits for a `reply: true` webhook's passive reply
    /// (`WXOPEN_REPLY_BUDGET_MS`); WeChat gives up after 5 s.
    pub reply_budget_ms: u64,
}

/// Configuration could not be assembled: names every missing or invalid setting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration: {}", .problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// (environment name, required) for every setting.
pub const SETTINGS: &[(&str, bool)] = &[
    ("WXOPEN_COMPONENT_APPID", true),
    ("WXOPEN_COMPONENT_SECRET", true),
    ("WXOPEN_MESSAGE_TOKEN", true),
    ("WXOPEN_ENCODING_AES_KEY", true),
    ("WXOPEN_ENCODING_AES_KEY_PREVIOUS", false),
    ("WXOPEN_DATA_KEY", true),
    ("WXOPEN_DATA_KEY_PREVIOUS", false),
    ("WXOPEN_WECHAT_API_BASE", false),
    ("WXOPEN_WECHAT_WEB_BASE", false),
    ("WXOPEN_PUBLIC_URL", true),
    ("WXOPEN_STORE", false),
    ("WXOPEN_LISTEN", false),
    ("WXOPEN_RETURN_URL_ORIGINS", false),
    ("WXOPEN_REPLAY_WINDOW_SECS", false),
    ("WXOPEN_REFRESH_MARGIN_SECS", false),
    ("WXOPEN_INLINE_SEND_LIMIT", false),
    ("WXOPEN_CHUNK_SIZE", false),
    ("WXOPEN_SEND_CONCURRENCY", false),
    ("WXOPEN_LINK_TTL_SECS", false),
    ("WXOPEN_PROXY_PATHS", false),
    ("WXOPEN_WEBHOOK_ALLOW_PRIVATE", false),
    ("WXOPEN_REPLY_BUDGET_MS", false),
];

impl Config {
    /// From the process environment, over an optional TOML file.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut values = match file {
            Some(path) => read_toml(path)?,
            None => BTreeMap::new(),
        };
        for (name, _) in SETTINGS {
            if let Ok(v) = std::env::var(name) {
                values.insert((*name).to_owned(), v);
            }
        }
        Config::from_map(&values)
    }

    /// From a map of environment-style names to values (tests, Lambda secrets merged in).
    pub fn from_map(values: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let get = |name: &str| {
            values
                .get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        for (name, required) in SETTINGS {
            if *required && get(name).is_none() {
                problems.push(match *name {
                    "WXOPEN_DATA_KEY" => "WXOPEN_DATA_KEY is not set (credentials are encrypted at rest \
                         under it: base64 of 32 random bytes, e.g. `head -c 32 /dev/urandom | base64`)"
                        .to_owned(),
                    _ => format!("{name} is not set"),
                });
            }
        }
        let aes_key = get("WXOPEN_ENCODING_AES_KEY").unwrap_or_default();
        if !aes_key.is_empty() && !valid_aes_key(&aes_key) {
            problems
                .push("WXOPEN_ENCODING_AES_KEY must be 43 characters of [A-Za-z0-9]".to_owned());
        }
        let previous = get("WXOPEN_ENCODING_AES_KEY_PREVIOUS");
        if let Some(p) = &previous {
            if !valid_aes_key(p) {
                problems.push(
                    "WXOPEN_ENCODING_AES_KEY_PREVIOUS must be 43 characters of [A-Za-z0-9]"
                        .to_owned(),
                );
            }
        }
        let data_key = get("WXOPEN_DATA_KEY").and_then(|v| {
            DataKeys::parse_key("WXOPEN_DATA_KEY", &v)
                .map_err(|e| problems.push(e.to_string()))
                .ok()
        });
        let data_key_previous = match get("WXOPEN_DATA_KEY_PREVIOUS") {
            None => Ok(None),
            Some(v) => DataKeys::parse_key("WXOPEN_DATA_KEY_PREVIOUS", &v)
                .map(Some)
                .map_err(|e| problems.push(e.to_string())),
        };
        let store = match StoreSpec::parse(
            &get("WXOPEN_STORE").unwrap_or_else(|| "sqlite:wxopen.db".to_owned()),
        ) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(format!("WXOPEN_STORE: {e}"));
                None
            }
        };
        let listen = match get("WXOPEN_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
            .parse()
        {
            Ok(a) => Some(a),
            Err(_) => {
                problems.push("WXOPEN_LISTEN must be an address like 127.0.0.1:8080".to_owned());
                None
            }
        };
        let public_url = get("WXOPEN_PUBLIC_URL").unwrap_or_default();
        if !public_url.is_empty() && url::Url::parse(&public_url).is_err() {
            problems.push("WXOPEN_PUBLIC_URL must be an absolute URL".to_owned());
        }
        let mut number = |name: &str, default: u64| -> u64 {
            match get(name) {
                None => default,
                Some(v) => v.parse().unwrap_or_else(|_| {
                    problems.push(format!("{name} must be a whole number"));
                    default
                }),
            }
        };
        let replay_window_secs = number("WXOPEN_REPLAY_WINDOW_SECS", 600);
        let refresh_margin_secs = number("WXOPEN_REFRESH_MARGIN_SECS", 1200);
        let inline_send_limit = number("WXOPEN_INLINE_SEND_LIMIT", 20) as usize;
        let chunk_size = number("WXOPEN_CHUNK_SIZE", 200) as usize;
        let send_concurrency = number("WXOPEN_SEND_CONCURRENCY", 32) as usize;
        let link_ttl_secs = number("WXOPEN_LINK_TTL_SECS", 7 * 24 * 3600);
        let reply_budget_ms = number("WXOPEN_REPLY_BUDGET_MS", 2500);
        let webhook_allow_private = match get("WXOPEN_WEBHOOK_ALLOW_PRIVATE").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                problems.push("WXOPEN_WEBHOOK_ALLOW_PRIVATE must be true or false".to_owned());
                false
            }
        };
        if !(100..=4500).contains(&reply_budget_ms) {
            problems
                .push("WXOPEN_REPLY_BUDGET_MS must be 100..=4500 (WeChat waits 5 s)".to_owned());
        }
        if chunk_size == 0 || chunk_size > 1000 {
            problems.push("WXOPEN_CHUNK_SIZE must be 1..=1000".to_owned());
        }
        if send_concurrency == 0 {
            problems.push("WXOPEN_SEND_CONCURRENCY must be at least 1".to_owned());
        }
        let wechat_api_base =
            get("WXOPEN_WECHAT_API_BASE").unwrap_or_else(|| DEFAULT_WECHAT_API_BASE.to_owned());
        let wechat_web = match WechatWeb::from_setting(
            get("WXOPEN_WECHAT_WEB_BASE").as_deref(),
            &wechat_api_base,
        ) {
            Ok(w) => Some(w),
            Err(e) => {
                problems.push(e);
                None
            }
        };
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let (Some(store), Some(listen), Some(wechat_web), Some(data_key), Ok(data_key_previous)) =
            (store, listen, wechat_web, data_key, data_key_previous)
        else {
            return Err(ConfigError { problems });
        };
        Ok(Config {
            component_appid: get("WXOPEN_COMPONENT_APPID").unwrap_or_default(),
            component_secret: Secret::new(get("WXOPEN_COMPONENT_SECRET").unwrap_or_default()),
            message_token: Secret::new(get("WXOPEN_MESSAGE_TOKEN").unwrap_or_default()),
            encoding_aes_key: Secret::new(aes_key),
            encoding_aes_key_previous: previous.map(Secret::new),
            data_keys: DataKeys::new(data_key, data_key_previous),
            wechat_api_base,
            wechat_web,
            public_url: public_url.trim_end_matches('/').to_owned(),
            store,
            listen,
            return_url_origins: get("WXOPEN_RETURN_URL_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            replay_window_secs,
            refresh_margin_secs,
            inline_send_limit,
            chunk_size,
            send_concurrency,
            link_ttl_secs,
            proxy_paths: get("WXOPEN_PROXY_PATHS")
                .map(|v| parse_proxy_prefixes(&v))
                .unwrap_or_else(default_proxy_prefixes),
            webhook_allow_private,
            reply_budget_ms,
        })
    }
}

fn valid_aes_key(k: &str) -> bool {
    k.len() == 43 && k.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn read_toml(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let fail = |why: String| ConfigError {
        problems: vec![format!("config file {}: {why}", path.display())],
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| fail(e.message().to_owned()))?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        let name = format!("WXOPEN_{}", key.to_ascii_uppercase());
        if !SETTINGS.iter().any(|(n, _)| *n == name) {
            return Err(fail(format!("unknown key `{key}`")));
        }
        let v = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        out.insert(name, v);
    }
    Ok(out)
}

// The pass-through's allow-list lives here, below the service that applies
// it, so configuration never depends on a service.
/// The default allow-list (`WXOPEN_PROXY_PATHS` replaces it).
pub const DEFAULT_PROXY_PREFIXES: &[&str] =
    &["cgi-bin/", "datacube/", "card/", "merchant/", "semantic/"];

/// The default prefixes, owned.
pub fn default_proxy_prefixes() -> Vec<String> {
    DEFAULT_PROXY_PREFIXES
        .iter()
        .map(|p| (*p).to_owned())
        .collect()
}

/// `WXOPEN_PROXY_PATHS`: comma-separated prefixes, without a leading slash.
pub fn parse_proxy_prefixes(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|p| p.trim().trim_start_matches('/').to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> BTreeMap<String, String> {
        [
            ("WXOPEN_COMPONENT_APPID", "wxcomponent0001"),
            ("WXOPEN_COMPONENT_SECRET", "s3cr3t-value"),
            ("WXOPEN_MESSAGE_TOKEN", "tok"),
            (
                "WXOPEN_ENCODING_AES_KEY",
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            ),
            ("WXOPEN_PUBLIC_URL", "https://wx.example.com/"),
            (
                "WXOPEN_DATA_KEY",
                "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn minimal_settings_get_defaults() {
        let c = Config::from_map(&minimal()).unwrap();
        assert_eq!(c.wechat_api_base, DEFAULT_WECHAT_API_BASE);
        assert_eq!(c.store, StoreSpec::Sqlite(PathBuf::from("wxopen.db")));
        assert_eq!(c.public_url, "https://wx.example.com");
        assert_eq!(c.inline_send_limit, 20);
        assert_eq!(c.chunk_size, 200);
    }

    #[test]
    fn wechats_pages_follow_the_api_unless_set() {
        let web = |api: Option<&str>, web: Option<&str>| {
            let mut m = minimal();
            if let Some(a) = api {
                m.insert("WXOPEN_WECHAT_API_BASE".into(), a.into());
            }
            if let Some(w) = web {
                m.insert("WXOPEN_WECHAT_WEB_BASE".into(), w.into());
            }
            Config::from_map(&m).map(|c| c.wechat_web)
        };
        assert_eq!(web(None, None), Ok(WechatWeb::WechatHosts));
        assert_eq!(
            web(Some("http://127.0.0.1:9090/"), None),
            Ok(WechatWeb::Base("http://127.0.0.1:9090".into()))
        );
        assert_eq!(
            web(Some("http://proxy.internal:8000"), Some("wechat")),
            Ok(WechatWeb::WechatHosts)
        );
        assert_eq!(
            web(None, Some("https://pages.example.com/")),
            Ok(WechatWeb::Base("https://pages.example.com".into()))
        );
        assert!(web(None, Some("ftp://x"))
            .unwrap_err()
            .to_string()
            .contains("WXOPEN_WECHAT_WEB_BASE"));
    }

    #[test]
    fn every_missing_setting_is_named() {
        let err = Config::from_map(&BTreeMap::new()).unwrap_err();
        for name in [
            "WXOPEN_COMPONENT_APPID",
            "WXOPEN_COMPONENT_SECRET",
            "WXOPEN_MESSAGE_TOKEN",
            "WXOPEN_ENCODING_AES_KEY",
            "WXOPEN_PUBLIC_URL",
            "WXOPEN_DATA_KEY",
        ] {
            assert!(err.to_string().contains(name), "{name} not named in {err}");
        }
    }

    #[test]
    fn a_bad_aes_key_is_named_without_echoing_it() {
        let mut m = minimal();
        m.insert("WXOPEN_ENCODING_AES_KEY".into(), "short-secret".into());
        let err = Config::from_map(&m).unwrap_err().to_string();
        assert!(err.contains("WXOPEN_ENCODING_AES_KEY"));
        assert!(!err.contains("short-secret"));
    }

    #[test]
    fn a_bad_data_key_is_named_without_echoing_it() {
        for name in ["WXOPEN_DATA_KEY", "WXOPEN_DATA_KEY_PREVIOUS"] {
            let mut m = minimal();
            // Base64 of 31 bytes: well-formed, the wrong length.
            let short = "c2hvcnQta2V5LXNob3J0LWtleS1zaG9ydC1rZXktcw==";
            m.insert(name.into(), short.into());
            let err = Config::from_map(&m).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
            assert!(!err.contains(short));
        }
        let mut m = minimal();
        m.insert("WXOPEN_DATA_KEY_PREVIOUS".into(), DataKeys::generate_key());
        let c = Config::from_map(&m).unwrap();
        assert!(
            !format!("{c:?}").contains("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="),
            "Debug shows key ids only"
        );
    }

    #[test]
    fn store_spec_parses_both_kinds_and_rejects_others() {
        assert_eq!(
            StoreSpec::parse("dynamodb:t1").unwrap(),
            StoreSpec::Dynamodb("t1".into())
        );
        assert_eq!(
            StoreSpec::parse("sqlite:/tmp/x.db").unwrap(),
            StoreSpec::Sqlite("/tmp/x.db".into())
        );
        assert!(StoreSpec::parse("redis:x").is_err());
        assert!(StoreSpec::parse("sqlite:").is_err());
    }

    #[test]
    fn toml_file_keys_map_to_settings_and_env_style_names() {
        let dir = std::env::temp_dir().join(format!("wxopen-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "component_appid = \"wxa\"\nchunk_size = 50\nreturn_url_origins = [\"https://a.example\", \"https://b.example\"]\n").unwrap();
        let m = read_toml(&path).unwrap();
        assert_eq!(m["WXOPEN_COMPONENT_APPID"], "wxa");
        assert_eq!(m["WXOPEN_CHUNK_SIZE"], "50");
        assert_eq!(
            m["WXOPEN_RETURN_URL_ORIGINS"],
            "https://a.example,https://b.example"
        );
        std::fs::write(&path, "bogus_key = 1\n").unwrap();
        assert!(read_toml(&path)
            .unwrap_err()
            .to_string()
            .contains("bogus_key"));
    }
}
