//! The single-flight renewal loop: read, take the lease or wait for its holder,
//! renew with WeChat, store under the lease. Bounded in time; never recursive.

use super::{wechat_error_metric, Held, TokenError, TokenManager, LEASE_SECS};
use crate::secret::Secret;
use crate::store::{
    Authorizer, AuthorizerStatus, LeaseOutcome, RenewalOutcome, RenewedTokens, StoreResult,
};
use crate::telemetry;
use crate::wechat::ErrorClass;
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a caller waits (real time) for another instance's renewal before
/// giving up: a little longer than a lease, so a crashed holder's lease runs
/// out while its waiters still wait, and one of them takes over.
const WAIT_BUDGET: Duration = Duration::from_secs(LEASE_SECS + 5);
/// First pause between reads of a record under someone else's lease; doubles
/// up to `MAX_PAUSE`. Many waiters must not crowd out the holder's own writes.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
const MAX_PAUSE: Duration = Duration::from_millis(500);
/// Attempts at the store write that keeps a renewed token (and refresh token).
const STORE_WRITE_ATTEMPTS: u32 = 4;

/// errcodes of api_component_token meaning the ticket is expired or unknown.
const TICKET_ERRCODES: [i64; 2] = [61005, 61006];

/// Waits with jitter between polls of a leased record.
pub(super) struct Backoff {
    deadline: Instant,
    pause: Duration,
}

impl Backoff {
    pub(super) fn new() -> Self {
        Backoff {
            deadline: Instant::now() + WAIT_BUDGET,
            pause: FIRST_PAUSE,
        }
    }

    /// `Err(Busy)` once the budget is spent.
    pub(super) fn check(&self) -> Result<(), TokenError> {
        if Instant::now() >= self.deadline {
            return Err(TokenError::Busy);
        }
        Ok(())
    }

    /// Sleeps before the next read; `Err(Busy)` once the budget is spent.
    pub(super) async fn wait(&mut self) -> Result<(), TokenError> {
        self.check()?;
        let half = self.pause / 2;
        let jitter = rand::random_range(0..=u64::try_from(half.as_micros()).unwrap_or(0));
        tokio::time::sleep(half + Duration::from_micros(jitter)).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        Ok(())
    }
}

pub(super) fn new_owner() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Retries a store write a few times: the write keeps a token WeChat already
/// issued (a renewal's, or an authorization's one-time exchange), so a
/// transient failure must not lose it.
pub(crate) async fn store_with_retry<T, F, Fut>(what: &'static str, mut write: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < STORE_WRITE_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, what, "store write of issued tokens failed; retrying");
                tokio::time::sleep(Duration::from_millis(25u64 << attempt)).await;
                attempt += 1;
            }
            Err(e) => {
                tracing::error!(error = %e, attempt, what, "store write of issued tokens failed; giving up, the stored tokens are unchanged");
                return Err(e);
            }
        }
    }
}

impl TokenManager {
    /// A component token valid for more than `margin` seconds.
    pub(crate) async fn obtain_component(&self, margin: u64) -> Result<Held, TokenError> {
        if let Some(held) = self.component_memo.recall(self.clock.now(), margin) {
            return Ok(held);
        }
        let mut backoff = Backoff::new();
        loop {
            let now = self.clock.now();
            let state = self.store.get_component_token().await?;
            if let Some(token) = state.usable(now, margin) {
                self.component_memo
                    .keep(token, state.version, state.expires_at, now);
                return Ok(Held {
                    token: token.clone(),
                    version: state.version,
                    renewed: false,
                });
            }
            if !state.lease_held(now) {
                let owner = new_owner();
                match self
                    .store
                    .acquire_component_lease(
                        &owner,
                        state.version,
                        now,
                        now.saturating_add(LEASE_SECS),
                    )
                    .await?
                {
                    LeaseOutcome::Acquired => {
                        if let Some(held) = self.renew_component(&owner).await? {
                            return Ok(held);
                        }
                        continue;
                    }
                    LeaseOutcome::VersionChanged => {
                        // Renewed meanwhile: re-read at once (still within the budget).
                        backoff.check()?;
                        continue;
                    }
                    LeaseOutcome::Held | LeaseOutcome::Missing => {}
                }
            }
            backoff.wait().await?;
        }
    }

