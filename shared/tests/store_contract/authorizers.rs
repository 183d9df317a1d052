//! Authorizers: the grant policy, token leases and the lifecycle (`AuthorizerStore`).

use super::*;

pub async fn grant_creates_active_authorizer(store: Store) {
    assert_eq!(
        store
            .put_grant(&grant("wxa1", Some("tenant-a"), "c1", "1"))
            .await
            .unwrap(),
        GrantOutcome::Created
    );
    let a = store
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .expect("authorizer");
    assert_eq!(a.appid, "wxa1");
    assert_eq!(a.tenant.as_deref(), Some("tenant-a"));
    assert_eq!(a.status, AuthorizerStatus::Active);
    assert_eq!(
        a.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-1")
    );
    assert_eq!(a.token.usable(NOW, 0).map(Secret::expose), Some("access-1"));
    assert_eq!(a.token.expires_at, NOW + 7200);
    assert!(!a.token.lease_held(NOW));
    assert_eq!(a.func_info, vec![1, 15]);
    assert_eq!(a.last_auth_code_hash.as_deref(), Some("hash-c1"));
    assert_eq!((a.authorized_at, a.updated_at), (NOW, NOW));
    assert_eq!(store.get_authorizer("wxunknown").await.unwrap(), None);
}

pub async fn grant_starts_the_token_version_at_one_and_each_new_code_moves_it_on(store: Store) {
    let version = |store: Store| async move {
        store
            .get_authorizer("wxa1")
            .await
            .unwrap()
            .expect("authorizer")
            .token
            .version
    };
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    assert_eq!(version(store.clone()).await, GRANTED_TOKEN_VERSION);
    assert_eq!(GRANTED_TOKEN_VERSION, 1);
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    assert_eq!(
        version(store.clone()).await,
        1,
        "the same code writes no token"
    );
    store
        .put_grant(&grant("wxa1", None, "c2", "2"))
        .await
        .unwrap();
    assert_eq!(version(store.clone()).await, 2);
}

pub async fn grant_with_same_code_is_already_done_and_binds_unbound_tenant(store: Store) {
    // given the push stored the exchange without a tenant
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    // when the browser callback brings the same code with the link's tenant
    let out = store
        .put_grant(&grant("wxa1", Some("tenant-a"), "c1", "1"))
        .await
        .unwrap();
    // then it is already done, and the tenant is now bound
    assert_eq!(out, GrantOutcome::AlreadyDone);
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.tenant.as_deref(), Some("tenant-a"));
    assert_eq!(a.status, AuthorizerStatus::Active);
    // and a repeat without a tenant leaves the binding alone
    assert_eq!(
        store
            .put_grant(&grant("wxa1", None, "c1", "1"))
            .await
            .unwrap(),
        GrantOutcome::AlreadyDone
    );
    assert_eq!(
        store
            .get_authorizer("wxa1")
            .await
            .unwrap()
            .unwrap()
            .tenant
            .as_deref(),
        Some("tenant-a")
    );
}

pub async fn grant_with_new_code_replaces_tokens_and_reactivates(store: Store) {
    store
        .put_grant(&grant("wxa1", Some("tenant-a"), "c1", "1"))
        .await
        .unwrap();
    store.revoke_authorizer("wxa1", NOW + 5).await.unwrap();
    let mut again = grant("wxa1", None, "c2", "2");
    again.now = NOW + 10;
    again.func_info = vec![1, 2, 3];
    assert_eq!(
        store.put_grant(&again).await.unwrap(),
        GrantOutcome::Updated
    );
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizerStatus::Active);
    assert_eq!(
        a.tenant.as_deref(),
        Some("tenant-a"),
        "an unspecified tenant keeps the binding"
    );
    assert_eq!(
        a.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-2")
    );
    assert_eq!(a.token.usable(NOW, 0).map(Secret::expose), Some("access-2"));
    assert_eq!(a.func_info, vec![1, 2, 3]);
    assert_eq!(a.last_auth_code_hash.as_deref(), Some("hash-c2"));
    assert_eq!(a.authorized_at, NOW + 10);
}

