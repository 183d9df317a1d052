//! The `/v1` request bodies: serde reads each into its type (unknown fields
//! refused, a refusal naming the field's path, e.g. `touser[3]`), the checked
//! domain types inside enforce their own rules, and `TryFrom` turns a body
//! into what the service takes, checking what spans several fields.
//! Each type describes itself to the OpenAPI document.

use crate::domain::{Appid, HttpUrl, InvalidValue, OpenId, Recipients, TemplateId, Tenant, Text};
use crate::http::error::{ApiError, ErrorCode};
use crate::service::links::NewLink;
use crate::service::mass::{MassRequest, MassTarget, MAX_MASS_RECIPIENTS, MIN_MASS_RECIPIENTS};
use crate::service::send::{TemplateSend, MAX_RECIPIENTS};
use crate::wechat::{
    Article, CustomMessage, MessageContent, MiniProgramLink, TemplateMessage, TemplateValue,
};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// Template recipients: one openid, or 1..=[`MAX_RECIPIENTS`].
pub(crate) type TemplateRecipients = Recipients<1, MAX_RECIPIENTS>;
/// Mass recipients by list: [`MIN_MASS_RECIPIENTS`]..=[`MAX_MASS_RECIPIENTS`].
pub(crate) type MassRecipients = Recipients<MIN_MASS_RECIPIENTS, MAX_MASS_RECIPIENTS>;
type ShortText = Text<64>;
type IdText = Text<256>;
type LongText = Text<1024>;
type DescriptionText = Text<4096>;
type MessageText = Text<20_000>;
/// WeChat takes article bodies under 1 MB (and one request body is at most 2 MiB).
type ArticleBody = Text<{ 1024 * 1024 }>;

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

/// `{"content": …}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextPayload {
    #[schema(inline)]
    pub content: MessageText,
}

/// `{"media_id": …}`: an image, voice, mpnews or mpvideo.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MediaPayload {
    #[schema(inline)]
    pub media_id: IdText,
}

/// `{"card_id": …}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CardPayload {
    #[schema(inline)]
    pub card_id: IdText,
}

/// A customer-service video.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VideoPayload {
    #[schema(inline)]
    pub media_id: IdText,
    #[schema(inline)]
    pub thumb_media_id: Option<IdText>,
    #[schema(inline)]
    pub title: Option<LongText>,
    #[schema(inline)]
    pub description: Option<DescriptionText>,
}

/// What a mass message is; its payload goes in the field of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MassMsgType {
    Text,
    Image,
    Voice,
    Mpnews,
    Mpvideo,
    Wxcard,
}

/// What a customer-service message is; its payload goes in the field of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CustomMsgType {
    Text,
    Image,
    Voice,
    Video,
    Mpnews,
    Wxcard,
}

/// The payload fields beside `msgtype`: exactly the one it names.
#[derive(Debug, Default)]
struct Payloads {
    text: Option<TextPayload>,
    image: Option<MediaPayload>,
    voice: Option<MediaPayload>,
    video: Option<VideoPayload>,
    mpnews: Option<MediaPayload>,
    mpvideo: Option<MediaPayload>,
    wxcard: Option<CardPayload>,
}

impl Payloads {
    /// The content named by `msgtype`; any other payload is refused by name.
    fn content(self, msgtype: &'static str) -> Result<MessageContent, ApiError> {
        let present = [
            ("text", self.text.is_some()),
            ("image", self.image.is_some()),
            ("voice", self.voice.is_some()),
            ("video", self.video.is_some()),
            ("mpnews", self.mpnews.is_some()),
            ("mpvideo", self.mpvideo.is_some()),
            ("wxcard", self.wxcard.is_some()),
        ];
        if let Some((stray, _)) = present.iter().find(|(n, here)| *here && *n != msgtype) {
            return Err(ApiError::field(
                stray,
                format!("does not go with msgtype `{msgtype}`"),
            ));
        }
        let missing = || ApiError::field(msgtype, "is required");
        let media =
            |p: Option<MediaPayload>| p.map(|m| m.media_id.into_string()).ok_or_else(missing);
        Ok(match msgtype {
            "text" => MessageContent::Text {
                content: self.text.ok_or_else(missing)?.content.into_string(),
            },
            "image" => MessageContent::Image {
                media_id: media(self.image)?,
            },
            "voice" => MessageContent::Voice {
                media_id: media(self.voice)?,
            },
            "mpnews" => MessageContent::MpNews {
                media_id: media(self.mpnews)?,
            },
            "mpvideo" => MessageContent::MpVideo {
                media_id: media(self.mpvideo)?,
            },
            "wxcard" => MessageContent::WxCard {
                card_id: self.wxcard.ok_or_else(missing)?.card_id.into_string(),
            },
            _ => {
                let v = self.video.ok_or_else(missing)?;
                MessageContent::Video {
                    media_id: v.media_id.into_string(),
                    thumb_media_id: v.thumb_media_id.map(Text::into_string),
                    title: v.title.map(Text::into_string),
                    description: v.description.map(Text::into_string),
                }
            }
        })
    }
}

