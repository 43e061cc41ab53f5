//! Reachability probe: a small burst of TCP connects to one target per run,
//! reporting RTT percentiles and loss, so a gray failure on a peering or
//! through the firewall (some connects lost) is told apart from an outage
//! (all lost). `method: icmp` needs unprivileged ICMP sockets; where the host
//! does not allow them the probe says so once when it is built and uses TCP
//! connects to the same address instead. It must not send application data.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::net::TcpStream;
use vigil_proto::v1::{ErrorClass, ReachabilityDetail, signal_detail::Detail};

use super::connect::{self, Failed};
use super::{Observation, Probe, ProbeFuture};
use crate::config::{ReachabilityMethod, ReachabilitySpec};

const PING_GROUP_RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";

pub struct ReachabilityProbe {
    spec: ReachabilitySpec,
    timeout: Duration,
    /// Why ICMP was asked for but TCP is used; `None` when TCP was asked for.
    fallback: Option<String>,
}

impl ReachabilityProbe {
    pub fn new(spec: ReachabilitySpec, timeout: Duration) -> Self {
        let fallback = match spec.method {
            ReachabilityMethod::Tcp => None,
            ReachabilityMethod::Icmp => {
                let reason = match unprivileged_icmp() {
                    Err(reason) => reason,
                    Ok(()) => "ICMP echo is not implemented by this agent version".to_owned(),
                };
                Some(format!(
                    "method icmp for {}: {reason}; measuring with TCP connects to port {} instead",
                    spec.target, spec.target.port
                ))
            }
        };
        if let Some(note) = &fallback {
            tracing::warn!(target = %spec.target, "{note}");
        }
        Self {
            spec,
            timeout,
            fallback,
        }
    }

    /// The method really used and, when it differs from the configured one,
    /// why.
    pub fn method_in_use(&self) -> (ReachabilityMethod, Option<&str>) {
        (ReachabilityMethod::Tcp, self.fallback.as_deref())
    }

    async fn check(&self) -> Observation {
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let addr = match connect::resolve(&self.spec.target, deadline).await {
            Ok(addr) => addr,
            Err(Failed { class, message }) => {
                return Observation::failure(class, start.elapsed(), message);
            }
        };
        let spacing = self.spec.spacing;
        let burst_start = tokio::time::Instant::now();
        let attempts = (0..self.spec.count).map(|i| {
            let at = burst_start + spacing * i;
            async move {
                tokio::time::sleep_until(at).await;
                attempt(addr, deadline).await
            }
        });
        let results = join_all(attempts).await;
        self.summarise(addr, &results)
    }

    fn summarise(&self, addr: SocketAddr, results: &[Result<Duration, ErrorClass>]) -> Observation {
        let mut rtts: Vec<Duration> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        rtts.sort();
        let mut lost: BTreeMap<&'static str, (ErrorClass, u32)> = BTreeMap::new();
        for class in results.iter().filter_map(|r| r.as_ref().err()) {
            let entry = lost.entry(short(*class)).or_insert((*class, 0));
            entry.1 += 1;
        }
        let sent = u32::try_from(results.len()).unwrap_or(u32::MAX);
        let received = u32::try_from(rtts.len()).unwrap_or(u32::MAX);
        let p50 = percentile(&rtts, 0.50);
        let p99 = percentile(&rtts, 0.99);
        let detail = Detail::Reachability(ReachabilityDetail {
            sent,
            received,
            rtt_p50_us: micros(p50),
            rtt_p99_us: micros(p99),
        });
        let how = lost
            .iter()
            .map(|(name, (_, n))| format!("{n} {name}"))
            .collect::<Vec<_>>()
            .join(", ");
        let lost_count = sent - received;
        if received == 0 {
            // All lost: the most frequent way of failing names the outage.
            let class = lost
                .values()
                .max_by_key(|(_, n)| *n)
                .map_or(ErrorClass::Timeout, |(class, _)| *class);
            return Observation::failure(
                class,
                self.timeout,
                format!("all {sent} connects to {addr} failed ({how})"),
            )
            .with_detail(detail);
        }
        let loss = f64::from(lost_count) / f64::from(sent);
        if lost_count > 0 && loss >= self.spec.loss_threshold {
            Observation::failure(
                ErrorClass::PacketLoss,
                p50,
                format!(
                    "lost {lost_count} of {sent} connects to {addr} ({how}); threshold {:.0}%",
                    self.spec.loss_threshold * 100.0
                ),
            )
            .with_detail(detail)
        } else {
            Observation::success(p50).with_detail(detail)
        }
    }
}

impl Probe for ReachabilityProbe {
    fn run(&self) -> ProbeFuture<'_> {
        Box::pin(self.check())
    }
}

async fn attempt(addr: SocketAddr, deadline: tokio::time::Instant) -> Result<Duration, ErrorClass> {
    let start = Instant::now();
    match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => Ok(start.elapsed()),
        Ok(Err(e)) => Err(connect::failure_class(&e, addr)),
        Err(_) => Err(ErrorClass::Timeout),
    }
}

fn short(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Timeout => "timed out",
        ErrorClass::ConnectionRefused => "refused",
        ErrorClass::ConnectionReset => "reset",
        ErrorClass::NetworkUnreachable => "network unreachable",
        ErrorClass::HostUnreachable => "host unreachable",
        _ => "failed locally",
    }
}

/// Nearest-rank percentile of sorted samples; zero when there are none.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Whether this process may open unprivileged ICMP echo sockets: its group
/// must lie in `net.ipv4.ping_group_range`. `Err` says why not.
pub fn unprivileged_icmp() -> Result<(), String> {
    let range = std::fs::read_to_string(PING_GROUP_RANGE)
        .map_err(|e| format!("cannot read {PING_GROUP_RANGE}: {e}"))?;
    let mut bounds = range.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(low)), Some(Ok(high))) = (bounds.next(), bounds.next()) else {
        return Err(format!(
            "{PING_GROUP_RANGE} reads \"{}\", not two group ids",
            range.trim()
        ));
    };
    let gids = process_groups()?;
    if gids.iter().any(|g| (low..=high).contains(g)) {
        Ok(())
    } else {
        Err(format!(
            "unprivileged ICMP is disabled for this process (net.ipv4.ping_group_range = \"{low} {high}\" does not include its groups {gids:?}; widen it with sysctl to enable ICMP)"
        ))
    }
}

/// The real, effective and supplementary group ids, from /proc.
fn process_groups() -> Result<Vec<u64>, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let mut gids = Vec::new();
    for line in status.lines() {
        if let Some(rest) = line
            .strip_prefix("Gid:")
            .or_else(|| line.strip_prefix("Groups:"))
        {
            gids.extend(
                rest.split_whitespace()
                    .filter_map(|g| g.parse::<u64>().ok()),
            );
        }
    }
    gids.sort_unstable();
    gids.dedup();
    Ok(gids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|m| Duration::from_millis(*m))
                .collect::<Vec<_>>()
        };
        let s = ms(&[1, 2, 3, 4, 100]);
        assert_eq!(percentile(&s, 0.5), Duration::from_millis(3));
        assert_eq!(percentile(&s, 0.99), Duration::from_millis(100));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
        assert_eq!(percentile(&ms(&[7]), 0.99), Duration::from_millis(7));
    }
}
