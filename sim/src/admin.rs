//! The admin surface under `/_sim/…` (JSON), for tools and people driving a running simulator.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::calls::lock;
use crate::faults::FaultSpec;
use crate::handle::SimHandle;
use crate::push::PushEvent;
use crate::shared::Shared;
use crate::world::Owner;

type S = State<Arc<Shared>>;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/calls", get(calls))
        .route("/pushes", get(pushes))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/faults", post(set_fault).delete(clear_faults))
        .route("/push/ticket", post(push_ticket))
        .route("/push-urls", post(push_urls))
        .route("/accounts/{appid}/authorize", post(authorize))
        .route("/accounts/{appid}/revoke", post(revoke))
        .route("/accounts/{appid}/invalidate-token", post(invalidate))
        .route("/accounts/{appid}/messages", post(user_message))
        .route("/accounts/{appid}/follower-actions", post(follower_action))
        .route("/accounts/{appid}/reset-quota", post(reset_quota))
        .route("/accounts/{appid}/profile", post(change_profile))
        .route("/release-test/{group}", post(release_test))
        .route("/accounts/{appid}/scan", post(scan))
        .route("/state", get(state))
}

#[derive(Deserialize)]
struct CallsQuery {
    endpoint: Option<String>,
}

async fn calls(State(sim): S, Query(q): Query<CallsQuery>) -> Response {
    Json(sim.calls.records(q.endpoint.as_deref())).into_response()
}

async fn pushes(State(sim): S) -> Response {
    Json(sim.pusher.records()).into_response()
}

async fn clock(State(sim): S) -> Response {
    Json(json!({"now": sim.clock.now()})).into_response()
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

async fn advance(State(sim): S, Json(a): Json<Advance>) -> Response {
    sim.clock.advance(Duration::from_secs(a.seconds));
    sim.clock_moved.notify_one();
    Json(json!({"now": sim.clock.now()})).into_response()
}

#[derive(Deserialize)]
struct SetFault {
    endpoint: String,
    #[serde(flatten)]
    spec: FaultSpec,
}

async fn set_fault(State(sim): S, Json(f): Json<SetFault>) -> Response {
    if !(0.0..=1.0).contains(&f.spec.rate) {
        return bad_request("rate must be within 0..=1");
    }
    sim.faults.set(&f.endpoint, f.spec);
    Json(json!({"ok": true})).into_response()
}

async fn clear_faults(State(sim): S) -> Response {
    sim.faults.clear();
    Json(json!({"ok": true})).into_response()
}

async fn push_ticket(State(sim): S) -> Response {
    Json(sim.push_ticket().await).into_response()
}

#[derive(Deserialize)]
struct PushUrls {
    component: String,
    authorizer: String,
}

async fn push_urls(State(sim): S, Json(u): Json<PushUrls>) -> Response {
    sim.pusher.set_urls(Some(u.component), Some(u.authorizer));
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize, Default)]
struct Authorize {
    func_info: Option<Vec<u32>>,
}

async fn authorize(
    State(sim): S,
    Path(appid): Path<String>,
    body: Option<Json<Authorize>>,
) -> Response {
    let now = sim.clock.now();
    let result = {
        let mut w = lock(&sim.world);
        let ttl = w.cfg.limits.auth_code_ttl;
        let default_funcs = w.accounts.get(&appid).map(|a| a.cfg.func_info.clone());
        let funcs = body
            .and_then(|Json(b)| b.func_info)
            .or(default_funcs)
            .unwrap_or_default();
        w.authorize(&appid, &funcs, now, false)
            .map(|(code, was)| (code, was, ttl))
    };
    let Some((code, was, ttl)) = result else {
        return not_found("no such account");
    };
    let info_type = if was {
        "updateauthorized"
    } else {
        "authorized"
    };
    let event = PushEvent::Authorization {
        info_type,
        appid: appid.clone(),
        code: code.clone(),
        code_expires_at: now + ttl,
        pre_auth_code: String::new(),
    };
    let push = sim.push_and_wait(&event, now, info_type).await;
    Json(json!({"appid": appid, "auth_code": code, "expires_in": ttl, "push": push}))
        .into_response()
}

async fn revoke(State(sim): S, Path(appid): Path<String>) -> Response {
    let now = sim.clock.now();
    if !lock(&sim.world).revoke(&appid, now) {
        return not_found("no such account");
    }
    let event = PushEvent::Unauthorized { appid };
    Json(sim.push_and_wait(&event, now, "unauthorized").await).into_response()
}

