//! Start-up, shared by the Lambda binaries and `wxopen serve`: configuration
//! (with the secrets of a Lambda read through the AWS Parameters and Secrets
//! Lambda Extension), opening the configured store, building the `App` once.
//! No Lambda crate appears here: the library stays free of them, and each
//! function's `main` adds its few lines of glue (the send worker's stream
//! adapter among them).

use crate::app::{App, BuildError};
use crate::clock::SystemClock;
use crate::config::{Config, ConfigError, StoreSpec, SETTINGS};
use crate::service::events::announce::Announcer;
use crate::store::{StateStore, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Names the Secrets Manager secret (ARN or name) holding the JSON object of secrets.
pub const SECRETS_ARN_ENV: &str = "WXOPEN_SECRETS_ARN";
/// The DynamoDB table; `WXOPEN_STORE` defaults to `dynamodb:$WXOPEN_TABLE` on Lambda.
pub const TABLE_ENV: &str = "WXOPEN_TABLE";
/// The extension's documented port variable (default 2773).
pub const EXTENSION_PORT_ENV: &str = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT";
const EXTENSION_DEFAULT_PORT: &str = "2773";
/// The extension authenticates callers by the function's session token.
const EXTENSION_TOKEN_HEADER: &str = "X-Aws-Parameters-Secrets-Token";
/// Keys a secret object may carry: only the secret settings, so a secret can
/// never silently override the non-secret configuration.
pub const SECRET_KEYS: &[&str] = &[
    "component_secret",
    "message_token",
    "encoding_aes_key",
    "encoding_aes_key_previous",
    "data_key",
    "data_key_previous",
];

/// The process could not start: names what is wrong, never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("secret `{secret_id}` via the Parameters and Secrets extension: {reason}")]
    Secrets {
        secret_id: String,
        reason: String,
        #[source]
        source: Option<reqwest::Error>,
    },
    #[error("opening the store {spec}")]
    Store {
        spec: String,
        #[source]
        source: StoreError,
    },
    #[error("building the app")]
    App(#[source] BuildError),
}

/// The `WXOPEN_*` settings present in the process environment.
pub fn settings_from_env() -> BTreeMap<String, String> {
    SETTINGS
        .iter()
        .filter_map(|(name, _)| std::env::var(name).ok().map(|v| ((*name).to_owned(), v)))
        .collect()
}

/// A Lambda's configuration: the environment, the secret named by
/// `WXOPEN_SECRETS_ARN` merged under it (the environment wins), and the store
/// `dynamodb:$WXOPEN_TABLE` unless `WXOPEN_STORE` says otherwise.
pub async fn lambda_config() -> Result<Config, StartupError> {
    let mut settings = settings_from_env();
    if let Ok(secret_id) = std::env::var(SECRETS_ARN_ENV) {
        for (name, value) in fetch_extension_secret(&secret_id).await? {
            settings.entry(name).or_insert(value);
        }
    }
    let mut missing_table = None;
    if !settings.contains_key("WXOPEN_STORE") {
        match std::env::var(TABLE_ENV) {
            Ok(table) if !table.trim().is_empty() => {
                settings.insert(
                    "WXOPEN_STORE".to_owned(),
                    format!("dynamodb:{}", table.trim()),
                );
            }
            _ => missing_table = Some(format!("{TABLE_ENV} (or WXOPEN_STORE) is not set")),
        }
    }
    // Report every problem at once, the table among them.
    match (Config::from_map(&settings), missing_table) {
        (Ok(config), None) => Ok(config),
        (Ok(_), Some(problem)) => Err(ConfigError {
            problems: vec![problem],
        }
        .into()),
        (Err(mut error), Some(problem)) => {
            error.problems.push(problem);
            Err(error.into())
        }
        (Err(error), None) => Err(error.into()),
    }
}

/// Reads a Secrets Manager secret through the extension's localhost endpoint
/// (cached by the extension; no AWS SDK call in our cold start) and maps its
/// JSON keys to setting names.
pub async fn fetch_extension_secret(
    secret_id: &str,
) -> Result<BTreeMap<String, String>, StartupError> {
    let fail = |reason: String, source: Option<reqwest::Error>| StartupError::Secrets {
        secret_id: secret_id.to_owned(),
        reason,
        source: source.map(reqwest::Error::without_url),
    };
    let port =
        std::env::var(EXTENSION_PORT_ENV).unwrap_or_else(|_| EXTENSION_DEFAULT_PORT.to_owned());
    let session_token = std::env::var("AWS_SESSION_TOKEN").unwrap_or_default();
    let client = crate::http_client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| fail("building the HTTP client".to_owned(), Some(e)))?;
    let response = client
        .get(format!("http://localhost:{port}/secretsmanager/get"))
        .query(&[("secretId", secret_id)])
        .header(EXTENSION_TOKEN_HEADER, session_token)
        .send()
        .await
        .map_err(|e| {
            fail(
                "extension not reachable (is its layer attached?)".to_owned(),
                Some(e),
            )
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(
            format!("extension answered HTTP {}", status.as_u16()),
            None,
        ));
    }
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| fail("extension answer is not JSON".to_owned(), Some(e)))?;
    let secret_string = body
        .get("SecretString")
        .and_then(|v| v.as_str())
        .ok_or_else(|| fail("the secret has no SecretString".to_owned(), None))?;
    secret_settings(secret_string).map_err(|reason| fail(reason, None))
}

