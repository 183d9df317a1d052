//! The refresh sweep and the daily reconcile, end to end against the simulator,
//! on SQLite and DynamoDB.

use std::time::Duration;
use wxopen::secret::Secret;
use wxopen::service::refresh;
use wxopen::store::AuthorizerStatus;
use wxopen::wechat::paths;
use wxopen_tests::{on_both_stores, Backend, TestEnv};

const APPID: &str = "wx5add0a0000000001";
const OTHER: &str = "wx5add0a0000000002";

on_both_stores!(
    the_sweep_renews_tokens_due_within_the_margin_and_leaves_the_rest,
    a_refresh_token_revoked_without_a_push_leads_to_needs_reauth,
    reconcile_restores_a_lost_refresh_token,
    the_daily_reconcile_runs_once_a_day,
);

/// Issue #18, item 8: the sweep purges what expired a day ago (SQLite has no
/// TTL; on DynamoDB the table's TTL does it and the sweep purges nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_purges_records_expired_over_a_day_ago_on_sqlite() {
    // Given a push seen an hour's remembering ago, and one just now
    let env = TestEnv::start(Backend::Sqlite).await;
    env.deliver_ticket().await;
    let now = env.sim.now();
    let store = env.store();
    assert!(store.mark_push_seen("old", now, now + 3600).await.unwrap());
    env.sim
        .advance(Duration::from_secs(3600 + refresh::PURGE_GRACE_SECS));
    let later = env.sim.now();
    assert!(store
        .mark_push_seen("new", later, later + 3600)
        .await
        .unwrap());
    env.deliver_ticket().await;

    // When the sweep runs
    let report = refresh::run(&env.app).await.unwrap();

    // Then the old record was deleted and the new one kept (it still dedupes)
    assert_eq!(report.purged, 1, "{report:?}");
    assert!(!store
        .mark_push_seen("new", later, later + 3600)
        .await
        .unwrap());
    assert_eq!(refresh::run(&env.app).await.unwrap().purged, 0);
}

async fn the_sweep_renews_tokens_due_within_the_margin_and_leaves_the_rest(backend: Backend) {
    // Given two authorizers, one authorized 6,300 s ago (due within the 20 min margin) and one just now
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    env.sim.advance(Duration::from_secs(6300));
    env.authorized(OTHER).await;
    let component_before = env.sim.calls_to(paths::COMPONENT_TOKEN).len();
    let old = env
        .store()
        .get_authorizer(APPID)
        .await
        .unwrap()
        .unwrap()
        .token;

    // When the sweep runs
    let report = refresh::run(&env.app).await.unwrap();

    // Then the due one (and the due component token) is renewed, the fresh one untouched
    assert_eq!(report.renewed, vec![APPID.to_owned()], "{report:?}");
    assert!(
        report.failed.is_empty() && report.needs_reauth.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.component, "renewed");
    assert_eq!(
        env.sim.calls_to(paths::COMPONENT_TOKEN).len() - component_before,
        1
    );
    assert_eq!(env.sim.calls_to(paths::AUTHORIZER_TOKEN).len(), 1);
    let now = env
        .store()
        .get_authorizer(APPID)
        .await
        .unwrap()
        .unwrap()
        .token;
    assert!(now.version > old.version && now.expires_at > old.expires_at);
    // and a second sweep right after has nothing to do
    let again = refresh::run(&env.app).await.unwrap();
    assert!(again.renewed.is_empty(), "{again:?}");
    assert_eq!(again.component, "still_valid");
}

async fn a_refresh_token_revoked_without_a_push_leads_to_needs_reauth(backend: Backend) {
    // Given an authorizer whose revocation push was lost
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    env.lose_component_pushes();
    assert!(!env.sim.revoke(APPID).await.unwrap().delivered);
    env.sim.advance(Duration::from_secs(6300));

    // When the sweep tries to renew it (WeChat answers 61023)
    let report = refresh::run(&env.app).await.unwrap();

    // Then it is marked needs_reauth, its refresh token kept, and the next sweep leaves it alone
    assert_eq!(report.needs_reauth, vec![APPID.to_owned()], "{report:?}");
    let a = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizerStatus::NeedsReauth);
    assert!(a.refresh_token.is_some());
    let calls = env.sim.calls_to(paths::AUTHORIZER_TOKEN).len();
    let again = refresh::run(&env.app).await.unwrap();
    assert!(
        again.needs_reauth.is_empty() && again.renewed.is_empty(),
        "{again:?}"
    );
    assert_eq!(env.sim.calls_to(paths::AUTHORIZER_TOKEN).len(), calls);
    assert!(matches!(
        env.app.tokens.authorizer_token(APPID).await,
        Err(wxopen::tokens::TokenError::NeedsReauth(_))
    ));
}

async fn reconcile_restores_a_lost_refresh_token(backend: Backend) {
    // Given an authorizer whose stored refresh token was lost (overwritten with garbage)
    // and was therefore marked needs_reauth by a sweep
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;
    let good = env
        .store()
        .get_authorizer(APPID)
        .await
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap();
    env.store()
        .repair_refresh_token(APPID, &Secret::new("lost"), env.sim.now())
        .await
        .unwrap();
    env.sim.advance(Duration::from_secs(6300));
    let report = refresh::run(&env.app).await.unwrap();
    assert_eq!(report.needs_reauth, vec![APPID.to_owned()], "{report:?}");

    // When the reconcile runs
    let reconciled = refresh::reconcile(&env.app).await.unwrap();

    // Then the refresh token from WeChat's authorizer list is back, the authorizer active
    assert_eq!(
        reconciled.repaired,
        vec![APPID.to_owned()],
        "{reconciled:?}"
    );
    let a = env.store().get_authorizer(APPID).await.unwrap().unwrap();
    assert_eq!(a.status, AuthorizerStatus::Active);
    assert_eq!(a.refresh_token.as_ref(), Some(&good));
    // and the next sweep renews it
    let report = refresh::run(&env.app).await.unwrap();
    assert_eq!(report.renewed, vec![APPID.to_owned()], "{report:?}");
    // and a second reconcile has nothing to repair
    assert!(refresh::reconcile(&env.app)
        .await
        .unwrap()
        .repaired
        .is_empty());
}

async fn the_daily_reconcile_runs_once_a_day(backend: Backend) {
    // Given an authorized account
    let env = TestEnv::start(backend).await;
    env.authorized(APPID).await;

    // When the scheduled run happens several times in one day
    let first = refresh::scheduled(&env.app).await.unwrap();
    let second = refresh::scheduled(&env.app).await.unwrap();

    // Then only the first reconciles
    assert!(first.reconcile.is_some());
    assert!(second.reconcile.is_none());
    assert_eq!(env.sim.calls_to(paths::AUTHORIZER_LIST).len(), 1);

    // and the next day it runs again
    env.sim.advance(Duration::from_secs(86400));
    assert!(refresh::scheduled(&env.app)
        .await
        .unwrap()
        .reconcile
        .is_some());
}
