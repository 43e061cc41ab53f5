//! The one table of label values for the contract's enums: what a state,
//! side, layer, roll-up, fault kind, certainty or fault event is called in
//! reasons, metric labels, alert labels and JSON (`unhealthy`, `platform`).
//!
//! Borrowed `&'static str`, so hot paths (the `/metrics` page, reasons written
//! every tick) never allocate a name. Tests check every label against the
//! proto's own names ([`ShortName`](crate::ShortName)), so they cannot drift.
//! An unset state or side is shown as `unknown`: missing is never healthy.

use crate::v1::{Certainty, FaultEventKind, FaultKind, HealthState, Layer, RollUp, Side};

/// A contract enum's label value.
pub trait Label: Copy {
    fn label(self) -> &'static str;
}

impl Label for HealthState {
    fn label(self) -> &'static str {
        match self {
            HealthState::Unspecified | HealthState::Unknown => "unknown",
            HealthState::Healthy => "healthy",
            HealthState::Degraded => "degraded",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

impl Label for Side {
    fn label(self) -> &'static str {
        match self {
            Side::Unspecified => "unknown",
            Side::Platform => "platform",
            Side::Workload => "workload",
        }
    }
}

impl Label for Layer {
    fn label(self) -> &'static str {
        match self {
            Layer::Unspecified => "unspecified",
            Layer::PlatformHub => "platform_hub",
            Layer::PlatformSpokeConnectivity => "platform_spoke_connectivity",
            Layer::WorkloadApplication => "workload_application",
            Layer::WorkloadData => "workload_data",
            Layer::WorkloadUserFlow => "workload_user_flow",
        }
    }
}

impl Label for RollUp {
    fn label(self) -> &'static str {
        match self {
            RollUp::Unspecified => "unspecified",
            RollUp::WorstOf => "worst_of",
            RollUp::Weighted => "weighted",
            RollUp::Quorum => "quorum",
        }
    }
}

impl Label for FaultKind {
    fn label(self) -> &'static str {
        match self {
            FaultKind::Unspecified => "unspecified",
            FaultKind::Outage => "outage",
            FaultKind::Intermittent => "intermittent",
            FaultKind::SecurityDrift => "security_drift",
        }
    }
}

impl Label for Certainty {
    fn label(self) -> &'static str {
        match self {
            Certainty::Unspecified => "unspecified",
            Certainty::Attributed => "attributed",
            Certainty::Ambiguous => "ambiguous",
            Certainty::InsufficientData => "insufficient_data",
        }
    }
}

impl Label for FaultEventKind {
    fn label(self) -> &'static str {
        match self {
            FaultEventKind::Unspecified => "unspecified",
            FaultEventKind::Opened => "opened",
            FaultEventKind::Updated => "updated",
            FaultEventKind::Resolved => "resolved",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ShortName;

    fn check<E: Label + ShortName + std::fmt::Debug>(all: impl IntoIterator<Item = E>) {
        for v in all {
            let label = v.label();
            // Unset values are labelled explicitly; everything else is the
            // proto's own short name.
            if let Some(parsed) = E::from_short_name(label) {
                assert_eq!(parsed.short_name(), label, "{v:?}");
            } else {
                assert!(
                    label == "unknown" || label == "unspecified",
                    "{v:?} -> {label}"
                );
            }
        }
    }

    #[test]
    fn labels_are_the_contract_short_names() {
        check((0..=4).filter_map(|v| HealthState::try_from(v).ok()));
        check((0..=2).filter_map(|v| Side::try_from(v).ok()));
        check((0..=5).filter_map(|v| Layer::try_from(v).ok()));
        check((0..=3).filter_map(|v| RollUp::try_from(v).ok()));
        check((0..=3).filter_map(|v| FaultKind::try_from(v).ok()));
        check((0..=3).filter_map(|v| Certainty::try_from(v).ok()));
        check((0..=3).filter_map(|v| FaultEventKind::try_from(v).ok()));
        assert_eq!(HealthState::Unspecified.label(), "unknown");
        assert_eq!(HealthState::Unknown.label(), "unknown");
        assert_eq!(Side::Unspecified.label(), "unknown");
    }
}
