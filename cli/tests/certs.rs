//! `vigil certs`: the files it writes are what the aggregator and agents
//! load, with the identities asked for.

use std::process::Command;

use vigil_trust::{AgentIdentity, ServerFiles, read_certs, server_config};

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

#[test]
fn certs_writes_a_loadable_set_with_the_agent_identities() {
    let dir = std::env::temp_dir().join(format!("vigil-certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = vigil()
        .args([
            "certs",
            "--trust-domain",
            "estate.test",
            "--agent",
            "spoke-a/agent-1",
            "--agent",
            "hub/hub-1",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = dir.join("aggregator");
    server_config(
        &ServerFiles {
            cert: server.join("tls.crt"),
            key: server.join("tls.key"),
            client_ca: Some(server.join("ca.crt")),
        },
        &[b"h2"],
    )
    .expect("the aggregator's files load as its TLS settings");
    for (network, id) in [("spoke-a", "agent-1"), ("hub", "hub-1")] {
        let d = dir.join("agents").join(network).join(id);
        let chain = read_certs("certificate", &d.join("tls.crt")).unwrap();
        let identity = AgentIdentity::from_cert(&chain[0], "estate.test").unwrap();
        assert_eq!(
            (identity.network.as_str(), identity.agent_id.as_str()),
            (network, id)
        );
        assert_eq!(
            std::fs::read(d.join("ca.crt")).unwrap(),
            std::fs::read(server.join("ca.crt")).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.join("tls.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is readable by others: {mode:o}");
        }
    }
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("spiffe://estate.test/vigil/agent/spoke-a/agent-1"),
        "{printed}"
    );

    let bad = vigil()
        .args(["certs", "--agent", "no-slash", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NETWORK/ID"));
    let _ = std::fs::remove_dir_all(&dir);
}
