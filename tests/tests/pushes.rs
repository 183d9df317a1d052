//! WeChat pushes end to end: the simulator (or a test posing as WeChat with the
//! real algorithm) posts to wxopen over HTTP; the store is checked afterwards.
//! Store-touching behaviours run on SQLite and DynamoDB.

use std::collections::BTreeMap;
use std::time::Duration;
use wxopen::crypto::MsgCrypt;
use wxopen::secret::Secret;
use wxopen::service::authorization::exchange_code;
use wxopen::store::{AuthorizerStatus, GrantOutcome};
use wxopen::wechat::{paths, TemplateMessage, TemplateValue};
use wxopen_tests::{eventually, on_both_stores, Backend, SignedPush, TestEnv};

const APPID: &str = "wx5add0a0000000001";
const RELEASE_APPID: &str = "wx570bc396a51b8ff8";
const COMPONENT_URL: &str = "/wechat/component/events";

on_both_stores!(
    a_ticket_is_stored_and_an_older_one_never_replaces_it,
    the_authorized_push_stores_tokens_permissions_and_name,
    push_first_then_browser_callback_exchanges_the_code_once,
    browser_callback_first_then_push_exchanges_the_code_once,
    the_unauthorized_push_revokes_and_erases_tokens,
    template_and_mass_finish_events_are_stored_by_msg_id,
    forged_or_malformed_pushes_are_refused_and_change_nothing,
    a_ticket_from_the_future_is_refused_and_later_tickets_still_count,
    a_push_addressed_to_another_account_is_refused_at_this_ones_url,
    a_replayed_unauthorized_push_does_not_revoke_a_newer_authorization,
);

fn token(env: &TestEnv) -> String {
    env.sim.config().component.token.expose().to_owned()
}

fn component_head(env: &TestEnv) -> String {
    format!(
        "<AppId><![CDATA[{}]]></AppId>",
        env.sim.config().component.appid
    )
}

fn ticket_xml(env: &TestEnv, create_time: u64, ticket: &str) -> String {
    format!(
        "<xml><AppId><![CDATA[{}]]></AppId><CreateTime>{create_time}</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[{ticket}]]></ComponentVerifyTicket></xml>",
        env.sim.config().component.appid
    )
}

async fn a_ticket_is_stored_and_an_older_one_never_replaces_it(backend: Backend) {
    // Given the simulator pushed a ticket
    let env = TestEnv::start(backend).await;
    let out = env.sim.push_ticket().await;
    assert_eq!(out.response_body.as_deref(), Some("success"));
    let now = env.sim.now();
    let stored = env.store().get_ticket(now).await.unwrap().unwrap();

    // When an older ticket arrives
    let crypt = wxopen_tests::wechat_crypt(&env);
    let older = SignedPush::new(
        &crypt,
        &token(&env),
        &component_head(&env),
        &ticket_xml(&env, now - 60, "older"),
        now,
    );
    let (status, body) = env.post_push(COMPONENT_URL, &older.query, older.body).await;

    // Then it is answered but the newer one is kept
    assert_eq!((status, body.as_str()), (200, "success"));
    assert_eq!(
        env.store().get_ticket(now).await.unwrap().unwrap().value,
        stored.value
    );

    // and a newer one replaces it
    let newer = SignedPush::new(
        &crypt,
        &token(&env),
        &component_head(&env),
        &ticket_xml(&env, now + 1, "newer"),
        now,
    );
    let (status, _) = env.post_push(COMPONENT_URL, &newer.query, newer.body).await;
    assert_eq!(status, 200);
    assert_eq!(
        env.store()
            .get_ticket(now)
            .await
            .unwrap()
            .unwrap()
            .value
            .expose(),
        "newer"
    );
}

async fn the_authorized_push_stores_tokens_permissions_and_name(backend: Backend) {
    // When a merchant authorizes (the simulator pushes `authorized`)
    let env = TestEnv::start(backend).await;
    let code = env.authorized(APPID).await;

    // Then it was answered `success` and the authorizer is stored, usable and named
    assert_eq!(code.push.response_body.as_deref(), Some("success"));
    let a = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizerStatus::Active);
    assert!(a.refresh_token.is_some());
    assert!(a.token.usable(env.sim.now(), 0).is_some());
    assert_eq!(a.func_info, vec![1, 2, 3]);
    assert_eq!(a.profile.nick_name.as_deref(), Some("Sandbox Coffee"));
    assert_eq!(a.profile.user_name.as_deref(), Some("gh_5add0a000001"));
    assert_eq!(a.tenant, None);
    // and the stored token works
    let t = env.app.tokens.authorizer_token(APPID).await.unwrap();
    env.app.wechat.get_all_private_template(&t).await.unwrap();
}

