//! The namespace lab in the workspace test suite: as root with `ip` and `nft`,
//! runs `deploy/lab/check --with-vigil` against freshly built
//! `vigil-aggregator` and `vigil-agent` binaries, a real hub-spoke network of
//! namespaces, veths, an nftables firewall and a DNS server, where every fault
//! is injected for real and Vigil's tree states, attributed side and suspect
//! and detection times are asserted by the script.
//!
//! Where the lab cannot run (not root, tools missing) it says so loudly; under
//! `CI=true` that is a failure, because CI must run it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The whole check takes a few minutes; past this it is stuck.
const CHECK_DEADLINE: Duration = Duration::from_secs(8 * 60);
/// A prefix of its own (`vgt` and the process id) so the test never collides
/// with a lab in use or with a concurrent run of the suite.
fn prefix() -> String {
    format!("vgt{}", std::process::id() % 10_000_000)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Why the lab cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("the lab needs Linux network namespaces".to_owned());
    }
    if !is_root() {
        return Some("not running as root (the lab creates network namespaces)".to_owned());
    }
    let missing: Vec<&str> = [
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("python3", "python3"),
    ]
    .into_iter()
    .filter(|(tool, _)| find_tool(tool).is_none())
    .map(|(_, pkg)| pkg)
    .collect();
    if !missing.is_empty() {
        return Some(format!(
            "missing {} (apt-get install {})",
            missing.join(", "),
            missing.join(" ")
        ));
    }
    None
}

/// Builds the two binaries into the target directory this test runs from
/// (cargo builds a package's own bins before its integration tests, not a
/// dependency's) and returns the folder holding them.
fn vigil_binaries() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/lab-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test runs from target/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let mut build = Command::new(cargo);
    build
        .current_dir(repo_root())
        .args([
            "build",
            "-p",
            "vigil-agent",
            "-p",
            "vigil-aggregator",
            "--bins",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(
        status.success(),
        "cargo build of vigil-agent and vigil-aggregator failed: {status}"
    );
    for bin in ["vigil-agent", "vigil-aggregator"] {
        assert!(
            profile_dir.join(bin).is_file(),
            "{bin} not found in {} after building",
            profile_dir.display()
        );
    }
    profile_dir
}

/// Removes whatever a killed check left behind.
fn lab_down() {
    let _ = Command::new(repo_root().join("deploy/lab/down"))
        .env("VIGIL_LAB_PREFIX", prefix())
        .status();
}

#[test]
fn the_lab_check_passes_with_vigil() {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    if let Some(reason) = missing_prerequisite() {
        assert!(
            !ci,
            "LAB TESTS DID NOT RUN in CI: {reason}; CI must run them as root with iproute2 and nftables"
        );
        // Straight to the process's stderr: the test harness captures
        // `eprintln!`, and this must be seen without --nocapture.
        let _ = writeln!(
            std::io::stderr(),
            "\n################################################################\n\
             ## LAB TESTS DID NOT RUN: {reason}\n\
             ## run `tests/run` as root to run them (CI does)\n\
             ################################################################\n"
        );
        return;
    }
    let bin_dir = vigil_binaries();

    let mut child = Command::new(repo_root().join("deploy/lab/check"))
        .arg("--with-vigil")
        .arg(&bin_dir)
        .env("VIGIL_LAB_PREFIX", prefix())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deploy/lab/check starts");
    let (tx, rx) = mpsc::channel::<String>();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(tx);

    let start = Instant::now();
    let mut lines = Vec::new();
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                eprintln!("{line}");
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break child.wait().expect("check exit status");
            }
        }
        if start.elapsed() > CHECK_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            lab_down();
            panic!(
                "deploy/lab/check did not finish within {CHECK_DEADLINE:?}; last lines:\n{}",
                lines[lines.len().saturating_sub(20)..].join("\n")
            );
        }
    };
    for reader in readers {
        let _ = reader.join();
    }
    let failures: Vec<&String> = lines.iter().filter(|l| l.starts_with("FAIL")).collect();
    let summary = lines
        .iter()
        .rev()
        .find(|l| l.contains(" passed, "))
        .cloned()
        .unwrap_or_else(|| "no summary line".to_owned());
    assert!(
        status.success() && failures.is_empty(),
        "deploy/lab/check --with-vigil failed ({status}, {summary}):\n{}",
        failures
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        summary.ends_with(" 0 failed"),
        "unexpected summary: {summary}"
    );
    // Vigil's view was checked, not only the network's.
    for fault in [
        "dns-down detected",
        "workload-5xx:spoke-c detected",
        "fw-drift detected",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("ok    vigil: ") && l.contains(fault)),
            "no Vigil assertion for {fault} in the check's output"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("vigil detection times")),
        "the check did not report detection times"
    );
    eprintln!(
        "lab check with Vigil passed in {:?}: {summary}",
        start.elapsed()
    );
}
