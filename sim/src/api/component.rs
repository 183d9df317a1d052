//! Third-party platform endpoints (wechat-api.md §3).

use serde_json::{json, Map, Value};

use super::{format_error, ok, s, u, ApiError, Ctx};
use crate::world::{Owner, World};

fn component_appid(w: &World, body: &Map<String, Value>) -> Result<(), ApiError> {
    let appid = s(body, "component_appid").ok_or_else(|| ApiError::new(41002, "appid missing"))?;
    if appid != w.cfg.component.appid {
        return Err(ApiError::new(61011, "invalid component"));
    }
    Ok(())
}

fn component_secret(w: &World, body: &Map<String, Value>, key: &str) -> Result<(), ApiError> {
    let secret = s(body, key).ok_or_else(|| ApiError::new(41004, "appsecret missing"))?;
    if secret != w.cfg.component.secret.expose() {
        return Err(ApiError::new(40125, "invalid appsecret"));
    }
    Ok(())
}

pub(super) fn func_info_json(ids: &[u32]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| json!({"funcscope_category": {"id": id}}))
            .collect(),
    )
}

pub(super) fn component_token(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let body = ctx.body()?;
    component_appid(ctx.w, body)?;
    component_secret(ctx.w, body, "component_appsecret")?;
    let ticket = s(body, "component_verify_ticket")
        .ok_or_else(|| ApiError::new(61006, "component verify ticket invalid"))?;
    let issued = *ctx
        .w
        .tickets
        .get(ticket)
        .ok_or_else(|| ApiError::new(61006, "component verify ticket invalid"))?;
    if ctx.now >= issued + ctx.w.cfg.limits.ticket_ttl {
        return Err(ApiError::new(61005, "component verify ticket expired"));
    }
    let limit = ctx.w.cfg.limits.component_token_per_day;
    if !ctx.w.component_counters.take(
        crate::world::Quota::ComponentTokenDay,
        ctx.now / super::DAY,
        limit,
    ) {
        return Err(ApiError::new(45009, "reach max api daily quota limit"));
    }
    let token = ctx.w.issue_token(Owner::Component, ctx.now);
    Ok(json!({"component_access_token": token, "expires_in": ctx.w.cfg.limits.token_ttl}))
}

pub(super) fn start_push_ticket(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let body = ctx.body()?;
    component_appid(ctx.w, body)?;
    component_secret(ctx.w, body, "component_secret")?;
    ctx.ticket_requested = true;
    Ok(ok())
}

pub(super) fn create_preauthcode(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    component_appid(ctx.w, ctx.body()?)?;
    let code = format!("preauthcode@@@{}", ctx.w.rng.alnum(40));
    let ttl = ctx.w.cfg.limits.pre_auth_code_ttl;
    ctx.w.pre_auth_codes.insert(
        code.clone(),
        crate::world::CodeState {
            expires_at: ctx.now + ttl,
            used: false,
        },
    );
    Ok(json!({"pre_auth_code": code, "expires_in": ttl}))
}

pub(super) fn query_auth(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let body = ctx.body()?;
    component_appid(ctx.w, body)?;
    let invalid = || ApiError::new(61009, "code is invalid");
    let code = s(body, "authorization_code")
        .ok_or_else(invalid)?
        .to_owned();
    let (appid, refresh) = {
        let state = ctx.w.auth_codes.get_mut(&code).ok_or_else(invalid)?;
        if state.used {
            return Err(invalid());
        }
        if ctx.now >= state.expires_at {
            return Err(ApiError::new(61010, "code is expired"));
        }
        (state.appid.clone(), state.refresh_token.clone())
    };
    let account = ctx.w.accounts.get(&appid).ok_or_else(invalid)?;
    // A code from an authorization that was since revoked or replaced opens nothing.
    let Some(auth) = account
        .authorization
        .clone()
        .filter(|a| a.refresh_token == refresh)
    else {
        return Err(invalid());
    };
    if let Some(state) = ctx.w.auth_codes.get_mut(&code) {
        state.used = true;
    }
    let token = ctx.w.issue_token(Owner::Authorizer(appid.clone()), ctx.now);
    ctx.w.exchanged.insert(code, token.clone());
    Ok(json!({"authorization_info": {
        "authorizer_appid": appid,
        "authorizer_access_token": token,
        "expires_in": ctx.w.cfg.limits.token_ttl,
        "authorizer_refresh_token": auth.refresh_token,
        "func_info": func_info_json(&auth.func_info),
    }}))
}

/// The account named by `authorizer_appid`: 40013 unknown, 61003 not (or no longer) authorized.
fn authorized_account<'a>(
    w: &'a World,
    body: &Map<String, Value>,
) -> Result<(&'a crate::world::Account, &'a crate::world::Authorization), ApiError> {
    let appid = s(body, "authorizer_appid").ok_or_else(format_error)?;
    let account = w
        .accounts
        .get(appid)
        .ok_or_else(|| ApiError::new(40013, "invalid appid"))?;
    let auth = account
        .authorization
        .as_ref()
        .ok_or_else(|| ApiError::new(61003, "component is not authorized by this account"))?;
    Ok((account, auth))
}

pub(super) fn authorizer_token(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let body = ctx.body()?;
    component_appid(ctx.w, body)?;
    let appid = s(body, "authorizer_appid").ok_or_else(format_error)?;
    let refresh = s(body, "authorizer_refresh_token").ok_or_else(format_error)?;
    let account = ctx
        .w
        .accounts
        .get(appid)
        .ok_or_else(|| ApiError::new(40013, "invalid appid"))?;
    if !account.ever_authorized {
        return Err(ApiError::new(
            61003,
            "component is not authorized by this account",
        ));
    }
    let current = account
        .authorization
        .as_ref()
        .filter(|a| a.refresh_token == refresh)
        .ok_or_else(|| ApiError::new(61023, "refresh_token is invalid"))?;
    let refresh = current.refresh_token.clone();
    let appid = appid.to_owned();
    let token = ctx.w.issue_token(Owner::Authorizer(appid), ctx.now);
    Ok(json!({
        "authorizer_access_token": token,
        "expires_in": ctx.w.cfg.limits.token_ttl,
        "authorizer_refresh_token": refresh,
    }))
}

pub(super) fn get_authorizer_info(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let body = ctx.body()?;
    component_appid(ctx.w, body)?;
    let (account, auth) = authorized_account(ctx.w, body)?;
    let info = crate::profile::authorizer_info(account);
    let c = &account.cfg;
    Ok(json!({
        "authorizer_info": info,
        "authorization_info": {
            "authorizer_appid": c.appid,
            "authorizer_refresh_token": auth.refresh_token,
            "func_info": func_info_json(&auth.func_info),
        },
    }))
}

pub(super) fn get_authorizer_list(ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let body = ctx.body()?;
    component_appid(ctx.w, body)?;
    let offset = u(body, "offset").unwrap_or(0) as usize;
    let count = u(body, "count").ok_or_else(format_error)? as usize;
    if count == 0 || count > 500 {
        return Err(ApiError::new(40035, "invalid args: count must be 1..=500"));
    }
    let authorized: Vec<Value> = ctx
        .w
        .account_order
        .iter()
        .filter_map(|appid| {
            let a = ctx.w.accounts.get(appid)?;
            let auth = a.authorization.as_ref()?;
            Some(json!({"authorizer_appid": appid, "refresh_token": auth.refresh_token, "auth_time": auth.auth_time}))
        })
        .collect();
    let total = authorized.len();
    let list: Vec<Value> = authorized.into_iter().skip(offset).take(count).collect();
    Ok(json!({"total_count": total, "list": list}))
}
