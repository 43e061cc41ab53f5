//! The agent identity a verified client certificate grants, and the
//! certificates revoked by configuration.
//!
//! An agent's certificate carries one URI SAN
//! `spiffe://<trust-domain>/vigil/agent/<network>/<agent-id>`; that, not
//! what the agent says in its `Hello`, is who it is. An agent id of `*`
//! grants any id within that network: the one secret a DaemonSet or a
//! scaled Deployment shares, whose agents are named by node or pod. A PKI
//! that cannot issue URI SANs maps a certificate's subject common name to
//! an identity instead ([`SubjectIdentity`], `tls.subjects`); the SPIFFE id
//! wins when both are present. Owns the parsing; the aggregator compares
//! the claim with the grant.

use std::collections::HashSet;
use std::path::Path;

use rustls::pki_types::CertificateDer;
use serde::Deserialize;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::TrustError;

/// The agent id that stands for any agent of its network.
pub const ANY_AGENT: &str = "*";

/// Who a client certificate says its holder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentIdentity {
    pub network: String,
    pub agent_id: String,
    /// The full SPIFFE id, for logs and deny-lists.
    pub spiffe_id: String,
    /// The certificate's serial number, lower-case hex without separators.
    pub serial: String,
}

/// Why a verified certificate grants no agent identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the client certificate cannot be parsed: {0}")]
    Unparsable(String),
    #[error(
        "the client certificate has no URI SAN spiffe://{trust_domain}/vigil/agent/<network>/<agent-id> (it has: {found}) and its subject common name {common_name} is not mapped in tls.subjects"
    )]
    NoAgentId {
        trust_domain: String,
        found: String,
        common_name: String,
    },
}

/// `tls.subjects[]`: the identity a certificate without an agent SPIFFE id
/// grants, by its subject's common name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectIdentity {
    /// The certificate subject's CN, exactly.
    pub common_name: String,
    pub network: String,
    /// The agent id it grants; `*` grants any agent of the network.
    pub agent_id: String,
}

/// The SPIFFE id of an agent in `network` with `agent_id`.
pub fn spiffe_id(trust_domain: &str, network: &str, agent_id: &str) -> String {
    format!("spiffe://{trust_domain}/vigil/agent/{network}/{agent_id}")
}

impl AgentIdentity {
    /// Whether this identity may speak as `agent_id` in `network`.
    pub fn grants(&self, agent_id: &str, network: &str) -> bool {
        self.network == network && (self.agent_id == ANY_AGENT || self.agent_id == agent_id)
    }

    /// The identity `cert` grants within `trust_domain`. The chain was
    /// verified by the handshake; this only reads it.
    pub fn from_cert(cert: &CertificateDer<'_>, trust_domain: &str) -> Result<Self, IdentityError> {
        Self::from_cert_or_subject(cert, trust_domain, &[])
    }

    /// The identity `cert` grants: its agent SPIFFE id within
    /// `trust_domain`, else the identity `subjects` map its common name to.
    pub fn from_cert_or_subject(
        cert: &CertificateDer<'_>,
        trust_domain: &str,
        subjects: &[SubjectIdentity],
    ) -> Result<Self, IdentityError> {
        let (_, x509) = X509Certificate::from_der(cert.as_ref())
            .map_err(|e| IdentityError::Unparsable(e.to_string()))?;
        let serial = x509
            .tbs_certificate
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let mut uris = Vec::new();
        if let Ok(Some(san)) = x509.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::URI(uri) = name {
                    uris.push((*uri).to_string());
                }
            }
        }
        let prefix = format!("spiffe://{trust_domain}/vigil/agent/");
        for uri in &uris {
            let Some(rest) = uri.strip_prefix(&prefix) else {
                continue;
            };
            let mut parts = rest.split('/');
            if let (Some(network), Some(agent_id), None) =
                (parts.next(), parts.next(), parts.next())
                && !network.is_empty()
                && !agent_id.is_empty()
            {
                return Ok(Self {
                    network: network.to_string(),
                    agent_id: agent_id.to_string(),
                    spiffe_id: uri.clone(),
                    serial,
                });
            }
        }
        let common_name = x509
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        if let Some(cn) = &common_name
            && let Some(mapped) = subjects.iter().find(|s| &s.common_name == cn)
        {
            return Ok(Self {
                network: mapped.network.clone(),
                agent_id: mapped.agent_id.clone(),
                // The id it stands for, so a deny-list of SPIFFE ids works
                // for mapped certificates too.
                spiffe_id: spiffe_id(trust_domain, &mapped.network, &mapped.agent_id),
                serial,
            });
        }
        Err(IdentityError::NoAgentId {
            trust_domain: trust_domain.to_string(),
            found: if uris.is_empty() {
                "no URI SAN".to_string()
            } else {
                uris.join(", ")
            },
            common_name: common_name.map_or_else(|| "(none)".to_string(), |cn| format!("`{cn}`")),
        })
    }
}

/// Certificates cut off by configuration: serial numbers (hex; colons,
/// case and leading zeros ignored) and SPIFFE ids, one per line, `#` starting a comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocations {
    serials: HashSet<String>,
    ids: HashSet<String>,
}

