//! XML of pushes and replies (wechat-api.md §1, §4, §6). Pure, no I/O.
//!
//! WeChat's XML is flat: `<xml>` holding one level of named fields. Every parser
//! here reads it through one hardened reader: no DOCTYPE, no entities beyond the
//! five predefined ones and numeric character references, bounded size and depth.
//! That reader is quick-xml, except that a document in exactly the shape WeChat
//! sends (`flat`) is read by a scanner that is held to quick-xml's answer.

mod component;
mod envelope;
mod fields;
mod flat;
mod message;
mod writer;

pub use component::{parse_component_push, Authorization, ComponentPush};
pub use envelope::{parse_envelope, Envelope};
pub use message::{parse_authorizer_message, AuthorizerMessage, MessageKind};
pub use writer::{encrypted_reply, flat_xml, passive_reply, text_reply, NewsArticle, PassiveReply};

/// The largest XML body any parser here accepts, in bytes.
pub const MAX_XML_BYTES: usize = 64 * 1024;

/// The deepest element nesting accepted; `<xml>` itself is depth 1.
pub const MAX_XML_DEPTH: usize = 8;

/// Why an XML body was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("XML body of {0} bytes is over the {MAX_XML_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("XML with a DOCTYPE is refused")]
    Doctype,
    #[error("XML nests deeper than {MAX_XML_DEPTH} elements")]
    TooDeep,
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("required field <{0}> is missing")]
    MissingField(&'static str),
    #[error("field <{0}> appears more than once")]
    DuplicateField(String),
    #[error("field <{0}> does not hold a valid value")]
    InvalidField(&'static str),
}
