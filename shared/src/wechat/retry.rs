//! The one place that decides what is retried and how long to wait.
//!
//! Only failures where WeChat certainly did not act are retried: a connection
//! that was never made, errcode -1 (busy) and HTTP 5xx. A timeout after the
//! request left may have been acted on, so it is reported, never repeated here;
//! quota (45009) and per-recipient errors would only fail again.

use std::future::Future;
use std::time::Duration;

use super::error::{Sent, WechatError, ERRCODE_BUSY};

/// Bounded, jittered exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (0 is treated as 1).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles for each further retry.
    pub base_delay: Duration,
    /// Upper bound on any single delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries at all: one attempt.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (1 = first retry): the capped
    /// exponential step, jittered to between half and all of it so that many
    /// callers failing together do not come back together.
    pub fn delay_before_retry(&self, retry: u32) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_delay);
        let half = step / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::random_range(0..=jitter_nanos))
    }

    /// Runs `attempt` until it succeeds, fails with something not worth
    /// retrying, or the attempts run out. Transport and HTTP errors report how
    /// many attempts were made.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        endpoint: &'static str,
        mut attempt: F,
    ) -> Result<T, WechatError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let max_attempts = self.max_attempts.max(1);
        let mut made = 0;
        loop {
            made += 1;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(err) if made < max_attempts && is_retryable(&err) => {
                    let delay = self.delay_before_retry(made);
                    tracing::debug!(
                        endpoint,
                        attempt = made,
                        errcode = err.errcode(),
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "wechat call failed, retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(err) => return Err(err.after_attempts(made)),
            }
        }
    }
}

/// Whether repeating the request is safe and may help.
pub fn is_retryable(err: &WechatError) -> bool {
    match err {
        WechatError::Transport {
            sent: Sent::NotSent,
            source,
            ..
        } => !source.is_builder(),
        WechatError::Transport {
            sent: Sent::Unknown,
            ..
        } => false,
        WechatError::Http { status, .. } => *status >= 500,
        WechatError::Api { errcode, .. } => *errcode == ERRCODE_BUSY,
        WechatError::Decode { .. } | WechatError::TooLarge { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(base_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(base_ms),
            max_delay: Duration::from_millis(max_ms),
        }
    }

    #[test]
    fn delay_doubles_and_stays_within_half_and_all_of_the_step() {
        let p = policy(100, 10_000);
        for (retry, step_ms) in [(1, 100), (2, 200), (3, 400), (4, 800)] {
            for _ in 0..50 {
                let d = p.delay_before_retry(retry);
                assert!(d >= Duration::from_millis(step_ms / 2), "{retry}: {d:?}");
                assert!(d <= Duration::from_millis(step_ms), "{retry}: {d:?}");
            }
        }
    }

    #[test]
    fn delay_never_exceeds_max_delay_even_for_huge_retry_numbers() {
        let p = policy(100, 300);
        for retry in [3, 10, 40, u32::MAX] {
            assert!(p.delay_before_retry(retry) <= Duration::from_millis(300));
        }
    }

    #[test]
    fn busy_and_5xx_are_retried_but_quota_recipient_and_4xx_are_not() {
        let api = |errcode| WechatError::Api {
            endpoint: "/x",
            errcode,
            errmsg: String::new(),
            msg_id: None,
        };
        let http = |status| WechatError::Http {
            endpoint: "/x",
            status,
            attempts: 1,
        };
        assert!(is_retryable(&api(-1)));
        assert!(is_retryable(&http(503)));
        assert!(!is_retryable(&api(45009)));
        assert!(!is_retryable(&api(43004)));
        assert!(!is_retryable(&api(40001)));
        assert!(!is_retryable(&http(404)));
    }
}
