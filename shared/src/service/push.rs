//! What happens on a verified, decrypted WeChat push (design.md §2; wechat-api.md
//! §4, §6, §7). Everything is done before the answer is returned: a Lambda is
//! frozen once it has answered, so no work may be left running.

use crate::app::App;
use crate::domain::StopReason;
use crate::secret::Secret;
use crate::service::authorization::{self, hash_code, ExchangeError};
use crate::service::events;
use crate::store::{
    ChunkRef, ConsumeOutcome, FinishEvent, JobState, PreAuth, StoreError, TicketWrite,
};
use crate::telemetry;
use crate::wechat::{CustomMessage, MessageContent};
use crate::xml::{Authorization, AuthorizerMessage, ComponentPush, MessageKind, PassiveReply};
use std::collections::{BTreeMap, BTreeSet};

/// The official accounts and mini programs WeChat's full-network release test
/// uses (wechat-api.md §7): always accepted on the authorizer URL, answered built in.
pub const RELEASE_TEST_APPIDS: [&str; 10] = [
    "wx570bc396a51b8ff8",
    "wx9252c5e0bb1836fc",
    "wx8e1097c5bc82cde9",
    "wx14550af28c71a144",
    "wxa35b9c23cfe664eb",
    "wxd101a85aa106f53e",
    "wxc39235c15087f6f3",
    "wx7720d01d4b2a4500",
    "wx05d483572dcd5d8b",
    "wx5910277cae6fd970",
];

/// The release test's text message and the reply it expects.
const RELEASE_TEXT: &str = "TESTCOMPONENT_MSG_TYPE_TEXT";
const RELEASE_TEXT_REPLY: &str = "TESTCOMPONENT_MSG_TYPE_TEXT_callback";
const RELEASE_QUERY_AUTH_PREFIX: &str = "QUERY_AUTH_CODE:";

/// How long finish events are kept (design.md §4: 30 days).
const FINISH_EVENT_TTL_SECS: u64 = 30 * 86400;
/// How long a push is remembered to drop WeChat's retries (design.md §4: 1 h).
const SEEN_TTL_SECS: u64 = 3600;
/// Queued chunks looked at when an authorizer revokes (its jobs are stopped).
const REVOKE_SCAN_LIMIT: u32 = 1000;
/// An `AuthorizationCodeExpiredTime` below this is a lifetime in seconds, not a unix time.
const ABSOLUTE_TIME_FLOOR: i64 = 1_000_000_000;

/// What to answer WeChat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushReply {
    /// Plain `success`.
    Success,
    /// An empty body (the release test's QUERY_AUTH_CODE step).
    Empty,
    /// A passive reply, to be encrypted by the handler.
    Reply {
        to_user: String,
        from_user: String,
        reply: PassiveReply,
    },
}

/// The push could not be handled now; answering an error makes WeChat retry.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("authorization code exchange failed for now")]
    Exchange(#[source] ExchangeError),
}

/// An account that may receive pushes on the authorizer URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushAccount {
    /// One of WeChat's release-test accounts.
    ReleaseTest,
    /// One of our authorizers, with its gh_ id when its profile is known, and
    /// the tenant its events belong to.
    Authorizer {
        user_name: Option<String>,
        tenant: Option<String>,
    },
}

impl PushAccount {
    /// The tenant the account's events belong to (its binding now).
    pub fn tenant(&self) -> Option<&str> {
        match self {
            PushAccount::ReleaseTest => None,
            PushAccount::Authorizer { tenant, .. } => tenant.as_deref(),
        }
    }
}

/// The account `appid` of the authorizer URL, if it may receive pushes there:
/// one of ours, or a release-test account.
pub async fn authorizer_account(app: &App, appid: &str) -> Result<Option<PushAccount>, StoreError> {
    if is_release_test_account(appid) {
        return Ok(Some(PushAccount::ReleaseTest));
    }
    Ok(app
        .store
        .get_authorizer(appid)
        .await?
        .map(|a| PushAccount::Authorizer {
            user_name: a.profile.user_name,
            tenant: a.tenant,
        }))
}

pub fn is_release_test_account(appid: &str) -> bool {
    RELEASE_TEST_APPIDS.contains(&appid)
}

