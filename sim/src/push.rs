//! Pushes to our server: the event XML (built here, not with wxopen's parser), WeChat's
//! encryption and signatures, and delivery with bounded concurrency and retries.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Semaphore};
use wxopen::crypto::{signature, MsgCrypt};

use crate::calls::lock;
use crate::ids::SplitMix64;
use crate::xmlmini::cdata;

/// One push and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct PushRecord {
    pub seq: u64,
    /// `component_verify_ticket`, `authorized`, `updateauthorized`, `unauthorized`,
    /// `TEMPLATESENDJOBFINISH`, `MASSSENDJOBFINISH`, `text`, `event`.
    pub kind: String,
    /// The URL posted to (without the signature query).
    pub target_url: String,
    /// The authorizer appid for authorizer pushes.
    pub appid: Option<String>,
    pub attempts: u32,
    pub delivered: bool,
    /// Still being delivered.
    pub pending: bool,
    pub status: Option<u16>,
    /// What our server answered (first 4 KiB).
    pub response_body: Option<String>,
    pub last_error: Option<String>,
}

/// What a push attempt returned; the same shape as [`PushRecord`].
pub type PushOutcome = PushRecord;

/// What to push; rendered to XML at enqueue time.
#[derive(Debug, Clone)]
pub(crate) enum PushEvent {
    Ticket {
        ticket: String,
    },
    Authorization {
        info_type: &'static str,
        appid: String,
        code: String,
        code_expires_at: u64,
        pre_auth_code: String,
    },
    Unauthorized {
        appid: String,
    },
    TemplateFinish {
        appid: String,
        user_name: String,
        openid: String,
        msgid: u64,
        status: &'static str,
    },
    MassFinish {
        appid: String,
        user_name: String,
        msgid: u64,
        status: &'static str,
        total: u64,
        sent: u64,
        errors: u64,
    },
    UserText {
        appid: String,
        user_name: String,
        openid: String,
        content: String,
        msgid: u64,
    },
    UserEvent {
        appid: String,
        user_name: String,
        openid: String,
        event: String,
    },
    /// A follower (`subscribe: false`: `SCAN`) or a newcomer who follows on
    /// the spot (`subscribe`) scanned a parametric QR code.
    QrScan {
        appid: String,
        user_name: String,
        openid: String,
        subscribe: bool,
        scene: String,
        ticket: String,
    },
    /// Any follower message or event (`followers.rs` renders its fields).
    Follower {
        appid: String,
        user_name: String,
        openid: String,
        msg_type: &'static str,
        fields: String,
    },
}

/// The sender openid used in mass-finish pushes (an account's system user).
const MASS_SYSTEM_OPENID: &str = "oSimMassSendSystemUser000000";

struct Job {
    index: usize,
    url: String,
    body: String,
    done: Option<oneshot::Sender<PushRecord>>,
}

pub(crate) struct Pusher {
    crypt: MsgCrypt,
    token: String,
    component_appid: String,
    urls: RwLock<(Option<String>, Option<String>)>,
    records: Arc<Mutex<Vec<PushRecord>>>,
    nonce: Mutex<SplitMix64>,
    tx: mpsc::UnboundedSender<Job>,
}

/// Delivery settings.
#[derive(Clone)]
pub(crate) struct Delivery {
    pub timeout: Duration,
    pub attempts: u32,
    pub concurrency: usize,
}

