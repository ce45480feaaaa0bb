//! TLS for the decision listeners (`--tls-cert`, `--tls-key`, optional `--tls-client-ca`),
//! on rustls with the ring provider. The certificate and key are read again on SIGHUP (new
//! connections get the new pair; a pair that fails to load keeps the current one); with a
//! client CA, only clients presenting a certificate it issued (and still valid) connect.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

/// What `serve` was given.
#[derive(Clone, Debug)]
pub struct Options {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The server's certificate, swapped on reload.
#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

#[allow(
    deprecated,
    reason = "ring: see cache::start_slots; no post-quantum key exchange"
)]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

impl Certificate {
    fn read(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| format!("cannot read the certificate `{}`: {e}", cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("cannot read the certificate `{}`: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("`{}` holds no certificate", cert.display()));
        }
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("cannot read the private key `{}`: {e}", key.display()))?;
        CertifiedKey::from_der(chain, private, &provider()).map_err(|e| {
            format!(
                "the certificate `{}` and key `{}` do not work together: {e}",
                cert.display(),
                key.display()
            )
        })
    }

    /// Reads the pair again; on failure the current one stays.
    pub fn reload(&self) -> Result<(), String> {
        let pair = Certificate::read(&self.cert, &self.key)?;
        self.current.store(Arc::new(pair));
        Ok(())
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The rustls configuration for `opts`, and the certificate handle to reload on SIGHUP.
pub fn server_config(opts: &Options) -> Result<(rustls::ServerConfig, Arc<Certificate>), String> {
    let pair = Certificate::read(&opts.cert, &opts.key)?;
    let certificate = Arc::new(Certificate {
        cert: opts.cert.clone(),
        key: opts.key.clone(),
        current: ArcSwap::from_pointee(pair),
    });
    let provider = Arc::new(provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &opts.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("cannot read the client CA `{}`: {e}", ca.display()))?;
            for c in certs {
                let c =
                    c.map_err(|e| format!("cannot read the client CA `{}`: {e}", ca.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("the client CA `{}` is not usable: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("the client CA `{}` is not usable: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config =
        builder.with_cert_resolver(Arc::clone(&certificate) as Arc<dyn ResolvesServerCert>);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, certificate))
}
