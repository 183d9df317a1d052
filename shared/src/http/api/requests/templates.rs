//! Template message bodies: the recipients, the template, its link and its
//! `{{key.DATA}}` values, read into a [`TemplateSend`].

use super::{LongText, ShortText};
use crate::domain::{HttpUrl, InvalidValue, Recipients, TemplateId, Text};
use crate::service::send::{TemplateSend, MAX_RECIPIENTS};
use crate::wechat::{MiniProgramLink, TemplateMessage, TemplateValue};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// Template recipients: one openid, or 1..=[`MAX_RECIPIENTS`].
pub(crate) type TemplateRecipients = Recipients<1, MAX_RECIPIENTS>;

/// `POST /v1/authorizers/{appid}/template-messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "touser": ["oSbx01Follower00000000000001"],
    "template_id": "SimTpl01OrderShipped",
    "url": "https://shop.example.com/orders/1042",
    "data": {"first": {"value": "Your order shipped", "color": "#173177"}, "keyword1": "A-1001"}
}))]
pub(crate) struct TemplateMessageRequest {
    #[schema(inline)]
    pub touser: TemplateRecipients,
    pub template_id: TemplateId,
    /// Opened when the message is tapped (unless a mini program is given).
    pub url: Option<HttpUrl>,
    pub miniprogram: Option<MiniProgramRequest>,
    pub data: TemplateData,
}

/// The mini program a template message opens.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MiniProgramRequest {
    #[schema(inline)]
    pub appid: ShortText,
    #[schema(inline)]
    pub pagepath: Option<LongText>,
}

impl From<TemplateMessageRequest> for TemplateSend {
    fn from(r: TemplateMessageRequest) -> TemplateSend {
        TemplateSend {
            message: TemplateMessage {
                touser: String::new(),
                template_id: r.template_id.into_string(),
                url: r.url.map(HttpUrl::into_string),
                miniprogram: r.miniprogram.map(|m| MiniProgramLink {
                    appid: m.appid.into_string(),
                    pagepath: m.pagepath.map(Text::into_string),
                }),
                data: r.data.0,
                client_msg_id: None,
            },
            recipients: r.touser.into_strings(),
        }
    }
}

/// The template's `{{key.DATA}}` values: at most [`TemplateData::MAX_ENTRIES`]
/// keys of 1..=64 `[A-Za-z0-9_]`, each a string or `{"value", "color"?}`.
#[derive(Debug)]
pub(crate) struct TemplateData(BTreeMap<String, TemplateValue>);

impl TemplateData {
    const MAX_ENTRIES: usize = 50;
    const MAX_VALUE_BYTES: usize = 4096;

    fn key(key: &str) -> Result<(), InvalidValue> {
        if (1..=64).contains(&key.len())
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            Ok(())
        } else {
            Err(InvalidValue(format!(
                "template key `{key}` is not 1..=64 characters of A-Z a-z 0-9 _"
            )))
        }
    }
}

impl<'de> Deserialize<'de> for TemplateData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DataVisitor;
        impl<'de> Visitor<'de> for DataVisitor {
            type Value = TemplateData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of template values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TemplateData, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    TemplateData::key(&key).map_err(de::Error::custom)?;
                    let value = map.next_value::<TemplateField>()?;
                    out.insert(key, value.0);
                    if out.len() > TemplateData::MAX_ENTRIES {
                        return Err(de::Error::custom(format!(
                            "must have at most {} entries",
                            TemplateData::MAX_ENTRIES
                        )));
                    }
                }
                Ok(TemplateData(out))
            }
        }
        d.deserialize_map(DataVisitor)
    }
}

impl PartialSchema for TemplateData {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .max_properties(Some(Self::MAX_ENTRIES))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[A-Za-z0-9_]{1,64}$")),
            ))
            .additional_properties(Some(TemplateField::schema()))
            .description(Some(
                "The template's `{{key.DATA}}` values: a string, or `{\"value\", \"color\"?}`.",
            ))
            .into()
    }
}

impl ToSchema for TemplateData {}

/// One template value: `"text"` or `{"value": "text", "color"?: "#RRGGBB"}`.
struct TemplateField(TemplateValue);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFieldObject {
    value: String,
    color: Option<Color>,
}

