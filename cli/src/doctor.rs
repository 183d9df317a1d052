//! `wxopen doctor`: checks a real configuration end to end — settings, store
//! and table schema, ticket, component token, WeChat from this machine, the
//! public URL — and prints one line per check, with what to fix.
//!
//! It changes nothing of wxopen's: it reads the store and creates no table or
//! database (opening an existing SQLite database does apply wxopen's schema
//! migrations, as `serve` does; one of this version is left as it is), and it
//! never renews a token (WeChat retires the previous token when it issues a
//! new one). Its one WeChat call that acts
//! is `api_start_push_ticket`, which checks the appid, the appsecret and this
//! machine's IP at once; its effect is a ticket push ahead of WeChat's
//! ten-minute routine.

use crate::admin::Target;
use crate::status::duration;
use clap::Args;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use wxopen::clock::{Clock, SystemClock};
use wxopen::config::{Config, StoreSpec};
use wxopen::secret::Secret;
use wxopen::service::refresh::TICKET_ALARM_AGE_SECS;
use wxopen::store::{dynamo, StateStore};
use wxopen::wechat::{WechatClient, WechatConfig, WechatError};

/// How long each network check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// TOML settings file (keys as the WXOPEN_* names, lowercase, without the prefix).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// `sqlite:PATH` or `dynamodb:TABLE`, over WXOPEN_STORE.
    #[arg(long)]
    pub store: Option<String>,
}

/// One check's result: what is fine, or what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Fix,
    /// Not checked: an earlier check it needs failed.
    Skipped,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Fix => "FIX ",
            Verdict::Skipped => "--  ",
        };
        write!(f, "{mark} {:<16} {}", self.check, self.detail)
    }
}

fn ok(check: &'static str, detail: impl Into<String>) -> Finding {
    Finding {
        check,
        verdict: Verdict::Ok,
        detail: detail.into(),
    }
}

fn fix(check: &'static str, detail: impl Into<String>) -> Finding {
    Finding {
        check,
        verdict: Verdict::Fix,
        detail: detail.into(),
    }
}

fn skipped(check: &'static str, because: &str) -> Finding {
    Finding {
        check,
        verdict: Verdict::Skipped,
        detail: format!("not checked: {because}"),
    }
}

pub async fn run(args: DoctorArgs) -> Result<(), String> {
    let config = Config::load(args.config.as_deref()).and_then(|mut config| {
        if let Some(spec) = &args.store {
            config.store = StoreSpec::parse(spec).map_err(|e| wxopen::config::ConfigError {
                problems: vec![format!("--store: {e}")],
            })?;
        }
        Ok(config)
    });
    let findings = match config {
        Ok(config) => diagnose(&config, SystemClock.now()).await,
        Err(error) => error
            .problems
            .into_iter()
            .map(|problem| fix("settings", problem))
            .collect(),
    };
    for finding in &findings {
        println!("{finding}");
    }
    let failed = findings.iter().filter(|f| f.verdict != Verdict::Ok).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(format!(
            "{failed} check(s) need attention (lines marked FIX, or not checked because of them)"
        ))
    }
}

/// Every check of a valid configuration, in order; a check whose prerequisite
/// failed is reported as skipped.
pub async fn diagnose(config: &Config, now: u64) -> Vec<Finding> {
    let mut findings = vec![ok(
        "settings",
        format!(
            "valid for component {} (WeChat at {})",
            config.component_appid, config.wechat_api_base
        ),
    )];
    let store = check_store(config, &mut findings).await;
    let ticket_fresh = match &store {
        Some(store) => check_ticket(store.as_ref(), config, now, &mut findings).await,
        None => {
            findings.push(skipped("ticket", "the store is not readable"));
            false
        }
    };
    let wechat = match WechatClient::new(WechatConfig {
        base_url: config.wechat_api_base.clone(),
        timeout: CHECK_TIMEOUT,
        ..WechatConfig::default()
    }) {
        Ok(client) => Some(client),
        Err(e) => {
            findings.push(fix("wechat", format!("cannot build a WeChat client: {e}")));
            None
        }
    };
    let secret_accepted = match &wechat {
        Some(client) => check_wechat(client, config, &mut findings).await,
        None => false,
    };
    match (&store, &wechat) {
        (Some(store), Some(client)) => {
            check_component_token(
                store.as_ref(),
                client,
                config,
                now,
                ticket_fresh && secret_accepted,
                &mut findings,
            )
            .await
        }
        _ => findings.push(skipped(
            "component token",
            "the store or the WeChat client is not available",
        )),
    }
    findings.push(check_public_url(&config.public_url).await);
    findings
}

