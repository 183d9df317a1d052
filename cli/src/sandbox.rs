//! `serve --sandbox`: the WeChat simulator in the same process, wxopen
//! configured against it, a sandbox API key and an authorization link, and the
//! lines a person pastes to try it. Printed lines start with a fixed label
//! (`API key: `, `Authorization link: `, …) so scripts can read them too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use wxopen::app::App;
use wxopen::clock::Clock;
use wxopen::config::{Config, ConfigError, StoreSpec};
use wxopen::http::Function;
use wxopen_sim::{sandbox, SimConfig, SimHandle};

/// The tenant the sandbox link binds accounts to.
pub const SANDBOX_TENANT: &str = "sandbox";

/// wxopen reads the simulator's virtual clock, so moving it (from the
/// simulator's admin routes) expires tokens on both sides alike.
pub struct SimClock(pub SimHandle);

impl Clock for SimClock {
    fn now(&self) -> u64 {
        self.0.now()
    }
}

/// The sandbox configuration: the simulator's component credentials, its API
/// base, our public URL; other settings (chunk size, …) from the environment.
pub fn config(
    store: &StoreSpec,
    sim_base: &str,
    public_url: &str,
    listen: SocketAddr,
) -> Result<Config, ConfigError> {
    let mut settings: BTreeMap<String, String> = wxopen::startup::settings_from_env();
    let fixed = [
        (
            "WXOPEN_COMPONENT_APPID",
            sandbox::COMPONENT_APPID.to_owned(),
        ),
        (
            "WXOPEN_COMPONENT_SECRET",
            sandbox::COMPONENT_SECRET.to_owned(),
        ),
        ("WXOPEN_MESSAGE_TOKEN", sandbox::MESSAGE_TOKEN.to_owned()),
        (
            "WXOPEN_ENCODING_AES_KEY",
            sandbox::ENCODING_AES_KEY.to_owned(),
        ),
        ("WXOPEN_WECHAT_API_BASE", sim_base.to_owned()),
        ("WXOPEN_PUBLIC_URL", public_url.to_owned()),
        ("WXOPEN_STORE", store.to_string()),
        ("WXOPEN_LISTEN", listen.to_string()),
        // Webhooks to a receiver on this machine (http://127.0.0.1:…) are the point here.
        ("WXOPEN_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
    ];
    settings.remove("WXOPEN_ENCODING_AES_KEY_PREVIOUS");
    for (name, value) in fixed {
        settings.insert(name.to_owned(), value);
    }
    if !settings.contains_key("WXOPEN_DATA_KEY") {
        let key = data_key(store).map_err(|problem| ConfigError {
            problems: vec![problem],
        })?;
        settings.insert("WXOPEN_DATA_KEY".to_owned(), key);
    }
    // The sandbox's own origin may be a return URL (the OAuth link the banner
    // shows comes back to it), besides any configured.
    let origins = match settings.get("WXOPEN_RETURN_URL_ORIGINS") {
        Some(list) if !list.trim().is_empty() => format!("{list},{public_url}"),
        _ => public_url.to_owned(),
    };
    settings.insert("WXOPEN_RETURN_URL_ORIGINS".to_owned(), origins);
    Config::from_map(&settings)
}

/// The sandbox's data key, unless `WXOPEN_DATA_KEY` is set: kept beside the
/// SQLite file (`<file>.data-key`, mode 0600) so a restarted sandbox, and
/// `wxopen … --sandbox`, still open the credentials it sealed. Generated on
/// first use.
fn data_key(store: &StoreSpec) -> Result<String, String> {
    let StoreSpec::Sqlite(db) = store else {
        return Err(
            "WXOPEN_DATA_KEY is not set (a sandbox on DynamoDB keeps no key file: set it)"
                .to_owned(),
        );
    };
    let path = std::path::PathBuf::from(format!("{}.data-key", db.display()));
    let fail = |e: std::io::Error| format!("sandbox data key {}: {e}", path.display());
    match std::fs::read_to_string(&path) {
        Ok(key) => return Ok(key.trim().to_owned()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
        Err(_) => {}
    }
    let key = wxopen::crypto::at_rest::DataKeys::generate_key();
    let mut options = std::fs::OpenOptions::new();
    // create_new: two sandboxes starting at once never overwrite each other's key.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, format!("{key}\n").as_bytes()).map_err(fail)?;
            file.sync_all().map_err(fail)?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(&path)
            .map(|k| k.trim().to_owned())
            .map_err(fail),
        Err(e) => Err(fail(e)),
    }
}

/// The simulator with pushes pointed at our listener.
pub fn sim_config(our_url: &str) -> SimConfig {
    let mut sim = SimConfig::sandbox();
    sim.component.component_push_url = Some(format!("{our_url}/wechat/component/events"));
    sim.component.authorizer_push_url =
        Some(format!("{our_url}/wechat/authorizers/$APPID$/events"));
    sim
}

/// Has the simulator push its first component_verify_ticket and stores it,
/// before the refresh sweep first runs, so a clean start finds a ticket
/// instead of logging a missing one. The push goes to a short-lived loopback
/// listener serving the callback routes only (the main listener is not
/// serving yet), then the simulator's pushes go back to `our_url`.
pub async fn first_ticket(app: &App, sim: &SimHandle, our_url: &str) -> wxopen_sim::PushOutcome {
    let pushes_to = |url: &str| {
        sim.set_push_urls(
            format!("{url}/wechat/component/events"),
            format!("{url}/wechat/authorizers/$APPID$/events"),
        )
    };
    let outcome = match tokio::net::TcpListener::bind(("127.0.0.1", 0)).await {
        Ok(listener) => {
            let url = listener
                .local_addr()
                .map(|addr| format!("http://{addr}"))
                .unwrap_or_default();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(wxopen::local::serve(
                listener,
                app.clone(),
                Some(Function::Callback),
                wxopen::local::ServeLimits::default(),
                async {
                    let _ = stopped.await;
                },
            ));
            pushes_to(&url);
            let outcome = sim.push_ticket().await;
            let _ = stop.send(());
            let _ = server.await;
            outcome
        }
        // No loopback port: the push goes to the main listener once it serves.
        Err(_) => {
            pushes_to(our_url);
            return sim.push_ticket().await;
        }
    };
    pushes_to(our_url);
    outcome
}

/// A sandbox API key for every tenant with every scope.
pub async fn create_key(app: &App) -> Result<String, String> {
    let (key, _) = wxopen::service::keys::create_key(
        app,
        wxopen::store::TenantScope::All,
        vec![wxopen::service::keys::SCOPE_ADMIN.to_owned()],
        Some("sandbox".to_owned()),
    )
    .await
    .map_err(|e| crate::admin::error_chain(&e))?;
    Ok(key)
}

/// An authorization link for the sandbox tenant, created through the client
/// API itself (in-process, the same handler a client would reach).
pub async fn create_link(app: &App, key: &str) -> Result<String, String> {
    let request = http::Request::builder()
        .method("POST")
        .uri("/v1/authorization-links")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(bytes::Bytes::from(
            serde_json::json!({"tenant": SANDBOX_TENANT}).to_string(),
        ))
        .map_err(|e| format!("building the link request: {e}"))?;
    let response = wxopen::http::handle(app, None, request).await;
    let status = response.status();
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
    match body.get("url").and_then(|u| u.as_str()) {
        Some(url) if status.is_success() => Ok(url.to_owned()),
        _ => Err(format!(
            "creating the authorization link answered {status}: {body}"
        )),
    }
}

/// What a person needs, ready to paste.
pub fn banner(our_url: &str, sim: &SimHandle, store: &StoreSpec, key: &str, link: &str) -> String {
    let sim_url = sim.base_url();
    let mut out = String::new();
    let _ = writeln!(out, "wxopen sandbox is ready (Ctrl-C stops it).");
    let _ = writeln!(out, "wxopen URL: {our_url}");
    let _ = writeln!(out, "Health: {our_url}/healthz");
    let _ = writeln!(out, "Simulator URL: {sim_url}");
    let _ = writeln!(out, "Simulator console: {sim_url}/_sim/state");
    let _ = writeln!(out, "Store: {store}");
    let _ = writeln!(out, "API key: {key}");
    let _ = writeln!(out, "Authorization link: {link}");
    let Some(account) = sim.config().accounts.first() else {
        return out;
    };
    let template = account
        .templates
        .first()
        .map(|t| t.template_id.as_str())
        .unwrap_or("TEMPLATE_ID");
    let openid = account
        .followers
        .first()
        .map(String::as_str)
        .unwrap_or("OPENID");
    let body = serde_json::json!({
        "template_id": template,
        "touser": [openid],
        "data": {
            "first": {"value": "Your order is on its way"},
            "keyword1": {"value": "A-1001"},
            "keyword2": {"value": "Sandbox Express"},
            "remark": {"value": "Thank you!"}
        }
    });
    let _ = writeln!(
        out,
        "Sandbox account: {} ({}); open the authorization link, pick it and approve.",
        account.appid, account.nick_name
    );
    let _ = writeln!(out, "Then send a template message:");
    let _ = writeln!(
        out,
        "curl -sS -X POST '{our_url}/v1/authorizers/{}/template-messages' -H 'Authorization: Bearer {key}' \
         -H 'Content-Type: application/json' -d '{body}'",
        account.appid
    );
    let _ = writeln!(
        out,
        "and read the job: curl -sS -H 'Authorization: Bearer {key}' '{our_url}/v1/jobs/JOB_ID'"
    );
    let _ = writeln!(
        out,
        "Receive follower messages and events: subscribe a URL (plain http and local addresses are allowed here),"
    );
    let _ = writeln!(
        out,
        "curl -sS -X POST '{our_url}/v1/webhooks' -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \
         -d '{{\"url\":\"http://127.0.0.1:9000/hook\",\"events\":[\"*\"],\"tenant\":\"{SANDBOX_TENANT}\"}}'"
    );
    let _ = writeln!(out, "make the sandbox follower write to the account,");
    let _ = writeln!(
        out,
        "curl -sS -X POST '{sim_url}/_sim/accounts/{}/messages' -H 'Content-Type: application/json' \
         -d '{{\"openid\":\"{openid}\",\"content\":\"Where is my order?\"}}'",
        account.appid
    );
    let _ = writeln!(
        out,
        "and follow the events: WXOPEN_KEY={key} wxopen events tail --url {our_url} --tenant {SANDBOX_TENANT}"
    );
    let oauth = serde_json::json!({"scope": "snsapi_userinfo", "return_url": format!("{our_url}/healthz"), "state": "try-1"});
    let _ = writeln!(
        out,
        "Identify a follower (web OAuth on the account's behalf): create an OAuth link, open its url, pick a follower and allow:"
    );
    let _ = writeln!(
        out,
        "OAuth link: curl -sS -X POST '{our_url}/v1/authorizers/{}/oauth-links' -H 'Authorization: Bearer {key}' \
         -H 'Content-Type: application/json' -d '{oauth}'",
        account.appid
    );
    let _ = writeln!(
        out,
        "then read who it was (once), with wxopen_result from the address bar: curl -sS -H 'Authorization: Bearer {key}' '{our_url}/v1/oauth-results/WXOPEN_RESULT'"
    );
    out
}
