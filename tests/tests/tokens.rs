//! Token lifecycle end to end against the simulator: single flight across
//! concurrent callers, compare-and-invalidate with one renewal and one retry,
//! and the missing-ticket path. Each behaviour runs on SQLite and DynamoDB.

use std::time::Duration;
use wxopen::tokens::TokenError;
use wxopen::wechat::paths;
use wxopen_tests::{eventually, on_both_stores, Backend, TestEnv};

const APPID: &str = "wx5add0a0000000001";

on_both_stores!(
    fifty_callers_of_a_due_component_token_cause_one_renewal,
    fifty_callers_of_a_due_authorizer_token_cause_one_renewal,
    an_invalidated_authorizer_token_is_renewed_once_and_the_call_retried_once,
    a_second_token_failure_is_reported_not_looped,
    an_invalidated_component_token_is_renewed_once_and_the_call_retried_once,
    without_a_ticket_wechat_is_asked_to_push_one_and_the_error_says_so,
    a_revoked_or_unknown_authorizer_gets_no_token,
    a_renewed_token_is_stored_through_transient_write_failures_before_use,
    a_renewed_token_that_cannot_be_stored_is_not_used_and_the_old_refresh_token_stays,
);

/// Seconds after which a fresh 7200 s token is due for on-demand renewal.
const NEARLY_EXPIRED: Duration = Duration::from_secs(7200 - 60);

async fn fifty_callers_of_a_due_component_token_cause_one_renewal(backend: Backend) {
    // Given a component token that is due
    let env = TestEnv::start(backend).await;
    env.deliver_ticket().await;
    let old = env.app.tokens.component_token().await.unwrap();
    env.sim.advance(NEARLY_EXPIRED);
    env.deliver_ticket().await;
    let before = env.sim.calls_to(paths::COMPONENT_TOKEN).len();

    // When 50 callers want it at once
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let tokens = env.app.tokens.clone();
            tokio::spawn(async move { tokens.component_token().await })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap().unwrap());
    }

    // Then WeChat saw exactly one renewal and everyone has the new token
    assert_eq!(env.sim.calls_to(paths::COMPONENT_TOKEN).len() - before, 1);
    assert!(
        got.iter().all(|t| t == &got[0]),
        "callers got different tokens"
    );
    assert_ne!(got[0], old);
}

async fn fifty_callers_of_a_due_authorizer_token_cause_one_renewal(backend: Backend) {
    // Given an authorizer whose token is due
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    let old = env.app.tokens.authorizer_token(APPID).await.unwrap();
    env.sim.advance(NEARLY_EXPIRED);
    env.deliver_ticket().await;
    let before = env.sim.calls_to(paths::AUTHORIZER_TOKEN).len();

    // When 50 callers want it at once
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let tokens = env.app.tokens.clone();
            tokio::spawn(async move { tokens.authorizer_token(APPID).await })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap().unwrap());
    }

    // Then exactly one api_authorizer_token call, one new token for all
    assert_eq!(env.sim.calls_to(paths::AUTHORIZER_TOKEN).len() - before, 1);
    assert!(
        got.iter().all(|t| t == &got[0]),
        "callers got different tokens"
    );
    assert_ne!(got[0], old);
    // and the new token works
    env.app
        .wechat
        .get_all_private_template(&got[0])
        .await
        .unwrap();
}

async fn an_invalidated_authorizer_token_is_renewed_once_and_the_call_retried_once(
    backend: Backend,
) {
    // Given a stored authorizer token that WeChat has since invalidated
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    env.app.tokens.authorizer_token(APPID).await.unwrap();
    env.sim.invalidate_access_token(APPID);

    // When a call is made with it
    let wechat = env.app.wechat.clone();
    let templates = env
        .app
        .tokens
        .with_authorizer_token(APPID, |token| {
            let wechat = wechat.clone();
            async move { wechat.get_all_private_template(&token).await }
        })
        .await;

    // Then one renewal, one retry, success
    assert_eq!(templates.unwrap().len(), 2);
    assert_eq!(env.sim.calls_to(paths::AUTHORIZER_TOKEN).len(), 1);
    let calls = env.sim.calls_to(paths::TEMPLATE_GET_ALL_PRIVATE);
    assert_eq!(
        calls.iter().map(|c| c.errcode).collect::<Vec<_>>(),
        vec![40001, 0]
    );
}