/// Opens the store without creating anything, checks a DynamoDB table's
/// schema, and reads one record to prove access.
async fn check_store(
    config: &Config,
    findings: &mut Vec<Finding>,
) -> Option<std::sync::Arc<dyn StateStore>> {
    let target = Target {
        component_appid: config.component_appid.clone(),
        store: config.store.clone(),
    };
    let store = match crate::admin::open_store(&target, Some(config.data_keys.clone())).await {
        Ok(store) => store,
        Err(e) => {
            findings.push(fix("store", e));
            return None;
        }
    };
    if let StoreSpec::Dynamodb(table) = &config.store {
        let client = dynamo::DynamoStore::from_env(table, &config.component_appid).await;
        if let Err(problem) = dynamodb_schema(client.client(), table).await {
            findings.push(fix("store", problem));
            return None;
        }
    }
    match store.get_component_token().await {
        Ok(_) => {
            let schema = match &config.store {
                StoreSpec::Dynamodb(_) => "; keys, indexes, stream and TTL as the template creates",
                StoreSpec::Sqlite(_) => "",
            };
            findings.push(ok("store", format!("{} readable{schema}", config.store)));
            Some(store)
        }
        Err(e) => {
            findings.push(fix(
                "store",
                format!(
                    "{} could not be read ({}): check the credentials and permissions",
                    config.store,
                    crate::admin::error_chain(&e)
                ),
            ));
            None
        }
    }
}

/// The table as `template.yaml` (and `dynamo::create_table`) makes it, or
/// what differs, in words.
async fn dynamodb_schema(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), String> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| {
            let text = crate::admin::error_chain(&e);
            if text.contains("ResourceNotFound") {
                format!("table {table} does not exist: deploy the stack, or set WXOPEN_STORE to its TableName output")
            } else {
                format!("DynamoDB is not reachable for table {table} ({text}): check AWS credentials, region and AWS_ENDPOINT_URL_DYNAMODB")
            }
        })?;
    let Some(description) = described.table() else {
        return Err(format!("DescribeTable returned no description of {table}"));
    };
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
        schema
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect()
    };
    let expect = |pk: &str, sk: &str| {
        vec![
            (pk.to_owned(), "HASH".to_owned()),
            (sk.to_owned(), "RANGE".to_owned()),
        ]
    };
    if keys(description.key_schema()) != expect(dynamo::TABLE_KEY_PK, dynamo::TABLE_KEY_SK) {
        return Err(format!(
            "table {table} is not keyed by {}/{}: it is not a wxopen table",
            dynamo::TABLE_KEY_PK,
            dynamo::TABLE_KEY_SK
        ));
    }
    for (index, pk, sk) in [
        (dynamo::GSI_NAME, dynamo::GSI_KEY_PK, dynamo::GSI_KEY_SK),
        (
            dynamo::TENANT_INDEX_NAME,
            dynamo::TENANT_INDEX_PK,
            dynamo::TENANT_INDEX_SK,
        ),
    ] {
        let found = description
            .global_secondary_indexes()
            .iter()
            .find(|g| g.index_name() == Some(index));
        match found {
            Some(g) if keys(g.key_schema()) == expect(pk, sk) => {}
            Some(_) => {
                return Err(format!(
                    "index {index} of table {table} is not keyed by {pk}/{sk}: update the stack"
                ))
            }
            None => {
                return Err(format!(
                    "table {table} has no index {index}: update the stack (template.yaml)"
                ))
            }
        }
    }
    let stream = description.stream_specification();
    let view = stream
        .and_then(|s| s.stream_view_type())
        .map(|v| v.as_str().to_owned());
    if stream.map(|s| s.stream_enabled()) != Some(true)
        || view.as_deref() != Some(dynamo::STREAM_VIEW_TYPE)
    {
        return Err(format!(
            "table {table} has no {} stream: the send worker would never see new chunks",
            dynamo::STREAM_VIEW_TYPE
        ));
    }
    let ttl = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| {
            format!(
                "reading the TTL of table {table}: {}",
                crate::admin::error_chain(&e)
            )
        })?;
    let ttl = ttl.time_to_live_description();
    let enabled = ttl
        .and_then(|t| t.time_to_live_status())
        .is_some_and(|s| matches!(s.as_str(), "ENABLED" | "ENABLING"));
    if !enabled || ttl.and_then(|t| t.attribute_name()) != Some(dynamo::TTL_ATTRIBUTE) {
        return Err(format!(
            "table {table} has no TTL on {}: expired records would never be deleted",
            dynamo::TTL_ATTRIBUTE
        ));
    }
    Ok(())
}

