//! The `StateStore` contract, written once and run against every backend.
//!
//! Each function takes a fresh, empty store opened for component appid
//! `wxcomponent0001` and checks one behaviour. A backend's test file is:
//! ```ignore
//! mod store_contract;
//! async fn fresh() -> std::sync::Arc<dyn wxopen::store::StateStore> { … }
//! store_contract::contract_tests!(fresh);
//! ```
//! Time is passed in (`now`), so expiry is tested by passing a later `now`,
//! never by sleeping. Records are tested well inside or well past their
//! `expires_at`, never at the boundary second.

pub mod events;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use wxopen::domain::{RecipientStatus, StopReason};
use wxopen::secret::Secret;
use wxopen::store::{
    ApiKey, AuthorizationGrant, AuthorizerProfile, AuthorizerStatus, CheckpointOutcome, Chunk,
    ChunkRef, ChunkState, ClaimOutcome, ConsumeOutcome, FinishEvent, GrantOutcome,
    IdempotencyOutcome, IdempotencyRecord, Job, JobState, LeaseOutcome, Link, PreAuth,
    RecipientResult, RenewalOutcome, RenewedTokens, StateStore, StoreError, TenantScope,
    TicketWrite, TICKET_VALIDITY_SECS,
};

pub type Store = Arc<dyn StateStore>;

/// The component appid every fresh store is opened for.
pub const COMPONENT_APPID: &str = "wxcomponent0001";
pub const NOW: u64 = 1_700_000_000;
const RACERS: usize = 50;

/// Expands to one multi-threaded `#[tokio::test]` per contract function, each
/// on a store from `$fresh().await`. Call it as `store_contract::contract_tests!(fresh);`.
macro_rules! contract_tests {
    ($fresh:path) => {
        store_contract::contract_tests!(@each $fresh;
            fresh_store_is_for_the_component_appid,
            ticket_absent_reads_none,
            ticket_newest_create_time_wins,
            ticket_reads_none_after_its_validity,
            component_token_starts_empty,
            component_lease_is_held_against_others_until_it_expires,
            component_renewal_stores_token_with_next_version_and_frees_lease,
            component_lease_taken_over_after_expiry_makes_first_holder_lose,
            component_release_frees_lease_only_for_its_holder,
            component_invalidate_only_for_current_version,
            grant_creates_active_authorizer,
            grant_with_same_code_is_already_done_and_binds_unbound_tenant,
            grant_with_new_code_replaces_tokens_and_reactivates,
            grant_for_another_tenant_conflicts_and_changes_nothing,
            bind_tenant_only_when_unbound_or_same,
            set_profile_is_read_back,
            authorizer_lease_outcomes,
            authorizer_renewal_without_refresh_token_keeps_stored_one,
            authorizer_renewal_with_refresh_token_replaces_it,
            authorizer_lease_taken_over_after_expiry_makes_first_holder_lose,
            authorizer_release_frees_lease,
            authorizer_invalidate_only_for_current_version,
            revoke_erases_tokens_and_sets_status,
            needs_reauth_keeps_tokens,
            repair_refresh_token_changes_only_when_different_and_reactivates,
            repair_refresh_token_never_creates,
            due_authorizers_only_active_with_refresh_token_due_before_bound,
            due_authorizers_paginate_without_duplicates_or_gaps,
            list_authorizers_by_tenant_paginates,
            tenant_listing_follows_every_way_a_tenant_is_bound,
            link_is_consumed_once,
            link_expired_or_unknown,
            preauth_expires,
            api_keys_put_get_list_revoke,
            job_created_with_chunks_and_state_updated,
            job_reads_none_after_expiry,
            job_with_too_many_chunks_is_refused_whole,
            claim_outcomes,
            checkpoint_saves_results_and_extends_lease,
            checkpoint_and_finish_refused_for_non_owner,
            finish_stopped_keeps_results_and_frees_lease,
            release_chunk_lets_another_claim,
            claimable_chunks_skip_leased_and_finished_and_include_expired_leases,
            crashed_holder_chunk_is_resumed_from_checkpoint,
            chunks_past_expiry_are_not_claimable,
            idempotency_inserted_then_existing_with_request_hash,
            idempotency_complete_stores_response,
            idempotency_delete_allows_reinsert,
            idempotency_expired_record_is_replaced,
            finish_events_by_appid_and_msg_id,
            finish_events_expire,
            push_seen_once_until_expiry,
            racing_component_leases_acquire_once,
            racing_authorizer_leases_acquire_once,
            racing_idempotency_inserts_insert_once,
            racing_chunk_claims_claim_once,
        );
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                store_contract::$name($fresh().await).await;
            }
        )*
    };
}
pub(crate) use contract_tests;

