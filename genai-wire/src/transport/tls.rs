//! TLS client configurations on the aws-lc-rs provider.
//!
//! Why here: tokio-tungstenite builds a fresh root store on every connect when given no
//! connector (2–15 ms each), and `ClientConfig::builder()` picks the process-level
//! provider, which panics when both `ring` and `aws-lc-rs` are compiled in. So we always
//! build with [`ClientConfig::builder_with_provider`] (never `install_default()`), once,
//! and share the result by `Arc`.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use crate::{Error, Result};

/// The process-wide default: webpki roots (Mozilla's CA set), aws-lc-rs, TLS 1.2 and
/// 1.3. Built once, on first use; later calls clone the `Arc`.
pub fn default_client_config() -> Result<Arc<ClientConfig>> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if let Some(c) = DEFAULT.get() {
        return Ok(c.clone());
    }
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let built = client_config_with_roots(roots)?;
    Ok(DEFAULT.get_or_init(|| built).clone())
}

/// A client config on aws-lc-rs that trusts exactly `roots`.
pub fn client_config_with_roots(roots: RootCertStore) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("cannot build TLS config: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client config that trusts the given DER certificates (e.g. a self-signed test
/// server's, or a corporate proxy's CA) and nothing else.
pub fn client_config_trusting<I>(certs: I) -> Result<Arc<ClientConfig>>
where
    I: IntoIterator<Item = CertificateDer<'static>>,
{
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| Error::Tls(format!("cannot use certificate as a root: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::Tls("no root certificates given".into()));
    }
    client_config_with_roots(roots)
}

/// Like [`client_config_trusting`], from PEM text (one or more `CERTIFICATE` blocks).
pub fn client_config_trusting_pem(pem: &str) -> Result<Arc<ClientConfig>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("cannot parse PEM certificates: {e}")))?;
    client_config_trusting(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_built_once_and_shared() {
        let a = default_client_config().unwrap();
        let b = default_client_config().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(client_config_trusting([]).is_err());
        assert!(client_config_trusting_pem("not pem").is_err());
    }
}