pub async fn grant_for_another_tenant_conflicts_and_changes_nothing(store: Store) {
    store
        .put_grant(&grant("wxa1", Some("tenant-a"), "c1", "1"))
        .await
        .unwrap();
    let before = store.get_authorizer("wxa1").await.unwrap().unwrap();
    for code in ["c1", "c2"] {
        let out = store
            .put_grant(&grant("wxa1", Some("tenant-b"), code, "2"))
            .await
            .unwrap();
        assert_eq!(
            out,
            GrantOutcome::TenantConflict {
                existing_tenant: "tenant-a".into()
            },
            "code {code}"
        );
    }
    assert_eq!(store.get_authorizer("wxa1").await.unwrap().unwrap(), before);
}

pub async fn bind_tenant_only_when_unbound_or_same(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    assert!(store
        .bind_tenant("wxa1", "tenant-a", NOW + 1)
        .await
        .unwrap());
    assert!(
        store
            .bind_tenant("wxa1", "tenant-a", NOW + 2)
            .await
            .unwrap(),
        "same tenant again is fine"
    );
    assert!(!store
        .bind_tenant("wxa1", "tenant-b", NOW + 3)
        .await
        .unwrap());
    assert_eq!(
        store
            .get_authorizer("wxa1")
            .await
            .unwrap()
            .unwrap()
            .tenant
            .as_deref(),
        Some("tenant-a")
    );
    assert!(!store
        .bind_tenant("wxunknown", "tenant-a", NOW)
        .await
        .unwrap());
    assert_eq!(store.get_authorizer("wxunknown").await.unwrap(), None);
}

pub async fn set_profile_is_read_back(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    let profile = full_profile();
    store.set_profile("wxa1", &profile, NOW + 1).await.unwrap();
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.profile, profile);
    assert_eq!(a.updated_at, NOW + 1);
}

fn full_profile() -> AuthorizerProfile {
    AuthorizerProfile {
        nick_name: Some("小店".into()),
        head_img: Some("http://wx.qlogo.cn/x".into()),
        user_name: Some("gh_abc123".into()),
        principal_name: Some("某某公司".into()),
        service_type: Some(2),
        verify_type: Some(-1),
        alias: Some("xiaodian".into()),
        qrcode_url: Some("http://mmbiz.qpic.cn/q".into()),
        business_info: Some(BusinessInfo {
            open_store: Some(false),
            open_scan: Some(true),
            open_pay: Some(true),
            open_card: None,
            open_shake: Some(false),
        }),
    }
}

pub async fn set_profile_drops_what_the_new_profile_lacks(store: Store) {
    // Given a full profile stored
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    store
        .set_profile("wxa1", &full_profile(), NOW + 1)
        .await
        .unwrap();

    // When a refresh brings one without an alias, business info or verification
    let newer = AuthorizerProfile {
        nick_name: Some("新名字".into()),
        alias: None,
        verify_type: None,
        business_info: None,
        ..full_profile()
    };
    store.set_profile("wxa1", &newer, NOW + 2).await.unwrap();

    // Then exactly the new profile is read back, and the grant is untouched
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.profile, newer);
    assert_eq!(a.updated_at, NOW + 2);
    assert_eq!(a.status, AuthorizerStatus::Active);
    assert_eq!(a.token.usable(NOW, 0).map(Secret::expose), Some("access-1"));
}