/// A push to the authorization-event URL.
pub async fn on_component_push(app: &App, push: ComponentPush) -> Result<PushReply, PushError> {
    match push {
        ComponentPush::ComponentVerifyTicket {
            create_time,
            ticket,
            ..
        } => {
            telemetry::count("Pushes", &[("Type", "component_verify_ticket")]);
            let outcome = app
                .store
                .put_ticket_if_newer(&ticket, create_time, app.now())
                .await?;
            match outcome {
                TicketWrite::Stored => {
                    tracing::info!(create_time, "component_verify_ticket stored")
                }
                TicketWrite::Stale => tracing::info!(
                    create_time,
                    "component_verify_ticket older than the stored one; kept the newer"
                ),
            }
        }
        ComponentPush::Authorized(a) => {
            telemetry::count("Pushes", &[("Type", "authorized")]);
            on_authorization(app, &a).await?;
        }
        ComponentPush::UpdateAuthorized(a) => {
            telemetry::count("Pushes", &[("Type", "updateauthorized")]);
            on_authorization(app, &a).await?;
        }
        ComponentPush::Unauthorized {
            authorizer_appid,
            create_time,
            ..
        } => {
            telemetry::count("Pushes", &[("Type", "unauthorized")]);
            on_unauthorized(app, &authorizer_appid, create_time).await?;
        }
        ComponentPush::Unknown { info_type, .. } => {
            telemetry::count("Pushes", &[("Type", "other")]);
            tracing::info!(info_type, "push of an InfoType we do not act on");
        }
    }
    Ok(PushReply::Success)
}

async fn on_authorization(app: &App, a: &Authorization) -> Result<(), PushError> {
    let appid = a.authorizer_appid.as_str();
    if code_expired(a, app.now()) {
        tracing::warn!(
            appid,
            "authorization push carries an expired code; nothing to exchange"
        );
        return Ok(());
    }
    let preauth = match &a.pre_auth_code {
        Some(code) => authorization::preauth_of(app, code).await?,
        None => None,
    };
    let tenant = match preauth {
        Some(preauth) => link_tenant(app, a, preauth).await?,
        None => None,
    };
    match authorization::exchange_pushed_code(app, appid, &a.authorization_code, tenant.as_deref())
        .await
    {
        Ok(done) => {
            tracing::info!(appid, outcome = ?done.outcome, "authorization push handled");
            Ok(())
        }
        Err(ExchangeError::TenantConflict { .. }) => Ok(()),
        Err(e) if e.is_transient() => {
            tracing::warn!(appid, errcode = exchange_errcode(&e), error = %e, "authorization push: exchange failed for now; WeChat will retry");
            Err(PushError::Exchange(e))
        }
        Err(e) => {
            tracing::error!(appid, errcode = exchange_errcode(&e), error = %e, "authorization push: code refused");
            Ok(())
        }
    }
}

/// The tenant of the link an authorization started from, if this account may
/// take it: one link binds at most one account. The code is noted as the
/// link's (so it completes no other link), then the link is used up by this
/// account; a link already used by another account, or expired, binds
/// nothing: the grant is kept, unbound (the merchant saw "already used").
/// Pre-auth mappings outlive their link's use, so without this a second
/// browser that approved through the same link was bound by this push.
async fn link_tenant(
    app: &App,
    a: &Authorization,
    preauth: PreAuth,
) -> Result<Option<String>, StoreError> {
    let appid = a.authorizer_appid.as_str();
    // WeChat used this link's pre_auth_code up: its next view needs a new one.
    app.preauth_codes.forget(&preauth.link_id);
    authorization::note_link_of_code(app, &a.authorization_code, &preauth.link_id).await?;
    match app
        .store
        .consume_link(&preauth.link_id, appid, app.now())
        .await?
    {
        ConsumeOutcome::Consumed(_) => Ok(Some(preauth.tenant)),
        ConsumeOutcome::AlreadyUsed(link) if link.used_by.as_deref() == Some(appid) => {
            Ok(Some(preauth.tenant))
        }
        ConsumeOutcome::AlreadyUsed(_) => {
            tracing::warn!(appid, link = %preauth.link_id, "authorized through a link another account used: left unbound");
            Ok(None)
        }
        ConsumeOutcome::Expired | ConsumeOutcome::NotFound => {
            tracing::warn!(appid, link = %preauth.link_id, "authorized through a link that expired: left unbound");
            Ok(None)
        }
    }
}

