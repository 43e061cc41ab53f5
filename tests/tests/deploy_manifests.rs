//! The container images (deploy/docker/) and Kubernetes manifests
//! (deploy/k8s/) agree with the code: every embedded config passes the
//! parser and validator its binary runs at start, ports and probe paths are
//! the ones the binaries listen on and serve, and each Dockerfile builds and
//! copies binaries that exist in the workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use vigil_agent::AgentConfig;
use vigil_aggregator::AggregatorConfig;
use vigil_model::Model;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// One YAML document of deploy/k8s/, with where it came from.
struct Doc {
    at: String,
    v: Value,
}

fn docs() -> Vec<Doc> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/k8s"))
        .expect("deploy/k8s exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "deploy/k8s holds too few manifests: {files:?}"
    );
    let mut out = Vec::new();
    for path in files {
        let file = format!("deploy/k8s/{}", path.file_name().unwrap().to_string_lossy());
        let values: Vec<Value> = serde_saphyr::from_multiple(&read(&file))
            .unwrap_or_else(|e| panic!("{file}: not YAML: {e}"));
        for (i, v) in values.into_iter().enumerate() {
            let at = format!(
                "{file} document {} ({} {})",
                i + 1,
                v["kind"],
                v["metadata"]["name"]
            );
            out.push(Doc { at, v });
        }
    }
    out
}

fn text<'a>(v: &'a Value, at: &str, field: &str) -> &'a str {
    let mut cur = v;
    for part in field.split('.') {
        cur = &cur[part];
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{at}: `{field}` must be a string, is {cur}"))
}

fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().map_or(&[], Vec::as_slice)
}

/// Paths the `.route("...")` calls in these source files serve.
fn routes(sources: &[&str]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for src in sources {
        for piece in read(src).split(".route(\"").skip(1) {
            out.insert(piece.split('"').next().unwrap().to_owned());
        }
    }
    out
}

#[test]
fn every_document_is_named_labelled_and_locked_down_in_namespace_vigil() {
    let docs = docs();
    assert!(
        docs.iter()
            .any(|d| d.v["kind"] == "Namespace" && d.v["metadata"]["name"] == "vigil")
    );
    for d in &docs {
        let (at, v) = (&d.at, &d.v);
        for field in ["apiVersion", "kind", "metadata.name"] {
            text(v, at, field);
        }
        if v["kind"] != "Namespace" {
            assert_eq!(
                text(v, at, "metadata.namespace"),
                "vigil",
                "{at}: metadata.namespace"
            );
        }
        for label in ["app.kubernetes.io/name", "app.kubernetes.io/component"] {
            assert!(
                v["metadata"]["labels"][label].is_string(),
                "{at}: metadata.labels.{label} missing"
            );
        }
        let pod = &v["spec"]["template"]["spec"];
        for c in items(pod, "containers") {
            let name = &c["name"];
            let sc = &c["securityContext"];
            let non_root =
                pod["securityContext"]["runAsNonRoot"] == true || sc["runAsNonRoot"] == true;
            assert!(
                non_root,
                "{at}: container {name}: runAsNonRoot must be true"
            );
            assert_eq!(
                sc["readOnlyRootFilesystem"], true,
                "{at}: container {name}: readOnlyRootFilesystem"
            );
            assert_eq!(
                sc["capabilities"]["drop"],
                serde_json::json!(["ALL"]),
                "{at}: container {name}: capabilities.drop"
            );
            // No probe kind opens raw sockets (agent/src/probe), so nothing is added back.
            assert!(
                sc["capabilities"]["add"].is_null(),
                "{at}: container {name}: capabilities.add"
            );
        }
    }
}

/// What a Vigil container listens on, taken from the config mounted into it.
struct Listening {
    /// The HTTP port probes and Prometheus use, and the paths it serves.
    http: u16,
    served: BTreeSet<String>,
    all: BTreeSet<u16>,
    metrics: bool,
    /// Whether the HTTP port serves TLS.
    tls: bool,
}

