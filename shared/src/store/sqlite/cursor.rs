//! The authorizer listing's page cursor on SQLite: opaque to the client and
//! checked on the way back, as DynamoDB's is. A plain appid position accepted
//! anything (a made-up string, another listing's cursor) and answered a page;
//! DynamoDB refuses those with `invalid_cursor`, so a client tested on one
//! store broke on the other.

use crate::store::{StoreError, StoreResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Longest appid a cursor may continue after; real ones are 18 characters.
const MAX_APPID_LEN: usize = 64;

/// Where a listing continues: after `after`, in the listing of `tenant`
/// (`None`: the listing of every tenant).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct ListCursor {
    after: String,
    tenant: Option<String>,
}

/// The cursor that continues the listing of `tenant` after `appid`.
pub(super) fn encode(tenant: Option<&str>, appid: &str) -> String {
    let cursor = ListCursor {
        after: appid.to_owned(),
        tenant: tenant.map(str::to_owned),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

/// The appid a cursor continues after, if it is one [`encode`] gave for this
/// same listing; `StoreError::Invalid` otherwise.
pub(super) fn decode(cursor: &str, tenant: Option<&str>) -> StoreResult<String> {
    let invalid = |why: &str| StoreError::Invalid(format!("page cursor {why}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid("is malformed"))?;
    let cursor: ListCursor = serde_json::from_slice(&bytes).map_err(|_| invalid("is malformed"))?;
    if cursor.after.is_empty() || cursor.after.len() > MAX_APPID_LEN {
        return Err(invalid("is malformed"));
    }
    if cursor.tenant.as_deref() != tenant {
        return Err(invalid("is not from this listing"));
    }
    Ok(cursor.after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_continues_only_the_listing_it_came_from() {
        let all = encode(None, "wx5add0a0000000001");
        let acme = encode(Some("acme"), "wx5add0a0000000001");
        assert_eq!(
            decode(&all, None).ok().as_deref(),
            Some("wx5add0a0000000001")
        );
        assert_eq!(
            decode(&acme, Some("acme")).ok().as_deref(),
            Some("wx5add0a0000000001")
        );
        assert!(decode(&all, Some("acme")).is_err());
        assert!(decode(&acme, None).is_err());
        assert!(decode(&acme, Some("globex")).is_err());
    }

    #[test]
    fn made_up_cursors_are_refused() {
        let long = encode(None, &"w".repeat(MAX_APPID_LEN + 1));
        let extra = URL_SAFE_NO_PAD.encode(br#"{"after":"wx1","tenant":null,"x":1}"#);
        let empty = encode(None, "");
        for cursor in [
            "",
            "not-a-cursor",
            "wx5add0a0000000001",
            "!!",
            &long,
            &extra,
            &empty,
        ] {
            assert!(
                matches!(decode(cursor, None), Err(StoreError::Invalid(_))),
                "{cursor}"
            );
        }
    }
}
