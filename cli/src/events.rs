//! `wxopen events tail`: follows a tenant's event feed (`GET /v1/events`)
//! over the client API, one JSON line per event, as it grows.

use clap::{Args, Subcommand};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct EventsArgs {
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Subcommand, Debug)]
enum EventsCommand {
    /// Print the tenant's events as they arrive (one JSON object per line).
    Tail(TailArgs),
}

#[derive(Args, Debug)]
struct TailArgs {
    /// wxopen's base URL.
    #[arg(long, env = "WXOPEN_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An API key with scope `events` (or `admin`).
    #[arg(long, env = "WXOPEN_KEY", hide_env_values = true)]
    key: String,
    /// The tenant; needed unless the key has exactly one.
    #[arg(long)]
    tenant: Option<String>,
    /// Only this type or `prefix.*`.
    #[arg(long = "type")]
    event_type: Option<String>,
    /// Start after this cursor (default: from the oldest event kept).
    #[arg(long)]
    after: Option<String>,
}

/// How long to wait before asking again when nothing new arrived.
const POLL_EVERY: Duration = Duration::from_secs(1);

pub async fn run(args: EventsArgs) -> Result<(), String> {
    match args.command {
        EventsCommand::Tail(tail) => run_tail(tail).await,
    }
}

async fn run_tail(args: TailArgs) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!("{}/v1/events", args.url.trim_end_matches('/'));
    let mut after = args.after.clone();
    loop {
        let mut query: Vec<(&str, String)> = vec![("limit", "500".into())];
        if let Some(t) = &args.tenant {
            query.push(("tenant", t.clone()));
        }
        if let Some(t) = &args.event_type {
            query.push(("type", t.clone()));
        }
        if let Some(a) = &after {
            query.push(("after", a.clone()));
        }
        let resp = client
            .get(&base)
            .bearer_auth(&args.key)
            .query(&query)
            .send()
            .await
            .map_err(|e| format!("GET {base}: {e}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| format!("GET {base}: unreadable answer: {e}"))?;
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no message");
            return Err(format!("GET {base}: HTTP {}: {message}", status.as_u16()));
        }
        let events = body["events"].as_array().cloned().unwrap_or_default();
        for event in &events {
            println!("{event}");
        }
        if let Some(next) = body["next_cursor"].as_str() {
            after = Some(next.to_owned());
        }
        if events.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    }
}
