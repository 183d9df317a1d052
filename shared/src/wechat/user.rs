//! Followers: the openid list and profiles.

use serde::{Deserialize, Serialize};

use super::call::Token;
use super::de::{opt_u64_lenient, u64_lenient};
use super::{paths, WechatClient, WechatError};
use crate::secret::Secret;

/// One page (≤ 10,000) of follower openids.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct UserList {
    /// Followers in all.
    #[serde(deserialize_with = "u64_lenient")]
    pub total: u64,
    /// Openids on this page.
    #[serde(deserialize_with = "u64_lenient")]
    pub count: u64,
    /// Missing on the last page; then empty.
    pub data: OpenIdPage,
    /// Pass back to get the next page; empty (or repeating) at the end.
    pub next_openid: String,
}

/// The `data` of a [`UserList`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct OpenIdPage {
    pub openid: Vec<String>,
}

/// A follower's profile. `subscribe` 0 means not (or no longer) following;
/// then only `openid` is given. WeChat no longer returns nickname and avatar.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    #[serde(deserialize_with = "u64_lenient")]
    pub subscribe: u64,
    pub openid: String,
    pub language: Option<String>,
    #[serde(deserialize_with = "opt_u64_lenient")]
    pub subscribe_time: Option<u64>,
    pub unionid: Option<String>,
    pub remark: Option<String>,
    pub groupid: Option<i64>,
    pub tagid_list: Vec<i64>,
    pub subscribe_scene: Option<String>,
    pub qr_scene: Option<i64>,
    pub qr_scene_str: Option<String>,
    pub nickname: Option<String>,
    pub headimgurl: Option<String>,
}

#[derive(Deserialize)]
struct BatchReply {
    #[serde(default)]
    user_info_list: Vec<UserInfo>,
}

impl WechatClient {
    /// `user/get`: followers from `next_openid` on (from the start when `None`).
    pub async fn user_get(
        &self,
        access_token: &Secret,
        next_openid: Option<&str>,
    ) -> Result<UserList, WechatError> {
        self.get(
            paths::USER_GET,
            Token::Access(access_token),
            &[("next_openid", next_openid)],
        )
        .await
    }

    /// `user/info`: one follower's profile; `lang` e.g. `zh_CN` (WeChat's default).
    pub async fn user_info(
        &self,
        access_token: &Secret,
        openid: &str,
        lang: Option<&str>,
    ) -> Result<UserInfo, WechatError> {
        self.get(
            paths::USER_INFO,
            Token::Access(access_token),
            &[("openid", Some(openid)), ("lang", lang)],
        )
        .await
    }

    /// `user/info/batchget`: up to 100 profiles at once.
    pub async fn user_info_batchget<S: AsRef<str>>(
        &self,
        access_token: &Secret,
        openids: &[S],
    ) -> Result<Vec<UserInfo>, WechatError> {
        #[derive(Serialize)]
        struct Entry<'a> {
            openid: &'a str,
            lang: &'static str,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            user_list: Vec<Entry<'a>>,
        }
        let body = Body {
            user_list: openids
                .iter()
                .map(|openid| Entry {
                    openid: openid.as_ref(),
                    lang: "zh_CN",
                })
                .collect(),
        };
        let reply: BatchReply = self
            .post_json(
                paths::USER_INFO_BATCHGET,
                Token::Access(access_token),
                &body,
            )
            .await?;
        Ok(reply.user_info_list)
    }

    /// `user/info/updateremark`: the account's note on a follower (< 30 characters).
    pub async fn user_update_remark(
        &self,
        access_token: &Secret,
        openid: &str,
        remark: &str,
    ) -> Result<(), WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            openid: &'a str,
            remark: &'a str,
        }
        let _: super::call::Empty = self
            .post_json(
                paths::USER_UPDATE_REMARK,
                Token::Access(access_token),
                &Body { openid, remark },
            )
            .await?;
        Ok(())
    }
}
