//! The web OAuth family: links readable until they expire, attempts and
//! results taken once (a result only by its own tenant), nothing overwritten.

use super::{race, Store, NOW};
use std::sync::Arc;
use wxopen::store::{OauthAttempt, OauthLink, OauthResult, StoreError};

fn link(id: &str) -> OauthLink {
    OauthLink {
        id: id.into(),
        tenant: "acme".into(),
        appid: "wxa1".into(),
        scope: "snsapi_userinfo".into(),
        return_url: "https://erp.example.com/back".into(),
        client_state: Some("order-1".into()),
        created_at: NOW,
        expires_at: NOW + 3600,
    }
}

fn attempt(hash: &str) -> OauthAttempt {
    OauthAttempt {
        state_hash: hash.into(),
        link_id: "L1".into(),
        expires_at: NOW + 600,
    }
}

fn result(id: &str) -> OauthResult {
    OauthResult {
        id: id.into(),
        tenant: "acme".into(),
        appid: "wxa1".into(),
        openid: "o1".into(),
        unionid: None,
        scope: "snsapi_userinfo".into(),
        nickname: Some("Li Lei".into()),
        headimgurl: None,
        expires_at: NOW + 600,
    }
}

pub async fn oauth_links_are_read_until_they_expire_and_never_overwritten(store: Store) {
    store.create_oauth_link(&link("L1")).await.unwrap();
    assert_eq!(
        store.get_oauth_link("L1", NOW + 10).await.unwrap(),
        Some(link("L1"))
    );
    assert_eq!(store.get_oauth_link("L1", NOW + 4000).await.unwrap(), None);
    assert_eq!(store.get_oauth_link("L2", NOW).await.unwrap(), None);
    let mut other = link("L1");
    other.tenant = "globex".into();
    assert!(matches!(
        store.create_oauth_link(&other).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store
            .get_oauth_link("L1", NOW)
            .await
            .unwrap()
            .unwrap()
            .tenant,
        "acme"
    );
}

pub async fn oauth_attempts_are_taken_once_and_not_after_expiry(store: Store) {
    store.create_oauth_attempt(&attempt("h1")).await.unwrap();
    store.create_oauth_attempt(&attempt("h2")).await.unwrap();
    assert_eq!(
        store.take_oauth_attempt("unknown", NOW).await.unwrap(),
        None
    );
    assert_eq!(
        store.take_oauth_attempt("h1", NOW).await.unwrap(),
        Some(attempt("h1"))
    );
    assert_eq!(store.take_oauth_attempt("h1", NOW).await.unwrap(), None);
    assert_eq!(
        store.take_oauth_attempt("h2", NOW + 700).await.unwrap(),
        None
    );
    assert!(matches!(
        store.create_oauth_attempt(&attempt("h1")).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.take_oauth_attempt("h1", NOW).await.unwrap(), None);
}

pub async fn oauth_results_are_taken_once_by_their_own_tenant(store: Store) {
    store.create_oauth_result(&result("R1")).await.unwrap();
    assert_eq!(
        store
            .take_oauth_result("R1", Some("globex"), NOW)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.take_oauth_result("R1", Some(""), NOW).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .take_oauth_result("R1", None, NOW + 700)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_oauth_result("R1", Some("acme"), NOW)
            .await
            .unwrap(),
        Some(result("R1"))
    );
    assert_eq!(
        store
            .take_oauth_result("R1", Some("acme"), NOW)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.take_oauth_result("R1", None, NOW).await.unwrap(),
        None
    );
    // A key for every tenant takes any tenant's result.
    store.create_oauth_result(&result("R2")).await.unwrap();
    assert_eq!(
        store.take_oauth_result("R2", None, NOW).await.unwrap(),
        Some(result("R2"))
    );
    assert!(matches!(
        store.create_oauth_result(&result("R1")).await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn racing_takes_of_one_attempt_take_it_once(store: Store) {
    store.create_oauth_attempt(&attempt("h1")).await.unwrap();
    let store = Arc::clone(&store);
    let taken = race(move |_| {
        let store = Arc::clone(&store);
        async move { store.take_oauth_attempt("h1", NOW).await.unwrap() }
    })
    .await;
    assert_eq!(taken.iter().filter(|t| t.is_some()).count(), 1);
}
