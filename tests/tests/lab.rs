//! The namespace lab in the workspace test suite: as root with `ip` and `nft`,
//! runs `deploy/lab/check --with-vigil` against freshly built
//! `vigil-aggregator` and `vigil-agent` binaries, a real hub-spoke network of
//! namespaces, veths, an nftables firewall and a DNS server, where every fault
//! is injected for real and Vigil's tree states, attributed side and suspect
//! and detection times are asserted by the script.
//!
//! Where the lab cannot run (not root, tools missing) it says so loudly; under
//! `CI=true` that is a failure, because CI must run it.

use std::ffi::OsString;
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

/// Why the lab cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("the lab needs Linux network namespaces".to_owned());
    }
    if !vigil_testkit::peer::is_root() {
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

/// Removes whatever a killed run left behind.
fn lab_down(prefix: &str) {
    let _ = Command::new(repo_root().join("deploy/lab/down"))
        .env("VIGIL_LAB_PREFIX", prefix)
        .status();
}

/// Runs `deploy/lab/SCRIPT ARGS` with the lab prefix `prefix`, echoing and
/// keeping its output lines; kills it and tears the lab down past
/// `deadline`.
fn run_lab_script(
    script: &str,
    args: &[OsString],
    prefix: &str,
    deadline: Duration,
) -> (std::process::ExitStatus, Vec<String>) {
    let mut child = Command::new(repo_root().join("deploy/lab").join(script))
        .args(args)
        .env("VIGIL_LAB_PREFIX", prefix)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("deploy/lab/{script} starts: {e}"));
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
                break child.wait().expect("exit status");
            }
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            lab_down(prefix);
            panic!(
                "deploy/lab/{script} did not finish within {deadline:?}; last lines:\n{}",
                lines[lines.len().saturating_sub(20)..].join("\n")
            );
        }
    };
    for reader in readers {
        let _ = reader.join();
    }
    (status, lines)
}

/// `Some(reason)` to skip (loudly; a failure under `CI=true`) where the
/// lab cannot run.
fn skip_reason(what: &str) -> Option<String> {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let reason = missing_prerequisite()?;
    assert!(
        !ci,
        "LAB TESTS DID NOT RUN in CI: {reason}; CI must run them as root with iproute2 and nftables"
    );
    // Straight to the process's stderr: the test harness captures
    // `eprintln!`, and this must be seen without --nocapture.
    let _ = writeln!(
        std::io::stderr(),
        "\n################################################################\n\
         ## LAB TESTS DID NOT RUN ({what}): {reason}\n\
         ## run `tests/run` as root to run them (CI does)\n\
         ################################################################\n"
    );
    Some(reason)
}

#[test]
fn the_lab_check_passes_with_vigil() {
    if skip_reason("check").is_some() {
        return;
    }
    let bin_dir = vigil_binaries();
    let start = Instant::now();
    let (status, lines) = run_lab_script(
        "check",
        &[OsString::from("--with-vigil"), bin_dir.into_os_string()],
        &prefix(),
        CHECK_DEADLINE,
    );
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

/// Generated scenarios on real packets, reduced (the full run is
/// `deploy/lab/scenarios --seed 2 --count 36`, docs/attribution.md): a
/// record answering publicly, a wrong SNAT at the same moment as a workload
/// crash, and the hub losing its route to a spoke, in a lab of two or three
/// spokes probed every 2-3 s. Each expected suspect must open, every fault
/// must page once and resolve once, and no replay may open a fault after
/// the restore.
#[test]
fn generated_lab_scenarios_find_every_cause_and_page_each_fault_once() {
    if skip_reason("scenarios").is_some() {
        return;
    }
    let bin_dir = vigil_binaries();
    let prefix = format!("vgs{}", std::process::id() % 10_000_000);
    let out = std::env::temp_dir().join(format!("{prefix}-scenarios.jsonl"));
    let (status, lines) = run_lab_script(
        "scenarios",
        &[
            "--seed",
            "8",
            "--count",
            "3",
            "--spokes-range",
            "2-3",
            "--interval-range",
            "2-3",
        ]
        .map(OsString::from)
        .into_iter()
        .chain([
            OsString::from("--bin-dir"),
            bin_dir.into_os_string(),
            OsString::from("--out"),
            out.clone().into_os_string(),
        ])
        .collect::<Vec<_>>(),
        &prefix,
        CHECK_DEADLINE,
    );
    assert!(
        status.success(),
        "deploy/lab/scenarios failed ({status}):\n{}",
        lines.join("\n")
    );
    let text = std::fs::read_to_string(&out).expect("the scenario records");
    let _ = std::fs::remove_file(&out);
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record per line"))
        .collect();
    assert_eq!(records.len(), 3, "{text}");
    for r in &records {
        let faults = &r["faults"];
        for e in r["expected"].as_array().expect("expected suspects") {
            assert!(
                r["detected"]
                    .get(e["fault"].as_str().unwrap())
                    .is_some_and(|d| !d.is_null()),
                "{faults}: {} never opened: {r}",
                e["suspect"]
            );
        }
        for (id, pages) in r["pages"].as_object().expect("pages per fault") {
            assert_eq!(
                (&pages["firing"], &pages["resolved"]),
                (&serde_json::json!(1), &serde_json::json!(1)),
                "{faults}: fault {id} paged {pages} times: {r}"
            );
        }
        assert_eq!(r["replay_faults"], serde_json::json!([]), "{faults}: {r}");
    }
}
