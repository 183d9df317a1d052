//! The authorization callback: `GET /authorize/{link_id}/callback?<query>` on
//! the seeded app, with the query from the input (raw, only bytes a URI cannot
//! hold percent-encoded). The first input line, when the input has one, is the
//! link id; otherwise the seeded unused link is used, so the code reaches the
//! exchange with (refusing) WeChat. No OAuth callback exists yet; when one is
//! added to `http::ROUTES` the `http` target covers it.

use crate::env::env;
use bytes::Bytes;

pub fn exercise(data: &[u8]) {
    let env = env();
    let (link, query) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (env.link_id.clone(), data),
    };
    let mut uri = String::from("/authorize/");
    for b in link.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("/callback?");
    for &b in query {
        if b.is_ascii_graphic() && !b"#\"<>`{}|\\^".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    let Ok(req) = http::Request::builder()
        .method("GET")
        .uri(uri)
        .body(Bytes::new())
    else {
        return;
    };
    let _ = wxopen::fuzzing::query_params(&req);
    let resp = env.block_on(wxopen::http::handle(&env.app, None, req));
    assert!(
        resp.status() != http::StatusCode::INTERNAL_SERVER_ERROR,
        "500 answered: {:?}",
        String::from_utf8_lossy(resp.body())
    );
}
