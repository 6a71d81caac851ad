//! Feeds arbitrary bytes to the definition parser: any input must give a definition or
//! diagnostics, never a panic, and diagnostics must render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match factory_def::parse_bytes("fuzz.toml", data) {
        Ok(definition) => {
            // A definition that validated must be internally consistent.
            let summary = definition.summary();
            assert_eq!(summary.components, definition.components.len());
            assert_eq!(
                definition.components_in_build_order().len(),
                definition.components.len(),
                "validated definitions are acyclic"
            );
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty());
            let rendered = diagnostics.to_string();
            assert!(rendered.starts_with("error: "));
        }
    }
});
