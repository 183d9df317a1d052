//! The authorization page that stands for WeChat's (PC `componentloginpage` and mobile
//! `bindcomponent`): pick an account, approve, and the browser goes back with auth_code.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use maud::{html, Markup, DOCTYPE};

use crate::calls::lock;
use crate::config::SimConfig;
use crate::push::PushEvent;
use crate::shared::Shared;
use crate::world::World;

type Params = HashMap<String, String>;

/// The checked request of an authorization page.
struct PageRequest {
    pre_auth_code: String,
    redirect_uri: String,
    auth_type: u32,
    biz_appid: Option<String>,
}

fn param<'a>(p: &'a Params, key: &str) -> Option<&'a str> {
    p.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

fn check(w: &World, p: &Params, now: u64) -> Result<PageRequest, String> {
    if param(p, "component_appid") != Some(w.cfg.component.appid.as_str()) {
        return Err("component_appid is missing or not a registered third-party platform".into());
    }
    let code = param(p, "pre_auth_code").ok_or("pre_auth_code is missing")?;
    let state = w
        .pre_auth_codes
        .get(code)
        .ok_or("pre_auth_code is invalid")?;
    if state.used {
        return Err("pre_auth_code has already been used".into());
    }
    if now >= state.expires_at {
        return Err("pre_auth_code has expired".into());
    }
    let redirect_uri = param(p, "redirect_uri").ok_or("redirect_uri is missing")?;
    let parsed =
        url::Url::parse(redirect_uri).map_err(|_| "redirect_uri is not an absolute URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("redirect_uri must be http or https".into());
    }
    let auth_type = match param(p, "auth_type") {
        None => 3,
        Some(t) => match t.parse::<u32>() {
            Ok(n @ 1..=3) => n,
            _ => return Err("auth_type must be 1, 2 or 3".into()),
        },
    };
    let biz_appid = param(p, "biz_appid").map(str::to_owned);
    if let Some(biz) = &biz_appid {
        let known = w.accounts.get(biz).is_some_and(|a| !a.release_test);
        if !known {
            return Err("biz_appid is not an account known to WeChat".into());
        }
    }
    Ok(PageRequest {
        pre_auth_code: code.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        auth_type,
        biz_appid,
    })
}

/// An account as the page lists it.
struct Choice {
    appid: String,
    nick_name: String,
    head_img: String,
}

/// Accounts the merchant may pick for this request.
fn choices(w: &World, r: &PageRequest) -> Vec<Choice> {
    w.account_order
        .iter()
        .filter_map(|appid| w.accounts.get(appid))
        .filter(|a| !a.release_test)
        .filter(|a| match r.auth_type {
            1 => !a.cfg.is_mini_program,
            2 => a.cfg.is_mini_program,
            _ => true,
        })
        .filter(|a| r.biz_appid.as_deref().is_none_or(|b| b == a.cfg.appid))
        .map(|a| Choice {
            appid: a.cfg.appid.clone(),
            nick_name: a.cfg.nick_name.clone(),
            head_img: a.cfg.head_img.clone(),
        })
        .collect()
}

/// Avatars given as a path are the simulator's own: made absolute on `base`,
/// so `api_get_authorizer_info` hands out a URL that loads.
pub(crate) fn serve_avatars_from(config: &mut SimConfig, base: &str) {
    for account in &mut config.accounts {
        if account.head_img.starts_with('/') {
            account.head_img = format!("{base}{}", account.head_img);
        }
    }
}

/// `GET /_sim/avatars/{appid}.svg`: a round avatar with the account's initials.
pub(crate) async fn avatar(State(sim): State<Arc<Shared>>, Path(file): Path<String>) -> Response {
    let Some(appid) = file.strip_suffix(".svg") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let nick_name = {
        let w = lock(&sim.world);
        match w.accounts.get(appid) {
            Some(account) => account.cfg.nick_name.clone(),
            None => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        avatar_svg(appid, &nick_name),
    )
        .into_response()
}

/// Up to two initials on a colour picked from the appid.
fn avatar_svg(appid: &str, nick_name: &str) -> String {
    let initials: String = nick_name
        .split_whitespace()
        .filter_map(|word| word.chars().next())
        .take(2)
        .collect();
    // FNV-1a onto seven hues 51° apart: appids that differ in their last
    // digit still get colours one tells apart.
    let hue = appid.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    }) % 7
        * 51;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96" {
            circle cx="48" cy="48" r="48" fill={ "hsl(" (hue) ",55%,45%)" } {}
            text x="48" y="48" dy=".35em" text-anchor="middle" font-family="sans-serif"
                font-size="38" fill="#fff" { (initials) }
        }
    }
    .into_string()
}

fn error_page(message: &str) -> Response {
    let body = layout("Authorization failed", html! { p id="error" { (message) } });
    (StatusCode::BAD_REQUEST, Html(body.into_string())).into_response()
}

