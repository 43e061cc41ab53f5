//! A certificate verifier for probes: it asks the standard WebPKI verifier
//! for its verdict (expired, untrusted, wrong name) and records it with the
//! leaf certificate, but lets the handshake finish, because a verifying
//! client aborts on a bad certificate and the probe could then never say
//! *what* is wrong with it. It must not be used for traffic whose
//! confidentiality matters: it trusts every certificate.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use vigil_proto::v1::ErrorClass;

use crate::config::TlsRoots;

/// What the WebPKI verifier said about the chain the server presented.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub leaf: CertificateDer<'static>,
    /// `Err` carries the verifier's reason.
    pub result: Result<(), rustls::Error>,
}

/// Built once per probe; hands out a fresh recorder per handshake.
#[derive(Debug, Clone)]
pub struct Trust {
    provider: Arc<CryptoProvider>,
    webpki: Arc<WebPkiServerVerifier>,
}

impl Trust {
    pub fn new(roots: &TlsRoots) -> Result<Self, String> {
        let mut store = RootCertStore::empty();
        match roots {
            TlsRoots::WebPki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            TlsRoots::CaFile { path, certs } => {
                for cert in certs {
                    store
                        .add(cert.clone())
                        .map_err(|e| format!("ca_file {path}: unusable CA certificate: {e}"))?;
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
            .build()
            .map_err(|e| format!("cannot build the certificate verifier: {e}"))?;
        Ok(Self { provider, webpki })
    }

    /// A client config whose verifier records into the returned slot.
    pub fn client_config(&self) -> Result<(Arc<rustls::ClientConfig>, Recorder), String> {
        let recorder = Recorder::default();
        let verifier = Arc::new(RecordingVerifier {
            inner: self.webpki.clone(),
            slot: recorder.clone(),
        });
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot configure TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok((Arc::new(config), recorder))
    }
}

/// Where one handshake's verdict lands.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Option<Verdict>>>);

impl Recorder {
    pub fn take(&self) -> Option<Verdict> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn put(&self, verdict: Verdict) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(verdict);
    }
}

#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    slot: Recorder,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        self.slot.put(Verdict {
            leaf: end_entity.clone().into_owned(),
            result,
        });
        Ok(ServerCertVerified::assertion())
    }

    // Handshake signatures are still checked: a server that cannot prove it
    // holds the key is a broken handshake, not a certificate finding.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The error class of a verifier's refusal.
pub fn class_of(err: &rustls::Error) -> ErrorClass {
    use CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::Expired | C::ExpiredContext { .. } => ErrorClass::TlsExpired,
            C::NotValidYet | C::NotValidYetContext { .. } => ErrorClass::TlsNotYetValid,
            C::NotValidForName | C::NotValidForNameContext { .. } => ErrorClass::TlsNameMismatch,
            _ => ErrorClass::TlsUntrusted,
        },
        _ => ErrorClass::TlsHandshake,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_map_to_classes() {
        let cert = |e| rustls::Error::InvalidCertificate(e);
        assert_eq!(class_of(&cert(C::Expired)), ErrorClass::TlsExpired);
        assert_eq!(class_of(&cert(C::NotValidYet)), ErrorClass::TlsNotYetValid);
        assert_eq!(
            class_of(&cert(C::NotValidForName)),
            ErrorClass::TlsNameMismatch
        );
        assert_eq!(class_of(&cert(C::UnknownIssuer)), ErrorClass::TlsUntrusted);
        assert_eq!(
            class_of(&rustls::Error::HandshakeNotComplete),
            ErrorClass::TlsHandshake
        );
    }

    use CertificateError as C;
}
