//! vigil-trust: who may talk to Vigil, decided once for every listener and
//! client. TLS 1.2+ settings (rustls, ring), the agent identity a client
//! certificate grants (a SPIFFE URI SAN), certificate files that reload when
//! cert-manager rotates them, the handshakes of a listener done off its
//! accept loop, and development certificates (`vigil certs`).
//!
//! Owns certificates, keys and identities. It must not know what a signal,
//! a node or a fault is: the aggregator decides what an identity may do.

#![forbid(unsafe_code)]

mod error;
mod files;
mod generate;
mod identity;
mod incoming;
mod reload;
mod settings;
mod token;

pub use error::TrustError;
pub use files::{read_certs, read_key};
pub use generate::{DevCerts, Issued};
pub use identity::{
    ANY_AGENT, AgentIdentity, IdentityError, Revocations, SubjectIdentity, spiffe_id,
};
pub use incoming::{HandshakeCounters, TlsListener, accept_tls};
pub use reload::Reloading;
pub use settings::{ClientFiles, PemPair, ServerFiles, client_config, server_config};
pub use token::{Credentials, Denial, Grant, JwtConfig, Scope, TokenSource, random_token};

/// The crypto provider every Vigil TLS config uses.
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 and 1.2; nothing older is offered or accepted.
pub const PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];
