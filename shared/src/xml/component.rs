//! Decrypted pushes to the authorization-event URL (wechat-api.md §4).

use std::collections::BTreeMap;

use super::fields::{parse_fields_str, Fields};
use super::XmlError;
use crate::secret::Secret;

/// A decrypted push to the authorization-event URL, by `InfoType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentPush {
    /// `component_verify_ticket`: the ticket needed for component_access_token.
    ComponentVerifyTicket {
        app_id: String,
        create_time: i64,
        ticket: Secret,
    },
    /// `authorized`: an account granted access.
    Authorized(Authorization),
    /// `updateauthorized`: an account changed the permissions it grants.
    UpdateAuthorized(Authorization),
    /// `unauthorized`: an account revoked access.
    Unauthorized {
        app_id: String,
        create_time: i64,
        authorizer_appid: String,
    },
    /// Any other `InfoType`, with every field of the push (answer `success`).
    Unknown {
        info_type: String,
        fields: BTreeMap<String, String>,
    },
}

impl ComponentPush {
    /// When WeChat says it sent the push (`CreateTime`), when the push has one.
    pub fn create_time(&self) -> Option<i64> {
        match self {
            ComponentPush::ComponentVerifyTicket { create_time, .. }
            | ComponentPush::Unauthorized { create_time, .. } => Some(*create_time),
            ComponentPush::Authorized(a) | ComponentPush::UpdateAuthorized(a) => {
                Some(a.create_time)
            }
            ComponentPush::Unknown { .. } => None,
        }
    }
}

/// The fields of an `authorized` / `updateauthorized` push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub app_id: String,
    pub create_time: i64,
    pub authorizer_appid: String,
    pub authorization_code: Secret,
    /// As sent: an absolute unix time or a lifetime in seconds (sources disagree).
    pub authorization_code_expired_time: i64,
    /// The pre_auth_code the authorization started from, when WeChat sends it.
    pub pre_auth_code: Option<String>,
}

/// Parse the decrypted XML of a push to the authorization-event URL.
pub fn parse_component_push(xml: &str) -> Result<ComponentPush, XmlError> {
    let fields = parse_fields_str(xml)?;
    let info_type = fields.required("InfoType")?.to_owned();
    match info_type.as_str() {
        "component_verify_ticket" => Ok(ComponentPush::ComponentVerifyTicket {
            app_id: fields.required("AppId")?.to_owned(),
            create_time: fields.required_i64("CreateTime")?,
            ticket: Secret::new(fields.required("ComponentVerifyTicket")?),
        }),
        "authorized" => Ok(ComponentPush::Authorized(authorization(&fields)?)),
        "updateauthorized" => Ok(ComponentPush::UpdateAuthorized(authorization(&fields)?)),
        "unauthorized" => Ok(ComponentPush::Unauthorized {
            app_id: fields.required("AppId")?.to_owned(),
            create_time: fields.required_i64("CreateTime")?,
            authorizer_appid: fields.required("AuthorizerAppid")?.to_owned(),
        }),
        _ => Ok(ComponentPush::Unknown {
            info_type,
            fields: fields.into_map(),
        }),
    }
}

fn authorization(fields: &Fields) -> Result<Authorization, XmlError> {
    Ok(Authorization {
        app_id: fields.required("AppId")?.to_owned(),
        create_time: fields.required_i64("CreateTime")?,
        authorizer_appid: fields.required("AuthorizerAppid")?.to_owned(),
        authorization_code: Secret::new(fields.required("AuthorizationCode")?),
        authorization_code_expired_time: fields.required_i64("AuthorizationCodeExpiredTime")?,
        pre_auth_code: fields.optional("PreAuthCode").map(str::to_owned),
    })
}
