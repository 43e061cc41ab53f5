//! The demo's trust material, so the demo runs the production path: a
//! development CA made at every start, the aggregator's certificate, one
//! client certificate per agent carrying its SPIFFE identity (mutual TLS on
//! ingest), and a read and an admin bearer token (the query API and the
//! control endpoint). All of it is written, owner-only, into the demo's
//! folder, with `demo.json` saying which addresses it is for, so `vigil` in
//! another terminal finds the CA and a token without flags.
//!
//! Owns the folder: where it is, its layout, and removing what it wrote. It
//! must not start anything, and it never hands these credentials to a
//! server other than the one `demo.json` names.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigil_trust::DevCerts;

/// The trust domain of the demo agents' SPIFFE ids.
pub const TRUST_DOMAIN: &str = "vigil.demo";
/// Overrides where the demo keeps its credentials.
pub const DIR_ENV: &str = "VIGIL_DEMO_DIR";

const CA: &str = "ca.crt";
const READ_TOKEN: &str = "read.token";
const ADMIN_TOKEN: &str = "admin.token";
const DISCOVERY: &str = "demo.json";
const AGGREGATOR: &str = "aggregator";
const AGENTS: &str = "agents";

/// Why the demo's credentials could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "another vigil demo (pid {pid}) keeps its credentials in {dir}; stop it, or give this one its own folder with {DIR_ENV}=DIR"
    )]
    InUse { dir: PathBuf, pid: u32 },
    #[error(
        "cannot write the demo's credentials in {dir}: {source}; choose another folder with {DIR_ENV}=DIR"
    )]
    Write {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make the demo's certificates or tokens: {0}")]
    Certificates(#[from] vigil_trust::TrustError),
}

/// Where the demo keeps its credentials: `VIGIL_DEMO_DIR`, else
/// `$XDG_RUNTIME_DIR/vigil-demo` (a per-user tmpfs), else
/// `$HOME/.local/state/vigil-demo`, else `vigil-demo` in the temp folder.
pub fn default_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var(DIR_ENV) {
        return PathBuf::from(dir);
    }
    if let Some(run) = var("XDG_RUNTIME_DIR") {
        return PathBuf::from(run).join("vigil-demo");
    }
    if let Some(home) = var("HOME") {
        return PathBuf::from(home).join(".local/state/vigil-demo");
    }
    std::env::temp_dir().join("vigil-demo")
}

/// What a running demo publishes in `demo.json`: which process, and the
/// addresses its credentials are for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    pub pid: u32,
    /// `https://HOST:PORT` of the aggregator's gRPC API.
    pub grpc: String,
    /// `https://HOST:PORT` of its HTTP API.
    pub http: String,
    /// `HOST:PORT` of the fault-injection control endpoint.
    pub control: String,
}

/// The credentials of a running demo as another process finds them.
#[derive(Debug, Clone)]
pub struct Found {
    pub dir: PathBuf,
    pub discovery: Discovery,
}

impl Found {
    /// The running demo whose credentials are in `dir`, if any.
    pub fn in_dir(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(DISCOVERY)).ok()?;
        let discovery: Discovery = serde_json::from_str(&text).ok()?;
        alive(discovery.pid).then(|| Self {
            dir: dir.to_path_buf(),
            discovery,
        })
    }

    /// The CA that signs the demo's aggregator and control endpoint.
    pub fn ca(&self) -> PathBuf {
        self.dir.join(CA)
    }

    pub fn read_token(&self) -> Option<String> {
        read_token(&self.dir.join(READ_TOKEN))
    }

    pub fn admin_token(&self) -> Option<String> {
        read_token(&self.dir.join(ADMIN_TOKEN))
    }

    /// Whether `server` (as given to `vigil --server`) is this demo's gRPC API.
    pub fn serves_grpc(&self, server: &str) -> bool {
        same_url(server, &self.discovery.grpc)
    }

    /// Whether `control` (as given to `--control`) is this demo's endpoint.
    pub fn serves_control(&self, control: &str) -> bool {
        same_url(control, &self.discovery.control)
    }
}