async fn invalidate(State(sim): S, Path(appid): Path<String>) -> Response {
    let now = sim.clock.now();
    let mut w = lock(&sim.world);
    let owner = if appid == w.cfg.component.appid {
        Owner::Component
    } else {
        Owner::Authorizer(appid)
    };
    w.invalidate_tokens(&owner, now);
    Json(json!({"ok": true})).into_response()
}

#[derive(Deserialize)]
struct UserMessage {
    openid: String,
    content: String,
}

async fn user_message(
    State(sim): S,
    Path(appid): Path<String>,
    Json(m): Json<UserMessage>,
) -> Response {
    let handle = SimHandle::detached(sim);
    match handle.user_message(&appid, &m.openid, &m.content).await {
        Ok(out) => Json(out).into_response(),
        Err(e) => not_found(&e.to_string()),
    }
}

#[derive(Deserialize)]
struct FollowerActionRequest {
    openid: String,
    #[serde(flatten)]
    action: crate::followers::FollowerAction,
}

/// `{"openid": "…", "type": "text|image|voice|video|shortvideo|location|link|subscribe|unsubscribe|scan|click|view", …}`.
async fn follower_action(
    State(sim): S,
    Path(appid): Path<String>,
    Json(m): Json<FollowerActionRequest>,
) -> Response {
    let handle = SimHandle::detached(sim);
    match handle.follower_action(&appid, &m.openid, &m.action).await {
        Ok(out) => Json(out).into_response(),
        Err(e) => not_found(&e.to_string()),
    }
}

async fn reset_quota(State(sim): S, Path(appid): Path<String>) -> Response {
    SimHandle::detached(sim).reset_quota(&appid);
    Json(json!({"ok": true})).into_response()
}

/// `{"nick_name"?, "alias"?, "verify_type"?, …, "raw"?: {field: any JSON}}`: the
/// account's profile from now on; answers its `authorizer_info`.
async fn change_profile(
    State(sim): S,
    Path(appid): Path<String>,
    Json(change): Json<crate::profile::ProfileChange>,
) -> Response {
    match SimHandle::detached(sim).change_profile(&appid, &change) {
        Ok(info) => Json(json!({"authorizer_info": info})).into_response(),
        Err(e) => not_found(&e.to_string()),
    }
}

#[derive(Deserialize)]
struct Scan {
    openid: String,
    ticket: String,
}

/// A user scans QR code `ticket` of the account: `SCAN` for a follower,
/// `subscribe` with `qrscene_` for a newcomer (who follows from then on).
async fn scan(State(sim): S, Path(appid): Path<String>, Json(s): Json<Scan>) -> Response {
    match SimHandle::detached(sim)
        .scan_qrcode(&appid, &s.openid, &s.ticket)
        .await
    {
        Ok(out) => Json(out).into_response(),
        Err(e) => not_found(&e.to_string()),
    }
}

async fn release_test(State(sim): S, Path(group): Path<usize>) -> Response {
    Json(crate::release::run(&sim, group).await).into_response()
}

async fn state(State(sim): S) -> Response {
    Json(state_json(&sim)).into_response()
}

/// Accounts, followers, tags, templates and authorizations. The component secret is left out.
pub(crate) fn state_json(sim: &Shared) -> Value {
    let w = lock(&sim.world);
    let accounts: Vec<Value> = w
        .account_order
        .iter()
        .filter_map(|appid| w.accounts.get(appid))
        .map(|a| {
            json!({
                "appid": a.cfg.appid,
                "user_name": a.cfg.user_name,
                "nick_name": a.cfg.nick_name,
                "alias": a.cfg.alias,
                "service_type": a.cfg.service_type,
                "verify_type": a.cfg.verify_type,
                "is_mini_program": a.cfg.is_mini_program,
                "release_test": a.release_test,
                "authorized": a.authorization.is_some(),
                "func_info": a.authorization.as_ref().map(|x| x.func_info.clone()),
                "followers": a.followers,
                "former_followers": a.former,
                "blocked": a.blocked,
                "tags": a.tags,
                "templates": a.templates,
            })
        })
        .collect();
    json!({
        "now": sim.clock.now(),
        "component": {"appid": w.cfg.component.appid},
        "accounts": accounts,
        "template_sends": w.template_sends.values().map(Vec::len).sum::<usize>(),
        "subscribe_sends": w.subscribe_sends.values().flat_map(|m| m.values()).sum::<u64>(),
        "mass_sends": w.masses.len(),
    })
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

fn not_found(message: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": message}))).into_response()
}
