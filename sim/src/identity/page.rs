//! The web-authorization page that stands for WeChat's
//! (`open.weixin.qq.com/connect/oauth2/authorize`): inside WeChat it is the
//! follower themself who opens it; here a sandbox follower is picked, then
//! allows or refuses, and the browser goes back to `redirect_uri` with
//! `code`, `state` and `appid` (or with `state` alone after a refusal).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use maud::{html, Markup, DOCTYPE};

use super::SCOPES;
use crate::calls::lock;
use crate::shared::Shared;
use crate::world::World;

type Params = HashMap<String, String>;

/// The checked request of the page.
struct ConsentRequest {
    appid: String,
    redirect_uri: String,
    scope: String,
    state: String,
}

fn param<'a>(p: &'a Params, key: &str) -> Option<&'a str> {
    p.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

/// WeChat's checks, in its order; the message is what its error page says.
fn check(w: &World, p: &Params) -> Result<ConsentRequest, String> {
    let appid = param(p, "appid").ok_or("appid is missing")?;
    if param(p, "component_appid") != Some(w.cfg.component.appid.as_str()) {
        return Err("component_appid is missing or not a registered third-party platform".into());
    }
    let authorized = w
        .accounts
        .get(appid)
        .is_some_and(|a| a.authorization.is_some() && !a.cfg.is_mini_program);
    if !authorized {
        return Err("this official account has not authorized the third-party platform".into());
    }
    if param(p, "response_type") != Some("code") {
        return Err("response_type must be code".into());
    }
    let scope = param(p, "scope").ok_or("scope is missing")?;
    if !SCOPES.contains(&scope) {
        return Err("scope must be snsapi_base or snsapi_userinfo".into());
    }
    let redirect_uri = param(p, "redirect_uri").ok_or("redirect_uri is missing")?;
    let parsed =
        url::Url::parse(redirect_uri).map_err(|_| "redirect_uri is not an absolute URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("redirect_uri must be http or https".into());
    }
    let state = p.get("state").cloned().unwrap_or_default();
    if state.len() > 128 {
        return Err("state is longer than 128 bytes".into());
    }
    Ok(ConsentRequest {
        appid: appid.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_owned(),
        state,
    })
}

fn layout(title: &str, content: Markup) -> String {
    html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · WeChat (simulator)" }
                style { "body{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}\
                         ul{padding:0}li{list-style:none;margin:.75rem 0}button{padding:.5rem 1rem}" }
            }
            body {
                h1 { (title) }
                p { small { "WeChat simulator — no real WeChat user is involved." } }
                (content)
            }
        }
    }
    .into_string()
}

fn error_page(message: &str) -> Response {
    let body = layout(
        "Web authorization failed",
        html! { p id="error" { (message) } },
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

/// The hidden fields every form of the page repeats.
fn carried(component: &str, r: &ConsentRequest) -> Markup {
    html! {
        input type="hidden" name="appid" value=(r.appid);
        input type="hidden" name="component_appid" value=(component);
        input type="hidden" name="response_type" value="code";
        input type="hidden" name="scope" value=(r.scope);
        input type="hidden" name="redirect_uri" value=(r.redirect_uri);
        input type="hidden" name="state" value=(r.state);
    }
}

/// `GET /connect/oauth2/authorize`: who is opening it, and allow or refuse.
pub(crate) async fn show(State(sim): State<Arc<Shared>>, Query(p): Query<Params>) -> Response {
    let w = lock(&sim.world);
    let req = match check(&w, &p) {
        Ok(r) => r,
        Err(message) => return error_page(&message),
    };
    let Some(account) = w.accounts.get(&req.appid) else {
        return error_page("unknown account");
    };
    let name = account.cfg.nick_name.clone();
    let followers = account.followers.clone();
    let component = w.cfg.component.appid.clone();
    drop(w);
    let asks = if req.scope == "snsapi_userinfo" {
        "your nickname and avatar"
    } else {
        "who you are (your openid)"
    };
    let body = layout(
        "Web authorization",
        html! {
            p { strong id="account" { (name) } " (" code { (req.appid) } ") asks to know " (asks) "." }
            p { "Sign in as one of the account's followers:" }
            ul id="followers" {
                @for openid in &followers {
                    li {
                        form method="post" action="/connect/oauth2/authorize" {
                            (carried(&component, &req))
                            input type="hidden" name="openid" value=(openid);
                            code { (openid) } " "
                            button type="submit" id={ "allow-" (openid) } { "Allow" }
                        }
                    }
                }
            }
            form method="post" action="/connect/oauth2/authorize" {
                (carried(&component, &req))
                input type="hidden" name="refuse" value="1";
                button type="submit" id="refuse" { "Refuse" }
            }
        },
    );
    Html(body).into_response()
}

/// `POST /connect/oauth2/authorize`: the follower allowed (a code) or refused (none).
pub(crate) async fn decide(State(sim): State<Arc<Shared>>, Form(p): Form<Params>) -> Response {
    let now = sim.clock.now();
    let location = {
        let mut w = lock(&sim.world);
        let req = match check(&w, &p) {
            Ok(r) => r,
            Err(message) => return error_page(&message),
        };
        let mut back = match url::Url::parse(&req.redirect_uri) {
            Ok(u) => u,
            Err(_) => return error_page("redirect_uri is not an absolute URL"),
        };
        if param(&p, "refuse").is_some() {
            back.query_pairs_mut().append_pair("state", &req.state);
        } else {
            let Some(openid) = param(&p, "openid").map(str::to_owned) else {
                return error_page("no follower was chosen");
            };
            let follows = w
                .accounts
                .get(&req.appid)
                .is_some_and(|a| a.follower_set.contains(&openid));
            if !follows {
                return error_page("this user does not follow the account");
            }
            let w = &mut *w;
            let code = w
                .identity
                .issue_code(&mut w.rng, &req.appid, &openid, &req.scope, now);
            back.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &req.state)
                .append_pair("appid", &req.appid);
        }
        back.to_string()
    };
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}