fn exchange_errcode(e: &ExchangeError) -> Option<i64> {
    match e {
        ExchangeError::Token(t) => t.errcode(),
        _ => None,
    }
}

/// The push field may be an absolute unix time or a lifetime (sources disagree).
fn code_expired(a: &Authorization, now: u64) -> bool {
    let t = a.authorization_code_expired_time;
    let expires_at = if t < ABSOLUTE_TIME_FLOOR {
        a.create_time.saturating_add(t)
    } else {
        t
    };
    i64::try_from(now).is_ok_and(|now| expires_at > 0 && now >= expires_at)
}

/// Revokes `appid`, unless it was authorized again after WeChat created this
/// push (`CreateTime`): a late or replayed `unauthorized` (inside the replay
/// window the signature cannot tell) must not undo a newer authorization.
async fn on_unauthorized(app: &App, appid: &str, create_time: i64) -> Result<(), StoreError> {
    let now = app.now();
    if let Some(a) = app.store.get_authorizer(appid).await? {
        if revocation_is_stale(create_time, a.authorized_at) {
            tracing::warn!(
                appid,
                create_time,
                authorized_at = a.authorized_at,
                "unauthorized push older than the account's last authorization; ignored"
            );
            return Ok(());
        }
    }
    let tenant = events::tenant_of(app, appid).await?;
    if !app.store.revoke_authorizer(appid, now).await? {
        tracing::info!(appid, "unauthorized push for an account we do not know");
        return Ok(());
    }
    // After the revoke: no renewal can store a ticket again (it checks the
    // status first), and a revoked account is never handed one that remains.
    app.store.delete_jsapi_ticket(appid).await?;
    // The push's CreateTime makes WeChat's retry of it the same event.
    let event = events::model::lifecycle(
        "authorizer.revoked",
        appid,
        tenant,
        &create_time.to_string(),
        events::record::appid_data(appid, &[]),
        now,
    );
    events::record(app.store.as_ref(), &event).await?;
    let stopped = stop_queued_sends(app, appid, now).await?;
    tracing::info!(
        appid,
        stopped_jobs = stopped,
        "authorizer revoked; tokens and jsapi_ticket erased"
    );
    Ok(())
}

/// Whether an `unauthorized` push created at `create_time` predates the
/// authorization at `authorized_at`. Within one second the two cannot be
/// ordered; the revocation wins, as WeChat refuses the tokens of a revoked
/// account anyway and the merchant can authorize again.
fn revocation_is_stale(create_time: i64, authorized_at: u64) -> bool {
    u64::try_from(create_time).map_or(true, |t| t < authorized_at)
}

/// Stops every job with queued chunks for `appid`; chunks being worked right now
/// stop at their next token request (the authorizer is revoked).
async fn stop_queued_sends(app: &App, appid: &str, now: u64) -> Result<usize, StoreError> {
    let chunks: Vec<ChunkRef> = app.store.claimable_chunks(now, REVOKE_SCAN_LIMIT).await?;
    let mut jobs = BTreeSet::new();
    for chunk in chunks {
        if jobs.contains(&chunk.job_id) {
            continue;
        }
        if let Some(job) = app.store.get_job(&chunk.job_id, now).await? {
            if job.appid == appid && matches!(job.state, JobState::Queued | JobState::Running) {
                jobs.insert(chunk.job_id);
            }
        }
    }
    for job_id in &jobs {
        app.store
            .set_job_state(
                job_id,
                JobState::Stopped,
                Some(&StopReason::AuthorizerRevoked),
            )
            .await?;
    }
    Ok(jobs.len())
}

