//! Mass messages (by tag, to all, to 2..=10,000 openids), their status, and
//! customer-service messages.

use crate::app::App;
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

/// Fewest and most openids of a mass send to a list (WeChat's own bounds).
pub const MIN_MASS_RECIPIENTS: usize = 2;
pub const MAX_MASS_RECIPIENTS: usize = 10_000;

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
    pub wechat_status: MassMsgStatus,
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
        wechat_status: status.msg_status,
        finish,
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

    #[test]
    fn clientmsgid_is_stable_per_seed_and_short() {
        assert_eq!(clientmsgid("k1"), clientmsgid("k1"));
        assert_ne!(clientmsgid("k1"), clientmsgid("k2"));
        assert!(clientmsgid("k1").len() <= 64);
    }
}
