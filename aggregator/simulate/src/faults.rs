//! The labelled faults the simulator can inject, what each probe observes
//! under them, and the answer attribution is expected to give.
//!
//! Owns the ground truth. It must not look at attribution's output.

use rand::Rng;
use rand::rngs::StdRng;
use vigil_proto::v1::ErrorClass;

use super::world::{Check, ProbePlan, Shape, spoke, workload, workload_db};

/// One injectable fault.
#[derive(Clone, Debug, PartialEq)]
pub enum SimFault {
    HubDnsDown,
    /// The private zone is not linked: privatelink names answer publicly.
    ZoneUnlinked,
    RecordMissing,
    FirewallRuleMissing,
    FirewallDrift,
    FirewallDown,
    /// Gray failure: the hub's forwarding path (its firewall) drops this
    /// share of everything it forwards, spoke to spoke and spoke to internet.
    FirewallLoss(f64),
    /// The firewall SNATs egress to the wrong address: every spoke's
    /// egress-IP probe sees it.
    SnatWrong,
    PeeringDown {
        spoke: usize,
    },
    RouteWrong {
        spoke: usize,
    },
    /// The spoke's default route is blackholed: nothing leaves it (its
    /// agents see network unreachable and cannot reach the aggregator),
    /// and nothing gets in (the replies are lost).
    RouteBlackhole {
        spoke: usize,
    },
    /// The hub has no route to the spoke: it answers "network unreachable"
    /// to whoever probes into the spoke, and the spoke's own traffic gets no
    /// replies.
    HubUnreachable {
        spoke: usize,
    },
    WorkloadCrash {
        w: usize,
    },
    WorkloadSlow {
        w: usize,
    },
    Workload5xx {
        w: usize,
    },
    WorkloadDbDown {
        w: usize,
    },
    ExpiredCert {
        w: usize,
    },
    AgentSilent {
        agent: usize,
    },
    SpokeAgentsSilent {
        spoke: usize,
    },
}

/// What attribution should say about a fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// A fault on this suspect path (`platform/hub/hub-dns`, ...).
    Suspect(String),
    /// No fault: an observability gap only.
    Gap,
}

impl Expected {
    pub fn side(&self) -> Option<&'static str> {
        match self {
            Expected::Suspect(p) if p.starts_with("platform/") => Some("platform"),
            Expected::Suspect(_) => Some("workload"),
            Expected::Gap => None,
        }
    }
}

