//! Shared by the cli's suites: running the real `vigil` binary the way an
//! on-call engineer would, with none of the environment that would change
//! its output (`VIGIL_SERVER`, `VIGIL_CA`, `VIGIL_TOKEN[_FILE]`, `NO_COLOR`,
//! `RUST_LOG`, a running demo's credentials) unless a test sets it.
//! It needs the cli's own binary, so it lives here and not in vigil-testkit.
#![allow(dead_code)]

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `vigil` binary with `args` and extra environment variables,
/// off the async runtime.
pub async fn vigil(args: &[&str], env: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.args(&args)
            .env_remove("VIGIL_SERVER")
            .env_remove("VIGIL_CA")
            .env_remove("VIGIL_TOKEN")
            .env_remove("VIGIL_TOKEN_FILE")
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            // A demo running on this machine must not lend its credentials.
            .env("VIGIL_DEMO_DIR", "/nonexistent/vigil-demo");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run vigil");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}
