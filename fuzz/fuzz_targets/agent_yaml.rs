//! The agent config loader on any text: a validated config or an error
//! that names the file and the field; it never panics. The environment is
//! empty so only the text decides.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_agent::AgentConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = AgentConfig::from_yaml_with_env(text, "fuzz-agent.yaml", &|_| None) {
        assert!(e.to_string().contains("fuzz-agent.yaml"), "{e}");
    }
});
