//! Checked identifiers and bounded text. Each is parsed once at the edge
//! (`parse`, or serde through `TryFrom<String>`), so whoever holds one knows it
//! obeys its rule; the refusal says what the rule is, for the client.

use super::schema;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Schema};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// Why a value was refused, worded to follow the field's name
/// (`` `touser[3]`: is not an openid … ``).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    fn new(message: impl Into<String>) -> Self {
        InvalidValue(message.into())
    }
}

/// Serde and the schema for a checked string newtype: read through `parse`,
/// written as the plain string, described by `$schema`.
macro_rules! checked_string {
    ($name:ident, $expecting:literal, $schema:expr) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, InvalidValue> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Expecting;
                impl<'de> Visitor<'de> for Expecting {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$name, E> {
                        $name::parse(s).map_err(E::custom)
                    }
                }
                d.deserialize_str(Expecting)
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $name {}
    };
}

fn all_bytes(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
    s.bytes().all(allowed)
}

/// A follower's id for one official account: 1..=64 characters of
/// `[A-Za-z0-9_-]` (WeChat's are 28), so a malformed list fails here and not at WeChat.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpenId(String);

impl OpenId {
    pub fn parse(s: &str) -> Result<OpenId, InvalidValue> {
        if (1..=64).contains(&s.len())
            && all_bytes(s, |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Ok(OpenId(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "is not an openid (1..=64 characters of A-Z a-z 0-9 _ -)",
            ))
        }
    }
}

checked_string!(
    OpenId,
    "an openid (a string)",
    schema::string(
        1,
        64,
        Some("^[A-Za-z0-9_-]+$"),
        "A follower's openid for this official account.",
        "oSbx01Follower00000000000001",
    )
);

/// A tenant name: 1..=64 characters of `[A-Za-z0-9_.-]` (keys and links alike).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

impl Tenant {
    pub fn parse(s: &str) -> Result<Tenant, InvalidValue> {
        if (1..=64).contains(&s.len())
            && all_bytes(s, |b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
            })
        {
            Ok(Tenant(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "is not a tenant name (1..=64 characters of A-Z a-z 0-9 _ . -)",
            ))
        }
    }
}

checked_string!(
    Tenant,
    "a tenant name (a string)",
    schema::string(
        1,
        64,
        Some("^[A-Za-z0-9_.-]+$"),
        "One of your customers (a tenant), as your API keys name them.",
        "acme",
    )
);

/// An official account's or mini program's appid: `wx` and 16 letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Appid(String);

impl Appid {
    pub fn parse(s: &str) -> Result<Appid, InvalidValue> {
        if s.len() == 18 && s.starts_with("wx") && all_bytes(s, |b| b.is_ascii_alphanumeric()) {
            Ok(Appid(s.to_owned()))
        } else {
            Err(InvalidValue::new(
                "is not an appid (`wx` and 16 letters or digits)",
            ))
        }
    }
}

checked_string!(
    Appid,
    "an appid (a string)",
    schema::string(
        18,
        18,
        Some("^wx[A-Za-z0-9]{16}$"),
        "An appid: `wx` and 16 letters or digits.",
        "wx5add0a0000000001",
    )
);

/// A template id of the account's template library: 1..=128 bytes, not blank.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TemplateId(String);

impl TemplateId {
    pub const MAX_BYTES: usize = 128;

    pub fn parse(s: &str) -> Result<TemplateId, InvalidValue> {
        Text::<{ TemplateId::MAX_BYTES }>::parse(s).map(|t| TemplateId(t.into_string()))
    }
}

checked_string!(
    TemplateId,
    "a template id (a string)",
    schema::string(
        1,
        TemplateId::MAX_BYTES,
        Some(r"\S"),
        "A template id of the account's template library.",
        "SimTpl01OrderShipped",
    )
);

