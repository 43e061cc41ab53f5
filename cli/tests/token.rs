//! `vigil` against a real aggregator whose query API needs a bearer token:
//! the token from `VIGIL_TOKEN`, from `--token-file` or `VIGIL_TOKEN_FILE`,
//! and without one a refusal that says what to do and exits 2.

mod common;

use common::vigil;
use vigil_aggregator::{Aggregator, AggregatorConfig};
use vigil_model::Model;
use vigil_testkit::config::{Evaluation, aggregator_yaml_with};

const MODEL: &str = r#"
nodes:
  - id: platform
    name: Platform
    layer: platform_hub
    children: [hub-dns]
  - id: hub-dns
    name: Hub DNS
    layer: platform_hub
    select: { kind: dns, component: hub-dns }
"#;

const READ: &str = "cli-read-token-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_sends_its_token_from_the_environment_or_a_file() {
    let dir = std::env::temp_dir().join(format!("vigil-cli-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("oncall");
    std::fs::write(&token_file, format!("{READ}\n")).unwrap();
    let yaml = aggregator_yaml_with(
        &Evaluation::FAST,
        &format!(
            "insecure:\n  plaintext: true\nauth:\n  tokens:\n    - {{name: oncall, scope: read, file: {}}}\n",
            token_file.display()
        ),
    );
    let config = AggregatorConfig::from_yaml(&yaml, "cli-token.yaml").unwrap();
    let model = Model::from_yaml(MODEL, "cli-token-model.yaml").unwrap();
    let agg = Aggregator::start(config, model).await.unwrap();
    let server = format!("http://{}", agg.grpc_addr());
    let file = token_file.to_str().unwrap();

    let none = vigil(&["--server", &server, "tree"], &[]).await;
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(
        none.stderr.contains("VIGIL_TOKEN") && none.stderr.contains("--token-file"),
        "says where a token comes from: {}",
        none.stderr
    );
    let wrong = vigil(
        &["--server", &server, "tree"],
        &[("VIGIL_TOKEN", "not-a-token-anyone-was-given")],
    )
    .await;
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);

    for (args, env) in [
        (
            vec!["--server", &server, "tree"],
            vec![("VIGIL_TOKEN", READ)],
        ),
        (
            vec!["--server", &server, "--token-file", file, "tree"],
            vec![],
        ),
        (
            vec!["--server", &server, "faults"],
            vec![("VIGIL_TOKEN_FILE", file)],
        ),
    ] {
        let run = vigil(&args, &env).await;
        assert_eq!(run.code, 0, "{args:?} {env:?}: {}", run.stderr);
        assert!(!run.stdout.is_empty(), "{args:?}");
    }
    let tree = vigil(&["--server", &server, "tree"], &[("VIGIL_TOKEN", READ)]).await;
    assert!(tree.stdout.contains("hub-dns"), "{}", tree.stdout);

    let missing = vigil(
        &[
            "--server",
            &server,
            "--token-file",
            "/nonexistent/token",
            "tree",
        ],
        &[],
    )
    .await;
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("/nonexistent/token"),
        "{}",
        missing.stderr
    );
    agg.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
