//! The simulated estate: a hub, N spokes with agents, M workloads, the probes
//! every agent runs, and the health model that goes with them.
//!
//! Owns names and the probe plan only; what a probe observes under a fault is
//! `faults.rs`, and driving time is `mod.rs`.

use std::fmt::Write as _;

use vigil_proto::v1::{Layer, ProbeKind};

/// Size of the simulated estate.
#[derive(Clone, Debug)]
pub struct Shape {
    pub spokes: usize,
    pub workloads: usize,
    pub agents_per_spoke: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            spokes: 3,
            workloads: 2,
            agents_per_spoke: 2,
        }
    }
}

/// What a probe checks, so faults can decide its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// DNS for a private-endpoint record (`kv`, `db`).
    Dns {
        record: &'static str,
    },
    HubService,
    /// An `expect: allow` egress probe to destination `dest`.
    EgressAllow {
        dest: usize,
    },
    /// The egress-IP check through the hub firewall.
    EgressIp,
    /// An `expect: deny` probe that must stay blocked.
    EgressDeny,
    /// HTTP to workload `w`'s endpoint.
    WorkloadHttp {
        w: usize,
    },
    /// TLS of workload `w`'s endpoint.
    WorkloadTls {
        w: usize,
    },
    /// Workload `w`'s own data store.
    WorkloadDb {
        w: usize,
    },
    /// A listener inside spoke `spoke`, probed from outside it.
    Sentinel {
        spoke: usize,
    },
}

#[derive(Clone, Debug)]
pub struct ProbePlan {
    pub id: String,
    pub kind: ProbeKind,
    pub component: String,
    pub layer: Layer,
    pub target: String,
    pub target_network: Option<String>,
    pub check: Check,
}

#[derive(Clone, Debug)]
pub struct AgentPlan {
    pub id: String,
    pub network: String,
    pub probes: Vec<ProbePlan>,
}

pub fn spoke(i: usize) -> String {
    format!("spoke-{}", (b'a' + (i % 26) as u8) as char)
}

pub fn workload(w: usize) -> String {
    const NAMES: [&str; 6] = [
        "checkout", "payments", "catalog", "orders", "search", "profile",
    ];
    match NAMES.get(w) {
        Some(n) => format!("{n}-api"),
        None => format!("app{w}-api"),
    }
}

pub fn workload_db(w: usize) -> String {
    format!("{}-db", workload(w).trim_end_matches("-api"))
}

/// Workload `w` lives in spoke `w % spokes`.
pub fn home(shape: &Shape, w: usize) -> String {
    spoke(w % shape.spokes)
}

fn probe(
    id: &str,
    kind: ProbeKind,
    component: &str,
    layer: Layer,
    target: &str,
    check: Check,
) -> ProbePlan {
    ProbePlan {
        id: id.into(),
        kind,
        component: component.into(),
        layer,
        target: target.into(),
        target_network: None,
        check,
    }
}

fn workload_probes(shape: &Shape) -> Vec<ProbePlan> {
    let mut out = Vec::new();
    for w in 0..shape.workloads {
        let name = workload(w);
        let home = home(shape, w);
        let into = |mut p: ProbePlan| {
            p.target_network = Some(home.clone());
            p
        };
        out.push(into(probe(
            &format!("{name}-http"),
            ProbeKind::Http,
            &name,
            Layer::WorkloadApplication,
            &format!("https://{name}.{home}.internal/health"),
            Check::WorkloadHttp { w },
        )));
        out.push(into(probe(
            &format!("{name}-tls"),
            ProbeKind::Tls,
            &name,
            Layer::WorkloadApplication,
            &format!("{name}.{home}.internal:443"),
            Check::WorkloadTls { w },
        )));
        out.push(into(probe(
            &format!("{}-tcp", workload_db(w)),
            ProbeKind::Tcp,
            &workload_db(w),
            Layer::WorkloadData,
            &format!("{}.{home}.internal:5432", workload_db(w)),
            Check::WorkloadDb { w },
        )));
    }
    out
}

/// Probes into every other spoke (a sentinel listener beside its agents),
/// so a spoke cut off from the hub shows as failing from outside, not only as
/// silence.
fn sentinel_probes(shape: &Shape, own: Option<usize>) -> Vec<ProbePlan> {
    (0..shape.spokes)
        .filter(|&t| Some(t) != own)
        .map(|t| {
            let mut p = probe(
                &format!("{}-sentinel", spoke(t)),
                ProbeKind::Tcp,
                &format!("{}-sentinel", spoke(t)),
                Layer::PlatformSpokeConnectivity,
                &format!("sentinel.{}.internal:7000", spoke(t)),
                Check::Sentinel { spoke: t },
            );
            p.target_network = Some(spoke(t));
            p
        })
        .collect()
}

