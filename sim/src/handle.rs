//! Starting a simulator and driving it from tests and tools.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use wxopen::crypto::{KeyError, MsgCrypt};

use crate::calls::{lock, CallLog, CallRecord};
use crate::clock::Clock;
use crate::config::SimConfig;
use crate::faults::{FaultSpec, Faults};
use crate::push::{Delivery, PushEvent, PushOutcome, PushRecord, Pusher};
use crate::release::ReleaseTestReport;
use crate::shared::Shared;
use crate::world::{Owner, World};

/// Why the simulator could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the component's EncodingAESKey is not usable")]
    Key(#[source] KeyError),
    #[error("no account {0} in the simulator")]
    UnknownAccount(String),
    #[error("no valid QR code {0} of that account in the simulator")]
    UnknownQrCode(String),
    #[error("account {0} has not authorized the component")]
    NotAuthorized(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("bad command line: {0}")]
    Usage(String),
}

/// An authorization code as the `authorized` push and the redirect carry it.
#[derive(Debug, Clone, Serialize)]
pub struct AuthCode {
    pub appid: String,
    pub code: String,
    pub expires_in: u64,
    /// What became of the authorization push (not delivered when no URL is set).
    pub push: PushOutcome,
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Listen on `addr` (port 0 picks a free port) and start the background tasks.
    pub async fn start(mut config: SimConfig, addr: SocketAddr) -> Result<SimHandle, SimError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        crate::page::serve_avatars_from(&mut config, &format!("http://{local}"));
        let cfg = Arc::new(config);
        let c = &cfg.component;
        let crypt = MsgCrypt::new(
            c.token.expose(),
            c.encoding_aes_key.expose(),
            None,
            &c.appid,
        )
        .map_err(SimError::Key)?;
        let delivery = Delivery {
            timeout: cfg.push_timeout,
            attempts: cfg.push_attempts,
            concurrency: cfg.push_concurrency,
        };
        let (pusher, push_worker) = Pusher::new(
            crypt,
            c.token.expose().to_owned(),
            c.appid.clone(),
            (c.component_push_url.clone(), c.authorizer_push_url.clone()),
            cfg.seed,
            delivery,
        );
        let clock = Clock::new();
        let world = World::new(cfg.clone(), clock.now());
        let shared = Arc::new(Shared {
            calls: CallLog::new(cfg.max_call_records),
            faults: Faults::new(cfg.seed),
            world: Mutex::new(world),
            clock,
            pusher,
            base_url: format!("http://{local}"),
            clock_moved: Notify::new(),
            cfg,
        });
        let router = Router::new()
            .route(
                "/cgi-bin/componentloginpage",
                get(crate::page::show).post(crate::page::approve),
            )
            .route(
                "/wxaopen/safe/bindcomponent",
                get(crate::page::show).post(crate::page::approve),
            )
            .route("/_sim/avatars/{file}", get(crate::page::avatar))
            .route(
                "/connect/oauth2/authorize",
                get(crate::identity::page::show).post(crate::identity::page::decide),
            )
            .route("/cgi-bin/showqrcode", get(crate::identity::image::show))
            .nest("/_sim", crate::admin::router())
            .fallback(crate::api::dispatch)
            .with_state(shared.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(crate::server::serve(
                listener,
                router,
                shared.clone(),
                stop_rx,
            )),
            tokio::spawn(push_worker),
            tokio::spawn(crate::shared::ticket_timer(shared.clone())),
        ];
        Ok(SimHandle {
            shared,
            control: Arc::new(Control {
                stop: stop_tx,
                tasks: Mutex::new(tasks),
            }),
        })
    }
}

struct Control {
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A running simulator. Cheap to clone; every clone drives the same simulator.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
    control: Arc<Control>,
}