/// Whether the newest ticket is recent; what to do when it is not.
async fn check_ticket(
    store: &dyn StateStore,
    config: &Config,
    now: u64,
    findings: &mut Vec<Finding>,
) -> bool {
    let push_url = format!("{}/wechat/component/events", config.public_url);
    match store.get_ticket(now).await {
        Ok(Some(ticket)) => {
            let age = now.saturating_sub(ticket.stored_at);
            if age <= TICKET_ALARM_AGE_SECS {
                findings.push(ok("ticket", format!("received {} ago", duration(age))));
                true
            } else {
                findings.push(fix(
                    "ticket",
                    format!(
                        "the newest ticket is {} old (WeChat pushes one every 10 min): register {push_url} as the \
                         authorization-event URL, and check WXOPEN_MESSAGE_TOKEN and WXOPEN_ENCODING_AES_KEY",
                        duration(age)
                    ),
                ));
                false
            }
        }
        Ok(None) => {
            findings.push(fix(
                "ticket",
                format!(
                    "no ticket stored: register {push_url} as the authorization-event URL on the open platform, \
                     and check WXOPEN_MESSAGE_TOKEN and WXOPEN_ENCODING_AES_KEY"
                ),
            ));
            false
        }
        Err(e) => {
            findings.push(fix(
                "ticket",
                format!("reading it failed: {}", crate::admin::error_chain(&e)),
            ));
            false
        }
    }
}

/// `api_start_push_ticket`: WeChat reachable, this machine's IP allowed, the
/// appid and the appsecret accepted.
async fn check_wechat(client: &WechatClient, config: &Config, findings: &mut Vec<Finding>) -> bool {
    match client
        .start_push_ticket(&config.component_appid, &config.component_secret)
        .await
    {
        Ok(()) => {
            findings.push(ok(
                "wechat",
                "reachable from this machine; appid and appsecret accepted",
            ));
            true
        }
        Err(e) => {
            findings.push(fix("wechat", wechat_advice(&e, config)));
            false
        }
    }
}

/// What a WeChat error means for the operator, in words.
fn wechat_advice(error: &WechatError, config: &Config) -> String {
    match error.errcode() {
        Some(61004) => "WeChat refused this machine's IP address (61004): add its outbound IP to the \
                        platform's IP whitelist (开发配置 → 白名单) on the open platform"
            .to_owned(),
        Some(40125 | 41004) => format!(
            "WeChat rejected the appsecret ({}): set WXOPEN_COMPONENT_SECRET to the platform's current appsecret",
            error.errcode().unwrap_or_default()
        ),
        Some(61011) => format!(
            "WeChat does not know component appid {} (61011): check WXOPEN_COMPONENT_APPID",
            config.component_appid
        ),
        Some(code) => format!("WeChat answered errcode {code}: {error}"),
        None => format!(
            "WeChat at {} is not reachable from this machine ({error}): check the network and WXOPEN_WECHAT_API_BASE",
            config.wechat_api_base
        ),
    }
}