/// A push to an authorizer's message URL (`appid` from the path, already
/// accepted as `account`).
pub async fn on_authorizer_push(
    app: &App,
    appid: &str,
    account: &PushAccount,
    message: AuthorizerMessage,
) -> Result<PushReply, PushError> {
    let tenant = account.tenant();
    match &message.kind {
        MessageKind::TemplateSendJobFinish { msg_id, status } => {
            telemetry::count("Pushes", &[("Type", "TEMPLATESENDJOBFINISH")]);
            let event = finish_event(
                app,
                appid,
                &message,
                *msg_id,
                "template",
                status,
                Some(message.from_user_name.clone()),
                BTreeMap::new(),
            );
            store_finish_event(app, event).await?;
            record_push_event(app, appid, tenant, &message).await?;
            Ok(PushReply::Success)
        }
        MessageKind::MassSendJobFinish {
            msg_id,
            status,
            total_count,
            filter_count,
            sent_count,
            error_count,
            ..
        } => {
            telemetry::count("Pushes", &[("Type", "MASSSENDJOBFINISH")]);
            let counts = BTreeMap::from([
                ("TotalCount".to_owned(), *total_count),
                ("FilterCount".to_owned(), *filter_count),
                ("SentCount".to_owned(), *sent_count),
                ("ErrorCount".to_owned(), *error_count),
            ]);
            let event = finish_event(app, appid, &message, *msg_id, "mass", status, None, counts);
            store_finish_event(app, event).await?;
            record_push_event(app, appid, tenant, &message).await?;
            Ok(PushReply::Success)
        }
        _ => {
            telemetry::count("Pushes", &[("Type", push_type(&message))]);
            if is_release_test_account(appid) {
                if !first_delivery(app, appid, &message).await? {
                    tracing::info!(appid, msg_type = %message.msg_type, "WeChat retried a push we already handled");
                    return Ok(PushReply::Success);
                }
                return Ok(release_test_reply(app, appid, &message).await);
            }
            let (event, targets) = record_push_event(app, appid, tenant, &message).await?;
            match events::reply::ask(app, &event, &targets).await {
                Some(reply) => Ok(PushReply::Reply {
                    to_user: message.from_user_name.clone(),
                    from_user: message.to_user_name.clone(),
                    reply,
                }),
                None => Ok(PushReply::Success),
            }
        }
    }
}

/// The push as an event, stored before WeChat is answered (a store failure
/// answers an error, so WeChat retries; its retry is the same event).
async fn record_push_event(
    app: &App,
    appid: &str,
    tenant: Option<&str>,
    message: &AuthorizerMessage,
) -> Result<(crate::store::EventRecord, Vec<crate::store::Webhook>), StoreError> {
    let event = events::model::from_push(appid, tenant.map(str::to_owned), message, app.now());
    let (new, targets) =
        events::record::record_for(app.store.as_ref(), &event, app.announcer.reserve()).await?;
    if !new {
        tracing::info!(appid, event_id = %event.id, "WeChat retried a push we already recorded");
    }
    Ok((event, targets))
}

fn push_type(message: &AuthorizerMessage) -> &'static str {
    match &message.kind {
        MessageKind::Text { .. } => "text",
        MessageKind::Image { .. } => "image",
        MessageKind::Voice { .. } => "voice",
        MessageKind::Event { .. } => "event",
        _ => "other",
    }
}

#[allow(clippy::too_many_arguments)]
fn finish_event(
    app: &App,
    appid: &str,
    message: &AuthorizerMessage,
    msg_id: i64,
    kind: &str,
    status: &str,
    openid: Option<String>,
    counts: BTreeMap<String, i64>,
) -> Option<FinishEvent> {
    let Ok(msg_id) = u64::try_from(msg_id) else {
        tracing::warn!(appid, msg_id, "finish event with a negative MsgID; ignored");
        return None;
    };
    Some(FinishEvent {
        appid: appid.to_owned(),
        msg_id,
        kind: kind.to_owned(),
        status: status.to_owned(),
        openid,
        counts,
        create_time: message.create_time,
        expires_at: app.now().saturating_add(FINISH_EVENT_TTL_SECS),
    })
}

/// Stored by (appid, MsgID): a retry of the same event overwrites it with the same content.
async fn store_finish_event(app: &App, event: Option<FinishEvent>) -> Result<(), StoreError> {
    if let Some(event) = event {
        app.store.put_finish_event(&event).await?;
        tracing::info!(appid = %event.appid, msg_id = event.msg_id, kind = %event.kind, status = %event.status, "finish event stored");
    }
    Ok(())
}