    /// Under our lease: ticket → api_component_token → store. `None`: the lease was lost.
    async fn renew_component(&self, owner: &str) -> Result<Option<Held>, TokenError> {
        let ticket = match self.store.get_ticket(self.clock.now()).await {
            Ok(Some(ticket)) => ticket,
            Ok(None) => {
                self.release_component(owner).await;
                tracing::error!(
                    "no component_verify_ticket stored; cannot renew the component token"
                );
                telemetry::count("TicketMissing", &[]);
                let _ = self.request_ticket().await;
                return Err(TokenError::NoTicket);
            }
            Err(e) => {
                self.release_component(owner).await;
                return Err(e.into());
            }
        };
        let reply = self
            .wechat
            .component_token(
                &self.config.component_appid,
                &self.config.component_secret,
                &ticket.value,
            )
            .await;
        let fresh = match reply {
            Ok(fresh) => fresh,
            Err(e) => {
                self.release_component(owner).await;
                tracing::error!(errcode = e.errcode(), error = %e, "component token renewal failed");
                wechat_error_metric(&e);
                telemetry::count(
                    "TokenRenewals",
                    &[("Kind", "component"), ("Outcome", "failed")],
                );
                if e.errcode().is_some_and(|c| TICKET_ERRCODES.contains(&c)) {
                    let _ = self.request_ticket().await;
                }
                return Err(e.into());
            }
        };
        let expires_at = self.clock.now().saturating_add(fresh.expires_in);
        let stored = store_with_retry("component token", || {
            self.store
                .complete_component_renewal(owner, &fresh.access_token, expires_at)
        })
        .await;
        match stored {
            Ok(RenewalOutcome::Stored { version }) => {
                tracing::info!(
                    version,
                    expires_in = fresh.expires_in,
                    "component token renewed"
                );
                self.component_memo.keep(
                    &fresh.access_token,
                    version,
                    expires_at,
                    self.clock.now(),
                );
                telemetry::count(
                    "TokenRenewals",
                    &[("Kind", "component"), ("Outcome", "renewed")],
                );
                Ok(Some(Held {
                    token: fresh.access_token,
                    version,
                    renewed: true,
                }))
            }
            Ok(RenewalOutcome::LostLease) => {
                tracing::warn!("component token renewal lost its lease; re-reading");
                Ok(None)
            }
            Err(e) => {
                self.release_component(owner).await;
                Err(e.into())
            }
        }
    }

    async fn release_component(&self, owner: &str) {
        if let Err(e) = self.store.release_component_lease(owner).await {
            tracing::warn!(error = %e, "could not release the component token lease; it expires by itself");
        }
    }

    /// An authorizer token valid for more than `margin` seconds. `known` is
    /// the record as just read elsewhere (the sweep's due listing), used
    /// instead of a first read.
    pub(crate) async fn obtain_authorizer(
        &self,
        appid: &str,
        margin: u64,
        mut known: Option<Authorizer>,
    ) -> Result<Held, TokenError> {
        let mut backoff = Backoff::new();
        loop {
            let now = self.clock.now();
            let authorizer = match known.take() {
                Some(authorizer) => authorizer,
                None => self
                    .store
                    .get_authorizer(appid)
                    .await?
                    .ok_or_else(|| TokenError::UnknownAuthorizer(appid.to_owned()))?,
            };
            match authorizer.status {
                AuthorizerStatus::Active => {}
                AuthorizerStatus::Revoked => return Err(TokenError::Revoked(appid.to_owned())),
                AuthorizerStatus::NeedsReauth => {
                    return Err(TokenError::NeedsReauth(appid.to_owned()))
                }
            }
            let state = &authorizer.token;
            if let Some(token) = state.usable(now, margin) {
                return Ok(Held {
                    token: token.clone(),
                    version: state.version,
                    renewed: false,
                });
            }
            let Some(refresh_token) = authorizer.refresh_token.clone() else {
                return Err(TokenError::NeedsReauth(appid.to_owned()));
            };
            if !state.lease_held(now) {
                let owner = new_owner();
                match self
                    .store
                    .acquire_authorizer_lease(
                        appid,
                        &owner,
                        state.version,
                        now,
                        now.saturating_add(LEASE_SECS),
                    )
                    .await?
                {
                    LeaseOutcome::Acquired => {
                        if let Some(held) =
                            self.renew_authorizer(appid, &owner, &refresh_token).await?
                        {
                            return Ok(held);
                        }
                        continue;
                    }
                    LeaseOutcome::VersionChanged => {
                        // Renewed meanwhile: re-read at once (still within the budget).
                        backoff.check()?;
                        continue;
                    }
                    LeaseOutcome::Missing => {
                        return Err(TokenError::UnknownAuthorizer(appid.to_owned()))
                    }
                    LeaseOutcome::Held => {}
                }
            }
            backoff.wait().await?;
        }
    }

