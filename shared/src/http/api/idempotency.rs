//! `Idempotency-Key`: the same key and body answer the first answer again; the
//! same key with another body is a 409. Records live 24 h, scoped to the API
//! key that made them, and only successful answers are kept: after a failure
//! nothing was done (or, for an unknown outcome, the WeChat dedupe id derived
//! from the key makes a retry safe), so the client may retry with the same key.

use crate::app::App;
use crate::http::error::ErrorCode;
use crate::http::{ApiError, Request, Response};
use crate::store::{ApiKey, IdempotencyOutcome, IdempotencyRecord};
use bytes::Bytes;
use http::StatusCode;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";
/// Set on a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
pub const TTL_SECS: u64 = 24 * 3600;
/// Longest key (the `invalid_idempotency_key` message says so too).
const MAX_KEY_LEN: usize = 255;

/// What to do with a request carrying (or not) an Idempotency-Key.
pub enum Begin {
    /// Carry it out; with a guard when a key was given.
    Proceed(Option<Guard>),
    /// The stored first answer.
    Replay(Response),
}

/// A claimed key: complete it with the answer.
pub struct Guard {
    key_hash: String,
}

impl Guard {
    /// Stable per (API key, Idempotency-Key): a seed for WeChat dedupe ids.
    pub fn seed(&self) -> &str {
        &self.key_hash
    }
}

/// Claims the request's Idempotency-Key, if any, for `api_key`.
pub async fn begin(app: &App, req: &Request, api_key: &ApiKey) -> Result<Begin, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(Begin::Proceed(None));
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidIdempotencyKey))?;
    let key_hash = hash(&[api_key.hash.as_bytes(), key.as_bytes()]);
    let request_hash = hash(&[
        req.method().as_str().as_bytes(),
        req.uri().path().as_bytes(),
        req.body(),
    ]);
    let now = app.now();
    let record = IdempotencyRecord {
        key_hash: key_hash.clone(),
        request_hash: request_hash.clone(),
        response: None,
        expires_at: now + TTL_SECS,
    };
    match app.store.insert_idempotency(&record, now).await? {
        IdempotencyOutcome::Inserted => Ok(Begin::Proceed(Some(Guard { key_hash }))),
        IdempotencyOutcome::Existing(existing) if existing.request_hash != request_hash => {
            Err(ApiError::new(ErrorCode::IdempotencyConflict))
        }
        IdempotencyOutcome::Existing(IdempotencyRecord {
            response: Some((status, body)),
            ..
        }) => Ok(Begin::Replay(replay(status, body))),
        IdempotencyOutcome::Existing(_) => Err(ApiError::new(ErrorCode::IdempotencyInProgress)),
    }
}

/// Keeps a successful answer for replays; forgets the key after a failure.
pub async fn finish(
    app: &App,
    guard: Option<Guard>,
    result: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let Some(guard) = guard else {
        return result;
    };
    let stored = match &result {
        Ok(resp) if resp.status().is_success() => {
            let body = String::from_utf8_lossy(resp.body()).into_owned();
            app.store
                .complete_idempotency(&guard.key_hash, resp.status().as_u16(), &body)
                .await
        }
        _ => app.store.delete_idempotency(&guard.key_hash).await,
    };
    if let Err(e) = stored {
        // The answer stands; a retry meets `idempotency_in_progress` until the record expires.
        tracing::error!(error = %e, "could not store the idempotency outcome");
    }
    result
}

fn replay(status: u16, body: String) -> Response {
    http::Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(REPLAYED_HEADER, "true")
        .body(Bytes::from(body))
        .unwrap_or_else(|_| http::Response::new(Bytes::new()))
}

fn hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}
