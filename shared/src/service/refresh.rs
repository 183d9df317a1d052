//! The refresh sweep (design.md §2, Refresh; §5 Proactive): every few minutes,
//! check the ticket's health, renew the component token and every authorizer
//! token that expires within the margin (found through the sparse due index,
//! never a full scan), with bounded concurrency; once a day reconcile refresh
//! tokens against WeChat's authorizer list and refresh every active
//! authorizer's profile.

use super::profile;
use crate::app::App;
use crate::store::{Authorizer, AuthorizerStatus, StoreError};
use crate::telemetry::{self, Unit};
use crate::tokens::{Renewal, TokenError};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use std::collections::VecDeque;

/// Authorizer renewals in flight at once: 10,000 due authorizers at WeChat's
/// usual latency are renewed well inside a minute (bench `refresh_sweep`).
pub const SWEEP_CONCURRENCY: usize = 32;
/// A newest ticket older than this means pushes are not arriving (WeChat pushes every 10 min).
pub const TICKET_ALARM_AGE_SECS: u64 = 30 * 60;
/// Due authorizers read per index page.
const DUE_PAGE: u32 = 100;
/// Authorizers per api_get_authorizer_list page (WeChat's maximum).
const LIST_PAGE: u32 = 500;
/// Pages read at most in one sweep or reconcile: a bound, far above any real platform.
const MAX_PAGES: usize = 10_000;
/// Queued chunks counted at most for the backlog metric.
const BACKLOG_COUNTED: u32 = 1000;

/// How long an expired record is kept before the sweep deletes it: an
/// expired link still answers "expired" (not "unknown") for a day, about as
/// long as DynamoDB's TTL takes to delete one.
pub const PURGE_GRACE_SECS: u64 = 86_400;

/// A sweep could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// What one sweep did. Individual renewal failures are reported here, not raised.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Seconds since the newest ticket was stored; `None` when none is stored.
    pub ticket_age_secs: Option<u64>,
    /// The ticket is missing or older than [`TICKET_ALARM_AGE_SECS`].
    pub ticket_alarm: bool,
    /// `renewed`, `still_valid`, or the failure.
    pub component: String,
    pub renewed: Vec<String>,
    /// Due in the index but found valid (another instance renewed it first).
    pub still_valid: Vec<String>,
    /// Refresh token rejected (61023): marked `needs_reauth`.
    pub needs_reauth: Vec<String>,
    /// (appid, what went wrong); retried by the next sweep.
    pub failed: Vec<(String, String)>,
    /// Expired records deleted (SQLite; DynamoDB's TTL deletes its own).
    pub purged: u64,
}

/// What one reconcile did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Authorizers WeChat listed.
    pub listed: u64,
    /// Refresh tokens that were missing or different, now repaired.
    pub repaired: Vec<String>,
    /// Listed by WeChat but not stored here (never seen, or stored under another platform).
    pub unknown: Vec<String>,
    /// Active authorizers whose profile was fetched again and stored.
    pub profiles_refreshed: u64,
    /// (appid, what went wrong): profiles left as they were until tomorrow.
    pub profiles_failed: Vec<(String, String)>,
}

/// One sweep: ticket health, the component token, every due authorizer.
pub async fn run(app: &App) -> Result<SweepReport, RefreshError> {
    let margin = app.config.refresh_margin_secs;
    let mut report = SweepReport::default();
    check_ticket(app, &mut report).await?;
    report_backlog(app).await;

    report.component = match app.tokens.refresh_component(margin).await {
        Ok(r) => renewal_name(r).to_owned(),
        Err(e) => {
            tracing::error!(errcode = e.errcode(), error = %e, "sweep: component token not renewed");
            format!("failed: {e}")
        }
    };

    // Pages are read as renewals need them, so the renewals run
    // SWEEP_CONCURRENCY at a time across page boundaries, with no tail per page.
    let due_before = app.now().saturating_add(margin);
    let mut due: VecDeque<Authorizer> = VecDeque::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    let mut renewing = FuturesUnordered::new();
    loop {
        while renewing.len() < SWEEP_CONCURRENCY {
            if due.is_empty() && pages < MAX_PAGES && (pages == 0 || cursor.is_some()) {
                let page = app
                    .store
                    .due_authorizers(due_before, cursor.as_deref(), DUE_PAGE)
                    .await?;
                pages += 1;
                cursor = page.next;
                due.extend(page.items);
            }
            let Some(authorizer) = due.pop_front() else {
                break;
            };
            renewing.push(renew(app, authorizer, margin));
        }
        match renewing.next().await {
            Some((appid, result)) => record(&mut report, appid, result),
            None => break,
        }
    }
    report.purged = purge(app).await;
    tracing::info!(
        renewed = report.renewed.len(),
        purged = report.purged,
        needs_reauth = report.needs_reauth.len(),
        failed = report.failed.len(),
        component = %report.component,
        "refresh sweep done"
    );
    Ok(report)
}

