//! Behaviour of the WeChat simulator over real HTTP, one rule per test.

mod common;

mod admin;
mod credentials;
mod faults;
mod identity;
mod page;
mod pushes;
mod release;
mod requests;
mod sending;
