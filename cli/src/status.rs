//! `wxopen status`: the health of one component's state at a glance — ticket
//! age, component token expiry, authorizers by status, queued chunks. Never a
//! secret: only ages, times and counts.

use crate::admin::TargetArgs;
use clap::Args;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wxopen::clock::{Clock, SystemClock};
use wxopen::store::StateStore;

/// Listing pages while counting authorizers.
const PAGE: u32 = 100;
/// Counting stops here: status is a glance, not an export.
const MAX_COUNTED: usize = 100_000;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: StatusArgs) -> Result<(), String> {
    let target = args.target.resolve()?;
    let store = crate::admin::open_store(&target, None).await?;
    let report = collect(store.as_ref(), SystemClock.now()).await?;
    if args.json {
        println!("{report}");
    } else {
        print!("{}", human(&report));
    }
    Ok(())
}

/// The status report as JSON (the `--json` output).
pub async fn collect(store: &dyn StateStore, now: u64) -> Result<Value, String> {
    let ticket = store
        .get_ticket(now)
        .await
        .map_err(|e| format!("reading the ticket: {e}"))?;
    let token = store
        .get_component_token()
        .await
        .map_err(|e| format!("reading the component token: {e}"))?;
    let mut by_status: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    let mut counted = 0usize;
    loop {
        let page = store
            .list_authorizers(None, cursor.as_deref(), PAGE)
            .await
            .map_err(|e| format!("listing authorizers: {e}"))?;
        counted += page.items.len();
        for a in &page.items {
            *by_status.entry(a.status.as_str()).or_default() += 1;
        }
        match page.next {
            Some(next) if counted < MAX_COUNTED => cursor = Some(next),
            _ => break,
        }
    }
    let queued = store
        .claimable_chunks(now, 1000)
        .await
        .map_err(|e| format!("listing queued chunks: {e}"))?;
    Ok(json!({
        "component_appid": store.component_appid(),
        "ticket": ticket.map(|t| json!({
            "create_time": t.create_time,
            "age_secs": now.saturating_sub(t.stored_at),
        })),
        "component_token": json!({
            "present": token.access_token.is_some() && token.expires_at > now,
            "expires_at": token.expires_at,
            "expires_in_secs": token.expires_at.saturating_sub(now),
        }),
        "authorizers": by_status,
        "queued_chunks": queued.len(),
    }))
}

fn human(report: &Value) -> String {
    let mut out = String::new();
    let appid = report["component_appid"].as_str().unwrap_or("?");
    out.push_str(&format!("component {appid}\n"));
    match report["ticket"].get("age_secs").and_then(Value::as_u64) {
        Some(age) => out.push_str(&format!(
            "  ticket:           received {} ago\n",
            duration(age)
        )),
        None => out.push_str("  ticket:           none (WeChat pushes one every 10 minutes)\n"),
    }
    let token = &report["component_token"];
    if token["present"].as_bool() == Some(true) {
        let left = token["expires_in_secs"].as_u64().unwrap_or(0);
        out.push_str(&format!(
            "  component token:  expires in {}\n",
            duration(left)
        ));
    } else {
        out.push_str("  component token:  none\n");
    }
    let authorizers = report["authorizers"].as_object();
    let counts: Vec<String> = authorizers
        .into_iter()
        .flatten()
        .map(|(status, n)| format!("{status} {n}"))
        .collect();
    let counts = if counts.is_empty() {
        "none".to_owned()
    } else {
        counts.join(", ")
    };
    out.push_str(&format!("  authorizers:      {counts}\n"));
    out.push_str(&format!(
        "  queued chunks:    {}\n",
        report["queued_chunks"]
    ));
    out
}

/// `90s`, `52m`, `1h52m`: ages and time left, at a glance.
pub(crate) fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wxopen::secret::Secret;
    use wxopen::store::sqlite::SqliteStore;
    use wxopen::store::ComponentStore;

    #[tokio::test]
    async fn an_empty_store_reports_no_ticket_no_token_and_nothing_queued() {
        let store = SqliteStore::open_in_memory("wxcomponent0001").unwrap();
        let report = collect(&store, 1_700_000_000).await.unwrap();
        assert!(report["ticket"].is_null());
        assert_eq!(report["component_token"]["present"], false);
        assert_eq!(report["queued_chunks"], 0);
        assert!(human(&report).contains("ticket:           none"));
    }

    #[tokio::test]
    async fn a_stored_ticket_shows_its_age_but_never_its_value() {
        let store = SqliteStore::open_in_memory("wxcomponent0001").unwrap();
        let now = 1_700_000_000;
        store
            .put_ticket_if_newer(
                &Secret::new("ticket@@@secret-value"),
                1_699_999_000,
                now - 90,
            )
            .await
            .unwrap();
        let report = collect(&store, now).await.unwrap();
        assert_eq!(report["ticket"]["age_secs"], 90);
        let text = format!("{report}{}", human(&report));
        assert!(!text.contains("secret-value"));
        assert!(human(&report).contains("received 90s ago"));
    }
}
