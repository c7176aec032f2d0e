//! SIP over TLS (RFC 3261 §26; `transport=tls` URIs, port 5061): the
//! rustls configurations the agent uses to accept and to open connections.
//!
//! rustls with the `ring` provider, passed explicitly, so the agent does not
//! depend on a process-wide default provider. The listener presents the
//! configured certificate chain; outgoing connections trust the Mozilla
//! roots (`webpki-roots`) plus the PEM CA file given, and check the peer's
//! name (the target's host, or its IP address).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Where SIP over TLS listens and which certificate it presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Listen address for TLS (conventionally port 5061).
    pub bind: std::net::SocketAddr,
    /// PEM certificate chain presented to peers (leaf first).
    pub cert: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key: PathBuf,
    /// PEM CA certificates trusted for outgoing connections, besides the
    /// Mozilla roots (a carrier's private CA, a self-signed test peer).
    pub ca: Option<PathBuf>,
}

/// The loaded TLS state of an agent.
#[derive(Clone)]
pub(crate) struct Tls {
    pub acceptor: TlsAcceptor,
    pub connector: TlsConnector,
}

fn invalid(what: &str, path: &Path, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("SIP TLS {what} {}: {e}", path.display()),
    )
}

impl Tls {
    /// Reads the certificate, key and CA files; one clear error per bad file.
    pub(crate) fn load(config: &TlsConfig) -> std::io::Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert)
            .map_err(|e| invalid("certificate", &config.cert, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| invalid("certificate", &config.cert, e))?;
        if chain.is_empty() {
            return Err(invalid(
                "certificate",
                &config.cert,
                "no CERTIFICATE block in the file",
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&config.key)
            .map_err(|e| invalid("key", &config.key, e))?;
        let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("certificate", &config.cert, e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| invalid("certificate and key", &config.cert, e))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(ca) = &config.ca {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
                .map_err(|e| invalid("CA file", ca, e))?
                .collect::<Result<_, _>>()
                .map_err(|e| invalid("CA file", ca, e))?;
            for c in certs {
                roots.add(c).map_err(|e| invalid("CA file", ca, e))?;
            }
        }
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("CA file", config.ca.as_deref().unwrap_or(Path::new("")), e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }
}

/// Whether a SIP URI asks for TLS: the `sips:` scheme or `;transport=tls`.
pub fn wants_tls(uri: &str) -> bool {
    let lower = uri.trim().to_ascii_lowercase();
    lower.starts_with("sips:")
        || lower
            .split(';')
            .skip(1)
            .any(|p| p.trim() == "transport=tls")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_uris() {
        assert!(wants_tls("sip:1@example.com;transport=tls"));
        assert!(wants_tls("sip:1@example.com:5061;TRANSPORT=TLS"));
        assert!(wants_tls("sips:1@example.com"));
        assert!(!wants_tls("sip:1@example.com"));
        assert!(!wants_tls("sip:1@example.com;transport=tcp"));
    }

    #[test]
    fn missing_files_are_one_clear_error() {
        let e = Tls::load(&TlsConfig {
            bind: "127.0.0.1:0".parse().expect("addr"),
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
            ca: None,
        })
        .err()
        .expect("refused");
        assert!(e.to_string().contains("/nonexistent/cert.pem"), "{e}");
    }
}
