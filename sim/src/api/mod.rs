//! The WeChat API surface: one dispatcher that injects faults, checks tokens, runs the
//! endpoint against the world under a short lock, records the call and answers JSON.

mod component;
mod identity;
mod materials;
mod media;
mod messages;
mod quota;
mod subscribe;
mod tags;
mod templates;
mod users;

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::calls::{lock, RawBody, RawCall};
use crate::faults::Fault;
use crate::push::PushEvent;
use crate::server::ConnKiller;
use crate::shared::Shared;
use crate::world::{invalid_credential, Account, Owner, World};

/// A WeChat error answer: `{errcode, errmsg: "… rid: …", extra…}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: i64,
    pub msg: Cow<'static, str>,
    pub extra: Option<(&'static str, Value)>,
}

impl ApiError {
    pub(crate) fn new(code: i64, msg: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            code,
            msg: msg.into(),
            extra: None,
        }
    }

    pub(crate) fn with(mut self, key: &'static str, value: Value) -> Self {
        self.extra = Some((key, value));
        self
    }
}

pub(crate) fn format_error() -> ApiError {
    ApiError::new(47001, "data format error")
}

/// Which token an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Auth {
    None,
    Component,
    Authorizer,
    Either,
}

pub(crate) type Handler = fn(&mut Ctx<'_>) -> Result<Value, ApiError>;

pub(crate) struct Endpoint {
    pub path: &'static str,
    pub auth: Auth,
    pub multipart: bool,
    pub run: Handler,
}

const fn ep(path: &'static str, auth: Auth, run: Handler) -> Endpoint {
    Endpoint {
        path,
        auth,
        multipart: false,
        run,
    }
}

const fn upload(path: &'static str, run: Handler) -> Endpoint {
    Endpoint {
        path,
        auth: Auth::Authorizer,
        multipart: true,
        run,
    }
}

/// Every endpoint of wechat-api.md §3 and §5.
pub(crate) const ENDPOINTS: &[Endpoint] = &[
    ep(
        "/cgi-bin/component/api_component_token",
        Auth::None,
        component::component_token,
    ),
    ep(
        "/cgi-bin/component/api_start_push_ticket",
        Auth::None,
        component::start_push_ticket,
    ),
    ep(
        "/cgi-bin/component/api_create_preauthcode",
        Auth::Component,
        component::create_preauthcode,
    ),
    ep(
        "/cgi-bin/component/api_query_auth",
        Auth::Component,
        component::query_auth,
    ),
    ep(
        "/cgi-bin/component/api_authorizer_token",
        Auth::Component,
        component::authorizer_token,
    ),
    ep(
        "/cgi-bin/component/api_get_authorizer_info",
        Auth::Component,
        component::get_authorizer_info,
    ),
    ep(
        "/cgi-bin/component/api_get_authorizer_list",
        Auth::Component,
        component::get_authorizer_list,
    ),
    ep("/cgi-bin/clear_quota", Auth::Either, quota::clear_quota),
    ep(
        "/cgi-bin/openapi/quota/get",
        Auth::Authorizer,
        quota::quota_get,
    ),
    ep(
        "/cgi-bin/component/clear_quota/v2",
        Auth::None,
        quota::clear_quota_v2,
    ),
    ep(
        "/cgi-bin/message/template/send",
        Auth::Authorizer,
        messages::template_send,
    ),
    ep(
        "/cgi-bin/message/mass/sendall",
        Auth::Authorizer,
        messages::mass_sendall,
    ),
    ep(
        "/cgi-bin/message/mass/send",
        Auth::Authorizer,
        messages::mass_send,
    ),
    ep(
        "/cgi-bin/message/mass/get",
        Auth::Authorizer,
        messages::mass_get,
    ),
    ep(
        "/cgi-bin/message/mass/delete",
        Auth::Authorizer,
        messages::mass_delete,
    ),
    ep(
        "/cgi-bin/message/mass/preview",
        Auth::Authorizer,
        messages::mass_preview,
    ),
    ep(
        "/cgi-bin/message/custom/send",
        Auth::Authorizer,
        messages::custom_send,
    ),
    upload("/cgi-bin/media/uploadimg", media::upload_img),
    upload("/cgi-bin/media/upload", media::upload),
    upload("/cgi-bin/material/add_material", materials::add),
    ep(
        "/cgi-bin/material/get_material",
        Auth::Authorizer,
        materials::get,
    ),
    ep(
        "/cgi-bin/material/del_material",
        Auth::Authorizer,
        materials::delete,
    ),
    ep(
        "/cgi-bin/material/get_materialcount",
        Auth::Authorizer,
        materials::count,
    ),
    ep(
        "/cgi-bin/material/batchget_material",
        Auth::Authorizer,
        materials::batchget,
    ),
    ep(
        "/cgi-bin/media/uploadnews",
        Auth::Authorizer,
        media::upload_news,
    ),
    ep("/cgi-bin/media/get", Auth::Authorizer, media::media_get),
    ep(
        "/cgi-bin/message/subscribe/bizsend",
        Auth::Authorizer,
        subscribe::bizsend,
    ),
    ep("/cgi-bin/user/get", Auth::Authorizer, users::user_get),
    ep(
        "/cgi-bin/user/info/updateremark",
        Auth::Authorizer,
        users::update_remark,
    ),
    ep("/cgi-bin/tags/getidlist", Auth::Authorizer, users::tags_of),
    ep("/cgi-bin/tags/create", Auth::Authorizer, tags::create),
    ep("/cgi-bin/tags/get", Auth::Authorizer, tags::get),
    ep("/cgi-bin/tags/update", Auth::Authorizer, tags::update),
    ep("/cgi-bin/tags/delete", Auth::Authorizer, tags::delete),
    ep(
        "/cgi-bin/tags/members/batchtagging",
        Auth::Authorizer,
        tags::batch_tagging,
    ),
    ep(
        "/cgi-bin/tags/members/batchuntagging",
        Auth::Authorizer,
        tags::batch_untagging,
    ),
    ep("/cgi-bin/user/info", Auth::Authorizer, users::user_info),
    ep(
        "/cgi-bin/user/info/batchget",
        Auth::Authorizer,
        users::batchget,
    ),
    ep(
        "/cgi-bin/template/get_all_private_template",
        Auth::Authorizer,
        templates::get_all,
    ),
    ep(
        "/cgi-bin/template/api_add_template",
        Auth::Authorizer,
        templates::add,
    ),
    ep(
        "/cgi-bin/template/del_private_template",
        Auth::Authorizer,
        templates::delete,
    ),
    ep(
        "/cgi-bin/template/get_industry",
        Auth::Authorizer,
        templates::get_industry,
    ),
    ep(
        "/cgi-bin/template/api_set_industry",
        Auth::Authorizer,
        templates::set_industry,
    ),
    // Identity (wechat-api.md §8).
    ep(
        "/sns/oauth2/component/access_token",
        Auth::Component,
        identity::sns_component_access_token,
    ),
    ep("/sns/userinfo", Auth::None, identity::sns_userinfo),
    ep(
        "/cgi-bin/ticket/getticket",
        Auth::Authorizer,
        identity::getticket,
    ),
    ep(
        "/cgi-bin/qrcode/create",
        Auth::Authorizer,
        identity::qrcode_create,
    ),
];

/// One uploaded multipart part.
pub(crate) struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// What a call brought: its query, its JSON body (parsed once) and its multipart parts.
pub(crate) struct Input {
    query: Vec<(String, String)>,
    body: Result<Map<String, Value>, ApiError>,
    pub parts: Vec<Part>,
}

impl Input {
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The context an endpoint runs in, under the world lock.
pub(crate) struct Ctx<'a> {
    pub w: &'a mut World,
    pub now: u64,
    pub input: &'a Input,
    /// The appid of the authorizer whose token was presented, if any.
    pub caller: Option<Owner>,
    pub events: Vec<PushEvent>,
    /// Set by api_start_push_ticket: push a fresh ticket after this call.
    pub ticket_requested: bool,
    /// Set by downloads: answer these bytes instead of the JSON.
    pub file: Option<FileAnswer>,
}

/// A file answered as WeChat answers media: its bytes with their content type.
pub(crate) struct FileAnswer {
    pub content_type: &'static str,
    pub filename: String,
    pub data: Bytes,
}

impl<'a> Ctx<'a> {
    /// The JSON body: 44002 when empty, 47001 when not a JSON object.
    pub(crate) fn body(&self) -> Result<&'a Map<String, Value>, ApiError> {
        let input: &'a Input = self.input;
        input.body.as_ref().map_err(Clone::clone)
    }

    /// The authorizer account whose token was presented.
    pub(crate) fn account(&mut self) -> Result<&mut Account, ApiError> {
        let Some(Owner::Authorizer(appid)) = &self.caller else {
            return Err(invalid_credential());
        };
        self.w
            .accounts
            .get_mut(appid)
            .ok_or_else(invalid_credential)
    }

    pub(crate) fn caller_appid(&self) -> Result<String, ApiError> {
        match &self.caller {
            Some(Owner::Authorizer(appid)) => Ok(appid.clone()),
            _ => Err(invalid_credential()),
        }
    }
}

