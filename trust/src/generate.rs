//! Development certificates: a CA, aggregator certificates for the names it
//! is reached by, and agent certificates carrying their SPIFFE identity,
//! written in the layout of a cert-manager secret (`tls.crt`, `tls.key`,
//! `ca.crt`). For `vigil certs`, the demo and tests; production certificates
//! come from the estate's own CA (deploy/k8s has cert-manager examples).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

use crate::{TrustError, spiffe_id};

/// A development CA within one trust domain.
pub struct DevCerts {
    trust_domain: String,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    /// Validity of what it issues.
    pub valid: (OffsetDateTime, OffsetDateTime),
}

/// One issued certificate and its key.
pub struct Issued {
    pub chain: Vec<CertificateDer<'static>>,
    pub cert_pem: String,
    pub key_pem: String,
    key_der: Vec<u8>,
}

impl Issued {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_der.clone().into())
    }

    /// Writes `tls.crt`, `tls.key` and `ca.crt` into `dir` (created); the
    /// key is readable by its owner only. Returns the three paths.
    pub fn write(&self, dir: &Path, ca_pem: &str) -> Result<[PathBuf; 3], TrustError> {
        std::fs::create_dir_all(dir).map_err(|source| TrustError::Write {
            file: dir.to_path_buf(),
            source,
        })?;
        let paths = [dir.join("tls.crt"), dir.join("tls.key"), dir.join("ca.crt")];
        for (path, text) in paths.iter().zip([&self.cert_pem, &self.key_pem, ca_pem]) {
            write_atomically(path, text)?;
        }
        Ok(paths)
    }
}

/// Writes through a temporary file and a rename, so a reloader never reads
/// half a certificate.
fn write_atomically(path: &Path, text: &str) -> Result<(), TrustError> {
    let err = |source| TrustError::Write {
        file: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(err)?;
    #[cfg(unix)]
    if path.extension().is_some_and(|e| e == "key") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

impl DevCerts {
    /// A new CA, valid from a day ago for ten years.
    pub fn new(trust_domain: &str) -> Result<Self, TrustError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(
            DnType::CommonName,
            format!("Vigil development CA ({trust_domain})"),
        );
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            trust_domain: trust_domain.to_string(),
            ca_pem: cert.pem(),
            ca_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
            valid: (now - Duration::days(1), now + Duration::days(365)),
        })
    }

    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The CA certificate, PEM (`ca.crt`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    fn issue(&self, params: CertificateParams) -> Result<Issued, TrustError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            chain: vec![cert.der().clone()],
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        })
    }

    fn leaf(
        &self,
        cn: &str,
        eku: ExtendedKeyUsagePurpose,
    ) -> Result<CertificateParams, TrustError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![eku];
        params.not_before = self.valid.0;
        params.not_after = self.valid.1;
        Ok(params)
    }

    /// An aggregator's certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Result<Issued, TrustError> {
        let cn = names.first().copied().unwrap_or("vigil-aggregator");
        let mut params = self.leaf(cn, ExtendedKeyUsagePurpose::ServerAuth)?;
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName((*n).try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        self.issue(params)
    }

    /// An agent's client certificate: its SPIFFE id is its identity.
    pub fn agent(&self, network: &str, agent_id: &str) -> Result<Issued, TrustError> {
        self.agent_valid(network, agent_id, self.valid)
    }

    /// An agent's certificate valid from `valid.0` to `valid.1` (an expired
    /// or not yet valid one, for tests of the refusal).
    pub fn agent_valid(
        &self,
        network: &str,
        agent_id: &str,
        valid: (OffsetDateTime, OffsetDateTime),
    ) -> Result<Issued, TrustError> {
        let id = spiffe_id(&self.trust_domain, network, agent_id);
        let mut params = self.leaf(agent_id, ExtendedKeyUsagePurpose::ClientAuth)?;
        params.subject_alt_names = vec![SanType::URI(id.as_str().try_into()?)];
        (params.not_before, params.not_after) = valid;
        self.issue(params)
    }

    /// A client certificate without an agent identity (an operator's).
    pub fn client(&self, cn: &str) -> Result<Issued, TrustError> {
        self.issue(self.leaf(cn, ExtendedKeyUsagePurpose::ClientAuth)?)
    }
}
