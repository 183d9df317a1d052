//! API keys and request validation over HTTP: every way a request can be
//! refused before anything reaches WeChat. Each behaviour runs on SQLite and DynamoDB.

use crate::api_common;

use api_common::*;
use serde_json::json;
use wxopen::store::TenantScope;
use wxopen_sim::sandbox_openid;
use wxopen_tests::Backend;

on_both_stores!(
    a_request_without_a_key_is_401,
    an_unknown_or_malformed_key_is_401,
    a_revoked_key_is_401,
    a_key_without_the_scope_is_403,
    the_official_account_routes_refuse_another_tenant,
    another_tenants_records_are_404_as_if_unknown,
    an_unbound_authorizer_is_only_for_keys_of_every_tenant,
    another_tenants_job_is_404_as_if_unknown,
    a_token_read_key_reads_no_authorizer_but_its_token,
    a_cursor_made_up_or_of_another_listing_is_400,
    an_unknown_authorizer_is_404,
    the_access_token_is_given_only_with_token_read,
    wrong_content_types_and_oversized_bodies_are_refused,
    bad_bodies_are_400_naming_the_field,
    authorizers_are_listed_for_the_keys_tenant_without_tokens,
    query_numbers_outside_the_documented_bounds_are_400,
);

fn tenant(t: &str) -> TenantScope {
    TenantScope::Only(vec![t.to_owned()])
}

async fn a_request_without_a_key_is_401(backend: Backend) {
    // Given a running API
    let api = Api::start(backend).await;

    // When a route is called without Authorization
    let r = api.get("/v1/authorizers", None).await;

    // Then it is 401 in the error shape
    assert_eq!((r.status, r.code()), (401, "unauthorized"), "{}", r.body);
    assert!(r.message().contains("Bearer"));
}

async fn an_unknown_or_malformed_key_is_401(backend: Backend) {
    let api = Api::start(backend).await;
    // When keys that were never issued are presented
    for key in ["wxk_notarealkey", "x"] {
        let r = api.get("/v1/authorizers", Some(key)).await;
        // Then each is 401
        assert_eq!(
            (r.status, r.code()),
            (401, "unauthorized"),
            "{key}: {}",
            r.body
        );
    }
    let r = api
        .post(
            &template_path(APPID),
            "wxk_nope",
            &template_body(&[sandbox_openid(1, 1)]),
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(api.env.sim.template_sends(APPID).is_empty());
}

async fn a_revoked_key_is_401(backend: Backend) {
    // Given a key that worked, then was revoked by its shown prefix
    let api = Api::start(backend).await;
    let key = api.new_key(tenant(TENANT), &["send"]).await;
    assert_eq!(api.get("/v1/authorizers", Some(&key)).await.status, 200);
    let listed = wxopen::service::keys::list_keys(&api.env.app)
        .await
        .unwrap();
    let shown = listed
        .iter()
        .find(|k| key.starts_with(&k.prefix))
        .unwrap()
        .prefix
        .clone();
    let revoked = wxopen::service::keys::revoke_key(&api.env.app, &shown)
        .await
        .unwrap();
    assert!(revoked.revoked);

    // When it is used again
    let r = api.get("/v1/authorizers", Some(&key)).await;

    // Then it is 401
    assert_eq!((r.status, r.code()), (401, "unauthorized"), "{}", r.body);
}

async fn a_key_without_the_scope_is_403(backend: Backend) {
    // Given a key that may only read tokens
    let api = Api::start(backend).await;
    let key = api.new_key(tenant(TENANT), &["token:read"]).await;

    // When it sends a message
    let r = api
        .post(
            &template_path(APPID),
            &key,
            &template_body(&[sandbox_openid(1, 1)]),
            None,
        )
        .await;

    // Then it is 403 naming the missing scope, and nothing is sent
    assert_eq!(
        (r.status, r.code()),
        (403, "insufficient_scope"),
        "{}",
        r.body
    );
    assert!(r.message().contains("send"));
    assert!(api.env.sim.template_sends(APPID).is_empty());
}

/// Another tenant's key learns nothing of an account it may not see: the
/// answer for acme's appid is the answer for an appid that does not exist
/// (issue #18, item 13). Naming acme itself (`?tenant=`) stays a 403: that
/// answer depends on nothing stored.
async fn another_tenants_records_are_404_as_if_unknown(backend: Backend) {
    // Given a key of another tenant, and an appid nobody authorized
    let api = Api::start(backend).await;
    let key = api.new_key(tenant("globex"), &["send", "token:read"]).await;
    const NOBODY: &str = "wx0000000000000000";

    // When it acts on acme's authorizer, and on the unknown one, in every way
    let answers = |appid: &'static str| {
        let (api, key) = (&api, key.clone());
        async move {
            let send = api
                .post(
                    &template_path(appid),
                    &key,
                    &template_body(&[sandbox_openid(1, 1)]),
                    None,
                )
                .await;
            let read = api
                .get(&format!("/v1/authorizers/{appid}"), Some(&key))
                .await;
            let token = api
                .get(&format!("/v1/authorizers/{appid}/access-token"), Some(&key))
                .await;
            [send, read, token]
        }
    };
    let acme = answers(APPID).await;
    let unknown = answers(NOBODY).await;
    let list = api
        .get(&format!("/v1/authorizers?tenant={TENANT}"), Some(&key))
        .await;

    // Then acme's account is 404 exactly as the unknown one, the appid aside
    for (mine, none) in acme.iter().zip(&unknown) {
        assert_eq!(
            (mine.status, mine.code()),
            (404, "not_found"),
            "{}",
            mine.body
        );
        assert_eq!(
            mine.body.to_string().replace(APPID, "APPID"),
            none.body.to_string().replace(NOBODY, "APPID"),
        );
    }
    // and naming acme is refused as before, and nothing was sent
    assert_eq!(
        (list.status, list.code()),
        (403, "forbidden"),
        "{}",
        list.body
    );
    assert!(api.env.sim.template_sends(APPID).is_empty());
}

