//! The rustls settings of Vigil's listeners and clients: TLS 1.2+ only, the
//! ring provider, and client certificates verified against a trust bundle.
//!
//! Owns how files become a `ServerConfig` or `ClientConfig`. What a verified
//! client may do is the caller's business (see `identity`).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::files::{certs_from_pem, key_from_pem};
use crate::{PROTOCOL_VERSIONS, TrustError, provider};

/// A listener's certificate files, in the layout of a cert-manager secret
/// (`tls.crt`, `tls.key`, `ca.crt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFiles {
    /// The listener's certificate chain, leaf first.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CAs whose client certificates are verified. A client without a
    /// certificate may still connect (query clients use tokens); one with a
    /// certificate this bundle does not sign is refused in the handshake.
    pub client_ca: Option<PathBuf>,
}

impl ServerFiles {
    /// Every file, for the reloader to watch.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut p = vec![self.cert.clone(), self.key.clone()];
        p.extend(self.client_ca.clone());
        p
    }
}

fn roots(file: &std::path::Path, pem: &[u8]) -> Result<RootCertStore, TrustError> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem("trust bundle", file, pem)? {
        roots.add(cert).map_err(|e| TrustError::Bundle {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn read(what: &'static str, file: &std::path::Path) -> Result<Vec<u8>, TrustError> {
    std::fs::read(file).map_err(|source| TrustError::Read {
        what,
        file: file.to_path_buf(),
        source,
    })
}

/// A listener's settings from its files, offering `alpn` (`h2` for gRPC;
/// `h2` and `http/1.1` for HTTP).
pub fn server_config(files: &ServerFiles, alpn: &[&[u8]]) -> Result<ServerConfig, TrustError> {
    let chain = certs_from_pem(
        "certificate",
        &files.cert,
        &read("certificate", &files.cert)?,
    )?;
    let key = key_from_pem(&files.key, &read("private key", &files.key)?)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca, &read("trust bundle", ca)?)?),
                provider(),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| TrustError::Bundle {
                file: ca.clone(),
                message: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config =
        builder
            .with_single_cert(chain, key)
            .map_err(|source| TrustError::KeyMismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
                source,
            })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A client's files: the CA that signs the server, and optionally the
/// client's own certificate and key (an agent's identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFiles {
    pub ca: PathBuf,
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// PEM texts as read: a certificate (chain) and its key.
pub type PemPair = (Vec<u8>, Vec<u8>);

impl ClientFiles {
    /// The PEM texts, each checked to parse, as tonic's TLS settings take
    /// them: (ca, Some((cert, key))).
    pub fn read_pem(&self) -> Result<(Vec<u8>, Option<PemPair>), TrustError> {
        let ca = read("trust bundle", &self.ca)?;
        roots(&self.ca, &ca)?;
        let identity = match &self.identity {
            Some((cert, key)) => {
                let c = read("certificate", cert)?;
                certs_from_pem("certificate", cert, &c)?;
                let k = read("private key", key)?;
                key_from_pem(key, &k)?;
                Some((c, k))
            }
            None => None,
        };
        Ok((ca, identity))
    }
}

/// A client's settings: the server verified against `files.ca` (its name
/// is checked by the connection), the client certificate presented if set.
pub fn client_config(files: &ClientFiles, alpn: &[&[u8]]) -> Result<ClientConfig, TrustError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)?
        .with_root_certificates(roots(&files.ca, &read("trust bundle", &files.ca)?)?);
    let mut config = match &files.identity {
        Some((cert, key)) => {
            let chain = certs_from_pem("certificate", cert, &read("certificate", cert)?)?;
            let k = key_from_pem(key, &read("private key", key)?)?;
            builder
                .with_client_auth_cert(chain, k)
                .map_err(|source| TrustError::KeyMismatch {
                    cert: cert.clone(),
                    key: key.clone(),
                    source,
                })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
