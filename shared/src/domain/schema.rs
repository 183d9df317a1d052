//! Small builders for the schemas the domain types describe themselves with.

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// A string schema: lengths in characters (the checks count bytes, which is
/// never fewer), an optional ECMA-262 pattern, a description and an example.
pub(crate) fn string(
    min_length: usize,
    max_length: usize,
    pattern: Option<&str>,
    description: &str,
    example: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min_length))
        .max_length(Some(max_length))
        .pattern(pattern)
        .description(Some(description))
        .examples([example])
        .into()
}
