//! Several rule files compiled into one plan: tables stay with their file, names are unique.

use handoff_core::{Code, SourceFile, compile_sources};

fn file(name: &str, text: &str) -> SourceFile {
    SourceFile::new(name, text)
}

const ROUTING: &str = r#"
[lookup.routes]
default = "q-default"
[lookup.routes.entries]
billing = "q-billing"

[[rule]]
name = "routing"
when = { path = "$.kind", eq = "route" }
[rule.map]
queue = { path = "$.intent", lookup = "routes" }
"#;

const CHANNELS: &str = r#"
[lookup.channels]
default = "chat"
[lookup.channels.entries]
voice = "voice"

[[rule]]
name = "channels"
[rule.map]
type = { path = "$.channel", lookup = "channels" }
"#;

#[test]
fn each_rule_reads_the_tables_of_its_own_file() {
    let plan = compile_sources(
        vec![file("a.toml", ROUTING), file("b.toml", CHANNELS)],
        None,
    )
    .unwrap()
    .plan;
    let (_, out) = plan
        .transform_value(None, br#"{"channel": "voice"}"#, None)
        .unwrap();
    assert_eq!(out.unwrap(), serde_json::json!({"type": "voice"}));
    let (_, out) = plan
        .transform_value(None, br#"{"kind": "route", "intent": "billing"}"#, None)
        .unwrap();
    assert_eq!(out.unwrap(), serde_json::json!({"queue": "q-billing"}));
}

#[test]
fn a_duplicate_rule_names_the_file_that_defined_it_first() {
    let diags =
        compile_sources(vec![file("a.toml", ROUTING), file("b.toml", ROUTING)], None).unwrap_err();
    let dup = diags
        .0
        .iter()
        .find(|d| d.code == Code::DuplicateRule)
        .expect("duplicate rule");
    assert_eq!(dup.file.name, "b.toml");
    assert!(
        dup.hint
            .as_deref()
            .unwrap()
            .contains("first defined in a.toml"),
        "{:?}",
        dup.hint
    );
    assert!(diags.0.iter().any(|d| d.code == Code::DuplicateLookup));
}