/// A non-empty string field.
pub(crate) fn s<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|v| !v.is_empty())
}

/// A non-negative integer field, as a number or a numeric string.
pub(crate) fn u(m: &Map<String, Value>, key: &str) -> Option<u64> {
    match m.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(crate) fn ok() -> Value {
    json!({"errcode": 0, "errmsg": "ok"})
}

/// The day a daily quota counts in: unix seconds over this.
pub(super) const DAY: u64 = 86400;

const MAX_BODY: usize = 24 * 1024 * 1024;

/// The WeChat API endpoint served at `path`, if any.
pub(crate) fn endpoint_for(path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.path == path)
}

/// The fallback route: a path that is neither an API endpoint nor a simulator page.
pub(crate) async fn dispatch(State(sim): State<Arc<Shared>>, req: Request) -> Response {
    let Some(ep) = endpoint_for(req.uri().path()) else {
        return (StatusCode::NOT_FOUND, "<html>404 Not Found</html>").into_response();
    };
    let killer = req.extensions().get::<ConnKiller>().cloned();
    call(&sim, ep, killer, req).await
}

/// Serve one call of an API endpoint; `killer` closes its connection (the `drop` fault).
pub(crate) async fn call(
    sim: &Arc<Shared>,
    ep: &'static Endpoint,
    killer: Option<ConnKiller>,
    req: Request,
) -> Response {
    let query: Box<str> = req.uri().query().unwrap_or("").into();
    if let Some(fault) = sim.faults.decide(ep.path) {
        match fault {
            Fault::Latency(d) => tokio::time::sleep(d).await,
            other => return inject(sim, ep, query, other, killer, req).await,
        }
    }
    let (input, recorded) = match read_input(ep, req).await {
        Ok(v) => v,
        Err(e) => {
            let now = sim.clock.now();
            let seq = sim.calls.next_seq();
            record(
                sim,
                seq,
                ep,
                query,
                RawBody::Json(Bytes::new()),
                e.code,
                now,
                None,
            );
            return error_response(&e, now, seq);
        }
    };
    let now = sim.clock.now();
    let seq = sim.calls.next_seq();
    let (result, events, ticket_requested, file) = {
        let mut world = lock(&sim.world);
        let mut ctx = Ctx {
            w: &mut world,
            now,
            input: &input,
            caller: None,
            events: Vec::new(),
            ticket_requested: false,
            file: None,
        };
        let result = authenticate(&mut ctx, ep.auth).and_then(|()| (ep.run)(&mut ctx));
        (result, ctx.events, ctx.ticket_requested, ctx.file)
    };
    let errcode = match &result {
        Ok(v) => v.get("errcode").and_then(Value::as_i64).unwrap_or(0),
        Err(e) => e.code,
    };
    record(sim, seq, ep, query, recorded, errcode, now, None);
    for event in &events {
        sim.pusher.enqueue(event, now);
    }
    if ticket_requested {
        let sim = sim.clone();
        tokio::spawn(async move { sim.push_ticket().await });
    }
    match (result, file) {
        (Ok(_), Some(file)) => file_response(file),
        (Ok(v), None) => json_response(&v),
        (Err(e), _) => error_response(&e, now, seq),
    }
}