async fn a_second_token_failure_is_reported_not_looped(backend: Backend) {
    // Given WeChat rejects every token of the account at the moment it is used
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    let wechat = env.app.wechat.clone();
    let sim = env.sim.clone();

    // When a call is made
    let result = env
        .app
        .tokens
        .with_authorizer_token(APPID, |token| {
            let (wechat, sim) = (wechat.clone(), sim.clone());
            async move {
                sim.invalidate_access_token(APPID);
                wechat.get_all_private_template(&token).await
            }
        })
        .await;

    // Then the second failure is the answer: two tries, one renewal
    match result {
        Err(TokenError::Wechat(e)) => assert_eq!(e.errcode(), Some(40001)),
        other => panic!("expected the 40001 to be reported, got {other:?}"),
    }
    assert_eq!(env.sim.calls_to(paths::TEMPLATE_GET_ALL_PRIVATE).len(), 2);
    assert_eq!(env.sim.calls_to(paths::AUTHORIZER_TOKEN).len(), 1);
}

async fn an_invalidated_component_token_is_renewed_once_and_the_call_retried_once(
    backend: Backend,
) {
    // Given a component token WeChat has invalidated
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    let cappid = env.app.config.component_appid.clone();
    let before = env.sim.calls_to(paths::COMPONENT_TOKEN).len();
    env.sim.invalidate_access_token(&cappid);

    // When a component call is made
    let wechat = env.app.wechat.clone();
    let info = env
        .app
        .tokens
        .with_component_token(|token| {
            let (wechat, cappid) = (wechat.clone(), cappid.clone());
            async move { wechat.authorizer_info(&token, &cappid, APPID).await }
        })
        .await
        .unwrap();

    // Then it succeeded after exactly one renewal
    assert_eq!(info.authorization_info.authorizer_appid, APPID);
    assert_eq!(env.sim.calls_to(paths::COMPONENT_TOKEN).len() - before, 1);
}

async fn without_a_ticket_wechat_is_asked_to_push_one_and_the_error_says_so(backend: Backend) {
    // Given no ticket was ever pushed
    let env = TestEnv::start(backend).await;

    // When a component token is wanted
    let err = env.app.tokens.component_token().await.unwrap_err();

    // Then the error is clear and WeChat was asked to push a ticket
    assert!(matches!(err, TokenError::NoTicket), "{err:?}");
    assert!(err.to_string().contains("api_start_push_ticket"));
    assert_eq!(env.sim.calls_to(paths::START_PUSH_TICKET).len(), 1);
    assert!(env.sim.calls_to(paths::COMPONENT_TOKEN).is_empty());
    // and the ticket WeChat pushes in answer makes the token available
    let store = env.store().clone();
    let now = env.sim.now();
    eventually("requested ticket stored", Duration::from_secs(5), || {
        let store = store.clone();
        async move { store.get_ticket(now).await.ok().flatten() }
    })
    .await;
    env.app.tokens.component_token().await.unwrap();
}

async fn a_revoked_or_unknown_authorizer_gets_no_token(backend: Backend) {
    // Given an authorizer that revoked, and an appid never seen
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    let out = env.sim.revoke(APPID).await.unwrap();
    assert!(out.delivered);

    // Then neither gets a token, and WeChat is not asked
    let before = env.sim.calls_to(paths::AUTHORIZER_TOKEN).len();
    assert!(matches!(
        env.app.tokens.authorizer_token(APPID).await,
        Err(TokenError::Revoked(_))
    ));
    assert!(matches!(
        env.app.tokens.authorizer_token("wx0000000000000000").await,
        Err(TokenError::UnknownAuthorizer(_))
    ));
    assert_eq!(env.sim.calls_to(paths::AUTHORIZER_TOKEN).len(), before);
}

/// The real store with injected failures of `complete_authorizer_renewal`: the
/// write that keeps a renewed (refresh) token. Everything else goes straight through.
mod flaky {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use wxopen::secret::Secret;
    use wxopen::store::*;

    pub struct FailingRenewalWrites {
        pub inner: Arc<dyn StateStore>,
        /// How many of the next renewal writes fail.
        pub failures: AtomicU32,
        pub attempts: AtomicU32,
    }

