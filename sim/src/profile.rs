//! An account's profile as api_get_authorizer_info answers it, and changes to
//! it (`POST /_sim/accounts/{appid}/profile`), so a test can see wxopen pick
//! up a rename, a new alias or a verification.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::BusinessInfoConfig;
use crate::world::Account;

/// What changes; a field left out stays as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileChange {
    pub nick_name: Option<String>,
    pub head_img: Option<String>,
    pub principal_name: Option<String>,
    /// `""` removes the alias.
    pub alias: Option<String>,
    pub qrcode_url: Option<String>,
    /// 0 subscription, 1 upgraded subscription, 2 service account.
    pub service_type: Option<u32>,
    /// -1 unverified, 0 WeChat-verified, …
    pub verify_type: Option<i32>,
    /// The whole set: a flag left out is off.
    pub business_info: Option<BusinessInfoConfig>,
    /// Fields of `authorizer_info` answered exactly as given from now on,
    /// whatever their type (a hostile WeChat); they win over everything above.
    pub raw: Map<String, Value>,
}

impl ProfileChange {
    pub(crate) fn apply(&self, account: &mut Account) {
        let c = &mut account.cfg;
        let set = |field: &mut String, value: &Option<String>| {
            if let Some(v) = value {
                field.clone_from(v);
            }
        };
        set(&mut c.nick_name, &self.nick_name);
        set(&mut c.head_img, &self.head_img);
        set(&mut c.principal_name, &self.principal_name);
        set(&mut c.alias, &self.alias);
        set(&mut c.qrcode_url, &self.qrcode_url);
        if let Some(t) = self.service_type {
            c.service_type = t;
        }
        if let Some(t) = self.verify_type {
            c.verify_type = t;
        }
        if let Some(b) = self.business_info {
            c.business_info = b;
        }
        account
            .profile_overrides
            .extend(self.raw.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// `authorizer_info` of api_get_authorizer_info.
pub(crate) fn authorizer_info(account: &Account) -> Value {
    let c = &account.cfg;
    let flag = |on: bool| u8::from(on);
    let b = &c.business_info;
    let qrcode_url = if c.qrcode_url.is_empty() {
        format!("https://sim.invalid/qrcode/{}.jpg", c.appid)
    } else {
        c.qrcode_url.clone()
    };
    let mut info = json!({
        "nick_name": c.nick_name,
        "head_img": c.head_img,
        "service_type_info": {"id": c.service_type},
        "verify_type_info": {"id": c.verify_type},
        "user_name": c.user_name,
        "principal_name": c.principal_name,
        "alias": c.alias,
        "qrcode_url": qrcode_url,
        "business_info": {
            "open_store": flag(b.open_store),
            "open_scan": flag(b.open_scan),
            "open_pay": flag(b.open_pay),
            "open_card": flag(b.open_card),
            "open_shake": flag(b.open_shake),
        },
        "signature": "",
    });
    if let Some(obj) = info.as_object_mut() {
        if c.is_mini_program {
            obj.insert(
                "MiniProgramInfo".into(),
                json!({"network": {}, "categories": [], "visit_status": 0}),
            );
        }
        obj.extend(
            account
                .profile_overrides
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    info
}