async fn push_first_then_browser_callback_exchanges_the_code_once(backend: Backend) {
    // Given the `authorized` push already exchanged the code
    let env = TestEnv::start(backend).await;
    let code = env.authorized(APPID).await;

    // When the browser callback brings the same code, for a tenant
    let done = exchange_code(&env.app, &Secret::new(code.code.clone()), Some("acme"))
        .await
        .unwrap();

    // Then it finds the exchange done, binds the tenant, and WeChat saw one api_query_auth
    assert_eq!(done.appid, APPID);
    assert_eq!(done.outcome, GrantOutcome::AlreadyDone);
    assert_eq!(done.profile.nick_name.as_deref(), Some("Sandbox Coffee"));
    assert_eq!(env.sim.calls_to(paths::QUERY_AUTH).len(), 1);
    let a = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(a.tenant.as_deref(), Some("acme"));
}

async fn browser_callback_first_then_push_exchanges_the_code_once(backend: Backend) {
    // Given the `authorized` push is lost on the way and the browser callback exchanged the code
    let env = TestEnv::start(backend).await;
    env.deliver_ticket().await;
    env.lose_component_pushes();
    let code = env.sim.authorize(APPID, &[1, 2]).await.unwrap();
    assert!(!code.push.delivered);
    let done = exchange_code(&env.app, &Secret::new(code.code.clone()), Some("acme"))
        .await
        .unwrap();
    assert_eq!(done.outcome, GrantOutcome::Created);

    // When WeChat's retry of the push arrives with the same code
    let now = env.sim.now();
    let xml = format!(
        "<xml><AppId><![CDATA[{c}]]></AppId><CreateTime>{now}</CreateTime><InfoType><![CDATA[authorized]]></InfoType><AuthorizerAppid><![CDATA[{APPID}]]></AuthorizerAppid><AuthorizationCode><![CDATA[{code}]]></AuthorizationCode><AuthorizationCodeExpiredTime>{exp}</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[]]></PreAuthCode></xml>",
        c = env.sim.config().component.appid,
        code = code.code,
        exp = now + 3600,
    );
    let push = SignedPush::new(
        &wxopen_tests::wechat_crypt(&env),
        &token(&env),
        &component_head(&env),
        &xml,
        now,
    );
    let (status, body) = env.post_push(COMPONENT_URL, &push.query, push.body).await;

    // Then it is answered `success` without a second exchange, and the tenant stays
    assert_eq!((status, body.as_str()), (200, "success"));
    assert_eq!(env.sim.calls_to(paths::QUERY_AUTH).len(), 1);
    let a = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(a.tenant.as_deref(), Some("acme"));
    assert_eq!(a.func_info, vec![1, 2]);
}

async fn the_unauthorized_push_revokes_and_erases_tokens(backend: Backend) {
    // Given an authorized account
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;

    // When the merchant revokes
    let out = env.sim.revoke(APPID).await.unwrap();

    // Then the push is answered and the authorizer is revoked with no tokens left
    assert_eq!(out.response_body.as_deref(), Some("success"));
    let a = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizerStatus::Revoked);
    assert!(a.refresh_token.is_none());
    assert!(a.token.access_token.is_none());
}

async fn template_and_mass_finish_events_are_stored_by_msg_id(backend: Backend) {
    // Given a template message sent through WeChat (the simulator pushes TEMPLATESENDJOBFINISH)
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    let token = env.app.tokens.authorizer_token(APPID).await.unwrap();
    let openid = wxopen_sim::sandbox_openid(1, 1);
    let message = TemplateMessage {
        touser: openid.clone(),
        template_id: "SimTpl01OrderShipped".into(),
        url: None,
        miniprogram: None,
        data: BTreeMap::from([("first".to_owned(), TemplateValue::new("hi"))]),
        client_msg_id: None,
    };
    let msgid = env
        .app
        .wechat
        .send_template(&token, &message)
        .await
        .unwrap();

    // Then the finish event is stored by (appid, MsgID)
    let store = env.store().clone();
    let now = env.sim.now();
    let events = eventually(
        "template finish event stored",
        Duration::from_secs(5),
        || {
            let store = store.clone();
            async move {
                store
                    .get_finish_events(APPID, &[msgid], now)
                    .await
                    .ok()
                    .filter(|e| !e.is_empty())
            }
        },
    )
    .await;
    assert_eq!(events[0].kind, "template");
    assert_eq!(events[0].status, "success");
    assert_eq!(events[0].openid.as_deref(), Some(openid.as_str()));

    // When a MASSSENDJOBFINISH arrives twice (WeChat's retry)
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_5add0a000001]]></ToUserName><FromUserName><![CDATA[oSys]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>777</MsgID><Status><![CDATA[send success]]></Status><TotalCount>5</TotalCount><FilterCount>4</FilterCount><SentCount>4</SentCount><ErrorCount>0</ErrorCount></xml>"
    );
    let push = SignedPush::new(
        &wxopen_tests::wechat_crypt(&env),
        &self::token(&env),
        "<ToUserName><![CDATA[gh_5add0a000001]]></ToUserName>",
        &xml,
        now,
    );
    let path = format!("/wechat/authorizers/{APPID}/events");
    for _ in 0..2 {
        let (status, body) = env.post_push(&path, &push.query, push.body.clone()).await;
        assert_eq!((status, body.as_str()), (200, "success"));
    }

    // Then one mass event is stored with its counts
    let events = env
        .store()
        .get_finish_events(APPID, &[777], now)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "mass");
    assert_eq!(events[0].counts.get("SentCount"), Some(&4));
    assert_eq!(events[0].counts.get("TotalCount"), Some(&5));
}

