//! Lenient readers for the shapes WeChat is inconsistent about: ids that come
//! as numbers or as strings, `func_info` lists, empty strings meaning "none".

use serde::{Deserialize, Deserializer};

use crate::secret::Secret;

/// A non-negative integer given as a JSON number or a numeric string.
pub(crate) fn value_as_u64(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    String(String),
}

/// A `u64` that may arrive as a number or a numeric string.
pub(crate) fn u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match NumberOrString::deserialize(d)? {
        NumberOrString::Number(n) => Ok(n),
        NumberOrString::String(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("expected a number or a numeric string")),
    }
}

/// An optional `u64` that may arrive as a number, a numeric string, or null.
pub(crate) fn opt_u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<NumberOrString>::deserialize(d)? {
        None => Ok(None),
        Some(NumberOrString::Number(n)) => Ok(Some(n)),
        Some(NumberOrString::String(s)) if s.trim().is_empty() => Ok(None),
        Some(NumberOrString::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected a number or a numeric string")),
    }
}

/// A secret that WeChat may omit or send empty; both mean "none given".
pub(crate) fn opt_nonempty_secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Secret>, D::Error> {
    Ok(Option::<Secret>::deserialize(d)?.filter(|s| !s.is_empty()))
}

#[derive(Deserialize)]
struct FuncInfoEntry {
    #[serde(default)]
    funcscope_category: Option<FuncScope>,
}

#[derive(Deserialize)]
struct FuncScope {
    #[serde(deserialize_with = "u64_lenient")]
    id: u64,
}

/// `[{"funcscope_category":{"id":1}}, …]` → `[1, …]`; entries without a
/// category are skipped, null is an empty list.
pub(crate) fn func_info<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
    let entries = Option::<Vec<FuncInfoEntry>>::deserialize(d)?.unwrap_or_default();
    entries
        .into_iter()
        .filter_map(|entry| entry.funcscope_category)
        .map(|scope| {
            u32::try_from(scope.id)
                .map_err(|_| serde::de::Error::custom("func_info id out of range"))
        })
        .collect()
}

/// A non-empty string; anything else (missing, null, empty, another type) is
/// `None`, so one malformed field of an answer does not lose the rest.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    })
}

/// An integer given as a JSON number or a numeric string.
fn value_as_i64(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `{"id": n}` (`service_type_info`, `verify_type_info`) → `n`; any other
/// shape is `None`.
pub(crate) fn lenient_type_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(serde_json::Value::deserialize(d)?
        .get("id")
        .and_then(value_as_i64))
}

/// A 0/1 flag (a number, a numeric string or a boolean) → `bool`; anything
/// else, 2 included, is `None`.
pub(crate) fn lenient_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(match value {
        serde_json::Value::Bool(b) => Some(b),
        other => match value_as_i64(&other) {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
    })
}

/// An object read leniently: anything but an object, or an object that still
/// fails to read, is `T::default()`.
pub(crate) fn lenient_object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    Ok(match serde_json::Value::deserialize(d)? {
        value @ serde_json::Value::Object(_) => T::deserialize(value).unwrap_or_default(),
        _ => T::default(),
    })
}

/// [`lenient_object`] for an optional object: `None` unless it is an object.
pub(crate) fn lenient_opt_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    Ok(match serde_json::Value::deserialize(d)? {
        value @ serde_json::Value::Object(_) => Some(T::deserialize(value).unwrap_or_default()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "func_info", default)]
        func_info: Vec<u32>,
        #[serde(deserialize_with = "u64_lenient", default)]
        n: u64,
        #[serde(deserialize_with = "opt_nonempty_secret", default)]
        s: Option<Secret>,
    }

    #[test]
    fn func_info_ids_are_extracted_and_odd_entries_skipped() {
        let h: Holder = serde_json::from_str(
            r#"{"func_info":[{"funcscope_category":{"id":1}},{"confirm_info":{}},{"funcscope_category":{"id":"15"}}]}"#,
        )
        .unwrap();
        assert_eq!(h.func_info, vec![1, 15]);
    }

    #[test]
    fn numbers_may_be_strings() {
        let h: Holder = serde_json::from_str(r#"{"n":"7200"}"#).unwrap();
        assert_eq!(h.n, 7200);
        assert!(serde_json::from_str::<Holder>(r#"{"n":"soon"}"#).is_err());
    }

    #[test]
    fn empty_secret_is_none() {
        let h: Holder = serde_json::from_str(r#"{"s":""}"#).unwrap();
        assert!(h.s.is_none());
        let h: Holder = serde_json::from_str(r#"{"s":"x"}"#).unwrap();
        assert_eq!(h.s.unwrap().expose(), "x");
    }
}
