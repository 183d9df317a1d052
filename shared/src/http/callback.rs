//! WeChat push endpoints: `POST /wechat/component/events`,
//! `POST /wechat/authorizers/{appid}/events`, and the GET URL check on both.
//!
//! Order of checks: size → query → envelope XML → msg_signature → decrypt (with
//! the appid tail) → timestamp window → the decrypted XML → act. A forged or
//! malformed push is refused before anything is stored.

use super::error::ErrorCode;
use super::{query_params, text_response, ApiError, Params, Request, Response};
use crate::app::App;
use crate::crypto::{CryptoError, OpenError, OpenedEnvelope};
use crate::service::push::{self, PushReply};
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
            return Err(refused(ErrorCode::WrongAppid, ""));
        }
        let push = xml::parse_component_push(&opened.opened.message).map_err(malformed)?;
        if let Some(other) = component_appid_of(&push).filter(|a| *a != app.config.component_appid)
        {
            tracing::warn!(appid = other, "push names another component");
            return Err(refused(ErrorCode::WrongAppid, ""));
        }
        check_create_time(app, push.create_time())?;
        let reply = push::on_component_push(app, push)
            .await
            .map_err(ApiError::from)?;
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
        let Some(account) = push::authorizer_account(app, &appid).await? else {
            tracing::warn!(appid, "push for an account that is not our authorizer");
            return Err(ApiError::not_found("no such authorizer"));
        };
        let message = xml::parse_authorizer_message(&opened.opened.message).map_err(malformed)?;
        check_addressee(&account, opened.envelope.to_user_name.as_deref(), &message)?;
        let reply = push::on_authorizer_push(app, &appid, &account, message)
            .await
            .map_err(ApiError::from)?;
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
    let msg_signature = query
        .get("msg_signature")
        .ok_or_else(|| refused(ErrorCode::BadSignature, "msg_signature is missing"))?;
    let timestamp = query
        .get("timestamp")
        .ok_or_else(|| refused(ErrorCode::MalformedPush, "timestamp is missing"))?;
    let nonce = query
        .get("nonce")
        .ok_or_else(|| refused(ErrorCode::MalformedPush, "nonce is missing"))?;
    let opened = app
        .crypto
        .open_envelope(body, msg_signature, timestamp, nonce)
        .map_err(|e| match e {
            OpenError::Crypto(CryptoError::BadSignature) => {
                tracing::warn!("push with a wrong msg_signature refused");
                refused(ErrorCode::BadSignature, "msg_signature does not match")
            }
            OpenError::Crypto(c) => {
                tracing::warn!(error = %c, "push could not be decrypted");
                refused(ErrorCode::MalformedPush, "push could not be decrypted")
            }
            OpenError::Xml(x) => malformed(x),
        })?;
    check_timestamp(app, timestamp)?;
    Ok(opened)
}

/// Pushes whose timestamp is far from now are replays.
fn check_timestamp(app: &App, timestamp: &str) -> Result<(), ApiError> {
    let ts: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| refused(ErrorCode::MalformedPush, "timestamp is not a number"))?;
    if ts.abs_diff(app.now()) > app.config.replay_window_secs {
        tracing::warn!(timestamp = ts, "push outside the replay window refused");
        return Err(refused(ErrorCode::Replayed, ""));
    }
    Ok(())
}

/// A push WeChat says it created later than the window allows is refused: a
/// ticket "from the future" would otherwise be kept over every real ticket
/// until that time came (`put_ticket_if_newer`), and an authorization
/// change would order itself after changes still to come.
fn check_create_time(app: &App, create_time: Option<i64>) -> Result<(), ApiError> {
    let latest = app.now().saturating_add(app.config.replay_window_secs);
    match create_time {
        Some(t) if u64::try_from(t).is_ok_and(|t| t > latest) => {
            tracing::warn!(
                create_time = t,
                "push with a CreateTime in the future refused"
            );
            Err(refused(ErrorCode::Replayed, "CreateTime is in the future"))
        }
        _ => Ok(()),
    }
}

/// A push is for the account of its URL: its `ToUserName` (the envelope's,
/// and the decrypted one) is that account's gh_ id. Every authorizer's pushes
/// are sealed with the one component key, so without this a push of account
/// A, replayed at B's URL, was acted on as B's.
fn check_addressee(
    account: &push::PushAccount,
    envelope_to: Option<&str>,
    message: &xml::AuthorizerMessage,
) -> Result<(), ApiError> {
    let to = message.to_user_name.as_str();
    let expected = match account {
        // Their gh_ ids are not ours to know.
        push::PushAccount::ReleaseTest => None,
        push::PushAccount::Authorizer { user_name, .. } => user_name.as_deref(),
    };
    let envelope_differs = envelope_to.is_some_and(|e| e != to);
    let account_differs = expected.is_some_and(|u| u != to);
    if envelope_differs || account_differs {
        tracing::warn!(
            to_user_name = to,
            expected,
            envelope_to,
            "push addressed to another account refused"
        );
        return Err(refused(ErrorCode::WrongAccount, ""));
    }
    if expected.is_none() && matches!(account, push::PushAccount::Authorizer { .. }) {
        // The profile could not be fetched when it was authorized: nothing to
        // compare with yet (the next authorization fetches it again).
        tracing::warn!(
            to_user_name = to,
            "authorizer without a known gh_ id: ToUserName not checked"
        );
    }
    Ok(())
}

/// The GET check: `signature` over (token, timestamp, nonce) → echo `echostr`.
fn url_check(app: &App, req: &Request) -> Result<Response, ApiError> {
    let query = query_params(req);
    let get = |name: &str| {
        query
            .get(name)
            .ok_or_else(|| refused(ErrorCode::MalformedCheck, ""))
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
        return Err(refused(ErrorCode::BadSignature, "signature does not match"));
    }
    check_timestamp(app, timestamp)?;
    if echostr.len() > MAX_ECHOSTR {
        return Err(refused(ErrorCode::MalformedCheck, "echostr is too long"));
    }
    Ok(text_response(StatusCode::OK, echostr.clone()))
}

fn answer(app: &App, reply: PushReply, key_index: usize) -> Result<Response, ApiError> {
    match reply {
        PushReply::Success => Ok(text_response(StatusCode::OK, "success")),
        PushReply::Empty => Ok(text_response(StatusCode::OK, Bytes::new())),
        PushReply::Reply {
            to_user,
            from_user,
            reply,
        } => {
            let now = app.now();
            let plain = xml::passive_reply(
                &to_user,
                &from_user,
                i64::try_from(now).unwrap_or(i64::MAX),
                &reply,
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

/// A refused push or URL check, counted by its code; `detail` may be empty.
fn refused(code: ErrorCode, detail: &str) -> ApiError {
    crate::telemetry::count("PushesRefused", &[("Reason", code.as_str())]);
    if detail.is_empty() {
        ApiError::new(code)
    } else {
        ApiError::detailed(code, detail)
    }
}

fn malformed(e: xml::XmlError) -> ApiError {
    tracing::warn!(error = %e, "malformed push refused");
    refused(ErrorCode::MalformedPush, "push is not acceptable XML")
}
