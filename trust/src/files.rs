//! PEM files on disk: certificate chains, bundles and private keys, read
//! with errors that name the file.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TrustError;

fn read(what: &'static str, file: &Path) -> Result<Vec<u8>, TrustError> {
    std::fs::read(file).map_err(|source| TrustError::Read {
        what,
        file: file.to_path_buf(),
        source,
    })
}

/// Every certificate of a PEM file, in order (a chain, leaf first, or a
/// bundle of CAs). `what` names the file's role in errors.
pub fn read_certs(
    what: &'static str,
    file: &Path,
) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    certs_from_pem(what, file, &read(what, file)?)
}

pub(crate) fn certs_from_pem(
    what: &'static str,
    file: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrustError::Pem {
            what,
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TrustError::Empty {
            what,
            file: file.to_path_buf(),
            expected: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(file: &Path) -> Result<PrivateKeyDer<'static>, TrustError> {
    key_from_pem(file, &read("private key", file)?)
}

pub(crate) fn key_from_pem(file: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TrustError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TrustError::Empty {
            what: "private key",
            file: file.to_path_buf(),
            expected: "PRIVATE KEY",
        },
        e => TrustError::Pem {
            what: "private key",
            file: file.to_path_buf(),
            message: e.to_string(),
        },
    })
}
