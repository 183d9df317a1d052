//! Downloads of temporary media and the account's permanent materials
//! (wechat-api.md §8). A file comes back as WeChat's bytes with its content
//! type; a video as WeChat's JSON (its URL, or its title and description).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::call::{Empty, Token, Upload};
use super::de::u64_lenient;
use super::raw::{JsonErrors, RawAnswer};
use super::{paths, MediaType, WechatClient, WechatError};
use crate::secret::Secret;

/// What a download produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Download {
    /// The file as WeChat sent it.
    File {
        content_type: Option<String>,
        bytes: Bytes,
    },
    /// WeChat answered JSON instead of a file: a video's `video_url`, a
    /// permanent video's `title`/`description`/`down_url`, news' `news_item`.
    Document(serde_json::Value),
}

impl From<RawAnswer> for Download {
    fn from(answer: RawAnswer) -> Self {
        match answer.json() {
            Some(document) => Download::Document(document),
            None => Download::File {
                content_type: answer.content_type,
                bytes: answer.body,
            },
        }
    }
}

/// Kinds of permanent material (`add_material?type=`, `batchget_material`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaterialType {
    Image,
    Voice,
    Video,
    Thumb,
    News,
}

impl MaterialType {
    pub fn as_str(self) -> &'static str {
        match self {
            MaterialType::Image => "image",
            MaterialType::Voice => "voice",
            MaterialType::Video => "video",
            MaterialType::Thumb => "thumb",
            MaterialType::News => "news",
        }
    }

    /// The temporary-media kind with the same file rules, for uploads.
    pub fn media_type(self) -> Option<MediaType> {
        match self {
            MaterialType::Image => Some(MediaType::Image),
            MaterialType::Voice => Some(MediaType::Voice),
            MaterialType::Video => Some(MediaType::Video),
            MaterialType::Thumb => Some(MediaType::Thumb),
            MaterialType::News => None,
        }
    }
}

/// A permanent video's `description` part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VideoDescription {
    pub title: String,
    pub introduction: String,
}

/// What add_material answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AddedMaterial {
    pub media_id: String,
    /// Images only.
    #[serde(default)]
    pub url: Option<String>,
}

/// The account's material counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct MaterialCount {
    #[serde(deserialize_with = "u64_lenient")]
    pub voice_count: u64,
    #[serde(deserialize_with = "u64_lenient")]
    pub video_count: u64,
    #[serde(deserialize_with = "u64_lenient")]
    pub image_count: u64,
    #[serde(deserialize_with = "u64_lenient")]
    pub news_count: u64,
}

/// One page of batchget_material.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct MaterialPage {
    #[serde(deserialize_with = "u64_lenient")]
    pub total_count: u64,
    #[serde(deserialize_with = "u64_lenient")]
    pub item_count: u64,
    pub item: Vec<MaterialItem>,
}

/// One material of a page: files have `name` and `url`, news its `content`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct MaterialItem {
    pub media_id: String,
    pub name: Option<String>,
    pub url: Option<String>,
    #[serde(deserialize_with = "u64_lenient")]
    pub update_time: u64,
    pub content: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct MediaIdBody<'a> {
    media_id: &'a str,
}

impl WechatClient {
    /// `media/get`: a temporary media item, at most `limit` bytes.
    pub async fn media_get(
        &self,
        access_token: &Secret,
        media_id: &str,
        limit: usize,
    ) -> Result<Download, WechatError> {
        let query = [("media_id", Some(media_id))];
        self.send_raw(
            paths::MEDIA_GET,
            || {
                self.request(
                    reqwest::Method::GET,
                    paths::MEDIA_GET,
                    Token::Access(access_token),
                    &query,
                )
            },
            limit,
            JsonErrors::All,
        )
        .await
        .map(Download::from)
    }

    /// `material/get_material`: a permanent material, at most `limit` bytes.
    pub async fn material_get(
        &self,
        access_token: &Secret,
        media_id: &str,
        limit: usize,
    ) -> Result<Download, WechatError> {
        self.send_raw(
            paths::MATERIAL_GET,
            || {
                self.request(
                    reqwest::Method::POST,
                    paths::MATERIAL_GET,
                    Token::Access(access_token),
                    &[],
                )
                .json(&MediaIdBody { media_id })
            },
            limit,
            JsonErrors::All,
        )
        .await
        .map(Download::from)
    }

    /// `material/add_material?type=`: a permanent file (a video with its description).
    pub async fn material_add(
        &self,
        access_token: &Secret,
        kind: MaterialType,
        filename: &str,
        bytes: Bytes,
        description: Option<&VideoDescription>,
    ) -> Result<AddedMaterial, WechatError> {
        let mut fields = Vec::new();
        if let Some(d) = description {
            let text = serde_json::to_string(d).map_err(|source| WechatError::Decode {
                endpoint: paths::MATERIAL_ADD,
                path: "description".to_owned(),
                source,
            })?;
            fields.push(("description", text));
        }
        self.post_media_with(
            paths::MATERIAL_ADD,
            Token::Access(access_token),
            &[("type", Some(kind.as_str()))],
            Upload { filename, bytes },
            &fields,
        )
        .await
    }

    /// `material/del_material`.
    pub async fn material_delete(
        &self,
        access_token: &Secret,
        media_id: &str,
    ) -> Result<(), WechatError> {
        let _: Empty = self
            .post_json(
                paths::MATERIAL_DEL,
                Token::Access(access_token),
                &MediaIdBody { media_id },
            )
            .await?;
        Ok(())
    }

    /// `material/get_materialcount`.
    pub async fn material_count(
        &self,
        access_token: &Secret,
    ) -> Result<MaterialCount, WechatError> {
        self.get(paths::MATERIAL_COUNT, Token::Access(access_token), &[])
            .await
    }

    /// `material/batchget_material`: `count` 1..=20 from `offset`.
    pub async fn material_list(
        &self,
        access_token: &Secret,
        kind: MaterialType,
        offset: u64,
        count: u64,
    ) -> Result<MaterialPage, WechatError> {
        #[derive(Serialize)]
        struct Body {
            #[serde(rename = "type")]
            kind: MaterialType,
            offset: u64,
            count: u64,
        }
        self.post_json(
            paths::MATERIAL_BATCHGET,
            Token::Access(access_token),
            &Body {
                kind,
                offset,
                count,
            },
        )
        .await
    }
}
