//! Template messages and the account's template list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::call::Token;
use super::de::u64_lenient;
use super::{paths, WechatClient, WechatError};
use crate::secret::Secret;

/// A template message to one openid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMessage {
    pub touser: String,
    pub template_id: String,
    /// Opened when the message is tapped (unless a mini program is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgramLink>,
    /// The template's `{{key.DATA}}` values.
    pub data: BTreeMap<String, TemplateValue>,
    /// WeChat drops a repeat with the same id (within about 10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
}

/// A mini-program page a template message opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgramLink {
    pub appid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagepath: Option<String>,
}

/// One value of a template message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateValue {
    pub value: String,
    /// `#RRGGBB`; WeChat ignores it for most templates now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

impl TemplateValue {
    /// A value without colour.
    pub fn new(value: impl Into<String>) -> Self {
        TemplateValue {
            value: value.into(),
            color: None,
        }
    }
}

/// A template the account has added.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct PrivateTemplate {
    pub template_id: String,
    pub title: String,
    pub primary_industry: String,
    pub deputy_industry: String,
    pub content: String,
    pub example: String,
}

#[derive(Deserialize)]
struct SendReply {
    #[serde(deserialize_with = "u64_lenient")]
    msgid: u64,
}

#[derive(Deserialize)]
struct TemplateListReply {
    #[serde(default)]
    template_list: Vec<PrivateTemplate>,
}

impl WechatClient {
    /// `message/template/send`: returns WeChat's msgid, which the later
    /// TEMPLATESENDJOBFINISH event carries.
    pub async fn send_template(
        &self,
        access_token: &Secret,
        message: &TemplateMessage,
    ) -> Result<u64, WechatError> {
        let reply: SendReply = self
            .post_json(paths::TEMPLATE_SEND, Token::Access(access_token), message)
            .await?;
        Ok(reply.msgid)
    }

    /// `template/get_all_private_template`: the account's templates.
    pub async fn get_all_private_template(
        &self,
        access_token: &Secret,
    ) -> Result<Vec<PrivateTemplate>, WechatError> {
        let reply: TemplateListReply = self
            .get(
                paths::TEMPLATE_GET_ALL_PRIVATE,
                Token::Access(access_token),
                &[],
            )
            .await?;
        Ok(reply.template_list)
    }

    /// `template/api_add_template`: adds a template from the library by its
    /// short id (and, for the newer library, its keywords); returns the account's template_id.
    pub async fn add_template(
        &self,
        access_token: &Secret,
        template_id_short: &str,
        keyword_name_list: &[String],
    ) -> Result<String, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            template_id_short: &'a str,
            #[serde(skip_serializing_if = "<[String]>::is_empty")]
            keyword_name_list: &'a [String],
        }
        #[derive(Deserialize)]
        struct Reply {
            template_id: String,
        }
        let reply: Reply = self
            .post_json(
                paths::TEMPLATE_ADD,
                Token::Access(access_token),
                &Body {
                    template_id_short,
                    keyword_name_list,
                },
            )
            .await?;
        Ok(reply.template_id)
    }

    /// `template/del_private_template`.
    pub async fn delete_template(
        &self,
        access_token: &Secret,
        template_id: &str,
    ) -> Result<(), WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            template_id: &'a str,
        }
        let _: super::call::Empty = self
            .post_json(
                paths::TEMPLATE_DEL,
                Token::Access(access_token),
                &Body { template_id },
            )
            .await?;
        Ok(())
    }

    /// `template/get_industry`.
    pub async fn get_industry(&self, access_token: &Secret) -> Result<Industry, WechatError> {
        self.get(
            paths::TEMPLATE_GET_INDUSTRY,
            Token::Access(access_token),
            &[],
        )
        .await
    }

    /// `template/api_set_industry`: the account's primary and secondary industry ids.
    pub async fn set_industry(
        &self,
        access_token: &Secret,
        industry_id1: u32,
        industry_id2: u32,
    ) -> Result<(), WechatError> {
        #[derive(Serialize)]
        struct Body {
            industry_id1: String,
            industry_id2: String,
        }
        let _: super::call::Empty = self
            .post_json(
                paths::TEMPLATE_SET_INDUSTRY,
                Token::Access(access_token),
                &Body {
                    industry_id1: industry_id1.to_string(),
                    industry_id2: industry_id2.to_string(),
                },
            )
            .await?;
        Ok(())
    }
}

/// The account's industries (get_industry).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct Industry {
    pub primary_industry: IndustryClass,
    pub secondary_industry: IndustryClass,
}

/// One industry: first and second class names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct IndustryClass {
    pub first_class: String,
    pub second_class: String,
}
