//! HTTPS in the binary (`--tls-cert`, `--tls-key`): the certificate in use,
//! replaceable while the server runs, and the rustls settings every TLS
//! connection is accepted with.
//!
//! Why here and not only behind nginx: a browser opens at most 6 HTTP/1.1
//! connections per origin, so a page with several streams (or a fan with a
//! few tabs) stalls; over HTTP/2 they share one connection, and browsers
//! speak HTTP/2 only over TLS. ALPN offers `h2` and `http/1.1`; the accept
//! loop ([`super::server`]) serves each with hyper.
//!
//! Reload: [`Tls::reload`] reads both files again (SIGHUP, `src/reload.rs`)
//! and swaps the certificate the resolver hands to new handshakes;
//! connections already open keep the session they have. A pair that does
//! not load (unreadable, not PEM, key and certificate that do not match)
//! is an error and the old pair stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// ALPN protocol id of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
pub const ALPN_H1: &[u8] = b"http/1.1";

/// Why a certificate pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{flag} {path}: {source}")]
    Read {
        /// The flag that named it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file held no usable PEM item of the kind wanted.
    #[error("{flag} {path}: {why}")]
    Pem {
        /// The flag that named it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        why: String,
    },
    /// rustls refused the pair (an unsupported key type, a key that is not
    /// the certificate's).
    #[error("--tls-key {key} with --tls-cert {cert}: {why}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        why: rustls::Error,
    },
    /// The rustls configuration could not be built.
    #[error("TLS settings: {0}")]
    Config(rustls::Error),
}

/// The certificate new handshakes get, swapped whole on reload.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().expect("certificate lock poisoned").clone())
    }
}

/// The node's TLS: where its pair lives, the pair in use, and the acceptor
/// built on it. Cheap to clone (the reloader and the accept loop share it).
#[derive(Clone)]
pub struct Tls {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: Arc<Current>,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert_path)
            .field("key", &self.key_path)
            .finish()
    }
}

impl Tls {
    /// Loads the pair at `cert` and `key` (PEM: the certificate chain, leaf
    /// first; a PKCS#8, PKCS#1 or SEC1 private key).
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let pair = load_pair(cert, key)?;
        let current = Arc::new(Current(RwLock::new(Arc::new(pair))));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_H1.to_vec()];
        Ok(Self {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Reads both files again and, if they load, hands the new pair to
    /// every handshake from now on. On an error the old pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let pair = load_pair(&self.cert_path, &self.key_path)?;
        *self.current.0.write().expect("certificate lock poisoned") = Arc::new(pair);
        Ok(())
    }

    /// What accepts a connection's handshake.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let pem = |flag, path: &Path, why: String| TlsError::Pem {
        flag,
        path: path.to_path_buf(),
        why,
    };
    let cert_pem = read("--tls-cert", cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem("--tls-cert", cert, format!("not a PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(pem("--tls-cert", cert, "no CERTIFICATE in the file".into()));
    }
    let key_pem = read("--tls-key", key)?;
    let der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| pem("--tls-key", key, format!("no PEM private key: {e}")))?;
    let pair_err = |why| TlsError::Pair {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        why,
    };
    let signer = rustls::crypto::ring::sign::any_supported_type(&der).map_err(pair_err)?;
    let pair = CertifiedKey::new(chain, signer);
    match pair.keys_match() {
        // A key type that cannot tell its public half: nothing to compare.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) | Ok(()) => {
            Ok(pair)
        }
        Err(why) => Err(pair_err(why)),
    }
}