/// Checks the config a Vigil container runs with (the Dockerfile's
/// ENTRYPOINT `--config`, found through the pod's mounts and ConfigMaps) with
/// the binary's own parser, and returns what it listens on.
fn check_config(docs: &[Doc], at: &str, pod: &Value, c: &Value, image: &str) -> Listening {
    let dockerfile = format!(
        "deploy/docker/Dockerfile.{}",
        image.trim_start_matches("vigil-")
    );
    let entry = entrypoint(&dockerfile);
    assert!(
        c["command"].is_null(),
        "{at}: {image}: `command` would replace the ENTRYPOINT of {dockerfile}"
    );
    let flag = entry
        .iter()
        .position(|a| a == "--config")
        .unwrap_or_else(|| panic!("{dockerfile}: no --config"));
    let path = PathBuf::from(&entry[flag + 1]);
    let mounted = |path: &Path| -> String {
        let dir = path.parent().unwrap().to_string_lossy();
        let m = items(c, "volumeMounts")
            .iter()
            .find(|m| m["mountPath"] == *dir);
        let m = m.unwrap_or_else(|| {
            panic!(
                "{at}: {image}: nothing mounted at {dir} for {}",
                path.display()
            )
        });
        let vol = items(pod, "volumes")
            .iter()
            .find(|v| v["name"] == m["name"])
            .expect("volume of mount");
        let cm = text(vol, at, "configMap.name");
        let doc = docs
            .iter()
            .find(|d| d.v["kind"] == "ConfigMap" && d.v["metadata"]["name"] == cm);
        let doc =
            doc.unwrap_or_else(|| panic!("{at}: ConfigMap {cm} (mounted at {dir}) not found"));
        let key = path.file_name().unwrap().to_string_lossy();
        let data = doc.v["data"][&*key].as_str();
        data.unwrap_or_else(|| panic!("{}: no key `{key}` for {}", doc.at, path.display()))
            .to_owned()
    };
    let origin = format!("{at} {image} {}", path.display());
    let yaml = mounted(&path);
    // The cert-manager Certificate whose secret is mounted at `dir`.
    let certificate = |dir: &Path| -> &Value {
        let dir = dir.to_string_lossy();
        let m = items(c, "volumeMounts")
            .iter()
            .find(|m| m["mountPath"] == *dir)
            .unwrap_or_else(|| panic!("{at}: {image}: nothing mounted at {dir} for its TLS files"));
        let vol = items(pod, "volumes")
            .iter()
            .find(|v| v["name"] == m["name"])
            .expect("volume of mount");
        let secret = text(vol, at, "secret.secretName");
        let cert = docs
            .iter()
            .find(|d| d.v["kind"] == "Certificate" && d.v["spec"]["secretName"] == secret);
        &cert
            .unwrap_or_else(|| panic!("{at}: no cert-manager Certificate writes secret {secret}"))
            .v
    };
    let listening =
        |http: std::net::SocketAddr, all: &[std::net::SocketAddr], served, metrics, tls| {
            for a in all {
                assert!(
                    a.ip().is_unspecified(),
                    "{origin}: listens on {a}, unreachable from outside the pod"
                );
            }
            Listening {
                http: http.port(),
                served,
                all: all.iter().map(|a| a.port()).collect(),
                metrics,
                tls,
            }
        };
    if image == "vigil-aggregator" {
        let config = AggregatorConfig::from_yaml(&yaml, &path.to_string_lossy())
            .and_then(|c| c.with_otel_env(&origin, &|_| None))
            .unwrap_or_else(|e| panic!("{origin}: refused: {e}"));
        Model::from_yaml(&mounted(&config.model), &config.model.to_string_lossy())
            .unwrap_or_else(|e| panic!("{at}: model {}: refused: {e}", config.model.display()));
        let tls = match config.transport(&origin) {
            Ok(vigil_aggregator::Transport::Tls(tls)) => tls,
            other => panic!("{origin}: must serve TLS: {other:?}"),
        };
        let cert = certificate(tls.cert.parent().unwrap());
        assert!(
            items(&cert["spec"], "dnsNames")
                .iter()
                .any(|n| n == "vigil-aggregator.vigil.svc"),
            "{at}: the aggregator's certificate does not name the Service the agents dial"
        );
        config
            .check_access(&origin)
            .unwrap_or_else(|e| panic!("{origin}: the query API must be guarded: {e}"));
        assert!(
            !config.insecure.open_api && !config.auth.tokens.is_empty(),
            "{origin}: the query API must require tokens"
        );
        for token in &config.auth.tokens {
            let file = token.file.as_deref().unwrap_or_else(|| {
                panic!(
                    "{origin}: token {} must come from a mounted secret",
                    token.name
                )
            });
            let dir = file.parent().unwrap().to_string_lossy();
            let m = items(c, "volumeMounts")
                .iter()
                .find(|m| m["mountPath"] == *dir)
                .unwrap_or_else(|| {
                    panic!("{at}: nothing mounted at {dir} for token {}", token.name)
                });
            let vol = items(pod, "volumes")
                .iter()
                .find(|v| v["name"] == m["name"])
                .expect("volume of mount");
            text(vol, at, "secret.secretName");
        }
        assert_eq!(tls.key.parent(), tls.cert.parent());
        assert_eq!(tls.client_ca.parent(), tls.cert.parent());
        let l = &config.listen;
        let served = routes(&[
            "aggregator/src/query/http.rs",
            "aggregator/export/src/prometheus.rs",
        ]);
        listening(
            l.http,
            &[l.grpc, l.http],
            served,
            config.export.prometheus.enabled,
            true,
        )
    } else {
        // The environment the pod gives the agent; downward-API values stand in.
        let env: BTreeMap<String, String> = items(c, "env")
            .iter()
            .map(|e| {
                let value = e["value"]
                    .as_str()
                    .map_or_else(|| format!("{}-value", e["name"]), str::to_owned);
                (text(e, at, "name").to_owned(), value)
            })
            .collect();
        let config = AgentConfig::from_yaml_with_env(&yaml, &origin, &|k| env.get(k).cloned())
            .unwrap_or_else(|e| panic!("refused (the error names the file): {e}"));
        let admin = config
            .admin
            .listen
            .unwrap_or_else(|| panic!("{origin}: admin.listen is off; probes need it"));
        let tls = config
            .aggregator
            .tls
            .as_ref()
            .unwrap_or_else(|| panic!("{origin}: must stream over TLS (aggregator.tls)"));
        let cert = certificate(tls.files.ca.parent().unwrap());
        let grant = format!(
            "spiffe://vigil.local/vigil/agent/{}/*",
            config.agent.network
        );
        assert!(
            items(&cert["spec"], "uris").iter().any(|u| *u == *grant),
            "{at}: the agent's certificate does not grant {grant}"
        );
        let endpoint = config.aggregator.endpoint.trim_start_matches("https://");
        let (host, port) = endpoint.split_once(':').expect("endpoint host:port");
        let svc = host
            .strip_suffix(".vigil.svc")
            .unwrap_or_else(|| panic!("{origin}: aggregator {host} is not a Service in vigil"));
        let service = docs
            .iter()
            .find(|d| d.v["kind"] == "Service" && d.v["metadata"]["name"] == svc);
        let service =
            service.unwrap_or_else(|| panic!("{origin}: no Service {svc} for aggregator.endpoint"));
        let ports = items(&service.v["spec"], "ports");
        assert!(
            ports
                .iter()
                .any(|p| p["port"] == port.parse::<u64>().unwrap_or(0)),
            "{}: no port {port}",
            service.at
        );
        listening(
            admin,
            &[admin],
            routes(&["agent/src/admin.rs"]),
            true,
            false,
        )
    }
}