/// The stored token (accepted by WeChat on a read-only call when present),
/// and whether a renewal could succeed now.
async fn check_component_token(
    store: &dyn StateStore,
    client: &WechatClient,
    config: &Config,
    now: u64,
    renewable: bool,
    findings: &mut Vec<Finding>,
) {
    let stored = match store.get_component_token().await {
        Ok(state) => state
            .access_token
            .filter(|_| state.expires_at > now)
            .map(|token| (token, state.expires_at - now)),
        Err(e) => {
            findings.push(fix(
                "component token",
                format!("reading it failed: {}", crate::admin::error_chain(&e)),
            ));
            return;
        }
    };
    let in_use = match &stored {
        Some((token, left)) => match accepted(client, config, token).await {
            Ok(()) => format!(
                "the stored one is valid for {} and WeChat accepts it",
                duration(*left)
            ),
            Err(e) => {
                findings.push(fix(
                    "component token",
                    format!(
                        "WeChat refused the stored token ({}); the next refresh renews it",
                        wechat_advice(&e, config)
                    ),
                ));
                return;
            }
        },
        None => "none stored yet".to_owned(),
    };
    if renewable {
        findings.push(ok("component token", format!("renewable; {in_use}")));
    } else {
        findings.push(fix(
            "component token",
            format!("not renewable until the ticket and wechat lines above are fixed; {in_use}"),
        ));
    }
}

/// A read-only call with the stored token: one page of one authorizer.
async fn accepted(
    client: &WechatClient,
    config: &Config,
    token: &Secret,
) -> Result<(), WechatError> {
    client
        .authorizer_list(token, &config.component_appid, 0, 1)
        .await
        .map(|_| ())
}

/// `GET {public_url}/healthz` answers wxopen's `{"status":"ok"}`.
async fn check_public_url(public_url: &str) -> Finding {
    let url = format!("{public_url}/healthz");
    let client = match reqwest_client() {
        Ok(c) => c,
        Err(e) => return fix("public URL", format!("cannot build an HTTP client: {e}")),
    };
    let response = match client.get(&url).send().await {
        Ok(r) => r,
        Err(e) => {
            return fix(
                "public URL",
                format!(
                    "{url} is not reachable ({}): point WXOPEN_PUBLIC_URL's domain at the API (the ApiEndpoint output)",
                    e.without_url()
                ),
            )
        }
    };
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() && body["status"] == "ok" {
        ok("public URL", format!("{url} answers"))
    } else {
        fix(
            "public URL",
            format!("{url} answered {status}, not wxopen's health check: the domain does not route to wxopen"),
        )
    }
}

