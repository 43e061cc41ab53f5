//! Network namespaces, so a probe meets a real routing table: a fresh
//! namespace with its loopback up and whatever routes and links a test adds
//! with `ip` (a `blackhole` or `unreachable` default route, no route at all,
//! a veth to a second namespace that routes), and a way to run a probe from
//! inside it on a thread of its own (`setns`), with the same helpers every
//! other suite uses.
//!
//! Owns creating and deleting those namespaces; it must not change the
//! namespace the tests themselves run in. Needs root and iproute2: without
//! root [`Netns::create`] prints why and the test skips; as root, a
//! namespace that cannot be made fails the test.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A network namespace of its own, deleted (with its links) when dropped.
pub struct Netns {
    pub name: String,
}

/// Whether namespace tests can run here; prints why not, past the
/// harness's capture, so a skip shows even in a passing run.
pub fn available(test: &str) -> bool {
    let why = if !cfg!(target_os = "linux") {
        Some("network namespaces are Linux only")
    } else if !vigil_testkit::peer::is_root() {
        Some("not running as root (creating network namespaces needs it)")
    } else if Command::new("ip").arg("-V").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("`ip` is missing under CI: tests/run must install iproute2");
        }
        Some("`ip` not installed (apt-get install iproute2)")
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {test}: {why}; this check did NOT run"
            );
            false
        }
    }
}

/// A name no other test or run uses at the same time; short enough to
/// prefix a link name (15 characters at most).
pub fn unique(tag: &str) -> String {
    format!(
        "{tag}{}x{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `ip ARGS`, failing the test with its output when it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

impl Netns {
    /// A new namespace with only its loopback, up.
    pub fn create(tag: &str) -> Self {
        let ns = Netns { name: unique(tag) };
        ip(&["netns", "add", &ns.name]);
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Runs `make()`'s future to completion on a thread that has entered
    /// this namespace, with a runtime of its own: every socket the future
    /// opens (and every thread its runtime starts) is inside.
    pub fn run<F, Fut, T>(&self, make: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let handle = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            move_into_link_name_space(handle.as_fd(), Some(LinkNameSpaceType::Network))
                .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(make())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
