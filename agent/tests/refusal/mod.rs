//! How the agent's config suites check a refused config: the error names the
//! file (`agent.yaml`), then the field path, mentions what was wrong and says
//! how to fix it. Shared by config.rs, config_kinds.rs and config_export.rs;
//! it needs the agent's `ConfigError`, so it lives here and not in
//! vigil-testkit. It must not hold fixtures: each suite keeps its own YAML.
#![allow(dead_code)]

use vigil_agent::{AgentConfig, ConfigError};

/// Parses `text` as `agent.yaml`, which must be refused.
pub fn err(text: &str) -> ConfigError {
    AgentConfig::from_yaml(text, "agent.yaml").expect_err("config should be refused")
}

/// `e` names `field` right after the file, mentions `needle`, and has a fix.
pub fn assert_refusal(e: &ConfigError, field: &str, needle: &str) {
    let shown = e.to_string();
    assert_eq!(e.field(), Some(field), "wrong field in: {shown}");
    assert!(
        shown.starts_with(&format!("agent.yaml: {field}: ")),
        "{shown}"
    );
    assert!(shown.contains(needle), "{shown:?} lacks {needle:?}");
    assert!(shown.contains("; "), "no fix in: {shown}");
}

/// `text` is refused, naming `field` and mentioning `needle`.
pub fn assert_invalid(text: &str, field: &str, needle: &str) {
    assert_refusal(&err(text), field, needle);
}
