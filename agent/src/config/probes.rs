//! Validation of one `probes[i]` entry: the common fields, then the fields
//! of its kind. Adding a probe kind adds one arm here. It must not read
//! anything but the raw entry and the defaults.

use std::net::{IpAddr, SocketAddr};

use vigil_proto::ShortName;
use vigil_proto::v1;

use super::error::{Complaint, ConfigError};
use super::raw::RawProbe;
use super::validate::{LAYERS, check_jitter, check_name, duration, first_line, opt_duration};
use super::{
    DnsRecordType, DnsSpec, HttpSpec, ProbeConfig, ProbeSpec, Schedule, StatusExpectation, TcpSpec,
};

const KINDS_HERE: &str = "http, tcp or dns";

pub(super) fn build_probe(
    c: &Complaint<'_>,
    i: usize,
    p: RawProbe,
    defaults: Schedule,
) -> Result<ProbeConfig, ConfigError> {
    let at = |field: &str| format!("probes[{i}].{field}");
    let id = match &p.id {
        Some(id) => check_name(c, &at("id"), id)?,
        None => {
            return Err(c.at(
                at("id"),
                "missing",
                "give the probe a unique id, e.g. id: checkout-api",
            ));
        }
    };
    let kind = p
        .kind
        .as_deref()
        .ok_or_else(|| c.at(at("kind"), "missing", format!("set kind to {KINDS_HERE}")))?;
    let component = match &p.component {
        Some(comp) => check_name(c, &at("component"), comp)?,
        None => {
            return Err(c.at(
                at("component"),
                "missing",
                "name the component this probe checks, e.g. component: hub-dns",
            ));
        }
    };
    let layer = match p.layer.as_deref() {
        Some(text) => v1::Layer::from_short_name(text).ok_or_else(|| {
            c.at(
                at("layer"),
                format!("\"{text}\" is not a layer"),
                format!("use one of {LAYERS}"),
            )
        })?,
        None => {
            return Err(c.at(
                at("layer"),
                "missing",
                format!("set layer to one of {LAYERS}"),
            ));
        }
    };
    let schedule = Schedule {
        interval: opt_duration(c, &at("interval"), p.interval.as_deref(), defaults.interval)?,
        timeout: opt_duration(c, &at("timeout"), p.timeout.as_deref(), defaults.timeout)?,
        jitter: check_jitter(c, &at("jitter"), p.jitter.unwrap_or(defaults.jitter))?,
    };
    if schedule.timeout >= schedule.interval {
        return Err(c.at(
            at("timeout"),
            format!(
                "{} is not shorter than the interval ({})",
                humantime::format_duration(schedule.timeout),
                humantime::format_duration(schedule.interval)
            ),
            "make the timeout shorter than the interval so runs never overlap",
        ));
    }
    let latency_threshold = match p.latency_threshold.as_deref() {
        Some(text) => Some(duration(c, &at("latency_threshold"), text)?),
        None => None,
    };

    let spec = match kind {
        "http" => {
            refuse_fields(
                c,
                i,
                kind,
                &[
                    ("address", p.address.is_some()),
                    ("name", p.name.is_some()),
                    ("record_type", p.record_type.is_some()),
                    ("server", p.server.is_some()),
                ],
            )?;
            ProbeSpec::Http(build_http(c, i, &p)?)
        }
        "tcp" => {
            refuse_fields(
                c,
                i,
                kind,
                &[
                    ("url", p.url.is_some()),
                    ("expect_status", p.expect_status.is_some()),
                    ("body_match", p.body_match.is_some()),
                    ("name", p.name.is_some()),
                    ("record_type", p.record_type.is_some()),
                    ("server", p.server.is_some()),
                ],
            )?;
            let text = p.address.as_deref().ok_or_else(|| {
                c.at(
                    at("address"),
                    "missing",
                    "set the host:port to connect to, e.g. address: 10.0.1.4:443",
                )
            })?;
            let (host, port) = parse_host_port(text).ok_or_else(|| {
                c.at(
                    at("address"),
                    format!("\"{text}\" is not a host:port address"),
                    "write e.g. \"10.0.1.4:443\" or \"db.internal:5432\"",
                )
            })?;
            ProbeSpec::Tcp(TcpSpec { host, port })
        }
        "dns" => {
            refuse_fields(
                c,
                i,
                kind,
                &[
                    ("url", p.url.is_some()),
                    ("expect_status", p.expect_status.is_some()),
                    ("body_match", p.body_match.is_some()),
                    ("address", p.address.is_some()),
                ],
            )?;
            ProbeSpec::Dns(build_dns(c, i, &p)?)
        }
        "tls" | "firewall" | "reachability" | "egress" | "grpc" => {
            return Err(c.at(
                at("kind"),
                format!("\"{kind}\" probes are not supported by this agent version"),
                format!("use {KINDS_HERE}"),
            ));
        }
        other => {
            return Err(c.at(
                at("kind"),
                format!("\"{other}\" is not a probe kind"),
                format!("use {KINDS_HERE}"),
            ));
        }
    };

    Ok(ProbeConfig {
        id,
        component,
        layer,
        labels: p.labels,
        schedule,
        latency_threshold,
        spec,
    })
}

