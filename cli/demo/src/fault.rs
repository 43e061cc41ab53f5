//! The faults the demo can inject, as a closed set of values parsed from the
//! keys people type (`dns-down`, `workload-5xx:spoke-a`).
//!
//! Owns the fault keys, their parsing and their one-line descriptions. It must
//! not apply a fault: the topology does that to real servers and agents.

use std::fmt;
use std::str::FromStr;

use super::network::{PRIVATE_ENDPOINT_NAME, Spoke};

/// One injectable fault. Each has a matching restore that undoes exactly it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DemoFault {
    /// The hub DNS resolver stops answering (queries time out).
    DnsDown,
    /// The private endpoint's record in the private zone answers its public
    /// address, as when the zone is not linked or the record was replaced.
    DnsPublic,
    /// The private endpoint's record is deleted (NXDOMAIN).
    DnsDeleted,
    /// The hub shared service refuses connections.
    HubServiceDown,
    /// The spoke's checkout API answers 503.
    Workload5xx(Spoke),
    /// The spoke's checkout API answers slowly.
    WorkloadSlow(Spoke),
    /// The spoke's checkout API process is gone (connections refused).
    WorkloadDown(Spoke),
    /// Egress through the hub firewall to the internet fails.
    EgressDown,
    /// The spoke's agent stops: an observability gap, blamed on no side.
    AgentSilent(Spoke),
    /// The orders gRPC service answers NOT_SERVING to health checks.
    GrpcNotServing,
}

impl DemoFault {
    /// Every fault, one per spoke where it takes one, in the order listed.
    pub fn all() -> Vec<DemoFault> {
        let mut all = vec![
            DemoFault::DnsDown,
            DemoFault::DnsPublic,
            DemoFault::DnsDeleted,
            DemoFault::HubServiceDown,
        ];
        for make in [
            DemoFault::Workload5xx,
            DemoFault::WorkloadSlow,
            DemoFault::WorkloadDown,
        ] {
            all.extend(Spoke::ALL.map(make));
        }
        all.push(DemoFault::EgressDown);
        all.extend(Spoke::ALL.map(DemoFault::AgentSilent));
        all.push(DemoFault::GrpcNotServing);
        all
    }

    /// What the fault does and which side Vigil should blame.
    pub fn description(self) -> String {
        match self {
            DemoFault::DnsDown => "hub DNS resolver stops answering (platform: hub-dns)".to_owned(),
            DemoFault::DnsPublic => format!(
                "{} resolves to its public address (platform: private-dns-zone)",
                PRIVATE_ENDPOINT_NAME
            ),
            DemoFault::DnsDeleted => format!(
                "{} is deleted from the private zone (platform: private-dns-zone)",
                PRIVATE_ENDPOINT_NAME
            ),
            DemoFault::HubServiceDown => {
                "hub shared service refuses connections (platform: hub-service)".to_owned()
            }
            DemoFault::Workload5xx(s) => {
                format!("checkout API in {s} answers 503 (workload: checkout-{s})")
            }
            DemoFault::WorkloadSlow(s) => {
                format!("checkout API in {s} answers slowly (workload: checkout-{s})")
            }
            DemoFault::WorkloadDown(s) => {
                format!("checkout API in {s} is down (workload: checkout-{s})")
            }
            DemoFault::EgressDown => {
                "egress through the hub firewall fails (platform: hub-firewall)".to_owned()
            }
            DemoFault::AgentSilent(s) => {
                format!("the {s} agent stops (observability gap, no side blamed)")
            }
            DemoFault::GrpcNotServing => {
                "orders gRPC service reports NOT_SERVING (workload: orders-grpc)".to_owned()
            }
        }
    }
}

