//! wxopen-sim: a faithful offline WeChat simulator for the third-party platform APIs.
//!
//! It serves every endpoint of wechat-api.md §3 and §5 over real HTTP with WeChat's request
//! checks and error codes, keeps credentials on a virtual clock, pushes encrypted events to
//! our server, serves an authorization page, injects faults under a seed, records every call,
//! and runs the full-network release test. Start one with [`Simulator::start`].
//!
//! Lifetimes it uses: ticket 12 h, access tokens 7200 s, pre_auth_code 600 s, authorization
//! code 3600 s, replaced-token grace 5 min (all configurable in [`Limits`] / [`SimConfig`]).

mod admin;
mod api;
mod calls;
mod cli;
mod clock;
mod config;
mod faults;
mod followers;
mod handle;
mod identity;
mod ids;
mod page;
mod profile;
mod push;
mod release;
mod server;
mod shared;
mod world;
mod xmlmini;

pub use calls::CallRecord;
pub use cli::{banner, run, run_cli, CliOptions, USAGE};
pub use config::{
    sandbox, sandbox_openid, AccountConfig, BusinessInfoConfig, ComponentConfig, ConfigError,
    Limits, SimConfig, TagConfig, TemplateConfig,
};
pub use faults::{Fault, FaultSpec};
pub use followers::FollowerAction;
pub use handle::{AuthCode, SimError, SimHandle, Simulator};
pub use ids::token_hash;
pub use profile::ProfileChange;
pub use push::{PushOutcome, PushRecord};
pub use release::{ReleaseTestReport, StepResult};
pub use world::{RELEASE_TEST_GROUPS, RELEASE_TEST_OPENID};