    impl FailingRenewalWrites {
        fn inject(&self) -> StoreResult<()> {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let left = self.failures.load(Ordering::SeqCst);
            if left > 0 {
                self.failures.store(left - 1, Ordering::SeqCst);
                return Err(StoreError::Backend {
                    message: "injected write failure".into(),
                    source: None,
                });
            }
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl wxopen::store::JsapiTicketStore for FailingRenewalWrites {
        async fn get_jsapi_ticket(&self, appid: &str) -> StoreResult<TokenState> {
            self.inner.get_jsapi_ticket(appid).await
        }
        async fn acquire_jsapi_lease(
            &self,
            appid: &str,
            owner: &str,
            expected_version: u64,
            now: u64,
            lease_until: u64,
        ) -> StoreResult<LeaseOutcome> {
            self.inner
                .acquire_jsapi_lease(appid, owner, expected_version, now, lease_until)
                .await
        }
        async fn complete_jsapi_renewal(
            &self,
            appid: &str,
            owner: &str,
            ticket: &Secret,
            expires_at: u64,
        ) -> StoreResult<RenewalOutcome> {
            self.inner
                .complete_jsapi_renewal(appid, owner, ticket, expires_at)
                .await
        }
        async fn release_jsapi_lease(&self, appid: &str, owner: &str) -> StoreResult<()> {
            self.inner.release_jsapi_lease(appid, owner).await
        }
        async fn invalidate_jsapi_ticket(&self, appid: &str, version: u64) -> StoreResult<bool> {
            self.inner.invalidate_jsapi_ticket(appid, version).await
        }
        async fn delete_jsapi_ticket(&self, appid: &str) -> StoreResult<()> {
            self.inner.delete_jsapi_ticket(appid).await
        }
    }
    impl wxopen::store::PurgeStore for FailingRenewalWrites {}

    #[async_trait::async_trait]
    impl EventStore for FailingRenewalWrites {
        async fn record_event_leased(
            &self,
            e: &EventRecord,
            w: &[String],
            l: Option<&str>,
        ) -> StoreResult<bool> {
            self.inner.record_event_leased(e, w, l).await
        }
        async fn get_event(&self, id: &str, now: u64) -> StoreResult<Option<EventRecord>> {
            self.inner.get_event(id, now).await
        }
        async fn list_deliveries(&self, id: &str) -> StoreResult<Vec<Delivery>> {
            self.inner.list_deliveries(id).await
        }
        async fn feed(&self, q: &FeedQuery, now: u64) -> StoreResult<Page<EventRecord>> {
            self.inner.feed(q, now).await
        }
        async fn due_deliveries(&self, now: u64, limit: u32) -> StoreResult<Vec<DeliveryRef>> {
            self.inner.due_deliveries(now, limit).await
        }
        async fn claim_delivery(
            &self,
            d: &DeliveryRef,
            owner: &str,
            now: u64,
            until: u64,
        ) -> StoreResult<DeliveryClaim> {
            self.inner.claim_delivery(d, owner, now, until).await
        }
        async fn record_attempt(
            &self,
            d: &Delivery,
            owner: &str,
            a: &Attempt,
            next: NextStep,
        ) -> StoreResult<AttemptRecorded> {
            self.inner.record_attempt(d, owner, a, next).await
        }
        async fn release_delivery(
            &self,
            d: &DeliveryRef,
            owner: &str,
            now: u64,
        ) -> StoreResult<()> {
            self.inner.release_delivery(d, owner, now).await
        }
        async fn redeliver(&self, e: &EventRecord, w: &str, now: u64) -> StoreResult<()> {
            self.inner.redeliver(e, w, now).await
        }
        async fn purge_expired_events(&self, now: u64, limit: u32) -> StoreResult<u64> {
            self.inner.purge_expired_events(now, limit).await
        }
    }

    #[async_trait::async_trait]
    impl WebhookStore for FailingRenewalWrites {
        async fn create_webhook(&self, w: &Webhook) -> StoreResult<()> {
            self.inner.create_webhook(w).await
        }
        async fn get_webhook(&self, id: &str) -> StoreResult<Option<Webhook>> {
            self.inner.get_webhook(id).await
        }
        async fn list_webhooks(&self) -> StoreResult<Vec<Webhook>> {
            self.inner.list_webhooks().await
        }
        async fn delete_webhook(&self, id: &str) -> StoreResult<bool> {
            self.inner.delete_webhook(id).await
        }
        async fn rotate_webhook_secret(
            &self,
            id: &str,
            s: &Secret,
            until: u64,
        ) -> StoreResult<Option<Webhook>> {
            self.inner.rotate_webhook_secret(id, s, until).await
        }
        async fn set_webhook_health(
            &self,
            id: &str,
            since: Option<u64>,
            disabled: bool,
        ) -> StoreResult<()> {
            self.inner.set_webhook_health(id, since, disabled).await
        }
    }

    #[async_trait::async_trait]
    #[async_trait::async_trait]
    impl wxopen::store::OauthStore for FailingRenewalWrites {
        async fn create_oauth_link(&self, link: &OauthLink) -> StoreResult<()> {
            self.inner.create_oauth_link(link).await
        }
        async fn get_oauth_link(&self, id: &str, now: u64) -> StoreResult<Option<OauthLink>> {
            self.inner.get_oauth_link(id, now).await
        }
        async fn create_oauth_attempt(&self, attempt: &OauthAttempt) -> StoreResult<()> {
            self.inner.create_oauth_attempt(attempt).await
        }
        async fn take_oauth_attempt(
            &self,
            state_hash: &str,
            now: u64,
        ) -> StoreResult<Option<OauthAttempt>> {
            self.inner.take_oauth_attempt(state_hash, now).await
        }
        async fn create_oauth_result(&self, result: &OauthResult) -> StoreResult<()> {
            self.inner.create_oauth_result(result).await
        }
        async fn take_oauth_result(
            &self,
            id: &str,
            tenant: Option<&str>,
            now: u64,
        ) -> StoreResult<Option<OauthResult>> {
            self.inner.take_oauth_result(id, tenant, now).await
        }
    }

    impl StateStore for FailingRenewalWrites {
        fn component_appid(&self) -> &str {
            self.inner.component_appid()
        }
    }

    #[async_trait::async_trait]
    impl ComponentStore for FailingRenewalWrites {
        async fn get_ticket(&self, now: u64) -> StoreResult<Option<Ticket>> {
            self.inner.get_ticket(now).await
        }
        async fn put_ticket_if_newer(
            &self,
            ticket: &Secret,
            create_time: i64,
            now: u64,
        ) -> StoreResult<TicketWrite> {
            self.inner
                .put_ticket_if_newer(ticket, create_time, now)
                .await
        }
        async fn get_component_token(&self) -> StoreResult<TokenState> {
            self.inner.get_component_token().await
        }
        async fn acquire_component_lease(
            &self,
            owner: &str,
            expected_version: u64,
            now: u64,
            lease_until: u64,
        ) -> StoreResult<LeaseOutcome> {
            self.inner
                .acquire_component_lease(owner, expected_version, now, lease_until)
                .await
        }
        async fn complete_component_renewal(
            &self,
            owner: &str,
            token: &Secret,
            expires_at: u64,
        ) -> StoreResult<RenewalOutcome> {
            self.inner
                .complete_component_renewal(owner, token, expires_at)
                .await
        }
        async fn release_component_lease(&self, owner: &str) -> StoreResult<()> {
            self.inner.release_component_lease(owner).await
        }
        async fn invalidate_component_token(&self, version: u64) -> StoreResult<bool> {
            self.inner.invalidate_component_token(version).await
        }
    }

    #[async_trait::async_trait]
    impl AuthorizerStore for FailingRenewalWrites {
        async fn get_authorizer(&self, appid: &str) -> StoreResult<Option<Authorizer>> {
            self.inner.get_authorizer(appid).await
        }
        async fn put_grant(&self, grant: &AuthorizationGrant) -> StoreResult<GrantOutcome> {
            self.inner.put_grant(grant).await
        }
        async fn set_profile(
            &self,
            appid: &str,
            profile: &AuthorizerProfile,
            now: u64,
        ) -> StoreResult<()> {
            self.inner.set_profile(appid, profile, now).await
        }
        async fn bind_tenant(&self, appid: &str, tenant: &str, now: u64) -> StoreResult<bool> {
            self.inner.bind_tenant(appid, tenant, now).await
        }
        async fn list_authorizers(
            &self,
            tenant: Option<&str>,
            cursor: Option<&str>,
            limit: u32,
        ) -> StoreResult<Page<Authorizer>> {
            self.inner.list_authorizers(tenant, cursor, limit).await
        }
        async fn due_authorizers(
            &self,
            due_before: u64,
            cursor: Option<&str>,
            limit: u32,
        ) -> StoreResult<Page<Authorizer>> {
            self.inner.due_authorizers(due_before, cursor, limit).await
        }
        async fn acquire_authorizer_lease(
            &self,
            appid: &str,
            owner: &str,
            expected_version: u64,
            now: u64,
            lease_until: u64,
        ) -> StoreResult<LeaseOutcome> {
            self.inner
                .acquire_authorizer_lease(appid, owner, expected_version, now, lease_until)
                .await
        }
        async fn complete_authorizer_renewal(
            &self,
            appid: &str,
            owner: &str,
            tokens: &RenewedTokens,
            now: u64,
        ) -> StoreResult<RenewalOutcome> {
            self.inject()?;
            self.inner
                .complete_authorizer_renewal(appid, owner, tokens, now)
                .await
        }
        async fn release_authorizer_lease(&self, appid: &str, owner: &str) -> StoreResult<()> {
            self.inner.release_authorizer_lease(appid, owner).await
        }
        async fn invalidate_authorizer_token(
            &self,
            appid: &str,
            version: u64,
        ) -> StoreResult<bool> {
            self.inner.invalidate_authorizer_token(appid, version).await
        }
        async fn revoke_authorizer(&self, appid: &str, now: u64) -> StoreResult<bool> {
            self.inner.revoke_authorizer(appid, now).await
        }
        async fn mark_needs_reauth(&self, appid: &str, now: u64) -> StoreResult<bool> {
            self.inner.mark_needs_reauth(appid, now).await
        }
        async fn repair_refresh_token(
            &self,
            appid: &str,
            refresh_token: &Secret,
            now: u64,
        ) -> StoreResult<bool> {
            self.inner
                .repair_refresh_token(appid, refresh_token, now)
                .await
        }
    }

    #[async_trait::async_trait]
    impl LinkStore for FailingRenewalWrites {
        async fn create_link(&self, link: &Link) -> StoreResult<()> {
            self.inner.create_link(link).await
        }
        async fn get_link(&self, id: &str, now: u64) -> StoreResult<Option<Link>> {
            self.inner.get_link(id, now).await
        }
        async fn consume_link(
            &self,
            id: &str,
            appid: &str,
            now: u64,
        ) -> StoreResult<ConsumeOutcome> {
            self.inner.consume_link(id, appid, now).await
        }
        async fn put_preauth(&self, preauth: &PreAuth) -> StoreResult<()> {
            self.inner.put_preauth(preauth).await
        }
        async fn get_preauth(&self, code_hash: &str, now: u64) -> StoreResult<Option<PreAuth>> {
            self.inner.get_preauth(code_hash, now).await
        }
    }

    #[async_trait::async_trait]
    impl ApiKeyStore for FailingRenewalWrites {
        async fn put_api_key(&self, key: &ApiKey) -> StoreResult<()> {
            self.inner.put_api_key(key).await
        }
        async fn get_api_key(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
            self.inner.get_api_key(hash).await
        }
        async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
            self.inner.list_api_keys().await
        }
        async fn revoke_api_key(&self, hash: &str) -> StoreResult<bool> {
            self.inner.revoke_api_key(hash).await
        }
    }

