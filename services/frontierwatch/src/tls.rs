//! Server TLS from certificate and key files, reloaded when the files
//! change (cert-manager rotates them in place), with optional verification
//! of client certificates against a CA.
//!
//! Each handshake asks for the certificate; the resolver re-reads the files
//! when their modification times change, so a rotation takes effect for
//! the next connection without a restart. A rotation that cannot be read
//! (half-written files) keeps the previous certificate and logs why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::ring::{default_provider, sign::any_supported_type};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

/// Where the server's TLS material lives.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Verify client certificates against this CA (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {} (--tls-cert-file)", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!(
                "{} is not a PEM certificate chain (--tls-cert-file)",
                cert.display()
            )
        })?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no certificate (--tls-cert-file)",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "{} is not a PEM private key (--tls-key-file)",
            key.display()
        )
    })?;
    let key = any_supported_type(&key).context("unsupported private key type (--tls-key-file)")?;
    Ok(Arc::new(CertifiedKey::new(chain, key)))
}

/// The certificate of the files, re-read when they change.
#[derive(Debug)]
struct Reloading {
    files: TlsFiles,
    current: RwLock<(Option<SystemTime>, Option<SystemTime>, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let stamps = (modified(&self.files.cert), modified(&self.files.key));
        {
            let current = self.current.read().ok()?;
            if (current.0, current.1) == stamps {
                return Some(current.2.clone());
            }
        }
        let mut current = self.current.write().ok()?;
        match load(&self.files.cert, &self.files.key) {
            Ok(fresh) => {
                tracing::info!(cert = %self.files.cert.display(), "reloaded the TLS certificate");
                *current = (stamps.0, stamps.1, fresh);
            }
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "keeping the previous TLS certificate");
            }
        }
        Some(current.2.clone())
    }
}

/// The acceptor for the files (checked now, so a bad file stops the start).
pub fn acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let first = load(&files.cert, &files.key)?;
    let resolver = Arc::new(Reloading {
        files: files.clone(),
        current: RwLock::new((modified(&files.cert), modified(&files.key), first)),
    });
    let provider = Arc::new(default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("cannot read {} (--tls-client-ca-file)", ca.display()))?
            {
                roots
                    .add(cert.with_context(|| {
                        format!("{} is not PEM (--tls-client-ca-file)", ca.display())
                    })?)
                    .context("a client CA certificate is invalid (--tls-client-ca-file)")?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("cannot verify client certificates")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepted TLS connections: handshakes run concurrently, each bounded in
/// time, so a slow or failing client never holds up the others.
pub fn incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
) -> ReceiverStream<std::io::Result<TlsStream<TcpStream>>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = sender.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
            if sender.is_closed() {
                return;
            }
        }
    });
    ReceiverStream::new(receiver)
}