/// `POST /v1/authorizers/{appid}/mass-messages`: exactly one of `to_all`,
/// `tag_id` and `touser`; the payload named by `msgtype`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tag_id": 100, "msgtype": "text", "text": {"content": "Hello"}}))]
pub(crate) struct MassMessageRequest {
    /// Every follower.
    pub to_all: Option<bool>,
    /// The followers with this tag.
    pub tag_id: Option<u64>,
    #[schema(inline)]
    pub touser: Option<MassRecipients>,
    pub msgtype: MassMsgType,
    pub text: Option<TextPayload>,
    pub image: Option<MediaPayload>,
    pub voice: Option<MediaPayload>,
    pub mpnews: Option<MediaPayload>,
    pub mpvideo: Option<MediaPayload>,
    pub wxcard: Option<CardPayload>,
    /// Send even when WeChat judges an article a reprint.
    pub send_ignore_reprint: Option<bool>,
}

impl TryFrom<MassMessageRequest> for MassRequest {
    type Error = ApiError;

    fn try_from(r: MassMessageRequest) -> Result<MassRequest, ApiError> {
        let target = match (r.to_all.unwrap_or(false), r.tag_id, r.touser) {
            (true, None, None) => MassTarget::All,
            (false, Some(tag), None) => MassTarget::Tag(tag),
            (false, None, Some(list)) => {
                MassTarget::OpenIds(list.into_strings())
            }
            (false, None, None) => {
                return Err(ApiError::field(
                    "",
                    format!("say who receives it: `to_all: true`, `tag_id`, or `touser` ({MIN_MASS_RECIPIENTS}..={MAX_MASS_RECIPIENTS} openids)"),
                ))
            }
            _ => {
                return Err(ApiError::field(
                    "",
                    "give only one of `to_all`, `tag_id` and `touser`",
                ))
            }
        };
        let msgtype = match r.msgtype {
            MassMsgType::Text => "text",
            MassMsgType::Image => "image",
            MassMsgType::Voice => "voice",
            MassMsgType::Mpnews => "mpnews",
            MassMsgType::Mpvideo => "mpvideo",
            MassMsgType::Wxcard => "wxcard",
        };
        let payloads = Payloads {
            text: r.text,
            image: r.image,
            voice: r.voice,
            video: None,
            mpnews: r.mpnews,
            mpvideo: r.mpvideo,
            wxcard: r.wxcard,
        };
        Ok(MassRequest {
            target,
            message: payloads.content(msgtype)?,
            send_ignore_reprint: r.send_ignore_reprint.unwrap_or(false),
        })
    }
}

/// `POST /v1/authorizers/{appid}/mass-messages/preview`: one of `touser` and
/// `towxname`; the payload named by `msgtype` (issue #17).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"touser": "oSbx01Follower00000000000001", "msgtype": "mpnews", "mpnews": {"media_id": "MEDIA_ID"}}))]
pub(crate) struct MassPreviewRequest {
    /// A follower's openid.
    pub touser: Option<OpenId>,
    /// Or a WeChat id (微信号) of someone following the account.
    #[schema(inline)]
    pub towxname: Option<ShortText>,
    pub msgtype: MassMsgType,
    pub text: Option<TextPayload>,
    pub image: Option<MediaPayload>,
    pub voice: Option<MediaPayload>,
    pub mpnews: Option<MediaPayload>,
    pub mpvideo: Option<MediaPayload>,
    pub wxcard: Option<CardPayload>,
}

impl TryFrom<MassPreviewRequest> for crate::wechat::MassPreview {
    type Error = ApiError;