pub async fn authorizer_lease_outcomes(store: Store) {
    assert_eq!(
        store
            .acquire_authorizer_lease("wxunknown", "a", 0, NOW, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::Missing
    );
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    let v = store
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .unwrap()
        .token
        .version;
    assert_eq!(
        store
            .acquire_authorizer_lease("wxa1", "a", v, NOW, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    assert_eq!(
        store
            .acquire_authorizer_lease("wxa1", "b", v, NOW + 1, NOW + 31)
            .await
            .unwrap(),
        LeaseOutcome::Held
    );
    store
        .complete_authorizer_renewal("wxa1", "a", &renewed("x", None), NOW + 2)
        .await
        .unwrap();
    assert_eq!(
        store
            .acquire_authorizer_lease("wxa1", "b", v, NOW + 3, NOW + 33)
            .await
            .unwrap(),
        LeaseOutcome::VersionChanged
    );
}

pub async fn authorizer_renewal_without_refresh_token_keeps_stored_one(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    let v = store
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .unwrap()
        .token
        .version;
    store
        .acquire_authorizer_lease("wxa1", "a", v, NOW, NOW + 30)
        .await
        .unwrap();
    let out = store
        .complete_authorizer_renewal("wxa1", "a", &renewed("access-new", None), NOW + 1)
        .await
        .unwrap();
    assert_eq!(out, RenewalOutcome::Stored { version: v + 1 });
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(
        a.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-1")
    );
    assert_eq!(
        a.token.usable(NOW, 0).map(Secret::expose),
        Some("access-new")
    );
    assert_eq!((a.token.expires_at, a.token.version), (NOW + 9000, v + 1));
    assert!(!a.token.lease_held(NOW + 1));
}

pub async fn authorizer_renewal_with_refresh_token_replaces_it(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    let v = store
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .unwrap()
        .token
        .version;
    store
        .acquire_authorizer_lease("wxa1", "a", v, NOW, NOW + 30)
        .await
        .unwrap();
    store
        .complete_authorizer_renewal(
            "wxa1",
            "a",
            &renewed("access-new", Some("refresh-new")),
            NOW + 1,
        )
        .await
        .unwrap();
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(
        a.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-new")
    );
    assert_eq!(
        a.token.access_token.as_ref().map(Secret::expose),
        Some("access-new")
    );
}

pub async fn authorizer_lease_taken_over_after_expiry_makes_first_holder_lose(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    let v = store
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .unwrap()
        .token
        .version;
    store
        .acquire_authorizer_lease("wxa1", "a", v, NOW, NOW + 30)
        .await
        .unwrap();
    assert_eq!(
        store
            .acquire_authorizer_lease("wxa1", "b", v, NOW + 31, NOW + 61)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    let late = store
        .complete_authorizer_renewal(
            "wxa1",
            "a",
            &renewed("late", Some("late-refresh")),
            NOW + 40,
        )
        .await
        .unwrap();
    assert_eq!(late, RenewalOutcome::LostLease);
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(
        a.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-1"),
        "the loser wrote nothing"
    );
    assert_eq!(
        a.token.access_token.as_ref().map(Secret::expose),
        Some("access-1")
    );
}

pub async fn authorizer_release_frees_lease(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    let v = store
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .unwrap()
        .token
        .version;
    store
        .acquire_authorizer_lease("wxa1", "a", v, NOW, NOW + 30)
        .await
        .unwrap();
    store.release_authorizer_lease("wxa1", "b").await.unwrap();
    assert_eq!(
        store
            .acquire_authorizer_lease("wxa1", "b", v, NOW + 1, NOW + 31)
            .await
            .unwrap(),
        LeaseOutcome::Held
    );
    store.release_authorizer_lease("wxa1", "a").await.unwrap();
    assert_eq!(
        store
            .acquire_authorizer_lease("wxa1", "b", v, NOW + 1, NOW + 31)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
}

pub async fn authorizer_invalidate_only_for_current_version(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    let v = store
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .unwrap()
        .token
        .version;
    store
        .acquire_authorizer_lease("wxa1", "a", v, NOW, NOW + 30)
        .await
        .unwrap();
    store
        .complete_authorizer_renewal("wxa1", "a", &renewed("access-2", None), NOW + 1)
        .await
        .unwrap();
    assert!(
        !store.invalidate_authorizer_token("wxa1", v).await.unwrap(),
        "stale version"
    );
    assert!(store
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .unwrap()
        .token
        .usable(NOW, 0)
        .is_some());
    assert!(store
        .invalidate_authorizer_token("wxa1", v + 1)
        .await
        .unwrap());
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.token.usable(NOW, 0), None);
    assert_eq!(a.token.expires_at, 0);
    assert_eq!(
        a.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-1"),
        "invalidation keeps the refresh token"
    );
    assert!(!store
        .invalidate_authorizer_token("wxunknown", 0)
        .await
        .unwrap());
}

pub async fn revoke_erases_tokens_and_sets_status(store: Store) {
    store
        .put_grant(&grant("wxa1", Some("tenant-a"), "c1", "1"))
        .await
        .unwrap();
    assert!(store.revoke_authorizer("wxa1", NOW + 1).await.unwrap());
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizerStatus::Revoked);
    assert_eq!(a.refresh_token, None);
    assert_eq!(a.token.access_token, None);
    assert_eq!(a.token.usable(NOW, 0), None);
    assert_eq!(a.tenant.as_deref(), Some("tenant-a"));
    assert!(!store.revoke_authorizer("wxunknown", NOW).await.unwrap());
    assert_eq!(store.get_authorizer("wxunknown").await.unwrap(), None);
}

pub async fn revoke_moves_the_version_on_so_a_renewal_in_flight_writes_nothing(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    let v = store
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .unwrap()
        .token
        .version;
    // given a renewal under way
    assert_eq!(
        store
            .acquire_authorizer_lease("wxa1", "renewer", v, NOW, NOW + 30)
            .await
            .unwrap(),
        LeaseOutcome::Acquired
    );
    // when the merchant revokes meanwhile
    assert!(store.revoke_authorizer("wxa1", NOW + 1).await.unwrap());
    // then the renewal's write is refused and the record stays revoked and empty
    assert_eq!(
        store
            .complete_authorizer_renewal(
                "wxa1",
                "renewer",
                &renewed("late", Some("late-r")),
                NOW + 2
            )
            .await
            .unwrap(),
        RenewalOutcome::LostLease
    );
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizerStatus::Revoked);
    assert_eq!((a.refresh_token, a.token.access_token), (None, None));
    assert!(a.token.version > v, "the version moved on");
    assert_eq!(
        store
            .acquire_authorizer_lease("wxa1", "other", v, NOW + 3, NOW + 33)
            .await
            .unwrap(),
        LeaseOutcome::VersionChanged
    );
}

pub async fn needs_reauth_keeps_tokens(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    assert!(store.mark_needs_reauth("wxa1", NOW + 1).await.unwrap());
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizerStatus::NeedsReauth);
    assert_eq!(
        a.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-1")
    );
    assert_eq!(
        a.token.access_token.as_ref().map(Secret::expose),
        Some("access-1")
    );
    assert!(!store.mark_needs_reauth("wxunknown", NOW).await.unwrap());
}

pub async fn repair_refresh_token_changes_only_when_different_and_reactivates(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    store.mark_needs_reauth("wxa1", NOW + 1).await.unwrap();
    // the same token: nothing changes, still needs re-authorization
    assert!(!store
        .repair_refresh_token("wxa1", &"refresh-1".into(), NOW + 2)
        .await
        .unwrap());
    assert_eq!(
        store.get_authorizer("wxa1").await.unwrap().unwrap().status,
        AuthorizerStatus::NeedsReauth
    );
    // a different token: replaced and active again
    assert!(store
        .repair_refresh_token("wxa1", &"refresh-repaired".into(), NOW + 3)
        .await
        .unwrap());
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(
        a.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-repaired")
    );
    assert_eq!(a.status, AuthorizerStatus::Active);
    // a missing token (after a revoke) counts as different, and the status stays revoked
    store.revoke_authorizer("wxa1", NOW + 4).await.unwrap();
    assert!(store
        .repair_refresh_token("wxa1", &"refresh-again".into(), NOW + 5)
        .await
        .unwrap());
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(
        a.refresh_token.as_ref().map(Secret::expose),
        Some("refresh-again")
    );
    assert_eq!(a.status, AuthorizerStatus::Revoked);
}

pub async fn repair_refresh_token_never_creates(store: Store) {
    assert!(!store
        .repair_refresh_token("wxunknown", &"r".into(), NOW)
        .await
        .unwrap());
    assert_eq!(store.get_authorizer("wxunknown").await.unwrap(), None);
}

pub async fn racing_authorizer_leases_acquire_once(store: Store) {
    store
        .put_grant(&grant("wxa1", None, "c1", "1"))
        .await
        .unwrap();
    let v = store
        .get_authorizer("wxa1")
        .await
        .unwrap()
        .unwrap()
        .token
        .version;
    let outcomes = race(|i| {
        let store = Arc::clone(&store);
        async move {
            store
                .acquire_authorizer_lease("wxa1", &format!("racer-{i}"), v, NOW, NOW + 30)
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
}
