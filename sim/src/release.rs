//! The full-network release test (全网发布, wechat-api.md §7), run on demand.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::calls::lock;
use crate::ids::token_hash;
use crate::push::{PushEvent, PushOutcome};
use crate::shared::Shared;
use crate::world::{RELEASE_TEST_GROUPS, RELEASE_TEST_OPENID};
use crate::xmlmini::field;

/// The result of one release test.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseTestReport {
    pub passed: bool,
    /// The official account tested.
    pub appid: String,
    pub steps: Vec<StepResult>,
}

/// One checked step.
#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

fn step(name: &str, result: Result<String, String>) -> StepResult {
    let (passed, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    StepResult {
        name: name.to_owned(),
        passed,
        detail,
    }
}

fn answered(out: &PushOutcome) -> Result<&str, String> {
    if !out.delivered {
        return Err(format!(
            "not delivered after {} attempt(s): {}",
            out.attempts,
            out.last_error.as_deref().unwrap_or("unknown error")
        ));
    }
    Ok(out.response_body.as_deref().unwrap_or(""))
}

/// `success` or an empty body, as WeChat accepts for "nothing to say".
fn nothing_to_say(out: &PushOutcome) -> Result<String, String> {
    let body = answered(out)?.trim();
    if body.is_empty() || body == "success" {
        Ok(format!("answered {body:?}"))
    } else {
        Err(format!(
            "expected an empty body or `success`, got {:?}",
            clip(body)
        ))
    }
}

fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Open an encrypted passive reply and check it is the expected text reply.
fn check_reply(
    sim: &Shared,
    out: &PushOutcome,
    user_name: &str,
    expected: &str,
) -> Result<String, String> {
    let body = answered(out)?;
    let part = |tag: &str| {
        field(body, tag).ok_or_else(|| format!("reply has no <{tag}>: {:?}", clip(body)))
    };
    let encrypt = part("Encrypt")?;
    let signature = part("MsgSignature")?;
    let timestamp = part("TimeStamp")?;
    let nonce = part("Nonce")?;
    let opened = sim
        .pusher
        .crypt()
        .open(&signature, &timestamp, &nonce, &encrypt)
        .map_err(|e| format!("reply cannot be opened: {e}"))?;
    let xml = opened.message;
    let get = |tag: &str| field(&xml, tag).unwrap_or_default();
    if get("MsgType") != "text" {
        return Err(format!("reply is not a text message: {:?}", clip(&xml)));
    }
    if get("ToUserName") != RELEASE_TEST_OPENID || get("FromUserName") != user_name {
        return Err(format!("reply is addressed wrongly: {:?}", clip(&xml)));
    }
    let content = get("Content");
    if content != expected {
        return Err(format!("expected content {expected:?}, got {content:?}"));
    }
    Ok(format!("replied {content:?}"))
}

/// Wait (bounded, polling the call log) for api_query_auth with `code`, then a custom text
/// `<code>_from_api` to the tester sent with the token that exchange returned.
async fn wait_for_api_calls(sim: &Shared, code: &str) -> Result<String, String> {
    let deadline = Instant::now() + sim.cfg.release_test_wait;
    let expected = format!("{code}_from_api");
    loop {
        let token = lock(&sim.world).exchanged.get(code).cloned();
        if let Some(token) = &token {
            let hash = token_hash(token);
            let sent = sim
                .calls
                .records(Some("/cgi-bin/message/custom/send"))
                .into_iter()
                .any(|c| {
                    c.errcode == 0
                        && c.params["access_token"] == hash.as_str()
                        && c.params["touser"] == RELEASE_TEST_OPENID
                        && c.params["msgtype"] == "text"
                        && c.params["text"]["content"] == expected.as_str()
                });
            if sent {
                return Ok("api_query_auth then custom/send with the new token".into());
            }
        }
        if Instant::now() >= deadline {
            return Err(match token {
                None => format!("no successful api_query_auth with the code within {:?}", sim.cfg.release_test_wait),
                Some(_) => format!(
                    "api_query_auth done, but no custom/send text {expected:?} to the tester with that token within {:?}",
                    sim.cfg.release_test_wait
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn user_says(sim: &Shared, appid: &str, user_name: &str, content: &str) -> PushOutcome {
    let now = sim.clock.now();
    let msgid = {
        let mut w = lock(&sim.world);
        w.user_spoke(appid, RELEASE_TEST_OPENID, now);
        w.next_msgid()
    };
    let event = PushEvent::UserText {
        appid: appid.to_owned(),
        user_name: user_name.to_owned(),
        openid: RELEASE_TEST_OPENID.to_owned(),
        content: content.to_owned(),
        msgid,
    };
    sim.push_and_wait(&event, now, "text").await
}

/// Run the release test with account group `group` (0..=4, see `RELEASE_TEST_GROUPS`).
pub(crate) async fn run(sim: &Arc<Shared>, group: usize) -> ReleaseTestReport {
    let Some((appid, _mini)) = RELEASE_TEST_GROUPS.get(group) else {
        return ReleaseTestReport {
            passed: false,
            appid: String::new(),
            steps: vec![step(
                "group",
                Err(format!("no test group {group}; groups are 0..=4")),
            )],
        };
    };
    let user_name = lock(&sim.world)
        .accounts
        .get(*appid)
        .map(|a| a.cfg.user_name.clone())
        .unwrap_or_default();
    let mut steps = Vec::new();

    let ticket = sim.push_ticket().await;
    steps.push(step(
        "ticket",
        answered(&ticket).and_then(|_| nothing_to_say(&ticket)),
    ));

    let text = user_says(sim, appid, &user_name, "TESTCOMPONENT_MSG_TYPE_TEXT").await;
    steps.push(step(
        "text_reply",
        check_reply(
            sim,
            &text,
            &user_name,
            "TESTCOMPONENT_MSG_TYPE_TEXT_callback",
        ),
    ));

    let now = sim.clock.now();
    let code = lock(&sim.world)
        .authorize(appid, &[1, 2, 3], now, false)
        .map(|(c, _)| c);
    match code {
        Some(code) => {
            let out = user_says(sim, appid, &user_name, &format!("QUERY_AUTH_CODE:{code}")).await;
            steps.push(step("query_auth_code_ack", nothing_to_say(&out)));
            steps.push(step(
                "query_auth_code_api",
                wait_for_api_calls(sim, &code).await,
            ));
        }
        None => steps.push(step(
            "query_auth_code_ack",
            Err("test account missing".into()),
        )),
    }

    let now = sim.clock.now();
    let event = PushEvent::UserEvent {
        appid: (*appid).to_owned(),
        user_name: user_name.clone(),
        openid: RELEASE_TEST_OPENID.to_owned(),
        event: "LOCATION".into(),
    };
    let out = sim.push_and_wait(&event, now, "event").await;
    steps.push(step(
        "event_reply",
        check_reply(sim, &out, &user_name, "LOCATIONfrom_callback"),
    ));

    ReleaseTestReport {
        passed: steps.iter().all(|s| s.passed),
        appid: (*appid).to_owned(),
        steps,
    }
}