fn same_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_end_matches('/')
            .trim_start_matches("https://")
            .replace("localhost", "127.0.0.1")
    };
    norm(a) == norm(b)
}

fn read_token(file: &Path) -> Option<String> {
    let token = std::fs::read_to_string(file).ok()?.trim().to_owned();
    (!token.is_empty()).then_some(token)
}

/// Whether process `pid` still runs (Linux `/proc`; elsewhere assumed).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// The credentials a starting demo made, in its folder.
#[derive(Debug)]
pub struct DemoCredentials {
    dir: PathBuf,
    ca_pem: String,
    read_token: String,
    admin_token: String,
}

impl DemoCredentials {
    /// Makes a CA, the aggregator's certificate for `server_ips` (and
    /// `localhost`), one certificate per agent network in `networks`, and
    /// both tokens, in `dir` (created, owner-only). Refuses a folder a demo
    /// that still runs is using.
    pub fn create(
        dir: &Path,
        server_ips: &[IpAddr],
        networks: &[&str],
    ) -> Result<Self, CredentialError> {
        if let Some(found) = Found::in_dir(dir)
            && found.discovery.pid != std::process::id()
        {
            return Err(CredentialError::InUse {
                dir: dir.to_path_buf(),
                pid: found.discovery.pid,
            });
        }
        let write_err = |source| CredentialError::Write {
            dir: dir.to_path_buf(),
            source,
        };
        private_dir(dir).map_err(write_err)?;
        let ca = DevCerts::new(TRUST_DOMAIN)?;
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        for ip in server_ips {
            let ip = ip.to_string();
            if !names.contains(&ip) {
                names.push(ip);
            }
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        ca.server(&names)?
            .write(&dir.join(AGGREGATOR), ca.ca_pem())?;
        for network in networks {
            ca.agent(network, &agent_id(network))?
                .write(&dir.join(AGENTS).join(network), ca.ca_pem())?;
        }
        write_private(&dir.join(CA), ca.ca_pem()).map_err(write_err)?;
        let read_token = vigil_trust::random_token()?;
        let admin_token = vigil_trust::random_token()?;
        write_private(&dir.join(READ_TOKEN), &read_token).map_err(write_err)?;
        write_private(&dir.join(ADMIN_TOKEN), &admin_token).map_err(write_err)?;
        tracing::debug!(dir = %dir.display(), "demo credentials made");
        Ok(Self {
            dir: dir.to_path_buf(),
            ca_pem: ca.ca_pem().to_owned(),
            read_token,
            admin_token,
        })
    }

    /// Says which addresses these credentials are for, so `vigil` finds them.
    pub fn publish(&self, discovery: &Discovery) -> Result<(), CredentialError> {
        let text = serde_json::to_string_pretty(discovery).unwrap_or_default();
        write_private(&self.dir.join(DISCOVERY), &text).map_err(|source| CredentialError::Write {
            dir: self.dir.clone(),
            source,
        })
    }

    /// Removes every file it wrote, then the folder if nothing else is in it.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(self.dir.join(DISCOVERY));
        for file in [CA, READ_TOKEN, ADMIN_TOKEN] {
            let _ = std::fs::remove_file(self.dir.join(file));
        }
        for sub in [AGGREGATOR, AGENTS] {
            let _ = std::fs::remove_dir_all(self.dir.join(sub));
        }
        let _ = std::fs::remove_dir(&self.dir);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA every demo certificate chains to.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join(CA)
    }

    /// The CA's PEM text.
    pub fn ca_pem(&self) -> Vec<u8> {
        self.ca_pem.clone().into_bytes()
    }