impl Pusher {
    /// The pusher and the future that delivers its queue (spawn it).
    pub(crate) fn new(
        crypt: MsgCrypt,
        token: String,
        component_appid: String,
        urls: (Option<String>, Option<String>),
        seed: u64,
        delivery: Delivery,
    ) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::unbounded_channel();
        let records = Arc::new(Mutex::new(Vec::new()));
        let worker = deliver_all(rx, records.clone(), delivery);
        let pusher = Pusher {
            crypt,
            token,
            component_appid,
            urls: RwLock::new(urls),
            records,
            nonce: Mutex::new(SplitMix64::new(seed ^ 0x5eed_b0a7)),
            tx,
        };
        (pusher, worker)
    }

    pub(crate) fn crypt(&self) -> &MsgCrypt {
        &self.crypt
    }

    pub(crate) fn set_urls(&self, component: Option<String>, authorizer: Option<String>) {
        *self.urls.write().unwrap_or_else(|e| e.into_inner()) = (component, authorizer);
    }

    pub(crate) fn records(&self) -> Vec<PushRecord> {
        lock(&self.records).clone()
    }

    /// Queue a push; None when no URL is configured for it.
    pub(crate) fn enqueue(
        &self,
        event: &PushEvent,
        now: u64,
    ) -> Option<oneshot::Receiver<PushRecord>> {
        let (kind, url, appid, openid, inner, envelope_head) = self.render(event, now)?;
        let encrypt = self.crypt.encrypt(&inner);
        let timestamp = now.to_string();
        let nonce = (lock(&self.nonce).next_u64() % 9_000_000_000 + 1_000_000_000).to_string();
        let msg_signature = self.crypt.msg_signature(&timestamp, &nonce, &encrypt);
        let plain_signature = signature(&[&self.token, &timestamp, &nonce]);
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("signature", &plain_signature);
        query.append_pair("timestamp", &timestamp);
        query.append_pair("nonce", &nonce);
        if let Some(openid) = &openid {
            query.append_pair("openid", openid);
        }
        query.append_pair("encrypt_type", "aes");
        query.append_pair("msg_signature", &msg_signature);
        let sep = if url.contains('?') { '&' } else { '?' };
        let full_url = format!("{url}{sep}{}", query.finish());
        let body = format!(
            "<xml>{envelope_head}<Encrypt>{}</Encrypt></xml>",
            cdata(&encrypt)
        );
        let (done_tx, done_rx) = oneshot::channel();
        let index = {
            let mut records = lock(&self.records);
            let seq = records.len() as u64 + 1;
            records.push(PushRecord {
                seq,
                kind,
                target_url: url,
                appid,
                attempts: 0,
                delivered: false,
                pending: true,
                status: None,
                response_body: None,
                last_error: None,
            });
            records.len() - 1
        };
        let job = Job {
            index,
            url: full_url,
            body,
            done: Some(done_tx),
        };
        if self.tx.send(job).is_err() {
            let mut records = lock(&self.records);
            if let Some(r) = records.get_mut(index) {
                r.pending = false;
                r.last_error = Some("simulator is shutting down".into());
            }
        }
        Some(done_rx)
    }

    /// (kind, url, appid, openid, inner xml, envelope head)
    #[allow(clippy::type_complexity)]
    fn render(
        &self,
        event: &PushEvent,
        now: u64,
    ) -> Option<(
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
    )> {
        let (component_url, authorizer_url) =
            self.urls.read().unwrap_or_else(|e| e.into_inner()).clone();
        let cappid = &self.component_appid;
        let component = |info_type: &str, rest: String| -> Option<_> {
            let url = component_url.clone()?;
            let inner = format!(
                "<xml><AppId>{}</AppId><CreateTime>{now}</CreateTime><InfoType>{}</InfoType>{rest}</xml>",
                cdata(cappid),
                cdata(info_type)
            );
            let head = format!("<AppId>{}</AppId>", cdata(cappid));
            Some((info_type.to_owned(), url, None, None, inner, head))
        };
        let authorizer = |kind: &str,
                          appid: &str,
                          user_name: &str,
                          openid: &str,
                          msg_type: &str,
                          rest: String|
         -> Option<_> {
            let url = authorizer_url.clone()?.replace("$APPID$", appid);
            let inner = format!(
                "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{now}</CreateTime><MsgType>{}</MsgType>{rest}</xml>",
                cdata(user_name),
                cdata(openid),
                cdata(msg_type)
            );
            let head = format!("<ToUserName>{}</ToUserName>", cdata(user_name));
            Some((
                kind.to_owned(),
                url,
                Some(appid.to_owned()),
                Some(openid.to_owned()),
                inner,
                head,
            ))
        };
        match event {
            PushEvent::Ticket { ticket } => component(
                "component_verify_ticket",
                format!("<ComponentVerifyTicket>{}</ComponentVerifyTicket>", cdata(ticket)),
            ),
            PushEvent::Authorization { info_type, appid, code, code_expires_at, pre_auth_code } => component(
                info_type,
                format!(
                    "<AuthorizerAppid>{}</AuthorizerAppid><AuthorizationCode>{}</AuthorizationCode><AuthorizationCodeExpiredTime>{code_expires_at}</AuthorizationCodeExpiredTime><PreAuthCode>{}</PreAuthCode>",
                    cdata(appid),
                    cdata(code),
                    cdata(pre_auth_code)
                ),
            ),
            PushEvent::Unauthorized { appid } => component(
                "unauthorized",
                format!("<AuthorizerAppid>{}</AuthorizerAppid>", cdata(appid)),
            ),
            PushEvent::TemplateFinish { appid, user_name, openid, msgid, status } => authorizer(
                "TEMPLATESENDJOBFINISH",
                appid,
                user_name,
                openid,
                "event",
                format!(
                    "<Event>{}</Event><MsgID>{msgid}</MsgID><Status>{}</Status>",
                    cdata("TEMPLATESENDJOBFINISH"),
                    cdata(status)
                ),
            ),
            PushEvent::MassFinish { appid, user_name, msgid, status, total, sent, errors } => authorizer(
                "MASSSENDJOBFINISH",
                appid,
                user_name,
                MASS_SYSTEM_OPENID,
                "event",
                format!(
                    "<Event>{}</Event><MsgID>{msgid}</MsgID><Status>{}</Status><TotalCount>{total}</TotalCount><FilterCount>{total}</FilterCount><SentCount>{sent}</SentCount><ErrorCount>{errors}</ErrorCount><CopyrightCheckResult><Count>0</Count><ResultList></ResultList><CheckState>1</CheckState></CopyrightCheckResult><ArticleUrlResult><Count>0</Count><ResultList></ResultList></ArticleUrlResult>",
                    cdata("MASSSENDJOBFINISH"),
                    cdata(status)
                ),
            ),
            PushEvent::UserText { appid, user_name, openid, content, msgid } => authorizer(
                "text",
                appid,
                user_name,
                openid,
                "text",
                format!("<Content>{}</Content><MsgId>{msgid}</MsgId>", cdata(content)),
            ),
            PushEvent::UserEvent { appid, user_name, openid, event } => authorizer(
                "event",
                appid,
                user_name,
                openid,
                "event",
                format!("<Event>{}</Event>", cdata(event)),
            ),
            PushEvent::QrScan { appid, user_name, openid, subscribe, scene, ticket } => {
                let (event, key) = if *subscribe {
                    ("subscribe", format!("qrscene_{scene}"))
                } else {
                    ("SCAN", scene.clone())
                };
                authorizer(
                    "event",
                    appid,
                    user_name,
                    openid,
                    "event",
                    format!(
                        "<Event>{}</Event><EventKey>{}</EventKey><Ticket>{}</Ticket>",
                        cdata(event),
                        cdata(&key),
                        cdata(ticket)
                    ),
                )
            }
            PushEvent::Follower { appid, user_name, openid, msg_type, fields } => {
                authorizer(msg_type, appid, user_name, openid, msg_type, fields.clone())
            }
        }
    }
}

