//! Logs (tracing) and metrics as CloudWatch embedded-metric-format (EMF) lines,
//! namespace `wxopen`.
//!
//! Logs are JSON lines on stdout for machines (Lambda, pipes, files) and
//! readable, coloured lines on stderr for a person at a terminal
//! ([`LogFormat::detect`]); metrics are EMF lines on stdout, or debug-level log
//! lines when a person reads the logs.
//!
//! Log fields carry request ids, appids and WeChat errcodes, never a secret or a
//! token: every credential travels as [`crate::secret::Secret`], which prints `***`.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "wxopen";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line on stdout (what CloudWatch and log shippers read).
    Json,
    /// `HH:MM:SS LEVEL message key=value` on stderr, coloured on a terminal;
    /// metrics become debug-level lines instead of EMF on stdout.
    Pretty,
}

impl LogFormat {
    /// JSON on Lambda and whenever stderr is not a terminal; pretty otherwise.
    pub fn detect() -> LogFormat {
        let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
        LogFormat::choose(on_lambda, std::io::stderr().is_terminal())
    }

    fn choose(on_lambda: bool, stderr_is_terminal: bool) -> LogFormat {
        if stderr_is_terminal && !on_lambda {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        }
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<LogFormat, String> {
        match s {
            "json" => Ok(LogFormat::Json),
            "pretty" => Ok(LogFormat::Pretty),
            other => Err(format!("log format must be json or pretty, not {other:?}")),
        }
    }
}

/// Installs the log subscriber in the format [`LogFormat::detect`] picks; level
/// from `RUST_LOG` (default `info`). Safe to call more than once (later calls
/// do nothing).
pub fn init() {
    init_with(LogFormat::detect());
}

/// Installs the log subscriber in `format`. Later calls (of this or [`init`])
/// do nothing, so an entry point may choose before the code it runs calls `init`.
pub fn init_with(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let installed = match format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_target(false),
            )
            .with(filter)
            .try_init(),
        LogFormat::Pretty => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            tracing_subscriber::registry()
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stderr)
                        .with_ansi(colour)
                        .with_timer(WallClock)
                        .with_target(false),
                )
                .with(filter)
                .try_init()
        }
    };
    if installed.is_ok() && format == LogFormat::Pretty {
        let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
        if *sink == MetricSink::Stdout {
            *sink = MetricSink::Log;
        }
    }
}

/// `HH:MM:SS` (UTC): enough for a person following a terminal.
struct WallClock;

impl tracing_subscriber::fmt::time::FormatTime for WallClock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let secs = now_millis() / 1000 % 86_400;
        write!(
            w,
            "{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
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
    /// A debug-level log line each (the pretty log format: a person reads it).
    Log,
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
    if sink == MetricSink::Log {
        tracing::debug!(target: "wxopen::metric", metric = name, value, unit = unit.as_str(), dimensions = ?dims);
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
        MetricSink::Off | MetricSink::Log => {}
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
    // A metric with dimensions is also published without them: alarms and
    // dashboards read the total (all `Reason`s of `PushesRefused`, …)
    // without knowing every value in advance.
    let dimension_sets: Vec<Vec<&str>> = if dimension_names.is_empty() {
        vec![dimension_names]
    } else {
        vec![dimension_names, Vec::new()]
    };
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimension_sets,
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
    fn logs_are_json_unless_a_person_reads_stderr_outside_lambda() {
        assert_eq!(LogFormat::choose(false, true), LogFormat::Pretty);
        assert_eq!(LogFormat::choose(false, false), LogFormat::Json);
        assert_eq!(LogFormat::choose(true, true), LogFormat::Json);
        assert_eq!(LogFormat::choose(true, false), LogFormat::Json);
        assert_eq!("pretty".parse(), Ok(LogFormat::Pretty));
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert!("yaml".parse::<LogFormat>().is_err());
    }

    #[test]
    fn emf_line_names_namespace_dimensions_and_value() {
        let line = emf_line("Pushes", 1.0, Unit::Count, &[("Type", "ticket")], 42);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 42);
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "wxopen");
        assert_eq!(m["Dimensions"][0][0], "Type");
        assert_eq!(
            m["Dimensions"][1],
            serde_json::json!([]),
            "the total without dimensions too"
        );
        assert_eq!(m["Metrics"][0]["Name"], "Pushes");
        assert_eq!(m["Metrics"][0]["Unit"], "Count");
        assert_eq!(v["Type"], "ticket");
        assert_eq!(v["Pushes"], 1.0);
        assert!(!line.contains('\n'));

        let plain = emf_line("TicketMissing", 1.0, Unit::Count, &[], 42);
        let v: serde_json::Value = serde_json::from_str(&plain).unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([[]])
        );
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