impl fmt::Display for DemoFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoFault::DnsDown => f.write_str("dns-down"),
            DemoFault::DnsPublic => f.write_str("dns-public"),
            DemoFault::DnsDeleted => f.write_str("dns-deleted"),
            DemoFault::HubServiceDown => f.write_str("hub-service-down"),
            DemoFault::Workload5xx(s) => write!(f, "workload-5xx:{s}"),
            DemoFault::WorkloadSlow(s) => write!(f, "workload-slow:{s}"),
            DemoFault::WorkloadDown(s) => write!(f, "workload-down:{s}"),
            DemoFault::EgressDown => f.write_str("egress-down"),
            DemoFault::AgentSilent(s) => write!(f, "agent-silent:{s}"),
            DemoFault::GrpcNotServing => f.write_str("grpc-not-serving"),
        }
    }
}

/// Why a fault key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultKeyError {
    #[error("unknown fault \"{0}\"; run `vigil inject --list` for the faults the demo knows")]
    Unknown(String),
    #[error("fault \"{0}\" needs a spoke; write {0}:spoke-a or {0}:spoke-b")]
    MissingSpoke(String),
    #[error("fault \"{key}\": \"{spoke}\" is not a spoke of the demo; use spoke-a or spoke-b")]
    UnknownSpoke { key: String, spoke: String },
    #[error("fault \"{0}\" takes no spoke; write it without \":...\"")]
    UnexpectedSpoke(String),
}

impl FromStr for DemoFault {
    type Err = FaultKeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let key = text.trim().to_ascii_lowercase();
        let (name, spoke) = match key.split_once(':') {
            Some((name, spoke)) => (name, Some(spoke)),
            None => (key.as_str(), None),
        };
        let per_spoke: Option<fn(Spoke) -> DemoFault> = match name {
            "workload-5xx" => Some(DemoFault::Workload5xx),
            "workload-slow" => Some(DemoFault::WorkloadSlow),
            "workload-down" => Some(DemoFault::WorkloadDown),
            "agent-silent" => Some(DemoFault::AgentSilent),
            _ => None,
        };
        if let Some(make) = per_spoke {
            let spoke = match spoke {
                None | Some("") => return Err(FaultKeyError::MissingSpoke(name.to_owned())),
                Some("spoke-a") => Spoke::A,
                Some("spoke-b") => Spoke::B,
                Some(other) => {
                    return Err(FaultKeyError::UnknownSpoke {
                        key: name.to_owned(),
                        spoke: other.to_owned(),
                    });
                }
            };
            return Ok(make(spoke));
        }
        let fault = match name {
            "dns-down" => DemoFault::DnsDown,
            "dns-public" => DemoFault::DnsPublic,
            "dns-deleted" => DemoFault::DnsDeleted,
            "hub-service-down" => DemoFault::HubServiceDown,
            "egress-down" => DemoFault::EgressDown,
            "grpc-not-serving" => DemoFault::GrpcNotServing,
            _ => return Err(FaultKeyError::Unknown(text.trim().to_owned())),
        };
        if spoke.is_some() {
            return Err(FaultKeyError::UnexpectedSpoke(name.to_owned()));
        }
        Ok(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips() {
        let all = DemoFault::all();
        assert_eq!(all.len(), 14);
        for fault in all {
            let key = fault.to_string();
            assert_eq!(key.parse::<DemoFault>(), Ok(fault), "{key}");
            assert!(!fault.description().is_empty());
        }
    }

    #[test]
    fn keys_are_forgiving_about_case_and_space() {
        assert_eq!(
            " Workload-5XX:Spoke-A ".parse::<DemoFault>(),
            Ok(DemoFault::Workload5xx(Spoke::A))
        );
    }

    #[test]
    fn bad_keys_say_what_to_write() {
        let err = "bogus".parse::<DemoFault>().unwrap_err().to_string();
        assert!(err.contains("vigil inject --list"), "{err}");
        let err = "workload-5xx".parse::<DemoFault>().unwrap_err().to_string();
        assert!(err.contains("workload-5xx:spoke-a"), "{err}");
        let err = "workload-5xx:spoke-z"
            .parse::<DemoFault>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("spoke-z") && err.contains("spoke-b"), "{err}");
        let err = "dns-down:spoke-a".parse::<DemoFault>().unwrap_err();
        assert_eq!(err, FaultKeyError::UnexpectedSpoke("dns-down".into()));
    }
}