    fn try_from(r: MassPreviewRequest) -> Result<Self, ApiError> {
        use crate::wechat::PreviewTarget;
        let to = match (r.touser, r.towxname) {
            (Some(openid), None) => PreviewTarget::OpenId(openid.into_string()),
            (None, Some(name)) => PreviewTarget::WxName(name.into_string()),
            (None, None) => {
                return Err(ApiError::field(
                    "",
                    "say who previews it: `touser` or `towxname`",
                ))
            }
            _ => {
                return Err(ApiError::field(
                    "",
                    "give only one of `touser` and `towxname`",
                ))
            }
        };
        let msgtype = match r.msgtype {
            MassMsgType::Text => "text",
            MassMsgType::Image => "image",
            MassMsgType::Voice => "voice",
            MassMsgType::Mpnews => "mpnews",
            MassMsgType::Mpvideo => "mpvideo",
            MassMsgType::Wxcard => "wxcard",
        };
        let payloads = Payloads {
            text: r.text,
            image: r.image,
            voice: r.voice,
            video: None,
            mpnews: r.mpnews,
            mpvideo: r.mpvideo,
            wxcard: r.wxcard,
        };
        Ok(crate::wechat::MassPreview {
            to,
            message: payloads.content(msgtype)?,
        })
    }
}

/// `POST /v1/authorizers/{appid}/custom-messages`: the payload named by `msgtype`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"touser": "oSbx01Follower00000000000001", "msgtype": "text", "text": {"content": "Thanks!"}}))]
pub(crate) struct CustomMessageRequest {
    pub touser: OpenId,
    pub msgtype: CustomMsgType,
    pub text: Option<TextPayload>,
    pub image: Option<MediaPayload>,
    pub voice: Option<MediaPayload>,
    pub video: Option<VideoPayload>,
    pub mpnews: Option<MediaPayload>,
    pub wxcard: Option<CardPayload>,
    /// Send as this customer-service account.
    #[schema(inline)]
    pub kf_account: Option<Text<128>>,
}

impl TryFrom<CustomMessageRequest> for CustomMessage {
    type Error = ApiError;

    fn try_from(r: CustomMessageRequest) -> Result<CustomMessage, ApiError> {
        let msgtype = match r.msgtype {
            CustomMsgType::Text => "text",
            CustomMsgType::Image => "image",
            CustomMsgType::Voice => "voice",
            CustomMsgType::Video => "video",
            CustomMsgType::Mpnews => "mpnews",
            CustomMsgType::Wxcard => "wxcard",
        };
        let payloads = Payloads {
            text: r.text,
            image: r.image,
            voice: r.voice,
            video: r.video,
            mpnews: r.mpnews,
            mpvideo: None,
            wxcard: r.wxcard,
        };
        Ok(CustomMessage {
            touser: r.touser.into_string(),
            message: payloads.content(msgtype)?,
            kf_account: r.kf_account.map(Text::into_string),
        })
    }
}

/// `news`: the only `type` of a JSON media upload (files go as multipart/form-data).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NewsType {
    News,
}

/// `POST /v1/authorizers/{appid}/media` as JSON: news articles for a mass send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "news", "articles": [{"title": "Spring sale", "thumb_media_id": "MEDIA_ID", "content": "<p>20% off</p>"}]}))]
pub(crate) struct NewsUploadRequest {
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    #[allow(dead_code)] // only checked: it must say `news`
    pub kind: NewsType,
    /// 1..=8 articles.
    #[schema(min_items = 1, max_items = 8)]
    pub articles: Vec<ArticleRequest>,
}

impl NewsUploadRequest {
    /// WeChat's bounds on the articles of one news item (the schema's `minItems`/`maxItems`).
    const ARTICLES: std::ops::RangeInclusive<usize> = 1..=8;
}

/// One news article.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArticleRequest {
    #[schema(inline)]
    pub title: IdText,
    #[schema(inline)]
    pub thumb_media_id: IdText,
    /// HTML; images must be URLs from an `article_image` upload.
    #[schema(inline)]
    pub content: ArticleBody,
    #[schema(inline)]
    pub author: Option<ShortText>,
    #[schema(inline)]
    pub digest: Option<LongText>,
    /// "Read more" link.
    pub content_source_url: Option<HttpUrl>,
    pub show_cover_pic: Option<Flag>,
    pub need_open_comment: Option<Flag>,
    pub only_fans_can_comment: Option<Flag>,
}

impl TryFrom<NewsUploadRequest> for Vec<Article> {
    type Error = ApiError;

