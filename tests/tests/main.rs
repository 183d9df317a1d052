//! The end-to-end suite, linked as one test binary. Each of these modules was once
//! a test binary of its own, and each linked the whole of wxopen, the simulator
//! and the AWS SDK: 27 links of ~116 MB apiece in a debug build, most of a cold
//! CI run's disk. Run one module with `cargo test -p wxopen-tests --test end_to_end events::`.

mod api_common;

mod account_admin;
mod account_followers;
mod account_materials;
mod account_profile;
mod account_proxy;
mod account_seeds;
mod account_subscribe;
mod account_tags;
mod account_templates;
mod api_auth;
mod api_messages;
mod api_send;
mod authorize_flow;
mod browser_authorize;
mod browser_oauth;
mod dynamo_faults;
mod dynamo_lost_answers;
mod events;
mod identity;
mod job_creation;
mod oauth;
mod pushes;
mod refresh;
mod serve_clients;
mod template_ops;
mod template_routes;
mod tokens;
