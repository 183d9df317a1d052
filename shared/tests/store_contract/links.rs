//! One-time links and pre-auth codes (`LinkStore`).

use super::*;

pub async fn link_is_consumed_once(store: Store) {
    store.create_link(&link("L1", NOW + 600)).await.unwrap();
    assert_eq!(
        store.get_link("L1", NOW).await.unwrap(),
        Some(link("L1", NOW + 600))
    );
    let first = store.consume_link("L1", "wxa1", NOW + 1).await.unwrap();
    let mut used = link("L1", NOW + 600);
    used.used = true;
    used.used_by = Some("wxa1".into());
    assert_eq!(first, ConsumeOutcome::Consumed(used.clone()));
    assert_eq!(
        store.consume_link("L1", "wxa2", NOW + 2).await.unwrap(),
        ConsumeOutcome::AlreadyUsed(used.clone())
    );
    assert_eq!(store.get_link("L1", NOW + 3).await.unwrap(), Some(used));
}

pub async fn link_expired_or_unknown(store: Store) {
    store.create_link(&link("L1", NOW + 600)).await.unwrap();
    assert_eq!(
        store.consume_link("L1", "wxa1", NOW + 700).await.unwrap(),
        ConsumeOutcome::Expired
    );
    assert_eq!(store.get_link("L1", NOW + 700).await.unwrap(), None);
    assert_eq!(
        store.consume_link("nope", "wxa1", NOW).await.unwrap(),
        ConsumeOutcome::NotFound
    );
    assert_eq!(store.get_link("nope", NOW).await.unwrap(), None);
}

pub async fn a_link_id_is_never_reused(store: Store) {
    store.create_link(&link("L1", NOW + 600)).await.unwrap();
    let mut other = link("L1", NOW + 900);
    other.tenant = "tenant-b".into();
    let err = store.create_link(&other).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(
        store.get_link("L1", NOW).await.unwrap(),
        Some(link("L1", NOW + 600))
    );
}

pub async fn preauth_expires(store: Store) {
    let p = PreAuth {
        code_hash: "pac-hash".into(),
        link_id: "L1".into(),
        tenant: "tenant-a".into(),
        expires_at: NOW + 1200,
    };
    store.put_preauth(&p).await.unwrap();
    assert_eq!(
        store.get_preauth("pac-hash", NOW + 10).await.unwrap(),
        Some(p)
    );
    assert_eq!(
        store.get_preauth("pac-hash", NOW + 1300).await.unwrap(),
        None
    );
    assert_eq!(store.get_preauth("other", NOW).await.unwrap(), None);
}
