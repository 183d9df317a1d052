//! WXBizMsgCrypt: the encryption and signatures of WeChat's "safe mode" pushes
//! and passive replies (wechat-api.md §1). Pure, no I/O.
//!
//! Typical push handling: [`MsgCrypt::open_envelope`] (envelope XML → verified,
//! decrypted message) and, to answer, [`MsgCrypt::seal_reply_with_key`] with the
//! key that opened the push.

mod aes_cbc;
pub mod at_rest;
mod envelope;
mod key;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::secret::Secret;
use key::AesKey;

pub use envelope::{OpenError, OpenedEnvelope};

/// Why a push could not be opened. Each variant is a distinct way to be wrong.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("signature does not match")]
    BadSignature,
    #[error("Encrypt is not valid base64")]
    BadBase64,
    #[error("Encrypt is empty")]
    EmptyCiphertext,
    #[error("ciphertext length {0} is not a multiple of 16")]
    BadCiphertextLength(usize),
    #[error("bad PKCS#7 padding")]
    BadPadding,
    #[error("message length field points past the end of the plaintext")]
    LengthOutOfRange,
    #[error("message is not valid UTF-8")]
    InvalidUtf8,
    #[error("appid at the end of the message does not match ours")]
    AppIdMismatch,
    #[error("no key with index {0} (0 = current, 1 = previous)")]
    NoSuchKey(usize),
}

/// A bad EncodingAESKey (or token) in configuration. Never shows the value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("EncodingAESKey must be 43 characters of [A-Za-z0-9], got {0} characters")]
    WrongLength(usize),
    #[error("EncodingAESKey has characters outside [A-Za-z0-9]")]
    BadCharacters,
    #[error("message token is empty")]
    EmptyToken,
    #[error("component appid is empty")]
    EmptyAppId,
}

/// The sha1 signature WeChat uses: sha1_hex(concat(sorted(parts))), lowercase hex.
pub fn signature(parts: &[&str]) -> String {
    let digest = signature_digest(parts);
    hex::encode(digest)
}

/// The raw sha1 behind [`signature`]. Every push is verified with it, so the
/// common four-part case sorts on the stack.
fn signature_digest(parts: &[&str]) -> [u8; 20] {
    let mut hasher = Sha1::new();
    if let Ok(four) = <[&str; 4]>::try_from(parts) {
        let mut sorted = four;
        sorted.sort_unstable();
        sorted
            .iter()
            .for_each(|part| hasher.update(part.as_bytes()));
    } else {
        let mut sorted = parts.to_vec();
        sorted.sort_unstable();
        sorted
            .iter()
            .for_each(|part| hasher.update(part.as_bytes()));
    }
    hasher.finalize().into()
}

/// Constant-time comparison of a received hex signature with the expected digest
/// (hex case-insensitive, as some senders upper-case it).
fn signature_matches(received: &str, expected: &[u8; 20]) -> bool {
    let mut expected_hex = [0u8; 40];
    if hex::encode_to_slice(expected, &mut expected_hex).is_err() {
        return false;
    }
    let received = received.as_bytes();
    if received.len() != expected_hex.len() {
        return false;
    }
    let mut lowered = [0u8; 40];
    lowered
        .iter_mut()
        .zip(received)
        .for_each(|(out, byte)| *out = byte.to_ascii_lowercase());
    bool::from(lowered.ct_eq(&expected_hex))
}

/// Keys and identity for one component (third-party platform).
#[derive(Clone)]
pub struct MsgCrypt {
    token: Secret,
    /// `key_index` 0 of [`Opened`].
    current: AesKey,
    /// `key_index` 1: the key before the last rotation, still accepted on decrypt.
    previous: Option<AesKey>,
    component_appid: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgCrypt")
            .field("component_appid", &self.component_appid)
            .field("has_previous_key", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// A decrypted push: the message and which key opened it (0 = current, 1 = previous).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub message: String,
    pub key_index: usize,
}

impl MsgCrypt {
    /// `encoding_aes_key`: the 43-char key; `previous_key`: the one before a rotation.
    pub fn new(
        token: &str,
        encoding_aes_key: &str,
        previous_key: Option<&str>,
        component_appid: &str,
    ) -> Result<Self, KeyError> {
        if token.is_empty() {
            return Err(KeyError::EmptyToken);
        }
        if component_appid.is_empty() {
            return Err(KeyError::EmptyAppId);
        }
        let current = AesKey::parse(encoding_aes_key)?;
        let previous = previous_key.map(AesKey::parse).transpose()?;
        Ok(MsgCrypt {
            token: Secret::new(token),
            current,
            previous,
            component_appid: component_appid.to_owned(),
        })
    }

