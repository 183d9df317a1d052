//! The data key of encryption at rest, through the real binary: plain
//! `serve` refuses to start without one (naming the setting), and
//! `serve --sandbox` keeps the one it generates beside its database (mode
//! 0600), so a restart reads the credentials it sealed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The last line the first scheduled run logs.
const FIRST_RUN_DONE: &str = "reconcile done";

struct Sandbox {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sandbox {
    fn start(db: &Path) -> Sandbox {
        let store = format!("sqlite:{}", db.display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_wxopen"))
            .args([
                "serve",
                "--sandbox",
                "--listen",
                "127.0.0.1:0",
                "--store",
                &store,
            ])
            .env_remove("WXOPEN_STORE")
            .env_remove("WXOPEN_LISTEN")
            .env_remove("WXOPEN_DATA_KEY")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting wxopen serve --sandbox");
        let (tx, lines) = mpsc::channel();
        let out = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        let err = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        for stream in [out, err].into_iter().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Sandbox {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn until(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.seen.iter().any(|l| l.contains(text)) {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no line with {text:?} within 30 s:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn errors_or_warnings(&self) -> Vec<&String> {
        self.seen
            .iter()
            .filter(|l| l.contains("\"level\":\"ERROR\"") || l.contains("\"level\":\"WARN\""))
            .collect()
    }
}

#[test]
fn a_restarted_sandbox_reads_the_credentials_it_sealed_under_its_kept_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("wxopen.db");
    {
        let mut first = Sandbox::start(&db);
        first.until(FIRST_RUN_DONE);
        first.until("API key: ");
        assert!(
            first.errors_or_warnings().is_empty(),
            "{}",
            first.seen.join("\n")
        );
    }
    let key_file = dir.path().join("wxopen.db.data-key");
    let meta = std::fs::metadata(&key_file).expect("the sandbox keeps its data key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let _ = meta;
    // The component token the first sweep stored is sealed on disk.
    let mut raw = std::fs::read(&db).unwrap_or_default();
    raw.extend(std::fs::read(dir.path().join("wxopen.db-wal")).unwrap_or_default());
    assert!(
        raw.windows(7).any(|w| w == b"enc:v1:"),
        "no sealed value in the database"
    );

    let mut second = Sandbox::start(&db);
    // A restart finds the daily reconcile already done: its first sweep is
    // what reads the sealed records.
    second.until("refresh sweep done");
    second.until("API key: ");
    // The first sweep of the restart read the sealed component token (still
    // valid), and nothing failed to open. (A restarted sandbox has a new
    // simulator, which may warn about tokens it did not issue: not our concern.)
    assert!(
        second
            .seen
            .iter()
            .any(|l| l.contains("refresh sweep done") && l.contains("still_valid")),
        "the restart could not read what the first run sealed:\n{}",
        second.seen.join("\n")
    );
    assert!(
        !second
            .errors_or_warnings()
            .iter()
            .any(|l| l.contains("malformed") || l.contains("data key")),
        "{}",
        second.seen.join("\n")
    );
}

#[test]
fn plain_serve_without_a_data_key_refuses_to_start_naming_the_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite:{}", dir.path().join("wxopen.db").display());
    let out = Command::new(env!("CARGO_BIN_EXE_wxopen"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &store])
        .env("WXOPEN_COMPONENT_APPID", "wx0123456789abcdef")
        .env("WXOPEN_COMPONENT_SECRET", "s3cr3t")
        .env("WXOPEN_MESSAGE_TOKEN", "tok")
        .env(
            "WXOPEN_ENCODING_AES_KEY",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        )
        .env("WXOPEN_PUBLIC_URL", "https://wx.example.com")
        .env_remove("WXOPEN_DATA_KEY")
        .env_remove("WXOPEN_DATA_KEY_PREVIOUS")
        .stdin(Stdio::null())
        .output()
        .expect("running wxopen serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WXOPEN_DATA_KEY is not set"), "{stderr}");

    // A malformed key is named, its value never echoed.
    let out = Command::new(env!("CARGO_BIN_EXE_wxopen"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &store])
        .env("WXOPEN_COMPONENT_APPID", "wx0123456789abcdef")
        .env("WXOPEN_COMPONENT_SECRET", "s3cr3t")
        .env("WXOPEN_MESSAGE_TOKEN", "tok")
        .env(
            "WXOPEN_ENCODING_AES_KEY",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        )
        .env("WXOPEN_PUBLIC_URL", "https://wx.example.com")
        .env("WXOPEN_DATA_KEY", "too-short-key-value")
        .stdin(Stdio::null())
        .output()
        .expect("running wxopen serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WXOPEN_DATA_KEY must be"), "{stderr}");
    assert!(!stderr.contains("too-short-key-value"), "{stderr}");
}
