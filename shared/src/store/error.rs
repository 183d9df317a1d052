//! How a store call fails when the outcome of a race is not what failed.

/// The store failed; nothing about the race outcome is known.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store backend error: {message}")]
    Backend {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A stored record could not be read back: names the record and attribute.
    #[error("malformed {record} record: attribute `{attribute}`: {reason}")]
    Corrupt {
        record: &'static str,
        attribute: String,
        reason: String,
    },
    /// Input the store cannot accept (e.g. a chunk of another job).
    #[error("invalid store request: {0}")]
    Invalid(String),
}

impl StoreError {
    pub fn backend(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A backend failure with nothing underneath to name.
    pub(crate) fn backend_msg(message: impl Into<String>) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: None,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