fn port_of(c: &Value, port: &Value, at: &str) -> u16 {
    let named = items(c, "ports")
        .iter()
        .find(|p| p["name"] == *port)
        .map(|p| &p["containerPort"]);
    let n = named
        .unwrap_or(port)
        .as_u64()
        .unwrap_or_else(|| panic!("{at}: port {port} is no container port"));
    u16::try_from(n).expect("port fits u16")
}

#[test]
fn vigil_containers_run_valid_configs_on_the_ports_and_paths_they_declare() {
    let docs = docs();
    let mut checked = BTreeSet::new();
    for d in docs
        .iter()
        .filter(|d| d.v["kind"] == "Deployment" || d.v["kind"] == "DaemonSet")
    {
        let template = &d.v["spec"]["template"];
        let pod = &template["spec"];
        for c in items(pod, "containers") {
            let image = text(c, &d.at, "image").split(':').next().unwrap();
            if !image.starts_with("vigil-") {
                continue;
            }
            let at = format!("{} container {}", d.at, c["name"]);
            let l = check_config(&docs, &at, pod, c, image);
            let declared: BTreeSet<u16> = items(c, "ports")
                .iter()
                .map(|p| port_of(c, &p["containerPort"], &at))
                .collect();
            assert_eq!(
                declared, l.all,
                "{at}: containerPorts vs the config's listen ports"
            );
            let exposed = read(&format!(
                "deploy/docker/Dockerfile.{}",
                image.trim_start_matches("vigil-")
            ));
            for p in &l.all {
                assert!(
                    exposed.lines().any(|x| x.starts_with("EXPOSE")
                        && x.split_whitespace().any(|w| w == p.to_string())),
                    "{image}: Dockerfile does not EXPOSE {p}"
                );
            }
            for probe in ["readinessProbe", "livenessProbe"] {
                let get = &c[probe]["httpGet"];
                let path = text(get, &at, "path");
                assert!(
                    l.served.contains(path),
                    "{at}: {probe}.httpGet.path {path} is not served; served: {:?}",
                    l.served
                );
                assert_eq!(
                    port_of(c, &get["port"], &at),
                    l.http,
                    "{at}: {probe}.httpGet.port"
                );
                // The aggregator's HTTP port speaks TLS only.
                let https = get["scheme"] == "HTTPS";
                assert_eq!(https, l.tls, "{at}: {probe}.httpGet.scheme");
            }
            // Prometheus annotations on the pod or on a Service selecting it.
            let services = docs.iter().filter(|s| {
                s.v["kind"] == "Service"
                    && s.v["spec"]["selector"].as_object().is_some_and(|sel| {
                        sel.iter()
                            .all(|(k, v)| template["metadata"]["labels"][k] == *v)
                    })
            });
            for (where_, meta) in std::iter::once((at.clone(), &template["metadata"]))
                .chain(services.map(|s| (s.at.clone(), &s.v["metadata"])))
            {
                let a = &meta["annotations"];
                if a["prometheus.io/scrape"] == "true" {
                    let path = a["prometheus.io/path"].as_str().unwrap_or("/metrics");
                    assert!(
                        l.metrics && l.served.contains(path),
                        "{where_}: scrapes {path}, which {at} does not serve"
                    );
                    assert_eq!(
                        a["prometheus.io/port"].as_str().unwrap_or(""),
                        l.http.to_string(),
                        "{where_}: prometheus.io/port"
                    );
                }
            }
            checked.insert(image.to_owned());
        }
    }
    assert_eq!(
        checked,
        BTreeSet::from(["vigil-agent".into(), "vigil-aggregator".into()])
    );
}