/// Issue #17's routes: (method, path, JSON body) acting on acme's authorizer.
fn official_account_routes() -> Vec<(&'static str, String, Option<serde_json::Value>)> {
    let a = format!("/v1/authorizers/{APPID}");
    let f = sandbox_openid(1, 1);
    vec![
        ("GET", format!("{a}/followers"), None),
        ("GET", format!("{a}/followers/{f}"), None),
        (
            "POST",
            format!("{a}/followers/batchget"),
            Some(json!({"openids": [f]})),
        ),
        (
            "POST",
            format!("{a}/followers/{f}/remark"),
            Some(json!({"remark": "x"})),
        ),
        ("GET", format!("{a}/followers/{f}/tags"), None),
        ("GET", format!("{a}/media/simmedia_x"), None),
        ("GET", format!("{a}/wechat/cgi-bin/user/get"), None),
        (
            "POST",
            format!("{a}/wechat/cgi-bin/tags/get"),
            Some(json!({})),
        ),
        ("GET", format!("{a}/tags"), None),
        ("POST", format!("{a}/tags"), Some(json!({"name": "x"}))),
        (
            "POST",
            format!("{a}/tags/100/members"),
            Some(json!({"openids": [f]})),
        ),
        (
            "POST",
            format!("{a}/tags/100/members/remove"),
            Some(json!({"openids": [f]})),
        ),
        (
            "POST",
            format!("{a}/mass-messages/preview"),
            Some(json!({"touser": f, "msgtype": "text", "text": {"content": "x"}})),
        ),
        (
            "POST",
            format!("{a}/access-token/invalidate"),
            Some(json!({"access_token": "x"})),
        ),
        (
            "GET",
            format!("{a}/quota?cgi_path=/cgi-bin/message/template/send"),
            None,
        ),
        ("POST", format!("{a}/quota/clear"), None),
        ("POST", format!("{a}/profile/refresh"), None),
        ("GET", format!("{a}/materials?type=image"), None),
        ("GET", format!("{a}/materials/count"), None),
        ("GET", format!("{a}/materials/simmat_x"), None),
        (
            "POST",
            format!("{a}/subscribe-messages"),
            Some(
                json!({"touser": f, "template_id": "SimTpl01OrderShipped", "data": {"thing1": {"value": "x"}}}),
            ),
        ),
        ("GET", format!("{a}/templates"), None),
        (
            "POST",
            format!("{a}/templates"),
            Some(json!({"template_id_short": "TM1"})),
        ),
        ("GET", format!("{a}/industry"), None),
        (
            "POST",
            format!("{a}/industry"),
            Some(json!({"industry_id1": 1, "industry_id2": 2})),
        ),
    ]
}

async fn the_official_account_routes_refuse_another_tenant(backend: Backend) {
    // Given a key of another tenant with every scope those routes need
    let api = Api::start(backend).await;
    let key = api
        .new_key(tenant("globex"), &["send", "proxy", "token:read", "admin"])
        .await;
    let before = api.env.sim.calls().len();

    // When it calls each route on acme's authorizer
    for (method, path, body) in official_account_routes() {
        let r = match (method, body) {
            ("GET", _) => api.get(&path, Some(&key)).await,
            (_, Some(body)) => api.post(&path, &key, &body, None).await,
            (_, None) => {
                api.post_raw(&path, &key, "application/json", Vec::new())
                    .await
            }
        };
        // Then each is 404, as for an unknown account, and WeChat hears nothing
        assert_eq!(
            (r.status, r.code()),
            (404, "not_found"),
            "{method} {path}: {}",
            r.body
        );
    }
    assert_eq!(api.env.sim.calls().len(), before);
}

