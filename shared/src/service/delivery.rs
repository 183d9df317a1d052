//! Sending one message (template or subscription notification, see
//! [`BulkMessage`]) to many openids for one authorizer: bounded
//! concurrency per authorizer, one token per batch with compare-and-invalidate
//! on a token error, and each failure sorted into what the caller must do
//! (design.md §6). Used by inline sends and by the job worker alike.

use crate::app::App;
pub use crate::domain::StopReason;
use crate::secret::Secret;
use crate::service::job_kind::BulkMessage;
use crate::tokens::TokenError;
use crate::wechat::{ErrorClass, WechatError};
use futures::stream::{self, Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::Semaphore;

/// errcodes that mean the template itself is wrong, so every recipient would fail alike.
const TEMPLATE_ERRCODES: &[i64] = &[40036, 40037, 47003];

/// What became of one recipient in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// WeChat accepted it (or had already accepted it under the same client_msg_id).
    Sent { msgid: Option<u64> },
    /// WeChat refused this recipient (40003, 43004, …): recorded, the rest go on.
    Failed { errcode: Option<i64> },
    /// The request may have been carried out (timeout after sending): re-send
    /// only with the same client_msg_id, which WeChat deduplicates.
    Unknown,
    /// Certainly not sent (busy, 5xx, unreachable) after the client's own retries: try again later.
    Retryable { errcode: Option<i64> },
    /// Nothing more may be sent (quota spent, authorizer revoked, bad template, …); this recipient was not sent.
    Stop(StopReason),
    /// Not attempted: the batch had already stopped.
    Skipped,
}

impl Delivery {
    /// The `Outcome` dimension of the `Sends` metric.
    fn outcome(&self) -> Outcome {
        match self {
            Delivery::Sent { .. } => Outcome::Sent,
            Delivery::Failed { .. } => Outcome::Failed,
            Delivery::Unknown => Outcome::Unknown,
            Delivery::Retryable { .. } => Outcome::Retryable,
            Delivery::Stop(_) => Outcome::Stopped,
            Delivery::Skipped => Outcome::Skipped,
        }
    }
}

