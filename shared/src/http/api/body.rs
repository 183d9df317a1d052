//! Reading request bodies: content type, size and JSON syntax are checked
//! before any field is looked at.

use crate::http::error::ErrorCode;
use crate::http::{ApiError, Request};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

/// Largest JSON body any route accepts: a template message to 100,000
/// recipients (each route's own, often smaller, limit is in `http::limits`).
pub const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;

/// The media type of the request (`application/json`), lowercased, without parameters.
pub(crate) fn media_type(req: &Request) -> Option<String> {
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
pub(crate) fn unsupported(expected: &str, got: Option<&str>) -> ApiError {
    ApiError::detailed(
        ErrorCode::UnsupportedMediaType,
        format!(
            "send it as {expected}, not {}",
            got.unwrap_or("a body without Content-Type")
        ),
    )
}

/// The JSON body as a `T`: 415 unless `application/json`, 413 over
/// [`MAX_JSON_BYTES`], 400 `invalid_json` if it is not JSON, 400
/// `invalid_request` naming the field when it is not a `T`.
pub(crate) fn json<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let media = media_type(req);
    if media.as_deref() != Some("application/json") {
        return Err(unsupported("application/json", media.as_deref()));
    }
    parse_json(req.body())
}

/// Reads JSON bytes already known to be JSON by their content type.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > MAX_JSON_BYTES {
        return Err(ApiError::payload_too_large(MAX_JSON_BYTES));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(refused)?;
    de.end().map_err(not_json)?;
    Ok(value)
}

/// A body serde could not read: bad JSON, or JSON of the wrong shape at a path.
fn refused(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if !inner.is_data() {
        return not_json(inner);
    }
    let at = if path == "." { String::new() } else { path };
    // serde words these for the object; the client wants the field named.
    let message = without_position(&inner);
    if let Some(name) = quoted_after(&message, "missing field `") {
        return ApiError::field(&joined(&at, name), "is required");
    }
    if let Some(name) = quoted_after(&message, "unknown field `") {
        let expected = message
            .split_once(", expected ")
            .map(|(_, e)| format!("unknown field; expected {e}"))
            .unwrap_or_else(|| "unknown field".to_owned());
        let field = if at.ends_with(name) {
            at.clone()
        } else {
            joined(&at, name)
        };
        return ApiError::field(&field, expected);
    }
    ApiError::field(&at, message)
}

fn not_json(e: serde_json::Error) -> ApiError {
    ApiError::detailed(
        ErrorCode::InvalidJson,
        format!(
            "line {}, column {}: {}",
            e.line(),
            e.column(),
            match e.classify() {
                Category::Eof => "it ends too early",
                Category::Syntax => "syntax error",
                Category::Data => "unexpected data",
                Category::Io => "could not be read",
            }
        ),
    )
}

/// serde_json's message without its ` at line L column C` (the path says where).
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message.strip_prefix(prefix)?.split('`').next()
}

fn joined(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::StatusCode;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<u32>,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        value: String,
    }

    fn req(ct: Option<&str>, body: &'static str) -> Request {
        let mut b = http::Request::builder().method("POST").uri("/v1/x");
        if let Some(ct) = ct {
            b = b.header(http::header::CONTENT_TYPE, ct);
        }
        b.body(Bytes::from_static(body.as_bytes())).unwrap()
    }

    fn refusal(body: &str) -> String {
        let e = parse_json::<Outer>(body.as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{e:?}");
        e.message()
    }

    #[test]
    fn json_with_a_charset_parameter_is_accepted() {
        let v: serde_json::Value =
            json(&req(Some("Application/JSON; charset=utf-8"), r#"{"a":1}"#)).unwrap();
        assert_eq!(v["a"], 1);
    }

    #[test]
    fn other_content_types_are_415_and_bad_json_is_400() {
        let e = json::<serde_json::Value>(&req(Some("text/plain"), "{}")).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let e = json::<serde_json::Value>(&req(None, "{}")).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let e = json::<serde_json::Value>(&req(Some("application/json"), "{\"a\":")).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
        let e = parse_json::<serde_json::Value>(b"{} x").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
    }

    #[test]
    fn oversized_json_is_413() {
        let big = vec![b' '; MAX_JSON_BYTES + 1];
        let e = parse_json::<serde_json::Value>(&big).unwrap_err();
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn a_refusal_names_the_field_by_its_path() {
        assert!(refusal(r#"{"name": "n", "items": [1, "x"]}"#).contains("`items[1]`: invalid type"));
        assert!(refusal(r#"{"items": []}"#).contains("`name`: is required"));
        assert!(refusal(r#"{"name": "n", "items": [], "inner": {}}"#)
            .contains("`inner.value`: is required"));
        let unknown =
            refusal(r#"{"name": "n", "items": [], "inner": {"value": "v", "colour": 1}}"#);
        assert!(
            unknown.contains("`inner.colour`: unknown field; expected `value`"),
            "{unknown}"
        );
        assert!(!unknown.contains("line"), "{unknown}");
        assert!(refusal("5").contains("invalid type: integer `5`"));
    }
}
