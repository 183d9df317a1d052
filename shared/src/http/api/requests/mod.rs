//! The `/v1` request bodies: serde reads each into its type (unknown fields
//! refused, a refusal naming the field's path, e.g. `touser[3]`), the checked
//! domain types inside enforce their own rules, and `TryFrom` turns a body
//! into what the service takes, checking what spans several fields.
//! Each type describes itself to the OpenAPI document.

mod links;
mod media;
mod messages;
mod payloads;
mod templates;

pub(crate) use links::CreateLinkRequest;
pub(crate) use media::{MediaUploadForm, NewsUploadRequest};
pub(crate) use messages::{CustomMessageRequest, MassMessageRequest, MassPreviewRequest};
pub(crate) use templates::{TemplateMessageRequest, TemplateRecipients};

use crate::domain::Text;

type ShortText = Text<64>;
type IdText = Text<256>;
type LongText = Text<1024>;

/// Reads a JSON body into `T` as the routes do (the request tests' helper).
#[cfg(test)]
fn read<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
) -> Result<T, crate::http::error::ApiError> {
    crate::http::api::body::parse_json(v.to_string().as_bytes())
}
