//! Mass messages (by tag, to all, to 2..=10,000 openids), their status, and
//! customer-service messages.

use crate::app::App;
use crate::service::input::{message_content, openid_list, InvalidInput, MessageUse, Object};
use crate::store::{FinishEvent, StoreError};
use crate::tokens::TokenError;
use crate::wechat::{
    CustomMessage, MassFilter, MassMsgStatus, MassSend, MassSendAll, MessageContent, WechatError,
};
use sha2::{Digest, Sha256};

/// errcodes WeChat answers to a repeated `clientmsgid`, with the earlier msg_id:
/// 45065 already sent, 45066 repeated too soon.
const DUPLICATE_ERRCODES: &[i64] = &[45065, 45066];
/// errcode of mass/get for a msg_id it does not know.
const UNKNOWN_MSG_ID: i64 = 40035;

/// Who a mass message reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MassTarget {
    All,
    Tag(u64),
    OpenIds(Vec<String>),
}

/// A validated mass-message request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassRequest {
    pub target: MassTarget,
    pub message: MessageContent,
    pub send_ignore_reprint: bool,
}

/// Reads `{"to_all": true | "tag_id": N | "touser": [2..=10000 openids], "msgtype": …, "<msgtype>": {…}, "send_ignore_reprint"?}`.
pub fn parse_mass(body: &serde_json::Value) -> Result<MassRequest, InvalidInput> {
    let body = Object::root(body)?;
    let msgtype = body.opt_str("msgtype")?.unwrap_or_default();
    let mut allowed = vec![
        "to_all",
        "tag_id",
        "touser",
        "msgtype",
        "send_ignore_reprint",
    ];
    if ["text", "image", "voice", "mpnews", "mpvideo", "wxcard"].contains(&msgtype) {
        allowed.push(msgtype);
    }
    body.deny_unknown(&allowed)?;
    let to_all = body.opt_bool("to_all")?.unwrap_or(false);
    let tag = body.opt_u64("tag_id")?;
    let target =
        match (to_all, tag, body.has("touser")) {
            (true, None, false) => MassTarget::All,
            (false, Some(tag), false) => MassTarget::Tag(tag),
            (false, None, true) => {
                MassTarget::OpenIds(openid_list("touser", body.opt_value("touser"), 2, 10_000)?)
            }
            (false, None, false) => return Err(InvalidInput::new(
                "",
                "say who receives it: `to_all: true`, `tag_id`, or `touser` (2..=10000 openids)",
            )),
            _ => {
                return Err(InvalidInput::new(
                    "",
                    "give only one of `to_all`, `tag_id` and `touser`",
                ))
            }
        };
    let (message, _) = message_content(&body, MessageUse::Mass)?;
    Ok(MassRequest {
        target,
        message,
        send_ignore_reprint: body.opt_bool("send_ignore_reprint")?.unwrap_or(false),
    })
}

/// The `clientmsgid` for a mass send (≤ 64 bytes), derived from the
/// Idempotency-Key (or a request id), so a retried request is deduplicated by WeChat for 24 h.
pub fn clientmsgid(seed: &str) -> String {
    let mut id = hex::encode(Sha256::digest(format!("mass\0{seed}").as_bytes()));
    id.truncate(32);
    id
}

/// WeChat's ids for an accepted mass send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MassAccepted {
    pub msg_id: u64,
    pub msg_data_id: Option<u64>,
    /// WeChat had already accepted this clientmsgid; `msg_id` is the earlier send's.
    pub duplicate: bool,
}

/// Sends a mass message now (one WeChat call).
pub async fn send_mass(
    app: &App,
    appid: &str,
    request: &MassRequest,
    clientmsgid: &str,
) -> Result<MassAccepted, TokenError> {
    let wechat = &app.wechat;
    let result = match &request.target {
        MassTarget::OpenIds(touser) => {
            let message = MassSend {
                touser: touser.clone(),
                message: request.message.clone(),
                send_ignore_reprint: request.send_ignore_reprint,
                clientmsgid: Some(clientmsgid.to_owned()),
            };
            let message = &message;
            app.tokens
                .with_authorizer_token(appid, |token| async move {
                    wechat.mass_send(&token, message).await
                })
                .await
        }
        target => {
            let filter = match target {
                MassTarget::Tag(tag) => MassFilter::tag(*tag),
                _ => MassFilter::all(),
            };
            let message = MassSendAll {
                filter,
                message: request.message.clone(),
                send_ignore_reprint: request.send_ignore_reprint,
                clientmsgid: Some(clientmsgid.to_owned()),
            };
            let message = &message;
            app.tokens
                .with_authorizer_token(appid, |token| async move {
                    wechat.mass_sendall(&token, message).await
                })
                .await
        }
    };
    match result {
        Ok(r) => Ok(MassAccepted {
            msg_id: r.msg_id,
            msg_data_id: r.msg_data_id,
            duplicate: false,
        }),
        Err(TokenError::Wechat(WechatError::Api {
            errcode,
            msg_id: Some(msg_id),
            ..
        })) if DUPLICATE_ERRCODES.contains(&errcode) => Ok(MassAccepted {
            msg_id,
            msg_data_id: None,
            duplicate: true,
        }),
        Err(e) => Err(e),
    }
}