/// Parses a secret's JSON object (`{"component_secret": "...", ...}`) into
/// setting names. Errors name keys, never values.
pub fn secret_settings(secret_string: &str) -> Result<BTreeMap<String, String>, String> {
    let object: BTreeMap<String, serde_json::Value> = serde_json::from_str(secret_string)
        .map_err(|_| "SecretString is not a JSON object".to_owned())?;
    let mut settings = BTreeMap::new();
    for (key, value) in object {
        if !SECRET_KEYS.contains(&key.as_str()) {
            return Err(format!(
                "unexpected key `{key}` (allowed: {})",
                SECRET_KEYS.join(", ")
            ));
        }
        let Some(text) = value.as_str() else {
            return Err(format!("key `{key}` must be a string"));
        };
        settings.insert(
            format!("WXOPEN_{}", key.to_ascii_uppercase()),
            text.to_owned(),
        );
    }
    Ok(settings)
}

/// Opens the configured store (SQLite file, or a DynamoDB table with the AWS
/// default credentials chain and `AWS_ENDPOINT_URL_DYNAMODB` when set).
pub async fn open_store(config: &Config) -> Result<Arc<dyn StateStore>, StartupError> {
    let spec = config.store.to_string();
    match &config.store {
        #[cfg(feature = "sqlite")]
        StoreSpec::Sqlite(path) => {
            let path = path.clone();
            let appid = config.component_appid.clone();
            let keys = config.data_keys.clone();
            let opened = tokio::task::spawn_blocking(move || {
                crate::store::sqlite::SqliteStore::open(&path, &appid)
                    .map(|store| store.with_data_keys(keys))
            })
            .await
            .map_err(|e| StartupError::Store {
                spec: spec.clone(),
                source: StoreError::backend("the opening task failed", e),
            })?;
            let store = opened.map_err(|source| StartupError::Store { spec, source })?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "sqlite"))]
        StoreSpec::Sqlite(_) => Err(StartupError::Store {
            spec,
            source: StoreError::backend(
                "this build has no SQLite store (the Lambda functions use DynamoDB; set WXOPEN_TABLE)",
                std::io::Error::from(std::io::ErrorKind::Unsupported),
            ),
        }),
        StoreSpec::Dynamodb(table) => Ok(Arc::new(
            crate::store::dynamo::DynamoStore::from_env(table, &config.component_appid)
                .await
                .with_data_keys(config.data_keys.clone()),
        )),
    }
}

/// Opens the store and builds the app on the system clock: once per process
/// (per Lambda cold start).
pub async fn build_app(config: Config) -> Result<App, StartupError> {
    let store = open_store(&config).await?;
    App::build(config, store, Arc::new(SystemClock), None).map_err(StartupError::App)
}

/// Configuration from the environment plus the secret, then the app: what every Lambda `main` does first.
/// A failure is logged (with its causes) before it is returned, so the
/// function's log says why the init failed.
pub async fn lambda_app() -> Result<App, StartupError> {
    let built = match lambda_config().await {
        // The table's stream tells the worker function of every new delivery.
        Ok(config) => build_app(config).await.map(|mut app| {
            app.announcer = Announcer::stream();
            app
        }),
        Err(error) => Err(error),
    };
    if let Err(error) = &built {
        tracing::error!(error = %error_chain(error), "start-up failed");
    }
    built
}

/// How long until `deadline_ms` (a Lambda invocation's deadline, ms since the
/// epoch) less `margin`: when a function stops taking on work.
pub fn time_until(deadline_ms: u64, margin: Duration) -> Duration {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let left = u128::from(deadline_ms).saturating_sub(now_ms);
    Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX)).saturating_sub(margin)
}

/// An error and its causes on one line (our errors never carry secret values).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_json_maps_to_setting_names() {
        let settings =
            secret_settings(r#"{"component_secret":"s1","encoding_aes_key":"k1"}"#).unwrap();
        assert_eq!(settings["WXOPEN_COMPONENT_SECRET"], "s1");
        assert_eq!(settings["WXOPEN_ENCODING_AES_KEY"], "k1");
    }

    #[test]
    fn secret_json_with_a_non_secret_key_is_refused_without_echoing_values() {
        let err =
            secret_settings(r#"{"public_url":"https://evil.example","component_secret":"hush"}"#)
                .unwrap_err();
        assert!(err.contains("public_url"));
        assert!(!err.contains("hush") && !err.contains("evil.example"));
    }

    #[test]
    fn the_time_left_keeps_the_margin_back_and_never_goes_negative() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let left = time_until(now_ms + 60_000, Duration::from_secs(10));
        assert!(left <= Duration::from_secs(50) && left > Duration::from_secs(45));
        assert_eq!(time_until(now_ms, Duration::from_secs(10)), Duration::ZERO);
        assert_eq!(time_until(0, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn secret_json_that_is_not_an_object_is_refused() {
        assert!(secret_settings("[1,2]").is_err());
        assert!(secret_settings(r#"{"component_secret": 5}"#).is_err());
    }
}
