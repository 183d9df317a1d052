//! Seams for the cargo-fuzz harnesses in `fuzz/` (and the tests that replay
//! their inputs). Not an API: each function runs one crate-private input path
//! exactly as the HTTP handlers do, so the fuzzer reaches it without a request.

use crate::http::api::body::parse_json;
use crate::http::api::multipart::read_form;
use crate::http::api::requests::{
    CreateLinkRequest, CustomMessageRequest, MassMessageRequest, NewsUploadRequest,
    TemplateMessageRequest,
};
use crate::http::{ApiError, Request, Response};
use crate::service::links::NewLink;
use crate::service::{mass, media, send};
use crate::wechat::{Article, CustomMessage};

/// The media route's form reader (its allowed text field is `type`), then the
/// checks the route applies to what it read. `Ok` when the upload would be accepted.
pub async fn media_form(req: &Request) -> Result<(), Response> {
    let form = read_form(req, &["type"])
        .await
        .map_err(ApiError::into_response)?;
    let kind = form
        .fields
        .get("type")
        .and_then(|t| media::UploadKind::parse(t));
    if let (Some(kind), Some(file)) = (kind, form.file) {
        media::check_upload(kind, &file.filename, file.data.len())
            .map_err(|e| ApiError::from(e).into_response())?;
    }
    Ok(())
}

/// Every `/v1` JSON body type read from `body` the way the routes read it
/// (`parse_json`), then converted into the values the services take. Refusals
/// are rendered as the client would get them. Returns how many were accepted.
pub fn request_bodies(body: &[u8]) -> usize {
    fn one<T, D>(body: &[u8], convert: impl Fn(T) -> Result<D, ApiError>) -> usize
    where
        T: serde::de::DeserializeOwned,
    {
        match parse_json::<T>(body).and_then(convert) {
            Ok(_) => 1,
            Err(e) => {
                let _ = e.into_response();
                0
            }
        }
    }
    one::<TemplateMessageRequest, send::TemplateSend>(body, |r| Ok(r.into()))
        + one::<MassMessageRequest, mass::MassRequest>(body, mass::MassRequest::try_from)
        + one::<CustomMessageRequest, CustomMessage>(body, CustomMessage::try_from)
        + one::<NewsUploadRequest, Vec<Article>>(body, Vec::<Article>::try_from)
        + one::<CreateLinkRequest, NewLink>(body, NewLink::try_from)
}

/// A request's query string as the handlers read it (last value wins).
pub fn query_params(req: &Request) -> std::collections::HashMap<String, String> {
    crate::http::query_params(req)
}
