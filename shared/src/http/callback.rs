//! WeChat push endpoints: `POST /wechat/component/events`,
//! `POST /wechat/authorizers/{appid}/events`, and the GET URL check on both.
//!
//! Order of checks: size → query → envelope XML → msg_signature → decrypt (with
//! the appid tail) → timestamp window → the decrypted XML → act. A forged or
//! malformed push is refused before anything is stored.

use super::{query_params, text_response, ApiError, Params, Request, Response};
use crate::app::App;
use crate::crypto::{CryptoError, OpenError, OpenedEnvelope};
use crate::service::push::{self, PushError, PushReply};
use crate::xml::{self, MAX_XML_BYTES};
use bytes::Bytes;
use http::StatusCode;
use tracing::Instrument;

/// The longest `echostr` echoed back by the URL check.
const MAX_ECHOSTR: usize = 512;

/// GET /wechat/component/events: the URL check.
pub async fn component_url_check(app: &App, req: Request) -> Result<Response, ApiError> {
    url_check(app, &req)
}

/// POST /wechat/component/events: tickets and authorization changes.
pub async fn component_events(app: &App, req: Request) -> Result<Response, ApiError> {
    let request_id = crate::telemetry::request_id(req.headers());
    let span = tracing::info_span!("push", request_id = %request_id, url = "component");
    async move {
        let opened = open_push(app, &req)?;
        if opened
            .envelope
            .app_id
            .as_deref()
            .is_some_and(|a| a != app.config.component_appid)
        {
            return Err(refused(
                StatusCode::BAD_REQUEST,
                "wrong_appid",
                "push is addressed to another component",
            ));
        }
        let push = xml::parse_component_push(&opened.opened.message).map_err(malformed)?;
        if let Some(other) = component_appid_of(&push).filter(|a| *a != app.config.component_appid)
        {
            tracing::warn!(appid = other, "push names another component");
            return Err(refused(
                StatusCode::BAD_REQUEST,
                "wrong_appid",
                "push is addressed to another component",
            ));
        }
        let reply = push::on_component_push(app, push)
            .await
            .map_err(push_failed)?;
        answer(app, reply, opened.opened.key_index)
    }
    .instrument(span)
    .await
}

/// GET /wechat/authorizers/{appid}/events: the URL check.
pub async fn authorizer_url_check(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    let _ = params;
    url_check(app, &req)
}

/// POST /wechat/authorizers/{appid}/events: messages and events of an authorizer.
pub async fn authorizer_events(
    app: &App,
    req: Request,
    params: &Params,
) -> Result<Response, ApiError> {
    let request_id = crate::telemetry::request_id(req.headers());
    let appid = params.get("appid").unwrap_or_default().to_owned();
    let span =
        tracing::info_span!("push", request_id = %request_id, url = "authorizer", appid = %appid);
    async move {
        let opened = open_push(app, &req)?;
        if !push::accepts_authorizer(app, &appid).await? {
            tracing::warn!(appid, "push for an account that is not our authorizer");
            return Err(ApiError::not_found("no such authorizer"));
        }
        let message = xml::parse_authorizer_message(&opened.opened.message).map_err(malformed)?;
        let reply = push::on_authorizer_push(app, &appid, message)
            .await
            .map_err(push_failed)?;
        answer(app, reply, opened.opened.key_index)
    }
    .instrument(span)
    .await
}

/// Verify the query and body of a push and decrypt it.
fn open_push(app: &App, req: &Request) -> Result<OpenedEnvelope, ApiError> {
    let body = req.body();
    if body.len() > MAX_XML_BYTES {
        tracing::warn!(bytes = body.len(), "push body over the limit");
        return Err(ApiError::payload_too_large(MAX_XML_BYTES));
    }
    let query = query_params(req);
    let msg_signature = query.get("msg_signature").ok_or_else(|| {
        refused(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "msg_signature is missing",
        )
    })?;
    let timestamp = query.get("timestamp").ok_or_else(|| {
        refused(
            StatusCode::BAD_REQUEST,
            "malformed_push",
            "timestamp is missing",
        )
    })?;
    let nonce = query.get("nonce").ok_or_else(|| {
        refused(
            StatusCode::BAD_REQUEST,
            "malformed_push",
            "nonce is missing",
        )
    })?;
    let opened = app
        .crypto
        .open_envelope(body, msg_signature, timestamp, nonce)
        .map_err(|e| match e {
            OpenError::Crypto(CryptoError::BadSignature) => {
                tracing::warn!("push with a wrong msg_signature refused");
                refused(
                    StatusCode::UNAUTHORIZED,
                    "bad_signature",
                    "msg_signature does not match",
                )
            }
            OpenError::Crypto(c) => {
                tracing::warn!(error = %c, "push could not be decrypted");
                refused(
                    StatusCode::BAD_REQUEST,
                    "malformed_push",
                    "push could not be decrypted",
                )
            }
            OpenError::Xml(x) => malformed(x),
        })?;
    check_timestamp(app, timestamp)?;
    Ok(opened)
}

