//! A `multipart/form-data` upload: text fields and one file in field `media`.

use crate::http::error::ErrorCode;
use crate::http::{ApiError, Request};
use bytes::Bytes;
use std::collections::HashMap;

/// Largest text field.
const MAX_TEXT_FIELD: usize = 1024;

/// The uploaded file.
pub(crate) struct FilePart {
    pub filename: String,
    pub data: Bytes,
}

/// The form's text fields and its file.
pub(crate) struct Form {
    pub fields: HashMap<String, String>,
    pub file: Option<FilePart>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::detailed(ErrorCode::InvalidMultipart, message)
}

/// Reads the form; fields other than `allowed` text fields and the file field `media` are refused.
pub(crate) async fn read_form(req: &Request, allowed: &[&str]) -> Result<Form, ApiError> {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| bad("multipart/form-data needs a boundary"))?;
    let body = req.body().clone();
    let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = Form {
        fields: HashMap::new(),
        file: None,
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(format!("malformed multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "media" {
            let filename = field
                .file_name()
                .map(str::to_owned)
                .filter(|f| !f.trim().is_empty())
                .ok_or_else(|| {
                    bad("field `media` needs a filename (its extension tells the file type)")
                })?;
            let data = field
                .bytes()
                .await
                .map_err(|e| bad(format!("malformed multipart body: {e}")))?;
            if form.file.replace(FilePart { filename, data }).is_some() {
                return Err(bad("send one file, in field `media`"));
            }
        } else if allowed.contains(&name.as_str()) {
            let data = field
                .bytes()
                .await
                .map_err(|e| bad(format!("malformed multipart body: {e}")))?;
            if data.len() > MAX_TEXT_FIELD {
                return Err(bad(format!("field `{name}` is too long")));
            }
            let text = String::from_utf8(data.to_vec())
                .map_err(|_| bad(format!("field `{name}` is not UTF-8 text")))?;
            form.fields.insert(name, text.trim().to_owned());
        } else {
            return Err(bad(format!(
                "unknown field `{name}`; expected `media` and {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(form)
}