    #[async_trait::async_trait]
    impl JobStore for FailingRenewalWrites {
        async fn begin_job(&self, job: &Job) -> StoreResult<()> {
            self.inner.begin_job(job).await
        }
        async fn add_chunks(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()> {
            self.inner.add_chunks(job, chunks).await
        }
        async fn commit_job(&self, job: &Job, chunks: &[Chunk]) -> StoreResult<()> {
            self.inner.commit_job(job, chunks).await
        }
        async fn get_job(&self, id: &str, now: u64) -> StoreResult<Option<Job>> {
            self.inner.get_job(id, now).await
        }
        async fn list_chunks(&self, job_id: &str) -> StoreResult<Vec<Chunk>> {
            self.inner.list_chunks(job_id).await
        }
        async fn set_job_state(
            &self,
            id: &str,
            state: JobState,
            stop_reason: Option<&wxopen::domain::StopReason>,
        ) -> StoreResult<()> {
            self.inner.set_job_state(id, state, stop_reason).await
        }
        async fn claimable_chunks(&self, now: u64, limit: u32) -> StoreResult<Vec<ChunkRef>> {
            self.inner.claimable_chunks(now, limit).await
        }
        async fn claim_chunk(
            &self,
            chunk: &ChunkRef,
            owner: &str,
            now: u64,
            lease_until: u64,
        ) -> StoreResult<ClaimOutcome> {
            self.inner.claim_chunk(chunk, owner, now, lease_until).await
        }
        async fn checkpoint_chunk(
            &self,
            chunk: &ChunkRef,
            owner: &str,
            results: &[RecipientResult],
            lease_until: u64,
        ) -> StoreResult<CheckpointOutcome> {
            self.inner
                .checkpoint_chunk(chunk, owner, results, lease_until)
                .await
        }
        async fn finish_chunk(
            &self,
            chunk: &ChunkRef,
            owner: &str,
            results: &[RecipientResult],
            state: ChunkState,
        ) -> StoreResult<CheckpointOutcome> {
            self.inner.finish_chunk(chunk, owner, results, state).await
        }
        async fn release_chunk(&self, chunk: &ChunkRef, owner: &str) -> StoreResult<()> {
            self.inner.release_chunk(chunk, owner).await
        }
    }

