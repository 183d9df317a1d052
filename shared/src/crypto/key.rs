//! The AES key behind an EncodingAESKey, and its parsing.

use aes::cipher::KeyInit;
use aes::Aes256;
use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

use super::KeyError;

/// Characters in an EncodingAESKey.
const ENCODING_AES_KEY_LEN: usize = 43;

/// WeChat's keys are 43 symbols = 258 bits for a 256-bit key, so the last symbol
/// carries two spare bits that are usually non-zero: a strict decoder rejects them.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// One AES-256 key with its expanded schedule and the IV (`key[..16]`) WeChat derives from it.
#[derive(Clone)]
pub(super) struct AesKey {
    pub(super) cipher: Aes256,
    pub(super) iv: [u8; 16],
}

impl AesKey {
    /// Parse a 43-character EncodingAESKey: `base64_decode(key + "=")` must give 32 bytes.
    pub(super) fn parse(encoding_aes_key: &str) -> Result<Self, KeyError> {
        let chars = encoding_aes_key.chars().count();
        if chars != ENCODING_AES_KEY_LEN {
            return Err(KeyError::WrongLength(chars));
        }
        if !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyError::BadCharacters);
        }
        let mut padded = String::with_capacity(ENCODING_AES_KEY_LEN + 1);
        padded.push_str(encoding_aes_key);
        padded.push('=');
        let decoded = KEY_BASE64
            .decode(padded.as_bytes())
            .map_err(|_| KeyError::BadCharacters)?;
        let key: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::BadCharacters)?;
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&key[..16]);
        Ok(AesKey {
            cipher: Aes256::new(&key.into()),
            iv,
        })
    }
}