/// Deletes records that expired more than [`PURGE_GRACE_SECS`] ago; a failure
/// is logged and left to the next sweep (reads ignore expired records anyway).
async fn purge(app: &App) -> u64 {
    let before = app.now().saturating_sub(PURGE_GRACE_SECS);
    match app.store.purge_expired(before).await {
        Ok(n) => n,
        Err(error) => {
            tracing::warn!(error = %error, "sweep: expired records not purged");
            0
        }
    }
}

async fn renew(
    app: &App,
    authorizer: Authorizer,
    margin: u64,
) -> (String, Result<Renewal, TokenError>) {
    let appid = authorizer.appid.clone();
    let result = app.tokens.refresh_due_authorizer(authorizer, margin).await;
    (appid, result)
}

fn renewal_name(r: Renewal) -> &'static str {
    match r {
        Renewal::Renewed => "renewed",
        Renewal::StillValid => "still_valid",
    }
}

fn record(report: &mut SweepReport, appid: String, result: Result<Renewal, TokenError>) {
    match result {
        Ok(Renewal::Renewed) => report.renewed.push(appid),
        Ok(Renewal::StillValid) => report.still_valid.push(appid),
        Err(TokenError::NeedsReauth(_)) => report.needs_reauth.push(appid),
        // Revoked or gone between the index read and the renewal: nothing to do.
        Err(TokenError::Revoked(_) | TokenError::UnknownAuthorizer(_)) => {}
        Err(e) => {
            tracing::error!(appid, errcode = e.errcode(), error = %e, "sweep: authorizer token not renewed");
            report.failed.push((appid, e.to_string()));
        }
    }
}

/// The newest ticket's age as a metric; missing or stale → an error-level log
/// line, a metric, and a request for a fresh push.
async fn check_ticket(app: &App, report: &mut SweepReport) -> Result<(), RefreshError> {
    let now = app.now();
    match app.store.get_ticket(now).await? {
        Some(ticket) => {
            let age = now.saturating_sub(ticket.stored_at);
            report.ticket_age_secs = Some(age);
            telemetry::metric("TicketAgeSeconds", age as f64, Unit::Seconds, &[]);
            if age > TICKET_ALARM_AGE_SECS {
                report.ticket_alarm = true;
                telemetry::count("TicketStale", &[]);
                tracing::error!(ticket_age_secs = age, "newest component_verify_ticket is older than 30 min: ticket pushes are not arriving");
            }
        }
        None => {
            report.ticket_alarm = true;
            telemetry::count("TicketMissing", &[]);
            tracing::error!("no valid component_verify_ticket stored: asking WeChat to push one");
            let _ = app.tokens.request_ticket().await;
        }
    }
    Ok(())
}

/// Chunks waiting to be worked (new, deferred past their retry time, or
/// abandoned), as the `QueuedChunks` metric: the job backlog. Counted up to
/// [`BACKLOG_COUNTED`]; a store error is logged and leaves the sweep alone.
async fn report_backlog(app: &App) {
    match app.store.claimable_chunks(app.now(), BACKLOG_COUNTED).await {
        Ok(chunks) => telemetry::metric("QueuedChunks", chunks.len() as f64, Unit::Count, &[]),
        Err(error) => tracing::warn!(error = %error, "sweep: could not count queued chunks"),
    }
}