impl TemplateField {
    fn checked(value: String, color: Option<Color>) -> Result<TemplateField, InvalidValue> {
        if value.len() > TemplateData::MAX_VALUE_BYTES {
            return Err(InvalidValue(format!(
                "must be at most {} bytes",
                TemplateData::MAX_VALUE_BYTES
            )));
        }
        Ok(TemplateField(TemplateValue {
            value,
            color: color.map(|c| c.0),
        }))
    }
}

impl<'de> Deserialize<'de> for TemplateField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = TemplateField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{\"value\": string, \"color\"?: \"#RRGGBB\"} or a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TemplateField, E> {
                TemplateField::checked(s.to_owned(), None).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TemplateField, A::Error> {
                let o =
                    TemplateFieldObject::deserialize(de::value::MapAccessDeserializer::new(map))?;
                TemplateField::checked(o.value, o.color).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(FieldVisitor)
    }
}

impl PartialSchema for TemplateField {
    fn schema() -> RefOr<Schema> {
        let text = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(TemplateData::MAX_VALUE_BYTES))
        };
        OneOfBuilder::new()
            .item(text())
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("value", text())
                    .property("color", Color::schema())
                    .required("value")
                    .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::<
                        Schema,
                    >::FreeForm(false))),
            )
            .into()
    }
}

/// `#RRGGBB`.
#[derive(Debug)]
struct Color(String);

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let c = String::deserialize(d)?;
        if c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Color(c))
        } else {
            Err(de::Error::custom("must look like #RRGGBB"))
        }
    }
}

impl PartialSchema for Color {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^#[0-9A-Fa-f]{6}$"))
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api::requests::read;
    use serde_json::json;

    fn template(v: serde_json::Value) -> Result<TemplateSend, String> {
        read::<TemplateMessageRequest>(v)
            .map(TemplateSend::from)
            .map_err(|e| e.message())
    }

    fn body() -> serde_json::Value {
        json!({"touser": ["oA", "oB"], "template_id": "T1", "url": "https://example.com/o/1",
               "data": {"first": {"value": "Hello", "color": "#FF0000"}, "remark": "plain"}})
    }

    #[test]
    fn a_full_template_request_is_read() {
        let s = template(body()).unwrap();
        assert_eq!(s.recipients, vec!["oA", "oB"]);
        assert_eq!(s.message.template_id, "T1");
        assert_eq!(s.message.data["first"].color.as_deref(), Some("#FF0000"));
        assert_eq!(s.message.data["remark"].value, "plain");
    }

    #[test]
    fn template_values_of_unknown_types_are_named() {
        let mut b = body();
        b["data"]["first"] = json!(12);
        assert!(template(b.clone()).unwrap_err().contains("`data.first`"));
        b["data"]["first"] = json!({"value": "x", "size": 3});
        assert!(template(b.clone())
            .unwrap_err()
            .contains("`data.first.size`"));
        b["data"]["first"] = json!({"value": "x", "color": "red"});
        assert!(template(b.clone())
            .unwrap_err()
            .contains("`data.first.color`: must look like #RRGGBB"));
        b["data"]["first"] = json!("x".repeat(4097));
        assert!(template(b).unwrap_err().contains("at most 4096 bytes"));
    }

    #[test]
    fn unknown_top_level_fields_and_bad_urls_are_refused() {
        let mut b = body();
        b["tousers"] = json!([]);
        let e = template(b).unwrap_err();
        assert!(e.contains("`tousers`: unknown field"), "{e}");
        let mut b = body();
        b["url"] = json!("ftp://x");
        assert!(template(b).unwrap_err().contains("`url`"));
    }

    #[test]
    fn recipients_are_named_by_index_and_counted_against_the_limit() {
        let mut b = body();
        b["touser"] = json!(["oA", "o B"]);
        assert!(template(b.clone())
            .unwrap_err()
            .contains("`touser[1]`: is not an openid"));
        let many: Vec<String> = (0..=MAX_RECIPIENTS).map(|i| format!("o{i}")).collect();
        b["touser"] = json!(many);
        let e = template(b).unwrap_err();
        assert!(
            e.contains(&format!("`touser`: must hold 1..={MAX_RECIPIENTS} openids")),
            "{e}"
        );
    }
}
