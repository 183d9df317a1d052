//! A client tells wxopen that WeChat rejected the token it was handed: the
//! token is invalidated only if it is still the stored one (compare-and-
//! invalidate, as wxopen does itself on 40001/40014/42001), and the current
//! (renewed) token is answered. A stale report never discards a good token.

use crate::app::App;
use crate::secret::Secret;
use crate::tokens::TokenError;
use sha2::{Digest, Sha256};

/// What a report did.
#[derive(Debug)]
pub struct Reported {
    /// The reported token was the stored one and is now invalid.
    pub invalidated: bool,
    /// The token to use now.
    pub token: Secret,
}

/// Equal tokens, compared as digests so the time taken tells nothing of where they differ.
fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// Invalidates `presented` if it is still `appid`'s stored token, then
/// answers a valid token (renewed under the lease when it was).
pub async fn invalidate(app: &App, appid: &str, presented: &str) -> Result<Reported, TokenError> {
    let authorizer = app
        .store
        .get_authorizer(appid)
        .await?
        .ok_or_else(|| TokenError::UnknownAuthorizer(appid.to_owned()))?;
    let current = authorizer
        .token
        .access_token
        .as_ref()
        .is_some_and(|t| same(t.expose(), presented));
    let invalidated = current
        && app
            .store
            .invalidate_authorizer_token(appid, authorizer.token.version)
            .await?;
    if invalidated {
        tracing::warn!(
            appid,
            "a client reported the authorizer token rejected; invalidated, renewing"
        );
        crate::telemetry::count("TokenRejected", &[("Kind", "authorizer-reported")]);
    }
    let token = app.tokens.authorizer_token(appid).await?;
    Ok(Reported { invalidated, token })
}