/// A mass send's status: WeChat's answer and the stored finish event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MassStatusView {
    pub msg_id: u64,
    /// `SEND_SUCCESS`, `SENDING`, `SEND_FAIL`, `DELETE` or `OTHER`.
    pub wechat_status: &'static str,
    pub finish: Option<FinishEvent>,
}

/// Why a mass status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MassStatusError {
    #[error("WeChat does not know mass message {0} for this account")]
    UnknownMsgId(u64),
    #[error(transparent)]
    Token(TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// mass/get merged with the MASSSENDJOBFINISH event, if one arrived.
pub async fn mass_status(
    app: &App,
    appid: &str,
    msg_id: u64,
) -> Result<MassStatusView, MassStatusError> {
    let wechat = &app.wechat;
    let status = app
        .tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.mass_get(&token, msg_id).await
        })
        .await
        .map_err(|e| match e {
            TokenError::Wechat(ref w) if w.errcode() == Some(UNKNOWN_MSG_ID) => {
                MassStatusError::UnknownMsgId(msg_id)
            }
            other => MassStatusError::Token(other),
        })?;
    let finish = app
        .store
        .get_finish_events(appid, &[msg_id], app.now())
        .await?
        .into_iter()
        .find(|e| e.msg_id == msg_id);
    Ok(MassStatusView {
        msg_id,
        wechat_status: match status.msg_status {
            MassMsgStatus::SendSuccess => "SEND_SUCCESS",
            MassMsgStatus::Sending => "SENDING",
            MassMsgStatus::SendFail => "SEND_FAIL",
            MassMsgStatus::Delete => "DELETE",
            MassMsgStatus::Other => "OTHER",
        },
        finish,
    })
}

/// Reads `{"touser": openid, "msgtype": …, "<msgtype>": {…}, "kf_account"?}`.
pub fn parse_custom(body: &serde_json::Value) -> Result<CustomMessage, InvalidInput> {
    let body = Object::root(body)?;
    let msgtype = body.opt_str("msgtype")?.unwrap_or_default();
    let mut allowed = vec!["touser", "msgtype", "kf_account"];
    if ["text", "image", "voice", "video", "mpnews", "wxcard"].contains(&msgtype) {
        allowed.push(msgtype);
    }
    body.deny_unknown(&allowed)?;
    let touser = body.str("touser", 64)?;
    if !crate::service::input::valid_openid(touser) {
        return Err(InvalidInput::new(
            "touser",
            "is not an openid (1..=64 characters of A-Z a-z 0-9 _ -)",
        ));
    }
    let (message, _) = message_content(&body, MessageUse::Custom)?;
    Ok(CustomMessage {
        touser: touser.to_owned(),
        message,
        kf_account: body.opt_nonempty_str("kf_account", 128)?.map(str::to_owned),
    })
}

/// Sends a customer-service message (only inside the user's 48-hour window: 45015 otherwise).
pub async fn send_custom(
    app: &App,
    appid: &str,
    message: &CustomMessage,
) -> Result<(), TokenError> {
    let wechat = &app.wechat;
    app.tokens
        .with_authorizer_token(appid, |token| async move {
            wechat.custom_send(&token, message).await
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_mass_request_names_exactly_one_target() {
        let r = parse_mass(&json!({"tag_id": 100, "msgtype": "text", "text": {"content": "hi"}}))
            .unwrap();
        assert_eq!(r.target, MassTarget::Tag(100));
        let r =
            parse_mass(&json!({"to_all": true, "msgtype": "mpnews", "mpnews": {"media_id": "m"}}))
                .unwrap();
        assert_eq!(r.target, MassTarget::All);
        assert!(parse_mass(
            &json!({"to_all": true, "tag_id": 1, "msgtype": "text", "text": {"content": "x"}})
        )
        .is_err());
        assert!(parse_mass(&json!({"msgtype": "text", "text": {"content": "x"}})).is_err());
    }

    #[test]
    fn a_mass_openid_list_needs_two_to_ten_thousand() {
        let e = parse_mass(&json!({"touser": ["oA"], "msgtype": "text", "text": {"content": "x"}}))
            .unwrap_err();
        assert_eq!(e.field, "touser");
        let r = parse_mass(
            &json!({"touser": ["oA", "oB"], "msgtype": "text", "text": {"content": "x"}}),
        )
        .unwrap();
        assert_eq!(
            r.target,
            MassTarget::OpenIds(vec!["oA".into(), "oB".into()])
        );
    }

    #[test]
    fn stray_payloads_of_another_msgtype_are_refused() {
        let e = parse_mass(&json!({"to_all": true, "msgtype": "text", "text": {"content": "x"}, "image": {"media_id": "m"}})).unwrap_err();
        assert_eq!(e.field, "image");
    }

    #[test]
    fn clientmsgid_is_stable_per_seed_and_short() {
        assert_eq!(clientmsgid("k1"), clientmsgid("k1"));
        assert_ne!(clientmsgid("k1"), clientmsgid("k2"));
        assert!(clientmsgid("k1").len() <= 64);
    }

    #[test]
    fn a_custom_message_needs_one_openid() {
        let m =
            parse_custom(&json!({"touser": "oA", "msgtype": "text", "text": {"content": "hi"}}))
                .unwrap();
        assert_eq!(m.touser, "oA");
        assert_eq!(
            parse_custom(&json!({"touser": ["oA"], "msgtype": "text", "text": {"content": "hi"}}))
                .unwrap_err()
                .field,
            "touser"
        );
    }
}
