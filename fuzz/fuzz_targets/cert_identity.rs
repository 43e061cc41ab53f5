//! The agent identity read from a client certificate (its SPIFFE URI SAN)
//! on any bytes as DER: an identity in the trust domain, or a typed
//! refusal; never a panic, and never an identity of another domain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;
use vigil_trust::AgentIdentity;

fuzz_target!(|data: &[u8]| {
    let cert = CertificateDer::from(data.to_vec());
    if let Ok(identity) = AgentIdentity::from_cert(&cert, "vigil.local") {
        assert!(
            identity
                .spiffe_id
                .starts_with("spiffe://vigil.local/vigil/agent/"),
            "{}",
            identity.spiffe_id
        );
    }
});
