//! Every probe kind that connects, run from inside a network namespace whose
//! routing table refuses the target — a `blackhole` route (the kernel
//! answers EINVAL), an `unreachable` route (EHOSTUNREACH), a `prohibit`
//! route (EACCES), no route at all (ENETUNREACH) — must say
//! `network_unreachable`; behind a router that answers ICMP unreachable the
//! same errors are `host_unreachable`, because the route here is fine.
//!
//! Needs root (namespaces); skips, saying so, without it.

mod common;

use common::netns::{self, Netns};
use common::{probe_config, run};
use vigil_proto::v1::{ErrorClass, Outcome};

/// A documentation address (TEST-NET-3): nothing answers there.
const TARGET: &str = "203.0.113.5";

/// One probe of every kind that opens a connection, aimed at `host`, with
/// the protocols of the firewall probe that connect differently. `host` is
/// an IPv4 address or a bracketed IPv6 one.
fn connecting_probes(host: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "tcp",
            format!("    kind: tcp\n    address: \"{host}:443\"\n"),
        ),
        (
            "http",
            format!("    kind: http\n    url: http://{host}/health\n"),
        ),
        (
            "https",
            format!("    kind: http\n    url: https://{host}/health\n"),
        ),
        (
            "tls",
            format!("    kind: tls\n    address: \"{host}:443\"\n    sni: checkout.example.com\n"),
        ),
        (
            "firewall tcp",
            format!("    kind: firewall\n    expect: allow\n    address: \"{host}:443\"\n"),
        ),
        (
            "firewall http",
            format!(
                "    kind: firewall\n    expect: allow\n    protocol: http\n    address: \"{host}:80\"\n"
            ),
        ),
        (
            "firewall tls",
            format!(
                "    kind: firewall\n    expect: allow\n    protocol: tls\n    address: \"{host}:443\"\n    sni: login.example.com\n"
            ),
        ),
        (
            "egress",
            format!(
                "    kind: egress\n    url: http://{host}/ip\n    expected_ips: [\"198.51.100.1\"]\n"
            ),
        ),
        (
            "reachability",
            format!("    kind: reachability\n    address: \"{host}:443\"\n    count: 3\n"),
        ),
        (
            "grpc",
            format!("    kind: grpc\n    address: \"{host}:50051\"\n"),
        ),
        (
            "dns",
            format!(
                "    kind: dns\n    name: kv.example.com\n    server: \"{}\"\n",
                host.trim_matches(['[', ']'])
            ),
        ),
    ]
}

