//! The jsapi_ticket family: per-authorizer records with the token lease rules,
//! compare-and-invalidate, and deletion on revoke.

use super::{race, Store, NOW};
use std::sync::Arc;
use wxopen::store::{LeaseOutcome, RenewalOutcome};

pub async fn jsapi_ticket_starts_empty_and_is_kept_per_authorizer(store: Store) {
    let empty = store.get_jsapi_ticket("wxa1").await.unwrap();
    assert_eq!((empty.version, empty.expires_at), (0, 0));
    assert!(empty.access_token.is_none() && empty.lease_owner.is_none());

    assert_eq!(
        store
            .acquire_jsapi_lease("wxa1", "a", 0, NOW, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    assert_eq!(
        store
            .complete_jsapi_renewal("wxa1", "a", &"ticket-1".into(), NOW + 7200)
            .await
            .unwrap(),
        RenewalOutcome::Stored { version: 1 }
    );
    let t = store.get_jsapi_ticket("wxa1").await.unwrap();
    assert_eq!(t.usable(NOW, 0).map(|s| s.expose()), Some("ticket-1"));
    assert_eq!(
        (t.version, t.expires_at, t.lease_owner),
        (1, NOW + 7200, None)
    );
    // Another authorizer's record is its own.
    assert_eq!(store.get_jsapi_ticket("wxa2").await.unwrap().version, 0);
    assert_eq!(
        store
            .acquire_jsapi_lease("wxa2", "b", 0, NOW, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
}

pub async fn jsapi_lease_is_held_then_lost_after_expiry(store: Store) {
    store
        .acquire_jsapi_lease("wxa1", "a", 0, NOW, NOW + 30)
        .await
        .unwrap();
    assert_eq!(
        store
            .acquire_jsapi_lease("wxa1", "b", 0, NOW + 10, NOW + 40)
            .await
            .unwrap(),
        LeaseOutcome::Held
    );
    // Past a's lease, b takes it over and a's renewal is refused.
    assert_eq!(
        store
            .acquire_jsapi_lease("wxa1", "b", 0, NOW + 31, NOW + 61)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    assert_eq!(
        store
            .complete_jsapi_renewal("wxa1", "a", &"late".into(), NOW + 7200)
            .await
            .unwrap(),
        RenewalOutcome::LostLease
    );
    assert!(store
        .get_jsapi_ticket("wxa1")
        .await
        .unwrap()
        .access_token
        .is_none());
    // A release by someone else changes nothing; b's own frees the lease.
    store.release_jsapi_lease("wxa1", "a").await.unwrap();
    assert_eq!(
        store
            .get_jsapi_ticket("wxa1")
            .await
            .unwrap()
            .lease_owner
            .as_deref(),
        Some("b")
    );
    store.release_jsapi_lease("wxa1", "b").await.unwrap();
    assert!(!store
        .get_jsapi_ticket("wxa1")
        .await
        .unwrap()
        .lease_held(NOW + 32));
    // A lease on a version that moved on is refused as such.
    assert_eq!(
        store
            .acquire_jsapi_lease("wxa1", "c", 3, NOW + 32, NOW + 62)
            .await
            .unwrap(),
        LeaseOutcome::VersionChanged
    );
}

pub async fn jsapi_invalidate_only_for_current_version(store: Store) {
    store
        .acquire_jsapi_lease("wxa1", "a", 0, NOW, NOW + 30)
        .await
        .unwrap();
    store
        .complete_jsapi_renewal("wxa1", "a", &"ticket-1".into(), NOW + 7200)
        .await
        .unwrap();
    assert!(!store.invalidate_jsapi_ticket("wxa1", 0).await.unwrap());
    assert!(store
        .get_jsapi_ticket("wxa1")
        .await
        .unwrap()
        .usable(NOW, 0)
        .is_some());
    assert!(store.invalidate_jsapi_ticket("wxa1", 1).await.unwrap());
    let t = store.get_jsapi_ticket("wxa1").await.unwrap();
    assert_eq!(t.usable(NOW, 0), None);
    assert_eq!((t.expires_at, t.version), (0, 1));
    // The next renewal takes the lease on version 1 and stores version 2.
    store
        .acquire_jsapi_lease("wxa1", "b", 1, NOW, NOW + 30)
        .await
        .unwrap();
    assert_eq!(
        store
            .complete_jsapi_renewal("wxa1", "b", &"ticket-2".into(), NOW + 7200)
            .await
            .unwrap(),
        RenewalOutcome::Stored { version: 2 }
    );
}

pub async fn jsapi_delete_drops_the_ticket_and_a_held_renewal(store: Store) {
    store
        .acquire_jsapi_lease("wxa1", "a", 0, NOW, NOW + 30)
        .await
        .unwrap();
    store
        .complete_jsapi_renewal("wxa1", "a", &"ticket-1".into(), NOW + 7200)
        .await
        .unwrap();
    store
        .acquire_jsapi_lease("wxa1", "b", 1, NOW, NOW + 30)
        .await
        .unwrap();
    store.delete_jsapi_ticket("wxa1").await.unwrap();
    let t = store.get_jsapi_ticket("wxa1").await.unwrap();
    assert!(t.access_token.is_none());
    assert_eq!(t.version, 0);
    // The renewal under the lease taken before the delete stores nothing.
    assert_eq!(
        store
            .complete_jsapi_renewal("wxa1", "b", &"ticket-2".into(), NOW + 7200)
            .await
            .unwrap(),
        RenewalOutcome::LostLease
    );
    assert!(store
        .get_jsapi_ticket("wxa1")
        .await
        .unwrap()
        .access_token
        .is_none());
    // A lease read before the delete sees the record moved on.
    assert_eq!(
        store
            .acquire_jsapi_lease("wxa1", "c", 1, NOW, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::VersionChanged
    );
    // Deleting what is not there is fine.
    store.delete_jsapi_ticket("wxa9").await.unwrap();
}

pub async fn racing_jsapi_leases_acquire_once(store: Store) {
    let outcomes = race(|i| {
        let store = Arc::clone(&store);
        async move {
            store
                .acquire_jsapi_lease("wxa1", &format!("racer-{i}"), 0, NOW, NOW + 30)
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == LeaseOutcome::Acquired)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, LeaseOutcome::Acquired | LeaseOutcome::Held)),
        "{outcomes:?}"
    );
}
