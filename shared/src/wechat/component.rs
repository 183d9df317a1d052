//! Platform (component) endpoints: the component token, pre-auth codes,
//! exchanging an authorization code, authorizer tokens and profiles, quota
//! resets (wechat-api.md §3).

use serde::{Deserialize, Serialize};

use super::call::{Empty, Token};
use super::de::{
    func_info, lenient_flag, lenient_object, lenient_opt_object, lenient_string, lenient_type_id,
    opt_nonempty_secret, u64_lenient,
};
use super::{paths, WechatClient, WechatError};
use crate::secret::Secret;

/// The platform's own access token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ComponentToken {
    #[serde(rename = "component_access_token")]
    pub access_token: Secret,
    /// Seconds from now.
    #[serde(deserialize_with = "u64_lenient")]
    pub expires_in: u64,
}

/// A code that opens WeChat's authorization page once.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PreAuthCode {
    pub pre_auth_code: Secret,
    /// Seconds from now.
    #[serde(deserialize_with = "u64_lenient")]
    pub expires_in: u64,
}

/// What an authorization code is exchanged for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthorizationInfo {
    pub authorizer_appid: String,
    pub authorizer_access_token: Secret,
    /// Seconds from now.
    #[serde(deserialize_with = "u64_lenient")]
    pub expires_in: u64,
    pub authorizer_refresh_token: Secret,
    /// The permission-set ids the merchant granted.
    #[serde(default, deserialize_with = "func_info")]
    pub func_info: Vec<u32>,
}

/// A renewed authorizer access token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthorizerToken {
    pub authorizer_access_token: Secret,
    /// Seconds from now.
    #[serde(deserialize_with = "u64_lenient")]
    pub expires_in: u64,
    /// The refresh token to keep from now on. `None` when WeChat sent none (or
    /// an empty one): keep the old one then.
    #[serde(default, deserialize_with = "opt_nonempty_secret")]
    pub authorizer_refresh_token: Option<Secret>,
}

/// An authorizer's public profile. Every field is optional and read
/// leniently: WeChat's answer varies between official accounts and mini
/// programs, and a field of the wrong type is `None` rather than a failed call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct AuthorizerDetails {
    #[serde(deserialize_with = "lenient_string")]
    pub nick_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub head_img: Option<String>,
    /// `service_type_info.id`.
    #[serde(rename = "service_type_info", deserialize_with = "lenient_type_id")]
    pub service_type: Option<i64>,
    /// `verify_type_info.id`.
    #[serde(rename = "verify_type_info", deserialize_with = "lenient_type_id")]
    pub verify_type: Option<i64>,
    /// The original id, `gh_…`.
    #[serde(deserialize_with = "lenient_string")]
    pub user_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub principal_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub alias: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub qrcode_url: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub signature: Option<String>,
    #[serde(deserialize_with = "lenient_opt_object")]
    pub business_info: Option<BusinessFlags>,
}

/// `business_info`: WeChat's 0/1 flags, each `None` when malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct BusinessFlags {
    #[serde(deserialize_with = "lenient_flag")]
    pub open_store: Option<bool>,
    #[serde(deserialize_with = "lenient_flag")]
    pub open_scan: Option<bool>,
    #[serde(deserialize_with = "lenient_flag")]
    pub open_pay: Option<bool>,
    #[serde(deserialize_with = "lenient_flag")]
    pub open_card: Option<bool>,
    #[serde(deserialize_with = "lenient_flag")]
    pub open_shake: Option<bool>,
}

/// The grant part of an authorizer's profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct AuthorizationSummary {
    pub authorizer_appid: String,
    #[serde(deserialize_with = "opt_nonempty_secret")]
    pub authorizer_refresh_token: Option<Secret>,
    #[serde(deserialize_with = "func_info")]
    pub func_info: Vec<u32>,
}

/// `api_get_authorizer_info`'s answer (no access token in it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct AuthorizerInfoResponse {
    #[serde(deserialize_with = "lenient_object")]
    pub authorizer_info: AuthorizerDetails,
    /// Malformed as a whole (a bad `func_info`, say), it reads as empty: the
    /// profile beside it is still worth having.
    #[serde(deserialize_with = "lenient_object")]
    pub authorization_info: AuthorizationSummary,
}

/// One page of the platform's authorizers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct AuthorizerList {
    #[serde(deserialize_with = "u64_lenient")]
    pub total_count: u64,
    pub list: Vec<AuthorizerListItem>,
}

/// An authorizer as listed by `api_get_authorizer_list`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthorizerListItem {
    pub authorizer_appid: String,
    pub refresh_token: Secret,
    /// Unix seconds.
    #[serde(default, deserialize_with = "u64_lenient")]
    pub auth_time: u64,
}