/// Pushes whose timestamp is far from now are replays.
fn check_timestamp(app: &App, timestamp: &str) -> Result<(), ApiError> {
    let ts: u64 = timestamp.trim().parse().map_err(|_| {
        refused(
            StatusCode::BAD_REQUEST,
            "malformed_push",
            "timestamp is not a number",
        )
    })?;
    if ts.abs_diff(app.now()) > app.config.replay_window_secs {
        tracing::warn!(timestamp = ts, "push outside the replay window refused");
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "replayed",
            "timestamp outside the accepted window",
        ));
    }
    Ok(())
}

/// The GET check: `signature` over (token, timestamp, nonce) → echo `echostr`.
fn url_check(app: &App, req: &Request) -> Result<Response, ApiError> {
    let query = query_params(req);
    let get = |name: &str| {
        query.get(name).ok_or_else(|| {
            refused(
                StatusCode::BAD_REQUEST,
                "malformed_check",
                "signature, timestamp, nonce and echostr are required",
            )
        })
    };
    let (signature, timestamp, nonce, echostr) = (
        get("signature")?,
        get("timestamp")?,
        get("nonce")?,
        get("echostr")?,
    );
    if app
        .crypto
        .verify_url_signature(signature, timestamp, nonce)
        .is_err()
    {
        tracing::warn!("URL check with a wrong signature refused");
        return Err(refused(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "signature does not match",
        ));
    }
    check_timestamp(app, timestamp)?;
    if echostr.len() > MAX_ECHOSTR {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "malformed_check",
            "echostr is too long",
        ));
    }
    Ok(text_response(StatusCode::OK, echostr.clone()))
}

fn answer(app: &App, reply: PushReply, key_index: usize) -> Result<Response, ApiError> {
    match reply {
        PushReply::Success => Ok(text_response(StatusCode::OK, "success")),
        PushReply::Empty => Ok(text_response(StatusCode::OK, Bytes::new())),
        PushReply::Text {
            to_user,
            from_user,
            content,
        } => {
            let now = app.now();
            let plain = xml::text_reply(
                &to_user,
                &from_user,
                i64::try_from(now).unwrap_or(i64::MAX),
                &content,
            );
            let nonce = rand::random_range(1_000_000_000u64..10_000_000_000).to_string();
            let sealed = app
                .crypto
                .seal_reply_with_key(&plain, &now.to_string(), &nonce, key_index)
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot seal the reply");
                    ApiError::internal()
                })?;
            let mut resp = text_response(StatusCode::OK, sealed);
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/xml; charset=utf-8"),
            );
            Ok(resp)
        }
    }
}

fn component_appid_of(push: &xml::ComponentPush) -> Option<&str> {
    match push {
        xml::ComponentPush::ComponentVerifyTicket { app_id, .. }
        | xml::ComponentPush::Unauthorized { app_id, .. } => Some(app_id),
        xml::ComponentPush::Authorized(a) | xml::ComponentPush::UpdateAuthorized(a) => {
            Some(&a.app_id)
        }
        xml::ComponentPush::Unknown { .. } => None,
    }
}

fn refused(status: StatusCode, code: &'static str, message: &str) -> ApiError {
    crate::telemetry::count("PushesRefused", &[("Reason", code)]);
    ApiError::new(status, code, message)
}

fn malformed(e: xml::XmlError) -> ApiError {
    tracing::warn!(error = %e, "malformed push refused");
    refused(
        StatusCode::BAD_REQUEST,
        "malformed_push",
        "push is not acceptable XML",
    )
}

/// Failing now answers 503, so WeChat retries the push.
fn push_failed(e: PushError) -> ApiError {
    match e {
        PushError::Store(s) => s.into(),
        PushError::Exchange(x) => {
            tracing::warn!(error = %x, "push deferred to WeChat's retry");
            let mut err = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "retry_later",
                "push could not be handled now; retry",
            );
            err.retry_after = Some(5);
            err
        }
    }
}
