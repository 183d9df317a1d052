//! Single-flight renewal leases on token records (the component token, each
//! authorizer's tokens): the outcomes both backends report, and how they read
//! a lease write that changed nothing.

/// Result of trying to take a renewal lease (`lease_until <= now AND version = expected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired,
    /// Someone else holds an unexpired lease.
    Held,
    /// The record moved on (a renewal completed): re-read it.
    VersionChanged,
    /// No such record (authorizer unknown).
    Missing,
}

/// Result of writing renewed tokens under a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalOutcome {
    /// Written; the new version.
    Stored { version: u64 },
    /// Our lease expired and someone else took it: nothing written.
    LostLease,
}

/// Why a guarded lease write changed nothing, from the record's version as it
/// is now (`None`: there is no record): a version other than the one the
/// caller read means a renewal completed meanwhile; the same one means the
/// lease is held.
pub fn lease_refusal(current_version: Option<u64>, expected_version: u64) -> LeaseOutcome {
    match current_version {
        None => LeaseOutcome::Missing,
        Some(v) if v != expected_version => LeaseOutcome::VersionChanged,
        Some(_) => LeaseOutcome::Held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_lease_is_missing_moved_on_or_held() {
        assert_eq!(lease_refusal(None, 0), LeaseOutcome::Missing);
        assert_eq!(lease_refusal(Some(3), 2), LeaseOutcome::VersionChanged);
        assert_eq!(lease_refusal(Some(2), 2), LeaseOutcome::Held);
    }
}
