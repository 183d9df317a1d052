//! Authorizer listings: the due index and tenant pages (`AuthorizerStore`).

use super::*;

async fn all_due(store: &Store, due_before: u64, limit: u32) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .due_authorizers(due_before, cursor.as_deref(), limit)
            .await
            .unwrap();
        assert!(
            page.items.len() <= limit as usize,
            "page larger than the limit"
        );
        pages.push(page.items.into_iter().map(|a| a.appid).collect());
        match page.next {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
        assert!(pages.len() <= 100, "pagination does not end");
    }
}

pub async fn due_authorizers_only_active_with_refresh_token_due_before_bound(store: Store) {
    authorizer_expiring(&store, "wxdue", None, NOW + 600).await;
    authorizer_expiring(&store, "wxinvalidated", None, NOW + 5000).await;
    authorizer_expiring(&store, "wxlater", None, NOW + 5000).await;
    authorizer_expiring(&store, "wxrevoked", None, NOW + 600).await;
    authorizer_expiring(&store, "wxreauth", None, NOW + 600).await;
    let v = store
        .get_authorizer("wxinvalidated")
        .await
        .unwrap()
        .unwrap()
        .token
        .version;
    assert!(store
        .invalidate_authorizer_token("wxinvalidated", v)
        .await
        .unwrap());
    store.revoke_authorizer("wxrevoked", NOW).await.unwrap();
    store.mark_needs_reauth("wxreauth", NOW).await.unwrap();

    let due: Vec<String> = all_due(&store, NOW + 1200, 10).await.concat();
    let due: HashSet<String> = due.into_iter().collect();
    assert_eq!(
        due,
        HashSet::from(["wxdue".to_owned(), "wxinvalidated".to_owned()])
    );
}

pub async fn due_authorizers_paginate_without_duplicates_or_gaps(store: Store) {
    // 25 due (several sharing an expiry second), 5 not due
    for i in 0..30u64 {
        let expires_at = if i < 25 {
            NOW + 100 + (i / 3) * 10
        } else {
            NOW + 10_000
        };
        authorizer_expiring(&store, &format!("wxpage{i:02}"), None, expires_at).await;
    }
    let pages = all_due(&store, NOW + 1200, 10).await;
    let non_empty = pages.iter().filter(|p| !p.is_empty()).count();
    assert!(
        non_empty >= 3,
        "25 items at 10 a page need 3 pages, got {non_empty}"
    );
    let all: Vec<String> = pages.concat();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "duplicates across pages");
    let expected: HashSet<String> = (0..25).map(|i| format!("wxpage{i:02}")).collect();
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), expected);
}

/// An authorizer joins its tenant's listing however the tenant was bound: at
/// creation, by `bind_tenant`, by a repeated grant (same code) or by a grant with
/// a new code. Unbound and other tenants' authorizers stay out; a revoked one
/// stays listed with its status. Listed in appid order.
pub async fn tenant_listing_follows_every_way_a_tenant_is_bound(store: Store) {
    let listed = |tenant: &'static str| {
        let store = Arc::clone(&store);
        async move {
            let page = store
                .list_authorizers(Some(tenant), None, 50)
                .await
                .unwrap();
            assert_eq!(page.next, None);
            page.items
                .into_iter()
                .map(|a| (a.appid, a.status))
                .collect::<Vec<_>>()
        }
    };
    authorizer_expiring(&store, "wxd_at_creation", Some("tenant-a"), NOW + 7200).await;
    for appid in ["wxc_bind", "wxb_same_code", "wxa_new_code", "wxe_unbound"] {
        authorizer_expiring(&store, appid, None, NOW + 7200).await;
    }
    authorizer_expiring(&store, "wxf_other", Some("tenant-b"), NOW + 7200).await;
    assert_eq!(
        listed("tenant-a").await,
        [("wxd_at_creation".to_owned(), AuthorizerStatus::Active)]
    );

    assert!(store
        .bind_tenant("wxc_bind", "tenant-a", NOW + 1)
        .await
        .unwrap());
    let same_code = grant("wxb_same_code", Some("tenant-a"), "wxb_same_code", "x");
    assert_eq!(
        store.put_grant(&same_code).await.unwrap(),
        GrantOutcome::AlreadyDone
    );
    let new_code = grant("wxa_new_code", Some("tenant-a"), "second-code", "y");
    assert_eq!(
        store.put_grant(&new_code).await.unwrap(),
        GrantOutcome::Updated
    );
    assert!(store
        .revoke_authorizer("wxd_at_creation", NOW + 2)
        .await
        .unwrap());

    assert_eq!(
        listed("tenant-a").await,
        [
            ("wxa_new_code".to_owned(), AuthorizerStatus::Active),
            ("wxb_same_code".to_owned(), AuthorizerStatus::Active),
            ("wxc_bind".to_owned(), AuthorizerStatus::Active),
            ("wxd_at_creation".to_owned(), AuthorizerStatus::Revoked),
        ]
    );
    assert_eq!(
        listed("tenant-b").await,
        [("wxf_other".to_owned(), AuthorizerStatus::Active)]
    );
    assert_eq!(listed("tenant-none").await, []);
}

pub async fn list_authorizers_by_tenant_paginates(store: Store) {
    for i in 0..12 {
        authorizer_expiring(&store, &format!("wxa{i:02}"), Some("tenant-a"), NOW + 7200).await;
    }
    for i in 0..5 {
        authorizer_expiring(&store, &format!("wxb{i:02}"), Some("tenant-b"), NOW + 7200).await;
    }
    for i in 0..3 {
        authorizer_expiring(&store, &format!("wxu{i:02}"), None, NOW + 7200).await;
    }
    let list = |tenant: Option<&'static str>| {
        let store = Arc::clone(&store);
        async move {
            let mut all = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..100 {
                let page = store
                    .list_authorizers(tenant, cursor.as_deref(), 5)
                    .await
                    .unwrap();
                assert!(page.items.len() <= 5);
                all.extend(page.items.into_iter().map(|a| (a.appid, a.tenant)));
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => return all,
                }
            }
            panic!("pagination does not end");
        }
    };
    let a = list(Some("tenant-a")).await;
    let expected: Vec<(String, Option<String>)> = (0..12)
        .map(|i| (format!("wxa{i:02}"), Some("tenant-a".to_owned())))
        .collect();
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert_eq!(a.len(), 12, "no duplicates");
    let everyone = list(None).await;
    assert_eq!(
        everyone
            .iter()
            .map(|(appid, _)| appid)
            .collect::<HashSet<_>>()
            .len(),
        20
    );
    assert_eq!(everyone.len(), 20);
}

pub async fn due_authorizers_are_read_whole(store: Store) {
    authorizer_expiring(&store, "wxdue", Some("tenant-a"), NOW + 600).await;
    let page = store.due_authorizers(NOW + 1200, None, 10).await.unwrap();
    let stored = store.get_authorizer("wxdue").await.unwrap();
    assert_eq!(
        page.items.into_iter().next(),
        stored,
        "the record itself, tokens and version included"
    );
}