    fn try_from(r: NewsUploadRequest) -> Result<Vec<Article>, ApiError> {
        if !NewsUploadRequest::ARTICLES.contains(&r.articles.len()) {
            return Err(ApiError::field(
                "articles",
                format!("must hold 1..=8 articles, got {}", r.articles.len()),
            ));
        }
        Ok(r.articles
            .into_iter()
            .map(|a| Article {
                title: a.title.into_string(),
                thumb_media_id: a.thumb_media_id.into_string(),
                content: a.content.into_string(),
                author: a.author.map(Text::into_string),
                digest: a.digest.map(Text::into_string),
                content_source_url: a.content_source_url.map(HttpUrl::into_string),
                show_cover_pic: a.show_cover_pic.map(|f| f.0),
                need_open_comment: a.need_open_comment.map(|f| f.0),
                only_fans_can_comment: a.only_fans_can_comment.map(|f| f.0),
            })
            .collect())
    }
}

/// 0 or 1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag(u8);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            v @ (0 | 1) => Ok(Flag(v as u8)),
            _ => Err(de::Error::custom("must be 0 or 1")),
        }
    }
}

impl PartialSchema for Flag {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some([0, 1]))
            .into()
    }
}

impl ToSchema for Flag {}

/// The kinds of file upload (`type` of the multipart form).
#[derive(Debug, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // described to the document; the form is read by `media::UploadKind::parse`
pub(crate) enum UploadType {
    /// An image for article bodies (jpg/png under 1 MB): answers a URL.
    ArticleImage,
    /// Temporary media (3 days): jpg, jpeg, png, gif, bmp up to 2 MB.
    Image,
    /// amr, mp3 up to 2 MB.
    Voice,
    /// mp4 up to 10 MB.
    Video,
    /// jpg up to 64 KB.
    Thumb,
}

/// `POST /v1/authorizers/{appid}/media` as multipart/form-data: a file.
#[derive(ToSchema)]
#[allow(dead_code)] // read field by field by `multipart::read_form`
pub(crate) struct MediaUploadForm {
    #[schema(rename = "type")]
    kind: UploadType,
    /// The file; its name's extension must fit the type.
    #[schema(value_type = String, format = Binary)]
    media: Vec<u8>,
}

/// `POST /v1/authorization-links`. Each value has its own error code
/// (`invalid_tenant`, `invalid_auth_type`, …), so they are checked after reading.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant": "acme", "return_url": "https://erp.example.com/wechat/done"}))]
pub(crate) struct CreateLinkRequest {
    #[schema(value_type = Tenant)]
    pub tenant: String,
    /// 1 official accounts (default), 2 mini programs, 3 both.
    #[schema(minimum = 1, maximum = 3)]
    pub auth_type: Option<u8>,
    /// Only this account may authorize through the link.
    #[schema(value_type = Option<Appid>)]
    pub biz_appid: Option<String>,
    /// Where the merchant's browser goes afterwards, with `authorizer_appid` and
    /// `status=authorized` added; its origin must be in `WXOPEN_RETURN_URL_ORIGINS`.
    #[schema(value_type = Option<HttpUrl>)]
    pub return_url: Option<String>,
    /// Seconds, 60..=2592000 (default `WXOPEN_LINK_TTL_SECS`).
    #[schema(minimum = 60, maximum = 2592000)]
    pub expires_in: Option<u64>,
}

impl TryFrom<CreateLinkRequest> for NewLink {
    type Error = ApiError;

