//! An authorizer's profile (api_get_authorizer_info): fetched when the account
//! authorizes, on demand (`POST /v1/authorizers/{appid}/profile/refresh`) and
//! for every active authorizer by the daily reconcile, so a rename, a new
//! alias or a verification shows without the merchant authorizing again.

use crate::app::App;
use crate::store::{AuthorizerProfile, BusinessInfo};
use crate::tokens::TokenError;
use crate::wechat::{AuthorizerDetails, BusinessFlags, WechatError};

/// What WeChat said, as stored. A field WeChat left out or sent malformed is `None`.
pub fn profile_of(details: AuthorizerDetails) -> AuthorizerProfile {
    AuthorizerProfile {
        nick_name: details.nick_name,
        head_img: details.head_img,
        user_name: details.user_name,
        principal_name: details.principal_name,
        service_type: details.service_type,
        verify_type: details.verify_type,
        alias: details.alias,
        qrcode_url: details.qrcode_url,
        business_info: details.business_info.map(business_info_of),
    }
}

fn business_info_of(flags: BusinessFlags) -> BusinessInfo {
    BusinessInfo {
        open_store: flags.open_store,
        open_scan: flags.open_scan,
        open_pay: flags.open_pay,
        open_card: flags.open_card,
        open_shake: flags.open_shake,
    }
}

/// Asks WeChat for the account's profile now (the component token, renewed
/// once if WeChat rejects it). Stores nothing.
pub async fn fetch(app: &App, appid: &str) -> Result<AuthorizerProfile, TokenError> {
    let cappid = app.config.component_appid.as_str();
    let info = app
        .tokens
        .with_component_token(|token| async move {
            app.wechat.authorizer_info(&token, cappid, appid).await
        })
        .await?;
    let profile = profile_of(info.authorizer_info);
    // Every real answer names the account (its gh_ id). One that does not
    // carries no profile at all, and storing it would erase a good one.
    if profile.user_name.is_none() {
        return Err(TokenError::Wechat(WechatError::Decode {
            endpoint: "api_get_authorizer_info",
            path: "authorizer_info.user_name".into(),
            source: serde::de::Error::custom("the answer names no account"),
        }));
    }
    Ok(profile)
}

/// [`fetch`], then store it. A WeChat failure stores nothing.
pub async fn refresh(app: &App, appid: &str) -> Result<AuthorizerProfile, TokenError> {
    let profile = fetch(app, appid).await?;
    app.store.set_profile(appid, &profile, app.now()).await?;
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_the_answer_is_kept() {
        let details = AuthorizerDetails {
            nick_name: Some("Shop".into()),
            head_img: Some("http://x/h".into()),
            service_type: Some(2),
            verify_type: Some(-1),
            user_name: Some("gh_1".into()),
            principal_name: Some("Shop Co.".into()),
            alias: Some("shop".into()),
            qrcode_url: Some("http://x/q".into()),
            signature: Some("ignored".into()),
            business_info: Some(BusinessFlags {
                open_pay: Some(true),
                open_card: Some(false),
                ..BusinessFlags::default()
            }),
        };
        let profile = profile_of(details);
        assert_eq!(
            profile,
            AuthorizerProfile {
                nick_name: Some("Shop".into()),
                head_img: Some("http://x/h".into()),
                user_name: Some("gh_1".into()),
                principal_name: Some("Shop Co.".into()),
                service_type: Some(2),
                verify_type: Some(-1),
                alias: Some("shop".into()),
                qrcode_url: Some("http://x/q".into()),
                business_info: Some(BusinessInfo {
                    open_store: None,
                    open_scan: None,
                    open_pay: Some(true),
                    open_card: Some(false),
                    open_shake: None,
                }),
            }
        );
    }
}
