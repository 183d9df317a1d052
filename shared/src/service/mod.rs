//! Use cases: what happens on a push, an authorization, a refresh sweep, a send.
//! No HTTP, AWS or Lambda type appears here.

pub mod authorization;
pub mod delivery;
pub mod jobs;
pub mod jssdk;
pub mod keys;
pub mod links;
pub mod mass;
pub mod media;
pub mod oauth;
pub mod push;
pub mod qrcodes;
pub mod refresh;
pub mod send;
pub mod worker;
