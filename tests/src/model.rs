//! The health model the end-to-end tests run against: a hub with DNS and a
//! hub service, and a checkout workload seen from two spokes.

/// Leaves bind by component and, for the workload, by the observing network,
/// so one spoke's view can fail while the other's stays healthy.
pub const TWO_SPOKES: &str = r#"
nodes:
  - id: estate
    name: Test estate
    children: [platform, workload]
  - id: platform
    name: Platform
    layer: platform_hub
    children: [hub-dns, hub-service]
  - id: hub-dns
    name: Hub DNS
    layer: platform_hub
    select: { kind: dns, component: hub-dns }
  - id: hub-service
    name: Hub shared service
    layer: platform_hub
    select: { kind: tcp, component: hub-service }
  - id: workload
    name: Workload
    layer: workload_application
    children: [checkout-spoke-a, checkout-spoke-b]
  - id: checkout-spoke-a
    name: Checkout API seen from spoke-a
    layer: workload_application
    depends_on: [hub-dns]
    select: { component: checkout-api, network: spoke-a }
  - id: checkout-spoke-b
    name: Checkout API seen from spoke-b
    layer: workload_application
    depends_on: [hub-dns]
    select: { component: checkout-api, network: spoke-b }
"#;

/// A hub with DNS and a shared service, three spokes, and a checkout API that
/// lives in spoke-a and is probed from every spoke.
pub const HUB_THREE_SPOKES: &str = r#"
nodes:
  - id: estate
    name: Checkout estate
    children: [platform, workload]
  - id: platform
    name: Platform
    layer: platform_hub
    children: [hub-dns, hub-service]
  - id: hub-dns
    name: Hub DNS resolver
    layer: platform_hub
    select: { kind: dns, component: hub-dns }
  - id: hub-service
    name: Hub shared service
    layer: platform_hub
    select: { kind: tcp, component: hub-service }
  - id: workload
    name: Workload
    layer: workload_application
    children: [checkout-api]
  - id: checkout-api
    name: Checkout API
    layer: workload_application
    depends_on: [hub-dns]
    select: { component: checkout-api }
"#;
