//! The media route's multipart reader. Input: the Content-Type value up to the
//! first newline, then the body.

use bytes::Bytes;

pub fn exercise(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"multipart/form-data; boundary=fuzzboundary"[..], data),
    };
    let mut builder = http::Request::builder().method("POST").uri("/");
    if let Ok(value) = http::HeaderValue::from_bytes(content_type) {
        builder = builder.header(http::header::CONTENT_TYPE, value);
    }
    let Ok(req) = builder.body(Bytes::copy_from_slice(body)) else {
        return;
    };
    let rt = runtime();
    let _ = rt.block_on(wxopen::fuzzing::media_form(&req));
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    })
}
