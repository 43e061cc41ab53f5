//! Turns the raw YAML shape into a typed `AgentConfig`, one field at a time,
//! and applies environment overrides. Owns the agent-wide rules (probe
//! entries are checked in `probes.rs`, the export section in `export.rs`,
//! single fields in `fields.rs`); it must not do I/O beyond reading the host
//! name for the default agent id.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::{Complaint, ConfigError, Location};
use super::export;
use super::fields::{check_jitter, check_name, opt_duration};
use super::probes;
use super::raw::{RawAggregatorTls, RawConfig};
use super::{
    AdminConfig, AgentConfig, AgentIdentity, AgentRole, AggregatorConfig, AggregatorTls,
    DeliveryConfig, Schedule,
};

const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7400";
const DEFAULT_ADMIN: &str = "0.0.0.0:7402";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_JITTER: f64 = 0.1;

pub(super) fn parse(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
    serde_saphyr::from_str::<RawConfig>(text).map_err(|err| ConfigError::Syntax {
        origin: origin.to_owned(),
        location: err.location().map(|l| Location {
            line: l.line(),
            column: l.column(),
        }),
        message: syntax_message(&err),
    })
}

/// The parser's message without its own location prefix or source snippet,
/// which `ConfigError` renders itself.
fn syntax_message(err: &serde_saphyr::Error) -> String {
    let full = err.to_string();
    let first = full.lines().next().unwrap_or_default().trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((_, message)) => message.to_owned(),
        None => first.to_owned(),
    }
}

pub(super) fn apply_env_raw(raw: &mut RawConfig, lookup: &dyn Fn(&str) -> Option<String>) {
    let agent = &mut raw.agent;
    let slots: [(&str, &mut Option<String>); 7] = [
        ("VIGIL_AGENT_ID", &mut agent.id),
        ("VIGIL_NETWORK", &mut agent.network),
        ("VIGIL_CLUSTER", &mut agent.cluster),
        ("VIGIL_ZONE", &mut agent.zone),
        ("VIGIL_REGION", &mut agent.region),
        ("VIGIL_ROLE", &mut agent.role),
        ("VIGIL_AGGREGATOR", &mut raw.aggregator.endpoint),
    ];
    for (key, slot) in slots {
        if let Some(value) = lookup(key) {
            *slot = Some(value);
        }
    }
}

pub(super) fn apply_env_typed(
    config: &mut AgentConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let origin = config.origin.clone();
    let c = Complaint { origin: &origin };
    let mut next = config.agent.clone();
    let mut endpoint = config.aggregator.endpoint.clone();
    if let Some(v) = lookup("VIGIL_AGENT_ID") {
        next.id = check_name(&c, "agent.id (from VIGIL_AGENT_ID)", &v)?;
    }
    if let Some(v) = lookup("VIGIL_NETWORK") {
        next.network = check_name(&c, "agent.network (from VIGIL_NETWORK)", &v)?;
    }
    if let Some(v) = lookup("VIGIL_CLUSTER") {
        next.cluster = v;
    }
    if let Some(v) = lookup("VIGIL_ZONE") {
        next.zone = v;
    }
    if let Some(v) = lookup("VIGIL_REGION") {
        next.region = v;
    }
    if let Some(v) = lookup("VIGIL_ROLE") {
        next.role = parse_role(&c, "agent.role (from VIGIL_ROLE)", &v)?;
    }
    if let Some(v) = lookup("VIGIL_AGGREGATOR") {
        endpoint = parse_endpoint(&c, "aggregator.endpoint (from VIGIL_AGGREGATOR)", &v)?;
    }
    config.agent = next;
    config.aggregator.endpoint = endpoint;
    Ok(())
}

