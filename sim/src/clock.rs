//! The virtual clock: real time plus an offset tests can advance.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Virtual unix seconds = real unix seconds at start + real elapsed + advanced offset.
#[derive(Debug)]
pub(crate) struct Clock {
    started: Instant,
    start_unix: u64,
    offset: AtomicU64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let start_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Clock {
            started: Instant::now(),
            start_unix,
            offset: AtomicU64::new(0),
        }
    }

    pub(crate) fn now(&self) -> u64 {
        self.start_unix + self.started.elapsed().as_secs() + self.offset.load(Ordering::Relaxed)
    }

    pub(crate) fn advance(&self, d: Duration) {
        self.offset.fetch_add(d.as_secs(), Ordering::Relaxed);
    }
}