fn layout(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · WeChat (simulator)" }
                style { "body{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}\
                         ul{padding:0}li{list-style:none;margin:.75rem 0}button{padding:.5rem 1rem}\
                         li img{vertical-align:middle;border-radius:50%}" }
            }
            body {
                h1 { (title) }
                p { small { "WeChat simulator — no real WeChat account is involved." } }
                (content)
            }
        }
    }
}

/// GET on either page URL.
pub(crate) async fn show(
    State(sim): State<Arc<Shared>>,
    uri: Uri,
    Query(p): Query<Params>,
) -> Response {
    let now = sim.clock.now();
    let w = lock(&sim.world);
    let req = match check(&w, &p, now) {
        Ok(r) => r,
        Err(message) => return error_page(&message),
    };
    let accounts = choices(&w, &req);
    let component = w.cfg.component.appid.clone();
    drop(w);
    let action = uri.path().to_owned();
    let body = layout(
        "Authorize a third-party platform",
        html! {
            p { "Platform " code id="component" { (component) } " asks to manage an account for you." }
            @if accounts.is_empty() {
                p id="no-accounts" { "No account of yours can be authorized here." }
            }
            ul id="accounts" {
                @for Choice { appid, nick_name: nick, head_img } in &accounts {
                    li id={ "account-" (appid) } {
                        form method="post" action=(action) {
                            input type="hidden" name="component_appid" value=(component);
                            input type="hidden" name="pre_auth_code" value=(req.pre_auth_code);
                            input type="hidden" name="redirect_uri" value=(req.redirect_uri);
                            input type="hidden" name="auth_type" value=(req.auth_type);
                            @if let Some(biz) = &req.biz_appid {
                                input type="hidden" name="biz_appid" value=(biz);
                            }
                            input type="hidden" name="appid" value=(appid);
                            img src=(head_img) alt="" width="32" height="32";
                            " " strong { (nick) } " " small { (appid) } " "
                            button type="submit" id={ "approve-" (appid) } { "Authorize" }
                        }
                    }
                }
            }
        },
    );
    Html(body.into_string()).into_response()
}

/// POST from the page: the merchant approved one account.
pub(crate) async fn approve(State(sim): State<Arc<Shared>>, Form(p): Form<Params>) -> Response {
    let now = sim.clock.now();
    let (location, event) = {
        let mut w = lock(&sim.world);
        let req = match check(&w, &p, now) {
            Ok(r) => r,
            Err(message) => return error_page(&message),
        };
        let Some(appid) = param(&p, "appid").map(str::to_owned) else {
            return error_page("no account was chosen");
        };
        if !choices(&w, &req).iter().any(|c| c.appid == appid) {
            return error_page("this account cannot be authorized here");
        }
        if let Some(state) = w.pre_auth_codes.get_mut(&req.pre_auth_code) {
            state.used = true;
        }
        let func_info = w
            .accounts
            .get(&appid)
            .map(|a| a.cfg.func_info.clone())
            .unwrap_or_default();
        let Some((code, was_authorized)) = w.authorize(&appid, &func_info, now, false) else {
            return error_page("this account cannot be authorized here");
        };
        let ttl = w.cfg.limits.auth_code_ttl;
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("auth_code", &code);
        query.append_pair("expires_in", &ttl.to_string());
        let location = append_query(&req.redirect_uri, &query.finish());
        let event = PushEvent::Authorization {
            info_type: if was_authorized {
                "updateauthorized"
            } else {
                "authorized"
            },
            appid,
            code,
            code_expires_at: now + ttl,
            pre_auth_code: req.pre_auth_code,
        };
        (location, event)
    };
    sim.pusher.enqueue(&event, now);
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// `uri` with `query` appended: after an existing `?…`, and before any `#fragment`.
fn append_query(uri: &str, query: &str) -> String {
    let (base, fragment) = match uri.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (uri, None),
    };
    let sep = if base.ends_with('?') || base.ends_with('&') {
        ""
    } else if base.contains('?') {
        "&"
    } else {
        "?"
    };
    let mut out = format!("{base}{sep}{query}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{append_query, avatar_svg};

    #[test]
    fn an_avatar_is_svg_with_the_escaped_initials() {
        let svg = avatar_svg("wx5add0a0000000001", "Sandbox Coffee");
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.contains(">SC</text>"), "{svg}");
        assert!(avatar_svg("wx1", "<b Shop").contains("&lt;S</text>"));
    }

    #[test]
    fn query_goes_after_existing_query_and_before_fragment() {
        assert_eq!(append_query("http://a/cb", "c=1"), "http://a/cb?c=1");
        assert_eq!(
            append_query("http://a/cb?x=1", "c=1"),
            "http://a/cb?x=1&c=1"
        );
        assert_eq!(append_query("http://a/cb?", "c=1"), "http://a/cb?c=1");
        assert_eq!(
            append_query("http://a/cb#top", "c=1"),
            "http://a/cb?c=1#top"
        );
    }
}
