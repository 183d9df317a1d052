//! Stores of two component appids over one database.

use super::*;

/// `a` and `b` share one database but were opened for different component
/// appids: nothing written through one is visible through the other.
pub async fn namespaces_do_not_see_each_other(a: Store, b: Store) {
    assert_ne!(a.component_appid(), b.component_appid());
    a.put_ticket_if_newer(&"ticket-a".into(), 100, NOW)
        .await
        .unwrap();
    a.acquire_component_lease("a", 0, NOW, NOW + 30)
        .await
        .unwrap();
    a.complete_component_renewal("a", &"ctoken-a".into(), NOW + 7200)
        .await
        .unwrap();
    a.put_grant(&grant("wxshared", Some("tenant-a"), "c1", "a"))
        .await
        .unwrap();
    a.create_link(&link("L1", NOW + 600)).await.unwrap();
    a.put_api_key(&api_key("aaaa1111", NOW, TenantScope::All))
        .await
        .unwrap();
    stored_job(&a, "J1", 1).await;
    a.insert_idempotency(&idem("k1", "req-a", NOW + 600), NOW)
        .await
        .unwrap();
    a.put_finish_event(&event("wxshared", 1, "sendsuccess", NOW + 600))
        .await
        .unwrap();
    a.mark_push_seen("push-1", NOW, NOW + 600).await.unwrap();

    assert_eq!(b.get_ticket(NOW).await.unwrap(), None);
    assert_eq!(b.get_component_token().await.unwrap().access_token, None);
    assert_eq!(b.get_authorizer("wxshared").await.unwrap(), None);
    assert!(b
        .list_authorizers(None, None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(b
        .due_authorizers(u64::MAX / 2, None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(b.get_link("L1", NOW).await.unwrap(), None);
    assert!(b.list_api_keys().await.unwrap().is_empty());
    assert_eq!(b.get_job("J1", NOW).await.unwrap(), None);
    assert!(b.claimable_chunks(NOW, 10).await.unwrap().is_empty());
    assert!(b
        .get_finish_events("wxshared", &[1], NOW)
        .await
        .unwrap()
        .is_empty());
    assert!(b.mark_push_seen("push-1", NOW, NOW + 600).await.unwrap());
    // the same keys can be created independently on the other side
    assert_eq!(
        b.put_grant(&grant("wxshared", Some("tenant-b"), "c1", "b"))
            .await
            .unwrap(),
        GrantOutcome::Created
    );
    b.create_link(&link("L1", NOW + 600)).await.unwrap();
    assert_eq!(
        b.insert_idempotency(&idem("k1", "req-b", NOW + 600), NOW)
            .await
            .unwrap(),
        IdempotencyOutcome::Inserted
    );
    assert_eq!(
        a.get_authorizer("wxshared")
            .await
            .unwrap()
            .unwrap()
            .tenant
            .as_deref(),
        Some("tenant-a")
    );
}
