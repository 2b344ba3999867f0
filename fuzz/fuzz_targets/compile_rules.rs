//! Fuzz target: arbitrary bytes as a TOML rule file; compiling, explaining and running the
//! rule's own tests must never panic.

#![no_main]

use handoff_core::{SourceFile, compile_sources};
use libfuzzer_sys::fuzz_target;

/// The folder the fuzzed rule file "lives" in: a template, an include and a schema to find.
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new(format!("{DATA}/fuzz.toml"), text);
    match compile_sources(vec![file], Some(DATA.into())) {
        Ok(compiled) => {
            for w in &compiled.warnings {
                let _ = w.render(false);
            }
            let plan = compiled.plan;
            let _ = format!("{:?}", plan.info());
            for (_, test) in plan.tests() {
                let mut out = Vec::new();
                let _ = plan.transform(test.input.as_bytes(), test.context.as_ref(), &mut out);
            }
        }
        Err(diagnostics) => {
            let _ = diagnostics.render(false);
        }
    }
});
