//! The `vigil-aggregator` binary: `--check-config` accepts the shipped example
//! and refuses a bad config or model with a non-zero exit and a message that
//! names the file and the field.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil-aggregator"))
}

#[test]
fn check_config_accepts_the_example() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/aggregator.yaml");
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