/// Runs every probe of `probes` inside `ns` and returns, per probe, its
/// name, outcome, class and message.
fn run_inside(
    ns: &Netns,
    probes: Vec<(&'static str, String)>,
) -> Vec<(&'static str, Outcome, ErrorClass, String)> {
    ns.run(move || async move {
        let mut seen = Vec::new();
        for (name, body) in probes {
            let obs = run(&probe_config("3s", &body)).await;
            seen.push((name, obs.outcome, obs.error_class, obs.message));
        }
        seen
    })
}

fn assert_all(seen: &[(&str, Outcome, ErrorClass, String)], want: ErrorClass, route: &str) {
    for (name, outcome, class, message) in seen {
        assert_eq!(
            (*outcome, *class),
            (Outcome::Failure, want),
            "{name} probe through {route}: {message}"
        );
    }
}

/// A namespace whose default routes (v4 and v6) are of type `route`.
fn refusing(route: &str) -> Netns {
    let ns = Netns::create("vgr");
    ns.ip(&["route", "add", route, "default"]);
    ns.ip(&["-6", "route", "add", route, "default"]);
    ns
}

#[test]
fn a_blackhole_route_is_network_unreachable_for_every_kind() {
    if !netns::available("blackhole route") {
        return;
    }
    let ns = refusing("blackhole");
    let mut probes = connecting_probes(TARGET);
    probes.extend(connecting_probes("[2001:db8::5]"));
    let seen = run_inside(&ns, probes);
    assert_all(&seen, ErrorClass::NetworkUnreachable, "a blackhole route");
    let (_, _, _, message) = &seen[0];
    assert!(
        message.contains("no route to it in this network"),
        "the message says what the class means: {message}"
    );
}

#[test]
fn an_unreachable_route_is_network_unreachable_for_every_kind() {
    if !netns::available("unreachable route") {
        return;
    }
    let ns = refusing("unreachable");
    let seen = run_inside(&ns, connecting_probes(TARGET));
    assert_all(
        &seen,
        ErrorClass::NetworkUnreachable,
        "an unreachable route",
    );
}

#[test]
fn a_prohibit_route_is_network_unreachable() {
    if !netns::available("prohibit route") {
        return;
    }
    let ns = refusing("prohibit");
    let seen = run_inside(&ns, connecting_probes(TARGET));
    assert_all(&seen, ErrorClass::NetworkUnreachable, "a prohibit route");
}

#[test]
fn no_route_at_all_is_network_unreachable() {
    if !netns::available("no route") {
        return;
    }
    // Only the loopback: nothing else is routed.
    let ns = Netns::create("vgn");
    let seen = run_inside(&ns, connecting_probes(TARGET));
    assert_all(&seen, ErrorClass::NetworkUnreachable, "no route");
}

#[test]
fn a_deny_probe_meeting_no_route_here_is_blocked() {
    if !netns::available("deny probe without a route") {
        return;
    }
    let ns = refusing("blackhole");
    let body = format!("    kind: firewall\n    expect: deny\n    address: \"{TARGET}:22\"\n");
    let obs = ns.run(move || async move { run(&probe_config("3s", &body)).await });
    assert_eq!(obs.outcome, Outcome::Success, "{}", obs.message);
    assert!(obs.message.contains("unreachable"), "{}", obs.message);
}

/// A client namespace whose default route leads, over a veth, to a router
/// namespace that forwards and has `route` for the target's network: the
/// route here is fine, the router answers ICMP unreachable.
struct BehindRouter {
    client: Netns,
    _router: Netns,
}

fn behind_router(route: &[&str]) -> BehindRouter {
    let client = Netns::create("vgc");
    let router = Netns::create("vgq");
    let (here, there) = (netns::unique("vc"), netns::unique("vq"));
    netns::ip(&[
        "link",
        "add",
        &here,
        "netns",
        &client.name,
        "type",
        "veth",
        "peer",
        "name",
        &there,
        "netns",
        &router.name,
    ]);
    client.ip(&["addr", "add", "192.0.2.2/24", "dev", &here]);
    router.ip(&["addr", "add", "192.0.2.1/24", "dev", &there]);
    client.ip(&["link", "set", &here, "up"]);
    router.ip(&["link", "set", &there, "up"]);
    client.ip(&["route", "add", "default", "via", "192.0.2.1"]);
    netns::ip(&[
        "netns",
        "exec",
        &router.name,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
        // Every probe gets its ICMP answer, however many run in a second.
        "net.ipv4.icmp_ratelimit=0",
    ]);
    if !route.is_empty() {
        router.ip(route);
    }
    BehindRouter {
        client,
        _router: router,
    }
}

fn tcp_and_http() -> Vec<(&'static str, String)> {
    connecting_probes(TARGET)
        .into_iter()
        .filter(|(name, _)| ["tcp", "http", "firewall tcp", "grpc"].contains(name))
        .collect()
}

#[test]
fn a_router_answering_host_unreachable_is_host_unreachable() {
    if !netns::available("router answering host unreachable") {
        return;
    }
    let net = behind_router(&["route", "add", "unreachable", "203.0.113.0/24"]);
    let seen = run_inside(&net.client, tcp_and_http());
    assert_all(
        &seen,
        ErrorClass::HostUnreachable,
        "a router's unreachable route",
    );
}

#[test]
fn a_router_answering_network_unreachable_is_host_unreachable() {
    if !netns::available("router answering network unreachable") {
        return;
    }
    // The router has no route for the target at all (ICMP net unreachable):
    // the client's own route is fine, so it is still the path, not here.
    let net = behind_router(&[]);
    let seen = run_inside(&net.client, tcp_and_http());
    assert_all(
        &seen,
        ErrorClass::HostUnreachable,
        "a router without a route",
    );
}
