//! `promtool check` from the Debian `prometheus` package, run on a
//! `/metrics` page ([`check_metrics`]) or a rules file ([`check_rules`]):
//! required under CI (`CI=true`, where tests/run installs it), skipped with a
//! loud note elsewhere ([`crate::peer`]).
//!
//! Owns running promtool and reading its verdict. It must not check series
//! names or values (the suites do, with a parser), and must never let a
//! missing promtool pass silently under CI.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// How much of a failing page the failure message repeats.
const PAGE_SHOWN: usize = 20_000;

fn available(check: &str) -> bool {
    crate::peer::available("promtool", "prometheus", &format!("promtool check {check}"))
}

/// `promtool check metrics` on an exposition page: it must pass and print
/// nothing, since promtool reports lint findings (naming, units) on stdout
/// and may still exit 0 for some.
pub fn check_metrics(page: &str) {
    if !available("metrics") {
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = match page.char_indices().nth(PAGE_SHOWN) {
        Some((end, _)) => format!("{}\n[… page cut at {PAGE_SHOWN} characters]", &page[..end]),
        None => page.to_string(),
    };
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{report}\n{shown}"
    );
    assert!(
        report.trim().is_empty(),
        "promtool lint findings:\n{report}"
    );
}

/// `promtool check rules` on a Prometheus rules file: it must pass.
pub fn check_rules(path: &Path) {
    if !available("rules") {
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check rules {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# HELP vigil_test_up Whether the test is up.\n# TYPE vigil_test_up gauge\nvigil_test_up 1\n";

    #[test]
    fn a_clean_page_passes() {
        check_metrics(GOOD);
    }

    #[test]
    fn lint_findings_fail_the_check_where_promtool_runs() {
        // A counter without `_total` is a lint finding, with exit status 0.
        let page =
            "# HELP vigil_test_runs Runs.\n# TYPE vigil_test_runs counter\nvigil_test_runs 3\n";
        let verdict = std::panic::catch_unwind(|| check_metrics(page));
        if Command::new("promtool").arg("--version").output().is_ok() {
            let message = *verdict
                .expect_err("promtool must report the counter's name")
                .downcast::<String>()
                .unwrap();
            assert!(message.contains("promtool"), "{message}");
        }
    }
}
