//! The demo network's names: its spokes and the private endpoint's name,
//! which the fault catalogue describes and the topology serves.
//!
//! Owns names only; it must not start or switch anything.

use std::fmt;

/// The private endpoint of the workload's data store, in the private zone.
pub const PRIVATE_ENDPOINT_NAME: &str = "orders-db.privatelink.database.windows.net";

/// A spoke network of the demo topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Spoke {
    A,
    B,
}

impl Spoke {
    pub const ALL: [Spoke; 2] = [Spoke::A, Spoke::B];

    /// The network name agents report (`spoke-a`).
    pub fn network(self) -> &'static str {
        match self {
            Spoke::A => "spoke-a",
            Spoke::B => "spoke-b",
        }
    }
}

impl fmt::Display for Spoke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.network())
    }
}
