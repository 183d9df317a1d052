//! Fuzzing harnesses. Each is a plain function so normal tests can run the same
//! input path (see `shared/tests/crypto_envelope_path.rs`); the targets in
//! `fuzz_targets/` only call them.

pub mod bodies;
pub mod callbacks;
pub mod env;
pub mod envelope;
pub mod http;
pub mod multipart;
pub mod push_xml;
