//! TLS for the server's outgoing HTTPS calls (WeChat's API, ...).
//!
//! rustls with the `ring` provider: it builds from crates.io alone in
//! seconds, where the default provider (aws-lc) needs cmake and minutes.

/// Makes `ring` the process's rustls provider; harmless when one is set.
pub fn install_crypto_provider() {
    // Err means a provider is already installed (by us or a library): fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
