//! SDK errors → `StoreError`, keeping only the error code and the service's
//! message: the SDK error itself holds the raw HTTP response, which may echo
//! item values (tokens) and must not reach a log through `Debug`.

use crate::store::StoreError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// A DynamoDB request failed.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB {operation} failed: {code}: {message}")]
pub struct DynamoFailure {
    operation: &'static str,
    code: String,
    message: String,
}

/// Any SDK error as a `StoreError::Backend`, without the raw response.
pub(crate) fn sdk_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata,
{
    let (code, message) = match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            (
                e.code().unwrap_or("Unknown").to_owned(),
                e.message().unwrap_or("").to_owned(),
            )
        }
        SdkError::ConstructionFailure(_) => ("ConstructionFailure".to_owned(), String::new()),
        SdkError::TimeoutError(_) => ("Timeout".to_owned(), String::new()),
        SdkError::DispatchFailure(_) => ("DispatchFailure".to_owned(), dispatch_detail(&err)),
        SdkError::ResponseError(_) => ("ResponseError".to_owned(), String::new()),
        _ => ("Unknown".to_owned(), String::new()),
    };
    failure(operation, code, message)
}

/// A service error already taken out of its `SdkError`.
pub(crate) fn service_error<E: ProvideErrorMetadata>(
    operation: &'static str,
    err: E,
) -> StoreError {
    failure(
        operation,
        err.code().unwrap_or("Unknown").to_owned(),
        err.message().unwrap_or("").to_owned(),
    )
}

fn failure(operation: &'static str, code: String, message: String) -> StoreError {
    StoreError::backend(
        format!("DynamoDB {operation} request failed"),
        DynamoFailure {
            operation,
            code,
            message,
        },
    )
}

/// A dispatch failure never carries a response, so its cause chain (DNS,
/// connection refused, …) is safe and useful to keep.
fn dispatch_detail<E, R>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::DispatchFailure(d) => d
            .as_connector_error()
            .map(|c| aws_sdk_dynamodb::error::DisplayErrorContext(c).to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The outcome of a conditional write.
pub(crate) enum WriteError {
    /// The condition did not hold; the item as it was, when DynamoDB returned it.
    ConditionFailed(Option<HashMap<String, AttributeValue>>),
    Store(StoreError),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}
