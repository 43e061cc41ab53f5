//! Validation of one `probes[i]` entry: the common fields, which fields each
//! kind accepts, then the fields of its kind (in `kinds/`). Adding a probe
//! kind adds one arm here and its fields to `FIELD_KINDS`. It must not read
//! anything but the raw entry, the defaults and files the entry names.

use vigil_proto::ShortName;
use vigil_proto::v1;

use super::error::{Complaint, ConfigError};
use super::fields::{check_jitter, check_name, duration, opt_duration};
use super::kinds;
use super::raw::RawProbe;
use super::{ProbeConfig, ProbeSpec, Schedule};

const KINDS_HERE: &str = "http, tcp, dns, tls, firewall, reachability, egress or grpc";
const LAYERS: &str = "platform_hub, platform_spoke_connectivity, workload_application, workload_data or workload_user_flow";

/// Which kinds use each kind-specific field, so a field under the wrong kind
/// is refused by name instead of silently ignored.
const FIELD_KINDS: &[(&str, &[&str])] = &[
    ("url", &["http", "egress"]),
    ("expect_status", &["http"]),
    ("body_match", &["http"]),
    (
        "address",
        &["tcp", "firewall", "reachability", "tls", "grpc"],
    ),
    ("name", &["dns"]),
    ("record_type", &["dns"]),
    ("server", &["dns"]),
    ("expect_addresses", &["dns"]),
    ("must_be_private", &["dns"]),
    ("expect_cname_contains", &["dns"]),
    ("expect", &["firewall"]),
    ("protocol", &["firewall"]),
    ("path", &["firewall"]),
    ("host", &["firewall"]),
    ("sni", &["firewall", "tls"]),
    ("method", &["reachability"]),
    ("count", &["reachability"]),
    ("spacing", &["reachability"]),
    ("loss_threshold", &["reachability"]),
    ("expected_ips", &["egress"]),
    ("ca_file", &["tls"]),
    ("warn_days", &["tls"]),
    ("critical_days", &["tls"]),
    ("service", &["grpc"]),
];

/// The kind-specific fields set in an entry, in `FIELD_KINDS` order.
fn present_fields(p: &RawProbe) -> Vec<&'static str> {
    let set = [
        p.url.is_some(),
        p.expect_status.is_some(),
        p.body_match.is_some(),
        p.address.is_some(),
        p.name.is_some(),
        p.record_type.is_some(),
        p.server.is_some(),
        p.expect_addresses.is_some(),
        p.must_be_private.is_some(),
        p.expect_cname_contains.is_some(),
        p.expect.is_some(),
        p.protocol.is_some(),
        p.path.is_some(),
        p.host.is_some(),
        p.sni.is_some(),
        p.method.is_some(),
        p.count.is_some(),
        p.spacing.is_some(),
        p.loss_threshold.is_some(),
        p.expected_ips.is_some(),
        p.ca_file.is_some(),
        p.warn_days.is_some(),
        p.critical_days.is_some(),
        p.service.is_some(),
    ];
    FIELD_KINDS
        .iter()
        .zip(set)
        .filter_map(|((name, _), set)| set.then_some(*name))
        .collect()
}

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

    let known = [
        "http",
        "tcp",
        "dns",
        "tls",
        "firewall",
        "reachability",
        "egress",
        "grpc",
    ];
    if !known.contains(&kind) {
        return Err(c.at(
            at("kind"),
            format!("\"{kind}\" is not a probe kind"),
            format!("use {KINDS_HERE}"),
        ));
    }
    for field in present_fields(&p) {
        let used_by = FIELD_KINDS
            .iter()
            .find(|(name, _)| *name == field)
            .map_or(&[][..], |(_, kinds)| *kinds);
        if !used_by.contains(&kind) {
            return Err(c.at(
                at(field),
                format!("is not used by a {kind} probe"),
                format!(
                    "remove it, or change the probe's kind ({field} belongs to {})",
                    used_by.join(", ")
                ),
            ));
        }
    }
    let f = kinds::Fields {
        c,
        i,
        p: &p,
        timeout: schedule.timeout,
    };
    let spec = match kind {
        "http" => ProbeSpec::Http(kinds::http(&f)?),
        "tcp" => ProbeSpec::Tcp(kinds::tcp(&f)?),
        "dns" => ProbeSpec::Dns(kinds::dns(&f)?),
        "tls" => ProbeSpec::Tls(kinds::tls(&f)?),
        "firewall" => ProbeSpec::Firewall(kinds::firewall(&f)?),
        "reachability" => ProbeSpec::Reachability(kinds::reachability(&f)?),
        "egress" => ProbeSpec::Egress(kinds::egress(&f)?),
        _ => ProbeSpec::Grpc(kinds::grpc(&f)?),
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