    /// The folder with the aggregator's `tls.crt`, `tls.key`, `ca.crt`.
    pub fn aggregator_dir(&self) -> PathBuf {
        self.dir.join(AGGREGATOR)
    }

    /// The folder with `network`'s agent `tls.crt`, `tls.key`, `ca.crt`.
    pub fn agent_dir(&self, network: &str) -> PathBuf {
        self.dir.join(AGENTS).join(network)
    }

    pub fn read_token_file(&self) -> PathBuf {
        self.dir.join(READ_TOKEN)
    }

    pub fn admin_token_file(&self) -> PathBuf {
        self.dir.join(ADMIN_TOKEN)
    }

    pub fn read_token(&self) -> &str {
        &self.read_token
    }

    /// The read and the admin token as a server's `auth.tokens` takes them.
    pub fn token_sources(&self) -> Vec<vigil_trust::TokenSource> {
        let token = |name: &str, scope, file| vigil_trust::TokenSource {
            name: name.to_owned(),
            scope,
            file: Some(file),
            env: None,
        };
        vec![
            token(
                "demo-read",
                vigil_trust::Scope::Read,
                self.read_token_file(),
            ),
            token(
                "demo-admin",
                vigil_trust::Scope::Admin,
                self.admin_token_file(),
            ),
        ]
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }
}

/// The agent id of the demo's agent in `network`.
pub fn agent_id(network: &str) -> String {
    format!("demo-{network}")
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Fails on a folder someone else owns: their files are not ours to trust.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("vigil-demo-cred-{}-{name}", std::process::id()))
    }

    #[test]
    fn credentials_are_private_found_by_address_and_removed() {
        let dir = scratch("layout");
        let _ = std::fs::remove_dir_all(&dir);
        let creds = DemoCredentials::create(&dir, &[IpAddr::from([127, 0, 0, 1])], &["hub"])
            .expect("credentials are made");
        for file in [
            creds.ca_file(),
            creds.read_token_file(),
            creds.admin_token_file(),
            creds.aggregator_dir().join("tls.key"),
            creds.agent_dir("hub").join("tls.crt"),
        ] {
            assert!(file.exists(), "{} missing", file.display());
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&creds.admin_token_file()), 0o600);
            assert_eq!(mode(&creds.aggregator_dir().join("tls.key")), 0o600);
        }
        assert_ne!(creds.read_token(), creds.admin_token());
        assert!(Found::in_dir(&dir).is_none(), "nothing published yet");

        creds
            .publish(&Discovery {
                pid: std::process::id(),
                grpc: "https://127.0.0.1:7400".into(),
                http: "https://127.0.0.1:7401".into(),
                control: "127.0.0.1:7409".into(),
            })
            .unwrap();
        let found = Found::in_dir(&dir).expect("a published demo is found");
        assert!(found.serves_grpc("https://127.0.0.1:7400/"));
        assert!(found.serves_grpc("https://localhost:7400"));
        assert!(!found.serves_grpc("https://127.0.0.1:7500"));
        assert!(!found.serves_grpc("https://10.0.0.1:7400"));
        assert!(found.serves_control("127.0.0.1:7409"));
        assert_eq!(found.admin_token().as_deref(), Some(creds.admin_token()));

        creds.remove();
        assert!(!dir.exists(), "the folder is gone");
    }

    #[test]
    fn a_folder_a_running_demo_uses_is_refused() {
        let dir = scratch("in-use");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // pid 1 always runs.
        let other = Discovery {
            pid: 1,
            grpc: "https://127.0.0.1:7400".into(),
            http: "https://127.0.0.1:7401".into(),
            control: "127.0.0.1:7409".into(),
        };
        std::fs::write(dir.join(DISCOVERY), serde_json::to_string(&other).unwrap()).unwrap();
        let err = DemoCredentials::create(&dir, &[], &["hub"]).unwrap_err();
        assert!(
            matches!(err, CredentialError::InUse { pid: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(DIR_ENV), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
