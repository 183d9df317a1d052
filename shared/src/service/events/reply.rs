//! Passive replies (issue #15): the only way to answer a follower inside
//! WeChat's 5 s without the customer-service API. For `message.*` and
//! `event.click|scan|subscribe`, a subscription with `reply: true` is called
//! synchronously, within `WXOPEN_REPLY_BUDGET_MS`, with the event signed as a
//! delivery is plus `Wxopen-Reply-Requested: true`. An answer 200
//! `{"reply":{"msgtype":"text","content":"…"}}` becomes the reply WeChat
//! receives; anything else (timeout, error, no reply) answers `success`. The
//! event is recorded and delivered asynchronously either way.

use super::deliver::MAX_RESPONSE_BYTES;
use super::model::EventBody;
use super::signing::{signature_header, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER};
use super::webhooks::{policy, signing_secrets};
use crate::app::App;
use crate::outbound;
use crate::store::{EventRecord, Webhook};
use crate::telemetry;
use serde::Deserialize;
use std::time::Duration;

/// The header that tells a receiver an answer is awaited.
pub const REPLY_REQUESTED_HEADER: &str = "Wxopen-Reply-Requested";
/// The longest text reply passed on (WeChat's own limit is 2048 bytes).
const MAX_TEXT_BYTES: usize = 2048;

/// Whether WeChat accepts a passive reply to this type of event.
pub fn replyable(event_type: &str) -> bool {
    event_type.starts_with("message.")
        || matches!(event_type, "event.click" | "event.scan" | "event.subscribe")
}

#[derive(Debug, Deserialize)]
struct Answer {
    reply: Option<Reply>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "msgtype", rename_all = "snake_case")]
enum Reply {
    Text { content: String },
}

/// The text to answer the follower with, if a `reply: true` subscription
/// among `targets` gave one within the budget.
pub async fn ask(app: &App, event: &EventRecord, targets: &[Webhook]) -> Option<String> {
    if !replyable(&event.event_type) {
        return None;
    }
    let webhook = targets.iter().find(|w| w.reply && !w.disabled)?;
    let budget = Duration::from_millis(app.config.reply_budget_ms);
    let asked = tokio::time::timeout(budget, call(app, webhook, event, budget)).await;
    let outcome = match asked {
        Ok(Ok(Some(text))) => Ok(text),
        Ok(Ok(None)) => Err("no reply".to_owned()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {} ms", budget.as_millis())),
    };
    match outcome {
        Ok(text) => {
            telemetry::count("PassiveReplies", &[("Outcome", "replied")]);
            Some(text)
        }
        Err(why) => {
            telemetry::count("PassiveReplies", &[("Outcome", "none")]);
            tracing::info!(event_id = %event.id, webhook_id = %webhook.id, why, "no passive reply; answering success");
            None
        }
    }
}

async fn call(
    app: &App,
    webhook: &Webhook,
    event: &EventRecord,
    budget: Duration,
) -> Result<Option<String>, String> {
    outbound::check_url(&webhook.url, policy(app))
        .await
        .map_err(|e| format!("url refused: {e}"))?;
    let client = outbound::client(policy(app), budget).map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(&EventBody::from(event)).map_err(|e| e.to_string())?;
    let now = app.now();
    let resp = client
        .post(&webhook.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            SIGNATURE_HEADER,
            signature_header(&signing_secrets(webhook, now), now, &body),
        )
        .header(EVENT_ID_HEADER, &event.id)
        .header(EVENT_TYPE_HEADER, &event.event_type)
        .header(REPLY_REQUESTED_HEADER, "true")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if resp.status() != http::StatusCode::OK {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let mut read = Vec::new();
    let mut resp = resp;
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if read.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("answer over {MAX_RESPONSE_BYTES} bytes"));
        }
        read.extend_from_slice(&chunk);
    }
    let answer: Answer =
        serde_json::from_slice(&read).map_err(|e| format!("answer is not a reply: {e}"))?;
    match answer.reply {
        Some(Reply::Text { content }) if !content.is_empty() && content.len() <= MAX_TEXT_BYTES => {
            Ok(Some(content))
        }
        Some(Reply::Text { .. }) => Err(format!("text reply empty or over {MAX_TEXT_BYTES} bytes")),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_messages_and_some_events_take_a_reply() {
        assert!(replyable("message.text"));
        assert!(replyable("event.subscribe"));
        assert!(replyable("event.click"));
        assert!(!replyable("event.view"));
        assert!(!replyable("event.unsubscribe"));
        assert!(!replyable("authorizer.revoked"));
    }
}