/// Issue #18, item 14: a signed ticket push with a far-future CreateTime was
/// stored, and `put_ticket_if_newer` then kept it over every real ticket.
async fn a_ticket_from_the_future_is_refused_and_later_tickets_still_count(backend: Backend) {
    // Given a stored ticket
    let env = TestEnv::start(backend).await;
    env.deliver_ticket().await;
    let now = env.sim.now();
    let stored = env.store().get_ticket(now).await.unwrap().unwrap();
    let crypt = wxopen_tests::wechat_crypt(&env);
    let push = |create_time: u64, ticket: &str| {
        SignedPush::new(
            &crypt,
            &token(&env),
            &component_head(&env),
            &ticket_xml(&env, create_time, ticket),
            now,
        )
    };

    // When a correctly signed ticket says it was made a day from now
    let future = push(now + 86_400, "from-the-future");
    let (status, body) = env
        .post_push(COMPONENT_URL, &future.query, future.body)
        .await;

    // Then it is refused and the stored ticket stays
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("replayed"), "{body}");
    let kept = env.store().get_ticket(now).await.unwrap().unwrap();
    assert_eq!(kept.value.expose(), stored.value.expose());
    // and the next real ticket replaces it as usual
    let next = push(now + 1, "the-next-one");
    let (status, _) = env.post_push(COMPONENT_URL, &next.query, next.body).await;
    assert_eq!(status, 200);
    let now_stored = env.store().get_ticket(now).await.unwrap().unwrap();
    assert_eq!(now_stored.value.expose(), "the-next-one");
}

/// Issue #18, item 6: every account's pushes are sealed with the component's
/// one key, so a push of another account (its ToUserName) replayed at this
/// account's URL was acted on as this account's.
async fn a_push_addressed_to_another_account_is_refused_at_this_ones_url(backend: Backend) {
    // Given an authorizer whose gh_ id is known
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    let own = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(own.profile.user_name.as_deref(), Some("gh_5add0a000001"));
    let crypt = wxopen_tests::wechat_crypt(&env);
    let now = env.sim.now();
    let finish = |to: &str, msg_id: u64| {
        format!(
            "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[oSys]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>{msg_id}</MsgID><Status><![CDATA[send success]]></Status><TotalCount>5</TotalCount><FilterCount>4</FilterCount><SentCount>4</SentCount><ErrorCount>0</ErrorCount></xml>"
        )
    };
    let head = |to: &str| format!("<ToUserName><![CDATA[{to}]]></ToUserName>");
    let path = format!("/wechat/authorizers/{APPID}/events");
    let before = env.store_snapshot().await;

    // When a push addressed to another account arrives at this account's URL,
    // and one whose envelope names another account than its content
    let other = SignedPush::new(
        &crypt,
        &token(&env),
        &head("gh_5add0a000002"),
        &finish("gh_5add0a000002", 801),
        now,
    );
    let (other_status, other_body) = env.post_push(&path, &other.query, other.body).await;
    let mixed = SignedPush::new(
        &crypt,
        &token(&env),
        &head("gh_5add0a000002"),
        &finish("gh_5add0a000001", 802),
        now,
    );
    let (mixed_status, mixed_body) = env.post_push(&path, &mixed.query, mixed.body).await;

    // Then both are refused and nothing is stored
    assert_eq!(other_status, 400, "{other_body}");
    assert!(other_body.contains("wrong_account"), "{other_body}");
    assert_eq!(mixed_status, 400, "{mixed_body}");
    assert!(
        env.store_snapshot().await == before,
        "a refused push changed the store"
    );
    // and a push addressed to it is taken
    let own_push = SignedPush::new(
        &crypt,
        &token(&env),
        &head("gh_5add0a000001"),
        &finish("gh_5add0a000001", 803),
        now,
    );
    let (status, body) = env.post_push(&path, &own_push.query, own_push.body).await;
    assert_eq!((status, body.as_str()), (200, "success"));
    let events = env
        .store()
        .get_finish_events(APPID, &[801, 802, 803], now)
        .await
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.msg_id).collect::<Vec<_>>(),
        vec![803]
    );
}

