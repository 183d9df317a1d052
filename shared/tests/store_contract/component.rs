//! The component's ticket and token (`ComponentStore`).

use super::*;

pub async fn fresh_store_is_for_the_component_appid(store: Store) {
    assert_eq!(store.component_appid(), COMPONENT_APPID);
}

pub async fn ticket_absent_reads_none(store: Store) {
    assert_eq!(store.get_ticket(NOW).await.unwrap(), None);
}

pub async fn ticket_newest_create_time_wins(store: Store) {
    // given a ticket with CreateTime 200 stored after one with 100
    assert_eq!(
        store
            .put_ticket_if_newer(&"t-100".into(), 100, NOW)
            .await
            .unwrap(),
        TicketWrite::Stored
    );
    assert_eq!(
        store
            .put_ticket_if_newer(&"t-200".into(), 200, NOW + 1)
            .await
            .unwrap(),
        TicketWrite::Stored
    );
    // when an older and an equally old ticket arrive late
    let older = store
        .put_ticket_if_newer(&"t-150".into(), 150, NOW + 2)
        .await
        .unwrap();
    let equal = store
        .put_ticket_if_newer(&"t-200b".into(), 200, NOW + 3)
        .await
        .unwrap();
    // then both are stale and the newest stays
    assert_eq!((older, equal), (TicketWrite::Stale, TicketWrite::Stale));
    let t = store.get_ticket(NOW + 4).await.unwrap().expect("ticket");
    assert_eq!(t.value.expose(), "t-200");
    assert_eq!(t.create_time, 200);
    assert_eq!(t.stored_at, NOW + 1);
}

pub async fn ticket_reads_none_after_its_validity(store: Store) {
    store
        .put_ticket_if_newer(&"t".into(), 100, NOW)
        .await
        .unwrap();
    assert!(store
        .get_ticket(NOW + TICKET_VALIDITY_SECS - 60)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .get_ticket(NOW + TICKET_VALIDITY_SECS + 60)
            .await
            .unwrap(),
        None
    );
}

pub async fn component_token_starts_empty(store: Store) {
    let t = store.get_component_token().await.unwrap();
    assert_eq!(t.access_token, None);
    assert_eq!(t.version, 0);
    assert!(!t.lease_held(NOW));
}

pub async fn component_lease_is_held_against_others_until_it_expires(store: Store) {
    assert_eq!(
        store
            .acquire_component_lease("a", 0, NOW, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    assert_eq!(
        store
            .acquire_component_lease("b", 0, NOW + 10, NOW + 40)
            .await
            .unwrap(),
        LeaseOutcome::Held
    );
    let t = store.get_component_token().await.unwrap();
    assert_eq!(t.lease_owner.as_deref(), Some("a"));
    assert_eq!(t.lease_until, NOW + 30);
}

pub async fn component_lease_for_a_version_never_stored_is_missing(store: Store) {
    assert_eq!(
        store
            .acquire_component_lease("a", 5, NOW, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::Missing
    );
    assert_eq!(store.get_component_token().await.unwrap().lease_owner, None);
}

pub async fn component_renewal_stores_token_with_next_version_and_frees_lease(store: Store) {
    store
        .acquire_component_lease("a", 0, NOW, NOW + 30)
        .await
        .unwrap();
    let out = store
        .complete_component_renewal("a", &"ctoken-1".into(), NOW + 7200)
        .await
        .unwrap();
    assert_eq!(out, RenewalOutcome::Stored { version: 1 });
    let t = store.get_component_token().await.unwrap();
    assert_eq!(t.usable(NOW, 0).map(Secret::expose), Some("ctoken-1"));
    assert_eq!((t.expires_at, t.version), (NOW + 7200, 1));
    assert!(!t.lease_held(NOW));
    // a caller that read version 0 must re-read; version 1 may lease again
    assert_eq!(
        store
            .acquire_component_lease("b", 0, NOW, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::VersionChanged
    );
    assert_eq!(
        store
            .acquire_component_lease("b", 1, NOW, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    assert_eq!(
        store
            .complete_component_renewal("b", &"ctoken-2".into(), NOW + 9000)
            .await
            .unwrap(),
        RenewalOutcome::Stored { version: 2 }
    );
}

pub async fn component_lease_taken_over_after_expiry_makes_first_holder_lose(store: Store) {
    // given a holder that crashed (its lease ran out at NOW + 30)
    store
        .acquire_component_lease("a", 0, NOW, NOW + 30)
        .await
        .unwrap();
    assert_eq!(
        store
            .acquire_component_lease("b", 0, NOW + 31, NOW + 61)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    // when the first holder comes back late, it lost
    assert_eq!(
        store
            .complete_component_renewal("a", &"late".into(), NOW + 7200)
            .await
            .unwrap(),
        RenewalOutcome::LostLease
    );
    assert_eq!(
        store
            .complete_component_renewal("b", &"fresh".into(), NOW + 7231)
            .await
            .unwrap(),
        RenewalOutcome::Stored { version: 1 }
    );
    let t = store.get_component_token().await.unwrap();
    assert_eq!(t.access_token.as_ref().map(Secret::expose), Some("fresh"));
}

pub async fn component_release_frees_lease_only_for_its_holder(store: Store) {
    store
        .acquire_component_lease("a", 0, NOW, NOW + 30)
        .await
        .unwrap();
    store.release_component_lease("someone-else").await.unwrap();
    assert_eq!(
        store
            .acquire_component_lease("b", 0, NOW + 1, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::Held
    );
    store.release_component_lease("a").await.unwrap();
    assert_eq!(
        store
            .acquire_component_lease("b", 0, NOW + 1, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    assert_eq!(
        store.get_component_token().await.unwrap().version,
        0,
        "a release writes no token"
    );
}

pub async fn component_invalidate_only_for_current_version(store: Store) {
    store
        .acquire_component_lease("a", 0, NOW, NOW + 30)
        .await
        .unwrap();
    store
        .complete_component_renewal("a", &"ctoken-1".into(), NOW + 7200)
        .await
        .unwrap();
    // a stale version (0) does not touch the current token
    assert!(!store.invalidate_component_token(0).await.unwrap());
    assert!(store
        .get_component_token()
        .await
        .unwrap()
        .usable(NOW, 0)
        .is_some());
    // the current version does
    assert!(store.invalidate_component_token(1).await.unwrap());
    let t = store.get_component_token().await.unwrap();
    assert_eq!(t.usable(NOW, 0), None);
    assert_eq!((t.expires_at, t.version), (0, 1));
}

pub async fn racing_component_leases_acquire_once(store: Store) {
    let outcomes = race(|i| {
        let store = Arc::clone(&store);
        async move {
            store
                .acquire_component_lease(&format!("racer-{i}"), 0, NOW, NOW + 30)
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
