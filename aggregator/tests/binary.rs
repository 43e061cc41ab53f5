//! The `vigil-aggregator` binary: `--check-config` accepts the shipped example
//! and refuses a bad config or model with a non-zero exit and a message that
//! names the file and the field.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil-aggregator"))
}

/// The example config beside its model, its `tls:` files (under
/// /etc/vigil/tls in the example) made by a development CA in `dir`.
fn example_in(dir: &Path) -> std::path::PathBuf {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
    let ca = vigil_trust::DevCerts::new("vigil.local").unwrap();
    let tls = dir.join("tls");
    ca.server(&["localhost"])
        .unwrap()
        .write(&tls, ca.ca_pem())
        .unwrap();
    let text = std::fs::read_to_string(examples.join("aggregator.yaml"))
        .unwrap()
        .replace("/etc/vigil/tls/", &format!("{}/", tls.display()))
        .replace(
            "model: model-hub-two-spokes.yaml",
            &format!(
                "model: {}",
                examples.join("model-hub-two-spokes.yaml").display()
            ),
        );
    let config = dir.join("aggregator.yaml");
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn check_config_accepts_the_example() {
    let dir = std::env::temp_dir().join(format!("vigil-agg-example-{}", std::process::id()));
    let example = example_in(&dir);
    let out = bin()
        .args(["--check-config", "--config"])
        .arg(&example)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without its certificate files the same config names the file and exits non-zero.
    std::fs::remove_file(dir.join("tls/tls.key")).unwrap();
    let out = bin()
        .args(["--check-config", "--config"])
        .arg(&example)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("tls.key") && err.contains("fix:"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_config_without_tls_or_an_explicit_plaintext_is_refused() {
    let dir = std::env::temp_dir().join(format!("vigil-agg-notls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
    let config = dir.join("aggregator.yaml");
    let model = examples.join("model-hub-two-spokes.yaml");
    std::fs::write(&config, format!("model: {}\n", model.display())).unwrap();
    let out = bin()
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("aggregator.yaml") && err.contains("`tls`") && err.contains("vigil certs"),
        "{err}"
    );
    std::fs::write(
        &config,
        format!(
            "model: {}\ninsecure: {{ plaintext: true }}\n",
            model.display()
        ),
    )
    .unwrap();
    let out = bin()
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
}

#[test]
fn bad_config_and_bad_model_exit_non_zero_naming_file_and_field() {
    let dir = std::env::temp_dir().join(format!("vigil-agg-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("aggregator.yaml");
    std::fs::write(
        &config,
        "model: model.yaml\nevaluation: { staleness: 0s }\n",
    )
    .unwrap();
    let out = bin()
        .arg("--check-config")
        .env("VIGIL_AGGREGATOR_CONFIG", &config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("aggregator.yaml")
            && err.contains("evaluation.staleness")
            && err.contains("fix:"),
        "{err}"
    );

    std::fs::write(&config, "model: model.yaml\n").unwrap();
    std::fs::write(
        dir.join("model.yaml"),
        "nodes:\n  - id: root\n    children: [a]\n  - id: a\n    select: { kind: carrier_pigeon }\n",
    )
    .unwrap();
    let out = bin()
        .arg("--check-config")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("model.yaml") && err.contains("select.kind") && err.contains("carrier_pigeon"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