/// Every agent with its probes: spoke agents probe the hub's services, egress
/// through the firewall and every workload; the hub agent probes its own
/// services and into every spoke.
pub fn agents(shape: &Shape) -> Vec<AgentPlan> {
    let mut out = Vec::new();
    let hub_probes = || {
        vec![
            probe(
                "kv-dns",
                ProbeKind::Dns,
                "hub-dns",
                Layer::PlatformHub,
                "kv.privatelink.vaultcore.azure.net",
                Check::Dns { record: "kv" },
            ),
            probe(
                "db-dns",
                ProbeKind::Dns,
                "hub-dns",
                Layer::PlatformHub,
                "db.privatelink.postgres.database.azure.com",
                Check::Dns { record: "db" },
            ),
            probe(
                "hub-service",
                ProbeKind::Tcp,
                "hub-service",
                Layer::PlatformHub,
                "10.10.0.20:443",
                Check::HubService,
            ),
        ]
    };
    for s in 0..shape.spokes {
        for a in 0..shape.agents_per_spoke {
            let mut probes = hub_probes();
            for dest in 0..2 {
                probes.push(probe(
                    &format!("egress-allow-{dest}"),
                    ProbeKind::Firewall,
                    "hub-firewall",
                    Layer::PlatformHub,
                    &format!("203.0.113.{}:443", 10 + dest),
                    Check::EgressAllow { dest },
                ));
            }
            probes.push(probe(
                "egress-ip",
                ProbeKind::Egress,
                "hub-firewall",
                Layer::PlatformHub,
                "http://203.0.113.80/ip",
                Check::EgressIp,
            ));
            probes.push(probe(
                "egress-deny",
                ProbeKind::Firewall,
                "hub-firewall",
                Layer::PlatformHub,
                "203.0.113.66:80",
                Check::EgressDeny,
            ));
            probes.extend(workload_probes(shape));
            probes.extend(sentinel_probes(shape, Some(s)));
            out.push(AgentPlan {
                id: format!("{}-agent-{a}", spoke(s)),
                network: spoke(s),
                probes,
            });
        }
    }
    let mut hub = hub_probes();
    hub.extend(workload_probes(shape));
    hub.extend(sentinel_probes(shape, None));
    out.push(AgentPlan {
        id: "hub-agent-0".into(),
        network: "hub".into(),
        probes: hub,
    });
    out
}

/// The health model for the estate, as YAML (parsed by the real loader).
pub fn model_yaml(shape: &Shape) -> String {
    let mut y = String::from("nodes:\n");
    let spokes: Vec<String> = (0..shape.spokes).map(spoke).collect();
    let conn: Vec<String> = spokes.iter().map(|s| format!("{s}-connectivity")).collect();
    let apps: Vec<String> = (0..shape.workloads).map(workload).collect();
    let dbs: Vec<String> = (0..shape.workloads).map(workload_db).collect();
    let _ = writeln!(
        y,
        "  - {{ id: estate, name: Simulated estate, children: [platform, workload] }}"
    );
    let _ = writeln!(
        y,
        "  - {{ id: platform, layer: platform_hub, children: [hub, connectivity] }}"
    );
    let _ = writeln!(
        y,
        "  - {{ id: hub, layer: platform_hub, children: [hub-dns, hub-service, hub-firewall] }}"
    );
    for c in ["hub-dns", "hub-service", "hub-firewall"] {
        let _ = writeln!(
            y,
            "  - {{ id: {c}, layer: platform_hub, select: {{ component: {c} }} }}"
        );
    }
    let _ = writeln!(
        y,
        "  - {{ id: connectivity, layer: platform_spoke_connectivity, children: [{}] }}",
        conn.join(", ")
    );
    for s in &spokes {
        let _ = writeln!(
            y,
            "  - {{ id: {s}-connectivity, layer: platform_spoke_connectivity, children: [{s}-to-hub, {s}-from-outside] }}"
        );
        let _ = writeln!(
            y,
            "  - {{ id: {s}-to-hub, layer: platform_spoke_connectivity, select: {{ network: {s}, component: hub-service }} }}"
        );
        let _ = writeln!(
            y,
            "  - {{ id: {s}-from-outside, layer: platform_spoke_connectivity, select: {{ component: {s}-sentinel }} }}"
        );
    }
    let mut wl_children: Vec<String> = apps.clone();
    wl_children.extend(dbs.iter().cloned());
    let _ = writeln!(
        y,
        "  - {{ id: workload, layer: workload_application, children: [{}] }}",
        wl_children.join(", ")
    );
    for (w, app) in apps.iter().enumerate() {
        let _ = writeln!(
            y,
            "  - {{ id: {app}, layer: workload_application, depends_on: [hub-dns, {}], select: {{ component: {app} }} }}",
            dbs[w]
        );
    }
    for db in &dbs {
        let _ = writeln!(
            y,
            "  - {{ id: {db}, layer: workload_data, depends_on: [hub-dns], select: {{ component: {db} }} }}"
        );
    }
    y
}