/// Issue #18, item 5: inside the replay window a signed `unauthorized` push
/// can be replayed (or arrive late); it revoked an account the merchant had
/// authorized again in between.
async fn a_replayed_unauthorized_push_does_not_revoke_a_newer_authorization(backend: Backend) {
    // Given an account revoked by a signed `unauthorized` push
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    let crypt = wxopen_tests::wechat_crypt(&env);
    let created = env.sim.now();
    let unauthorized = SignedPush::new(
        &crypt,
        &token(&env),
        &component_head(&env),
        &format!(
            "<xml><AppId><![CDATA[{}]]></AppId><CreateTime>{created}</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType><AuthorizerAppid><![CDATA[{APPID}]]></AuthorizerAppid></xml>",
            env.sim.config().component.appid
        ),
        created,
    );
    let (status, _) = env
        .post_push(
            COMPONENT_URL,
            &unauthorized.query,
            unauthorized.body.clone(),
        )
        .await;
    assert_eq!(status, 200);
    let revoked = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(revoked.status, AuthorizerStatus::Revoked);

    // When the merchant authorizes again a minute later, and the same push comes again
    env.sim.advance(Duration::from_secs(60));
    env.authorized(APPID).await;
    let (status, body) = env
        .post_push(COMPONENT_URL, &unauthorized.query, unauthorized.body)
        .await;

    // Then it is answered, and the newer authorization stands with its tokens
    assert_eq!((status, body.as_str()), (200, "success"));
    let a = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizerStatus::Active);
    assert!(a.refresh_token.is_some());
    // and a revocation made after it still revokes
    env.sim.advance(Duration::from_secs(1));
    env.sim.revoke(APPID).await.unwrap();
    let a = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizerStatus::Revoked);
}

