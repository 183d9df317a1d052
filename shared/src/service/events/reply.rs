//! Passive replies (issue #15): the only way to answer a follower inside
//! WeChat's 5 s without the customer-service API. For `message.*` and
//! `event.click|scan|subscribe`, a subscription with `reply: true` is called
//! synchronously, within `WXOPEN_REPLY_BUDGET_MS`, with the event signed as a
//! delivery is plus `Wxopen-Reply-Requested: true`. An answer 200
//! `{"reply":{"msgtype":"text","content":"…"}}` (or `image`, `voice`, `video`,
//! `music`, `news`) becomes the reply WeChat receives; anything else (timeout,
//! error, no reply, a reply WeChat would not take) answers `success`, because
//! an answer WeChat cannot read shows the follower an error instead. The event
//! is recorded and delivered asynchronously either way.

use super::deliver::MAX_RESPONSE_BYTES;
use super::model::EventBody;
use super::signing::{signature_header, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER};
use super::webhooks::{policy, signing_secrets};
use crate::app::App;
use crate::domain::{HttpUrl, Text};
use crate::outbound;
use crate::store::{EventRecord, Webhook};
use crate::telemetry;
use crate::xml::{NewsArticle, PassiveReply};
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

/// Articles in a `news` reply: WeChat takes one when answering a follower's
/// message, up to eight when answering an event.
const MAX_ARTICLES_FOR_MESSAGE: usize = 1;
const MAX_ARTICLES_FOR_EVENT: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    reply: Option<Reply>,
}

type MediaId = Text<128>;
type Title = Text<256>;
type Description = Text<1024>;

/// What a receiver may answer, checked as WeChat would before it is passed on.
#[derive(Debug, Deserialize)]
#[serde(tag = "msgtype", rename_all = "snake_case", deny_unknown_fields)]
enum Reply {
    Text {
        content: Text<MAX_TEXT_BYTES>,
    },
    Image {
        media_id: MediaId,
    },
    Voice {
        media_id: MediaId,
    },
    Video {
        media_id: MediaId,
        title: Option<Title>,
        description: Option<Description>,
    },
    Music {
        title: Option<Title>,
        description: Option<Description>,
        music_url: Option<HttpUrl>,
        hq_music_url: Option<HttpUrl>,
        thumb_media_id: MediaId,
    },
    News {
        articles: Vec<Article>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Article {
    title: Title,
    description: Option<Description>,
    pic_url: Option<HttpUrl>,
    url: Option<HttpUrl>,
}

impl Reply {
    /// The reply WeChat receives, or why WeChat would not take it for `event_type`.
    fn into_passive(self, event_type: &str) -> Result<PassiveReply, String> {
        let text = |t: Option<Text<256>>| t.map(Text::into_string);
        let long = |t: Option<Description>| t.map(Text::into_string);
        let url = |u: Option<HttpUrl>| u.map(HttpUrl::into_string);
        Ok(match self {
            Reply::Text { content } => PassiveReply::Text {
                content: content.into_string(),
            },
            Reply::Image { media_id } => PassiveReply::Image {
                media_id: media_id.into_string(),
            },
            Reply::Voice { media_id } => PassiveReply::Voice {
                media_id: media_id.into_string(),
            },
            Reply::Video {
                media_id,
                title,
                description,
            } => PassiveReply::Video {
                media_id: media_id.into_string(),
                title: text(title),
                description: long(description),
            },
            Reply::Music {
                title,
                description,
                music_url,
                hq_music_url,
                thumb_media_id,
            } => PassiveReply::Music {
                title: text(title),
                description: long(description),
                music_url: url(music_url),
                hq_music_url: url(hq_music_url),
                thumb_media_id: thumb_media_id.into_string(),
            },
            Reply::News { articles } => {
                let most = if event_type.starts_with("message.") {
                    MAX_ARTICLES_FOR_MESSAGE
                } else {
                    MAX_ARTICLES_FOR_EVENT
                };
                if articles.is_empty() || articles.len() > most {
                    return Err(format!(
                        "a news reply to {event_type} takes 1 to {most} articles, not {}",
                        articles.len()
                    ));
                }
                PassiveReply::News {
                    articles: articles
                        .into_iter()
                        .map(|a| NewsArticle {
                            title: a.title.into_string(),
                            description: long(a.description),
                            pic_url: url(a.pic_url),
                            url: url(a.url),
                        })
                        .collect(),
                }
            }
        })
    }
}

/// What a receiver's answer asks WeChat to show, if anything.
fn read_answer(body: &[u8], event_type: &str) -> Result<Option<PassiveReply>, String> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| format!("answer is not a reply: {e}"))?;
    answer.reply.map(|r| r.into_passive(event_type)).transpose()
}