/// The ENTRYPOINT of a Dockerfile, in exec form.
fn entrypoint(dockerfile: &str) -> Vec<String> {
    let text = read(dockerfile);
    let line = text
        .lines()
        .rfind(|l| l.starts_with("ENTRYPOINT "))
        .unwrap_or_else(|| panic!("{dockerfile}: no ENTRYPOINT"));
    serde_json::from_str(&line["ENTRYPOINT ".len()..])
        .unwrap_or_else(|e| panic!("{dockerfile}: ENTRYPOINT not exec form: {e}"))
}

/// Workspace packages with their binaries, and the profiles Cargo.toml defines.
fn workspace() -> (BTreeMap<String, Vec<String>>, BTreeSet<String>) {
    let (mut packages, mut profiles) = (
        BTreeMap::new(),
        BTreeSet::from(["dev".into(), "release".into()]),
    );
    let root_toml = read("Cargo.toml");
    for line in root_toml.lines() {
        if let Some(p) = line
            .strip_prefix("[profile.")
            .and_then(|p| p.strip_suffix(']'))
            .filter(|p| !p.contains('.'))
        {
            profiles.insert(p.to_owned());
        }
    }
    let members = root_toml
        .split("members = [")
        .nth(1)
        .and_then(|m| m.split(']').next())
        .expect("workspace members");
    for member in members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
    {
        let (mut section, mut name, mut bins) = (String::new(), String::new(), Vec::new());
        for line in read(&format!("{member}/Cargo.toml")).lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_owned();
            } else if let Some(v) = line.strip_prefix("name = ") {
                let v = v.trim_matches('"').to_owned();
                match section.as_str() {
                    "[package]" => name = v,
                    "[[bin]]" => bins.push(v),
                    _ => {}
                }
            }
        }
        if bins.is_empty() && root().join(member).join("src/main.rs").exists() {
            bins.push(name.clone());
        }
        packages.insert(name, bins);
    }
    (packages, profiles)
}

