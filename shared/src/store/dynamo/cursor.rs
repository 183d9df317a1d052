//! Page cursors: a LastEvaluatedKey as base64url JSON, checked on the way back
//! in so a cursor of another listing is refused here (`Invalid`) rather than
//! passed on for DynamoDB to reject as a failed request.

use super::items::{primary_key, Item};
use super::table::{TABLE_KEY_PK, TABLE_KEY_SK, TENANT_INDEX_PK, TENANT_INDEX_SK};
use crate::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use std::collections::HashMap;

/// A cursor: base64url of a JSON map of key attribute → {"S": …} / {"N": …}.
pub(crate) fn encode(last_key: &Item) -> String {
    let map: serde_json::Map<String, serde_json::Value> = last_key
        .iter()
        .filter_map(|(name, value)| {
            let typed = match value {
                AttributeValue::S(v) => serde_json::json!({ "S": v }),
                AttributeValue::N(v) => serde_json::json!({ "N": v }),
                _ => return None,
            };
            Some((name.clone(), typed))
        })
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::Value::Object(map).to_string())
}

pub(crate) fn decode(cursor: &str) -> StoreResult<Item> {
    let invalid = || StoreError::Invalid("malformed page cursor".to_owned());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let map: HashMap<String, HashMap<String, String>> =
        serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    map.into_iter()
        .map(|(name, typed)| {
            let value = match (typed.get("S"), typed.get("N")) {
                (Some(v), None) => AttributeValue::S(v.clone()),
                (None, Some(v)) if v.parse::<u64>().is_ok() => AttributeValue::N(v.clone()),
                _ => return Err(invalid()),
            };
            Ok((name, value))
        })
        .collect()
}

/// The cursor after `item` in a table scan: its primary key.
pub(crate) fn after_item(item: &Item) -> String {
    encode(&primary_key(item))
}

/// A cursor of a tenant listing: the four `gsi2` keys DynamoDB continues from,
/// within this tenant's partition.
pub(crate) fn tenant_index(cursor: &str, partition: &str) -> StoreResult<Item> {
    let start = of_keys(
        cursor,
        &[TABLE_KEY_PK, TABLE_KEY_SK, TENANT_INDEX_PK, TENANT_INDEX_SK],
    )?;
    match start.get(TENANT_INDEX_PK) {
        Some(AttributeValue::S(at)) if at == partition => Ok(start),
        _ => Err(foreign()),
    }
}

/// A decoded cursor holding exactly the string keys `names`.
pub(crate) fn of_keys(cursor: &str, names: &[&str]) -> StoreResult<Item> {
    let start = decode(cursor)?;
    let shaped = start.len() == names.len()
        && names
            .iter()
            .all(|name| matches!(start.get(*name), Some(AttributeValue::S(_))));
    if shaped {
        Ok(start)
    } else {
        Err(foreign())
    }
}

fn foreign() -> StoreError {
    StoreError::Invalid("page cursor is not from this listing".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dynamo::items::{n, s};

    #[test]
    fn a_cursor_round_trips_and_garbage_is_invalid() {
        let k = HashMap::from([("pk".to_owned(), s("a#b")), ("gsi1sk".to_owned(), n(12))]);
        assert_eq!(decode(&encode(&k)).ok(), Some(k));
        assert!(matches!(
            decode("not a cursor!"),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn a_cursor_of_another_shape_is_foreign() {
        let k = HashMap::from([("pk".to_owned(), s("a")), ("gsi1sk".to_owned(), n(1))]);
        assert!(matches!(
            of_keys(&encode(&k), &[TABLE_KEY_PK, TABLE_KEY_SK]),
            Err(StoreError::Invalid(_))
        ));
    }
}