async fn an_unbound_authorizer_is_only_for_keys_of_every_tenant(backend: Backend) {
    // Given a second account authorized by push only, bound to no tenant
    let api = Api::start(backend).await;
    api.env.authorized(OTHER_APPID).await;
    let everyone = api.new_key(TenantScope::All, &["send"]).await;

    // When the tenant key and the all-tenants key read it
    let tenant_key = api
        .get(&format!("/v1/authorizers/{OTHER_APPID}"), Some(&api.key))
        .await;
    let all_key = api
        .get(&format!("/v1/authorizers/{OTHER_APPID}"), Some(&everyone))
        .await;

    // Then only the all-tenants key may: to the tenant's key it does not exist
    assert_eq!(
        (tenant_key.status, tenant_key.code()),
        (404, "not_found"),
        "{}",
        tenant_key.body
    );
    assert_eq!(all_key.status, 200, "{}", all_key.body);
    assert_eq!(all_key.body["tenant"], serde_json::Value::Null);
}

async fn an_unknown_authorizer_is_404(backend: Backend) {
    let api = Api::start(backend).await;
    let everyone = api.new_key(TenantScope::All, &["send"]).await;
    let r = api
        .post(
            &template_path("wx0000000000000000"),
            &everyone,
            &template_body(&[sandbox_openid(1, 1)]),
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "{}", r.body);
}

async fn the_access_token_is_given_only_with_token_read(backend: Backend) {
    // Given a send key and a token:read key of the tenant
    let api = Api::start(backend).await;
    let reader = api.new_key(tenant(TENANT), &["token:read"]).await;
    let path = format!("/v1/authorizers/{APPID}/access-token");

    // When both ask for the token
    let denied = api.get(&path, Some(&api.key)).await;
    let given = api.get(&path, Some(&reader)).await;

    // Then only the reader gets it, with its expiry and no caching
    assert_eq!((denied.status, denied.code()), (403, "insufficient_scope"));
    assert_eq!(given.status, 200, "{}", given.body);
    let token = given.body["access_token"].as_str().unwrap();
    assert!(!token.is_empty());
    assert!(given.body["expires_at"].as_u64().unwrap() > api.env.sim.now());
    assert_eq!(given.headers["cache-control"], "no-store");
    // and the token works at WeChat
    let sent = api
        .env
        .app
        .wechat
        .send_template(
            &wxopen::secret::Secret::new(token),
            &wxopen::wechat::TemplateMessage {
                touser: sandbox_openid(1, 1),
                template_id: TEMPLATE.into(),
                url: None,
                miniprogram: None,
                data: Default::default(),
                client_msg_id: None,
            },
        )
        .await;
    assert!(sent.is_ok(), "{sent:?}");
}

