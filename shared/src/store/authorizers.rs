//! Authorizers (official accounts that authorized the platform) and their
//! tokens; the grant policy both backends follow when an authorization code
//! exchange is stored, and which authorizers the refresh sweep may renew.

use super::error::StoreResult;
use super::lease::{LeaseOutcome, RenewalOutcome};
use super::model::{
    AuthorizationGrant, Authorizer, AuthorizerProfile, AuthorizerStatus, Page, RenewedTokens,
    TokenState,
};
use crate::secret::Secret;
use async_trait::async_trait;

/// Result of storing an authorization-code exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOutcome {
    /// A new authorizer.
    Created,
    /// An existing authorizer re-authorized (new code): tokens replaced, status active.
    Updated,
    /// The same code was already exchanged and stored (push vs browser race); a
    /// tenant was bound if the record had none and one was given.
    AlreadyDone,
    /// Bound to another tenant: refused, nothing changed.
    TenantConflict { existing_tenant: String },
}

#[async_trait]
pub trait AuthorizerStore: Send + Sync {
    async fn get_authorizer(&self, appid: &str) -> StoreResult<Option<Authorizer>>;
    /// Store an exchange as [`plan_grant`] decides; idempotent by (appid, auth_code_hash).
    async fn put_grant(&self, grant: &AuthorizationGrant) -> StoreResult<GrantOutcome>;
    async fn set_profile(
        &self,
        appid: &str,
        profile: &AuthorizerProfile,
        now: u64,
    ) -> StoreResult<()>;
    /// Bind an unbound authorizer to a tenant; false if bound to another tenant or unknown.
    async fn bind_tenant(&self, appid: &str, tenant: &str, now: u64) -> StoreResult<bool>;
    async fn list_authorizers(
        &self,
        tenant: Option<&str>,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>>;
    /// [`renewable`] authorizers whose token expires at or before `due_before`,
    /// through the sparse due index, each read whole (consistently), so a sweep
    /// needs no further read before taking a renewal lease.
    async fn due_authorizers(
        &self,
        due_before: u64,
        cursor: Option<&str>,
        limit: u32,
    ) -> StoreResult<Page<Authorizer>>;
    async fn acquire_authorizer_lease(
        &self,
        appid: &str,
        owner: &str,
        expected_version: u64,
        now: u64,
        lease_until: u64,
    ) -> StoreResult<LeaseOutcome>;
    async fn complete_authorizer_renewal(
        &self,
        appid: &str,
        owner: &str,
        tokens: &RenewedTokens,
        now: u64,
    ) -> StoreResult<RenewalOutcome>;
    async fn release_authorizer_lease(&self, appid: &str, owner: &str) -> StoreResult<()>;
    async fn invalidate_authorizer_token(&self, appid: &str, version: u64) -> StoreResult<bool>;
    /// `unauthorized`: status revoked, access and refresh tokens erased, the
    /// version moved on and the lease cleared (a renewal in flight writes
    /// nothing back). False if unknown.
    async fn revoke_authorizer(&self, appid: &str, now: u64) -> StoreResult<bool>;
    /// 61023: status needs_reauth, tokens kept for the reconcile job. False if unknown.
    async fn mark_needs_reauth(&self, appid: &str, now: u64) -> StoreResult<bool>;
    /// Reconcile: set the refresh token if missing or different, the status
    /// becoming [`repaired_status`]. Creates nothing. Returns whether it changed.
    async fn repair_refresh_token(
        &self,
        appid: &str,
        refresh_token: &Secret,
        now: u64,
    ) -> StoreResult<bool>;
}

/// The token version a new authorizer is stored with: its first tokens count
/// as one completed renewal, as every later one does (`version + 1`).
pub const GRANTED_TOKEN_VERSION: u64 = 1;

/// What is stored of an authorizer that decides a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedGrant<'a> {
    pub tenant: Option<&'a str>,
    pub last_auth_code_hash: Option<&'a str>,
}

/// What storing a grant comes to, decided from the record as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantPlan {
    /// No record: store [`granted_authorizer`].
    Create,
    /// This code was stored already (the push and the browser both bring it):
    /// no tokens are written; `bind` is the tenant to bind to an unbound record.
    AlreadyDone { bind: Option<String> },
    /// A new code: replace the tokens (version + 1, lease cleared), reactivate,
    /// and bind `bind` to an unbound record.
    Replace { bind: Option<String> },
    /// Bound to another tenant: refused, nothing written.
    Conflict { existing_tenant: String },
}

impl GrantPlan {
    /// What the caller is told once the plan is carried out.
    pub fn outcome(&self) -> GrantOutcome {
        match self {
            GrantPlan::Create => GrantOutcome::Created,
            GrantPlan::AlreadyDone { .. } => GrantOutcome::AlreadyDone,
            GrantPlan::Replace { .. } => GrantOutcome::Updated,
            GrantPlan::Conflict { existing_tenant } => GrantOutcome::TenantConflict {
                existing_tenant: existing_tenant.clone(),
            },
        }
    }
}

