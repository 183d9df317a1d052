//! The metric lines real runs emit: template sends counted by outcome once per
//! batch, the queued-chunks backlog from every sweep, and the stale-ticket alarm.
//!
//! `wxopen::telemetry::captured` holds the lines of the whole process, so these
//! tests are a binary of their own (the end-to-end suite would emit into them),
//! take their turn one at a time, and each reads only the lines emitted after its
//! turn began.

use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};
use wxopen::service::refresh;
use wxopen::telemetry::{self, MetricSink};
use wxopen_tests::{on_both_stores, Backend, TestEnv};

const APPID: &str = "wx5add0a0000000001";

on_both_stores!(a_stale_ticket_raises_an_alarm_and_a_metric);

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// This test's view of the process's metric lines.
struct Metrics {
    from: usize,
    _turn: MutexGuard<'static, ()>,
}

impl Metrics {
    async fn capture() -> Self {
        let turn = ONE_AT_A_TIME.lock().await;
        telemetry::set_metric_sink(MetricSink::Capture);
        Metrics {
            from: telemetry::captured().len(),
            _turn: turn,
        }
    }

    /// The lines emitted since this test's turn began, parsed.
    fn lines(&self) -> Vec<serde_json::Value> {
        telemetry::captured()[self.from..]
            .iter()
            .map(|l| serde_json::from_str(l).expect("an EMF line is JSON"))
            .collect()
    }
}

async fn a_stale_ticket_raises_an_alarm_and_a_metric(backend: Backend) {
    // Given ticket pushes stopped arriving 31 minutes ago
    let metrics = Metrics::capture().await;
    let env = TestEnv::start(backend).await;
    env.deliver_ticket().await;
    env.lose_component_pushes();
    env.sim.advance(Duration::from_secs(31 * 60));

    // When the sweep runs
    let report = refresh::run(&env.app).await.unwrap();

    // Then it reports the alarm and emits the ticket age metric
    assert!(report.ticket_alarm, "{report:?}");
    assert!(
        report.ticket_age_secs.is_some_and(|age| age >= 31 * 60),
        "{report:?}"
    );
    let lines = metrics.lines();
    let ages: Vec<f64> = lines
        .iter()
        .filter(|l| l["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "wxopen")
        .filter_map(|l| l["TicketAgeSeconds"].as_f64())
        .collect();
    assert!(
        matches!(ages.as_slice(), [age] if *age >= 31.0 * 60.0),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.get("TicketStale").is_some()),
        "{lines:?}"
    );
}

/// The two metrics the dashboard added come from real runs: template sends
/// counted by outcome once per batch, and the backlog from every sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_by_outcome_and_the_queued_chunks_backlog_are_emitted() {
    let metrics = Metrics::capture().await;
    let env = TestEnv::start(Backend::Sqlite).await;
    env.authorized(APPID).await;
    let followers = env.sim.followers(APPID);
    let template = env.sim.config().accounts[0].templates[0]
        .template_id
        .clone();
    let send = wxopen::service::send::TemplateSend {
        message: serde_json::from_value(serde_json::json!({
            "touser": "",
            "template_id": template,
            "data": {"first": {"value": "hello"}},
        }))
        .expect("a template message"),
        recipients: vec![
            followers[0].clone(),
            followers[1].clone(),
            "oNotAFollowerOfThisAccount0001".to_owned(),
        ],
    };
    let report = wxopen::service::send::send_inline(&env.app, APPID, send, "metrics-seed")
        .await
        .expect("sent");
    let statuses: Vec<String> = report
        .results
        .iter()
        .map(|r| {
            serde_json::to_value(r.status)
                .expect("a status")
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(statuses, vec!["sent", "sent", "failed"]);
    let sends = |outcome: &str| -> Vec<f64> {
        metrics
            .lines()
            .iter()
            .filter(|v| v["Outcome"] == outcome)
            .filter_map(|v| v["Sends"].as_f64())
            .collect()
    };
    assert_eq!(sends("sent"), vec![2.0], "{:?}", metrics.lines());
    assert_eq!(sends("failed"), vec![1.0], "{:?}", metrics.lines());

    refresh::run(&env.app).await.expect("a sweep");
    let backlog: Vec<f64> = metrics
        .lines()
        .iter()
        .filter_map(|v| v["QueuedChunks"].as_f64())
        .collect();
    assert_eq!(backlog, vec![0.0], "{:?}", metrics.lines());
}
