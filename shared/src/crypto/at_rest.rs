//! Credentials encrypted at rest: AES-256-GCM under the data key, so a read of
//! the table alone (a backup, an export, a leaked read-only role) yields no
//! usable token.
//!
//! Stored form: `enc:v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`.
//! - a fresh random 96-bit nonce per seal (a key seals far fewer than 2^32
//!   values over its life, well inside GCM's random-nonce bound);
//! - the AAD is the value's [`Field`] (component, record kind, record id, field
//!   name), so a ciphertext copied onto another record or field does not open;
//! - the key id is the first 8 hex digits of SHA-256 of the key: rotation
//!   needs no bookkeeping, each value says which key sealed it.
//!
//! API (the store backends call it; webhook secrets will too):
//! ```ignore
//! let keys = DataKeys::new(current, previous);           // from config
//! let field = Field::new(cappid, "webhook", &id, "secret");
//! let stored: String = keys.seal(&field, &secret);        // write this
//! let opened = keys.open(&field, &stored)?;               // read back
//! opened.value;                                           // the Secret
//! opened.stale;  // plaintext or previous key: re-seal on the next write
//! ```
//! A stored value without the `enc:` prefix is a record written before
//! encryption: [`DataKeys::open`] returns it as is, marked stale.

use crate::secret::Secret;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::fmt;

/// The prefix of a sealed value (version 1 of the format).
pub const SEALED_PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Where a sealed value belongs; authenticated with it (the AAD).
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub component: &'a str,
    pub record: &'a str,
    pub id: &'a str,
    pub name: &'a str,
}

impl<'a> Field<'a> {
    pub fn new(component: &'a str, record: &'a str, id: &'a str, name: &'a str) -> Self {
        Field {
            component,
            record,
            id,
            name,
        }
    }

    /// Length-prefixed parts: no two different fields share an AAD.
    fn aad(&self) -> Vec<u8> {
        let mut out = b"wxopen-at-rest-v1".to_vec();
        for part in [self.component, self.record, self.id, self.name] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// One 32-byte data key and its id.
#[derive(Clone)]
struct DataKey {
    id: String,
    cipher: Aes256Gcm,
}

impl DataKey {
    fn new(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        DataKey {
            id: hex::encode(&digest[..4]),
            // A 32-byte slice is always a valid AES-256 key.
            cipher: Aes256Gcm::new(&(*bytes).into()),
        }
    }
}

/// The current data key (seals and opens) and optionally the previous one
/// (opens only, during a rotation).
#[derive(Clone)]
pub struct DataKeys {
    current: DataKey,
    previous: Option<DataKey>,
}

impl fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids only: they identify a key without revealing it.
        f.debug_struct("DataKeys")
            .field("current", &self.current.id)
            .field("previous", &self.previous.as_ref().map(|k| &k.id))
            .finish()
    }
}

/// A `WXOPEN_DATA_KEY*` value that is not base64 of 32 bytes (the value is never echoed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} must be the base64 of 32 random bytes")]
pub struct BadDataKey(pub &'static str);

/// Why a stored value did not open. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed under an unknown data key `{0}`")]
    UnknownKey(String),
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not authenticate (tampered, or copied from another record)")]
    Refused,
}

/// An opened value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub value: Secret,
    /// Stored in plaintext or under the previous key: seal it again on the
    /// record's next write.
    pub stale: bool,
}

impl DataKeys {
    pub fn new(current: [u8; 32], previous: Option<[u8; 32]>) -> Self {
        DataKeys {
            current: DataKey::new(&current),
            previous: previous.as_ref().map(DataKey::new),
        }
    }

    /// Parses a key setting (base64 of 32 bytes); `name` is the setting's
    /// name, for the error.
    pub fn parse_key(name: &'static str, value: &str) -> Result<[u8; 32], BadDataKey> {
        STANDARD
            .decode(value.trim())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .ok_or(BadDataKey(name))
    }

    /// A fresh random key, base64 (what `serve --sandbox` keeps beside its store).
    pub fn generate_key() -> String {
        STANDARD.encode(rand::random::<[u8; 32]>())
    }

    /// The current key's id.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `value` for `field` under the current key.
    pub fn seal(&self, field: &Field<'_>, value: &Secret) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        self.seal_with_nonce(field, value, nonce_bytes)
    }