#[test]
fn dockerfiles_build_and_copy_binaries_that_exist() {
    let (packages, profiles) = workspace();
    for image in ["agent", "aggregator"] {
        let file = format!("deploy/docker/Dockerfile.{image}");
        let text = read(&file).replace("\\\n", " ");
        let workdir = text
            .lines()
            .find_map(|l| l.strip_prefix("WORKDIR "))
            .expect("builder WORKDIR");
        let mut built = BTreeSet::new();
        for cmd in text
            .lines()
            .filter(|l| l.starts_with("RUN "))
            .flat_map(|l| l.split("&&"))
        {
            let Some(args) = cmd
                .trim()
                .split_once("cargo build")
                .map(|(_, a)| a.split_whitespace().collect::<Vec<_>>())
            else {
                continue;
            };
            let after = |flag: &str| -> Vec<String> {
                args.windows(2)
                    .filter(|w| w[0] == flag)
                    .map(|w| w[1].to_owned())
                    .collect()
            };
            let profile = after("--profile").pop().unwrap_or(
                if args.contains(&"--release") {
                    "release"
                } else {
                    "dev"
                }
                .into(),
            );
            assert!(
                profiles.contains(&profile),
                "{file}: `{cmd}`: no profile {profile} in Cargo.toml"
            );
            let dir = if profile == "dev" {
                "debug".to_owned()
            } else {
                profile
            };
            let pkgs: Vec<String> = after("-p");
            assert!(!pkgs.is_empty(), "{file}: `{cmd}` names no package (-p)");
            for p in &pkgs {
                let bins = packages
                    .get(p)
                    .unwrap_or_else(|| panic!("{file}: `{cmd}`: no workspace package {p}"));
                let wanted: Vec<String> = after("--bin");
                for b in &wanted {
                    assert!(
                        bins.contains(b),
                        "{file}: `{cmd}`: package {p} has no binary {b}; it has {bins:?}"
                    );
                }
                let chosen = if wanted.is_empty() {
                    bins.clone()
                } else {
                    wanted
                };
                built.extend(
                    chosen
                        .into_iter()
                        .map(|b| format!("{workdir}/target/{dir}/{b}")),
                );
            }
        }
        let copied: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("COPY --from=builder "))
            .map(|l| l.split_once(' ').expect("COPY SRC DEST"))
            .collect();
        assert!(
            !copied.is_empty(),
            "{file}: copies nothing from the builder"
        );
        for (src, _) in &copied {
            assert!(
                built.contains(*src),
                "{file}: copies {src}, not a path the cargo build writes; built: {built:?}"
            );
        }
        let entry = entrypoint(&file);
        assert!(
            copied.iter().any(|(_, dest)| *dest == entry[0]),
            "{file}: ENTRYPOINT {} is not a copied binary",
            entry[0]
        );
        assert!(
            text.lines().any(|l| l.starts_with("USER ")
                && l[5..]
                    .split(':')
                    .all(|u| u.trim().parse::<u32>().is_ok_and(|n| n > 0))),
            "{file}: USER must be a numeric non-root uid"
        );
    }
}
