//! A private CA and TLS servers (tokio-rustls) presenting certificates made
//! in the test with rcgen: valid, expired, not yet valid, for the wrong
//! name, close to expiry, or from a CA the probe does not trust. After the
//! handshake a server answers one HTTP request with 200, so it doubles as an
//! HTTPS destination.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// (SNI, HTTP `Host`) of every request an HTTPS server answered, in order.
pub type Names = Arc<Mutex<Vec<(String, String)>>>;

/// The name the valid certificates are issued for.
pub const NAME: &str = "vault.lab.test";

#[derive(Debug, Clone, Copy)]
pub enum Cert {
    Valid,
    Expired,
    NotYetValid,
    WrongName,
    /// Valid, expiring in this many days.
    ExpiresIn(i64),
    /// Issued by a CA that is not in the probe's `ca_file`.
    OtherCa,
}

pub struct TlsLab {
    pub ca_file: PathBuf,
    ca: Issuer<'static, KeyPair>,
    other_ca: Issuer<'static, KeyPair>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params
}

impl TlsLab {
    /// Makes two CAs and writes the first to a PEM file under a fresh
    /// directory named after `test`.
    pub fn new(test: &str) -> Self {
        let key = KeyPair::generate().expect("key");
        let params = ca_params("Vigil Lab CA");
        let cert = params.self_signed(&key).expect("ca cert");
        let dir =
            std::env::temp_dir().join(format!("vigil-agent-tls-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, cert.pem()).expect("write ca");
        let other_key = KeyPair::generate().expect("key");
        let other_params = ca_params("Somebody Else's CA");
        Self {
            ca_file,
            ca: Issuer::new(params, key),
            other_ca: Issuer::new(other_params, other_key),
        }
    }

    fn leaf(&self, kind: Cert) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let name = match kind {
            Cert::WrongName => "other.lab.test",
            _ => NAME,
        };
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let now = OffsetDateTime::now_utc();
        let (from, to) = match kind {
            Cert::Expired => (now - Duration::days(400), now - Duration::days(35)),
            Cert::NotYetValid => (now + Duration::days(30), now + Duration::days(400)),
            // Half a day of slack so the whole-day count is stable.
            Cert::ExpiresIn(days) => (
                now - Duration::days(1),
                now + Duration::days(days) + Duration::hours(12),
            ),
            _ => (now - Duration::days(1), now + Duration::days(365)),
        };
        params.not_before = from;
        params.not_after = to;
        let key = KeyPair::generate().expect("key");
        let issuer = match kind {
            Cert::OtherCa => &self.other_ca,
            _ => &self.ca,
        };
        let cert = params.signed_by(&key, issuer).expect("leaf cert");
        let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        (vec![cert.der().clone()], key)
    }

    /// Serves `kind` on a fresh loopback port.
    pub async fn serve(&self, kind: Cert) -> SocketAddr {
        self.serve_recording(kind).await.0
    }

    /// Serves `kind` on a fresh loopback port and records, for every HTTP
    /// request after a handshake, the SNI the client sent (empty without
    /// one) and the request's `Host`.
    pub async fn serve_recording(&self, kind: Cert) -> (SocketAddr, Names) {
        let (chain, key) = self.leaf(kind);
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let names = Names::default();
        let seen = names.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(conn).await else {
                        return;
                    };
                    let sni = tls.get_ref().1.server_name().unwrap_or_default().to_owned();
                    let mut buf = [0u8; 4096];
                    if let Ok(n) = tls.read(&mut buf).await
                        && n > 0
                    {
                        let mut headers = [httparse::EMPTY_HEADER; 32];
                        let mut request = httparse::Request::new(&mut headers);
                        let _ = request.parse(&buf[..n]);
                        let host = request
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case("host"))
                            .map(|h| String::from_utf8_lossy(h.value).into_owned())
                            .unwrap_or_default();
                        seen.lock().expect("names").push((sni, host));
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
                            .await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        (addr, names)
    }
}

impl Drop for TlsLab {
    fn drop(&mut self) {
        if let Some(dir) = self.ca_file.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
