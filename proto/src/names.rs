//! Short, stable names for the contract's enums (`dns_servfail`, `platform_hub`,
//! `unhealthy`) used in configs, JSON and the CLI, and the one documented
//! error-class taxonomy. Must stay in step with `common.proto`.

use crate::v1::{ErrorClass, HealthState, Layer, Outcome, ProbeKind, Side};

/// One entry of the error-class taxonomy: the wire value, its short name and
/// what it means in a hub-spoke deployment.
struct ClassDoc {
    class: ErrorClass,
    name: &'static str,
    doc: &'static str,
}

const TAXONOMY: &[ClassDoc] = &[
    ClassDoc {
        class: ErrorClass::Unspecified,
        name: "none",
        doc: "No error: the probe succeeded.",
    },
    ClassDoc {
        class: ErrorClass::Timeout,
        name: "timeout",
        doc: "No answer within the probe timeout. Across a firewall this is the signature of a silent drop (network-rule deny) or a route blackholed on the path (a blackhole route on this host is `network_unreachable`); to a destination inside the spoke it usually means the host or process hangs.",
    },
    ClassDoc {
        class: ErrorClass::ConnectionRefused,
        name: "refused",
        doc: "The destination answered with a TCP RST to the SYN: the host is reachable but nothing listens. Points at the destination (workload process down), not at the path.",
    },
    ClassDoc {
        class: ErrorClass::ConnectionReset,
        name: "reset",
        doc: "An established connection was reset. From a firewall or proxy this marks an active reject; otherwise a crashing peer.",
    },
    ClassDoc {
        class: ErrorClass::NetworkUnreachable,
        name: "network_unreachable",
        doc: "This host's own routing table refuses the destination — no route, or a `blackhole`, `unreachable` or `prohibit` route (the agent asks the route again to be sure): a missing or wrong route (UDR) in the agent's own network.",
    },
    ClassDoc {
        class: ErrorClass::HostUnreachable,
        name: "host_unreachable",
        doc: "An ICMP host- or network-unreachable came back while this host's own route is fine: a router on the path (hub firewall, peering) could not deliver.",
    },
    ClassDoc {
        class: ErrorClass::PacketLoss,
        name: "packet_loss",
        doc: "Part of a burst of probes was lost: a gray failure on the path (firewall under load, SNAT exhaustion).",
    },
    ClassDoc {
        class: ErrorClass::DnsNxdomain,
        name: "dns_nxdomain",
        doc: "The resolver says the name does not exist: a private endpoint record missing from its private zone, or a forwarding rule sending the query to the wrong zone.",
    },
    ClassDoc {
        class: ErrorClass::DnsServfail,
        name: "dns_servfail",
        doc: "The resolver failed to resolve: its upstream (platform resolver, forwarder) is broken or unreachable.",
    },
    ClassDoc {
        class: ErrorClass::DnsRefused,
        name: "dns_refused",
        doc: "The resolver refused the query: the spoke is not allowed to use it (ACL) or it is misconfigured.",
    },
    ClassDoc {
        class: ErrorClass::DnsTimeout,
        name: "dns_timeout",
        doc: "The resolver did not answer: hub DNS down, or the spoke cannot reach the hub.",
    },
    ClassDoc {
        class: ErrorClass::DnsNoAnswer,
        name: "dns_no_answer",
        doc: "The name exists but has no record of the asked type.",
    },
    ClassDoc {
        class: ErrorClass::DnsPublicAnswer,
        name: "dns_public_answer",
        doc: "A name that must resolve privately resolved to a public address: the private DNS zone is not linked to the hub, or the private endpoint's record is gone.",
    },
    ClassDoc {
        class: ErrorClass::DnsUnexpectedAnswer,
        name: "dns_unexpected_answer",
        doc: "The answer is private but not one of the expected addresses: a stale or wrong record.",
    },
    ClassDoc {
        class: ErrorClass::DnsCnameMismatch,
        name: "dns_cname_mismatch",
        doc: "The CNAME chain does not pass through the expected name (e.g. *.privatelink.*).",
    },
    ClassDoc {
        class: ErrorClass::DnsOther,
        name: "dns_other",
        doc: "Any other DNS failure (malformed response, unsupported rcode).",
    },
    ClassDoc {
        class: ErrorClass::TlsHandshake,
        name: "tls_handshake",
        doc: "The TLS handshake failed for a reason not listed below (protocol or cipher mismatch).",
    },
    ClassDoc {
        class: ErrorClass::TlsResetAfterHello,
        name: "tls_reset_after_hello",
        doc: "The connection was reset right after the ClientHello: the signature of a firewall application rule denying the SNI.",
    },
    ClassDoc {
        class: ErrorClass::TlsExpired,
        name: "tls_expired",
        doc: "The server certificate has expired.",
    },
    ClassDoc {
        class: ErrorClass::TlsNotYetValid,
        name: "tls_not_yet_valid",
        doc: "The server certificate is not valid yet (clock skew or early rollout).",
    },
    ClassDoc {
        class: ErrorClass::TlsUntrusted,
        name: "tls_untrusted",
        doc: "The chain does not lead to a configured root: wrong certificate, or TLS inspection by an unexpected proxy.",
    },
    ClassDoc {
        class: ErrorClass::TlsNameMismatch,
        name: "tls_name_mismatch",
        doc: "The certificate does not cover the name asked for: wrong endpoint behind the name, or a DNS answer pointing elsewhere.",
    },
    ClassDoc {
        class: ErrorClass::TlsExpiring,
        name: "tls_expiring",
        doc: "The certificate expires soon: a warning within `warn_days`, a failure within `critical_days`.",
    },
    ClassDoc {
        class: ErrorClass::HttpStatus,
        name: "http_status",
        doc: "The HTTP status was not the expected one (5xx from the workload, 4xx from a misrouted request).",
    },
    ClassDoc {
        class: ErrorClass::HttpBodyMismatch,
        name: "http_body_mismatch",
        doc: "The response body did not match the expected pattern.",
    },
    ClassDoc {
        class: ErrorClass::HttpProtocol,
        name: "http_protocol",
        doc: "The peer did not speak valid HTTP.",
    },
    ClassDoc {
        class: ErrorClass::HttpDeniedByProxy,
        name: "http_denied_by_proxy",
        doc: "A firewall or proxy answered in place of the destination with a deny (e.g. status 470, 'Action: Deny').",
    },
    ClassDoc {
        class: ErrorClass::Slow,
        name: "slow",
        doc: "The probe succeeded but took longer than its latency threshold.",
    },
    ClassDoc {
        class: ErrorClass::PolicyDrift,
        name: "policy_drift",
        doc: "A destination that the firewall must block was reachable: a security fault on the platform side even though nothing is down.",
    },
    ClassDoc {
        class: ErrorClass::EgressIpMismatch,
        name: "egress_ip_mismatch",
        doc: "Traffic left with a public IP that is not one of the hub firewall's egress IPs: forced tunnelling is not in effect (wrong route in the spoke).",
    },
    ClassDoc {
        class: ErrorClass::GrpcNotServing,
        name: "grpc_not_serving",
        doc: "The gRPC health service answered NOT_SERVING or SERVICE_UNKNOWN.",
    },
    ClassDoc {
        class: ErrorClass::GrpcError,
        name: "grpc_error",
        doc: "The gRPC health call failed with a status other than a transport failure.",
    },
    ClassDoc {
        class: ErrorClass::ProbeInternal,
        name: "probe_internal",
        doc: "The probe could not run on the agent (e.g. out of sockets). Says nothing about the target.",
    },
];

