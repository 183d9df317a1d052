//! wxopen: a WeChat third-party platform (第三方平台) backend.
//!
//! Everything that is not a Lambda entry point lives here. Handlers stay thin:
//! parse → call a `service` function → map the result. No AWS or Lambda type
//! reaches `service`.

pub mod app;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod http_client;
#[cfg(feature = "local-server")]
pub mod local;
pub mod outbound;
pub mod pages;
pub mod secret;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod wechat;
pub mod xml;
