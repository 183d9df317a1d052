//! Calls whose answer is not always JSON: media and material downloads and the
//! pass-through. The answer is kept as WeChat sent it (status, content type,
//! bytes), read no further than a limit; a JSON error still becomes a typed
//! [`WechatError`] where the retry policy or the token rules must act on it.

use bytes::{Bytes, BytesMut};
use reqwest::RequestBuilder;

use super::call::{transport_error, Envelope};
use super::error::{class_of_errcode, ErrorClass, Sent, WechatError};
use super::WechatClient;
use crate::secret::Secret;

/// An answer as WeChat sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl RawAnswer {
    /// WeChat's non-zero errcode when the body is a JSON error object.
    /// WeChat labels some JSON answers `text/plain`, so the body decides.
    pub fn errcode(&self) -> Option<i64> {
        json_errcode(&self.body).map(|(code, _)| code)
    }

    /// The body as JSON, when it is a JSON object.
    pub fn json(&self) -> Option<serde_json::Value> {
        if !looks_like_json(&self.body) {
            return None;
        }
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .filter(serde_json::Value::is_object)
    }
}

fn looks_like_json(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

fn json_errcode(body: &[u8]) -> Option<(i64, String)> {
    if !looks_like_json(body) {
        return None;
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    match envelope.errcode {
        Some(code) if code != 0 => Some((code, envelope.errmsg.unwrap_or_default())),
        _ => None,
    }
}

/// Which JSON errors come back as `Err` rather than as the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonErrors {
    /// Every non-zero errcode, and every non-2xx status (typed endpoints).
    All,
    /// Only what wxopen acts on itself: a rejected token (renew, retry once),
    /// WeChat busy (-1) and HTTP 5xx (bounded retries). Everything else is the
    /// client's answer (the pass-through).
    Managed,
}

/// A request to pass on to WeChat: its path below the API base, its query
/// (without any token), body and content type as the client sent them.
#[derive(Debug, Clone)]
pub struct PassThrough {
    pub method: reqwest::Method,
    /// `cgi-bin/…`, without a leading slash.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// Stands for the pass-through's path in errors and logs (those want a static endpoint).
pub const PASS_THROUGH_ENDPOINT: &str = "/{pass-through}";

impl WechatClient {
    /// One logical call with the retry policy; each attempt built by `build`.
    pub(crate) async fn send_raw<F>(
        &self,
        endpoint: &'static str,
        build: F,
        limit: usize,
        errors: JsonErrors,
    ) -> Result<RawAnswer, WechatError>
    where
        F: Fn() -> RequestBuilder,
    {
        let result = self
            .retry
            .run(endpoint, || execute_raw(endpoint, build(), limit, errors))
            .await;
        if let Err(err) = &result {
            tracing::debug!(endpoint, errcode = err.errcode(), class = ?err.class(), "wechat call failed");
        }
        result
    }

    /// Passes a client's request on with the authorizer's `access_token`.
    pub async fn pass_through(
        &self,
        access_token: &Secret,
        request: &PassThrough,
        limit: usize,
    ) -> Result<RawAnswer, WechatError> {
        let url = format!("{}/{}", self.base_url, request.path);
        self.send_raw(
            PASS_THROUGH_ENDPOINT,
            || {
                let mut builder = self
                    .http
                    .request(request.method.clone(), &url)
                    .query(&request.query)
                    .query(&[("access_token", access_token.expose())]);
                if let Some(ct) = &request.content_type {
                    builder = builder.header(reqwest::header::CONTENT_TYPE, ct);
                }
                if request.method == reqwest::Method::POST {
                    builder = builder.body(request.body.clone());
                }
                builder
            },
            limit,
            JsonErrors::Managed,
        )
        .await
    }
}

/// One attempt: send, read at most `limit` bytes, sort the answer.
async fn execute_raw(
    endpoint: &'static str,
    request: RequestBuilder,
    limit: usize,
    errors: JsonErrors,
) -> Result<RawAnswer, WechatError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(endpoint, e))?;
    let status = response.status();
    if status.is_server_error() || (errors == JsonErrors::All && !status.is_success()) {
        return Err(WechatError::Http {
            endpoint,
            status: status.as_u16(),
            attempts: 1,
        });
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(WechatError::TooLarge { endpoint, limit });
    }
    let mut body = BytesMut::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| WechatError::Transport {
            endpoint,
            sent: Sent::Unknown,
            attempts: 1,
            source: e.without_url(),
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > limit {
            return Err(WechatError::TooLarge { endpoint, limit });
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    if let Some((errcode, errmsg)) = json_errcode(&body) {
        let managed = matches!(
            class_of_errcode(errcode),
            ErrorClass::TokenInvalid | ErrorClass::Busy
        );
        if errors == JsonErrors::All || managed {
            return Err(WechatError::Api {
                endpoint,
                errcode,
                errmsg,
                msg_id: None,
            });
        }
    }
    Ok(RawAnswer {
        status: status.as_u16(),
        content_type,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcode_is_read_from_json_bodies_only() {
        let answer = |body: &'static [u8]| RawAnswer {
            status: 200,
            content_type: Some("text/plain".into()),
            body: Bytes::from_static(body),
        };
        assert_eq!(
            answer(br#" {"errcode":40007,"errmsg":"invalid media_id"}"#).errcode(),
            Some(40007)
        );
        assert_eq!(answer(br#"{"errcode":0,"errmsg":"ok"}"#).errcode(), None);
        assert_eq!(answer(b"\xff\xd8\xff{\"errcode\":1}").errcode(), None);
        assert_eq!(answer(b"{not json").errcode(), None);
    }
}
