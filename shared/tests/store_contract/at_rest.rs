//! Credentials at rest, checked on the raw table (not through the store):
//! no token plaintext anywhere, legacy plaintext read and re-sealed on its
//! next write, rotation through the previous key. Each backend supplies how
//! to open a store on one shared table/file with given keys (None: a store
//! from before encryption), and how to dump every stored value raw.

use super::*;
use futures::future::BoxFuture;
use wxopen::crypto::at_rest::DataKeys;

pub const K1: [u8; 32] = [0x11; 32];
pub const K2: [u8; 32] = [0x22; 32];

/// Opens a store over the same table/file with these keys.
pub type Open = Box<dyn Fn(Option<DataKeys>) -> BoxFuture<'static, Store> + Send + Sync>;
/// Every stored value, as text (both tables of a file / every item of a table).
pub type Dump = Box<dyn Fn() -> BoxFuture<'static, String> + Send + Sync>;

fn grant(appid: &str, access: &str, refresh: &str, code: &str) -> AuthorizationGrant {
    AuthorizationGrant {
        appid: appid.into(),
        tenant: Some("t1".into()),
        auth_code_hash: code.into(),
        access_token: Secret::new(access),
        expires_at: NOW + 7200,
        refresh_token: Secret::new(refresh),
        func_info: vec![1],
        now: NOW,
    }
}

async fn renew_component(store: &Store, token: &str) {
    let version = store.get_component_token().await.unwrap().version;
    assert_eq!(
        store
            .acquire_component_lease("me", version, NOW, NOW + 60)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    assert!(matches!(
        store
            .complete_component_renewal("me", &Secret::new(token), NOW + 7200)
            .await
            .unwrap(),
        RenewalOutcome::Stored { .. }
    ));
}

async fn renew_authorizer(store: &Store, appid: &str, access: &str, refresh: &str) {
    let version = store
        .get_authorizer(appid)
        .await
        .unwrap()
        .unwrap()
        .token
        .version;
    assert_eq!(
        store
            .acquire_authorizer_lease(appid, "me", version, NOW, NOW + 60)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    let tokens = RenewedTokens {
        access_token: Secret::new(access),
        expires_at: NOW + 7200,
        refresh_token: Some(Secret::new(refresh)),
    };
    assert!(matches!(
        store
            .complete_authorizer_renewal(appid, "me", &tokens, NOW)
            .await
            .unwrap(),
        RenewalOutcome::Stored { .. }
    ));
}

fn key_id(keys: &DataKeys) -> String {
    keys.key_id().to_owned()
}

/// Every write path of a credential seals it; the raw table holds none of
/// them in plaintext, and the store reads them back.
pub async fn no_credential_is_stored_in_plaintext(open: Open, dump: Dump) {
    let keys = DataKeys::new(K1, None);
    let store = open(Some(keys.clone())).await;
    store
        .put_grant(&grant(
            "wxa1",
            "PLAIN-access-grant",
            "PLAIN-refresh-grant",
            "c1",
        ))
        .await
        .unwrap();
    store
        .put_grant(&grant("wxa2", "PLAIN-access-a2", "PLAIN-refresh-a2", "c1"))
        .await
        .unwrap();
    // A re-authorization (new code) replaces the tokens.
    store
        .put_grant(&grant(
            "wxa2",
            "PLAIN-access-regrant",
            "PLAIN-refresh-regrant",
            "c2",
        ))
        .await
        .unwrap();
    renew_authorizer(
        &store,
        "wxa1",
        "PLAIN-access-renewed",
        "PLAIN-refresh-renewed",
    )
    .await;
    assert!(store
        .repair_refresh_token("wxa2", &Secret::new("PLAIN-refresh-repaired"), NOW)
        .await
        .unwrap());
    renew_component(&store, "PLAIN-component-token").await;
    // A webhook's signing secret, and the one a rotation keeps signing alongside.
    let webhook = Webhook {
        id: "wh_1".into(),
        tenant: Some("acme".into()),
        url: "https://hooks.example.com/wx".into(),
        events: vec!["*".into()],
        reply: false,
        secret: Secret::new("PLAIN-webhook-secret"),
        previous_secret: None,
        previous_until: 0,
        created_at: NOW,
        failing_since: None,
        disabled: false,
    };
    store.create_webhook(&webhook).await.unwrap();
    let rotated = store
        .rotate_webhook_secret("wh_1", &Secret::new("PLAIN-webhook-rotated"), NOW + 86_400)
        .await
        .unwrap()
        .expect("the webhook exists");
    assert_eq!(rotated.secret.expose(), "PLAIN-webhook-rotated");
    assert_eq!(
        rotated.previous_secret.map(|p| p.expose().to_owned()),
        Some("PLAIN-webhook-secret".to_owned())
    );
    let listed = store.list_webhooks().await.unwrap();
    assert_eq!(listed[0].secret.expose(), "PLAIN-webhook-rotated");

    let raw = dump().await;
    assert!(
        !raw.contains("PLAIN-"),
        "a credential is stored in plaintext"
    );
    assert!(raw.contains(&format!("enc:v1:{}:", key_id(&keys))));

    let a1 = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(
        a1.token.access_token.unwrap().expose(),
        "PLAIN-access-renewed"
    );
    assert_eq!(a1.refresh_token.unwrap().expose(), "PLAIN-refresh-renewed");
    let a2 = store.get_authorizer("wxa2").await.unwrap().unwrap();
    assert_eq!(
        a2.token.access_token.unwrap().expose(),
        "PLAIN-access-regrant"
    );
    assert_eq!(a2.refresh_token.unwrap().expose(), "PLAIN-refresh-repaired");
    // The listings open them too (the sweep renews from these).
    let listed = store.list_authorizers(None, None, 10).await.unwrap().items;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|a| a
        .refresh_token
        .as_ref()
        .unwrap()
        .expose()
        .starts_with("PLAIN-")));
    let due = store
        .due_authorizers(NOW + 10_000, None, 10)
        .await
        .unwrap()
        .items;
    assert!(due.iter().all(|a| a
        .token
        .access_token
        .as_ref()
        .unwrap()
        .expose()
        .starts_with("PLAIN-")));
    assert_eq!(
        store
            .get_component_token()
            .await
            .unwrap()
            .access_token
            .unwrap()
            .expose(),
        "PLAIN-component-token"
    );
}

