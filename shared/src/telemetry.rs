//! Structured JSON logs (tracing) and metrics as CloudWatch embedded-metric-format
//! (EMF) lines on stdout, namespace `wxopen`.
//!
//! Log fields carry request ids, appids and WeChat errcodes, never a secret or a
//! token: every credential travels as [`crate::secret::Secret`], which prints `***`.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "wxopen";

/// Installs the JSON log subscriber: level from `RUST_LOG` (default `info`).
/// Safe to call more than once (later calls do nothing).
pub fn init() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_target(false),
        )
        .with(filter)
        .try_init();
}

/// `RUST_LOG` as per-target levels (`info`, `warn,wxopen=debug`); unset or
/// unreadable means `info`, so a typo never silences the logs.
fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};

    rust_log
        .filter(|value| !value.trim().is_empty())
        .and_then(|value| value.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// CloudWatch metric units used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Where metric lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricSink {
    /// One EMF JSON line per metric on stdout (the default; CloudWatch reads it).
    Stdout,
    /// Kept in memory for [`captured`] (tests).
    Capture,
    /// Dropped (benchmarks that measure the handler alone).
    Off,
}

static SINK: Mutex<MetricSink> = Mutex::new(MetricSink::Stdout);
static CAPTURED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Chooses where [`metric`] writes, for the whole process.
pub fn set_metric_sink(sink: MetricSink) {
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = sink;
}

/// The metric lines captured so far (with [`MetricSink::Capture`]).
pub fn captured() -> Vec<String> {
    CAPTURED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Emits one metric as an EMF line: `name` = `value` in `unit`, with dimensions `dims`.
pub fn metric(name: &str, value: f64, unit: Unit, dims: &[(&str, &str)]) {
    let sink = *SINK.lock().unwrap_or_else(|e| e.into_inner());
    if sink == MetricSink::Off {
        return;
    }
    let line = emf_line(name, value, unit, dims, now_millis());
    match sink {
        MetricSink::Stdout => {
            // Write errors (a closed stdout) must not take a request down.
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        MetricSink::Capture => CAPTURED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line),
        MetricSink::Off => {}
    }
}

/// A counter increment of 1.
pub fn count(name: &str, dims: &[(&str, &str)]) {
    metric(name, 1.0, Unit::Count, dims);
}

/// The EMF document for one metric, as one line.
pub fn emf_line(
    name: &str,
    value: f64,
    unit: Unit,
    dims: &[(&str, &str)],
    timestamp_ms: u64,
) -> String {
    let dimension_names: Vec<&str> = dims.iter().map(|(k, _)| *k).collect();
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimension_names],
                "Metrics": [{"Name": name, "Unit": unit.as_str()}],
            }],
        },
    });
    if let Some(obj) = doc.as_object_mut() {
        for (k, v) in dims {
            obj.insert((*k).to_owned(), serde_json::Value::from(*v));
        }
        obj.insert(name.to_owned(), serde_json::Value::from(value));
    }
    doc.to_string()
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A request id: the platform's (`x-amzn-requestid`, `x-request-id`) when present
/// and sane, else a fresh one.
pub fn request_id(headers: &http::HeaderMap) -> String {
    [
        "x-amzn-requestid",
        "x-request-id",
        "lambda-runtime-aws-request-id",
    ]
    .iter()
    .filter_map(|name| headers.get(*name))
    .filter_map(|v| v.to_str().ok())
    .map(str::trim)
    .find(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
    .map(str::to_owned)
    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_per_target_and_defaults_to_info() {
        let default = log_filter(None);
        assert!(default.would_enable("wxopen", &Level::INFO));
        assert!(!default.would_enable("wxopen", &Level::DEBUG));

        let per_target = log_filter(Some("warn,wxopen::tokens=debug"));
        assert!(per_target.would_enable("wxopen::tokens", &Level::DEBUG));
        assert!(!per_target.would_enable("wxopen::http", &Level::INFO));
        assert!(per_target.would_enable("hyper", &Level::WARN));

        let unreadable = log_filter(Some("wxopen=loud"));
        assert!(unreadable.would_enable("wxopen", &Level::INFO));
        assert!(!unreadable.would_enable("wxopen", &Level::DEBUG));
    }

    use super::*;

    #[test]
    fn emf_line_names_namespace_dimensions_and_value() {
        let line = emf_line("Pushes", 1.0, Unit::Count, &[("Type", "ticket")], 42);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 42);
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "wxopen");
        assert_eq!(m["Dimensions"][0][0], "Type");
        assert_eq!(m["Metrics"][0]["Name"], "Pushes");
        assert_eq!(m["Metrics"][0]["Unit"], "Count");
        assert_eq!(v["Type"], "ticket");
        assert_eq!(v["Pushes"], 1.0);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn request_id_prefers_the_platform_header_and_rejects_junk() {
        let mut h = http::HeaderMap::new();
        h.insert("x-request-id", "abc-123".parse().unwrap());
        assert_eq!(request_id(&h), "abc-123");
        h.insert("x-amzn-requestid", "aws-1".parse().unwrap());
        assert_eq!(request_id(&h), "aws-1");
        let mut junk = http::HeaderMap::new();
        junk.insert("x-request-id", "has space".parse().unwrap());
        assert_ne!(request_id(&junk), "has space");
    }
}