/// The reply to answer the follower with, if a `reply: true` subscription
/// among `targets` gave one within the budget.
pub async fn ask(app: &App, event: &EventRecord, targets: &[Webhook]) -> Option<PassiveReply> {
    if !replyable(&event.event_type) {
        return None;
    }
    let webhook = targets.iter().find(|w| w.reply && !w.disabled)?;
    let budget = Duration::from_millis(app.config.reply_budget_ms);
    let asked = tokio::time::timeout(budget, call(app, webhook, event, budget)).await;
    let outcome = match asked {
        Ok(Ok(Some(reply))) => Ok(reply),
        Ok(Ok(None)) => Err("no reply".to_owned()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {} ms", budget.as_millis())),
    };
    match outcome {
        Ok(reply) => {
            telemetry::count("PassiveReplies", &[("Outcome", "replied")]);
            Some(reply)
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
) -> Result<Option<PassiveReply>, String> {
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
    read_answer(&read, &event.event_type)
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

    fn read(answer: serde_json::Value, event_type: &str) -> Result<Option<PassiveReply>, String> {
        read_answer(answer.to_string().as_bytes(), event_type)
    }

    #[test]
    fn every_reply_type_reads_into_what_wechat_receives() {
        let image = read(
            serde_json::json!({"reply": {"msgtype": "image", "media_id": "MEDIA_1"}}),
            "message.text",
        );
        assert_eq!(
            image,
            Ok(Some(PassiveReply::Image {
                media_id: "MEDIA_1".into()
            }))
        );
        let music = read(
            serde_json::json!({"reply": {"msgtype": "music", "title": "Song",
                "music_url": "https://cdn.example.com/a.mp3", "thumb_media_id": "THUMB"}}),
            "event.click",
        );
        assert_eq!(
            music,
            Ok(Some(PassiveReply::Music {
                title: Some("Song".into()),
                description: None,
                music_url: Some("https://cdn.example.com/a.mp3".into()),
                hq_music_url: None,
                thumb_media_id: "THUMB".into(),
            }))
        );
        assert_eq!(
            read(serde_json::json!({"reply": null}), "message.text"),
            Ok(None)
        );
    }

    #[test]
    fn a_news_reply_to_a_message_takes_one_article_and_to_an_event_up_to_eight() {
        let article =
            serde_json::json!({"title": "New menu", "url": "https://shop.example.com/menu"});
        let two = serde_json::json!({"reply": {"msgtype": "news", "articles": [article, article]}});
        assert!(read(two.clone(), "message.text")
            .unwrap_err()
            .contains("1 to 1 articles"));
        match read(two, "event.subscribe") {
            Ok(Some(PassiveReply::News { articles })) => assert_eq!(articles.len(), 2),
            other => panic!("two articles answer an event: {other:?}"),
        }
        let nine = serde_json::json!({"reply": {"msgtype": "news", "articles": vec![article; 9]}});
        assert!(read(nine, "event.click").is_err());
        let none = serde_json::json!({"reply": {"msgtype": "news", "articles": []}});
        assert!(read(none, "event.click").is_err());
    }

    #[test]
    fn a_reply_wechat_would_not_take_is_refused() {
        for bad in [
            serde_json::json!({"reply": {"msgtype": "text", "content": "  "}}),
            serde_json::json!({"reply": {"msgtype": "text", "content": "x".repeat(2049)}}),
            serde_json::json!({"reply": {"msgtype": "text", "content": "hi", "colour": "red"}}),
            serde_json::json!({"reply": {"msgtype": "image"}}),
            serde_json::json!({"reply": {"msgtype": "sticker", "media_id": "M"}}),
            serde_json::json!({"reply": {"msgtype": "music", "thumb_media_id": "T",
                "music_url": "javascript:alert(1)"}}),
            serde_json::json!({"reply": {"msgtype": "text", "content": "hi"}, "extra": 1}),
        ] {
            assert!(read(bad.clone(), "message.text").is_err(), "{bad}");
        }
    }
}