/// False when WeChat retries a push we already handled: messages are told apart
/// by MsgId, events by FromUserName + CreateTime (wechat-api.md §6).
async fn first_delivery(
    app: &App,
    appid: &str,
    message: &AuthorizerMessage,
) -> Result<bool, StoreError> {
    let identity = match message.msg_id {
        Some(id) => format!("msg\n{appid}\n{id}"),
        None => format!(
            "event\n{appid}\n{}\n{}",
            message.from_user_name, message.create_time
        ),
    };
    let now = app.now();
    app.store
        .mark_push_seen(
            &hash_code(&identity),
            now,
            now.saturating_add(SEEN_TTL_SECS),
        )
        .await
}

/// The built-in answers of the full-network release test (wechat-api.md §7).
async fn release_test_reply(app: &App, appid: &str, message: &AuthorizerMessage) -> PushReply {
    let reply = |content: String| PushReply::Reply {
        to_user: message.from_user_name.clone(),
        from_user: message.to_user_name.clone(),
        reply: PassiveReply::Text { content },
    };
    match &message.kind {
        MessageKind::Text { content } if content == RELEASE_TEXT => {
            reply(RELEASE_TEXT_REPLY.to_owned())
        }
        MessageKind::Text { content } => match content.strip_prefix(RELEASE_QUERY_AUTH_PREFIX) {
            Some(code) => {
                answer_query_auth_code(app, appid, &message.from_user_name, code).await;
                PushReply::Empty
            }
            None => PushReply::Success,
        },
        MessageKind::Event { event, .. } => reply(format!("{event}from_callback")),
        _ => PushReply::Success,
    }
}

/// QUERY_AUTH_CODE:<code>: exchange the code and send `<code>_from_api` to the
/// tester with the token obtained. Done before answering (well inside WeChat's
/// 5 s); the test accounts are not stored as authorizers.
async fn answer_query_auth_code(app: &App, appid: &str, openid: &str, code: &str) {
    let cappid = app.config.component_appid.as_str();
    let secret_code = Secret::new(code);
    let queried = app
        .tokens
        .with_component_token(|token| {
            let secret_code = &secret_code;
            async move { app.wechat.query_auth(&token, cappid, secret_code).await }
        })
        .await;
    let info = match queried {
        Ok(info) => info,
        Err(e) => {
            tracing::error!(appid, errcode = e.errcode(), error = %e, "release test: api_query_auth failed");
            return;
        }
    };
    let message = CustomMessage {
        touser: openid.to_owned(),
        message: MessageContent::text(format!("{code}_from_api")),
        kf_account: None,
    };
    match app
        .wechat
        .custom_send(&info.authorizer_access_token, &message)
        .await
    {
        Ok(()) => tracing::info!(
            appid,
            "release test: QUERY_AUTH_CODE answered through the API"
        ),
        Err(e) => {
            tracing::error!(appid, errcode = e.errcode(), error = %e, "release test: custom message failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unauthorized_push_created_after_the_last_authorization_revokes() {
        assert!(revocation_is_stale(1_000, 1_010));
        assert!(revocation_is_stale(-1, 1_010));
        assert!(!revocation_is_stale(1_010, 1_010));
        assert!(!revocation_is_stale(1_011, 1_010));
    }

    fn auth(create_time: i64, expired_time: i64) -> Authorization {
        Authorization {
            app_id: "c".into(),
            create_time,
            authorizer_appid: "a".into(),
            authorization_code: Secret::new("x"),
            authorization_code_expired_time: expired_time,
            pre_auth_code: None,
        }
    }

    #[test]
    fn code_expiry_accepts_absolute_and_relative_times() {
        let now = 1_700_000_000;
        assert!(!code_expired(&auth(1_700_000_000, 1_700_003_600), now));
        assert!(code_expired(&auth(1_690_000_000, 1_690_003_600), now));
        assert!(!code_expired(&auth(1_700_000_000, 3600), now));
        assert!(code_expired(&auth(1_600_000_000, 3600), now));
    }

    #[test]
    fn release_test_accounts_are_recognised() {
        assert!(is_release_test_account("wx570bc396a51b8ff8"));
        assert!(is_release_test_account("wx5910277cae6fd970"));
        assert!(!is_release_test_account("wx5add0a0000000001"));
    }
}
