//! One path from a push's HTTP body and query to its plaintext: parse the
//! envelope, verify msg_signature, decrypt. Handlers, fuzzing and the bench all use it.

use super::{CryptoError, MsgCrypt, Opened};
use crate::xml::{self, Envelope, XmlError};

/// Why a push body could not be opened.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("push envelope is not acceptable XML")]
    Xml(#[source] XmlError),
    #[error("push could not be verified and decrypted")]
    Crypto(#[source] CryptoError),
}

impl From<XmlError> for OpenError {
    fn from(err: XmlError) -> Self {
        OpenError::Xml(err)
    }
}

impl From<CryptoError> for OpenError {
    fn from(err: CryptoError) -> Self {
        OpenError::Crypto(err)
    }
}

/// A verified, decrypted push with the envelope it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedEnvelope {
    pub envelope: Envelope,
    pub opened: Opened,
}

impl MsgCrypt {
    /// Parse a push body `<xml><AppId|ToUserName/><Encrypt/></xml>`, check the
    /// query's `msg_signature` over its `Encrypt`, and decrypt it.
    pub fn open_envelope(
        &self,
        body: &[u8],
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<OpenedEnvelope, OpenError> {
        let envelope = xml::parse_envelope(body)?;
        let opened = self.open(msg_signature, timestamp, nonce, &envelope.encrypt)?;
        Ok(OpenedEnvelope { envelope, opened })
    }
}