/// `env` is consulted for the OTLP section only; identity overrides are
/// applied to `raw` beforehand.
pub(super) fn build(
    raw: RawConfig,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AgentConfig, ConfigError> {
    let c = Complaint { origin };
    let a = raw.agent;

    let id = match a.id {
        Some(id) => check_name(&c, "agent.id", &id)?,
        None => host_name().ok_or_else(|| {
            c.at(
                "agent.id",
                "missing and the host name could not be read",
                "set agent.id or the VIGIL_AGENT_ID environment variable",
            )
        })?,
    };
    let network = match a.network {
        Some(n) => check_name(&c, "agent.network", &n)?,
        None => {
            return Err(c.at(
                "agent.network",
                "missing",
                "name the network this agent observes from, e.g. network: spoke-a (or set VIGIL_NETWORK)",
            ));
        }
    };
    let role = match a.role {
        Some(r) => parse_role(&c, "agent.role", &r)?,
        None => AgentRole::Standalone,
    };
    let agent = AgentIdentity {
        id,
        network,
        role,
        cluster: a.cluster.unwrap_or_default(),
        zone: a.zone.unwrap_or_default(),
        region: a.region.unwrap_or_default(),
        labels: a.labels,
    };

    let endpoint = parse_endpoint(
        &c,
        "aggregator.endpoint",
        raw.aggregator
            .endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT),
    )?;
    let aggregator = AggregatorConfig {
        tls: aggregator_tls(&c, &endpoint, raw.aggregator.tls)?,
        endpoint,
        connect_timeout: opt_duration(
            &c,
            "aggregator.connect_timeout",
            raw.aggregator.connect_timeout.as_deref(),
            Duration::from_secs(5),
        )?,
    };

    let d = raw.delivery;
    let delivery = DeliveryConfig {
        batch_max_signals: positive_count(
            &c,
            "delivery.batch_max_signals",
            d.batch_max_signals,
            500,
        )?,
        batch_max_delay: opt_duration(
            &c,
            "delivery.batch_max_delay",
            d.batch_max_delay.as_deref(),
            Duration::from_secs(1),
        )?,
        buffer_max_signals: positive_count(
            &c,
            "delivery.buffer_max_signals",
            d.buffer_max_signals,
            100_000,
        )?,
        backoff_initial: opt_duration(
            &c,
            "delivery.backoff_initial",
            d.backoff_initial.as_deref(),
            Duration::from_millis(200),
        )?,
        backoff_max: opt_duration(
            &c,
            "delivery.backoff_max",
            d.backoff_max.as_deref(),
            Duration::from_secs(30),
        )?,
    };
    if delivery.batch_max_signals > delivery.buffer_max_signals {
        return Err(c.at(
            "delivery.batch_max_signals",
            format!(
                "{} is larger than delivery.buffer_max_signals ({})",
                delivery.batch_max_signals, delivery.buffer_max_signals
            ),
            "keep a batch no larger than the buffer that holds it",
        ));
    }
    if delivery.backoff_initial > delivery.backoff_max {
        return Err(c.at(
            "delivery.backoff_initial",
            "is longer than delivery.backoff_max",
            "make backoff_initial at most backoff_max, e.g. 200ms and 30s",
        ));
    }

    let admin = AdminConfig {
        listen: parse_listen(&c, raw.admin.listen.as_deref().unwrap_or(DEFAULT_ADMIN))?,
    };

    let export = export::build(&c, raw.export, env)?;

    let defaults = Schedule {
        interval: opt_duration(
            &c,
            "defaults.interval",
            raw.defaults.interval.as_deref(),
            DEFAULT_INTERVAL,
        )?,
        timeout: opt_duration(
            &c,
            "defaults.timeout",
            raw.defaults.timeout.as_deref(),
            DEFAULT_TIMEOUT,
        )?,
        jitter: check_jitter(
            &c,
            "defaults.jitter",
            raw.defaults.jitter.unwrap_or(DEFAULT_JITTER),
        )?,
    };

    if raw.probes.is_empty() {
        return Err(c.at(
            "probes",
            "no probes are configured",
            "add at least one probe (see deploy/examples/agent-spoke.yaml)",
        ));
    }
    let mut seen = HashSet::new();
    let mut probes = Vec::with_capacity(raw.probes.len());
    for (i, p) in raw.probes.into_iter().enumerate() {
        let probe = probes::build_probe(&c, i, p, defaults)?;
        if !seen.insert(probe.id.clone()) {
            return Err(c.at(
                format!("probes[{i}].id"),
                format!("\"{}\" is used by an earlier probe", probe.id),
                "give every probe a unique id",
            ));
        }
        probes.push(probe);
    }

    Ok(AgentConfig {
        origin: origin.to_owned(),
        agent,
        aggregator,
        delivery,
        admin,
        export,
        probes,
    })
}