fn file_response(file: FileAnswer) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", file.filename);
    (
        [
            (header::CONTENT_TYPE, file.content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        file.data,
    )
        .into_response()
}

fn authenticate(ctx: &mut Ctx<'_>, auth: Auth) -> Result<(), ApiError> {
    if auth == Auth::None {
        return Ok(());
    }
    let token = match auth {
        Auth::Authorizer => ctx.input.query("access_token"),
        _ => ctx
            .input
            .query("component_access_token")
            .or_else(|| ctx.input.query("access_token")),
    };
    let owner = ctx.w.check_token(token, ctx.now)?;
    let fits = matches!(
        (auth, owner),
        (Auth::Component, Owner::Component)
            | (Auth::Authorizer, Owner::Authorizer(_))
            | (Auth::Either, _)
    );
    if !fits {
        return Err(invalid_credential());
    }
    ctx.caller = Some(owner.clone());
    Ok(())
}

async fn read_input(ep: &Endpoint, req: Request) -> Result<(Input, RawBody), ApiError> {
    let query = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if ep.multipart && is_multipart {
        let parts = read_parts(req).await?;
        let summary: Vec<Value> = parts
            .iter()
            .map(|p| json!({"name": p.name, "filename": p.filename, "content_type": p.content_type, "size": p.data.len()}))
            .collect();
        let input = Input {
            query,
            body: Err(format_error()),
            parts,
        };
        return Ok((input, RawBody::Summary(json!({ "parts": summary }))));
    }
    let bytes = to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| ApiError::new(40009, "invalid media size"))?;
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Err(ApiError::new(44002, "empty post data"))
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(format_error()),
        }
    };
    let input = Input {
        query,
        body,
        parts: Vec::new(),
    };
    // A compact copy: the received chunk may pin a much larger connection read buffer.
    Ok((input, RawBody::Json(Bytes::copy_from_slice(&bytes))))
}