/// What the `Sends` metric counts, one counter each.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Sent,
    Failed,
    Unknown,
    Retryable,
    Stopped,
    Skipped,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Sent,
        Outcome::Failed,
        Outcome::Unknown,
        Outcome::Retryable,
        Outcome::Stopped,
        Outcome::Skipped,
    ];

    fn name(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
            Outcome::Retryable => "retryable",
            Outcome::Stopped => "stopped",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Sorts a WeChat failure of one send to one recipient.
pub fn classify(err: &WechatError) -> Delivery {
    match err.class() {
        ErrorClass::AlreadySent => Delivery::Sent {
            msgid: already_sent_msgid(err),
        },
        ErrorClass::Recipient => Delivery::Failed {
            errcode: err.errcode(),
        },
        ErrorClass::Quota => Delivery::Stop(StopReason::QuotaExhausted),
        ErrorClass::RefreshTokenInvalid => Delivery::Stop(StopReason::AuthorizerNeedsReauth),
        ErrorClass::Unknown => Delivery::Unknown,
        ErrorClass::Busy | ErrorClass::Unavailable | ErrorClass::TokenInvalid => {
            Delivery::Retryable {
                errcode: err.errcode(),
            }
        }
        ErrorClass::Other => match err.errcode() {
            Some(code) if TEMPLATE_ERRCODES.contains(&code) => {
                Delivery::Stop(StopReason::InvalidTemplate {
                    errcode: Some(code),
                })
            }
            code => Delivery::Stop(StopReason::WechatError { errcode: code }),
        },
    }
}

fn already_sent_msgid(err: &WechatError) -> Option<u64> {
    match err {
        WechatError::Api { msg_id, .. } => *msg_id,
        _ => None,
    }
}

/// Sorts a failure to obtain or use the authorizer's token.
pub fn classify_token(err: &TokenError) -> Delivery {
    match err {
        TokenError::Revoked(_) => Delivery::Stop(StopReason::AuthorizerRevoked),
        TokenError::NeedsReauth(_) => Delivery::Stop(StopReason::AuthorizerNeedsReauth),
        TokenError::UnknownAuthorizer(_) => Delivery::Stop(StopReason::AuthorizerUnknown),
        TokenError::Wechat(e) => classify(e),
        TokenError::NoTicket | TokenError::Busy | TokenError::Store(_) => {
            Delivery::Retryable { errcode: None }
        }
    }
}

/// The dedupe id WeChat keeps for about 10 minutes: the same (seed, openid)
/// always gives the same id, so a repeated attempt is dropped by WeChat.
pub fn client_msg_id(seed: &str, openid: &str) -> String {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    h.update([0u8]);
    h.update(openid.as_bytes());
    let mut id = hex::encode(h.finalize());
    id.truncate(32);
    id
}

type LimiterKey = (String, String, usize);

/// One semaphore per (component, authorizer, limit) in this process, shared by
/// every inline send and chunk of that authorizer, so running chunks side by
/// side never exceeds the configured concurrency against one account.
pub fn limiter(app: &App, appid: &str) -> Arc<Semaphore> {
    static LIMITERS: OnceLock<Mutex<HashMap<LimiterKey, Arc<Semaphore>>>> = OnceLock::new();
    let limit = app.config.send_concurrency.max(1);
    let key = (app.config.component_appid.clone(), appid.to_owned(), limit);
    let mut map = LIMITERS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(key)
        .or_insert_with(|| Arc::new(Semaphore::new(limit)))
        .clone()
}

/// A message being sent to many recipients of one authorizer.
pub struct Batch {
    app: App,
    appid: String,
    message: BulkMessage,
    token: Mutex<Secret>,
    limiter: Arc<Semaphore>,
    stop: OnceLock<StopReason>,
    /// Recipients by [`Outcome`], emitted as `Sends` when the batch ends: one
    /// metric line per outcome and batch, not one per recipient.
    tally: [AtomicU64; Outcome::ALL.len()],
}

impl Batch {
    /// Fetches the authorizer token once for the whole batch.
    pub async fn start(
        app: &App,
        appid: &str,
        message: impl Into<BulkMessage>,
    ) -> Result<Batch, TokenError> {
        let token = app.tokens.authorizer_token(appid).await?;
        Ok(Batch {
            app: app.clone(),
            appid: appid.to_owned(),
            message: message.into(),
            token: Mutex::new(token),
            limiter: limiter(app, appid),
            stop: OnceLock::new(),
            tally: Default::default(),
        })
    }

    /// Stops the batch: sends not yet begun are skipped. The first reason wins.
    pub fn stop(&self, reason: StopReason) {
        let _ = self.stop.set(reason);
    }

    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.get()
    }

    /// Whether a recipient whose outcome is [`Delivery::Unknown`] may be sent
    /// again: only when WeChat drops the repeat (a template's client_msg_id).
    /// Otherwise the unknown outcome is final, never a second message.
    pub fn resends_unknown(&self) -> bool {
        self.message.dedupes_repeats()
    }

    /// Sends to each `(openid, client_msg_id)`, at most the authorizer's
    /// concurrency at once, yielding outcomes as they complete. A `Stop`
    /// outcome stops the batch before it is yielded.
    pub fn deliver(
        &self,
        recipients: Vec<(String, String)>,
    ) -> impl Stream<Item = (String, Delivery)> + '_ {
        let width = self.app.config.send_concurrency.max(1);
        stream::iter(recipients)
            .map(move |(openid, id)| async move {
                let outcome = self.send_one(&openid, id).await;
                self.tally[outcome.outcome() as usize].fetch_add(1, Ordering::Relaxed);
                if let Delivery::Stop(reason) = &outcome {
                    self.stop(reason.clone());
                }
                (openid, outcome)
            })
            .buffer_unordered(width)
    }

    async fn send_one(&self, openid: &str, client_msg_id: String) -> Delivery {
        if self.stop.get().is_some() {
            return Delivery::Skipped;
        }
        // Built before taking a permit: the permit covers only the call itself.
        let message = self.message.to_recipient(openid, client_msg_id);
        let Ok(_permit) = self.limiter.acquire().await else {
            return Delivery::Retryable { errcode: None };
        };
        if self.stop.get().is_some() {
            return Delivery::Skipped;
        }
        let token = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match message.send_to(&self.app.wechat, &token).await {
            Ok(msgid) => Delivery::Sent { msgid },
            Err(e) if e.class() == ErrorClass::TokenInvalid => {
                self.send_after_token_error(&message).await
            }
            Err(e) => classify(&e),
        }
    }

    /// The batch's token was refused: let the token manager compare-and-invalidate,
    /// renew once and retry once, then keep the renewed token for the rest.
    async fn send_after_token_error(&self, message: &BulkMessage) -> Delivery {
        let wechat = &self.app.wechat;
        let result = self
            .app
            .tokens
            .with_authorizer_token(&self.appid, |token| async move {
                message.send_to(wechat, &token).await
            })
            .await;
        match result {
            Ok(msgid) => {
                if let Ok(fresh) = self.app.tokens.authorizer_token(&self.appid).await {
                    *self.token.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
                }
                Delivery::Sent { msgid }
            }
            Err(e) => classify_token(&e),
        }
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        for outcome in Outcome::ALL {
            let n = self.tally[outcome as usize].load(Ordering::Relaxed);
            if n > 0 {
                crate::telemetry::metric(
                    "Sends",
                    n as f64,
                    crate::telemetry::Unit::Count,
                    &[("Outcome", outcome.name())],
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(errcode: i64, msg_id: Option<u64>) -> WechatError {
        WechatError::Api {
            endpoint: "/cgi-bin/message/template/send",
            errcode,
            errmsg: String::new(),
            msg_id,
        }
    }

    #[test]
    fn already_sent_counts_as_sent_with_the_earlier_msgid() {
        assert_eq!(
            classify(&api(45065, Some(9))),
            Delivery::Sent { msgid: Some(9) }
        );
    }

    #[test]
    fn recipient_errors_fail_one_and_quota_stops_all() {
        assert_eq!(
            classify(&api(43004, None)),
            Delivery::Failed {
                errcode: Some(43004)
            }
        );
        assert_eq!(
            classify(&api(45009, None)),
            Delivery::Stop(StopReason::QuotaExhausted)
        );
    }

    #[test]
    fn busy_is_retryable_and_a_bad_template_stops() {
        assert_eq!(
            classify(&api(-1, None)),
            Delivery::Retryable { errcode: Some(-1) }
        );
        assert_eq!(
            classify(&api(40037, None)),
            Delivery::Stop(StopReason::InvalidTemplate {
                errcode: Some(40037)
            })
        );
        assert_eq!(
            classify(&api(48001, None)),
            Delivery::Stop(StopReason::WechatError {
                errcode: Some(48001)
            })
        );
    }

    #[test]
    fn revoked_and_reauth_stop_while_a_missing_ticket_is_retryable() {
        assert_eq!(
            classify_token(&TokenError::Revoked("wx".into())),
            Delivery::Stop(StopReason::AuthorizerRevoked)
        );
        assert_eq!(
            classify_token(&TokenError::NeedsReauth("wx".into())),
            Delivery::Stop(StopReason::AuthorizerNeedsReauth)
        );
        assert_eq!(
            classify_token(&TokenError::NoTicket),
            Delivery::Retryable { errcode: None }
        );
    }

    #[test]
    fn client_msg_id_is_stable_short_and_differs_per_recipient() {
        let a = client_msg_id("job_1", "oA");
        assert_eq!(a, client_msg_id("job_1", "oA"));
        assert_ne!(a, client_msg_id("job_1", "oB"));
        assert_ne!(a, client_msg_id("job_2", "oA"));
        assert_eq!(a.len(), 32);
    }
}