impl SimHandle {
    /// A handle for admin routes: shares the simulator but cannot shut it down.
    pub(crate) fn detached(shared: Arc<Shared>) -> Self {
        let (stop, _) = watch::channel(false);
        SimHandle {
            shared,
            control: Arc::new(Control {
                stop,
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// `http://127.0.0.1:PORT`: the WeChat API base and the authorization-page host.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The configuration the simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.cfg
    }

    /// Where pushes go: our component events URL and the authorizer URL template (with `$APPID$`).
    pub fn set_push_urls(&self, component: String, authorizer_template: String) {
        self.shared
            .pusher
            .set_urls(Some(component), Some(authorizer_template));
    }

    /// Move the virtual clock forward.
    pub fn advance(&self, d: Duration) {
        self.shared.clock.advance(d);
        self.shared.clock_moved.notify_one();
    }

    /// Virtual unix seconds.
    pub fn now(&self) -> u64 {
        self.shared.clock.now()
    }

    /// Push a fresh component_verify_ticket now and wait for the outcome.
    pub async fn push_ticket(&self) -> PushOutcome {
        self.shared.push_ticket().await
    }

    /// As if the merchant approved `appid` on the authorization page: a new refresh token, an
    /// `authorized` (or, when already authorized, `updateauthorized`) push, and its code.
    pub async fn authorize(&self, appid: &str, func_info: &[u32]) -> Result<AuthCode, SimError> {
        self.authorization(appid, func_info, false).await
    }

    /// The merchant changed permissions: `updateauthorized` with a new code; the refresh token stays.
    pub async fn update_authorization(
        &self,
        appid: &str,
        func_info: &[u32],
    ) -> Result<AuthCode, SimError> {
        let authorized = lock(&self.shared.world)
            .accounts
            .get(appid)
            .map(|a| a.authorization.is_some());
        match authorized {
            None => Err(SimError::UnknownAccount(appid.to_owned())),
            Some(false) => Err(SimError::NotAuthorized(appid.to_owned())),
            Some(true) => self.authorization(appid, func_info, true).await,
        }
    }

    async fn authorization(
        &self,
        appid: &str,
        func_info: &[u32],
        update: bool,
    ) -> Result<AuthCode, SimError> {
        let now = self.now();
        let (code, was, ttl) = {
            let mut w = lock(&self.shared.world);
            let ttl = w.cfg.limits.auth_code_ttl;
            let (code, was) = w
                .authorize(appid, func_info, now, update)
                .ok_or_else(|| SimError::UnknownAccount(appid.to_owned()))?;
            (code, was, ttl)
        };
        let info_type = if was {
            "updateauthorized"
        } else {
            "authorized"
        };
        let event = PushEvent::Authorization {
            info_type,
            appid: appid.to_owned(),
            code: code.clone(),
            code_expires_at: now + ttl,
            pre_auth_code: String::new(),
        };
        let push = self.shared.push_and_wait(&event, now, info_type).await;
        Ok(AuthCode {
            appid: appid.to_owned(),
            code,
            expires_in: ttl,
            push,
        })
    }

    /// The merchant cancels the authorization: tokens stop at once, the refresh token
    /// answers 61023, and an `unauthorized` push is sent.
    pub async fn revoke(&self, appid: &str) -> Result<PushOutcome, SimError> {
        let now = self.now();
        if !lock(&self.shared.world).revoke(appid, now) {
            return Err(SimError::UnknownAccount(appid.to_owned()));
        }
        let event = PushEvent::Unauthorized {
            appid: appid.to_owned(),
        };
        Ok(self.shared.push_and_wait(&event, now, "unauthorized").await)
    }

    /// Make every access token of an account (or, given the component appid, of the
    /// component) invalid now: the next call with it gets 40001.
    pub fn invalidate_access_token(&self, appid_or_component: &str) {
        let now = self.now();
        let mut w = lock(&self.shared.world);
        let owner = if appid_or_component == w.cfg.component.appid {
            Owner::Component
        } else {
            Owner::Authorizer(appid_or_component.to_owned())
        };
        w.invalidate_tokens(&owner, now);
    }

    /// A user sends a text message to an account: it opens the customer-service window and is
    /// pushed to the authorizer URL; the outcome holds our server's reply.
    pub async fn user_message(
        &self,
        appid: &str,
        openid: &str,
        content: &str,
    ) -> Result<PushOutcome, SimError> {
        let now = self.now();
        let (user_name, msgid) = {
            let mut w = lock(&self.shared.world);
            let user_name = w
                .accounts
                .get(appid)
                .map(|a| a.cfg.user_name.clone())
                .ok_or_else(|| SimError::UnknownAccount(appid.to_owned()))?;
            w.user_spoke(appid, openid, now);
            (user_name, w.next_msgid())
        };
        let event = PushEvent::UserText {
            appid: appid.to_owned(),
            user_name,
            openid: openid.to_owned(),
            content: content.to_owned(),
            msgid,
        };
        Ok(self.shared.push_and_wait(&event, now, "text").await)
    }

    /// A user scans QR code `ticket` of `appid`: a follower's scan pushes
    /// `SCAN` (EventKey = the scene), anyone else follows the account and
    /// pushes `subscribe` (EventKey = `qrscene_` + the scene), both with the
    /// Ticket, exactly as WeChat does. The outcome holds our server's answer.
    pub async fn scan_qrcode(
        &self,
        appid: &str,
        openid: &str,
        ticket: &str,
    ) -> Result<PushOutcome, SimError> {
        let now = self.now();
        let event = {
            let mut w = lock(&self.shared.world);
            let scene = w
                .identity
                .qrcode(ticket, now)
                .filter(|q| q.appid == appid)
                .map(|q| q.scene.clone())
                .ok_or_else(|| SimError::UnknownQrCode(ticket.to_owned()))?;
            let account = w
                .accounts
                .get_mut(appid)
                .ok_or_else(|| SimError::UnknownAccount(appid.to_owned()))?;
            let subscribe = account.follower_set.insert(openid.to_owned());
            if subscribe {
                account.followers.push(openid.to_owned());
                account.former.remove(openid);
            }
            PushEvent::QrScan {
                appid: appid.to_owned(),
                user_name: account.cfg.user_name.clone(),
                openid: openid.to_owned(),
                subscribe,
                scene,
                ticket: ticket.to_owned(),
            }
        };
        Ok(self.shared.push_and_wait(&event, now, "event").await)
    }

    /// Inject a fault into `endpoint` (a path like `/cgi-bin/message/template/send`, or `*`).
    pub fn set_fault(&self, endpoint: &str, spec: FaultSpec) {
        self.shared.faults.set(endpoint, spec);
    }

    /// Remove every injected fault.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Every call received, in order.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.calls.records(None)
    }

    /// The calls of one endpoint path.
    pub fn calls_to(&self, endpoint: &str) -> Vec<CallRecord> {
        self.shared.calls.records(Some(endpoint))
    }

    /// Every push, in the order queued.
    pub fn pushes(&self) -> Vec<PushRecord> {
        self.shared.pusher.records()
    }

    /// Successful template sends of an account: (openid, client_msg_id, msgid).
    pub fn template_sends(&self, appid: &str) -> Vec<(String, Option<String>, u64)> {
        lock(&self.shared.world)
            .template_sends
            .get(appid)
            .cloned()
            .unwrap_or_default()
    }

    /// Subscription notifications WeChat accepted for an account: openid → how many.
    pub fn subscribe_sends(&self, appid: &str) -> std::collections::BTreeMap<String, u64> {
        lock(&self.shared.world)
            .subscribe_sends
            .get(appid)
            .map(|m| m.iter().map(|(o, n)| (o.clone(), *n)).collect())
            .unwrap_or_default()
    }

    /// Followers of an account, in user/get order.
    pub fn followers(&self, appid: &str) -> Vec<String> {
        lock(&self.shared.world)
            .accounts
            .get(appid)
            .map(|a| a.followers.clone())
            .unwrap_or_default()
    }

    /// Run the full-network release test with account group `group` (0..=4).
    pub async fn run_release_test(&self, group: usize) -> ReleaseTestReport {
        crate::release::run(&self.shared, group).await
    }

    /// Reset every daily quota of an appid (account or component), without counting a clear_quota.
    pub fn reset_quota(&self, appid: &str) {
        let mut w = lock(&self.shared.world);
        if appid == w.cfg.component.appid {
            w.component_counters.reset();
        } else if let Some(a) = w.accounts.get_mut(appid) {
            a.counters.reset();
        }
    }

    /// Changes an account's profile; answers its `authorizer_info` as
    /// api_get_authorizer_info will from now on.
    pub fn change_profile(
        &self,
        appid: &str,
        change: &crate::profile::ProfileChange,
    ) -> Result<serde_json::Value, SimError> {
        let mut w = lock(&self.shared.world);
        let account = w
            .accounts
            .get_mut(appid)
            .ok_or_else(|| SimError::UnknownAccount(appid.to_owned()))?;
        change.apply(account);
        Ok(crate::profile::authorizer_info(account))
    }

    /// A JSON snapshot of accounts, followers, tags, templates and authorizations (no secrets).
    pub fn state(&self) -> serde_json::Value {
        crate::admin::state_json(&self.shared)
    }

    /// Stop listening and stop every background task.
    pub async fn shutdown(self) {
        let _ = self.control.stop.send(true);
        let tasks: Vec<JoinHandle<()>> = lock(&self.control.tasks).drain(..).collect();
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }
}
