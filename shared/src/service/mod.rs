//! Use cases: what happens on a push, an authorization, a refresh sweep, a send.
//! No HTTP, AWS or Lambda type appears here.

pub mod access_token;
pub mod authorization;
pub mod delivery;
pub mod downloads;
pub mod events;
pub mod followers;
pub mod job_kind;
pub mod jobs;
pub mod jssdk;
pub mod keys;
pub mod links;
pub mod mass;
pub mod mass_admin;
pub mod materials;
pub mod media;
pub mod oauth;
pub mod preauth_cache;
pub mod profile;
pub mod proxy;
pub mod push;
pub mod qrcodes;
pub mod quota;
pub mod refresh;
pub mod send;
pub mod tags;
pub mod templates;
pub mod worker;
