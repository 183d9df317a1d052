//! Sending one request and reading WeChat's answer: the shared mechanics
//! behind every endpoint method. Retries are decided in `retry.rs`.

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use reqwest::RequestBuilder;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{Sent, WechatError};
use super::WechatClient;
use crate::secret::Secret;

/// Which token, if any, goes into the query string.
#[derive(Clone, Copy)]
pub(crate) enum Token<'a> {
    /// No token (the calls that obtain one).
    None,
    /// `?component_access_token=`: platform calls.
    Component(&'a Secret),
    /// `?access_token=`: calls for an authorizer (or the component's clear_quota).
    Access(&'a Secret),
}

/// A file for a multipart upload, sent as the form field `media`.
pub(crate) struct Upload<'a> {
    pub filename: &'a str,
    pub bytes: Bytes,
}

/// A reply that carries nothing but errcode/errmsg.
#[derive(Debug, Deserialize)]
pub(crate) struct Empty {}

impl WechatClient {
    /// POST a JSON body.
    pub(crate) async fn post_json<B, T>(
        &self,
        endpoint: &'static str,
        token: Token<'_>,
        body: &B,
    ) -> Result<T, WechatError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.send(endpoint, || {
            self.request(reqwest::Method::POST, endpoint, token, &[])
                .json(body)
        })
        .await
    }

    /// GET with query parameters (a `None` value leaves the parameter out).
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        token: Token<'_>,
        query: &[(&str, Option<&str>)],
    ) -> Result<T, WechatError> {
        self.send(endpoint, || {
            self.request(reqwest::Method::GET, endpoint, token, query)
        })
        .await
    }

    /// POST a multipart form whose only part is the file, as field `media`.
    pub(crate) async fn post_media<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        token: Token<'_>,
        query: &[(&str, Option<&str>)],
        upload: Upload<'_>,
    ) -> Result<T, WechatError> {
        self.post_media_with(endpoint, token, query, upload, &[])
            .await
    }

    /// POST a multipart form: the file as field `media`, then text `fields`
    /// (a permanent video's `description`).
    pub(crate) async fn post_media_with<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        token: Token<'_>,
        query: &[(&str, Option<&str>)],
        upload: Upload<'_>,
        fields: &[(&'static str, String)],
    ) -> Result<T, WechatError> {
        self.send(endpoint, || {
            // A form is consumed by sending, so each attempt builds its own;
            // the bytes are shared, not copied.
            let length = u64::try_from(upload.bytes.len()).unwrap_or(u64::MAX);
            let part = Part::stream_with_length(upload.bytes.clone(), length)
                .file_name(upload.filename.to_owned())
                .headers(content_type_for(upload.filename));
            let mut form = Form::new().part("media", part);
            for (name, value) in fields {
                form = form.text(*name, value.clone());
            }
            self.request(reqwest::Method::POST, endpoint, token, query)
                .multipart(form)
        })
        .await
    }

    pub(super) fn request(
        &self,
        method: reqwest::Method,
        endpoint: &'static str,
        token: Token<'_>,
        query: &[(&str, Option<&str>)],
    ) -> RequestBuilder {
        let mut builder = self
            .http
            .request(method, format!("{}{}", self.base_url, endpoint));
        builder = match token {
            Token::None => builder,
            Token::Component(t) => builder.query(&[("component_access_token", t.expose())]),
            Token::Access(t) => builder.query(&[("access_token", t.expose())]),
        };
        let present: Vec<(&str, &str)> = query
            .iter()
            .filter_map(|(name, value)| value.map(|v| (*name, v)))
            .collect();
        if present.is_empty() {
            builder
        } else {
            builder.query(&present)
        }
    }

    pub(super) async fn send<T, F>(
        &self,
        endpoint: &'static str,
        build: F,
    ) -> Result<T, WechatError>
    where
        T: DeserializeOwned,
        F: Fn() -> RequestBuilder,
    {
        let result = self
            .retry
            .run(endpoint, || execute::<T>(endpoint, build()))
            .await;
        match &result {
            Ok(_) => tracing::debug!(endpoint, errcode = 0, "wechat call succeeded"),
            Err(err) => tracing::debug!(
                endpoint,
                errcode = err.errcode(),
                class = ?err.class(),
                "wechat call failed"
            ),
        }
        result
    }
}

/// One attempt: send, check the status, decode.
async fn execute<T: DeserializeOwned>(
    endpoint: &'static str,
    request: RequestBuilder,
) -> Result<T, WechatError> {
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(endpoint, e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(WechatError::Http {
            endpoint,
            status: status.as_u16(),
            attempts: 1,
        });
    }
    let body = response.bytes().await.map_err(|e| WechatError::Transport {
        endpoint,
        sent: Sent::Unknown,
        attempts: 1,
        source: e.without_url(),
    })?;
    decode(endpoint, &body)
}

