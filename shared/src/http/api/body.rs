//! Reading request bodies: content type, size and JSON syntax are checked
//! before any field is looked at.

use crate::http::{ApiError, Request};
use http::StatusCode;

/// Largest JSON body accepted (10,000 openids with a template fit easily).
pub const MAX_JSON_BYTES: usize = 2 * 1024 * 1024;

/// The media type of the request (`application/json`), lowercased, without parameters.
pub fn media_type(req: &Request) -> Option<String> {
    let value = req
        .headers()
        .get(http::header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    (!essence.is_empty()).then_some(essence)
}

/// 415 naming what was expected.
pub fn unsupported(expected: &str, got: Option<&str>) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!(
            "send the body as {expected}, not {}",
            got.unwrap_or("a body without Content-Type")
        ),
    )
}

/// The JSON body: 415 unless `application/json`, 413 over [`MAX_JSON_BYTES`], 400 if not JSON.
pub fn json_body(req: &Request) -> Result<serde_json::Value, ApiError> {
    let media = media_type(req);
    if media.as_deref() != Some("application/json") {
        return Err(unsupported("application/json", media.as_deref()));
    }
    parse_json(req.body())
}

/// Parses JSON bytes already known to be JSON by their content type.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    if body.len() > MAX_JSON_BYTES {
        return Err(ApiError::payload_too_large(MAX_JSON_BYTES));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!(
                "the body is not valid JSON (line {}, column {}): {}",
                e.line(),
                e.column(),
                json_problem(&e)
            ),
        )
    })
}

fn json_problem(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "it ends too early",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Io => "could not be read",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(ct: Option<&str>, body: &'static str) -> Request {
        let mut b = http::Request::builder().method("POST").uri("/v1/x");
        if let Some(ct) = ct {
            b = b.header(http::header::CONTENT_TYPE, ct);
        }
        b.body(Bytes::from_static(body.as_bytes())).unwrap()
    }

    #[test]
    fn json_with_a_charset_parameter_is_accepted() {
        let v = json_body(&req(Some("Application/JSON; charset=utf-8"), r#"{"a":1}"#)).unwrap();
        assert_eq!(v["a"], 1);
    }

    #[test]
    fn other_content_types_are_415_and_bad_json_is_400() {
        assert_eq!(
            json_body(&req(Some("text/plain"), "{}"))
                .unwrap_err()
                .status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            json_body(&req(None, "{}")).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let e = json_body(&req(Some("application/json"), "{\"a\":")).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
    }

    #[test]
    fn oversized_json_is_413() {
        let big = vec![b' '; MAX_JSON_BYTES + 1];
        assert_eq!(
            parse_json(&big).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