impl Revocations {
    pub fn parse(text: &str) -> Self {
        let mut r = Self::default();
        for line in text.lines() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            if entry.starts_with("spiffe://") {
                r.ids.insert(entry.to_string());
            } else {
                let hex = entry.replace(':', "").to_ascii_lowercase();
                r.serials.insert(hex.trim_start_matches('0').to_string());
            }
        }
        r
    }

    pub fn read(file: &Path) -> Result<Self, TrustError> {
        let text = std::fs::read_to_string(file).map_err(|source| TrustError::Read {
            what: "revocation list",
            file: file.to_path_buf(),
            source,
        })?;
        Ok(Self::parse(&text))
    }

    /// Whether `identity`'s certificate or SPIFFE id is revoked.
    pub fn revokes(&self, identity: &AgentIdentity) -> bool {
        self.serials
            .contains(identity.serial.trim_start_matches('0'))
            || self.ids.contains(&identity.spiffe_id)
    }

    pub fn len(&self) -> usize {
        self.serials.len() + self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DevCerts;

    #[test]
    fn an_agent_certificate_grants_its_network_and_id() {
        let ca = DevCerts::new("vigil.test").expect("ca");
        let agent = ca.agent("spoke-b", "agent-7").expect("agent");
        let id = AgentIdentity::from_cert(&agent.chain[0], "vigil.test").expect("identity");
        assert_eq!(id.network, "spoke-b");
        assert_eq!(id.agent_id, "agent-7");
        assert_eq!(
            id.spiffe_id,
            "spiffe://vigil.test/vigil/agent/spoke-b/agent-7"
        );
        assert!(!id.serial.is_empty());
    }

    #[test]
    fn a_network_wide_certificate_grants_any_agent_of_that_network_only() {
        let ca = DevCerts::new("vigil.test").expect("ca");
        let shared = ca.agent("spoke-a", ANY_AGENT).expect("agent");
        let id = AgentIdentity::from_cert(&shared.chain[0], "vigil.test").expect("identity");
        assert!(id.grants("node-1", "spoke-a") && id.grants("node-2", "spoke-a"));
        assert!(!id.grants("node-1", "spoke-b") && !id.grants("node-1", "hub"));
        let one = ca.agent("spoke-a", "node-1").expect("agent");
        let id = AgentIdentity::from_cert(&one.chain[0], "vigil.test").expect("identity");
        assert!(id.grants("node-1", "spoke-a") && !id.grants("node-2", "spoke-a"));
    }

    #[test]
    fn another_trust_domain_or_a_server_certificate_grants_nothing() {
        let ca = DevCerts::new("vigil.test").expect("ca");
        let agent = ca.agent("spoke-b", "agent-7").expect("agent");
        let err = AgentIdentity::from_cert(&agent.chain[0], "other.test").unwrap_err();
        assert!(
            err.to_string()
                .contains("spiffe://vigil.test/vigil/agent/spoke-b/agent-7")
        );
        let server = ca.server(&["localhost"]).expect("server");
        let err = AgentIdentity::from_cert(&server.chain[0], "vigil.test").unwrap_err();
        assert!(err.to_string().contains("no URI SAN"), "{err}");
    }

    #[test]
    fn a_certificate_without_a_spiffe_id_is_mapped_by_its_common_name() {
        let ca = DevCerts::new("vigil.test").expect("ca");
        let map = [
            SubjectIdentity {
                common_name: "hub-probe-1.corp".into(),
                network: "hub".into(),
                agent_id: "hub-probe-1".into(),
            },
            SubjectIdentity {
                common_name: "spoke-a-daemonset.corp".into(),
                network: "spoke-a".into(),
                agent_id: ANY_AGENT.into(),
            },
        ];
        let plain = ca.client("hub-probe-1.corp").expect("client");
        let id = AgentIdentity::from_cert_or_subject(&plain.chain[0], "vigil.test", &map)
            .expect("mapped");
        assert!(id.grants("hub-probe-1", "hub") && !id.grants("hub-probe-2", "hub"));
        assert_eq!(
            id.spiffe_id,
            "spiffe://vigil.test/vigil/agent/hub/hub-probe-1"
        );
        let shared = ca.client("spoke-a-daemonset.corp").expect("client");
        let id = AgentIdentity::from_cert_or_subject(&shared.chain[0], "vigil.test", &map)
            .expect("mapped");
        assert!(id.grants("node-9", "spoke-a") && !id.grants("node-9", "hub"));

        // Not in the map: refused, naming the common name.
        let stranger = ca.client("laptop.corp").expect("client");
        let err = AgentIdentity::from_cert_or_subject(&stranger.chain[0], "vigil.test", &map)
            .unwrap_err();
        assert!(err.to_string().contains("`laptop.corp`"), "{err}");
        // Without a map, a common name grants nothing.
        assert!(AgentIdentity::from_cert(&plain.chain[0], "vigil.test").is_err());
        // The SPIFFE id wins over a mapped common name.
        let agent = ca.agent("spoke-b", "hub-probe-1.corp").expect("agent");
        let id = AgentIdentity::from_cert_or_subject(&agent.chain[0], "vigil.test", &map)
            .expect("identity");
        assert_eq!(id.network, "spoke-b");
    }

    #[test]
    fn revocations_match_serials_in_any_spelling_and_spiffe_ids() {
        let ca = DevCerts::new("vigil.test").expect("ca");
        let agent = ca.agent("hub", "a1").expect("agent");
        let id = AgentIdentity::from_cert(&agent.chain[0], "vigil.test").expect("identity");
        let colons = id
            .serial
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert!(Revocations::parse(&format!("# stolen\n{colons}  # laptop\n")).revokes(&id));
        assert!(Revocations::parse(&format!("{}\n", id.spiffe_id)).revokes(&id));
        assert!(!Revocations::parse("spiffe://vigil.test/vigil/agent/hub/a2\n00ff\n").revokes(&id));
    }
}