    /// The component appid every message's tail must carry.
    pub fn component_appid(&self) -> &str {
        &self.component_appid
    }

    /// msg_signature over (token, timestamp, nonce, encrypt).
    pub fn msg_signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        signature(&[self.token.expose(), timestamp, nonce, encrypt])
    }

    /// Constant-time check of a push's msg_signature.
    pub fn verify_msg_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), CryptoError> {
        let expected = signature_digest(&[self.token.expose(), timestamp, nonce, encrypt]);
        if signature_matches(msg_signature, &expected) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Constant-time check of the plain URL-check `signature` over (token, timestamp, nonce).
    pub fn verify_url_signature(
        &self,
        signature: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<(), CryptoError> {
        let expected = signature_digest(&[self.token.expose(), timestamp, nonce]);
        if signature_matches(signature, &expected) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Encrypt with the current key and a given random prefix → base64 `Encrypt`.
    pub fn encrypt_with_random(&self, message: &str, random: &[u8; 16]) -> String {
        self.encrypt_with(&self.current, message, random)
    }

    /// Encrypt with the current key and a fresh random prefix → base64 `Encrypt`.
    pub fn encrypt(&self, message: &str) -> String {
        self.encrypt_with_random(message, &rand::random())
    }

    /// Encrypt with key `key_index` (0 = current, 1 = previous) and a fresh random prefix.
    pub fn encrypt_with_key(&self, message: &str, key_index: usize) -> Result<String, CryptoError> {
        let key = self.key(key_index)?;
        Ok(self.encrypt_with(key, message, &rand::random()))
    }

    /// Decrypt a base64 `Encrypt`, trying the current then the previous key, and
    /// check the appid tail.
    pub fn decrypt(&self, encrypt: &str) -> Result<Opened, CryptoError> {
        if encrypt.is_empty() {
            return Err(CryptoError::EmptyCiphertext);
        }
        let ciphertext = STANDARD
            .decode(encrypt.as_bytes())
            .map_err(|_| CryptoError::BadBase64)?;
        let appid = self.component_appid.as_bytes();
        let Some(previous) = &self.previous else {
            let message = aes_cbc::open(&self.current, ciphertext, appid)?;
            return Ok(Opened {
                message,
                key_index: 0,
            });
        };
        match aes_cbc::open(&self.current, ciphertext.clone(), appid) {
            Ok(message) => Ok(Opened {
                message,
                key_index: 0,
            }),
            // The current key's verdict is the one worth reporting.
            Err(current_err) => aes_cbc::open(previous, ciphertext, appid)
                .map(|message| Opened {
                    message,
                    key_index: 1,
                })
                .map_err(|_| current_err),
        }
    }

    /// Verify msg_signature, then decrypt.
    pub fn open(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<Opened, CryptoError> {
        self.verify_msg_signature(msg_signature, timestamp, nonce, encrypt)?;
        self.decrypt(encrypt)
    }

    /// The encrypted passive-reply envelope
    /// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`, with the current key.
    pub fn seal_reply(&self, message: &str, timestamp: &str, nonce: &str) -> String {
        self.seal_with(&self.current, message, timestamp, nonce)
    }

    /// Like [`MsgCrypt::seal_reply`], with the key that opened the push
    /// ([`Opened::key_index`]), so a sender mid-rotation can read the answer.
    pub fn seal_reply_with_key(
        &self,
        message: &str,
        timestamp: &str,
        nonce: &str,
        key_index: usize,
    ) -> Result<String, CryptoError> {
        let key = self.key(key_index)?;
        Ok(self.seal_with(key, message, timestamp, nonce))
    }

    fn seal_with(&self, key: &AesKey, message: &str, timestamp: &str, nonce: &str) -> String {
        let encrypt = self.encrypt_with(key, message, &rand::random());
        let msg_signature = self.msg_signature(timestamp, nonce, &encrypt);
        crate::xml::encrypted_reply(&encrypt, &msg_signature, timestamp, nonce)
    }

    fn encrypt_with(&self, key: &AesKey, message: &str, random: &[u8; 16]) -> String {
        let ciphertext = aes_cbc::seal(
            key,
            random,
            message.as_bytes(),
            self.component_appid.as_bytes(),
        );
        STANDARD.encode(ciphertext)
    }

    fn key(&self, key_index: usize) -> Result<&AesKey, CryptoError> {
        match key_index {
            0 => Ok(&self.current),
            1 => self.previous.as_ref().ok_or(CryptoError::NoSuchKey(1)),
            _ => Err(CryptoError::NoSuchKey(key_index)),
        }
    }
}
