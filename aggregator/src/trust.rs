//! Who may talk to this aggregator: the `tls:` and `insecure:` sections of
//! its config, the listener settings they give (reloaded as the files
//! rotate), and the rule an agent stream is held to: the identity its client
//! certificate grants is the identity it may claim.
//!
//! Owns the transport decision and the identity check. It must not decide
//! what an identified agent's signals mean; ingest does that after the
//! check passed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use vigil_trust::{AgentIdentity, Reloading, Revocations, ServerFiles, TrustError};

use crate::config::ConfigError;

/// `tls:`: the certificate both listeners present and the CA agents'
/// client certificates must chain to (a cert-manager secret's `tls.crt`,
/// `tls.key`, `ca.crt`). Relative paths are resolved against the config
/// file's folder. All files reload when they change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The aggregator's certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// Its private key, PEM.
    pub key: PathBuf,
    /// CA bundle that signs agents' (and operators') client certificates.
    pub client_ca: PathBuf,
    /// SPIFFE trust domain of agent identities:
    /// `spiffe://<trust_domain>/vigil/agent/<network>/<agent-id>`.
    #[serde(default = "default_trust_domain")]
    pub trust_domain: String,
    /// For a PKI that cannot issue URI SANs: certificates without an agent
    /// SPIFFE id map to an identity by their subject's common name,
    /// `{common_name, network, agent_id}` (`*` for any agent of the network).
    #[serde(default)]
    pub subjects: Vec<vigil_trust::SubjectIdentity>,
    /// Optional deny-list: certificate serials (hex) or SPIFFE ids, one per
    /// line. A listed agent is refused and its open stream cut off.
    #[serde(default)]
    pub revoked: Option<PathBuf>,
    /// How often the files are checked for changes.
    #[serde(
        default = "default_reload_interval",
        deserialize_with = "vigil_model::duration::deserialize"
    )]
    pub reload_interval: Duration,
}

/// `insecure:`: the only way to run without TLS. Every setting here warns
/// at start and shows in `/readyz`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsecureConfig {
    /// Serve gRPC and HTTP in plaintext, and take every agent at its word.
    #[serde(default)]
    pub plaintext: bool,
    /// Answer the query API, its change stream and `/metrics` without a
    /// bearer token.
    #[serde(default)]
    pub open_api: bool,
}

pub fn default_trust_domain() -> String {
    "vigil.local".to_string()
}
fn default_reload_interval() -> Duration {
    Duration::from_secs(5)
}

/// How the listeners are served, decided from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Tls(TlsConfig),
    Plaintext,
}

impl TlsConfig {
    pub(crate) fn anchor(&mut self, dir: &Path) {
        for p in [&mut self.cert, &mut self.key, &mut self.client_ca] {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        if let Some(p) = self.revoked.as_mut()
            && p.is_relative()
        {
            *p = dir.join(&*p);
        }
    }

    /// Loads every file once, as a start would: an unreadable or mismatched
    /// certificate is found before anything listens.
    pub fn check(&self) -> Result<(), TrustError> {
        vigil_trust::server_config(&self.files(), &[b"h2"])?;
        if let Some(file) = &self.revoked {
            Revocations::read(file)?;
        }
        Ok(())
    }

    fn files(&self) -> ServerFiles {
        ServerFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
            client_ca: Some(self.client_ca.clone()),
        }
    }
}

/// The transport `tls` and `insecure` ask for, or why they cannot be used:
/// neither (TLS is the default and needs its files) or both.
pub fn transport(
    tls: Option<&TlsConfig>,
    insecure: &InsecureConfig,
    origin: &str,
) -> Result<Transport, ConfigError> {
    let invalid = |field: &'static str, problem: &str, fix: &str| ConfigError::Invalid {
        file: origin.to_string(),
        field,
        problem: problem.to_string(),
        fix: fix.to_string(),
    };
    match (tls, insecure.plaintext) {
        (Some(_), true) => Err(invalid(
            "insecure.plaintext",
            "is true while `tls:` is set",
            "remove `insecure.plaintext` to serve TLS, or remove `tls:`",
        )),
        (Some(t), false) if t.trust_domain.is_empty() || t.trust_domain.contains('/') => {
            Err(invalid(
                "tls.trust_domain",
                "is empty or contains `/`",
                "use a domain name such as `vigil.local`",
            ))
        }
        (Some(t), false) => {
            let mut seen = std::collections::HashSet::new();
            for s in &t.subjects {
                let empty = [&s.common_name, &s.network, &s.agent_id]
                    .iter()
                    .any(|v| v.trim().is_empty());
                if empty || s.network.contains('/') || s.agent_id.contains('/') {
                    return Err(invalid(
                        "tls.subjects",
                        &format!(
                            "the entry for common name `{}` has an empty field or a `/` in its network or agent id",
                            s.common_name
                        ),
                        "give each entry common_name, network and agent_id (`*` for any agent of the network)",
                    ));
                }
                if !seen.insert(s.common_name.as_str()) {
                    return Err(invalid(
                        "tls.subjects",
                        &format!("common name `{}` is mapped twice", s.common_name),
                        "map each common name to one identity",
                    ));
                }
            }
            Ok(Transport::Tls(t.clone()))
        }
        (None, true) => Ok(Transport::Plaintext),
        (None, false) => Err(invalid(
            "tls",
            "is missing: the aggregator serves TLS and verifies agents' certificates by default",
            "set tls.cert, tls.key and tls.client_ca (`vigil certs --out DIR` writes a development set; docs/security.md), \
             or, for a test on a trusted network only, `insecure: { plaintext: true }`",
        )),
    }
}

