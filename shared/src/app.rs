//! Everything a handler or service needs, built once per process (per Lambda
//! cold start) and shared by reference.

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::MsgCrypt;
use crate::service::events::announce::Announcer;
use crate::service::preauth_cache::PreauthCodes;
use crate::store::StateStore;
use crate::tokens::TokenManager;
use crate::wechat::{WechatClient, WechatConfig};
use std::sync::Arc;

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Arc<dyn StateStore>,
    pub wechat: WechatClient,
    pub crypto: Arc<MsgCrypt>,
    pub tokens: TokenManager,
    pub clock: Arc<dyn Clock>,
    /// The pre_auth_codes this process handed out, by link (reused while valid).
    pub preauth_codes: Arc<PreauthCodes>,
    /// Who is told of new webhook deliveries (and makes their first attempt).
    pub announcer: Announcer,
}

/// The app could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid EncodingAESKey: {0}")]
    Key(#[from] crate::crypto::KeyError),
    #[error("WeChat client: {0}")]
    Wechat(#[from] crate::wechat::BuildError),
}

impl App {
    /// Wires the parts together; `wechat` overrides the client settings (tests shorten timeouts).
    pub fn build(
        config: Config,
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        wechat: Option<WechatConfig>,
    ) -> Result<App, BuildError> {
        let crypto = MsgCrypt::new(
            config.message_token.expose(),
            config.encoding_aes_key.expose(),
            config
                .encoding_aes_key_previous
                .as_ref()
                .map(|k| k.expose()),
            &config.component_appid,
        )?;
        let wechat = WechatClient::new(wechat.unwrap_or_else(|| WechatConfig {
            base_url: config.wechat_api_base.clone(),
            ..WechatConfig::default()
        }))?;
        let config = Arc::new(config);
        let tokens =
            TokenManager::new(config.clone(), store.clone(), wechat.clone(), clock.clone());
        Ok(App {
            config,
            store,
            wechat,
            crypto: Arc::new(crypto),
            tokens,
            clock,
            preauth_codes: Arc::default(),
            announcer: Announcer::default(),
        })
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }
}