    fn seal_with_nonce(&self, field: &Field<'_>, value: &Secret, nonce: [u8; NONCE_LEN]) -> String {
        let aad = field.aad();
        let sealed = self
            .current
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: value.expose().as_bytes(),
                    aad: &aad,
                },
            )
            // AES-GCM encryption fails only past 64 GiB of plaintext.
            .unwrap_or_default();
        let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        format!(
            "{SEALED_PREFIX}{}:{}",
            self.current.id,
            STANDARD.encode(body)
        )
    }

    /// Opens a stored value of `field`: sealed under the current or previous
    /// key, or plaintext written before encryption (returned as is, stale).
    pub fn open(&self, field: &Field<'_>, stored: &str) -> Result<Opened, OpenError> {
        let Some(rest) = stored.strip_prefix(SEALED_PREFIX) else {
            if stored.starts_with("enc:") {
                // A later format version, or a damaged prefix: never plaintext.
                return Err(OpenError::Malformed);
            }
            return Ok(Opened {
                value: Secret::new(stored),
                stale: true,
            });
        };
        let (id, body) = rest.split_once(':').ok_or(OpenError::Malformed)?;
        let (key, stale) = if id == self.current.id {
            (&self.current, false)
        } else {
            match &self.previous {
                Some(previous) if previous.id == id => (previous, true),
                _ => return Err(OpenError::UnknownKey(id.to_owned())),
            }
        };
        let body = STANDARD.decode(body).map_err(|_| OpenError::Malformed)?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Malformed)?;
        let aad = field.aad();
        let plain = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Refused)?;
        let value = String::from_utf8(plain).map_err(|_| OpenError::Malformed)?;
        Ok(Opened {
            value: Secret::new(value),
            stale,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: [u8; 32] = [1; 32];
    const K2: [u8; 32] = [2; 32];

    fn field(id: &str) -> Field<'_> {
        Field::new("wxc", "authorizer", id, "access_token")
    }

    #[test]
    fn a_sealed_value_opens_and_shows_no_plaintext() {
        let keys = DataKeys::new(K1, None);
        let stored = keys.seal(&field("wx1"), &Secret::new("token-abc"));
        assert!(stored.starts_with(&format!("enc:v1:{}:", keys.key_id())));
        assert!(!stored.contains("token-abc"));
        let opened = keys.open(&field("wx1"), &stored).unwrap();
        assert_eq!(opened.value.expose(), "token-abc");
        assert!(!opened.stale);
        // A fresh nonce per write: the same value never seals the same way twice.
        assert_ne!(stored, keys.seal(&field("wx1"), &Secret::new("token-abc")));
    }

    #[test]
    fn the_key_id_is_derived_from_the_key() {
        assert_eq!(DataKeys::new(K1, None).key_id().len(), 8);
        assert_eq!(
            DataKeys::new(K1, None).key_id(),
            DataKeys::new(K1, Some(K2)).key_id()
        );
        assert_ne!(
            DataKeys::new(K1, None).key_id(),
            DataKeys::new(K2, None).key_id()
        );
    }

    #[test]
    fn a_tampered_value_is_refused() {
        let keys = DataKeys::new(K1, None);
        let stored = keys.seal(&field("wx1"), &Secret::new("token-abc"));
        let (head, body) = stored.rsplit_once(':').unwrap();
        let mut bytes = STANDARD.decode(body).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            let mut flipped = bytes.clone();
            flipped[i] ^= 1;
            let tampered = format!("{head}:{}", STANDARD.encode(&flipped));
            assert_eq!(
                keys.open(&field("wx1"), &tampered),
                Err(OpenError::Refused),
                "byte {i}"
            );
        }
        bytes.truncate(NONCE_LEN + TAG_LEN - 1);
        let short = format!("{head}:{}", STANDARD.encode(&bytes));
        assert_eq!(keys.open(&field("wx1"), &short), Err(OpenError::Malformed));
        assert_eq!(
            keys.open(&field("wx1"), &format!("{head}:***")),
            Err(OpenError::Malformed)
        );
        assert_eq!(
            keys.open(&field("wx1"), "enc:v2:abc:def"),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn a_value_copied_to_another_record_or_field_is_refused() {
        let keys = DataKeys::new(K1, None);
        let stored = keys.seal(&field("wx1"), &Secret::new("token-abc"));
        assert_eq!(keys.open(&field("wx2"), &stored), Err(OpenError::Refused));
        let refresh = Field::new("wxc", "authorizer", "wx1", "refresh_token");
        assert_eq!(keys.open(&refresh, &stored), Err(OpenError::Refused));
        let other_component = Field::new("wxd", "authorizer", "wx1", "access_token");
        assert_eq!(
            keys.open(&other_component, &stored),
            Err(OpenError::Refused)
        );
        // Length prefixes: moving a character between parts changes the AAD.
        let a = Field::new("wxc", "authorizer", "wx1", "access_token");
        let b = Field::new("wxc", "authorizerw", "x1", "access_token");
        assert_ne!(a.aad(), b.aad());
    }

    #[test]
    fn the_previous_key_opens_stale_and_an_unknown_key_is_named() {
        let old = DataKeys::new(K1, None);
        let stored = old.seal(&field("wx1"), &Secret::new("token-abc"));
        let rotated = DataKeys::new(K2, Some(K1));
        let opened = rotated.open(&field("wx1"), &stored).unwrap();
        assert_eq!(opened.value.expose(), "token-abc");
        assert!(opened.stale, "re-seal under the current key");
        let resealed = rotated.seal(&field("wx1"), &opened.value);
        assert!(resealed.contains(rotated.key_id()));

        let forgot = DataKeys::new(K2, None);
        match forgot.open(&field("wx1"), &stored) {
            Err(OpenError::UnknownKey(id)) => assert_eq!(id, old.key_id()),
            other => panic!("expected UnknownKey, got {other:?}"),
        }
    }

    #[test]
    fn plaintext_from_before_encryption_reads_as_is_and_stale() {
        let keys = DataKeys::new(K1, None);
        let opened = keys.open(&field("wx1"), "legacy-token").unwrap();
        assert_eq!(opened.value.expose(), "legacy-token");
        assert!(opened.stale);
    }

    #[test]
    fn key_settings_parse_and_errors_name_the_setting_not_the_value() {
        let good = DataKeys::generate_key();
        assert!(DataKeys::parse_key("WXOPEN_DATA_KEY", &good).is_ok());
        let bad = STANDARD.encode([7u8; 31]);
        let err = DataKeys::parse_key("WXOPEN_DATA_KEY", &bad).unwrap_err();
        assert!(err.to_string().contains("WXOPEN_DATA_KEY"));
        assert!(!err.to_string().contains(&bad));
        assert!(DataKeys::parse_key("WXOPEN_DATA_KEY", "not base64!").is_err());
        let keys = DataKeys::new(K1, Some(K2));
        let debug = format!("{keys:?}");
        assert!(debug.contains(keys.key_id()));
    }
}