/// Pages through api_get_authorizer_list and repairs every stored refresh token
/// that is missing or different (an authorizer in `needs_reauth` becomes active
/// again). Revoked authorizers are left alone: only a new authorization revives them.
/// Then every listed authorizer that is active has its profile refreshed.
pub async fn reconcile(app: &App) -> Result<ReconcileReport, RefreshError> {
    let cappid = app.config.component_appid.as_str();
    let mut report = ReconcileReport::default();
    // The stored authorizers WeChat lists that are active once repaired: their profiles are refreshed.
    let mut active: Vec<String> = Vec::new();
    let mut offset: u32 = 0;
    for _ in 0..MAX_PAGES {
        let page = app
            .tokens
            .with_component_token(|token| async move {
                app.wechat
                    .authorizer_list(&token, cappid, offset, LIST_PAGE)
                    .await
            })
            .await?;
        let count = u32::try_from(page.list.len()).unwrap_or(u32::MAX);
        report.listed = page.total_count;
        for item in page.list {
            let appid = item.authorizer_appid;
            match app.store.get_authorizer(&appid).await? {
                None => report.unknown.push(appid),
                Some(stored) if stored.status == AuthorizerStatus::Revoked => {}
                Some(stored) => {
                    let repaired = stored.refresh_token.as_ref() != Some(&item.refresh_token)
                        && app
                            .store
                            .repair_refresh_token(&appid, &item.refresh_token, app.now())
                            .await?;
                    if repaired {
                        tracing::warn!(
                            appid,
                            "reconcile: refresh token was missing or different; repaired"
                        );
                        report.repaired.push(appid.clone());
                    }
                    if repaired || stored.status == AuthorizerStatus::Active {
                        active.push(appid);
                    }
                }
            }
        }
        offset = offset.saturating_add(count);
        if count == 0 || u64::from(offset) >= page.total_count {
            break;
        }
    }
    refresh_profiles(app, active, &mut report).await;
    telemetry::metric(
        "RefreshTokensRepaired",
        report.repaired.len() as f64,
        Unit::Count,
        &[],
    );
    telemetry::metric(
        "ProfileRefreshFailures",
        report.profiles_failed.len() as f64,
        Unit::Count,
        &[],
    );
    tracing::info!(
        listed = report.listed,
        repaired = report.repaired.len(),
        unknown = report.unknown.len(),
        profiles_refreshed = report.profiles_refreshed,
        profiles_failed = report.profiles_failed.len(),
        "reconcile done"
    );
    Ok(report)
}

/// Fetches and stores each authorizer's profile, [`SWEEP_CONCURRENCY`] at a
/// time. A failure is logged and reported, never raised: a profile a day old
/// is no reason to redo the reconcile.
async fn refresh_profiles(app: &App, appids: Vec<String>, report: &mut ReconcileReport) {
    let mut appids = appids.into_iter();
    let mut refreshing = FuturesUnordered::new();
    loop {
        while refreshing.len() < SWEEP_CONCURRENCY {
            let Some(appid) = appids.next() else {
                break;
            };
            refreshing.push(async move {
                let result = profile::refresh(app, &appid).await;
                (appid, result)
            });
        }
        match refreshing.next().await {
            Some((_, Ok(_))) => report.profiles_refreshed += 1,
            Some((appid, Err(e))) => {
                tracing::warn!(appid, errcode = e.errcode(), error = %e, "reconcile: profile not refreshed");
                report.profiles_failed.push((appid, e.to_string()));
            }
            None => break,
        }
    }
}

/// The marker that today's reconcile is done.
fn reconcile_marker(now: u64) -> String {
    format!("reconcile#{}", now / 86400)
}

/// Whether today's (UTC) reconcile has not been done yet. Cheap: one conditional
/// write. The probe writes the marker already expired, so it never counts as done.
pub(crate) async fn reconcile_due(app: &App) -> Result<bool, StoreError> {
    let now = app.now();
    app.store
        .mark_push_seen(&reconcile_marker(now), now, now)
        .await
}

/// Runs the reconcile if today's has not been done; marks it done on success, so
/// a failed one is tried again by the next sweep. Two instances racing may both
/// reconcile, which is harmless (the repair is idempotent).
pub(crate) async fn reconcile_if_due(app: &App) -> Result<Option<ReconcileReport>, RefreshError> {
    if !reconcile_due(app).await? {
        return Ok(None);
    }
    let report = reconcile(app).await?;
    let now = app.now();
    let end_of_day = (now / 86400 + 1) * 86400;
    app.store
        .mark_push_seen(&reconcile_marker(now), now, end_of_day)
        .await?;
    Ok(Some(report))
}

/// What the `refresh` function and the serve timer run: a sweep, then the daily
/// reconcile when due.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScheduledReport {
    pub sweep: SweepReport,
    pub reconcile: Option<ReconcileReport>,
}

/// One scheduled run. A failed reconcile is logged and retried next time; it
/// does not fail the sweep.
pub async fn scheduled(app: &App) -> Result<ScheduledReport, RefreshError> {
    let sweep = run(app).await?;
    let reconcile = match reconcile_if_due(app).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "daily reconcile failed; retried by the next run");
            None
        }
    };
    Ok(ScheduledReport { sweep, reconcile })
}
