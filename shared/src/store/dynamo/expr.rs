//! Expression attribute values and names: every `#name` in an expression
//! stands for the attribute of the same name (some, like `status`, are
//! reserved words in DynamoDB expressions).

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Expression attribute values, built in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Values(HashMap<String, AttributeValue>);

impl Values {
    pub(crate) fn new() -> Self {
        Values::default()
    }

    pub(crate) fn with(mut self, name: &str, value: AttributeValue) -> Self {
        self.0.insert(name.to_owned(), value);
        self
    }

    pub(crate) fn into_map(self) -> Option<HashMap<String, AttributeValue>> {
        (!self.0.is_empty()).then_some(self.0)
    }
}

/// Expression attribute names for every `#name` used in `expressions`.
pub(crate) fn names(expressions: &[&str]) -> Option<HashMap<String, String>> {
    let mut map = HashMap::new();
    for expression in expressions {
        let mut rest = *expression;
        while let Some(at) = rest.find('#') {
            let after = &rest[at + 1..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..end];
            if !name.is_empty() {
                map.insert(format!("#{name}"), name.to_owned());
            }
            rest = &after[end..];
        }
    }
    (!map.is_empty()).then_some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_collected_from_every_expression() {
        let map = names(&["SET #a = :x, #b_c = #b_c + :one", "attribute_exists(#pk)"])
            .unwrap_or_default();
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("#b_c").map(String::as_str), Some("b_c"));
    }
}
