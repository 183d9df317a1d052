//! What admin commands act on: the store of one component, found from the
//! same settings `serve` reads (environment over an optional TOML file), or
//! the sandbox component with `--sandbox`. Only the component appid and the
//! store are needed, so admin commands work without the secrets.

use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wxopen::config::StoreSpec;
use wxopen::store::StateStore;

/// Where an admin command looks.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// TOML settings file (keys as the WXOPEN_* names, lowercase, without the prefix).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// `sqlite:PATH` or `dynamodb:TABLE` [env: WXOPEN_STORE; default sqlite:wxopen.db].
    #[arg(long)]
    pub store: Option<String>,
    /// Act on the sandbox component that `serve --sandbox` uses.
    #[arg(long)]
    pub sandbox: bool,
}

/// The component appid and store an admin command acts on.
pub struct Target {
    pub component_appid: String,
    pub store: StoreSpec,
}

impl TargetArgs {
    /// Flags over environment over file.
    pub fn resolve(&self) -> Result<Target, String> {
        let mut settings = match &self.config {
            Some(path) => file_settings(path)?,
            None => BTreeMap::new(),
        };
        for name in ["WXOPEN_COMPONENT_APPID", "WXOPEN_STORE"] {
            if let Ok(value) = std::env::var(name) {
                settings.insert(name.to_owned(), value);
            }
        }
        let component_appid = if self.sandbox {
            wxopen_sim::sandbox::COMPONENT_APPID.to_owned()
        } else {
            settings.get("WXOPEN_COMPONENT_APPID").cloned().ok_or(
                "WXOPEN_COMPONENT_APPID is not set (or pass --sandbox for the sandbox component)",
            )?
        };
        let spec = self
            .store
            .clone()
            .or_else(|| settings.get("WXOPEN_STORE").cloned())
            .unwrap_or_else(|| "sqlite:wxopen.db".to_owned());
        let store = StoreSpec::parse(&spec).map_err(|e| format!("store: {e}"))?;
        Ok(Target {
            component_appid,
            store,
        })
    }
}

/// `component_appid` and `store` from a TOML settings file, as WXOPEN_* names.
fn file_settings(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("config file {}: {}", path.display(), e.message()))?;
    Ok(["component_appid", "store"]
        .into_iter()
        .filter_map(|key| {
            let value = table.get(key)?.as_str()?;
            Some((
                format!("WXOPEN_{}", key.to_ascii_uppercase()),
                value.to_owned(),
            ))
        })
        .collect())
}

/// Opens the target's store (no table is created: it must exist).
pub async fn open_store(target: &Target) -> Result<Arc<dyn StateStore>, String> {
    if let StoreSpec::Sqlite(path) = &target.store {
        if !path.exists() {
            return Err(format!(
                "no database at {} (start `wxopen serve` first, or pass --store)",
                path.display()
            ));
        }
    }
    match &target.store {
        StoreSpec::Sqlite(path) => {
            let store = wxopen::store::sqlite::SqliteStore::open(path, &target.component_appid)
                .map_err(|e| format!("opening {}: {e}", target.store))?;
            Ok(Arc::new(store))
        }
        StoreSpec::Dynamodb(table) => Ok(Arc::new(
            wxopen::store::dynamo::DynamoStore::from_env(table, &target.component_appid).await,
        )),
    }
}

/// The full configuration (as `serve` reads it, or the sandbox's) and an app
/// over its store, for commands that act through the services.
pub async fn app(target: &TargetArgs) -> Result<wxopen::app::App, String> {
    let mut config = if target.sandbox {
        let resolved = target.resolve()?;
        crate::sandbox::config(
            &resolved.store,
            "http://127.0.0.1:9090",
            "http://127.0.0.1:8080",
            "127.0.0.1:8080".parse().map_err(|_| "listen address")?,
        )
        .map_err(|e| e.to_string())?
    } else {
        wxopen::config::Config::load(target.config.as_deref()).map_err(|e| e.to_string())?
    };
    if let Some(spec) = &target.store {
        config.store = StoreSpec::parse(spec).map_err(|e| format!("--store: {e}"))?;
    }
    if let StoreSpec::Sqlite(path) = &config.store {
        if !path.exists() {
            return Err(format!(
                "no database at {} (start `wxopen serve` first, or pass --store)",
                path.display()
            ));
        }
    }
    wxopen::startup::build_app(config)
        .await
        .map_err(|e| error_chain(&e))
}

pub use wxopen::startup::error_chain;

/// `wxopen keys …` (needs the full configuration, or `--sandbox`).
#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(subcommand)]
    pub action: KeysAction,
}

#[derive(Subcommand, Debug)]
pub enum KeysAction {
    /// Create a key; it is printed once and stored only as its SHA-256.
    Create {
        /// Tenants the key may act for: `*` for all, or `a,b`.
        #[arg(long)]
        tenant: String,
        /// Scopes: `send`, `token:read`, `proxy`, `admin`, comma-separated.
        #[arg(long, default_value = "send")]
        scope: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys: prefix, tenants, scopes, label, revoked (never the key).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its prefix (as `keys list` shows it) or its hash.
    Revoke { prefix: String },
}

/// Runs a `keys` command.
pub async fn keys(args: KeysArgs) -> Result<(), String> {
    use wxopen::service::keys as service;
    let app = app(&args.target).await?;
    match args.action {
        KeysAction::Create {
            tenant,
            scope,
            label,
        } => {
            let tenants = service::parse_tenant_scope(&tenant).map_err(|e| e.to_string())?;
            let scopes = service::parse_scopes(&scope).map_err(|e| e.to_string())?;
            let (key, record) = service::create_key(&app, tenants, scopes, label)
                .await
                .map_err(|e| error_chain(&e))?;
            println!("API key: {key}");
            println!(
                "(shown once; stored only as its SHA-256; listed as {})",
                record.prefix
            );
        }
        KeysAction::List { json } => {
            let keys = service::list_keys(&app)
                .await
                .map_err(|e| error_chain(&e))?;
            let rows: Vec<_> = keys.iter().map(key_row).collect();
            if json {
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for k in &keys {
                    let state = if k.revoked { "revoked" } else { "active" };
                    println!(
                        "{}  tenants={}  scopes={}  {state}  {}",
                        k.prefix,
                        tenants_text(&k.tenants),
                        k.scopes.join(","),
                        k.label.as_deref().unwrap_or("")
                    );
                }
            }
        }
        KeysAction::Revoke { prefix } => {
            let key = service::revoke_key(&app, &prefix)
                .await
                .map_err(|e| error_chain(&e))?;
            println!("revoked {}", key.prefix);
        }
    }
    Ok(())
}

fn tenants_text(scope: &wxopen::store::TenantScope) -> String {
    match scope {
        wxopen::store::TenantScope::All => "*".to_owned(),
        wxopen::store::TenantScope::Only(list) => list.join(","),
    }
}

fn key_row(k: &wxopen::store::ApiKey) -> serde_json::Value {
    serde_json::json!({
        "prefix": k.prefix,
        "tenants": tenants_text(&k.tenants),
        "scopes": k.scopes,
        "label": k.label,
        "created_at": k.created_at,
        "revoked": k.revoked,
    })
}