    /// Under our lease: api_authorizer_token → store (new refresh token in the
    /// same write, retried) → only then hand out the access token. `None`: lease lost.
    async fn renew_authorizer(
        &self,
        appid: &str,
        owner: &str,
        refresh_token: &Secret,
    ) -> Result<Option<Held>, TokenError> {
        let cappid = self.config.component_appid.as_str();
        let reply = self
            .with_component_token(|component_token| async move {
                self.wechat
                    .authorizer_token(&component_token, cappid, appid, refresh_token)
                    .await
            })
            .await;
        let fresh = match reply {
            Ok(fresh) => fresh,
            Err(TokenError::Wechat(e)) if e.class() == ErrorClass::RefreshTokenInvalid => {
                self.release_authorizer(appid, owner).await;
                tracing::error!(
                    appid,
                    errcode = e.errcode(),
                    "refresh token rejected; authorizer needs re-authorization"
                );
                wechat_error_metric(&e);
                telemetry::count("NeedsReauth", &[]);
                let now = self.clock.now();
                if self.store.mark_needs_reauth(appid, now).await? {
                    // The rejected refresh token's hash: one event per rejection.
                    let tenant = self
                        .store
                        .get_authorizer(appid)
                        .await?
                        .and_then(|a| a.tenant);
                    crate::service::events::record_lifecycle(
                        self.store.as_ref(),
                        "authorizer.needs_reauth",
                        appid,
                        tenant,
                        &crate::service::authorization::hash_code(refresh_token.expose()),
                        crate::service::events::record::appid_data(appid, &[]),
                        now,
                    )
                    .await;
                }
                return Err(TokenError::NeedsReauth(appid.to_owned()));
            }
            Err(e) => {
                self.release_authorizer(appid, owner).await;
                tracing::error!(appid, errcode = e.errcode(), error = %e, "authorizer token renewal failed");
                if let TokenError::Wechat(w) = &e {
                    wechat_error_metric(w);
                }
                telemetry::count(
                    "TokenRenewals",
                    &[("Kind", "authorizer"), ("Outcome", "failed")],
                );
                return Err(e);
            }
        };
        if fresh
            .authorizer_refresh_token
            .as_ref()
            .is_some_and(|r| r != refresh_token)
        {
            tracing::info!(
                appid,
                "WeChat rotated the refresh token; storing it with the new access token"
            );
        }
        let tokens = RenewedTokens {
            access_token: fresh.authorizer_access_token,
            expires_at: self.clock.now().saturating_add(fresh.expires_in),
            refresh_token: fresh.authorizer_refresh_token,
        };
        let stored = store_with_retry("authorizer tokens", || {
            self.store
                .complete_authorizer_renewal(appid, owner, &tokens, self.clock.now())
        })
        .await;
        match stored {
            Ok(RenewalOutcome::Stored { version }) => {
                tracing::info!(
                    appid,
                    version,
                    expires_in = fresh.expires_in,
                    "authorizer token renewed"
                );
                telemetry::count(
                    "TokenRenewals",
                    &[("Kind", "authorizer"), ("Outcome", "renewed")],
                );
                Ok(Some(Held {
                    token: tokens.access_token,
                    version,
                    renewed: true,
                }))
            }
            Ok(RenewalOutcome::LostLease) => {
                // Revoked, re-authorized or renewed elsewhere meanwhile: the record
                // moved on and is the truth; the daily reconcile repairs any refresh
                // token that WeChat rotated in this lost race.
                tracing::warn!(appid, "authorizer token renewal lost its lease; re-reading");
                Ok(None)
            }
            Err(e) => {
                self.release_authorizer(appid, owner).await;
                // The old refresh token stays stored; the new access token is not used.
                Err(e.into())
            }
        }
    }

    async fn release_authorizer(&self, appid: &str, owner: &str) {
        if let Err(e) = self.store.release_authorizer_lease(appid, owner).await {
            tracing::warn!(appid, error = %e, "could not release the authorizer token lease; it expires by itself");
        }
    }
}