/// Records written before encryption read as they are, and their next write
/// seals them.
pub async fn legacy_plaintext_reads_and_is_sealed_on_the_next_write(open: Open, dump: Dump) {
    let before = open(None).await;
    before
        .put_grant(&grant("wxa1", "LEGACY-access", "LEGACY-refresh", "c1"))
        .await
        .unwrap();
    renew_component(&before, "LEGACY-component").await;
    assert!(
        dump().await.contains("LEGACY-access"),
        "the legacy row is plaintext"
    );

    let keys = DataKeys::new(K1, None);
    let after = open(Some(keys.clone())).await;
    let a = after.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.token.access_token.unwrap().expose(), "LEGACY-access");
    assert_eq!(a.refresh_token.unwrap().expose(), "LEGACY-refresh");
    assert_eq!(
        after
            .get_component_token()
            .await
            .unwrap()
            .access_token
            .unwrap()
            .expose(),
        "LEGACY-component"
    );

    renew_authorizer(&after, "wxa1", "NEW-access", "NEW-refresh").await;
    renew_component(&after, "NEW-component").await;
    let raw = dump().await;
    assert!(
        !raw.contains("LEGACY-"),
        "the next write leaves no plaintext"
    );
    assert!(!raw.contains("NEW-"));
    assert!(raw.contains(&format!("enc:v1:{}:", key_id(&keys))));
    let a = after.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.token.access_token.unwrap().expose(), "NEW-access");

    // A store without keys refuses to read a sealed value, naming the record.
    match before.get_authorizer("wxa1").await {
        Err(StoreError::Corrupt { record, .. }) => assert_eq!(record, "authorizer"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// Rotation: the previous key opens, the next write seals under the current
/// key, and a key nobody holds any more is `Corrupt` naming the record.
pub async fn rotation_opens_with_the_previous_key_and_reseals(open: Open, dump: Dump) {
    let old = DataKeys::new(K1, None);
    let store = open(Some(old.clone())).await;
    store
        .put_grant(&grant("wxa1", "ROT-access-1", "ROT-refresh-1", "c1"))
        .await
        .unwrap();
    store
        .put_grant(&grant("wxa2", "ROT-access-2", "ROT-refresh-2", "c1"))
        .await
        .unwrap();
    renew_component(&store, "ROT-component-1").await;

    let rotated = DataKeys::new(K2, Some(K1));
    let store = open(Some(rotated.clone())).await;
    let a1 = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a1.token.access_token.unwrap().expose(), "ROT-access-1");
    renew_authorizer(&store, "wxa1", "ROT-access-1b", "ROT-refresh-1b").await;
    renew_component(&store, "ROT-component-2").await;
    let raw = dump().await;
    assert!(raw.contains(&format!("enc:v1:{}:", key_id(&rotated))));
    assert!(!raw.contains("ROT-"));

    // The previous key retired: what was re-sealed reads, what was not is
    // Corrupt, naming the record and never the value.
    let only_new = open(Some(DataKeys::new(K2, None))).await;
    let a1 = only_new.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a1.token.access_token.unwrap().expose(), "ROT-access-1b");
    assert_eq!(
        only_new
            .get_component_token()
            .await
            .unwrap()
            .access_token
            .unwrap()
            .expose(),
        "ROT-component-2"
    );
    match only_new.get_authorizer("wxa2").await {
        Err(e @ StoreError::Corrupt { .. }) => {
            let text = e.to_string();
            assert!(text.contains("wxa2"), "names the record: {text}");
            assert!(text.contains(&key_id(&old)), "names the key id: {text}");
            assert!(!text.contains("ROT-"));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