// ---------------------------------------------------------------- builders

fn grant(appid: &str, tenant: Option<&str>, code: &str, suffix: &str) -> AuthorizationGrant {
    AuthorizationGrant {
        appid: appid.into(),
        tenant: tenant.map(Into::into),
        auth_code_hash: format!("hash-{code}"),
        access_token: Secret::new(format!("access-{suffix}")),
        expires_at: NOW + 7200,
        refresh_token: Secret::new(format!("refresh-{suffix}")),
        func_info: vec![1, 15],
        now: NOW,
    }
}

async fn authorizer_expiring(store: &Store, appid: &str, tenant: Option<&str>, expires_at: u64) {
    let mut g = grant(appid, tenant, appid, appid);
    g.expires_at = expires_at;
    assert_eq!(store.put_grant(&g).await.unwrap(), GrantOutcome::Created);
}

fn renewed(access: &str, refresh: Option<&str>) -> RenewedTokens {
    RenewedTokens {
        access_token: Secret::new(access),
        expires_at: NOW + 9000,
        refresh_token: refresh.map(Secret::new),
    }
}

fn link(id: &str, expires_at: u64) -> Link {
    Link {
        id: id.into(),
        tenant: "tenant-a".into(),
        auth_type: 3,
        biz_appid: None,
        return_url: Some("https://erp.example.com/done".into()),
        created_at: NOW,
        expires_at,
        used: false,
        used_by: None,
    }
}

fn job(id: &str, chunk_count: u32) -> Job {
    Job {
        id: id.into(),
        appid: "wxauthorizer01".into(),
        tenant: "tenant-a".into(),
        kind: "template".into(),
        payload: r#"{"template_id":"tpl"}"#.into(),
        total: chunk_count * 2,
        chunk_count,
        state: JobState::Queued,
        stop_reason: None,
        created_at: NOW,
        expires_at: NOW + 86_400,
    }
}

fn chunk(job_id: &str, index: u32) -> Chunk {
    Chunk {
        job_id: job_id.into(),
        index,
        appid: "wxauthorizer01".into(),
        recipients: vec![format!("openid-{index}-a"), format!("openid-{index}-b")],
        results: Vec::new(),
        state: ChunkState::Pending,
        lease_owner: None,
        lease_until: 0,
        attempts: 0,
        expires_at: NOW + 86_400,
    }
}

/// A job `id` with `n` pending chunks, stored.
async fn stored_job(store: &Store, id: &str, n: u32) -> Vec<ChunkRef> {
    let chunks: Vec<Chunk> = (0..n).map(|i| chunk(id, i)).collect();
    store.create_job(&job(id, n), &chunks).await.unwrap();
    (0..n)
        .map(|index| ChunkRef {
            job_id: id.into(),
            index,
        })
        .collect()
}

fn sent(openid: &str, msgid: u64) -> RecipientResult {
    RecipientResult {
        openid: openid.into(),
        status: RecipientStatus::Sent,
        msgid: Some(msgid),
        errcode: None,
    }
}

async fn chunk_now(store: &Store, c: &ChunkRef) -> Chunk {
    let chunks = store.list_chunks(&c.job_id).await.unwrap();
    chunks
        .into_iter()
        .find(|x| x.index == c.index)
        .expect("chunk listed")
}

fn idem(key: &str, request: &str, expires_at: u64) -> IdempotencyRecord {
    IdempotencyRecord {
        key_hash: key.into(),
        request_hash: request.into(),
        response: None,
        expires_at,
    }
}

fn event(appid: &str, msg_id: u64, status: &str, expires_at: u64) -> FinishEvent {
    FinishEvent {
        appid: appid.into(),
        msg_id,
        kind: "mass".into(),
        status: status.into(),
        openid: None,
        counts: BTreeMap::from([("SentCount".to_owned(), 10), ("ErrorCount".to_owned(), 1)]),
        create_time: 1_699_999_000,
        expires_at,
    }
}