impl SimFault {
    /// The scenario type, for the report.
    pub fn name(&self) -> &'static str {
        match self {
            SimFault::HubDnsDown => "hub DNS down",
            SimFault::ZoneUnlinked => "private zone unlinked",
            SimFault::RecordMissing => "record missing",
            SimFault::FirewallRuleMissing => "firewall rule missing",
            SimFault::FirewallDrift => "firewall drift",
            SimFault::FirewallDown => "firewall down",
            SimFault::FirewallLoss(_) => "hub forwarding loss (gray)",
            SimFault::SnatWrong => "wrong SNAT",
            SimFault::RouteBlackhole { .. } => "spoke route blackholed",
            SimFault::HubUnreachable { .. } => "hub has no route to spoke",
            SimFault::PeeringDown { .. } => "peering down",
            SimFault::RouteWrong { .. } => "wrong route",
            SimFault::WorkloadCrash { .. } => "workload crash",
            SimFault::WorkloadSlow { .. } => "workload slow",
            SimFault::Workload5xx { .. } => "workload 5xx",
            SimFault::WorkloadDbDown { .. } => "workload database down",
            SimFault::ExpiredCert { .. } => "expired certificate",
            SimFault::AgentSilent { .. } => "agent silent",
            SimFault::SpokeAgentsSilent { .. } => "spoke agents silent",
        }
    }

    pub fn expected(&self, shape: &Shape) -> Expected {
        let hub = |c: &str| Expected::Suspect(format!("platform/hub/{c}"));
        match self {
            SimFault::HubDnsDown | SimFault::ZoneUnlinked | SimFault::RecordMissing => {
                hub("hub-dns")
            }
            SimFault::FirewallRuleMissing
            | SimFault::FirewallDrift
            | SimFault::FirewallDown
            | SimFault::FirewallLoss(_)
            | SimFault::SnatWrong => hub("hub-firewall"),
            SimFault::PeeringDown { spoke: s }
            | SimFault::RouteWrong { spoke: s }
            | SimFault::RouteBlackhole { spoke: s }
            | SimFault::HubUnreachable { spoke: s } => Expected::Suspect(format!(
                "platform/{}/connectivity",
                spoke(*s % shape.spokes)
            )),
            SimFault::WorkloadCrash { w }
            | SimFault::WorkloadSlow { w }
            | SimFault::Workload5xx { w }
            | SimFault::ExpiredCert { w } => {
                Expected::Suspect(format!("workload/{}", workload(*w % shape.workloads)))
            }
            SimFault::WorkloadDbDown { w } => {
                Expected::Suspect(format!("workload/{}", workload_db(*w % shape.workloads)))
            }
            SimFault::AgentSilent { .. } | SimFault::SpokeAgentsSilent { .. } => Expected::Gap,
        }
    }

    /// Whether the agent cannot reach the aggregator (its stream is cut).
    pub fn cuts_agent(&self, shape: &Shape, agent_ix: usize, network: &str) -> bool {
        match self {
            SimFault::PeeringDown { spoke: s }
            | SimFault::SpokeAgentsSilent { spoke: s }
            | SimFault::RouteBlackhole { spoke: s }
            | SimFault::HubUnreachable { spoke: s } => network == spoke(*s % shape.spokes),
            SimFault::AgentSilent { agent } => *agent == agent_ix,
            _ => false,
        }
    }

    /// Whether a cut agent keeps its buffer and replays it when the fault
    /// ends (a network cut), rather than losing it (a dead agent).
    pub fn replays(&self) -> bool {
        matches!(
            self,
            SimFault::PeeringDown { .. }
                | SimFault::RouteBlackhole { .. }
                | SimFault::HubUnreachable { .. }
        )
    }

    /// What `probe` run from `network` observes: `None` when unaffected.
    pub fn observe(
        &self,
        shape: &Shape,
        network: &str,
        probe: &ProbePlan,
        rng: &mut StdRng,
    ) -> Option<ErrorClass> {
        let in_spoke = |s: usize| network == spoke(s % shape.spokes);
        let wl = |w: usize| w % shape.workloads;
        match (self, &probe.check) {
            (SimFault::HubDnsDown, Check::Dns { .. }) => Some(ErrorClass::DnsTimeout),
            (SimFault::ZoneUnlinked, Check::Dns { .. }) => Some(ErrorClass::DnsPublicAnswer),
            // Workloads resolve their private endpoints through hub DNS.
            (SimFault::ZoneUnlinked, Check::WorkloadHttp { .. }) => Some(ErrorClass::HttpStatus),
            (SimFault::RecordMissing, Check::Dns { record: "kv" }) => Some(ErrorClass::DnsNxdomain),
            (SimFault::FirewallRuleMissing, Check::EgressAllow { dest: 0 }) => {
                Some(ErrorClass::Timeout)
            }
            (SimFault::FirewallDrift, Check::EgressDeny) => Some(ErrorClass::PolicyDrift),
            (SimFault::FirewallDown, Check::EgressAllow { .. } | Check::EgressIp) => {
                Some(ErrorClass::Timeout)
            }
            (SimFault::FirewallLoss(p), check) if forwarded(network, probe) => {
                // A dropped deny probe is still blocked.
                (!matches!(check, Check::EgressDeny) && rng.random_bool(*p))
                    .then_some(ErrorClass::Timeout)
            }
            (SimFault::SnatWrong, Check::EgressIp) if network != "hub" => {
                Some(ErrorClass::EgressIpMismatch)
            }
            (SimFault::RouteBlackhole { spoke: s }, _) => {
                if in_spoke(*s) {
                    leaves(network, probe).then_some(ErrorClass::NetworkUnreachable)
                } else {
                    into(probe, *s, shape).then_some(ErrorClass::Timeout)
                }
            }
            (SimFault::HubUnreachable { spoke: s }, _) => {
                if in_spoke(*s) {
                    leaves(network, probe).then_some(ErrorClass::Timeout)
                } else {
                    into(probe, *s, shape).then_some(ErrorClass::NetworkUnreachable)
                }
            }
            (SimFault::PeeringDown { spoke: s }, _) => {
                let crossing = match &probe.check {
                    Check::WorkloadHttp { .. }
                    | Check::WorkloadTls { .. }
                    | Check::WorkloadDb { .. }
                    | Check::Sentinel { .. } => probe.target_network.as_deref() != Some(network),
                    _ => true,
                };
                let into_cut = probe.target_network.as_deref()
                    == Some(spoke(*s % shape.spokes).as_str())
                    && !in_spoke(*s);
                ((in_spoke(*s) && crossing) || into_cut).then_some(ErrorClass::Timeout)
            }
            (SimFault::RouteWrong { spoke: s }, Check::EgressIp) if in_spoke(*s) => {
                Some(ErrorClass::EgressIpMismatch)
            }
            (
                SimFault::WorkloadCrash { w },
                Check::WorkloadHttp { w: x } | Check::WorkloadTls { w: x },
            ) if wl(*w) == *x => Some(ErrorClass::ConnectionRefused),
            (SimFault::WorkloadSlow { w }, Check::WorkloadHttp { w: x }) if wl(*w) == *x => {
                Some(ErrorClass::Slow)
            }
            (SimFault::Workload5xx { w }, Check::WorkloadHttp { w: x }) if wl(*w) == *x => {
                Some(ErrorClass::HttpStatus)
            }
            (SimFault::WorkloadDbDown { w }, Check::WorkloadDb { w: x }) if wl(*w) == *x => {
                Some(ErrorClass::ConnectionRefused)
            }
            (SimFault::ExpiredCert { w }, Check::WorkloadTls { w: x }) if wl(*w) == *x => {
                Some(ErrorClass::TlsExpired)
            }
            _ => None,
        }
    }
}

/// Whether `probe` run from `network` crosses the hub's forwarding path:
/// from a spoke into another spoke, or out to the internet.
fn forwarded(network: &str, probe: &ProbePlan) -> bool {
    network != "hub"
        && (probe
            .target_network
            .as_deref()
            .is_some_and(|t| t != network && t != "hub")
            || matches!(
                probe.check,
                Check::EgressAllow { .. } | Check::EgressIp | Check::EgressDeny
            ))
}

/// Whether `probe` run from spoke `network` leaves the spoke.
fn leaves(network: &str, probe: &ProbePlan) -> bool {
    match probe.target_network.as_deref() {
        Some(t) => t != network,
        // Hub services and egress: every probe without a home in a spoke.
        None => true,
    }
}

/// Whether `probe` goes into spoke `s` from outside it.
fn into(probe: &ProbePlan, s: usize, shape: &Shape) -> bool {
    probe.target_network.as_deref() == Some(spoke(s % shape.spokes).as_str())
}