/// A connect failure means nothing reached WeChat; any later failure may have.
pub(super) fn transport_error(endpoint: &'static str, err: reqwest::Error) -> WechatError {
    let sent = if err.is_connect() || err.is_builder() {
        Sent::NotSent
    } else {
        Sent::Unknown
    };
    WechatError::Transport {
        endpoint,
        sent,
        attempts: 1,
        source: err.without_url(),
    }
}

/// The fields every WeChat reply may carry. The earlier message id comes with
/// 45065: `msg_id` for mass sends, `msgid` for template sends.
#[derive(Deserialize)]
pub(super) struct Envelope {
    #[serde(default)]
    pub errcode: Option<i64>,
    #[serde(default)]
    pub errmsg: Option<String>,
    #[serde(default)]
    msg_id: Option<serde_json::Value>,
    #[serde(default)]
    msgid: Option<serde_json::Value>,
}

/// Reads a reply: a non-zero errcode becomes [`WechatError::Api`], anything
/// else must decode as `T`.
pub(crate) fn decode<T: DeserializeOwned>(
    endpoint: &'static str,
    body: &[u8],
) -> Result<T, WechatError> {
    let envelope: Envelope = from_json(endpoint, body)?;
    match envelope.errcode {
        None | Some(0) => from_json(endpoint, body),
        Some(errcode) => Err(WechatError::Api {
            endpoint,
            errcode,
            errmsg: envelope.errmsg.unwrap_or_default(),
            msg_id: envelope
                .msg_id
                .as_ref()
                .or(envelope.msgid.as_ref())
                .and_then(super::de::value_as_u64),
        }),
    }
}

fn from_json<T: DeserializeOwned>(endpoint: &'static str, body: &[u8]) -> Result<T, WechatError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| WechatError::Decode {
            endpoint,
            path: e.path().to_string(),
            source: e.into_inner(),
        })?;
    deserializer.end().map_err(|source| WechatError::Decode {
        endpoint,
        path: ".".to_owned(),
        source,
    })?;
    Ok(value)
}

/// A part Content-Type from the file extension; WeChat checks it for media.
fn content_type_for(filename: &str) -> reqwest::header::HeaderMap {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let mime = match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "mp3" => "audio/mpeg",
        "amr" => "audio/amr",
        "wma" => "audio/x-ms-wma",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    };
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static(mime),
    );
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Reply {
        #[allow(dead_code)]
        inner: Inner,
    }
    #[derive(Debug, Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        expires_in: u64,
    }

    #[test]
    fn nonzero_errcode_becomes_api_error_with_the_text() {
        let err = decode::<Empty>(
            "/x",
            br#"{"errcode":40001,"errmsg":"invalid credential rid: 1"}"#,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            WechatError::Api { errcode: 40001, ref errmsg, msg_id: None, .. } if errmsg == "invalid credential rid: 1"
        ));
    }

    #[test]
    fn errcode_zero_or_absent_decodes_the_reply() {
        assert!(decode::<Empty>("/x", br#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        assert!(decode::<Empty>("/x", br#"{}"#).is_ok());
    }

    #[test]
    fn duplicate_template_send_keeps_the_earlier_msgid() {
        let err = decode::<serde_json::Value>(
            "/cgi-bin/message/template/send",
            br#"{"errcode":45065,"errmsg":"dup","msgid":77}"#,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                WechatError::Api {
                    msg_id: Some(77),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn duplicate_mass_send_keeps_the_earlier_msg_id() {
        let err = decode::<Empty>(
            "/x",
            br#"{"errcode":45065,"errmsg":"dup","msg_id":"1000001"}"#,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            WechatError::Api {
                msg_id: Some(1000001),
                ..
            }
        ));
    }

    #[test]
    fn wrong_field_type_names_the_nested_path() {
        let err = decode::<Reply>("/x", br#"{"inner":{"expires_in":"soon"}}"#).unwrap_err();
        assert!(matches!(err, WechatError::Decode { ref path, .. } if path == "inner.expires_in"));
    }

    #[test]
    fn trailing_garbage_is_a_decode_error() {
        assert!(matches!(
            decode::<Empty>("/x", br#"{} x"#),
            Err(WechatError::Decode { .. })
        ));
    }

    #[test]
    fn content_type_follows_the_extension() {
        let ct = |name| content_type_for(name)[reqwest::header::CONTENT_TYPE].clone();
        assert_eq!(ct("a.JPG"), "image/jpeg");
        assert_eq!(ct("voice.amr"), "audio/amr");
        assert_eq!(ct("noext"), "application/octet-stream");
    }
}
