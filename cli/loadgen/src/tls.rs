//! TLS for a load run the way agents and on-call meet the aggregator: a
//! development CA, the aggregator's certificate, and one network-wide agent
//! certificate per network (`*`, the secret a DaemonSet shares), so every
//! simulated stream does a real mutual-TLS handshake and is identified by
//! its certificate.
//!
//! Owns the certificates of one run. It must not weaken verification: the
//! aggregator is verified against the CA and by name, as an agent does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity};
use vigil_trust::{ANY_AGENT, DevCerts};

use super::LoadError;

/// The trust domain of a load run's agents.
const TRUST_DOMAIN: &str = "vigil.load";

/// The certificates of one load run, written under a folder.
#[derive(Debug, Clone)]
pub struct LoadTls {
    dir: PathBuf,
    ca_pem: String,
    /// Network → (certificate, key) PEM.
    agents: BTreeMap<String, (String, String)>,
}

impl LoadTls {
    /// Makes a CA, the aggregator's certificate (for `localhost` and
    /// `127.0.0.1`) and an agent certificate for each of `networks`, and
    /// writes them under `dir` in the layout of `vigil certs`.
    pub fn make(dir: &Path, networks: &[String]) -> Result<Self, LoadError> {
        let err = |e: vigil_trust::TrustError| LoadError::Io(format!("load-run certificates: {e}"));
        // Absolute: the aggregator reads config paths from its config's folder.
        let dir = &std::path::absolute(dir)
            .map_err(|e| LoadError::Io(format!("{}: {e}", dir.display())))?;
        let ca = DevCerts::new(TRUST_DOMAIN).map_err(err)?;
        ca.server(&["localhost", "127.0.0.1"])
            .and_then(|s| s.write(&dir.join("aggregator"), ca.ca_pem()))
            .map_err(err)?;
        let mut agents = BTreeMap::new();
        for network in networks {
            let issued = ca.agent(network, ANY_AGENT).map_err(err)?;
            agents.insert(network.clone(), (issued.cert_pem, issued.key_pem));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            ca_pem: ca.ca_pem().to_string(),
            agents,
        })
    }

    /// The aggregator config's `tls:` section for these certificates, with
    /// an open query API (the run measures ingest, not tokens).
    pub fn config_section(&self) -> String {
        let server = self.dir.join("aggregator");
        format!(
            "tls:\n  cert: {0}/tls.crt\n  key: {0}/tls.key\n  client_ca: {0}/ca.crt\n  trust_domain: {TRUST_DOMAIN}\ninsecure:\n  open_api: true\n",
            server.display()
        )
    }

    /// Client settings verifying the aggregator, presenting `network`'s
    /// agent certificate when given (an ingest stream) and none otherwise
    /// (a query client).
    pub fn client(&self, network: Option<&str>) -> Result<ClientTlsConfig, LoadError> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .domain_name("localhost");
        if let Some(network) = network {
            let (cert, key) = self.agents.get(network).ok_or_else(|| {
                LoadError::Io(format!("no load-run certificate for network {network}"))
            })?;
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Ok(tls)
    }

    /// The CA's PEM, for HTTPS clients (the scraper).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// The aggregator config's security section of a plaintext run.
pub const PLAINTEXT: &str = "# Loopback load: plaintext, as the loadgen's streams are.\ninsecure:\n  plaintext: true\n  open_api: true\n";
