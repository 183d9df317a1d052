//! A newcomer's first minute with the real `wxopen serve --sandbox` binary: a
//! clean start logs no error or warning (the simulator's first ticket is
//! stored before the first refresh sweep), logs are JSON lines when nobody
//! reads them at a terminal, and `--log-format pretty` makes them readable on
//! stderr while stdout keeps only the banner.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The last line the first scheduled run logs (the sweep, then the reconcile).
const FIRST_RUN_DONE: &str = "reconcile done";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

struct Sandbox {
    child: Child,
    lines: mpsc::Receiver<(Stream, String)>,
    seen: Vec<(Stream, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sandbox {
    fn start(extra: &[&str]) -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = format!("sqlite:{}", dir.path().join("wxopen.db").display());
        let mut args = vec!["serve", "--sandbox", "--listen", "127.0.0.1:0", "--store"];
        args.push(&store);
        args.extend_from_slice(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_wxopen"))
            .args(&args)
            .env_remove("WXOPEN_STORE")
            .env_remove("WXOPEN_LISTEN")
            .env_remove("NO_COLOR")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting wxopen serve --sandbox");
        let (tx, lines) = mpsc::channel();
        let streams: [(Stream, Option<Box<dyn Read + Send>>); 2] = [
            (
                Stream::Stdout,
                child
                    .stdout
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            ),
            (
                Stream::Stderr,
                child
                    .stderr
                    .take()
                    .map(|s| Box::new(s) as Box<dyn Read + Send>),
            ),
        ];
        for (which, stream) in streams {
            let Some(stream) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send((which, line)).is_err() {
                        break;
                    }
                }
            });
        }
        Sandbox {
            child,
            lines,
            seen: Vec::new(),
            _dir: dir,
        }
    }

    /// Reads output until a line contains `text` (bounded), returning everything so far.
    fn until(&mut self, text: &str) -> Vec<(Stream, String)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.seen.iter().any(|(_, l)| l.contains(text)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no line with {text:?} within 30 s; output:\n{}",
                    self.text()
                ),
            }
        }
        self.seen.clone()
    }

    fn text(&self) -> String {
        self.seen
            .iter()
            .map(|(s, l)| format!("{s:?}: {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[test]
fn a_clean_sandbox_start_logs_json_and_no_error_or_warning() {
    let mut sandbox = Sandbox::start(&[]);
    // The banner and the first sweep run concurrently: wait for both.
    sandbox.until(FIRST_RUN_DONE);
    let lines = sandbox.until("API key: ");
    let logs: Vec<Value> = lines
        .iter()
        .filter(|(_, l)| l.starts_with('{'))
        .map(|(_, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let levels: Vec<&str> = logs.iter().filter_map(|l| l["level"].as_str()).collect();
    assert!(levels.contains(&"INFO"), "{}", sandbox.text());
    assert!(
        !levels.iter().any(|l| matches!(*l, "ERROR" | "WARN")),
        "a clean start logged errors or warnings:\n{}",
        sandbox.text()
    );
    // The first sweep found the ticket and renewed the component token.
    assert!(
        logs.iter()
            .any(|l| l["fields"]["message"] == "refresh sweep done"
                && l["fields"]["component"] == "renewed"),
        "{}",
        sandbox.text()
    );
    // Not a terminal, no flag: JSON, metrics as EMF lines.
    assert!(
        logs.iter()
            .any(|l| l["_aws"]["CloudWatchMetrics"].is_array()),
        "{}",
        sandbox.text()
    );
    let banner: Vec<&str> = lines
        .iter()
        .filter(|(_, l)| !l.starts_with('{'))
        .map(|(_, l)| l.as_str())
        .collect();
    assert!(
        banner.iter().any(|l| l.starts_with("API key: ")),
        "{banner:?}"
    );
}

#[test]
fn log_format_pretty_writes_readable_lines_to_stderr_and_keeps_stdout_for_the_banner() {
    let mut sandbox = Sandbox::start(&["--log-format", "pretty"]);
    // The banner and the first sweep run concurrently: wait for both.
    sandbox.until(FIRST_RUN_DONE);
    let lines = sandbox.until("API key: ");
    let stderr: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| *s == Stream::Stderr)
        .map(|(_, l)| l.as_str())
        .collect();
    let stdout: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| *s == Stream::Stdout)
        .map(|(_, l)| l.as_str())
        .collect();
    let stored = stderr
        .iter()
        .find(|l| l.contains("component_verify_ticket stored"))
        .unwrap_or_else(|| panic!("{}", sandbox.text()));
    // `HH:MM:SS  INFO message key=value`: no JSON, and no colour codes into a pipe.
    assert!(stored.contains("INFO"), "{stored}");
    assert!(stored.contains("create_time="), "{stored}");
    assert!(
        serde_json::from_str::<Value>(stored).is_err() && !stored.contains('\u{1b}'),
        "{stored}"
    );
    let clock = stored.get(..8).unwrap_or_default();
    assert!(
        clock.len() == 8 && clock.bytes().filter(|b| *b == b':').count() == 2,
        "{stored}"
    );
    // stdout: the banner only (metrics are debug-level log lines in this format).
    assert!(
        stdout.iter().any(|l| l.starts_with("API key: ")),
        "{stdout:?}"
    );
    assert!(!stdout.iter().any(|l| l.starts_with('{')), "{stdout:?}");
}