fn api_key(hash: &str, created_at: u64, tenants: TenantScope) -> ApiKey {
    ApiKey {
        hash: hash.into(),
        prefix: format!("wxk_{}", &hash[..4]),
        tenants,
        scopes: vec!["send".into(), "token:read".into()],
        label: Some("erp".into()),
        created_at,
        revoked: false,
    }
}

/// Starts `RACERS` tasks at once (behind a barrier) and returns their results.
async fn race<T, F, Fut>(op: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
    let handles: Vec<_> = (0..RACERS)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let fut = op(i);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(RACERS);
    for h in handles {
        out.push(h.await.expect("racer task"));
    }
    out
}

// ---------------------------------------------------------------- ticket

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

// ---------------------------------------------------------------- component token

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

// ---------------------------------------------------------------- authorizers

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
    let profile = AuthorizerProfile {
        nick_name: Some("小店".into()),
        head_img: Some("http://wx.qlogo.cn/x".into()),
        user_name: Some("gh_abc123".into()),
        principal_name: Some("某某公司".into()),
    };
    store.set_profile("wxa1", &profile, NOW + 1).await.unwrap();
    let a = store.get_authorizer("wxa1").await.unwrap().unwrap();
    assert_eq!(a.profile, profile);
    assert_eq!(a.updated_at, NOW + 1);
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
        pages.push(page.items);
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

// ---------------------------------------------------------------- links and pre-auth

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

// ---------------------------------------------------------------- API keys

