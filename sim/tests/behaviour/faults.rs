//! Fault injection: before any state change, at a seeded rate.

use std::time::Duration;

use wxopen_sim::{sandbox_openid, Fault, FaultSpec};

use crate::common::*;

const SEND: &str = "/cgi-bin/message/template/send";

#[tokio::test]
async fn busy_fault_answers_minus_one_and_changes_nothing() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    env.sim.set_fault(
        SEND,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Busy,
        },
    );
    let reply = env
        .template_send(&token, &sandbox_openid(1, 1), Some("id-1"))
        .await;
    assert_eq!(errcode(&reply), -1);
    assert!(env.sim.template_sends(A1).is_empty());
    env.sim.clear_faults();
    assert_eq!(
        errcode(
            &env.template_send(&token, &sandbox_openid(1, 1), Some("id-1"))
                .await
        ),
        0
    );
    let calls = env.sim.calls_to(SEND);
    assert_eq!(calls[0].fault.as_deref(), Some("busy"));
}

async fn pattern(seed: u64) -> Vec<i64> {
    let mut cfg = config();
    cfg.seed = seed;
    let env = env_with(cfg).await;
    let (_, token, _) = env.authorizer(A1).await;
    env.sim.set_fault(
        SEND,
        FaultSpec {
            rate: 0.5,
            kind: Fault::Busy,
        },
    );
    let mut out = Vec::new();
    for _ in 0..24 {
        out.push(errcode(
            &env.template_send(&token, &sandbox_openid(1, 1), None).await,
        ));
    }
    out
}

#[tokio::test]
async fn faults_are_deterministic_under_a_seed() {
    let a = pattern(42).await;
    assert_eq!(a, pattern(42).await);
    assert!(a.contains(&-1) && a.contains(&0), "{a:?}");
}

#[tokio::test]
async fn http5xx_fault_answers_500() {
    let env = env().await;
    env.sim.set_fault(
        "*",
        FaultSpec {
            rate: 1.0,
            kind: Fault::Http5xx,
        },
    );
    let resp = env
        .http
        .post(env.url(SEND))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
}

#[tokio::test]
async fn drop_fault_closes_the_connection_without_a_response() {
    let env = env().await;
    env.sim.set_fault(
        SEND,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Drop,
        },
    );
    let err = env
        .http
        .post(env.url(SEND))
        .body("{}")
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
}

#[tokio::test]
async fn timeout_fault_holds_the_request_past_the_client_timeout() {
    let env = env().await;
    env.sim.set_fault(
        SEND,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Timeout,
        },
    );
    let err = env
        .http
        .post(env.url(SEND))
        .timeout(Duration::from_millis(200))
        .body("{}")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
}

#[tokio::test]
async fn latency_fault_delays_but_answers() {
    let env = env().await;
    let (_, token, _) = env.authorizer(A1).await;
    env.sim.set_fault(
        SEND,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Latency(Duration::from_secs(5)),
        },
    );
    let late = env
        .http
        .post(format!("{}?access_token={token}", env.url(SEND)))
        .timeout(Duration::from_millis(200))
        .body("{}")
        .send()
        .await;
    assert!(late.unwrap_err().is_timeout());
    env.sim.set_fault(
        SEND,
        FaultSpec {
            rate: 1.0,
            kind: Fault::Latency(Duration::from_millis(1)),
        },
    );
    assert_eq!(
        errcode(&env.template_send(&token, &sandbox_openid(1, 1), None).await),
        0
    );
}
