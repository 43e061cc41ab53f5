//! The health model loader on any text: it either loads a model whose
//! node ids are unique and non-empty or returns an error naming the
//! problem; it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_model::Model;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Model::from_yaml(text, "fuzz-model.yaml") {
        Ok(model) => {
            let mut ids = std::collections::HashSet::new();
            for node in model.nodes() {
                assert!(!node.id.is_empty(), "a node without an id loaded");
                assert!(
                    ids.insert(node.id.as_str()),
                    "node {} loaded twice",
                    node.id
                );
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
