//! Parametric QR codes (wechat-api.md §8): a scene the account's followers
//! scan, reported back as a `SCAN` or `subscribe` push carrying the scene.

use serde::{Deserialize, Serialize};

use super::call::Token;
use super::de::opt_u64_lenient;
use super::{paths, WechatClient, WechatError};
use crate::secret::Secret;

/// What a QR code carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scene {
    /// 1..=100000 for a permanent code; any 32-bit value for a temporary one.
    Id(u32),
    /// 1..=64 characters.
    Str(String),
}

/// A QR code to create: temporary for `expire_seconds`, permanent without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrRequest {
    pub scene: Scene,
    pub expire_seconds: Option<u32>,
}

impl QrRequest {
    /// WeChat's `action_name` for this scene and lifetime.
    pub fn action_name(&self) -> &'static str {
        match (&self.scene, self.expire_seconds) {
            (Scene::Id(_), Some(_)) => "QR_SCENE",
            (Scene::Str(_), Some(_)) => "QR_STR_SCENE",
            (Scene::Id(_), None) => "QR_LIMIT_SCENE",
            (Scene::Str(_), None) => "QR_LIMIT_STR_SCENE",
        }
    }
}

/// `qrcode/create`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QrCode {
    /// Shows the image (`showqrcode?ticket=`); not a credential.
    pub ticket: String,
    /// Seconds from now; absent for a permanent code.
    #[serde(default, deserialize_with = "opt_u64_lenient")]
    pub expire_seconds: Option<u64>,
    /// What the image encodes.
    pub url: String,
}

#[derive(Serialize)]
struct SceneBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    scene_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scene_str: Option<&'a str>,
}

#[derive(Serialize)]
struct ActionInfo<'a> {
    scene: SceneBody<'a>,
}

#[derive(Serialize)]
struct CreateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_seconds: Option<u32>,
    action_name: &'static str,
    action_info: ActionInfo<'a>,
}

impl WechatClient {
    /// Creates a QR code for the account whose access token this is.
    pub async fn qrcode_create(
        &self,
        access_token: &Secret,
        request: &QrRequest,
    ) -> Result<QrCode, WechatError> {
        let scene = match &request.scene {
            Scene::Id(id) => SceneBody {
                scene_id: Some(*id),
                scene_str: None,
            },
            Scene::Str(s) => SceneBody {
                scene_id: None,
                scene_str: Some(s),
            },
        };
        let body = CreateBody {
            expire_seconds: request.expire_seconds,
            action_name: request.action_name(),
            action_info: ActionInfo { scene },
        };
        self.post_json(paths::QRCODE_CREATE, Token::Access(access_token), &body)
            .await
    }
}
