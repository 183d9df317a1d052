//! The one way wxopen builds an outbound HTTP client (WeChat, the secrets extension).
//!
//! reqwest's default rustls setup asks the platform verifier, which reads and parses
//! every certificate under /etc/ssl at each client build: ~10 ms, paid twice in
//! every Lambda cold start. Mozilla's roots compiled in (webpki-roots) cost nothing
//! to load and are what WeChat's and AWS's certificates chain to.

use std::sync::{Arc, OnceLock};

use rustls::crypto::aws_lc_rs;
use rustls::{ClientConfig, RootCertStore};

/// A client builder with compiled-in roots; callers add timeouts and policies.
pub fn builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match tls_config() {
        Some(config) => builder.tls_backend_preconfigured(ClientConfig::clone(config)),
        // Unreachable with aws-lc-rs (it supports the default protocol versions);
        // reqwest's own TLS setup remains a correct, only slower, answer.
        None => builder,
    }
}

fn tls_config() -> Option<&'static Arc<ClientConfig>> {
    static CONFIG: OnceLock<Option<Arc<ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let config =
                ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                    .with_safe_default_protocol_versions()
                    .ok()?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
            Some(Arc::new(config))
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preconfigured_tls_carries_the_compiled_in_roots() {
        let config = tls_config().expect("aws-lc-rs supports the default TLS versions");
        assert!(!webpki_roots::TLS_SERVER_ROOTS.is_empty());
        assert!(config.crypto_provider().cipher_suites.len() > 1);
        assert!(builder().build().is_ok());
    }
}
