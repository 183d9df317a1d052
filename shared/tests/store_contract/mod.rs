//! The store contract, written once and run against every backend: a file
//! per record family, as in `wxopen::store`.
//!
//! Each function takes a fresh, empty store opened for component appid
//! `wxcomponent0001` and checks one behaviour. A backend's test file is:
//! ```ignore
//! mod store_contract;
//! async fn fresh() -> std::sync::Arc<dyn wxopen::store::StateStore> { … }
//! store_contract::contract_tests!(fresh);
//! ```
//! which runs each as `<family>::<behaviour>` (e.g. `jobs::claim_outcomes`).
//! Time is passed in (`now`), so expiry is tested by passing a later `now`,
//! never by sleeping. Records are tested well inside or well past their
//! `expires_at`, never at the boundary second.

pub mod api_keys;
pub mod at_rest;
pub mod authorizer_listings;
pub mod authorizers;
pub mod component;
pub mod events;
pub mod idempotency;
pub mod jobs;
pub mod jsapi;
pub mod links;
pub mod namespacing;
pub mod oauth;
pub mod pushes;

pub(crate) use std::collections::{BTreeMap, HashSet};
pub(crate) use std::sync::Arc;
pub(crate) use wxopen::domain::{RecipientStatus, StopReason};
pub(crate) use wxopen::secret::Secret;
pub(crate) use wxopen::store::*;

pub type Store = Arc<dyn StateStore>;

/// The component appid every fresh store is opened for.
pub const COMPONENT_APPID: &str = "wxcomponent0001";
pub const NOW: u64 = 1_700_000_000;
const RACERS: usize = 50;

/// Expands to one multi-threaded `#[tokio::test]` per contract function, in a
/// module per family, each on a store from `$fresh().await`. Call it as
/// `store_contract::contract_tests!(fresh);` where `fresh` is in scope.
macro_rules! contract_tests {
    ($fresh:ident) => {
        store_contract::contract_tests!(@family $fresh; component:
            fresh_store_is_for_the_component_appid,
            ticket_absent_reads_none,
            ticket_newest_create_time_wins,
            ticket_reads_none_after_its_validity,
            component_token_starts_empty,
            component_lease_is_held_against_others_until_it_expires,
            component_lease_for_a_version_never_stored_is_missing,
            component_renewal_stores_token_with_next_version_and_frees_lease,
            component_lease_taken_over_after_expiry_makes_first_holder_lose,
            component_release_frees_lease_only_for_its_holder,
            component_invalidate_only_for_current_version,
            racing_component_leases_acquire_once,
        );
        store_contract::contract_tests!(@family $fresh; authorizers:
            grant_creates_active_authorizer,
            grant_starts_the_token_version_at_one_and_each_new_code_moves_it_on,
            grant_with_same_code_is_already_done_and_binds_unbound_tenant,
            grant_with_new_code_replaces_tokens_and_reactivates,
            grant_for_another_tenant_conflicts_and_changes_nothing,
            bind_tenant_only_when_unbound_or_same,
            set_profile_is_read_back,
            set_profile_drops_what_the_new_profile_lacks,
            authorizer_lease_outcomes,
            authorizer_renewal_without_refresh_token_keeps_stored_one,
            authorizer_renewal_with_refresh_token_replaces_it,
            authorizer_lease_taken_over_after_expiry_makes_first_holder_lose,
            authorizer_release_frees_lease,
            authorizer_invalidate_only_for_current_version,
            revoke_erases_tokens_and_sets_status,
            revoke_moves_the_version_on_so_a_renewal_in_flight_writes_nothing,
            needs_reauth_keeps_tokens,
            repair_refresh_token_changes_only_when_different_and_reactivates,
            repair_refresh_token_never_creates,
            racing_authorizer_leases_acquire_once,
        );
        store_contract::contract_tests!(@family $fresh; authorizer_listings:
            due_authorizers_only_active_with_refresh_token_due_before_bound,
            due_authorizers_are_read_whole,
            due_authorizers_paginate_without_duplicates_or_gaps,
            list_authorizers_by_tenant_paginates,
            tenant_listing_follows_every_way_a_tenant_is_bound,
        );
        store_contract::contract_tests!(@family $fresh; links:
            link_is_consumed_once,
            link_expired_or_unknown,
            a_link_id_is_never_reused,
            preauth_expires,
        );
        store_contract::contract_tests!(@family $fresh; api_keys:
            api_keys_put_get_list_revoke,
        );
        store_contract::contract_tests!(@family $fresh; jobs:
            job_created_with_chunks_and_state_updated,
            job_reads_none_after_expiry,
            a_job_of_many_writes_is_created_whole,
            a_job_id_already_used_is_refused_and_the_first_job_is_unchanged,
            a_job_being_created_is_creating_and_its_chunks_wait_for_the_deadline,
            chunks_are_added_only_while_the_job_is_creating_and_never_overwritten,
            a_job_is_done_once_its_last_chunk_finishes_done,
            finished_chunks_are_counted_on_the_job_done_and_stopped_apart,
            claim_outcomes,
            checkpoint_saves_results_and_extends_lease,
            checkpoint_and_finish_refused_for_non_owner,
            finish_stopped_keeps_results_and_frees_lease,
            release_chunk_lets_another_claim,
            claimable_chunks_skip_leased_and_finished_and_include_expired_leases,
            crashed_holder_chunk_is_resumed_from_checkpoint,
            chunks_past_expiry_are_not_claimable,
            racing_chunk_claims_claim_once,
        );
        store_contract::contract_tests!(@family $fresh; idempotency:
            idempotency_inserted_then_existing_with_request_hash,
            idempotency_complete_stores_response,
            idempotency_delete_allows_reinsert,
            idempotency_delete_keeps_a_completed_answer,
            idempotency_expired_record_is_replaced,
            racing_idempotency_inserts_insert_once,
        );
        store_contract::contract_tests!(@family $fresh; pushes:
            finish_events_by_appid_and_msg_id,
            finish_events_expire,
            push_seen_once_until_expiry,
        );
        store_contract::contract_tests!(@family $fresh; jsapi:
            jsapi_ticket_starts_empty_and_is_kept_per_authorizer,
            jsapi_lease_is_held_then_lost_after_expiry,
            jsapi_invalidate_only_for_current_version,
            jsapi_delete_drops_the_ticket_and_a_held_renewal,
            racing_jsapi_leases_acquire_once,
        );
        store_contract::contract_tests!(@family $fresh; oauth:
            oauth_links_are_read_until_they_expire_and_never_overwritten,
            oauth_attempts_are_taken_once_and_not_after_expiry,
            oauth_results_are_taken_once_by_their_own_tenant,
            racing_takes_of_one_attempt_take_it_once,
        );
    };
    (@family $fresh:ident; $family:ident: $($name:ident),* $(,)?) => {
        mod $family {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::store_contract::$family::$name(super::$fresh().await).await;
                }
            )*
        }
    };
}
pub(crate) use contract_tests;