#[derive(Deserialize)]
struct QueryAuthReply {
    authorization_info: AuthorizationInfo,
}

impl WechatClient {
    /// `api_component_token`: the platform token from the appsecret and the
    /// newest component_verify_ticket.
    pub async fn component_token(
        &self,
        component_appid: &str,
        appsecret: &Secret,
        ticket: &Secret,
    ) -> Result<ComponentToken, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            component_appid: &'a str,
            component_appsecret: &'a str,
            component_verify_ticket: &'a str,
        }
        let body = Body {
            component_appid,
            component_appsecret: appsecret.expose(),
            component_verify_ticket: ticket.expose(),
        };
        self.post_json(paths::COMPONENT_TOKEN, Token::None, &body)
            .await
    }

    /// `api_start_push_ticket`: asks WeChat to push a ticket now.
    pub async fn start_push_ticket(
        &self,
        component_appid: &str,
        secret: &Secret,
    ) -> Result<(), WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            component_appid: &'a str,
            component_secret: &'a str,
        }
        let body = Body {
            component_appid,
            component_secret: secret.expose(),
        };
        let _: Empty = self
            .post_json(paths::START_PUSH_TICKET, Token::None, &body)
            .await?;
        Ok(())
    }

    /// `api_create_preauthcode`: a code for one authorization page visit.
    pub async fn create_preauthcode(
        &self,
        component_token: &Secret,
        component_appid: &str,
    ) -> Result<PreAuthCode, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            component_appid: &'a str,
        }
        self.post_json(
            paths::CREATE_PREAUTHCODE,
            Token::Component(component_token),
            &Body { component_appid },
        )
        .await
    }

    /// `api_query_auth`: exchanges an authorization code for the authorizer's tokens.
    pub async fn query_auth(
        &self,
        component_token: &Secret,
        component_appid: &str,
        authorization_code: &Secret,
    ) -> Result<AuthorizationInfo, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            component_appid: &'a str,
            authorization_code: &'a str,
        }
        let body = Body {
            component_appid,
            authorization_code: authorization_code.expose(),
        };
        let reply: QueryAuthReply = self
            .post_json(paths::QUERY_AUTH, Token::Component(component_token), &body)
            .await?;
        Ok(reply.authorization_info)
    }

    /// `api_authorizer_token`: a fresh authorizer access token from its refresh token.
    pub async fn authorizer_token(
        &self,
        component_token: &Secret,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<AuthorizerToken, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            component_appid: &'a str,
            authorizer_appid: &'a str,
            authorizer_refresh_token: &'a str,
        }
        let body = Body {
            component_appid,
            authorizer_appid,
            authorizer_refresh_token: refresh_token.expose(),
        };
        self.post_json(
            paths::AUTHORIZER_TOKEN,
            Token::Component(component_token),
            &body,
        )
        .await
    }

    /// `api_get_authorizer_info`: an authorizer's name, type and grant.
    pub async fn authorizer_info(
        &self,
        component_token: &Secret,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<AuthorizerInfoResponse, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            component_appid: &'a str,
            authorizer_appid: &'a str,
        }
        let body = Body {
            component_appid,
            authorizer_appid,
        };
        self.post_json(
            paths::AUTHORIZER_INFO,
            Token::Component(component_token),
            &body,
        )
        .await
    }

    /// `api_get_authorizer_list`: one page (`count` ≤ 500) of every authorizer
    /// with its refresh token.
    pub async fn authorizer_list(
        &self,
        component_token: &Secret,
        component_appid: &str,
        offset: u32,
        count: u32,
    ) -> Result<AuthorizerList, WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            component_appid: &'a str,
            offset: u32,
            count: u32,
        }
        let body = Body {
            component_appid,
            offset,
            count,
        };
        self.post_json(
            paths::AUTHORIZER_LIST,
            Token::Component(component_token),
            &body,
        )
        .await
    }

    /// `clear_quota`: resets the call quotas of `appid` (component or
    /// authorizer token, whichever `appid` is). 10 resets a month.
    pub async fn clear_quota(&self, access_token: &Secret, appid: &str) -> Result<(), WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            appid: &'a str,
        }
        let _: Empty = self
            .post_json(
                paths::CLEAR_QUOTA,
                Token::Access(access_token),
                &Body { appid },
            )
            .await?;
        Ok(())
    }

    /// `component/clear_quota/v2`: resets quotas with the appsecret instead of a
    /// token; `appid` defaults to the component itself.
    pub async fn component_clear_quota_v2(
        &self,
        component_appid: &str,
        appsecret: &Secret,
        appid: Option<&str>,
    ) -> Result<(), WechatError> {
        #[derive(Serialize)]
        struct Body<'a> {
            component_appid: &'a str,
            appsecret: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            appid: Option<&'a str>,
        }
        let body = Body {
            component_appid,
            appsecret: appsecret.expose(),
            appid,
        };
        let _: Empty = self
            .post_json(paths::COMPONENT_CLEAR_QUOTA_V2, Token::None, &body)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorizer_info_tolerates_missing_and_extra_fields() {
        let reply: AuthorizerInfoResponse = serde_json::from_str(
            r#"{"authorizer_info":{"nick_name":"Shop","service_type_info":{"id":2},"MiniProgramInfo":{}},
                "authorization_info":{"authorizer_appid":"wxa","func_info":[{"funcscope_category":{"id":1}}]}}"#,
        )
        .unwrap();
        assert_eq!(reply.authorizer_info.nick_name.as_deref(), Some("Shop"));
        assert_eq!(reply.authorizer_info.service_type, Some(2));
        assert_eq!(reply.authorizer_info.verify_type, None);
        assert_eq!(reply.authorizer_info.user_name, None);
        assert_eq!(reply.authorization_info.authorizer_refresh_token, None);
        assert_eq!(reply.authorization_info.func_info, vec![1]);
    }

    #[test]
    fn authorizer_info_reads_every_profile_field() {
        let reply: AuthorizerInfoResponse = serde_json::from_str(
            r#"{"authorizer_info":{"nick_name":"Shop","head_img":"http://x/h","service_type_info":{"id":2},
                "verify_type_info":{"id":-1},"user_name":"gh_1","principal_name":"Shop Co.","alias":"shop",
                "qrcode_url":"http://x/q","business_info":{"open_store":0,"open_scan":1,"open_pay":1,"open_card":0,"open_shake":0}}}"#,
        )
        .unwrap();
        let info = reply.authorizer_info;
        assert_eq!(info.service_type, Some(2));
        assert_eq!(info.verify_type, Some(-1));
        assert_eq!(info.alias.as_deref(), Some("shop"));
        assert_eq!(info.qrcode_url.as_deref(), Some("http://x/q"));
        assert_eq!(info.principal_name.as_deref(), Some("Shop Co."));
        assert_eq!(
            info.business_info,
            Some(BusinessFlags {
                open_store: Some(false),
                open_scan: Some(true),
                open_pay: Some(true),
                open_card: Some(false),
                open_shake: Some(false),
            })
        );
    }

    #[test]
    fn a_malformed_profile_field_is_absent_and_the_rest_is_kept() {
        let reply: AuthorizerInfoResponse = serde_json::from_str(
            r#"{"authorizer_info":{"nick_name":7,"head_img":["x"],"service_type_info":"2",
                "verify_type_info":{"id":"0"},"user_name":"gh_1","principal_name":{"a":1},"alias":"",
                "qrcode_url":null,"business_info":{"open_store":"1","open_scan":true,"open_pay":2,"open_card":"x","open_shake":null}},
                "authorization_info":{"authorizer_appid":"wxa","func_info":"everything"}}"#,
        )
        .unwrap();
        let info = reply.authorizer_info;
        assert_eq!(info.nick_name, None);
        assert_eq!(info.head_img, None);
        assert_eq!(info.service_type, None);
        assert_eq!(info.verify_type, Some(0));
        assert_eq!(info.user_name.as_deref(), Some("gh_1"));
        assert_eq!(info.principal_name, None);
        assert_eq!(info.alias, None);
        assert_eq!(info.qrcode_url, None);
        assert_eq!(
            info.business_info,
            Some(BusinessFlags {
                open_store: Some(true),
                open_scan: Some(true),
                open_pay: None,
                open_card: None,
                open_shake: None,
            })
        );
        assert_eq!(reply.authorization_info, AuthorizationSummary::default());
    }

    #[test]
    fn a_profile_that_is_not_an_object_reads_as_empty() {
        for body in [
            r#"{"authorizer_info":null}"#,
            r#"{"authorizer_info":"x","authorization_info":[1]}"#,
            r#"{"authorizer_info":{"business_info":[1,2]}}"#,
            r#"{}"#,
        ] {
            let reply: AuthorizerInfoResponse = serde_json::from_str(body).unwrap();
            assert_eq!(
                reply.authorizer_info,
                AuthorizerDetails::default(),
                "{body}"
            );
        }
    }

    #[test]
    fn authorizer_token_without_refresh_token_keeps_none() {
        let t: AuthorizerToken =
            serde_json::from_str(r#"{"authorizer_access_token":"a","expires_in":7200}"#).unwrap();
        assert_eq!(t.authorizer_refresh_token, None);
        assert_eq!(t.expires_in, 7200);
    }
}