fn parse_role(c: &Complaint<'_>, field: &str, text: &str) -> Result<AgentRole, ConfigError> {
    AgentRole::parse(text.trim()).ok_or_else(|| {
        c.at(
            field,
            format!("\"{text}\" is not a role"),
            "use sidecar, daemonset or standalone",
        )
    })
}

/// `aggregator.tls` against the endpoint's scheme: `https://` needs the CA
/// that signs the aggregator; `http://` takes none. The files themselves
/// are read when the agent starts (a config can be checked elsewhere).
fn aggregator_tls(
    c: &Complaint<'_>,
    endpoint: &str,
    raw: Option<RawAggregatorTls>,
) -> Result<Option<AggregatorTls>, ConfigError> {
    let https = endpoint.starts_with("https://");
    let Some(t) = raw else {
        if https {
            return Err(c.at(
                "aggregator.tls",
                format!("is missing while the endpoint {endpoint} is https"),
                "set aggregator.tls.ca (and cert, key: the agent's identity; `vigil certs` makes a development set)",
            ));
        }
        return Ok(None);
    };
    if !https {
        return Err(c.at(
            "aggregator.endpoint",
            format!("{endpoint} is plaintext while aggregator.tls is set"),
            "write the endpoint with https://",
        ));
    }
    let Some(ca) = t.ca else {
        return Err(c.at(
            "aggregator.tls.ca",
            "is missing",
            "give the CA certificate (PEM) that signs the aggregator's certificate, e.g. /etc/vigil/tls/ca.crt",
        ));
    };
    let identity = match (t.cert, t.key) {
        (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(c.at(
                "aggregator.tls.cert",
                "is set without aggregator.tls.key, or the other way round",
                "set both: the agent's certificate (tls.crt) and its key (tls.key)",
            ));
        }
    };
    Ok(Some(AggregatorTls {
        files: vigil_trust::ClientFiles {
            ca: PathBuf::from(ca),
            identity,
        },
        server_name: t.server_name,
    }))
}

fn parse_endpoint(c: &Complaint<'_>, field: &str, text: &str) -> Result<String, ConfigError> {
    let text = text.trim();
    reqwest::Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .map(|_| text.to_owned())
        .ok_or_else(|| {
            c.at(
                field,
                format!("\"{text}\" is not an http(s) URL"),
                "write e.g. \"http://vigil-aggregator.hub:7400\"",
            )
        })
}

fn parse_listen(c: &Complaint<'_>, text: &str) -> Result<Option<SocketAddr>, ConfigError> {
    if text.trim() == "off" {
        return Ok(None);
    }
    text.trim().parse::<SocketAddr>().map(Some).map_err(|_| {
        c.at(
            "admin.listen",
            format!("\"{text}\" is not an IP:port address"),
            "write e.g. \"0.0.0.0:7402\", \"127.0.0.1:0\" for any free port, or \"off\"",
        )
    })
}

fn positive_count(
    c: &Complaint<'_>,
    field: &str,
    value: Option<u64>,
    default: usize,
) -> Result<usize, ConfigError> {
    match value {
        None => Ok(default),
        Some(0) => Err(c.at(field, "is 0", "use a positive number")),
        Some(n) => usize::try_from(n)
            .map_err(|_| c.at(field, format!("{n} is too large"), "use a smaller number")),
    }
}

/// The kernel's host name: the pod name in Kubernetes, a stable default id.
fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