fn build_http(c: &Complaint<'_>, i: usize, p: &RawProbe) -> Result<HttpSpec, ConfigError> {
    let at = |field: &str| format!("probes[{i}].{field}");
    let text = p.url.as_deref().ok_or_else(|| {
        c.at(
            at("url"),
            "missing",
            "set the URL to request, e.g. url: http://checkout:8080/health",
        )
    })?;
    let url = reqwest::Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            c.at(
                at("url"),
                format!("\"{text}\" is not an http(s) URL"),
                "write e.g. \"http://checkout:8080/health\"",
            )
        })?;
    let expect_status = match &p.expect_status {
        None => StatusExpectation::AnySuccess,
        Some(list) if list.is_empty() => {
            return Err(c.at(
                at("expect_status"),
                "is empty",
                "list the accepted statuses, e.g. [200, 204], or remove it to accept any 2xx",
            ));
        }
        Some(list) => {
            if let Some(bad) = list.iter().find(|s| !(100..=599).contains(*s)) {
                return Err(c.at(
                    at("expect_status"),
                    format!("{bad} is not an HTTP status"),
                    "use statuses between 100 and 599",
                ));
            }
            StatusExpectation::OneOf(list.clone())
        }
    };
    let body_match = match p.body_match.as_deref() {
        Some(pattern) => Some(regex::Regex::new(pattern).map_err(|e| {
            c.at(
                at("body_match"),
                format!(
                    "\"{pattern}\" is not a valid regex ({})",
                    first_line(&e.to_string())
                ),
                "escape special characters, e.g. \"status: ok\\\\.\"",
            )
        })?),
        None => None,
    };
    Ok(HttpSpec {
        url,
        expect_status,
        body_match,
    })
}

fn build_dns(c: &Complaint<'_>, i: usize, p: &RawProbe) -> Result<DnsSpec, ConfigError> {
    let at = |field: &str| format!("probes[{i}].{field}");
    let name = p.name.as_deref().unwrap_or_default().trim().to_owned();
    if name.is_empty() || name.contains(char::is_whitespace) || name.len() > 253 {
        return Err(c.at(
            at("name"),
            if name.is_empty() {
                "missing".to_owned()
            } else {
                format!("\"{name}\" is not a DNS name")
            },
            "set the name to resolve, e.g. name: kv.privatelink.vaultcore.azure.net",
        ));
    }
    let record_type = match p.record_type.as_deref() {
        None | Some("A") | Some("a") => DnsRecordType::A,
        Some("AAAA") | Some("aaaa") => DnsRecordType::Aaaa,
        Some(other) => {
            return Err(c.at(
                at("record_type"),
                format!("\"{other}\" is not supported"),
                "use A or AAAA",
            ));
        }
    };
    let server = match p.server.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<SocketAddr>()
                .ok()
                .or_else(|| text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
                .ok_or_else(|| {
                    c.at(at("server"), format!("\"{text}\" is not an IP address or IP:port"), "write e.g. \"10.0.0.4\" or \"10.0.0.4:53\", or remove it to use the system resolver")
                })?,
        ),
    };
    Ok(DnsSpec {
        name,
        record_type,
        server,
    })
}

fn refuse_fields(
    c: &Complaint<'_>,
    i: usize,
    kind: &str,
    present: &[(&str, bool)],
) -> Result<(), ConfigError> {
    match present.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(c.at(
            format!("probes[{i}].{field}"),
            format!("is not used by a {kind} probe"),
            "remove it, or change the probe's kind",
        )),
        None => Ok(()),
    }
}
fn parse_host_port(text: &str) -> Option<(String, u16)> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some((addr.ip().to_string(), addr.port()));
    }
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.' || ch == '_');
    valid.then(|| (host.to_owned(), port))
}
