//! Webhook signatures, the common convention (design.md §9):
//! `Wxopen-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! one `v1=` per secret in use (two during a rotation).

use crate::secret::Secret;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "Wxopen-Signature";
pub const EVENT_ID_HEADER: &str = "Wxopen-Event-Id";
pub const EVENT_TYPE_HEADER: &str = "Wxopen-Event-Type";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: u64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value signing `body` at `timestamp` with each of `secrets`.
pub fn signature_header(secrets: &[&Secret], timestamp: u64, body: &[u8]) -> String {
    let mut value = format!("t={timestamp}");
    for secret in secrets {
        let tag = mac(secret.expose(), timestamp, body)
            .finalize()
            .into_bytes();
        value.push_str(",v1=");
        value.push_str(&hex::encode(tag));
    }
    value
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed signature header")]
    Malformed,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// What a receiver does: parse the header, check the timestamp is within
/// `tolerance_secs` of `now`, and compare each `v1` in constant time.
pub fn verify(
    header: &str,
    secret: &str,
    body: &[u8],
    now: u64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
            Some(("v1", tag)) => tags.push(hex::decode(tag).map_err(|_| VerifyError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if tags.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if timestamp.abs_diff(now) > tolerance_secs {
        return Err(VerifyError::Stale);
    }
    let matched = tags
        .iter()
        .any(|tag| mac(secret, timestamp, body).verify_slice(tag).is_ok());
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_secret_only() {
        let (old, new) = (Secret::new("whsec_old"), Secret::new("whsec_new"));
        let header = signature_header(&[&new, &old], 1_700_000_000, b"{\"a\":1}");
        assert_eq!(header.matches("v1=").count(), 2);
        assert_eq!(
            verify(&header, "whsec_new", b"{\"a\":1}", 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify(&header, "whsec_old", b"{\"a\":1}", 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify(&header, "whsec_other", b"{\"a\":1}", 1_700_000_010, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&header, "whsec_new", b"{\"a\":2}", 1_700_000_010, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&header, "whsec_new", b"{\"a\":1}", 1_700_001_000, 300),
            Err(VerifyError::Stale)
        );
        assert_eq!(verify("v1=00", "s", b"", 0, 1), Err(VerifyError::Malformed));
    }

    #[test]
    fn the_tag_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently (Python's hmac): HMAC-SHA256("key", "1.x").
        let header = signature_header(&[&Secret::new("key")], 1, b"x");
        assert_eq!(
            header,
            "t=1,v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
        );
    }
}
