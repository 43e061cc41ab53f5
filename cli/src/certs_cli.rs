//! `vigil certs`: a development CA and the certificates a secure setup
//! needs, in the layout of a cert-manager secret, so TLS and agent identity
//! are a couple of commands away. Production certificates come from the
//! estate's own CA (deploy/k8s/certificates.yaml shows cert-manager's).
//!
//! Owns the command line and what it writes; the certificates are
//! vigil-trust's.

use std::path::PathBuf;

use anyhow::Context;
use vigil_trust::DevCerts;

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Folder to write into: `aggregator/` and `agents/<network>/<id>/`, each
    /// with `tls.crt`, `tls.key` and `ca.crt`.
    #[arg(long)]
    out: PathBuf,
    /// SPIFFE trust domain of the agents' identities (the aggregator's
    /// `tls.trust_domain`).
    #[arg(long, default_value = "vigil.local")]
    trust_domain: String,
    /// Names the aggregator is reached by (DNS names or IP addresses).
    #[arg(long = "server-name", default_values = ["localhost", "127.0.0.1"])]
    server_names: Vec<String>,
    /// An agent certificate per NETWORK/ID, e.g. `spoke-a/agent-1`; ID `*`
    /// grants any agent of that network (a DaemonSet's shared secret),
    /// written under `agents/<network>/any/`.
    #[arg(long = "agent", value_parser = parse_agent)]
    agents: Vec<(String, String)>,
}

fn parse_agent(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((n, id)) if !n.is_empty() && !id.is_empty() && !id.contains('/') => {
            Ok((n.to_string(), id.to_string()))
        }
        _ => Err(format!(
            "\"{text}\" is not NETWORK/ID; write e.g. spoke-a/agent-1"
        )),
    }
}

pub fn run(args: &CertsArgs) -> anyhow::Result<()> {
    let ca = DevCerts::new(&args.trust_domain).context("making the development CA")?;
    let names: Vec<&str> = args.server_names.iter().map(String::as_str).collect();
    let server_dir = args.out.join("aggregator");
    ca.server(&names)
        .context("making the aggregator's certificate")?
        .write(&server_dir, ca.ca_pem())?;
    println!(
        "{}: the aggregator's certificate for {}",
        server_dir.display(),
        names.join(", ")
    );
    for (network, id) in &args.agents {
        let folder = if id == vigil_trust::ANY_AGENT {
            "any"
        } else {
            id.as_str()
        };
        let dir = args.out.join("agents").join(network).join(folder);
        ca.agent(network, id)
            .with_context(|| format!("making the certificate of {network}/{id}"))?
            .write(&dir, ca.ca_pem())?;
        println!(
            "{}: agent {id} in {network} ({})",
            dir.display(),
            vigil_trust::spiffe_id(&args.trust_domain, network, id)
        );
    }
    println!(
        "\naggregator config:\n  tls:\n    cert: {0}/tls.crt\n    key: {0}/tls.key\n    client_ca: {0}/ca.crt\n    trust_domain: {1}",
        server_dir.display(),
        args.trust_domain
    );
    println!(
        "agent config:\n  aggregator:\n    endpoint: https://{}:7400\n    tls: {{ ca: DIR/ca.crt, cert: DIR/tls.crt, key: DIR/tls.key }}",
        names.first().copied().unwrap_or("localhost")
    );
    println!(
        "vigil: --server https://{}:7400 --ca {}/ca.crt",
        names.first().copied().unwrap_or("localhost"),
        server_dir.display()
    );
    println!("\nThe CA's key is not kept: run again for more certificates. Development only.");
    Ok(())
}