/// An absolute http(s) URL of at most 2048 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub const MAX_BYTES: usize = 2048;

    pub fn parse(s: &str) -> Result<HttpUrl, InvalidValue> {
        if s.len() > Self::MAX_BYTES {
            return Err(InvalidValue::new(format!(
                "must be at most {} bytes",
                Self::MAX_BYTES
            )));
        }
        match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {
                Ok(HttpUrl(s.to_owned()))
            }
            _ => Err(InvalidValue::new("must be an absolute http(s) URL")),
        }
    }
}

checked_string!(
    HttpUrl,
    "an http(s) URL (a string)",
    schema::string(
        1,
        HttpUrl::MAX_BYTES,
        Some("^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]"),
        "An absolute http(s) URL.",
        "https://shop.example.com/orders/1042",
    )
);

/// Text that is not blank and at most `MAX` bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text<const MAX: usize>(String);

impl<const MAX: usize> Text<MAX> {
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.trim().is_empty() {
            Err(InvalidValue::new("must not be empty"))
        } else if s.len() > MAX {
            Err(InvalidValue::new(format!("must be at most {MAX} bytes")))
        } else {
            Ok(Text(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize> From<Text<MAX>> for String {
    fn from(t: Text<MAX>) -> String {
        t.0
    }
}

impl<const MAX: usize> Serialize for Text<MAX> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Text::parse(&s).map_err(de::Error::custom)
    }
}

/// Inline only (`#[schema(inline)]`): one name cannot stand for every `MAX`.
impl<const MAX: usize> PartialSchema for Text<MAX> {
    fn schema() -> RefOr<Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX))
            .pattern(Some(r"\S"))
            .into()
    }
}

impl<const MAX: usize> ToSchema for Text<MAX> {}

/// `MIN..=MAX` distinct openids. When `MIN` is 1 a single openid may be given
/// as a plain string, a list of one. A refusal names the entry (`touser[3]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipients<const MIN: usize, const MAX: usize>(Vec<OpenId>);

impl<const MIN: usize, const MAX: usize> Recipients<MIN, MAX> {
    pub fn into_vec(self) -> Vec<OpenId> {
        self.0
    }

    /// The openids as the WeChat calls take them.
    pub fn into_strings(self) -> Vec<String> {
        self.0.into_iter().map(OpenId::into_string).collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn count_refused(n: usize) -> InvalidValue {
        InvalidValue::new(format!("must hold {MIN}..={MAX} openids, got {n}"))
    }
}

impl<'de, const MIN: usize, const MAX: usize> Deserialize<'de> for Recipients<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RecipientsVisitor::<MIN, MAX>(PhantomData))
    }
}

struct RecipientsVisitor<const MIN: usize, const MAX: usize>(PhantomData<()>);

impl<'de, const MIN: usize, const MAX: usize> Visitor<'de> for RecipientsVisitor<MIN, MAX> {
    type Value = Recipients<MIN, MAX>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if MIN <= 1 {
            write!(f, "an openid or an array of {MIN}..={MAX} openids")
        } else {
            write!(f, "an array of {MIN}..={MAX} openids")
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if MIN > 1 {
            return Err(E::custom(Recipients::<MIN, MAX>::count_refused(1)));
        }
        OpenId::parse(s)
            .map(|o| Recipients(vec![o]))
            .map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut seen = HashSet::with_capacity(seq.size_hint().unwrap_or(0).min(MAX));
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX));
        while let Some(openid) = seq.next_element_seed(Distinct { seen: &mut seen })? {
            if out.len() == MAX {
                let rest =
                    std::iter::from_fn(|| seq.next_element::<de::IgnoredAny>().transpose()).count();
                return Err(de::Error::custom(Recipients::<MIN, MAX>::count_refused(
                    MAX + 1 + rest,
                )));
            }
            out.push(openid);
        }
        if out.len() < MIN {
            return Err(de::Error::custom(Recipients::<MIN, MAX>::count_refused(
                out.len(),
            )));
        }
        Ok(Recipients(out))
    }
}

/// One openid of a list, refused when the list already holds it.
struct Distinct<'s> {
    seen: &'s mut HashSet<OpenId>,
}