/// Short name of an error class (`dns_servfail`).
pub fn error_class_name(class: ErrorClass) -> &'static str {
    TAXONOMY
        .iter()
        .find(|d| d.class == class)
        .map_or("unknown", |d| d.name)
}

/// What an error class means in a hub-spoke deployment.
pub fn error_class_doc(class: ErrorClass) -> &'static str {
    TAXONOMY
        .iter()
        .find(|d| d.class == class)
        .map_or("", |d| d.doc)
}

/// Parses a short error-class name.
pub fn parse_error_class(name: &str) -> Option<ErrorClass> {
    TAXONOMY.iter().find(|d| d.name == name).map(|d| d.class)
}

/// All error classes with their short names and meaning, in taxonomy order.
pub fn error_classes() -> impl Iterator<Item = (ErrorClass, &'static str, &'static str)> {
    TAXONOMY.iter().map(|d| (d.class, d.name, d.doc))
}

/// Lower-case short names for the other enums, derived from prost's names so
/// they cannot drift from the proto.
macro_rules! short_names {
    ($ty:ty, $prefix:literal) => {
        impl crate::ShortName for $ty {
            fn short_name(&self) -> String {
                self.as_str_name()
                    .strip_prefix($prefix)
                    .unwrap_or(self.as_str_name())
                    .to_ascii_lowercase()
            }
            fn from_short_name(name: &str) -> Option<Self> {
                let upper = format!("{}{}", $prefix, name.to_ascii_uppercase());
                Self::from_str_name(&upper).filter(|v| *v as i32 != 0)
            }
        }
    };
}

short_names!(Layer, "LAYER_");
short_names!(Side, "SIDE_");
short_names!(ProbeKind, "PROBE_KIND_");
short_names!(Outcome, "OUTCOME_");
short_names!(HealthState, "HEALTH_STATE_");
short_names!(crate::v1::AgentRole, "AGENT_ROLE_");
short_names!(crate::v1::RollUp, "ROLL_UP_");
short_names!(crate::v1::FaultKind, "FAULT_KIND_");
short_names!(crate::v1::Certainty, "CERTAINTY_");
short_names!(crate::v1::FaultEventKind, "FAULT_EVENT_KIND_");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ShortName;

    #[test]
    fn every_error_class_is_documented_once() {
        let mut seen = std::collections::HashSet::new();
        for v in 0..=100 {
            if let Ok(class) = ErrorClass::try_from(v) {
                let name = error_class_name(class);
                assert_ne!(name, "unknown", "{class:?} has no taxonomy entry");
                assert!(!error_class_doc(class).is_empty());
                assert!(seen.insert(name), "duplicate name {name}");
                assert_eq!(parse_error_class(name), Some(class));
            }
        }
        assert_eq!(seen.len(), TAXONOMY.len());
    }

    #[test]
    fn short_names_round_trip() {
        assert_eq!(Layer::PlatformHub.short_name(), "platform_hub");
        assert_eq!(
            Layer::from_short_name("workload_data"),
            Some(Layer::WorkloadData)
        );
        assert_eq!(Layer::from_short_name("unspecified"), None);
        assert_eq!(HealthState::Unhealthy.short_name(), "unhealthy");
        assert_eq!(ProbeKind::from_short_name("dns"), Some(ProbeKind::Dns));
    }
}

#[cfg(test)]
mod doc_tests {
    use super::*;

    /// docs/taxonomy.md is the one place people read the taxonomy: it must
    /// list every class with the same meaning as the code.
    #[test]
    fn taxonomy_doc_matches_the_code() {
        let doc = include_str!("../../docs/taxonomy.md");
        for (_, name, meaning) in error_classes() {
            let row = format!("| `{name}` | {meaning} |");
            assert!(
                doc.contains(&row),
                "docs/taxonomy.md is missing or differs for `{name}`"
            );
        }
    }
}