async fn read_parts(req: Request) -> Result<Vec<Part>, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::new(40009, "invalid media size"))?;
    let req = Request::from_parts(parts, Body::from(bytes));
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|_| ApiError::new(41005, "media data missing"))?;
    let mut out = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let data = field
            .bytes()
            .await
            .map_err(|_| ApiError::new(40005, "invalid file type"))?;
        out.push(Part {
            name,
            filename,
            content_type,
            data,
        });
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn record(
    sim: &Shared,
    seq: u64,
    ep: &Endpoint,
    query: Box<str>,
    body: RawBody,
    errcode: i64,
    at: u64,
    fault: Option<&'static str>,
) {
    sim.calls.push(RawCall {
        seq,
        endpoint: ep.path,
        query,
        body,
        errcode,
        at,
        fault,
    });
}

async fn inject(
    sim: &Arc<Shared>,
    ep: &Endpoint,
    query: Box<str>,
    fault: Fault,
    killer: Option<ConnKiller>,
    req: Request,
) -> Response {
    let now = sim.clock.now();
    let seq = sim.calls.next_seq();
    let body = to_bytes(req.into_body(), MAX_BODY)
        .await
        .unwrap_or_default();
    let body = RawBody::Json(Bytes::copy_from_slice(&body));
    record(sim, seq, ep, query, body, -1, now, Some(fault.name()));
    let busy = ApiError::new(-1, "system error");
    match fault {
        Fault::Busy | Fault::Latency(_) => error_response(&busy, now, seq),
        Fault::Http5xx => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "<html>500 Internal Server Error</html>",
        )
            .into_response(),
        Fault::Timeout => {
            tokio::time::sleep(sim.cfg.fault_hold).await;
            error_response(&busy, now, seq)
        }
        Fault::Drop => {
            if let Some(k) = killer {
                k.kill();
            }
            std::future::pending::<Response>().await
        }
    }
}

fn json_response(v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (
        [(header::CONTENT_TYPE, "application/json; encoding=utf-8")],
        body,
    )
        .into_response()
}

fn error_response(e: &ApiError, now: u64, seq: u64) -> Response {
    let mut v = json!({
        "errcode": e.code,
        "errmsg": format!("{} rid: {:08x}-{:08x}-{:08x}", e.msg, now as u32, seq as u32, (now ^ seq.rotate_left(17)) as u32),
    });
    if let (Some((k, extra)), Some(obj)) = (&e.extra, v.as_object_mut()) {
        obj.insert((*k).to_owned(), extra.clone());
    }
    json_response(&v)
}