fn reqwest_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(CHECK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use wxopen::wechat::paths;
    use wxopen_sim::{SimHandle, Simulator};

    /// A configuration as an operator would have it, pointing at a running
    /// simulator and a running wxopen (its public URL), on SQLite.
    struct Deployed {
        sim: SimHandle,
        config: Config,
        store: Arc<dyn StateStore>,
        _dir: tempfile::TempDir,
    }

    async fn deployed() -> Deployed {
        wxopen::telemetry::set_metric_sink(wxopen::telemetry::MetricSink::Off);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let sim = Simulator::start(
            crate::sandbox::sim_config(&url),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::parse(&format!(
            "sqlite:{}",
            dir.path().join("wxopen.db").display()
        ))
        .unwrap();
        let config = crate::sandbox::config(&spec, &sim.base_url(), &url, addr).unwrap();
        let StoreSpec::Sqlite(path) = &config.store else {
            unreachable!()
        };
        let store: Arc<dyn StateStore> = Arc::new(
            wxopen::store::sqlite::SqliteStore::open(path, &config.component_appid).unwrap(),
        );
        let app = wxopen::app::App::build(
            config.clone(),
            store.clone(),
            Arc::new(crate::sandbox::SimClock(sim.clone())),
            None,
        )
        .unwrap();
        tokio::spawn(wxopen::local::serve(
            listener,
            app.clone(),
            None,
            wxopen::local::ServeLimits::default(),
            std::future::pending(),
        ));
        assert!(sim.push_ticket().await.delivered);
        wxopen::service::refresh::run(&app).await.unwrap();
        Deployed {
            sim,
            config,
            store,
            _dir: dir,
        }
    }

    fn verdicts(findings: &[Finding]) -> Vec<(&'static str, Verdict)> {
        findings.iter().map(|f| (f.check, f.verdict)).collect()
    }

    fn line(findings: &[Finding], check: &str) -> String {
        findings
            .iter()
            .find(|f| f.check == check)
            .map(|f| f.to_string())
            .unwrap_or_else(|| panic!("no {check} line in {findings:?}"))
    }

    #[tokio::test]
    async fn a_working_configuration_passes_every_check_and_renews_nothing() {
        let d = deployed().await;
        let token_before = d.store.get_component_token().await.unwrap();
        let issued_before = d.sim.calls_to(paths::COMPONENT_TOKEN).len();

        let findings = diagnose(&d.config, d.sim.now()).await;

        assert_eq!(
            verdicts(&findings),
            vec![
                ("settings", Verdict::Ok),
                ("store", Verdict::Ok),
                ("ticket", Verdict::Ok),
                ("wechat", Verdict::Ok),
                ("component token", Verdict::Ok),
                ("public URL", Verdict::Ok),
            ],
            "{findings:#?}"
        );
        assert!(line(&findings, "component token").contains("WeChat accepts it"));
        // Nothing renewed: the stored token and WeChat's count of issued ones are as before.
        let token_after = d.store.get_component_token().await.unwrap();
        assert_eq!(token_after.version, token_before.version);
        assert_eq!(token_after.access_token, token_before.access_token);
        assert_eq!(d.sim.calls_to(paths::COMPONENT_TOKEN).len(), issued_before);
    }

    #[tokio::test]
    async fn a_wrong_secret_is_named_without_its_value() {
        let d = deployed().await;
        let mut config = d.config.clone();
        config.component_secret = Secret::new("not-the-platform-secret-0123456789");

        let findings = diagnose(&config, d.sim.now()).await;

        let wechat = line(&findings, "wechat");
        assert!(wechat.starts_with("FIX"), "{wechat}");
        assert!(
            wechat.contains("appsecret") && wechat.contains("40125"),
            "{wechat}"
        );
        assert!(wechat.contains("WXOPEN_COMPONENT_SECRET"), "{wechat}");
        assert!(line(&findings, "component token").starts_with("FIX"));
        // What does not depend on the secret still passes.
        assert!(line(&findings, "ticket").starts_with("ok"));
        let all = format!("{findings:?}");
        assert!(!all.contains("not-the-platform-secret"), "{all}");
    }

    #[tokio::test]
    async fn an_unreachable_store_and_a_url_that_is_not_wxopen_get_their_lines() {
        let d = deployed().await;
        let mut config = d.config.clone();
        config.store = StoreSpec::parse("sqlite:/nonexistent-folder/wxopen.db").unwrap();
        config.public_url = d.sim.base_url();

        let findings = diagnose(&config, d.sim.now()).await;

        let store = line(&findings, "store");
        assert!(
            store.starts_with("FIX") && store.contains("no database at"),
            "{store}"
        );
        assert!(line(&findings, "ticket").starts_with("--"));
        assert!(line(&findings, "component token").starts_with("--"));
        let public = line(&findings, "public URL");
        assert!(
            public.starts_with("FIX") && public.contains("not wxopen"),
            "{public}"
        );
        // Nothing was created where the store was supposed to be.
        assert!(!std::path::Path::new("/nonexistent-folder").exists());
    }

    #[tokio::test]
    async fn a_dynamodb_table_is_checked_against_the_template_schema_and_never_created() {
        if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() {
            panic!("needs a DynamoDB-compatible server: run scripts/test (it starts moto_server)");
        }
        let table = format!("wxopen-doctor-{}", std::process::id());
        let store = dynamo::DynamoStore::from_env(&table, "wxdoctor00000001").await;
        let missing = dynamodb_schema(store.client(), &table).await.unwrap_err();
        assert!(missing.contains("does not exist"), "{missing}");
        assert!(
            store
                .client()
                .describe_table()
                .table_name(&table)
                .send()
                .await
                .is_err(),
            "doctor created the table"
        );
        dynamo::create_table(store.client(), &table).await.unwrap();
        assert_eq!(dynamodb_schema(store.client(), &table).await, Ok(()));
    }
}
