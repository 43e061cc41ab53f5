//! The aggregator under test when the load generator starts it: writes the
//! generated model and config to a scratch directory, starts the
//! `vigil-aggregator` binary on free loopback ports and stops it on drop.
//!
//! Owns that one child process. It must never signal a process it did not
//! start.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::LoadError;
use super::model::{EvaluationShape, FleetModel, aggregator_yaml};
use super::tls::{LoadTls, PLAINTEXT};

/// How long the aggregator may take to listen after start.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// A `vigil-aggregator` process started by the load generator.
#[derive(Debug)]
pub struct AggregatorProcess {
    child: Child,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub dir: PathBuf,
}

impl AggregatorProcess {
    /// Writes `model.yaml` and `aggregator.yaml` into `dir` and starts `bin`,
    /// serving TLS with `tls`'s certificates when given.
    pub fn start(
        bin: &Path,
        dir: &Path,
        model: &FleetModel,
        eval: &EvaluationShape,
        tls: Option<&LoadTls>,
    ) -> Result<Self, LoadError> {
        let io = |what: String| move |e: std::io::Error| LoadError::Io(format!("{what}: {e}"));
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        let (grpc, http) = (free_port()?, free_port()?);
        let config = write_files(dir, model, eval, grpc, http, tls)?;
        let log = std::fs::File::create(dir.join("aggregator.log"))
            .map_err(io(format!("create {}/aggregator.log", dir.display())))?;
        let child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .env(
                "RUST_LOG",
                std::env::var("VIGIL_AGGREGATOR_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(io(format!("start {}", bin.display())))?;
        let mut this = Self {
            child,
            grpc,
            http,
            dir: dir.to_path_buf(),
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = this.child.try_wait() {
                return Err(LoadError::Target(format!(
                    "{} exited with {status} before listening; see {}/aggregator.log",
                    bin.display(),
                    dir.display()
                )));
            }
            if std::net::TcpStream::connect_timeout(&grpc, Duration::from_millis(200)).is_ok() {
                return Ok(this);
            }
            if started.elapsed() > START_DEADLINE {
                return Err(LoadError::Target(format!(
                    "{} did not listen on {grpc} within {START_DEADLINE:?}; see {}/aggregator.log",
                    bin.display(),
                    dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for AggregatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the model and config for an aggregator the user starts; returns
/// the config's path.
pub fn write_files(
    dir: &Path,
    model: &FleetModel,
    eval: &EvaluationShape,
    grpc: SocketAddr,
    http: SocketAddr,
    tls: Option<&LoadTls>,
) -> Result<PathBuf, LoadError> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| LoadError::Io(format!("write {}: {e}", path.display())))?;
        Ok::<PathBuf, LoadError>(path)
    };
    write("model.yaml", model.yaml())?;
    write(
        "aggregator.yaml",
        aggregator_yaml(
            grpc,
            http,
            "model.yaml",
            eval,
            &tls.map_or_else(|| PLAINTEXT.to_string(), LoadTls::config_section),
        ),
    )
}

/// A loopback port free right now. Another process could take it before the
/// aggregator binds it; start then fails with a clear bind error.
fn free_port() -> Result<SocketAddr, LoadError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| LoadError::Io(format!("find a free loopback port: {e}")))
}
