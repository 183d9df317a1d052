//! JS-SDK configs for a page of the tenant's (wechat-api.md §8): `wx.config`'s
//! signature over the authorizer's jsapi_ticket, which is kept like a token
//! (see `tokens::jsapi`).

use sha1::{Digest, Sha1};

use crate::app::App;
use crate::tokens::TokenError;

/// What `wx.config` takes (besides `jsApiList`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JssdkConfig {
    pub app_id: String,
    pub timestamp: u64,
    pub nonce_str: String,
    pub signature: String,
}

/// A config `wx.config` refused (the one this API gave for the same url).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub timestamp: u64,
    pub nonce_str: String,
    pub signature: String,
}

/// A config for the page at `url` (checked with [`page_url`] first), signed
/// over the authorizer's shared jsapi_ticket.
///
/// `refused`: the config `wx.config` refused for this url. When it was signed
/// over the ticket stored now, that ticket is compare-and-invalidated and a
/// fresh one had under the single-flight rules; a config over an older ticket
/// (already replaced, maybe by another page's report) or one that is not ours
/// changes nothing. So many pages reporting the same refusal at once cause one
/// renewal, and nobody can invalidate a ticket without a signature over it.
pub async fn config(
    app: &App,
    appid: &str,
    url: &str,
    refused: Option<&Refused>,
) -> Result<JssdkConfig, TokenError> {
    let (mut ticket, version) = app.tokens.jsapi_ticket(appid).await?;
    if let Some(r) = refused {
        let over_this_ticket = signature(ticket.expose(), &r.nonce_str, r.timestamp, url);
        if constant_time_eq(over_this_ticket.as_bytes(), r.signature.as_bytes()) {
            app.tokens.invalidate_jsapi_ticket(appid, version).await?;
            ticket = app.tokens.jsapi_ticket(appid).await?.0;
        }
    }
    let timestamp = app.now();
    let nonce_str = nonce();
    Ok(JssdkConfig {
        app_id: appid.to_owned(),
        signature: signature(ticket.expose(), &nonce_str, timestamp, url),
        timestamp,
        nonce_str,
    })
}

/// Equality without an early exit: a caller learns nothing from how long a
/// wrong signature took to refuse.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Longest page URL accepted.
const MAX_URL_BYTES: usize = 2048;
/// Characters of a nonce.
const NONCE_CHARS: usize = 16;

/// The page URL as it is signed: an absolute http(s) URL without a fragment
/// (WeChat signs the URL without `#…`; one given with it would never match
/// what the page's `location.href.split('#')[0]` yields, so it is refused).
pub fn page_url(candidate: &str) -> Result<&str, &'static str> {
    if candidate.len() > MAX_URL_BYTES {
        return Err("must be at most 2048 bytes");
    }
    let parsed = url::Url::parse(candidate).map_err(|_| "must be an absolute http(s) URL")?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return Err("must be an absolute http(s) URL");
    }
    if candidate.contains('#') {
        return Err("must not contain a fragment (`#…`): sign location.href.split('#')[0]");
    }
    Ok(candidate)
}

/// WeChat's JS-SDK signature: sha1 of `jsapi_ticket=…&noncestr=…&timestamp=…&url=…`,
/// keys in this order, values raw (not URL-encoded), lower-case hex.
pub fn signature(ticket: &str, noncestr: &str, timestamp: u64, url: &str) -> String {
    let plain =
        format!("jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}");
    hex::encode(Sha1::digest(plain.as_bytes()))
}

/// A fresh random nonce of letters and digits.
pub fn nonce() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..NONCE_CHARS)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WeChat's own documented example (JS-SDK 附录1).
    #[test]
    fn the_signature_is_wechats_documented_example() {
        assert_eq!(
            signature(
                "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
                "Wm3WZYTPz0wzccnW",
                1414587457,
                "http://mp.weixin.qq.com?params=value",
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
    }

    #[test]
    fn page_urls_are_absolute_http_without_a_fragment() {
        assert_eq!(
            page_url("https://shop.example.com/o?id=1&x=%20"),
            Ok("https://shop.example.com/o?id=1&x=%20")
        );
        for bad in [
            "/relative",
            "ftp://x.example.com/",
            "javascript:alert(1)",
            "https://shop.example.com/o#top",
            "",
        ] {
            assert!(page_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nonces_are_sixteen_alphanumerics_and_differ() {
        let (a, b) = (nonce(), nonce());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