pub async fn api_keys_put_get_list_revoke(store: Store) {
    let k1 = api_key("aaaa1111", NOW, TenantScope::All);
    let k2 = api_key(
        "bbbb2222",
        NOW + 1,
        TenantScope::Only(vec!["tenant-a".into(), "tenant-b".into()]),
    );
    store.put_api_key(&k1).await.unwrap();
    store.put_api_key(&k2).await.unwrap();
    assert_eq!(
        store.get_api_key("bbbb2222").await.unwrap(),
        Some(k2.clone())
    );
    let mut listed = store.list_api_keys().await.unwrap();
    listed.sort_by(|a, b| a.hash.cmp(&b.hash));
    assert_eq!(listed, vec![k1.clone(), k2.clone()]);
    assert!(store.revoke_api_key("aaaa1111").await.unwrap());
    assert!(
        store
            .get_api_key("aaaa1111")
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(
        !store
            .get_api_key("bbbb2222")
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(!store.revoke_api_key("cccc3333").await.unwrap());
    assert_eq!(store.get_api_key("cccc3333").await.unwrap(), None);
}

// ---------------------------------------------------------------- jobs and chunks

pub async fn job_created_with_chunks_and_state_updated(store: Store) {
    let chunks: Vec<Chunk> = (0..3).map(|i| chunk("J1", i)).collect();
    store.create_job(&job("J1", 3), &chunks).await.unwrap();
    assert_eq!(store.get_job("J1", NOW).await.unwrap(), Some(job("J1", 3)));
    assert_eq!(store.list_chunks("J1").await.unwrap(), chunks);
    let reason = StopReason::InvalidTemplate {
        errcode: Some(40037),
    };
    store
        .set_job_state("J1", JobState::Stopped, Some(&reason))
        .await
        .unwrap();
    let j = store.get_job("J1", NOW).await.unwrap().unwrap();
    assert_eq!((j.state, j.stop_reason), (JobState::Stopped, Some(reason)));
    assert_eq!(store.get_job("J2", NOW).await.unwrap(), None);
    assert!(store.list_chunks("J2").await.unwrap().is_empty());
}

pub async fn job_reads_none_after_expiry(store: Store) {
    stored_job(&store, "J1", 1).await;
    assert_eq!(store.get_job("J1", NOW + 86_400 + 60).await.unwrap(), None);
}

pub async fn job_with_too_many_chunks_is_refused_whole(store: Store) {
    let chunks: Vec<Chunk> = (0..100).map(|i| chunk("J1", i)).collect();
    let err = store
        .create_job(&job("J1", 100), &chunks)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(store.get_job("J1", NOW).await.unwrap(), None);
    assert!(store.list_chunks("J1").await.unwrap().is_empty());
}

pub async fn claim_outcomes(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    let claimed = match store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap() {
        ClaimOutcome::Claimed(chunk) => chunk,
        other => panic!("expected Claimed, got {other:?}"),
    };
    assert_eq!(claimed.lease_owner.as_deref(), Some("w1"));
    assert_eq!((claimed.lease_until, claimed.attempts), (NOW + 60, 1));
    assert_eq!(claimed.recipients, chunk("J1", 0).recipients);
    assert_eq!(
        store.claim_chunk(c, "w2", NOW + 1, NOW + 61).await.unwrap(),
        ClaimOutcome::Held
    );
    let missing = ChunkRef {
        job_id: "J1".into(),
        index: 7,
    };
    assert_eq!(
        store
            .claim_chunk(&missing, "w2", NOW, NOW + 60)
            .await
            .unwrap(),
        ClaimOutcome::NotFound
    );
    assert_eq!(
        store
            .finish_chunk(c, "w1", &[], ChunkState::Done)
            .await
            .unwrap(),
        CheckpointOutcome::Saved
    );
    assert_eq!(
        store.claim_chunk(c, "w2", NOW + 2, NOW + 62).await.unwrap(),
        ClaimOutcome::Finished
    );
}

pub async fn checkpoint_saves_results_and_extends_lease(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    let results = vec![sent("openid-0-a", 1001)];
    assert_eq!(
        store
            .checkpoint_chunk(c, "w1", &results, NOW + 120)
            .await
            .unwrap(),
        CheckpointOutcome::Saved
    );
    let now = chunk_now(&store, c).await;
    assert_eq!(now.results, results);
    assert_eq!(now.lease_until, NOW + 120);
    assert_eq!(now.state, ChunkState::Pending);
    // past the first lease but inside the extended one, the chunk is still held
    assert_eq!(
        store
            .claim_chunk(c, "w2", NOW + 90, NOW + 150)
            .await
            .unwrap(),
        ClaimOutcome::Held
    );
}

pub async fn checkpoint_and_finish_refused_for_non_owner(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    let results = vec![sent("openid-0-a", 1)];
    assert_eq!(
        store
            .checkpoint_chunk(c, "w2", &results, NOW + 120)
            .await
            .unwrap(),
        CheckpointOutcome::LostLease
    );
    assert_eq!(
        store
            .finish_chunk(c, "w2", &results, ChunkState::Done)
            .await
            .unwrap(),
        CheckpointOutcome::LostLease
    );
    let now = chunk_now(&store, c).await;
    assert!(now.results.is_empty());
    assert_eq!(
        (now.state, now.lease_owner.as_deref()),
        (ChunkState::Pending, Some("w1"))
    );
}

pub async fn finish_stopped_keeps_results_and_frees_lease(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    let results = vec![
        sent("openid-0-a", 1),
        RecipientResult {
            openid: "openid-0-b".into(),
            status: RecipientStatus::Unsent,
            msgid: None,
            errcode: Some(45009),
        },
    ];
    assert_eq!(
        store
            .finish_chunk(c, "w1", &results, ChunkState::Stopped)
            .await
            .unwrap(),
        CheckpointOutcome::Saved
    );
    let now = chunk_now(&store, c).await;
    assert_eq!((now.state, now.results), (ChunkState::Stopped, results));
    assert!(
        !(now.lease_owner.is_some() && now.lease_until > NOW),
        "lease freed"
    );
    assert!(store
        .claimable_chunks(NOW + 1000, 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn release_chunk_lets_another_claim(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    store.release_chunk(c, "w2").await.unwrap();
    assert_eq!(
        store.claim_chunk(c, "w2", NOW + 1, NOW + 61).await.unwrap(),
        ClaimOutcome::Held,
        "only the holder releases"
    );
    store.release_chunk(c, "w1").await.unwrap();
    assert_eq!(
        store.claimable_chunks(NOW + 1, 10).await.unwrap(),
        vec![c.clone()]
    );
    assert!(matches!(
        store.claim_chunk(c, "w2", NOW + 1, NOW + 61).await.unwrap(),
        ClaimOutcome::Claimed(_)
    ));
}

pub async fn claimable_chunks_skip_leased_and_finished_and_include_expired_leases(store: Store) {
    let refs = stored_job(&store, "J1", 3).await;
    store
        .claim_chunk(&refs[0], "w1", NOW, NOW + 60)
        .await
        .unwrap();
    store
        .claim_chunk(&refs[1], "w1", NOW, NOW + 60)
        .await
        .unwrap();
    store
        .finish_chunk(&refs[1], "w1", &[], ChunkState::Done)
        .await
        .unwrap();

    let free_now: HashSet<ChunkRef> = store
        .claimable_chunks(NOW + 1, 10)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(free_now, HashSet::from([refs[2].clone()]));
    let after_lease: HashSet<ChunkRef> = store
        .claimable_chunks(NOW + 61, 10)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        after_lease,
        HashSet::from([refs[0].clone(), refs[2].clone()])
    );
    assert_eq!(
        store.claimable_chunks(NOW + 61, 1).await.unwrap().len(),
        1,
        "limit honoured"
    );
}

pub async fn crashed_holder_chunk_is_resumed_from_checkpoint(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = &refs[0];
    // given a worker that checkpointed one result and then crashed
    store.claim_chunk(c, "w1", NOW, NOW + 60).await.unwrap();
    let partial = vec![sent("openid-0-a", 1)];
    store
        .checkpoint_chunk(c, "w1", &partial, NOW + 60)
        .await
        .unwrap();
    // when another worker claims it after the lease ran out
    let taken = match store
        .claim_chunk(c, "w2", NOW + 61, NOW + 121)
        .await
        .unwrap()
    {
        ClaimOutcome::Claimed(chunk) => chunk,
        other => panic!("expected Claimed, got {other:?}"),
    };
    // then it resumes from the checkpoint, and the crashed worker is locked out
    assert_eq!(taken.results, partial);
    assert_eq!(taken.attempts, 2);
    assert_eq!(taken.lease_owner.as_deref(), Some("w2"));
    assert_eq!(
        store
            .checkpoint_chunk(c, "w1", &[], NOW + 200)
            .await
            .unwrap(),
        CheckpointOutcome::LostLease
    );
}

pub async fn chunks_past_expiry_are_not_claimable(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let later = NOW + 86_400 + 60;
    assert!(store.claimable_chunks(later, 10).await.unwrap().is_empty());
    assert_eq!(
        store
            .claim_chunk(&refs[0], "w1", later, later + 60)
            .await
            .unwrap(),
        ClaimOutcome::NotFound
    );
}

// ---------------------------------------------------------------- idempotency

pub async fn idempotency_inserted_then_existing_with_request_hash(store: Store) {
    let exp = NOW + 86_400;
    assert_eq!(
        store
            .insert_idempotency(&idem("k1", "req-a", exp), NOW)
            .await
            .unwrap(),
        IdempotencyOutcome::Inserted
    );
    let again = store
        .insert_idempotency(&idem("k1", "req-b", exp + 5), NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        again,
        IdempotencyOutcome::Existing(idem("k1", "req-a", exp))
    );
}

pub async fn idempotency_complete_stores_response(store: Store) {
    let exp = NOW + 86_400;
    store
        .insert_idempotency(&idem("k1", "req-a", exp), NOW)
        .await
        .unwrap();
    store
        .complete_idempotency("k1", 202, r#"{"job_id":"J1"}"#)
        .await
        .unwrap();
    let again = store
        .insert_idempotency(&idem("k1", "req-a", exp), NOW + 1)
        .await
        .unwrap();
    let mut done = idem("k1", "req-a", exp);
    done.response = Some((202, r#"{"job_id":"J1"}"#.into()));
    assert_eq!(again, IdempotencyOutcome::Existing(done));
}

pub async fn idempotency_delete_allows_reinsert(store: Store) {
    let exp = NOW + 86_400;
    store
        .insert_idempotency(&idem("k1", "req-a", exp), NOW)
        .await
        .unwrap();
    store.delete_idempotency("k1").await.unwrap();
    assert_eq!(
        store
            .insert_idempotency(&idem("k1", "req-a", exp), NOW + 1)
            .await
            .unwrap(),
        IdempotencyOutcome::Inserted
    );
}

pub async fn idempotency_expired_record_is_replaced(store: Store) {
    store
        .insert_idempotency(&idem("k1", "req-a", NOW + 100), NOW)
        .await
        .unwrap();
    let later = NOW + 200;
    assert_eq!(
        store
            .insert_idempotency(&idem("k1", "req-b", later + 100), later)
            .await
            .unwrap(),
        IdempotencyOutcome::Inserted
    );
    let again = store
        .insert_idempotency(&idem("k1", "req-c", later + 100), later + 1)
        .await
        .unwrap();
    assert_eq!(
        again,
        IdempotencyOutcome::Existing(idem("k1", "req-b", later + 100))
    );
}

// ---------------------------------------------------------------- finish events and seen pushes

pub async fn finish_events_by_appid_and_msg_id(store: Store) {
    let exp = NOW + 30 * 86_400;
    store
        .put_finish_event(&event("wxa1", 1, "sendsuccess", exp))
        .await
        .unwrap();
    store
        .put_finish_event(&event("wxa1", 2, "sendsuccess", exp))
        .await
        .unwrap();
    store
        .put_finish_event(&event("wxa2", 3, "sendsuccess", exp))
        .await
        .unwrap();
    // a repeat overwrites
    store
        .put_finish_event(&event("wxa1", 2, "err(10001)", exp))
        .await
        .unwrap();
    // a large WeChat msg id survives the round trip
    store
        .put_finish_event(&event("wxa1", u64::MAX - 7, "sendsuccess", exp))
        .await
        .unwrap();

    let mut got = store
        .get_finish_events("wxa1", &[1, 2, 3, 4, u64::MAX - 7], NOW)
        .await
        .unwrap();
    got.sort_by_key(|e| e.msg_id);
    assert_eq!(
        got,
        vec![
            event("wxa1", 1, "sendsuccess", exp),
            event("wxa1", 2, "err(10001)", exp),
            event("wxa1", u64::MAX - 7, "sendsuccess", exp)
        ]
    );
    assert!(store
        .get_finish_events("wxa1", &[], NOW)
        .await
        .unwrap()
        .is_empty());
}

pub async fn finish_events_expire(store: Store) {
    store
        .put_finish_event(&event("wxa1", 1, "sendsuccess", NOW + 100))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_finish_events("wxa1", &[1], NOW)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .get_finish_events("wxa1", &[1], NOW + 200)
        .await
        .unwrap()
        .is_empty());
}

pub async fn push_seen_once_until_expiry(store: Store) {
    assert!(store
        .mark_push_seen("push-1", NOW, NOW + 3600)
        .await
        .unwrap());
    assert!(!store
        .mark_push_seen("push-1", NOW + 10, NOW + 3610)
        .await
        .unwrap());
    assert!(
        store
            .mark_push_seen("push-2", NOW + 10, NOW + 3610)
            .await
            .unwrap(),
        "another key is independent"
    );
    assert!(
        store
            .mark_push_seen("push-1", NOW + 3700, NOW + 7300)
            .await
            .unwrap(),
        "seen again after expiry"
    );
    assert!(!store
        .mark_push_seen("push-1", NOW + 3710, NOW + 7310)
        .await
        .unwrap());
}

// ---------------------------------------------------------------- concurrency

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

pub async fn racing_idempotency_inserts_insert_once(store: Store) {
    let outcomes = race(|i| {
        let store = Arc::clone(&store);
        async move {
            store
                .insert_idempotency(&idem("k1", &format!("req-{i}"), NOW + 86_400), NOW)
                .await
                .unwrap()
        }
    })
    .await;
    let inserted = outcomes
        .iter()
        .filter(|o| **o == IdempotencyOutcome::Inserted)
        .count();
    assert_eq!(inserted, 1);
    // every loser sees the winner's request hash
    let hashes: HashSet<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            IdempotencyOutcome::Existing(r) => Some(r.request_hash.clone()),
            IdempotencyOutcome::Inserted => None,
        })
        .collect();
    assert_eq!(hashes.len(), 1);
}

pub async fn racing_chunk_claims_claim_once(store: Store) {
    let refs = stored_job(&store, "J1", 1).await;
    let c = refs[0].clone();
    let outcomes = race(|i| {
        let store = Arc::clone(&store);
        let c = c.clone();
        async move {
            store
                .claim_chunk(&c, &format!("worker-{i}"), NOW, NOW + 60)
                .await
                .unwrap()
        }
    })
    .await;
    let claimed = outcomes
        .iter()
        .filter(|o| matches!(o, ClaimOutcome::Claimed(_)))
        .count();
    assert_eq!(claimed, 1);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, ClaimOutcome::Claimed(_) | ClaimOutcome::Held)));
    assert_eq!(chunk_now(&store, &c).await.attempts, 1);
}

// ---------------------------------------------------------------- namespacing

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
