//! `wxopen serve`: every route of the four HTTP functions on one listener (the
//! same `wxopen::http` handlers the Lambdas use), the refresh timer and the
//! send worker; `--sandbox` adds the simulator and configures itself against it.

use crate::background::Background;
use crate::sandbox;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use wxopen::app::App;
use wxopen::config::{Config, StoreSpec};
use wxopen::local::ServeLimits;
use wxopen::startup::{build_app, open_store};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Start the WeChat simulator too and run against it.
    #[arg(long)]
    pub sandbox: bool,
    /// Address to listen on [env: WXOPEN_LISTEN; default 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// `sqlite:PATH` or `dynamodb:TABLE` [env: WXOPEN_STORE; default sqlite:wxopen.db].
    #[arg(long)]
    pub store: Option<String>,
    /// TOML settings file (keys as the WXOPEN_* names, lowercase, without the prefix).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where the sandbox simulator listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub sim_listen: SocketAddr,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = ServeLimits::default().max_connections)]
    pub max_connections: usize,
    /// Seconds a client has to send a request head (and an idle keep-alive connection stays open).
    #[arg(long, value_name = "SECS", default_value_t = ServeLimits::default().header_timeout.as_secs())]
    pub header_timeout: u64,
    /// Seconds a client has to send a body, plus one per 64 KiB of it.
    #[arg(long, value_name = "SECS", default_value_t = ServeLimits::default().body_grace.as_secs())]
    pub body_timeout: u64,
    /// MiB of request bodies over 64 KiB held at once; more are answered 503.
    #[arg(long, value_name = "MIB", default_value_t = ServeLimits::default().large_body_memory >> 20)]
    pub body_memory: usize,
}

impl ServeArgs {
    fn limits(&self) -> ServeLimits {
        ServeLimits {
            max_connections: self.max_connections,
            header_timeout: Duration::from_secs(self.header_timeout),
            body_grace: Duration::from_secs(self.body_timeout),
            large_body_memory: self.body_memory.saturating_mul(1 << 20),
            ..ServeLimits::default()
        }
    }
}

pub async fn run(args: ServeArgs) -> Result<(), String> {
    wxopen::telemetry::init();
    if args.sandbox {
        run_sandbox(args).await
    } else {
        run_configured(args).await
    }
}

/// Against the configured WeChat (the real one by default).
async fn run_configured(args: ServeArgs) -> Result<(), String> {
    let mut config = Config::load(args.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(spec) = &args.store {
        config.store = StoreSpec::parse(spec).map_err(|e| format!("--store: {e}"))?;
    }
    let limits = args.limits();
    let listener = bind(config.listen).await?;
    let url = format!("http://{}", local_addr(&listener)?);
    let store = config.store.clone();
    let public_url = config.public_url.clone();
    let app = build_app(config)
        .await
        .map_err(|e| crate::admin::error_chain(&e))?;
    println!("wxopen URL: {url}");
    println!("Public URL: {public_url}");
    println!("Store: {store}");
    Server::start(app, listener, limits)
        .run_until_ctrl_c()
        .await
}

/// Against an in-process simulator.
async fn run_sandbox(args: ServeArgs) -> Result<(), String> {
    if args.config.is_some() {
        return Err(
            "--config is not used with --sandbox (the simulator supplies the credentials)"
                .to_owned(),
        );
    }
    let listen = match args.listen {
        Some(listen) => listen,
        None => std::env::var("WXOPEN_LISTEN")
            .unwrap_or_else(|_| "127.0.0.1:8080".to_owned())
            .parse()
            .map_err(|_| "WXOPEN_LISTEN must be an address like 127.0.0.1:8080".to_owned())?,
    };
    let store_spec = args
        .store
        .clone()
        .or_else(|| std::env::var("WXOPEN_STORE").ok())
        .unwrap_or_else(|| "sqlite:wxopen.db".to_owned());
    let store_spec = StoreSpec::parse(&store_spec).map_err(|e| format!("store: {e}"))?;
    let listener = bind(listen).await?;
    let addr = local_addr(&listener)?;
    let url = format!("http://{addr}");
    let sim = wxopen_sim::Simulator::start(sandbox::sim_config(&url), args.sim_listen)
        .await
        .map_err(|e| crate::admin::error_chain(&e))?;
    let config =
        sandbox::config(&store_spec, &sim.base_url(), &url, addr).map_err(|e| e.to_string())?;
    let store = open_store(&config)
        .await
        .map_err(|e| crate::admin::error_chain(&e))?;
    let app = App::build(
        config,
        store,
        Arc::new(sandbox::SimClock(sim.clone())),
        None,
    )
    .map_err(|e| crate::admin::error_chain(&e))?;
    let ticket = sandbox::first_ticket(&app, &sim, &url).await;
    let server = Server::start(app.clone(), listener, args.limits());
    if !ticket.delivered {
        tracing::warn!("the first component_verify_ticket push was not accepted; the simulator retries every 10 minutes");
    }
    let prepared = async {
        let key = sandbox::create_key(&app).await?;
        let link = sandbox::create_link(&app, &key).await?;
        Ok::<_, String>((key, link))
    }
    .await;
    let outcome = match prepared {
        Ok((key, link)) => {
            print!("{}", sandbox::banner(&url, &sim, &store_spec, &key, &link));
            server.run_until_ctrl_c().await
        }
        Err(e) => {
            server.stop().await;
            Err(e)
        }
    };
    sim.shutdown().await;
    outcome
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, String> {
    listener
        .local_addr()
        .map_err(|e| format!("listener address: {e}"))
}

/// The HTTP listener and the background tasks of one process.
struct Server {
    http: tokio::task::JoinHandle<()>,
    stop_http: tokio::sync::oneshot::Sender<()>,
    background: Background,
}

impl Server {
    fn start(app: App, listener: TcpListener, limits: ServeLimits) -> Server {
        let owner = format!("serve:{}:{}", std::process::id(), app.now());
        let background = Background::start(app.clone(), owner);
        let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
        let http = tokio::spawn(wxopen::local::serve(listener, app, None, limits, async {
            let _ = stopped.await;
        }));
        Server {
            http,
            stop_http,
            background,
        }
    }

    /// Serves until Ctrl-C (SIGINT) or SIGTERM, then stops cleanly.
    async fn run_until_ctrl_c(self) -> Result<(), String> {
        shutdown_signal().await?;
        eprintln!("shutting down: finishing or releasing in-flight chunks");
        self.stop().await;
        Ok(())
    }

    /// Stops accepting requests, lets in-flight ones finish (sends whose
    /// clients left included), stops the timer and the worker (releasing
    /// chunks it could not finish).
    async fn stop(self) {
        let _ = self.stop_http.send(());
        let (_, served) = tokio::join!(self.background.shutdown(), self.http);
        if let Err(error) = served {
            tracing::warn!(error = %error, "the HTTP server task failed");
        }
    }
}

#[cfg(unix)]
async fn shutdown_signal() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())
        .map_err(|e| format!("installing the SIGTERM handler: {e}"))?;
    tokio::select! {
        signal = tokio::signal::ctrl_c() => signal.map_err(|e| format!("waiting for Ctrl-C: {e}")),
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() -> Result<(), String> {
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("waiting for Ctrl-C: {e}"))
}
