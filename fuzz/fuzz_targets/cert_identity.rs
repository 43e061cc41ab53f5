//! The agent identity read from a client certificate (its SPIFFE URI SAN,
//! else its subject common name through `tls.subjects`) on any bytes as
//! DER: an identity in the trust domain or the mapped one, or a typed
//! refusal; never a panic, and never an identity of another domain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;
use vigil_trust::{AgentIdentity, SubjectIdentity};

fuzz_target!(|data: &[u8]| {
    let cert = CertificateDer::from(data.to_vec());
    let subjects = [SubjectIdentity {
        common_name: "agent-1".into(),
        network: "hub".into(),
        agent_id: "mapped-1".into(),
    }];
    if let Ok(identity) = AgentIdentity::from_cert_or_subject(&cert, "vigil.local", &subjects) {
        assert!(
            identity
                .spiffe_id
                .starts_with("spiffe://vigil.local/vigil/agent/"),
            "{}",
            identity.spiffe_id
        );
    }
});
