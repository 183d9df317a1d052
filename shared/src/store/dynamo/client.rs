//! How the DynamoDB client retries and times out, set here explicitly rather
//! than left to the SDK's defaults (3 attempts with 1 s base backoff, and no
//! read timeout at all: a dead connection would hang a request until the
//! Lambda timed out).
//!
//! - Retries: the SDK's standard mode, 5 attempts. It retries throttling
//!   errors, 5xx answers, timeouts and broken connections; each retry waits a
//!   random time up to 50 ms × 2^(attempt−1), capped at 1 s (DynamoDB answers in
//!   milliseconds, and a caller waiting on a token lease or a client waiting on
//!   an answer should not sit out seconds). Standard mode also keeps a retry
//!   quota per process (500 tokens, 5 per retry, 10 after a timeout, returned
//!   when the retry succeeds): under a sustained outage retries stop instead of
//!   multiplying the load. At a 20 % failure rate an operation fails all five
//!   attempts with probability 0.2^5 ≈ 0.03 %, and the callers above treat that
//!   as the store being unavailable (503 with Retry-After, a lease that runs
//!   out, a chunk that is claimed again).
//! - The SDK retries writes too, conditional ones included, so a write whose
//!   answer was lost is sent again and meets its own result; the store
//!   recognises its own writes in those failed conditions.
//! - Timeouts: 2 s to connect, 4 s per attempt, 10 s for a whole operation
//!   with its retries; the Lambda functions run 10–300 s, and WeChat waits 5 s
//!   for a push's answer.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use std::time::Duration;

pub const MAX_ATTEMPTS: u32 = 5;
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// The client configuration for `sdk` (credentials, region, endpoint) with
/// wxopen's retry and timeout settings.
pub fn client_config(sdk: &SdkConfig) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::from(sdk)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(INITIAL_BACKOFF)
                .with_max_backoff(MAX_BACKOFF),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_reach_the_client() {
        let sdk = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let config = client_config(&sdk).build();
        let retry = config.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), MAX_ATTEMPTS);
        assert_eq!(retry.initial_backoff(), INITIAL_BACKOFF);
        assert_eq!(retry.max_backoff(), MAX_BACKOFF);
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(timeouts.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
    }
}
