//! Why a certificate, key or trust bundle could not be used. Every variant
//! names the file and says what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read {what} {}: {source}; fix: check the path and its permissions", file.display())]
    Read {
        what: &'static str,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {} holds no PEM {expected}; fix: point it at a PEM file (`vigil certs` writes a development set)", file.display())]
    Empty {
        what: &'static str,
        file: PathBuf,
        expected: &'static str,
    },
    #[error("{what} {} is not valid PEM: {message}; fix: point it at a PEM file", file.display())]
    Pem {
        what: &'static str,
        file: PathBuf,
        message: String,
    },
    #[error("cannot use certificate {} with key {}: {source}; fix: give the key that belongs to the certificate", cert.display(), key.display())]
    KeyMismatch {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("trust bundle {}: {message}; fix: give the CA certificate(s) that sign the peers' certificates", file.display())]
    Bundle { file: PathBuf, message: String },
    #[error("cannot build TLS settings: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {}: {source}", file.display())]
    Write {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("field `{field}`: {message}; fix: see docs/security.md (\"Who may ask\")")]
    Credential { field: String, message: String },
}
