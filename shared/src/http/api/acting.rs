//! The prologue of every route that acts for one authorizer: the key has the
//! scope, the key's tenant owns the authorizer, and the authorizer is active.
//! Tenant and scope come first, so a stranger learns nothing about the body.

use super::{param, require_active};
use crate::app::App;
use crate::http::auth::{authenticate, authorizer_for_key};
use crate::http::{ApiError, Params, Request};
use crate::store::Authorizer;

/// The key checked for `scope`, and the authorizer it may act for (not yet
/// checked active: a route reads its body first, so a bad body is a 400).
pub(crate) async fn authorizer(
    app: &App,
    req: &Request,
    params: &Params,
    scope: &str,
) -> Result<Authorizer, ApiError> {
    let key = authenticate(app, req, scope).await?;
    authorizer_for_key(app, &key, param(params, "appid")?).await
}

/// [`authorizer`], then active: for routes with nothing to read first.
pub(crate) async fn active_authorizer(
    app: &App,
    req: &Request,
    params: &Params,
    scope: &str,
) -> Result<Authorizer, ApiError> {
    let authorizer = authorizer(app, req, params, scope).await?;
    require_active(&authorizer)?;
    Ok(authorizer)
}
