//! An authorizer's jsapi_ticket under the token rules (design.md §5, §9): read
//! the record; a ticket that does not expire within the margin is used as is;
//! otherwise one caller takes the lease and alone calls `getticket` (with the
//! authorizer's token, itself under those rules), everyone else waits for what
//! it stores. WeChat limits `getticket` per day, hence the sharing.

use super::renew::{new_owner, store_with_retry, Backoff};
use super::{wechat_error_metric, Held, TokenError, TokenManager, LEASE_SECS, USE_MARGIN_SECS};
use crate::store::{AuthorizerStatus, LeaseOutcome, RenewalOutcome};
use crate::telemetry;

impl TokenManager {
    /// The authorizer's jsapi_ticket and the version it has in the store.
    pub async fn jsapi_ticket(
        &self,
        appid: &str,
    ) -> Result<(crate::secret::Secret, u64), TokenError> {
        let held = self.obtain_jsapi(appid).await?;
        Ok((held.token, held.version))
    }

    /// Compare-and-invalidate: the ticket of `version` was rejected (a page's
    /// `wx.config` refused a signature over it); a newer one is left alone.
    pub async fn invalidate_jsapi_ticket(
        &self,
        appid: &str,
        version: u64,
    ) -> Result<bool, TokenError> {
        let invalidated = self.store.invalidate_jsapi_ticket(appid, version).await?;
        if invalidated {
            tracing::warn!(
                appid,
                version,
                "jsapi_ticket reported rejected; invalidated"
            );
            telemetry::count("JsapiTicketRefused", &[]);
        }
        Ok(invalidated)
    }

    async fn obtain_jsapi(&self, appid: &str) -> Result<Held, TokenError> {
        let mut backoff = Backoff::new();
        loop {
            // A revoked or re-authorizing account gets no ticket, whatever is stored.
            let authorizer = self
                .store
                .get_authorizer(appid)
                .await?
                .ok_or_else(|| TokenError::UnknownAuthorizer(appid.to_owned()))?;
            match authorizer.status {
                AuthorizerStatus::Active => {}
                AuthorizerStatus::Revoked => return Err(TokenError::Revoked(appid.to_owned())),
                AuthorizerStatus::NeedsReauth => {
                    return Err(TokenError::NeedsReauth(appid.to_owned()))
                }
            }
            let now = self.clock.now();
            let state = self.store.get_jsapi_ticket(appid).await?;
            if let Some(ticket) = state.usable(now, USE_MARGIN_SECS) {
                return Ok(Held {
                    token: ticket.clone(),
                    version: state.version,
                    renewed: false,
                });
            }
            if !state.lease_held(now) {
                let owner = new_owner();
                match self
                    .store
                    .acquire_jsapi_lease(
                        appid,
                        &owner,
                        state.version,
                        now,
                        now.saturating_add(LEASE_SECS),
                    )
                    .await?
                {
                    LeaseOutcome::Acquired => {
                        if let Some(held) = self.renew_jsapi(appid, &owner).await? {
                            return Ok(held);
                        }
                        continue;
                    }
                    LeaseOutcome::VersionChanged | LeaseOutcome::Missing => {
                        // Renewed (or dropped) meanwhile: re-read at once, within the budget.
                        backoff.check()?;
                        continue;
                    }
                    LeaseOutcome::Held => {}
                }
            }
            backoff.wait().await?;
        }
    }

    /// Under our lease: getticket → store. `None`: the lease was lost.
    async fn renew_jsapi(&self, appid: &str, owner: &str) -> Result<Option<Held>, TokenError> {
        let reply = self
            .with_authorizer_token(appid, |token| async move {
                self.wechat.jsapi_ticket(&token).await
            })
            .await;
        let fresh = match reply {
            Ok(fresh) => fresh,
            Err(e) => {
                self.release_jsapi(appid, owner).await;
                tracing::error!(appid, errcode = e.errcode(), error = %e, "jsapi_ticket renewal failed");
                if let TokenError::Wechat(w) = &e {
                    wechat_error_metric(w);
                }
                telemetry::count(
                    "TokenRenewals",
                    &[("Kind", "jsapi_ticket"), ("Outcome", "failed")],
                );
                return Err(e);
            }
        };
        let expires_at = self.clock.now().saturating_add(fresh.expires_in);
        let stored = store_with_retry("jsapi ticket", || {
            self.store
                .complete_jsapi_renewal(appid, owner, &fresh.ticket, expires_at)
        })
        .await;
        match stored {
            Ok(RenewalOutcome::Stored { version }) => {
                tracing::info!(
                    appid,
                    version,
                    expires_in = fresh.expires_in,
                    "jsapi_ticket renewed"
                );
                telemetry::count(
                    "TokenRenewals",
                    &[("Kind", "jsapi_ticket"), ("Outcome", "renewed")],
                );
                Ok(Some(Held {
                    token: fresh.ticket,
                    version,
                    renewed: true,
                }))
            }
            Ok(RenewalOutcome::LostLease) => {
                tracing::warn!(appid, "jsapi_ticket renewal lost its lease; re-reading");
                Ok(None)
            }
            Err(e) => {
                self.release_jsapi(appid, owner).await;
                Err(e.into())
            }
        }
    }

    async fn release_jsapi(&self, appid: &str, owner: &str) {
        if let Err(e) = self.store.release_jsapi_lease(appid, owner).await {
            tracing::warn!(appid, error = %e, "could not release the jsapi_ticket lease; it expires by itself");
        }
    }
}
