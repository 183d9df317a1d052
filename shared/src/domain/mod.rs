//! Values of the problem itself, below the HTTP layer and the store: checked
//! identifiers (an openid, a tenant, an appid, a URL…) that every layer can
//! take without checking again, and the outcomes a send records (a
//! recipient's status, why a job stopped, WeChat's delivery report).
//!
//! Each type reads and writes its own text form (`parse`/`as_str`, serde) and
//! describes itself to the OpenAPI document, so a rule is written once.

mod ids;
mod outcome;
mod schema;

pub use ids::{Appid, HttpUrl, InvalidValue, OpenId, Recipients, TemplateId, Tenant, Text};
pub use outcome::{DeliveryStatus, RecipientProgress, RecipientStatus, StopCode, StopReason};
