//! The WXBizMsgCrypt plaintext layout, its 32-byte PKCS#7 padding, and AES-256-CBC.
//!
//! Plaintext: `random16 ‖ u32 BE len(msg) ‖ msg ‖ appid`, padded to a multiple of 32.

use aes::cipher::array::Array;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, InnerIvInit};
use aes::Aes256;

use super::key::AesKey;
use super::CryptoError;

/// WeChat pads to 32 bytes, not to the AES block size.
const PAD_BLOCK: usize = 32;
const AES_BLOCK: usize = 16;
const RANDOM_LEN: usize = 16;
const LEN_FIELD: usize = 4;

/// Lay out, pad and encrypt `message` for `appid` → raw ciphertext.
pub(super) fn seal(key: &AesKey, random: &[u8; 16], message: &[u8], appid: &[u8]) -> Vec<u8> {
    let unpadded = RANDOM_LEN + LEN_FIELD + message.len() + appid.len();
    let pad = PAD_BLOCK - unpadded % PAD_BLOCK;
    let mut buf = Vec::with_capacity(unpadded + pad);
    buf.extend_from_slice(random);
    // WeChat caps message bodies far below 4 GiB; saturate rather than wrap if ever fed more.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(message);
    buf.extend_from_slice(appid);
    // `pad` is in 1..=32, so the cast is lossless.
    buf.resize(unpadded + pad, pad as u8);

    let (blocks, rest) = Array::slice_as_chunks_mut(&mut buf);
    debug_assert!(rest.is_empty());
    cbc::Encryptor::<Aes256>::inner_iv_init(key.cipher.clone(), &key.iv.into())
        .encrypt_blocks(blocks);
    buf
}

/// Decrypt a raw ciphertext in place and return the message, checking the padding,
/// the length field and the appid tail.
pub(super) fn open(key: &AesKey, mut buf: Vec<u8>, appid: &[u8]) -> Result<String, CryptoError> {
    if buf.is_empty() {
        return Err(CryptoError::EmptyCiphertext);
    }
    if !buf.len().is_multiple_of(AES_BLOCK) {
        return Err(CryptoError::BadCiphertextLength(buf.len()));
    }
    let (blocks, _) = Array::slice_as_chunks_mut(&mut buf);
    cbc::Decryptor::<Aes256>::inner_iv_init(key.cipher.clone(), &key.iv.into())
        .decrypt_blocks(blocks);

    let plain = unpad(&buf)?;
    let (message, tail) = split_layout(plain)?;
    if tail != appid {
        return Err(CryptoError::AppIdMismatch);
    }
    // The message sits inside the decrypted buffer: cut it out without a second allocation.
    let start = RANDOM_LEN + LEN_FIELD;
    let end = start + message.len();
    buf.truncate(end);
    buf.drain(..start);
    String::from_utf8(buf).map_err(|_| CryptoError::InvalidUtf8)
}

/// Strip 32-byte PKCS#7 padding: the last byte `n` in 1..=32, the last `n` bytes all `n`.
fn unpad(buf: &[u8]) -> Result<&[u8], CryptoError> {
    let &last = buf.last().ok_or(CryptoError::BadPadding)?;
    let pad = usize::from(last);
    if !(1..=PAD_BLOCK).contains(&pad) || pad > buf.len() {
        return Err(CryptoError::BadPadding);
    }
    let (plain, padding) = buf.split_at(buf.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(CryptoError::BadPadding);
    }
    Ok(plain)
}

/// Split `random16 ‖ len ‖ msg ‖ appid` into `(msg, appid)`.
fn split_layout(plain: &[u8]) -> Result<(&[u8], &[u8]), CryptoError> {
    let body = plain
        .get(RANDOM_LEN..)
        .ok_or(CryptoError::LengthOutOfRange)?;
    let (len_field, rest) = body
        .split_first_chunk::<LEN_FIELD>()
        .ok_or(CryptoError::LengthOutOfRange)?;
    let len = usize::try_from(u32::from_be_bytes(*len_field))
        .map_err(|_| CryptoError::LengthOutOfRange)?;
    if len > rest.len() {
        return Err(CryptoError::LengthOutOfRange);
    }
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpad_rejects_zero_and_oversized_pad_bytes() {
        assert_eq!(unpad(&[7u8, 0]), Err(CryptoError::BadPadding));
        assert_eq!(unpad(&[33u8; 64]), Err(CryptoError::BadPadding));
        assert_eq!(unpad(&[3u8, 3]), Err(CryptoError::BadPadding));
    }

    #[test]
    fn unpad_rejects_inconsistent_padding_bytes() {
        assert_eq!(unpad(&[9, 9, 2, 3, 2, 3]), Err(CryptoError::BadPadding));
    }

    #[test]
    fn unpad_strips_a_whole_block_of_32() {
        let mut buf = vec![1u8; 32];
        buf.extend([32u8; 32]);
        assert_eq!(unpad(&buf), Ok(&[1u8; 32][..]));
    }

    #[test]
    fn split_layout_rejects_a_length_past_the_end() {
        let mut plain = vec![0u8; 16];
        plain.extend(5u32.to_be_bytes());
        plain.extend(b"abcd");
        assert_eq!(split_layout(&plain), Err(CryptoError::LengthOutOfRange));
    }

    #[test]
    fn split_layout_rejects_a_plaintext_shorter_than_the_header() {
        assert_eq!(split_layout(&[0u8; 19]), Err(CryptoError::LengthOutOfRange));
    }

    #[test]
    fn split_layout_handles_the_largest_length_field_without_overflow() {
        let mut plain = vec![0u8; 16];
        plain.extend(u32::MAX.to_be_bytes());
        assert_eq!(split_layout(&plain), Err(CryptoError::LengthOutOfRange));
    }
}