async fn deliver_all(
    mut rx: mpsc::UnboundedReceiver<Job>,
    records: Arc<Mutex<Vec<PushRecord>>>,
    delivery: Delivery,
) {
    let client = match reqwest::Client::builder().no_proxy().build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e.without_url(), "sim: cannot build the push client");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(delivery.concurrency.max(1)));
    while let Some(job) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let client = client.clone();
        let records = records.clone();
        let delivery = delivery.clone();
        tokio::spawn(async move {
            deliver(&client, job, &records, &delivery).await;
            drop(permit);
        });
    }
}

async fn deliver(
    client: &reqwest::Client,
    mut job: Job,
    records: &Mutex<Vec<PushRecord>>,
    d: &Delivery,
) {
    let attempts = d.attempts.max(1);
    for attempt in 1..=attempts {
        let result = client
            .post(&job.url)
            .header("content-type", "text/xml")
            .body(job.body.clone())
            .timeout(d.timeout)
            .send()
            .await;
        let (status, body, error) = match result {
            Ok(resp) => {
                let status = resp.status();
                match resp.text().await {
                    Ok(text) if status.is_success() => (Some(status.as_u16()), Some(text), None),
                    Ok(text) => (
                        Some(status.as_u16()),
                        Some(text),
                        Some(format!("HTTP {status}")),
                    ),
                    Err(e) => (
                        Some(status.as_u16()),
                        None,
                        Some(e.without_url().to_string()),
                    ),
                }
            }
            Err(e) => (None, None, Some(describe(e))),
        };
        let finished = error.is_none() || attempt == attempts;
        let snapshot = {
            let mut all = lock(records);
            let Some(r) = all.get_mut(job.index) else {
                return;
            };
            r.attempts = attempt;
            r.status = status;
            r.response_body = body.map(|b| b.chars().take(4096).collect());
            r.delivered = error.is_none();
            r.last_error = error;
            r.pending = !finished;
            r.clone()
        };
        if finished {
            if let Some(done) = job.done.take() {
                let _ = done.send(snapshot);
            }
            return;
        }
    }
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    if e.is_connect() {
        return "connection failed".into();
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
