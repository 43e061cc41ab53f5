//! Debian-packaged programs that suites drive as real peers (`promtool`,
//! `prometheus-alertmanager`): [`available`] says whether one runs here.
//! Under CI (`CI=true`, where tests/run installs them) a missing one fails
//! the test; elsewhere the test skips, and says so on the process's stderr,
//! past the test harness's capture, so the skip shows even in a passing run.
//!
//! [`is_root`] says whether the suites that build network namespaces can.
//!
//! Owns that decision and its message. It must not install anything, and
//! must never let a missing peer pass silently under CI.

use std::io::Write;
use std::process::Command;

/// Whether `bin` runs (`bin --version`). When it does not: panics under CI,
/// naming the Debian `package` tests/run must install; otherwise prints
/// `SKIP {skipped}: …` and returns false, and the caller skips.
pub fn available(bin: &str, package: &str, skipped: &str) -> bool {
    if Command::new(bin).arg("--version").output().is_ok() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{bin} is missing under CI: tests/run must install the Debian `{package}` package");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {skipped}: {bin} not installed (apt-get install {package}); this check did NOT run"
    );
    false
}

/// Whether this process runs as root (its effective uid is 0), as the suites
/// that create network namespaces need.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}