impl<'de> de::DeserializeSeed<'de> for Distinct<'_> {
    type Value = OpenId;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<OpenId, D::Error> {
        let openid = OpenId::deserialize(d)?;
        if !self.seen.insert(openid.clone()) {
            return Err(de::Error::custom(format!("repeats openid {openid}")));
        }
        Ok(openid)
    }
}

/// Inline only (`#[schema(inline)]`), for the same reason as [`Text`].
impl<const MIN: usize, const MAX: usize> PartialSchema for Recipients<MIN, MAX> {
    fn schema() -> RefOr<Schema> {
        let list = ArrayBuilder::new()
            .items(OpenId::schema())
            .min_items(Some(MIN))
            .max_items(Some(MAX))
            .unique_items(true)
            .description(Some(format!("{MIN}..={MAX} distinct openids.")));
        if MIN <= 1 {
            OneOfBuilder::new()
                .item(OpenId::schema())
                .item(list)
                .description(Some(format!(
                    "One openid, or an array of {MIN}..={MAX} distinct openids."
                )))
                .into()
        } else {
            list.into()
        }
    }
}

impl<const MIN: usize, const MAX: usize> ToSchema for Recipients<MIN, MAX> {}

#[cfg(test)]
mod tests {
    use super::*;

    type List = Recipients<1, 3>;
    type Mass = Recipients<2, 3>;

    fn path_error<T: for<'de> Deserialize<'de> + fmt::Debug>(json: &str) -> (String, String) {
        let de = &mut serde_json::Deserializer::from_str(json);
        let e = serde_path_to_error::deserialize::<_, T>(de).unwrap_err();
        (e.path().to_string(), e.into_inner().to_string())
    }

    #[test]
    fn openids_tenants_and_appids_keep_their_rules() {
        assert!(OpenId::parse("oSbx01Follower00000000000001").is_ok());
        assert!(OpenId::parse("o B").is_err());
        assert!(OpenId::parse(&"o".repeat(65)).is_err());
        assert!(Tenant::parse("acme.eu-1_x").is_ok());
        assert!(Tenant::parse("no spaces").is_err());
        assert!(Appid::parse("wx5add0a0000000001").is_ok());
        assert!(Appid::parse("wx5add0a000000000").is_err());
        assert!(Appid::parse("nope").is_err());
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(HttpUrl::parse("https://example.com/a").is_ok());
        assert!(HttpUrl::parse("javascript:alert(1)").is_err());
        assert!(HttpUrl::parse("/relative").is_err());
        assert!(HttpUrl::parse(&format!("https://e.com/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn text_is_neither_blank_nor_too_long() {
        assert!(Text::<3>::parse("abc").is_ok());
        assert!(Text::<3>::parse("  ").is_err());
        assert!(Text::<3>::parse("abcd").is_err());
    }

    #[test]
    fn a_list_names_the_bad_entry() {
        let (path, message) = path_error::<List>(r#"["oA", 7]"#);
        assert_eq!(path, "[1]");
        assert!(message.contains("openid"), "{message}");
        let (path, message) = path_error::<List>(r#"["oA", "o B"]"#);
        assert_eq!(path, "[1]");
        assert!(message.contains("is not an openid"), "{message}");
        let (path, message) = path_error::<List>(r#"["oA", "oA"]"#);
        assert_eq!(path, "[1]");
        assert!(message.contains("repeats openid oA"), "{message}");
    }

    #[test]
    fn list_counts_are_enforced_and_a_single_string_is_a_list_of_one() {
        let one: List = serde_json::from_str(r#""oA""#).unwrap();
        assert_eq!(one.into_vec(), vec![OpenId::parse("oA").unwrap()]);
        assert!(path_error::<List>("[]").1.contains("1..=3 openids, got 0"));
        assert!(path_error::<List>(r#"["a","b","c","d","e"]"#)
            .1
            .contains("got 5"));
        assert!(path_error::<Mass>(r#""oA""#).1.contains("2..=3"));
        assert!(path_error::<Mass>(r#"["oA"]"#).1.contains("2..=3"));
    }
}
