//! Inbound events (issue #15): what a follower push or a lifecycle change
//! becomes, how it is recorded before WeChat is answered, and how it reaches
//! the tenant (webhook deliveries, the pull feed).

pub mod announce;
pub mod deliver;
pub mod model;
pub mod record;
pub mod reply;
pub mod signing;
pub mod webhooks;
pub mod workers;

pub use record::{record, record_lifecycle, tenant_of};
