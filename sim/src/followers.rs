//! What a follower can do to an account besides writing text: every message
//! type WeChat pushes and the subscribe / unsubscribe / scan (with a QR scene)
//! / click / view events, pushed encrypted and signed as WeChat does, with its
//! retries. Driven by [`SimHandle::follower_action`] and
//! `POST /_sim/accounts/{appid}/follower-actions`.

use crate::calls::lock;
use crate::handle::{SimError, SimHandle};
use crate::push::{PushEvent, PushOutcome};
use crate::xmlmini::cdata;
use serde::Deserialize;

/// One thing a follower does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FollowerAction {
    Text {
        content: String,
    },
    Image {
        #[serde(default = "default_pic_url")]
        pic_url: String,
    },
    Voice {
        #[serde(default = "default_format")]
        format: String,
    },
    Video,
    Shortvideo,
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default)]
        label: String,
    },
    Link {
        title: String,
        url: String,
        #[serde(default)]
        description: String,
    },
    /// Follows the account; from a parametric QR code when `scene` is given.
    Subscribe {
        #[serde(default)]
        scene: Option<String>,
    },
    Unsubscribe,
    /// Scans a parametric QR code while already following.
    Scan {
        scene: String,
    },
    /// Clicks a menu button.
    Click {
        key: String,
    },
    /// Opens a menu link.
    View {
        url: String,
    },
}

fn default_pic_url() -> String {
    "https://mmbiz.qpic.cn/sim/photo.jpg".to_owned()
}

fn default_format() -> String {
    "amr".to_owned()
}

impl FollowerAction {
    /// (MsgType, the push's own fields, whether it carries a MsgId).
    fn render(&self, msgid: u64) -> (&'static str, String, bool) {
        let media = format!(
            "<MediaId>{}</MediaId>",
            cdata(&format!("sim_media_{msgid}"))
        );
        match self {
            FollowerAction::Text { content } => {
                ("text", format!("<Content>{}</Content>", cdata(content)), true)
            }
            FollowerAction::Image { pic_url } => (
                "image",
                format!("<PicUrl>{}</PicUrl>{media}", cdata(pic_url)),
                true,
            ),
            FollowerAction::Voice { format } => (
                "voice",
                format!("{media}<Format>{}</Format>", cdata(format)),
                true,
            ),
            FollowerAction::Video | FollowerAction::Shortvideo => {
                let kind = if matches!(self, FollowerAction::Video) {
                    "video"
                } else {
                    "shortvideo"
                };
                let thumb = format!(
                    "<ThumbMediaId>{}</ThumbMediaId>",
                    cdata(&format!("sim_thumb_{msgid}"))
                );
                (kind, format!("{media}{thumb}"), true)
            }
            FollowerAction::Location {
                latitude,
                longitude,
                label,
            } => (
                "location",
                format!(
                    "<Location_X>{latitude}</Location_X><Location_Y>{longitude}</Location_Y><Scale>15</Scale><Label>{}</Label>",
                    cdata(label)
                ),
                true,
            ),
            FollowerAction::Link {
                title,
                url,
                description,
            } => (
                "link",
                format!(
                    "<Title>{}</Title><Description>{}</Description><Url>{}</Url>",
                    cdata(title),
                    cdata(description),
                    cdata(url)
                ),
                true,
            ),
            FollowerAction::Subscribe { scene } => {
                let key = match scene {
                    Some(scene) => format!(
                        "<EventKey>{}</EventKey><Ticket>{}</Ticket>",
                        cdata(&format!("qrscene_{scene}")),
                        cdata(&format!("sim_ticket_{scene}"))
                    ),
                    None => String::new(),
                };
                ("event", format!("<Event>{}</Event>{key}", cdata("subscribe")), false)
            }
            FollowerAction::Unsubscribe => (
                "event",
                format!("<Event>{}</Event>", cdata("unsubscribe")),
                false,
            ),
            FollowerAction::Scan { scene } => (
                "event",
                format!(
                    "<Event>{}</Event><EventKey>{}</EventKey><Ticket>{}</Ticket>",
                    cdata("SCAN"),
                    cdata(scene),
                    cdata(&format!("sim_ticket_{scene}"))
                ),
                false,
            ),
            FollowerAction::Click { key } => (
                "event",
                format!("<Event>{}</Event><EventKey>{}</EventKey>", cdata("CLICK"), cdata(key)),
                false,
            ),
            FollowerAction::View { url } => (
                "event",
                format!("<Event>{}</Event><EventKey>{}</EventKey>", cdata("VIEW"), cdata(url)),
                false,
            ),
        }
    }
}

impl SimHandle {
    /// `openid` does `action` on `appid`: pushed to the authorizer URL (a
    /// message opens the customer-service window); the outcome holds our
    /// server's answer.
    pub async fn follower_action(
        &self,
        appid: &str,
        openid: &str,
        action: &FollowerAction,
    ) -> Result<PushOutcome, SimError> {
        let now = self.now();
        let (user_name, msgid) = {
            let mut w = lock(&self.shared.world);
            let user_name = w
                .accounts
                .get(appid)
                .map(|a| a.cfg.user_name.clone())
                .ok_or_else(|| SimError::UnknownAccount(appid.to_owned()))?;
            let msgid = w.next_msgid();
            (user_name, msgid)
        };
        let (msg_type, fields, is_message) = action.render(msgid);
        if is_message {
            lock(&self.shared.world).user_spoke(appid, openid, now);
        }
        let fields = if is_message {
            format!("{fields}<MsgId>{msgid}</MsgId>")
        } else {
            fields
        };
        let event = PushEvent::Follower {
            appid: appid.to_owned(),
            user_name,
            openid: openid.to_owned(),
            msg_type,
            fields,
        };
        Ok(self.shared.push_and_wait(&event, now, msg_type).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qr_subscribe_carries_its_scene_and_messages_their_media() {
        let (t, f, m) = FollowerAction::Subscribe {
            scene: Some("42".into()),
        }
        .render(7);
        assert_eq!((t, m), ("event", false));
        assert!(f.contains("qrscene_42"), "{f}");
        let (t, f, m) = FollowerAction::Image {
            pic_url: default_pic_url(),
        }
        .render(7);
        assert_eq!((t, m), ("image", true));
        assert!(f.contains("<MediaId>"), "{f}");
        let parsed: FollowerAction =
            serde_json::from_str(r#"{"type":"scan","scene":"store_7"}"#).unwrap();
        assert_eq!(
            parsed,
            FollowerAction::Scan {
                scene: "store_7".into()
            }
        );
        assert!(serde_json::from_str::<FollowerAction>(r#"{"type":"dance"}"#).is_err());
    }
}
