//! Fuzzing harnesses. Each is a plain function so normal tests can run the same
//! input path (see `shared/tests/crypto_envelope_path.rs`).

pub mod envelope;
pub mod http;
