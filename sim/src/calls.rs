//! The record of every API call the simulator received. The hot path stores raw
//! query and body bytes; parameters are decoded (and tokens redacted) only when read.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::ids::token_hash;

/// One received API call.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// Order of arrival, from 1.
    pub seq: u64,
    /// The path, e.g. `/cgi-bin/message/template/send`.
    pub endpoint: String,
    /// Query and JSON body merged; tokens and secrets replaced by [`token_hash`](crate::token_hash).
    pub params: Value,
    /// What the simulator answered: 0 success, a WeChat errcode, or -1 for an injected fault.
    pub errcode: i64,
    /// Virtual unix seconds.
    pub at: u64,
    /// The injected fault, if any: `busy`, `http5xx`, `timeout`, `drop`.
    pub fault: Option<String>,
}

pub(crate) enum RawBody {
    Json(Bytes),
    Summary(Value),
}

pub(crate) struct RawCall {
    pub seq: u64,
    pub endpoint: &'static str,
    pub query: Box<str>,
    pub body: RawBody,
    pub errcode: i64,
    pub at: u64,
    pub fault: Option<&'static str>,
}

pub(crate) struct CallLog {
    seq: AtomicU64,
    max: usize,
    entries: Mutex<VecDeque<RawCall>>,
}

const SENSITIVE: &[&str] = &[
    "access_token",
    "component_access_token",
    "authorizer_access_token",
    "authorizer_refresh_token",
    "refresh_token",
    "component_appsecret",
    "component_secret",
    "appsecret",
    "secret",
    "component_verify_ticket",
];

impl CallLog {
    pub(crate) fn new(max: usize) -> Self {
        CallLog {
            seq: AtomicU64::new(0),
            max: max.max(1),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn push(&self, call: RawCall) {
        let mut entries = lock(&self.entries);
        if entries.len() >= self.max {
            entries.pop_front();
        }
        entries.push_back(call);
    }

    /// Decoded records, optionally only those of one endpoint.
    pub(crate) fn records(&self, endpoint: Option<&str>) -> Vec<CallRecord> {
        let entries = lock(&self.entries);
        entries
            .iter()
            .filter(|c| endpoint.is_none_or(|e| c.endpoint == e))
            .map(decode)
            .collect()
    }
}

fn decode(call: &RawCall) -> CallRecord {
    let mut params = Map::new();
    for (k, v) in url::form_urlencoded::parse(call.query.as_bytes()) {
        params.insert(k.into_owned(), Value::String(v.into_owned()));
    }
    match &call.body {
        RawBody::Json(bytes) if bytes.is_empty() => {}
        RawBody::Json(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => params.extend(m),
            Ok(other) => {
                params.insert("_body".into(), other);
            }
            Err(_) => {
                let text = String::from_utf8_lossy(bytes);
                let cut: String = text.chars().take(1024).collect();
                params.insert("_body".into(), Value::String(cut));
            }
        },
        RawBody::Summary(Value::Object(m)) => params.extend(m.clone()),
        RawBody::Summary(other) => {
            params.insert("_body".into(), other.clone());
        }
    }
    let mut params = Value::Object(params);
    redact(&mut params);
    CallRecord {
        seq: call.seq,
        endpoint: call.endpoint.to_owned(),
        params,
        errcode: call.errcode,
        at: call.at,
        fault: call.fault.map(str::to_owned),
    }
}

fn redact(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if SENSITIVE.contains(&k.as_str()) {
                    if let Value::String(s) = val {
                        *s = token_hash(s);
                    }
                } else {
                    redact(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Lock a mutex, recovering the data if a panicking holder poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