/// The grant policy: a record bound to another tenant refuses; the code it
/// already holds is done (binding a tenant if it had none); a new code
/// replaces the tokens. A grant without a tenant never unbinds one.
pub fn plan_grant(recorded: Option<RecordedGrant<'_>>, grant: &AuthorizationGrant) -> GrantPlan {
    let Some(recorded) = recorded else {
        return GrantPlan::Create;
    };
    if let (Some(bound), Some(wanted)) = (recorded.tenant, grant.tenant.as_deref()) {
        if bound != wanted {
            return GrantPlan::Conflict {
                existing_tenant: bound.to_owned(),
            };
        }
    }
    let bind = match recorded.tenant {
        None => grant.tenant.clone(),
        Some(_) => None,
    };
    if recorded.last_auth_code_hash == Some(grant.auth_code_hash.as_str()) {
        GrantPlan::AlreadyDone { bind }
    } else {
        GrantPlan::Replace { bind }
    }
}

/// The authorizer a first grant creates.
pub fn granted_authorizer(grant: &AuthorizationGrant) -> Authorizer {
    Authorizer {
        appid: grant.appid.clone(),
        tenant: grant.tenant.clone(),
        status: AuthorizerStatus::Active,
        refresh_token: Some(grant.refresh_token.clone()),
        token: TokenState {
            access_token: Some(grant.access_token.clone()),
            expires_at: grant.expires_at,
            version: GRANTED_TOKEN_VERSION,
            lease_owner: None,
            lease_until: 0,
        },
        func_info: grant.func_info.clone(),
        profile: AuthorizerProfile::default(),
        last_auth_code_hash: Some(grant.auth_code_hash.clone()),
        authorized_at: grant.now,
        updated_at: grant.now,
    }
}

/// Whether the refresh sweep may renew this authorizer's token: active, with a
/// refresh token. Exactly these are in the due index (DynamoDB's sparse `gsi1`
/// entry, SQLite's partial index `authorizer_due`).
pub fn renewable(status: AuthorizerStatus, has_refresh_token: bool) -> bool {
    status == AuthorizerStatus::Active && has_refresh_token
}

/// The status after the reconcile repaired a refresh token: an authorizer that
/// needed re-authorization is active again; a revoked one stays revoked (only a
/// new authorization revives it).
pub fn repaired_status(status: AuthorizerStatus) -> AuthorizerStatus {
    match status {
        AuthorizerStatus::NeedsReauth => AuthorizerStatus::Active,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(tenant: Option<&str>, code: &str) -> AuthorizationGrant {
        AuthorizationGrant {
            appid: "wx1".into(),
            tenant: tenant.map(Into::into),
            auth_code_hash: code.into(),
            access_token: Secret::new("a"),
            expires_at: 10,
            refresh_token: Secret::new("r"),
            func_info: vec![1],
            now: 5,
        }
    }

    fn recorded<'a>(tenant: Option<&'a str>, code: &'a str) -> Option<RecordedGrant<'a>> {
        Some(RecordedGrant {
            tenant,
            last_auth_code_hash: Some(code),
        })
    }

    #[test]
    fn a_first_grant_creates_an_active_authorizer_at_the_granted_version() {
        assert_eq!(plan_grant(None, &grant(None, "c")), GrantPlan::Create);
        let a = granted_authorizer(&grant(Some("t"), "c"));
        assert_eq!(
            (a.status, a.token.version, a.tenant.as_deref()),
            (AuthorizerStatus::Active, GRANTED_TOKEN_VERSION, Some("t"))
        );
        assert_eq!(GRANTED_TOKEN_VERSION, 1);
    }

    #[test]
    fn the_stored_code_is_done_and_binds_only_an_unbound_record() {
        assert_eq!(
            plan_grant(recorded(None, "c"), &grant(Some("t"), "c")),
            GrantPlan::AlreadyDone {
                bind: Some("t".into())
            }
        );
        assert_eq!(
            plan_grant(recorded(Some("t"), "c"), &grant(Some("t"), "c")),
            GrantPlan::AlreadyDone { bind: None }
        );
        assert_eq!(
            plan_grant(recorded(Some("t"), "c"), &grant(None, "c")),
            GrantPlan::AlreadyDone { bind: None }
        );
    }

    #[test]
    fn a_new_code_replaces_and_another_tenant_conflicts_whatever_the_code() {
        assert_eq!(
            plan_grant(recorded(Some("t"), "c1"), &grant(None, "c2")),
            GrantPlan::Replace { bind: None }
        );
        assert_eq!(
            plan_grant(recorded(None, "c1"), &grant(Some("t"), "c2")),
            GrantPlan::Replace {
                bind: Some("t".into())
            }
        );
        for code in ["c1", "c2"] {
            let plan = plan_grant(recorded(Some("t"), "c1"), &grant(Some("u"), code));
            assert_eq!(
                plan.outcome(),
                GrantOutcome::TenantConflict {
                    existing_tenant: "t".into()
                }
            );
        }
    }

    #[test]
    fn only_active_authorizers_with_a_refresh_token_are_renewable() {
        assert!(renewable(AuthorizerStatus::Active, true));
        assert!(!renewable(AuthorizerStatus::Active, false));
        assert!(!renewable(AuthorizerStatus::NeedsReauth, true));
        assert!(!renewable(AuthorizerStatus::Revoked, true));
    }

    #[test]
    fn a_repair_reactivates_needs_reauth_but_never_a_revoked_authorizer() {
        assert_eq!(
            repaired_status(AuthorizerStatus::NeedsReauth),
            AuthorizerStatus::Active
        );
        assert_eq!(
            repaired_status(AuthorizerStatus::Revoked),
            AuthorizerStatus::Revoked
        );
        assert_eq!(
            repaired_status(AuthorizerStatus::Active),
            AuthorizerStatus::Active
        );
    }
}