async fn wrong_content_types_and_oversized_bodies_are_refused(backend: Backend) {
    let api = Api::start(backend).await;
    let path = template_path(APPID);
    let body = serde_json::to_vec(&template_body(&[sandbox_openid(1, 1)])).unwrap();

    // When the JSON is sent as text/plain, then 415
    let r = api
        .post_raw(&path, &api.key, "text/plain", body.clone())
        .await;
    assert_eq!(
        (r.status, r.code()),
        (415, "unsupported_media_type"),
        "{}",
        r.body
    );
    // When the body is over the route's 4 MiB, then 413
    let mut big = b"{\"touser\": \"".to_vec();
    big.extend(std::iter::repeat_n(
        b'a',
        wxopen::http::limits::TEMPLATE_BODY_BYTES,
    ));
    big.extend(b"\"}");
    let r = api.post_raw(&path, &api.key, "application/json", big).await;
    assert_eq!(
        (r.status, r.code()),
        (413, "payload_too_large"),
        "{}",
        r.body
    );
    // When it is not JSON at all, then 400
    let r = api
        .post_raw(
            &path,
            &api.key,
            "application/json",
            b"{\"touser\":".to_vec(),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_json"), "{}", r.body);
    assert!(api.env.sim.template_sends(APPID).is_empty());
}

async fn bad_bodies_are_400_naming_the_field(backend: Backend) {
    let api = Api::start(backend).await;
    let path = template_path(APPID);
    let good = template_body(&[sandbox_openid(1, 1)]);
    let cases = [
        ("touser", json!("not an openid!"), "touser"),
        ("touser", json!(["oA", 5]), "touser[1]"),
        ("touser", json!([]), "touser"),
        ("data", json!({"first": 12}), "data.first"),
        (
            "data",
            json!({"first": {"value": "x", "font": "big"}}),
            "data.first.font",
        ),
        ("url", json!("not a url"), "url"),
    ];
    for (field, value, named) in cases {
        // Given a body with one bad field
        let mut body = good.clone();
        body[field] = value.clone();
        // When it is sent
        let r = api.post(&path, &api.key, &body, None).await;
        // Then it is 400 and the message names the field
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_request"),
            "{value}: {}",
            r.body
        );
        assert!(
            r.message().contains(&format!("`{named}`")),
            "{value}: {}",
            r.message()
        );
    }
    let mut body = good.clone();
    body["template"] = json!("x");
    let r = api.post(&path, &api.key, &body, None).await;
    assert!(
        r.message().contains("`template`") && r.message().contains("unknown field"),
        "{}",
        r.message()
    );
    // and a mass send to a single openid is refused the same way
    let r = api
        .post(
            &format!("/v1/authorizers/{APPID}/mass-messages"),
            &api.key,
            &json!({"touser": [sandbox_openid(1, 1)], "msgtype": "text", "text": {"content": "hi"}}),
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("2..=10000"), "{}", r.message());
    assert!(api.env.sim.calls_to(TEMPLATE_SEND).is_empty());
}

async fn authorizers_are_listed_for_the_keys_tenant_without_tokens(backend: Backend) {
    // Given acme's authorizer and an unbound one
    let api = Api::start(backend).await;
    api.env.authorized(OTHER_APPID).await;

    // When acme's key lists authorizers
    let r = api.get("/v1/authorizers", Some(&api.key)).await;

    // Then only acme's is listed, with its token expiry and no token
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.body["authorizers"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["appid"], APPID);
    assert_eq!(list[0]["status"], "active");
    assert!(list[0]["token_expires_at"].as_u64().is_some());
    assert!(!r.body.to_string().contains("access_token"));
}

async fn another_tenants_job_is_404_as_if_unknown(backend: Backend) {
    // Given a job of acme (more recipients than are sent inline)
    let api = Api::start_with(options(backend, 30, &[])).await;
    let r = api.send_template(&extra_followers(30), None).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job_id = r.body["job_id"].as_str().unwrap().to_owned();
    let globex = api.new_key(tenant("globex"), &["send"]).await;

    // When globex's key reads it, and a job that does not exist
    let theirs = api.get(&format!("/v1/jobs/{job_id}"), Some(&globex)).await;
    let none = api
        .get("/v1/jobs/job_0000000000000000", Some(&globex))
        .await;

    // Then both are the same 404, while acme's key reads its job
    assert_eq!(
        (theirs.status, theirs.code()),
        (404, "not_found"),
        "{}",
        theirs.body
    );
    assert_eq!(
        theirs.body.to_string().replace(&job_id, "JOB"),
        none.body.to_string().replace("job_0000000000000000", "JOB"),
    );
    assert_eq!(
        api.get(&format!("/v1/jobs/{job_id}"), Some(&api.key))
            .await
            .status,
        200
    );
}

/// The README gives reading authorizers to `send`; a `token:read` key reads
/// its tenant's tokens and nothing else (issue #18, item 9).
async fn a_token_read_key_reads_no_authorizer_but_its_token(backend: Backend) {
    let api = Api::start(backend).await;
    let reader = api.new_key(tenant(TENANT), &["token:read"]).await;
    for path in [
        "/v1/authorizers".to_owned(),
        format!("/v1/authorizers/{APPID}"),
    ] {
        let r = api.get(&path, Some(&reader)).await;
        assert_eq!(
            (r.status, r.code()),
            (403, "insufficient_scope"),
            "{path}: {}",
            r.body
        );
        assert!(!r.body.to_string().contains(APPID), "{}", r.body);
    }
    let token = api
        .get(
            &format!("/v1/authorizers/{APPID}/access-token"),
            Some(&reader),
        )
        .await;
    assert_eq!(token.status, 200, "{}", token.body);
}

