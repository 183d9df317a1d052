//! The authorization-link body, read into a [`NewLink`].

use crate::domain::{Appid, HttpUrl, InvalidValue, Tenant};
use crate::http::error::{ApiError, ErrorCode};
use crate::service::links::NewLink;
use serde::Deserialize;
use utoipa::ToSchema;

/// `POST /v1/authorization-links`. Each value has its own error code
/// (`invalid_tenant`, `invalid_auth_type`, …), so they are checked after reading.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant": "acme", "return_url": "https://erp.example.com/wechat/done"}))]
pub(crate) struct CreateLinkRequest {
    #[schema(value_type = Tenant)]
    pub tenant: String,
    /// 1 official accounts (default), 2 mini programs, 3 both.
    #[schema(minimum = 1, maximum = 3)]
    pub auth_type: Option<u8>,
    /// Only this account may authorize through the link.
    #[schema(value_type = Option<Appid>)]
    pub biz_appid: Option<String>,
    /// Where the merchant's browser goes afterwards, with `authorizer_appid` and
    /// `status=authorized` added; its origin must be in `WXOPEN_RETURN_URL_ORIGINS`.
    #[schema(value_type = Option<HttpUrl>)]
    pub return_url: Option<String>,
    /// Seconds, 60..=2592000 (default `WXOPEN_LINK_TTL_SECS`).
    #[schema(minimum = 60, maximum = 2592000)]
    pub expires_in: Option<u64>,
}

impl TryFrom<CreateLinkRequest> for NewLink {
    type Error = ApiError;

    fn try_from(r: CreateLinkRequest) -> Result<NewLink, ApiError> {
        let refused = |code, e: InvalidValue| ApiError::detailed(code, e.0);
        Ok(NewLink {
            tenant: Tenant::parse(&r.tenant).map_err(|e| refused(ErrorCode::InvalidTenant, e))?,
            auth_type: r.auth_type,
            biz_appid: r
                .biz_appid
                .as_deref()
                .map(Appid::parse)
                .transpose()
                .map_err(|e| refused(ErrorCode::InvalidBizAppid, e))?,
            return_url: r
                .return_url
                .as_deref()
                .map(HttpUrl::parse)
                .transpose()
                .map_err(|e| refused(ErrorCode::ReturnUrlNotAllowed, e))?,
            expires_in: r.expires_in,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api::requests::read;
    use serde_json::json;

    #[test]
    fn link_values_are_refused_with_their_own_codes() {
        let link = |v| {
            read::<CreateLinkRequest>(v)
                .and_then(NewLink::try_from)
                .map_err(|e| e.code)
        };
        assert_eq!(
            link(json!({"tenant": "no spaces"})).unwrap_err(),
            ErrorCode::InvalidTenant
        );
        assert_eq!(
            link(json!({"tenant": "acme", "biz_appid": "nope"})).unwrap_err(),
            ErrorCode::InvalidBizAppid
        );
        assert_eq!(
            link(json!({"tenant": "acme", "color": "red"})).unwrap_err(),
            ErrorCode::InvalidRequest
        );
        assert_eq!(link(json!({})).unwrap_err(), ErrorCode::InvalidRequest);
        assert!(link(json!({"tenant": "acme", "return_url": "https://erp.example.com/x"})).is_ok());
    }
}