async fn forged_or_malformed_pushes_are_refused_and_change_nothing(backend: Backend) {
    // Given an environment with an authorizer and a ticket
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    let crypt = wxopen_tests::wechat_crypt(&env);
    let tok = token(&env);
    let head = component_head(&env);
    let now = env.sim.now();
    let ticket = ticket_xml(&env, now + 5, "forged-ticket");
    let before = env.store_snapshot().await;

    let mut cases: Vec<(&str, String, String, String, u16)> = Vec::new();
    let ok = |inner: &str, ts: u64| SignedPush::new(&crypt, &tok, &head, inner, ts);

    let bad_sig = ok(&ticket, now);
    cases.push((
        "bad signature",
        COMPONENT_URL.into(),
        bad_sig.query.replace("msg_signature=", "msg_signature=0"),
        bad_sig.body,
        401,
    ));

    let replayed = ok(&ticket, now - 3600);
    cases.push((
        "replayed",
        COMPONENT_URL.into(),
        replayed.query,
        replayed.body,
        401,
    ));

    let full = crypt.encrypt(&ticket);
    let truncated = SignedPush::with_encrypt(&crypt, &tok, &head, &full[..full.len() - 24], now);
    cases.push((
        "truncated ciphertext",
        COMPONENT_URL.into(),
        truncated.query,
        truncated.body,
        400,
    ));

    let c = &env.sim.config().component;
    let other = MsgCrypt::new(
        c.token.expose(),
        c.encoding_aes_key.expose(),
        None,
        "wx0ther0000000000",
    )
    .unwrap();
    let wrong_tail = SignedPush::new(&other, &tok, &head, &ticket, now);
    cases.push((
        "wrong appid tail",
        COMPONENT_URL.into(),
        wrong_tail.query,
        wrong_tail.body,
        400,
    ));

    let encrypt = crypt.encrypt(&ticket);
    let doctype = SignedPush::with_encrypt(&crypt, &tok, &head, &encrypt, now);
    let doctype_body = format!("<!DOCTYPE xml [<!ENTITY x \"y\">]>{}", doctype.body);
    cases.push((
        "DOCTYPE",
        COMPONENT_URL.into(),
        doctype.query,
        doctype_body,
        400,
    ));

    let big = ok(&ticket, now);
    let padding = " ".repeat(64 * 1024);
    let big_body = big.body.replacen("<xml>", &format!("<xml>{padding}"), 1);
    cases.push((
        "64 KiB+ body",
        COMPONENT_URL.into(),
        big.query,
        big_body,
        413,
    ));

    let finish = format!(
        "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>1</MsgID><Status><![CDATA[success]]></Status></xml>"
    );
    let stranger = SignedPush::new(
        &crypt,
        &tok,
        "<ToUserName><![CDATA[gh_x]]></ToUserName>",
        &finish,
        now,
    );
    cases.push((
        "appid not ours",
        "/wechat/authorizers/wx0000000000000bad/events".into(),
        stranger.query,
        stranger.body,
        404,
    ));

    let forged_finish = SignedPush::new(&crypt, "not-the-token", "", &finish, now);
    cases.push((
        "bad signature on the authorizer URL",
        format!("/wechat/authorizers/{APPID}/events"),
        forged_finish
            .query
            .replace("msg_signature=", "msg_signature=f"),
        forged_finish.body,
        401,
    ));

    cases.push((
        "no signature",
        COMPONENT_URL.into(),
        String::new(),
        ok(&ticket, now).body,
        401,
    ));
    cases.push((
        "not XML",
        COMPONENT_URL.into(),
        ok(&ticket, now).query,
        "garbage".into(),
        400,
    ));

    for (what, path, query, body, expected) in cases {
        // When each is posted
        let (status, _) = env.post_push(&path, &query, body).await;
        // Then it is refused with the expected status
        assert_eq!(status, expected, "{what}");
    }
    // and the store is byte-for-byte unchanged
    assert!(
        env.store_snapshot().await == before,
        "a refused push changed the store"
    );

    // while the same push, untampered, is accepted and does change it (the snapshot sees writes)
    let genuine = ok(&ticket, now);
    let (status, _) = env
        .post_push(COMPONENT_URL, &genuine.query, genuine.body)
        .await;
    assert_eq!(status, 200);
    assert!(
        env.store_snapshot().await != before,
        "the snapshot missed a write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_test_passes_for_every_test_account_group() {
    // Given wxopen with no special configuration
    let env = TestEnv::start(Backend::Sqlite).await;
    for group in 0..5 {
        // When WeChat runs the full-network release test with each group
        let report = env.sim.run_release_test(group).await;
        // Then every step passes
        assert!(report.passed, "group {group}: {report:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_message_is_answered_once() {
    // Given a release-test text message delivered once and answered
    let env = TestEnv::start(Backend::Sqlite).await;
    let now = env.sim.now();
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_3c884a361561]]></ToUserName><FromUserName><![CDATA[ozy4qt1eDxSxzCr0aNT0mXCWfrDE]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT]]></Content><MsgId>424242</MsgId></xml>"
    );
    let push = SignedPush::new(
        &wxopen_tests::wechat_crypt(&env),
        &token(&env),
        "<ToUserName><![CDATA[gh_3c884a361561]]></ToUserName>",
        &xml,
        now,
    );
    let path = format!("/wechat/authorizers/{RELEASE_APPID}/events");
    let (status, first) = env.post_push(&path, &push.query, push.body.clone()).await;
    assert_eq!(status, 200);
    assert!(first.contains("<Encrypt>"), "{first}");

    // When WeChat retries it (same MsgId)
    let (status, second) = env.post_push(&path, &push.query, push.body).await;

    // Then the retry is acknowledged without a second reply
    assert_eq!((status, second.as_str()), (200, "success"));
}

#[tokio::test]
async fn the_url_check_echoes_echostr_on_both_urls_only_when_signed() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let now = env.sim.now().to_string();
    let sig = wxopen::crypto::signature(&[&token(&env), &now, "42"]);
    for path in [
        COMPONENT_URL.to_owned(),
        format!("/wechat/authorizers/{APPID}/events"),
    ] {
        // When WeChat checks the URL with a good signature, echostr comes back as is
        let good = env
            .http
            .get(env.at(&format!(
                "{path}?signature={sig}&timestamp={now}&nonce=42&echostr=hello123"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(good.status(), 200);
        assert_eq!(good.text().await.unwrap(), "hello123");
        // and a wrong signature is refused
        let bad = env
            .http
            .get(env.at(&format!(
                "{path}?signature=00{sig}&timestamp={now}&nonce=42&echostr=hello123"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 401);
    }
}
