//! The real `vigil` binary against a running demo, as the README tells a
//! newcomer to use it: no `--ca`, no token. It finds the demo's CA and
//! tokens in the demo's folder, for that demo's addresses only: the read
//! token for queries, the admin token for `inject` and `restore`.

mod common;

use common::vigil;
use vigil_demo::{Demo, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vigil_finds_the_running_demos_credentials_and_lends_them_to_no_one_else() {
    let demo = Demo::start(DemoOptions::for_tests())
        .await
        .expect("the demo starts");
    let dir = demo.credentials().dir().display().to_string();
    let env = [("VIGIL_DEMO_DIR", dir.as_str())];
    let server = demo.grpc_url();
    let control = demo.control_addr().to_string();

    let tree = vigil(&["--server", &server, "tree"], &env).await;
    assert_eq!(tree.code, 0, "{}", tree.stderr);
    assert!(tree.stdout.contains("platform"), "{}", tree.stdout);

    let inject = vigil(&["inject", "--control", &control, "dns-down"], &env).await;
    assert_eq!(inject.code, 0, "{}", inject.stderr);
    assert!(
        inject.stdout.contains("injected dns-down"),
        "{}",
        inject.stdout
    );
    assert_eq!(demo.active().await.len(), 1, "the admin token switched it");
    let restore = vigil(&["restore", "--control", &control, "dns-down"], &env).await;
    assert_eq!(restore.code, 0, "{}", restore.stderr);
    assert!(demo.active().await.is_empty());

    // A token given explicitly wins: the read token may not inject.
    let read = demo.credentials().read_token().to_owned();
    let refused = vigil(
        &["inject", "--control", &control, "dns-down"],
        &[env[0], ("VIGIL_TOKEN", read.as_str())],
    )
    .await;
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stderr.contains("admin"), "{}", refused.stderr);
    assert!(demo.active().await.is_empty());

    // Another server, even on this machine, gets none of the demo's
    // credentials: there is no CA to verify it with, and vigil says so.
    let elsewhere = vigil(&["--server", "https://127.0.0.1:1", "tree"], &env).await;
    assert_eq!(elsewhere.code, 2);
    assert!(elsewhere.stderr.contains("--ca"), "{}", elsewhere.stderr);

    demo.shutdown().await;
    // With the demo gone, nothing is found.
    let gone = vigil(&["--server", &server, "tree"], &env).await;
    assert_eq!(gone.code, 2);
    assert!(gone.stderr.contains("vigil demo"), "{}", gone.stderr);
}
