//! The pass-through: a client's WeChat call made with the authorizer's token,
//! for the APIs wxopen has no route of its own for. wxopen keeps its own rules
//! on the way (a rejected token is compare-and-invalidated, renewed once and
//! the call retried once; -1 and 5xx get the bounded retries; nothing is
//! retried after a timeout once the request left) and answers what WeChat
//! answered, byte for byte.
//!
//! Only paths under the allow-list are passed, and never one that would
//! expose or replace a token (or spend the component's quota clears).

use crate::app::App;
use crate::tokens::TokenError;
use crate::wechat::{PassThrough, RawAnswer};

pub use crate::config::{
    default_proxy_prefixes as default_prefixes, parse_proxy_prefixes as parse_prefixes,
    DEFAULT_PROXY_PREFIXES as DEFAULT_PREFIXES,
};

/// Never passed, whatever the allow-list says: the component's API (its
/// token, tickets, authorizer tokens), the token endpoints, and the quota
/// clears (wxopen's own admin routes).
pub const FORBIDDEN_PREFIXES: &[&str] = &[
    "cgi-bin/component/",
    "cgi-bin/token",
    "cgi-bin/stable_token",
    "cgi-bin/clear_quota",
    "cgi-bin/openapi/quota/clear",
];

/// Query parameters a client may not pass: wxopen adds the token itself.
const TOKEN_PARAMS: &[&str] = &["access_token", "component_access_token"];

/// Why a path may not be passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRefused {
    #[error("`{0}` would expose or replace a token; wxopen never passes it")]
    Forbidden(String),
    #[error("`{0}` is not under the pass-through's allowed paths (WXOPEN_PROXY_PATHS)")]
    NotAllowed(String),
}

/// Checks `path` (segments already decoded and checked) against the rules.
pub fn check_path(allowed: &[String], path: &str) -> Result<(), PathRefused> {
    let lower = path.to_ascii_lowercase();
    if FORBIDDEN_PREFIXES.iter().any(|f| lower.starts_with(f)) {
        return Err(PathRefused::Forbidden(path.to_owned()));
    }
    if !allowed.iter().any(|p| path.starts_with(p.as_str())) {
        return Err(PathRefused::NotAllowed(path.to_owned()));
    }
    Ok(())
}

/// The client's query without any token it sent.
pub fn strip_tokens(query: Vec<(String, String)>) -> Vec<(String, String)> {
    query
        .into_iter()
        .filter(|(k, _)| !TOKEN_PARAMS.iter().any(|t| k.eq_ignore_ascii_case(t)))
        .collect()
}

/// Passes the request on with the authorizer's token; at most `limit` bytes
/// of WeChat's answer are held.
pub async fn pass(
    app: &App,
    appid: &str,
    request: &PassThrough,
    limit: usize,
) -> Result<RawAnswer, TokenError> {
    let wechat = &app.wechat;
    let result = app
        .tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.pass_through(&token, request, limit).await
        })
        .await;
    let outcome = match &result {
        Ok(answer) if answer.errcode().is_some() => "wechat_error",
        Ok(_) => "ok",
        Err(_) => "failed",
    };
    crate::telemetry::count(
        "PassThroughCall",
        &[("Path", metric_path(&request.path)), ("Outcome", outcome)],
    );
    result
}

/// The path as a metric dimension: its first two segments, so a client
/// cannot mint a dimension per request.
fn metric_path(path: &str) -> &str {
    match path.match_indices('/').nth(1) {
        Some((i, _)) => &path[..i],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_paths_are_forbidden_even_when_allowed() {
        let allowed = default_prefixes();
        for path in [
            "cgi-bin/token",
            "cgi-bin/stable_token",
            "cgi-bin/component/api_component_token",
            "cgi-bin/COMPONENT/api_authorizer_token",
            "cgi-bin/clear_quota",
        ] {
            assert!(
                matches!(check_path(&allowed, path), Err(PathRefused::Forbidden(_))),
                "{path}"
            );
        }
        let everything = vec![String::new()];
        assert!(check_path(&everything, "cgi-bin/token").is_err());
    }

    #[test]
    fn only_allowed_prefixes_pass() {
        let allowed = default_prefixes();
        assert_eq!(check_path(&allowed, "cgi-bin/user/get"), Ok(()));
        assert_eq!(check_path(&allowed, "datacube/getusersummary"), Ok(()));
        assert!(matches!(
            check_path(&allowed, "sns/oauth2/access_token"),
            Err(PathRefused::NotAllowed(_))
        ));
        let narrow = parse_prefixes(" /cgi-bin/user/ , datacube/");
        assert_eq!(narrow, ["cgi-bin/user/", "datacube/"]);
        assert!(check_path(&narrow, "cgi-bin/tags/get").is_err());
    }

    #[test]
    fn a_clients_token_is_dropped_from_the_query() {
        let query = vec![
            ("media_id".to_owned(), "m1".to_owned()),
            ("ACCESS_TOKEN".to_owned(), "stolen".to_owned()),
            ("access_token".to_owned(), "stolen".to_owned()),
        ];
        assert_eq!(
            strip_tokens(query),
            [("media_id".to_owned(), "m1".to_owned())]
        );
    }

    #[test]
    fn metric_paths_are_two_segments() {
        assert_eq!(metric_path("cgi-bin/user/info/batchget"), "cgi-bin/user");
        assert_eq!(metric_path("datacube"), "datacube");
    }
}