    fn try_from(r: CreateLinkRequest) -> Result<NewLink, ApiError> {
        let refused = |code, e: InvalidValue| ApiError::detailed(code, e.0);
        Ok(NewLink {
            tenant: Tenant::parse(&r.tenant).map_err(|e| refused(ErrorCode::InvalidTenant, e))?,
            auth_type: r.auth_type,
            biz_appid: r
                .biz_appid
                .as_deref()
                .map(Appid::parse)
                .transpose()
                .map_err(|e| refused(ErrorCode::InvalidBizAppid, e))?,
            return_url: r
                .return_url
                .as_deref()
                .map(HttpUrl::parse)
                .transpose()
                .map_err(|e| refused(ErrorCode::ReturnUrlNotAllowed, e))?,
            expires_in: r.expires_in,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api::body::parse_json;
    use serde_json::json;

    fn read<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
        parse_json(v.to_string().as_bytes())
    }

    fn template(v: serde_json::Value) -> Result<TemplateSend, String> {
        read::<TemplateMessageRequest>(v)
            .map(TemplateSend::from)
            .map_err(|e| e.message())
    }

    fn body() -> serde_json::Value {
        json!({"touser": ["oA", "oB"], "template_id": "T1", "url": "https://example.com/o/1",
               "data": {"first": {"value": "Hello", "color": "#FF0000"}, "remark": "plain"}})
    }

    fn mass(v: serde_json::Value) -> Result<MassRequest, String> {
        read::<MassMessageRequest>(v)
            .and_then(MassRequest::try_from)
            .map_err(|e| e.message())
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

    #[test]
    fn a_mass_request_names_exactly_one_target() {
        let r = mass(json!({"tag_id": 100, "msgtype": "text", "text": {"content": "hi"}})).unwrap();
        assert_eq!(r.target, MassTarget::Tag(100));
        let r = mass(json!({"to_all": true, "msgtype": "mpnews", "mpnews": {"media_id": "m"}}))
            .unwrap();
        assert_eq!(r.target, MassTarget::All);
        assert!(mass(
            json!({"to_all": true, "tag_id": 1, "msgtype": "text", "text": {"content": "x"}})
        )
        .unwrap_err()
        .contains("only one"));
        assert!(mass(json!({"msgtype": "text", "text": {"content": "x"}})).is_err());
        let e = mass(json!({"touser": ["oA"], "msgtype": "text", "text": {"content": "x"}}))
            .unwrap_err();
        assert!(e.contains("`touser`: must hold 2..=10000"), "{e}");
    }

    #[test]
    fn a_payload_must_match_its_msgtype() {
        let e = mass(json!({"to_all": true, "msgtype": "text", "text": {"content": "x"}, "image": {"media_id": "m"}})).unwrap_err();
        assert!(
            e.contains("`image`: does not go with msgtype `text`"),
            "{e}"
        );
        let e = mass(json!({"to_all": true, "msgtype": "image"})).unwrap_err();
        assert!(e.contains("`image`: is required"), "{e}");
        let e = mass(json!({"to_all": true, "msgtype": "video", "video": {"media_id": "m"}}))
            .unwrap_err();
        assert!(e.contains("`msgtype`"), "{e}");
        let e =
            mass(json!({"to_all": true, "msgtype": "text", "text": {"content": 5}})).unwrap_err();
        assert!(e.contains("`text.content`"), "{e}");
    }

    #[test]
    fn a_custom_message_needs_one_openid() {
        let custom = |v| {
            read::<CustomMessageRequest>(v)
                .and_then(CustomMessage::try_from)
                .map_err(|e| e.message())
        };
        let m =
            custom(json!({"touser": "oA", "msgtype": "text", "text": {"content": "hi"}})).unwrap();
        assert_eq!(m.touser, "oA");
        assert!(
            custom(json!({"touser": ["oA"], "msgtype": "text", "text": {"content": "hi"}}))
                .unwrap_err()
                .contains("`touser`")
        );
    }

    #[test]
    fn news_articles_are_read_and_bad_ones_named() {
        let news = |v| {
            read::<NewsUploadRequest>(v)
                .and_then(Vec::<Article>::try_from)
                .map_err(|e| e.message())
        };
        let ok = json!({"type": "news", "articles": [{"title": "T", "thumb_media_id": "m", "content": "<p>x</p>", "show_cover_pic": 1}]});
        assert_eq!(news(ok).unwrap()[0].show_cover_pic, Some(1));
        let bad = json!({"type": "news", "articles": [{"title": "T", "content": "c"}]});
        assert!(news(bad)
            .unwrap_err()
            .contains("`articles[0].thumb_media_id`: is required"));
        let flag = json!({"type": "news", "articles": [{"title": "T", "thumb_media_id": "m", "content": "c", "show_cover_pic": 2}]});
        assert!(news(flag)
            .unwrap_err()
            .contains("`articles[0].show_cover_pic`: must be 0 or 1"));
        let nine = json!({"type": "news", "articles": vec![json!({"title": "T", "thumb_media_id": "m", "content": "c"}); 9]});
        assert!(news(nine).unwrap_err().contains("1..=8"));
    }

    #[test]
    fn link_values_are_refused_with_their_own_codes() {
        let link = |v| {
            read::<CreateLinkRequest>(v)
                .and_then(NewLink::try_from)
                .map_err(|e| e.code)
        };
        assert_eq!(
            link(json!({"tenant": "no spaces"})).unwrap_err(),
            ErrorCode::InvalidTenant
        );
        assert_eq!(
            link(json!({"tenant": "acme", "biz_appid": "nope"})).unwrap_err(),
            ErrorCode::InvalidBizAppid
        );
        assert_eq!(
            link(json!({"tenant": "acme", "color": "red"})).unwrap_err(),
            ErrorCode::InvalidRequest
        );
        assert_eq!(link(json!({})).unwrap_err(), ErrorCode::InvalidRequest);
        assert!(link(json!({"tenant": "acme", "return_url": "https://erp.example.com/x"})).is_ok());
    }
}
