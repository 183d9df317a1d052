//! The encrypted push envelope `<xml><AppId|ToUserName/><Encrypt/></xml>`.

use super::fields::parse_fields;
use super::writer::flat_xml;
use super::XmlError;

/// An encrypted push as it arrives. The authorization-event URL gets `AppId`
/// (the component appid), the authorizer message URL gets `ToUserName` (gh_…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub app_id: Option<String>,
    pub to_user_name: Option<String>,
    /// The base64 ciphertext, exactly as received (msg_signature covers it).
    pub encrypt: String,
}

/// Parse a push body; `Encrypt` is required, `AppId` and `ToUserName` optional.
pub fn parse_envelope(body: &[u8]) -> Result<Envelope, XmlError> {
    let fields = parse_fields(body)?;
    Ok(Envelope {
        app_id: fields.optional("AppId").map(str::to_owned),
        to_user_name: fields.optional("ToUserName").map(str::to_owned),
        encrypt: fields.required("Encrypt")?.to_owned(),
    })
}

impl Envelope {
    /// The envelope as WeChat sends it (used by the simulator and tests).
    pub fn to_xml(&self) -> String {
        let mut fields = Vec::with_capacity(3);
        if let Some(to_user_name) = &self.to_user_name {
            fields.push(("ToUserName", to_user_name.as_str()));
        }
        if let Some(app_id) = &self.app_id {
            fields.push(("AppId", app_id.as_str()));
        }
        fields.push(("Encrypt", self.encrypt.as_str()));
        flat_xml(&fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_through_its_own_xml() {
        let envelope = Envelope {
            app_id: Some("wx134c8103faa5a59e".into()),
            to_user_name: None,
            encrypt: "abc+/=".into(),
        };
        assert_eq!(parse_envelope(envelope.to_xml().as_bytes()), Ok(envelope));
    }
}
