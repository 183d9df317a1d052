//! The whole HTTP entry, `wxopen::http::handle`, over the seeded app of
//! [`crate::env`].
//!
//! Input layout: a fixed header decoded with `arbitrary` ([`Choices`]: which
//! route of `http::ROUTES`, method, credentials, content type, whether to seal a
//! push), then four sections split on `0xFF`: path parameters (one a line),
//! query, extra headers (`name: value` a line) and the body (the rest, so it may
//! hold any byte). Routes are taken from `ROUTES` itself, so a route added there
//! is fuzzed without a change here. `fuzz/make_seeds.py` writes real requests in
//! this layout.

use crate::env::{env, APPID, NOW, TOKEN};
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use wxopen::http::{Request, ROUTES};

/// The structural choices; one byte each so seeds are easy to write.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Choices {
    /// `< 240`: `ROUTES[route % len]`; otherwise the first section is the raw path.
    pub route: u8,
    /// `< 192`: the route's own method; otherwise one of [`METHODS`].
    pub method: u8,
    /// `< 160`: the all-scope API key; `< 200`: no Authorization; else from the headers section only.
    pub auth: u8,
    /// Index into [`CONTENT_TYPES`] (`None`: from the headers section only).
    pub content_type: u8,
    /// Bit 0: on a push route, encrypt the body as WeChat would and sign the query.
    pub flags: u8,
}

pub const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW",
];

/// The boundary the multipart content type names; seeds use it.
pub const BOUNDARY: &str = "fuzzboundary";

pub const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("multipart/form-data; boundary=fuzzboundary"),
    Some("text/xml"),
    None,
    Some("application/x-www-form-urlencoded"),
    Some("Application/JSON; charset=utf-8"),
];

pub const SEPARATOR: u8 = 0xFF;

/// The value a path parameter takes when its line is empty: a known record, so
/// most inputs reach past the lookups.
fn known(name: &str) -> String {
    match name {
        "appid" => APPID.to_owned(),
        "link_id" => env().link_id.clone(),
        "msg_id" => "1000000001".to_owned(),
        "job_id" => "job-00000000000000000000000000".to_owned(),
        _ => "x".to_owned(),
    }
}

/// Percent-encodes what may not appear raw in a URI path segment.
fn encode_segment(s: &[u8], out: &mut String) {
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Percent-encodes what may not appear raw in a query, keeping `&`, `=` and `%` raw.
fn encode_query(s: &[u8], out: &mut String) {
    for &b in s {
        if b.is_ascii_graphic() && !b"#\"<>`{}|\\^".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Builds the request `data` describes; `None` when the `http` crate itself
/// refuses it (a server never hands such a request to `handle`).
pub fn request(data: &[u8]) -> Option<(Request, bool)> {
    let mut u = Unstructured::new(data);
    let choices = Choices::arbitrary(&mut u).ok()?;
    let rest = u.take_rest();
    let mut sections = rest.splitn(4, |b| *b == SEPARATOR);
    let params = sections.next().unwrap_or_default();
    let query = sections.next().unwrap_or_default();
    let headers = sections.next().unwrap_or_default();
    let body = sections.next().unwrap_or_default();
    let app = &env().app;

    let route = (choices.route < 240).then(|| &ROUTES[usize::from(choices.route) % ROUTES.len()]);
    let mut path = String::new();
    match route {
        Some(route) => {
            let mut lines = params.split(|b| *b == b'\n');
            for part in route.pattern.trim_start_matches('/').split('/') {
                path.push('/');
                match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => match lines.next() {
                        Some(value) if !value.is_empty() => encode_segment(value, &mut path),
                        _ => path.push_str(&known(name)),
                    },
                    None => path.push_str(part),
                }
            }
        }
        None => encode_query(params, &mut path),
    }
    let method = match (route, choices.method) {
        (Some(route), m) if m < 192 => route.method,
        (_, m) => METHODS[usize::from(m) % METHODS.len()],
    };

    let pattern = route.map(|r| r.pattern).unwrap_or_default();
    let is_push = pattern.starts_with("/wechat/");
    let seal = is_push && choices.flags & 1 == 1;
    let mut body = Bytes::copy_from_slice(body);
    let mut uri = path;
    uri.push('?');
    if seal {
        let timestamp = NOW.to_string();
        let nonce = "1320562132";
        let signature = wxopen::crypto::signature(&[TOKEN, timestamp.as_str(), nonce]);
        uri.push_str(&format!(
            "timestamp={timestamp}&nonce={nonce}&signature={signature}&"
        ));
        if method == "POST" {
            let plaintext = String::from_utf8_lossy(&body).into_owned();
            let encrypt = app.crypto.encrypt(&plaintext);
            let msg_signature = app.crypto.msg_signature(&timestamp, nonce, &encrypt);
            uri.push_str(&format!("encrypt_type=aes&msg_signature={msg_signature}&"));
            body = Bytes::from(format!(
                "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
                app.crypto.component_appid()
            ));
        }
    }
    encode_query(query, &mut uri);

    let mut builder = http::Request::builder().method(method).uri(uri);
    if choices.auth < 160 {
        builder = builder.header(http::header::AUTHORIZATION, env().authorization.as_str());
    }
    if let Some(Some(ct)) =
        CONTENT_TYPES.get(usize::from(choices.content_type) % CONTENT_TYPES.len())
    {
        builder = builder.header(http::header::CONTENT_TYPE, *ct);
    }
    for line in headers.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = http::HeaderName::from_bytes(&line[..colon]).ok();
        let value = http::HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok();
        if let (Some(name), Some(value)) = (name, value) {
            builder = builder.header(name, value);
        }
    }
    builder.body(body).ok().map(|req| (req, seal))
}

/// One request through `handle`. Panics only on a broken invariant.
pub fn exercise(data: &[u8]) {
    let Some((req, sealed)) = request(data) else {
        return;
    };
    let env = env();
    let resp = env.block_on(wxopen::http::handle(&env.app, None, req));
    let status = resp.status();
    assert!(
        !status.is_server_error()
            || status == http::StatusCode::SERVICE_UNAVAILABLE
            || status == http::StatusCode::BAD_GATEWAY
            || status == http::StatusCode::GATEWAY_TIMEOUT,
        "{status} answered: {:?}",
        String::from_utf8_lossy(resp.body())
    );
    let body = String::from_utf8_lossy(resp.body());
    // The access token is an answer of its own route; these never are. A
    // secret the request itself carried may come back quoted in its refusal
    // (`unknown variant …`): that echoes the client, it leaks nothing.
    let sent = String::from_utf8_lossy(data);
    for secret in ["fuzz-refresh-token", "fuzz-component-secret", "fuzz-ticket"] {
        if sent.contains(secret) {
            continue;
        }
        assert!(
            !body.contains(secret),
            "a secret in an answer ({status}): {body}"
        );
    }
    if sealed {
        env.block_on(env.keep_authorized());
    }
}
