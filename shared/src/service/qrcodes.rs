//! Parametric QR codes (wechat-api.md §8): the scene is checked against
//! WeChat's limits before WeChat is called; a scan comes back as a `SCAN` or
//! `subscribe` push carrying the scene.

use crate::app::App;
use crate::config::{Config, WechatWeb};
use crate::tokens::TokenError;
use crate::wechat::{paths, QrRequest, Scene};

/// Scene ids of a permanent code.
pub const PERMANENT_SCENE_IDS: std::ops::RangeInclusive<u32> = 1..=100_000;
/// Characters of a string scene.
pub const MAX_SCENE_STR_CHARS: usize = 64;
/// Lifetime of a temporary code, in seconds (WeChat's limit: 30 days).
pub const EXPIRE_SECONDS: std::ops::RangeInclusive<u32> = 60..=2_592_000;
/// WeChat's web host, where the image is served.
const REAL_IMAGE_BASE: &str = "https://mp.weixin.qq.com";

/// Why a QR code request is refused before WeChat is called: (field, problem).
pub fn check(request: &QrRequest) -> Result<(), (&'static str, String)> {
    match &request.scene {
        Scene::Id(0) => return Err(("scene_id", "must be at least 1".into())),
        Scene::Id(id) if request.expire_seconds.is_none() && !PERMANENT_SCENE_IDS.contains(id) => {
            return Err((
                "scene_id",
                "must be 1..=100000 for a permanent code (give expire_seconds for a temporary one)"
                    .into(),
            ))
        }
        Scene::Str(s) if s.is_empty() || s.chars().count() > MAX_SCENE_STR_CHARS => {
            return Err((
                "scene_str",
                format!("must be 1..={MAX_SCENE_STR_CHARS} characters"),
            ))
        }
        _ => {}
    }
    match request.expire_seconds {
        Some(s) if !EXPIRE_SECONDS.contains(&s) => Err((
            "expire_seconds",
            format!(
                "must be {}..={} (30 days); leave it out for a permanent code",
                EXPIRE_SECONDS.start(),
                EXPIRE_SECONDS.end()
            ),
        )),
        _ => Ok(()),
    }
}

/// A created code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedQr {
    pub ticket: String,
    /// What the code encodes.
    pub url: String,
    /// WeChat's image of it.
    pub image_url: String,
    /// `None`: permanent.
    pub expires_at: Option<u64>,
}

/// Creates the code with the authorizer's token (checked with [`check`] first).
pub async fn create(app: &App, appid: &str, request: &QrRequest) -> Result<CreatedQr, TokenError> {
    let code = app
        .tokens
        .with_authorizer_token(appid, |token| async move {
            app.wechat.qrcode_create(&token, request).await
        })
        .await?;
    let expires_at = code
        .expire_seconds
        .filter(|_| request.expire_seconds.is_some())
        .map(|s| app.now().saturating_add(s));
    Ok(CreatedQr {
        image_url: image_url(&app.config, &code.ticket),
        ticket: code.ticket,
        url: code.url,
        expires_at,
    })
}

/// `showqrcode?ticket=` on WeChat's web host, or the configured stand-in.
pub fn image_url(config: &Config, ticket: &str) -> String {
    let base = match &config.wechat_web {
        WechatWeb::WechatHosts => REAL_IMAGE_BASE,
        WechatWeb::Base(base) => base.as_str(),
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("ticket", ticket);
    format!("{base}{}?{}", paths::SHOWQRCODE, query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(scene: Scene, expire_seconds: Option<u32>) -> QrRequest {
        QrRequest {
            scene,
            expire_seconds,
        }
    }

    #[test]
    fn scene_limits_follow_wechat() {
        assert!(check(&req(Scene::Id(100_000), None)).is_ok());
        assert_eq!(
            check(&req(Scene::Id(100_001), None)).unwrap_err().0,
            "scene_id"
        );
        assert!(check(&req(Scene::Id(100_001), Some(600))).is_ok());
        assert_eq!(
            check(&req(Scene::Id(0), Some(600))).unwrap_err().0,
            "scene_id"
        );
        assert!(check(&req(Scene::Str("中".repeat(64)), None)).is_ok());
        assert_eq!(
            check(&req(Scene::Str("x".repeat(65)), None)).unwrap_err().0,
            "scene_str"
        );
        assert_eq!(
            check(&req(Scene::Str(String::new()), None)).unwrap_err().0,
            "scene_str"
        );
        assert_eq!(
            check(&req(Scene::Id(1), Some(2_592_001))).unwrap_err().0,
            "expire_seconds"
        );
        assert_eq!(
            check(&req(Scene::Id(1), Some(59))).unwrap_err().0,
            "expire_seconds"
        );
    }

    #[test]
    fn the_action_follows_the_scene_and_lifetime() {
        assert_eq!(req(Scene::Id(1), Some(60)).action_name(), "QR_SCENE");
        assert_eq!(
            req(Scene::Str("a".into()), Some(60)).action_name(),
            "QR_STR_SCENE"
        );
        assert_eq!(req(Scene::Id(1), None).action_name(), "QR_LIMIT_SCENE");
        assert_eq!(
            req(Scene::Str("a".into()), None).action_name(),
            "QR_LIMIT_STR_SCENE"
        );
    }
}