// ---------------------------------------------------------------- builders

pub(crate) fn grant(
    appid: &str,
    tenant: Option<&str>,
    code: &str,
    suffix: &str,
) -> AuthorizationGrant {
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

pub(crate) async fn authorizer_expiring(
    store: &Store,
    appid: &str,
    tenant: Option<&str>,
    expires_at: u64,
) {
    let mut g = grant(appid, tenant, appid, appid);
    g.expires_at = expires_at;
    assert_eq!(store.put_grant(&g).await.unwrap(), GrantOutcome::Created);
}

pub(crate) fn renewed(access: &str, refresh: Option<&str>) -> RenewedTokens {
    RenewedTokens {
        access_token: Secret::new(access),
        expires_at: NOW + 9000,
        refresh_token: refresh.map(Secret::new),
    }
}

pub(crate) fn link(id: &str, expires_at: u64) -> Link {
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

pub(crate) fn job(id: &str, chunk_count: u32) -> Job {
    Job {
        id: id.into(),
        appid: "wxauthorizer01".into(),
        tenant: "tenant-a".into(),
        kind: "template".into(),
        payload: r#"{"template_id":"tpl"}"#.into(),
        total: chunk_count * 2,
        chunk_count,
        chunks_done: 0,
        chunks_stopped: 0,
        state: JobState::Queued,
        stop_reason: None,
        created_at: NOW,
        expires_at: NOW + 86_400,
    }
}

pub(crate) fn chunk(job_id: &str, index: u32) -> Chunk {
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
pub(crate) async fn stored_job(store: &Store, id: &str, n: u32) -> Vec<ChunkRef> {
    let chunks: Vec<Chunk> = (0..n).map(|i| chunk(id, i)).collect();
    store.create_job(&job(id, n), &chunks).await.unwrap();
    (0..n)
        .map(|index| ChunkRef {
            job_id: id.into(),
            index,
        })
        .collect()
}

pub(crate) fn sent(openid: &str, msgid: u64) -> RecipientResult {
    RecipientResult {
        openid: openid.into(),
        status: RecipientStatus::Sent,
        msgid: Some(msgid),
        errcode: None,
    }
}

pub(crate) async fn chunk_now(store: &Store, c: &ChunkRef) -> Chunk {
    let chunks = store.list_chunks(&c.job_id).await.unwrap();
    chunks
        .into_iter()
        .find(|x| x.index == c.index)
        .expect("chunk listed")
}

pub(crate) fn idem(key: &str, request: &str, expires_at: u64) -> IdempotencyRecord {
    IdempotencyRecord {
        key_hash: key.into(),
        request_hash: request.into(),
        response: None,
        expires_at,
    }
}

pub(crate) fn event(appid: &str, msg_id: u64, status: &str, expires_at: u64) -> FinishEvent {
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

pub(crate) fn api_key(hash: &str, created_at: u64, tenants: TenantScope) -> ApiKey {
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
pub(crate) async fn race<T, F, Fut>(op: F) -> Vec<T>
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