/// Both stores refuse a cursor they did not hand out for this listing
/// (issue #18, item 9: SQLite once took any string as an appid position).
async fn a_cursor_made_up_or_of_another_listing_is_400(backend: Backend) {
    // Given two authorizers, acme's and an unbound one, and a key for every tenant
    let api = Api::start(backend).await;
    api.env.authorized(OTHER_APPID).await;
    let everyone = api.new_key(TenantScope::All, &["send"]).await;
    let first = api.get("/v1/authorizers?limit=1", Some(&everyone)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let all_cursor = first.body["next_cursor"].as_str().unwrap().to_owned();

    // When acme's listing is asked to continue the all-tenants listing, or from made-up cursors
    let mut answers = vec![
        api.get(
            &format!("/v1/authorizers?cursor={all_cursor}"),
            Some(&api.key),
        )
        .await,
    ];
    for cursor in ["not-a-cursor", APPID, "%00", "e30"] {
        answers.push(
            api.get(&format!("/v1/authorizers?cursor={cursor}"), Some(&everyone))
                .await,
        );
    }

    // Then each is 400 invalid_cursor
    for r in &answers {
        assert_eq!((r.status, r.code()), (400, "invalid_cursor"), "{}", r.body);
    }
    // and the cursor continues its own listing to the second authorizer
    let second = api
        .get(
            &format!("/v1/authorizers?limit=1&cursor={all_cursor}"),
            Some(&everyone),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    let appids = [&first, &second].map(|r| r.body["authorizers"][0]["appid"].clone());
    assert_eq!(
        appids,
        [serde_json::json!(APPID), serde_json::json!(OTHER_APPID)]
    );
}

/// Found by schemathesis: `limit=9223372036854775808` was clamped and answered
/// 200, though the document bounds it; a number out of bounds is now refused.
async fn query_numbers_outside_the_documented_bounds_are_400(backend: Backend) {
    let api = Api::start(backend).await;
    for path in [
        "/v1/authorizers?limit=9223372036854775808",
        "/v1/authorizers?limit=0",
        "/v1/authorizers?limit=501",
        "/v1/jobs/job_x?limit=10001",
        "/v1/jobs/job_x?cursor=9223372036854775808",
    ] {
        let r = api.get(path, Some(&api.key)).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_request"),
            "{path}: {}",
            r.body
        );
        assert!(
            r.message().contains("query parameter"),
            "{path}: {}",
            r.message()
        );
    }
    // and the bounds themselves are accepted
    let r = api.get("/v1/authorizers?limit=500", Some(&api.key)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// DynamoDB's cursors are opaque keys: one the listing did not hand out is the
/// caller's mistake, not an outage. (SQLite's cursor is a plain appid position.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_the_listing_did_not_give_is_400_on_dynamodb() {
    // Given acme's key on the DynamoDB store
    let api = Api::start(Backend::Dynamo).await;

    // When it lists with a made-up cursor; with a cursor of the all-tenants listing's
    // shape ({"pk":…,"sk":…}); and the all-tenants key with a tenant listing's
    // shape ({"pk":…,"sk":…,"gsi2pk":…,"gsi2sk":…})
    let garbage = api
        .get("/v1/authorizers?cursor=not-a-cursor", Some(&api.key))
        .await;
    let foreign = api
        .get(
            "/v1/authorizers?cursor=eyJwayI6eyJTIjoieCJ9LCJzayI6eyJTIjoicHJvZmlsZSJ9fQ",
            Some(&api.key),
        )
        .await;
    let everyone = api.new_key(TenantScope::All, &["send"]).await;
    let crossed = api
        .get(
            "/v1/authorizers?cursor=eyJwayI6eyJTIjoieCNhdXRob3JpemVyI3d4YSJ9LCJzayI6eyJTIjoicHJvZmlsZSJ9LCJnc2kycGsiOnsiUyI6IngjdGVuYW50I2FjbWUifSwiZ3NpMnNrIjp7IlMiOiJ3eGEifX0",
            Some(&everyone),
        )
        .await;

    // Then all three are 400 invalid_cursor, never a 503 asking to retry
    for r in [&garbage, &foreign, &crossed] {
        assert_eq!((r.status, r.code()), (400, "invalid_cursor"), "{}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_without_a_key() {
    // Given a running API
    let api = Api::start(Backend::Sqlite).await;

    // When its document is read without a key
    let r = api.get("/v1/openapi.json", None).await;

    // Then it is the OpenAPI 3.1 document naming every client route
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.body["openapi"], "3.1.0");
    for route in wxopen::http::ROUTES
        .iter()
        .filter(|r| r.pattern.starts_with("/v1/"))
    {
        // a greedy `{path+}` is the document's `{path}`
        let path = route.pattern.replace("+}", "}");
        let op = &r.body["paths"][path.as_str()][route.method.to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is not documented",
            route.method,
            route.pattern
        );
    }
}
