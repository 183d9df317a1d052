//! `wxopen-sim` / `wxopen sim`: run the simulator alone and print how to point wxopen at it.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::config::SimConfig;
use crate::handle::{SimError, SimHandle, Simulator};

/// Command-line options of the simulator.
#[derive(Debug, Clone)]
pub struct CliOptions {
    pub listen: SocketAddr,
    /// A TOML file; the sandbox configuration when absent.
    pub config: Option<String>,
    pub component_push_url: Option<String>,
    pub authorizer_push_url: Option<String>,
}

impl Default for CliOptions {
    fn default() -> Self {
        CliOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            config: None,
            component_push_url: None,
            authorizer_push_url: None,
        }
    }
}

pub const USAGE: &str = "usage: wxopen-sim [--listen 127.0.0.1:9090] [--config sim.toml] \
[--component-push-url URL] [--authorizer-push-url URL-with-$APPID$]";

impl CliOptions {
    /// Parse arguments (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, SimError> {
        let mut opts = CliOptions::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| SimError::Usage(format!("{name} needs a value\n{USAGE}")))
            };
            match arg.as_str() {
                "--listen" => {
                    let v = value("--listen")?;
                    opts.listen = v
                        .parse()
                        .map_err(|_| SimError::Usage(format!("--listen {v:?} is not host:port")))?;
                }
                "--config" => opts.config = Some(value("--config")?),
                "--component-push-url" => {
                    opts.component_push_url = Some(value("--component-push-url")?)
                }
                "--authorizer-push-url" => {
                    opts.authorizer_push_url = Some(value("--authorizer-push-url")?)
                }
                "-h" | "--help" => return Err(SimError::Usage(USAGE.into())),
                other => {
                    return Err(SimError::Usage(format!(
                        "unknown argument {other:?}\n{USAGE}"
                    )))
                }
            }
        }
        Ok(opts)
    }

    /// The configuration these options select.
    pub fn sim_config(&self) -> Result<SimConfig, SimError> {
        let mut cfg = match &self.config {
            Some(path) => SimConfig::from_toml_file(path)?,
            None => SimConfig::sandbox(),
        };
        if let Some(url) = &self.component_push_url {
            cfg.component.component_push_url = Some(url.clone());
        }
        if let Some(url) = &self.authorizer_push_url {
            cfg.component.authorizer_push_url = Some(url.clone());
        }
        Ok(cfg)
    }
}

/// What a person needs to configure wxopen against a running simulator. It includes the
/// component secret and keys on purpose: they only open this simulator.
pub fn banner(sim: &SimHandle) -> String {
    let cfg = sim.config();
    let c = &cfg.component;
    let base = sim.base_url();
    let mut out = String::new();
    let _ = writeln!(out, "WeChat simulator listening on {base}");
    let _ = writeln!(out, "  WeChat API base:        {base}");
    let _ = writeln!(
        out,
        "  authorization page:     {base}/cgi-bin/componentloginpage"
    );
    let _ = writeln!(out, "  admin:                  {base}/_sim/state");
    let _ = writeln!(out, "  component appid:        {}", c.appid);
    let _ = writeln!(out, "  component secret:       {}", c.secret.expose());
    let _ = writeln!(out, "  message token:          {}", c.token.expose());
    let _ = writeln!(
        out,
        "  EncodingAESKey:         {}",
        c.encoding_aes_key.expose()
    );
    for a in &cfg.accounts {
        let _ = writeln!(
            out,
            "  account {} ({}): {} followers, templates {}",
            a.appid,
            a.nick_name,
            a.followers.len(),
            a.templates
                .iter()
                .map(|t| t.template_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out
}

/// Run the simulator until Ctrl-C, printing its banner.
pub async fn run(opts: CliOptions) -> Result<(), SimError> {
    let cfg = opts.sim_config()?;
    let push_configured = cfg.component.component_push_url.is_some();
    let sim = Simulator::start(cfg, opts.listen).await?;
    println!("{}", banner(&sim));
    if push_configured {
        // Give our server a ticket right away instead of after the first 10 minutes.
        let out = sim.push_ticket().await;
        println!(
            "first component_verify_ticket push delivered: {}",
            out.delivered
        );
    }
    let _ = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    Ok(())
}

/// Parse `args` (without the program name) and run.
pub async fn run_cli(args: impl IntoIterator<Item = String>) -> Result<(), SimError> {
    run(CliOptions::parse(args)?).await
}