/// The running trust settings: listener TLS (gRPC with `h2`, HTTP with
/// `h2` and `http/1.1`) and the deny-list, each reloading.
#[derive(Clone)]
pub(crate) struct Trust {
    pub grpc: Reloading<rustls::ServerConfig>,
    pub http: Reloading<rustls::ServerConfig>,
    pub agents: AgentPolicy,
}

/// What an agent stream is held to.
#[derive(Clone)]
pub(crate) enum AgentPolicy {
    /// `insecure.plaintext`: the Hello is taken at its word.
    Trusting,
    Verified {
        trust_domain: Arc<str>,
        subjects: Arc<[vigil_trust::SubjectIdentity]>,
        revoked: Reloading<Revocations>,
    },
}

impl Trust {
    pub(crate) fn start(tls: &TlsConfig, stop: &CancellationToken) -> Result<Self, TrustError> {
        let watch = |what, alpn: &'static [&'static [u8]]| {
            let files = tls.files();
            Reloading::watch(
                what,
                files.paths(),
                tls.reload_interval,
                stop.clone(),
                move || vigil_trust::server_config(&files, alpn),
            )
        };
        let revoked = match &tls.revoked {
            Some(file) => {
                let file = file.clone();
                Reloading::watch(
                    "revocation list",
                    vec![file.clone()],
                    tls.reload_interval,
                    stop.clone(),
                    move || Revocations::read(&file),
                )?
            }
            None => Reloading::fixed(Revocations::default()),
        };
        Ok(Self {
            grpc: watch("gRPC TLS settings", &[b"h2"])?,
            http: watch("HTTP TLS settings", &[b"h2", b"http/1.1"])?,
            agents: AgentPolicy::Verified {
                trust_domain: tls.trust_domain.as_str().into(),
                subjects: tls.subjects.clone().into(),
                revoked,
            },
        })
    }
}

/// Who is at the other end of an ingest stream, read from its connection.
#[derive(Debug, Clone)]
pub(crate) enum Peer {
    /// Plaintext by configuration: nothing to check.
    Trusted,
    Agent(AgentIdentity),
    /// TLS, but no certificate that grants an agent identity.
    Anonymous(String),
}

/// Why an agent's claim is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denial {
    /// No certificate, or one that grants no agent identity.
    Unauthenticated(String),
    /// The certificate grants another identity than the one claimed.
    Mismatch(String),
    Revoked(String),
}

impl AgentPolicy {
    pub(crate) fn peer(
        &self,
        certs: Option<&[rustls::pki_types::CertificateDer<'static>]>,
    ) -> Peer {
        let AgentPolicy::Verified {
            trust_domain,
            subjects,
            ..
        } = self
        else {
            return Peer::Trusted;
        };
        match certs.and_then(|c| c.first()) {
            None => Peer::Anonymous(
                "no client certificate: agents authenticate with a certificate from tls.client_ca"
                    .to_string(),
            ),
            Some(leaf) => match AgentIdentity::from_cert_or_subject(leaf, trust_domain, subjects) {
                Ok(id) => Peer::Agent(id),
                Err(e) => Peer::Anonymous(e.to_string()),
            },
        }
    }

    /// Whether `peer` may speak as `agent_id` in `network`.
    pub(crate) fn admit(&self, peer: &Peer, agent_id: &str, network: &str) -> Result<(), Denial> {
        match peer {
            Peer::Trusted => Ok(()),
            Peer::Anonymous(why) => Err(Denial::Unauthenticated(why.clone())),
            Peer::Agent(id) => {
                if self.revoked(id) {
                    return Err(Denial::Revoked(format!(
                        "certificate {} (serial {}) is revoked by tls.revoked",
                        id.spiffe_id, id.serial
                    )));
                }
                if !id.grants(agent_id, network) {
                    return Err(Denial::Mismatch(format!(
                        "the certificate grants agent `{}` in network `{}`; the Hello claims agent `{agent_id}` in network `{network}`",
                        id.agent_id, id.network
                    )));
                }
                Ok(())
            }
        }
    }

    /// Whether `id` is on the deny-list now (checked again on every batch,
    /// so a revocation cuts an open stream off).
    pub(crate) fn revoked(&self, id: &AgentIdentity) -> bool {
        match self {
            AgentPolicy::Trusting => false,
            AgentPolicy::Verified { revoked, .. } => revoked.load().revokes(id),
        }
    }
}
