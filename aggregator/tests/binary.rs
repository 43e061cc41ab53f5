//! The `vigil-aggregator` binary: `--check-config` accepts the shipped example
//! and refuses a bad config or model with a non-zero exit and a message that
//! names the file and the field.

use std::path::Path;
use std::process::Command;

/// The admin token's variable in the example, set for every run.
const ADMIN_ENV: &str = "VIGIL_ADMIN_TOKEN";

/// `vigil-aggregator --check-config --config CONFIG`: its exit and stderr.
fn check_config(config: &Path, command: &mut Command) -> (bool, String) {
    let out = command
        .args(["--check-config", "--config"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigil-aggregator"));
    command.env(ADMIN_ENV, "fedcba9876543210fedcba9876543210");
    command
}

/// The example config beside its model, its `tls:` files (under
/// /etc/vigil/tls in the example) made by a development CA in `dir`, its
/// read token file in `dir/tokens`; the admin token comes from the
/// environment ([`ADMIN_ENV`]).
fn example_in(dir: &Path) -> std::path::PathBuf {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
    let ca = vigil_trust::DevCerts::new("vigil.local").unwrap();
    let tls = dir.join("tls");
    ca.server(&["localhost"])
        .unwrap()
        .write(&tls, ca.ca_pem())
        .unwrap();
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    std::fs::write(tokens.join("oncall"), "0123456789abcdef0123456789abcdef\n").unwrap();
    let text = std::fs::read_to_string(examples.join("aggregator.yaml"))
        .unwrap()
        .replace("/etc/vigil/tls/", &format!("{}/", tls.display()))
        .replace("/etc/vigil/tokens/", &format!("{}/", tokens.display()))
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
    let (ok, err) = check_config(&example, &mut bin());
    assert!(ok, "{err}");
    // Without its admin token, or its certificate files, the same config
    // names what is missing and exits non-zero.
    let (ok, err) = check_config(&example, bin().env_remove(ADMIN_ENV));
    assert!(!ok && err.contains(ADMIN_ENV), "{err}");
    std::fs::remove_file(dir.join("tls/tls.key")).unwrap();
    let (ok, err) = check_config(&example, &mut bin());
    assert!(
        !ok && err.contains("tls.key") && err.contains("fix:"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_config_without_tls_or_auth_or_an_explicit_opt_out_is_refused() {
    let dir = std::env::temp_dir().join(format!("vigil-agg-notls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
    let config = dir.join("aggregator.yaml");
    let model = examples.join("model-hub-two-spokes.yaml");
    let write = |insecure: &str| {
        std::fs::write(&config, format!("model: {}\n{insecure}", model.display())).unwrap();
    };
    write("");
    let (ok, err) = check_config(&config, &mut bin());
    assert!(!ok);
    assert!(
        err.contains("aggregator.yaml") && err.contains("`tls`") && err.contains("vigil certs"),
        "{err}"
    );
    // Plaintext alone still leaves the query API wanting credentials.
    write("insecure: { plaintext: true }\n");
    let (ok, err) = check_config(&config, &mut bin());
    assert!(!ok);
    assert!(
        err.contains("aggregator.yaml") && err.contains("`auth`") && err.contains("open_api"),
        "{err}"
    );
    write("insecure: { plaintext: true, open_api: true }\n");
    let out = bin()
        .args(["--check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
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