    #[async_trait::async_trait]
    impl IdempotencyStore for FailingRenewalWrites {
        async fn insert_idempotency(
            &self,
            record: &IdempotencyRecord,
            now: u64,
        ) -> StoreResult<IdempotencyOutcome> {
            self.inner.insert_idempotency(record, now).await
        }
        async fn complete_idempotency(
            &self,
            key_hash: &str,
            status: u16,
            body: &str,
        ) -> StoreResult<()> {
            self.inner
                .complete_idempotency(key_hash, status, body)
                .await
        }
        async fn delete_idempotency(&self, key_hash: &str) -> StoreResult<()> {
            self.inner.delete_idempotency(key_hash).await
        }
    }

    #[async_trait::async_trait]
    impl PushStore for FailingRenewalWrites {
        async fn put_finish_event(&self, event: &FinishEvent) -> StoreResult<()> {
            self.inner.put_finish_event(event).await
        }
        async fn get_finish_events(
            &self,
            appid: &str,
            msg_ids: &[u64],
            now: u64,
        ) -> StoreResult<Vec<FinishEvent>> {
            self.inner.get_finish_events(appid, msg_ids, now).await
        }
        async fn mark_push_seen(&self, key: &str, now: u64, expires_at: u64) -> StoreResult<bool> {
            self.inner.mark_push_seen(key, now, expires_at).await
        }
    }
}

/// An app like the environment's, over the given store.
fn app_over(
    env: &TestEnv,
    store: std::sync::Arc<dyn wxopen::store::StateStore>,
) -> wxopen::app::App {
    let wechat = wxopen::wechat::WechatConfig {
        base_url: env.sim.base_url(),
        ..wxopen::wechat::WechatConfig::default()
    };
    let clock = std::sync::Arc::new(wxopen_tests::SimClock(env.sim.clone()));
    wxopen::app::App::build((*env.app.config).clone(), store, clock, Some(wechat)).unwrap()
}

async fn a_renewed_token_is_stored_through_transient_write_failures_before_use(backend: Backend) {
    // Given a due authorizer token and a store whose next two renewal writes fail
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    env.sim.advance(NEARLY_EXPIRED);
    env.deliver_ticket().await;
    let store = std::sync::Arc::new(flaky::FailingRenewalWrites {
        inner: env.store().clone(),
        failures: 2.into(),
        attempts: 0.into(),
    });
    let app = app_over(&env, store.clone());

    // When the token is wanted
    let token = app.tokens.authorizer_token(APPID).await.unwrap();

    // Then the write was retried until it held, and what was handed out is what is stored
    assert_eq!(store.attempts.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(env.sim.calls_to(paths::AUTHORIZER_TOKEN).len(), 1);
    let stored = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(stored.token.access_token.as_ref(), Some(&token));
    app.wechat.get_all_private_template(&token).await.unwrap();
}

async fn a_renewed_token_that_cannot_be_stored_is_not_used_and_the_old_refresh_token_stays(
    backend: Backend,
) {
    // Given a due authorizer token and a store that keeps failing renewal writes
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    env.sim.advance(NEARLY_EXPIRED);
    env.deliver_ticket().await;
    let before = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    let store = std::sync::Arc::new(flaky::FailingRenewalWrites {
        inner: env.store().clone(),
        failures: 1000.into(),
        attempts: 0.into(),
    });
    let app = app_over(&env, store.clone());

    // When the token is wanted
    let result = app.tokens.authorizer_token(APPID).await;

    // Then a store error is reported after a bounded number of attempts, nothing is handed out,
    // the stored refresh token is the old one, and the lease is free for the next try
    assert!(matches!(result, Err(TokenError::Store(_))), "{result:?}");
    let attempts = store.attempts.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=10).contains(&attempts), "{attempts} attempts");
    let after = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(after.refresh_token, before.refresh_token);
    assert_eq!(after.token.version, before.token.version);
    assert!(!after.token.lease_held(env.sim.now()));
    env.app.tokens.authorizer_token(APPID).await.unwrap();
}
