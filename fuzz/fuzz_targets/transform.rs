//! Fuzz target: arbitrary bytes as a payload through fixed plans (the canonical rule, and a
//! rule with filters, descendants, wildcards, expressions and templates); an output, when
//! there is one, must be JSON.

#![no_main]

use std::sync::OnceLock;

use handoff_core::{Outcome, Plan, SourceFile, compile_sources};
use libfuzzer_sys::fuzz_target;

const CANONICAL: &str = include_str!("../../rules/cxone_handoff.toml");

const GENERAL: &str = r#"
[lookup.tiers]
default = "standard"
[lookup.tiers.entries]
gold = "premium"
"1" = "one"

[[rule]]
name = "voice"
when = { all = [{ path = "$.channel", eq = "voice" }, { path = "$.cognigy.intents[?@.confidence > 0.5]", exists = true }] }
on_error = "null"
truthy = ["true", "yes", "1"]
falsy = ["false", "no", "0"]
[rule.let]
top = { path = "$..intents[*]", max_by = "confidence" }
low = { path = "$.cognigy.intents[*]", min_by = "confidence" }
[rule.map]
"names" = { path = "$..name", select = "all" }
"picked" = { path = "$.items[?@.x > 1 && length(@.name) > 0]", select = "first", cast = "string" }
"matched" = { path = "$.items[?match(@.name, 'a.*')].name", select = "last" }
"slice" = { path = "$.items[1:-1:2]", select = "all", cast = "json" }
"top.name" = { from = "top", path = "$.name", lookup = "tiers" }
"top.low" = { from = "low", path = "$.confidence", cast = "integer" }
"expr" = { expr = "top.name ~ '!' if top is defined and top.name is string else 'none'" }
"tpl" = { template = '{"n": {{ (input.items or []) | length }}, "e": {{ (input.cognigy.entities or []) | to_object("name", "value", true) | tojson }}}' }
"vip" = { path = "$.user.profile.vip", cast = "boolean" }
"tier" = { path = "$.user.profile.tier", lookup = "tiers", cast = "string" }
"one" = { path = "$.items[*]", select = "one", on_error = "skip" }
"alt" = [
  { path = "$.x", cast = "number", when = { path = "$.x", exists = true } },
  { value = "none" },
]

[[rule]]
name = "passthrough"
when = { path = "$.channel", ne = "chat" }
output = "passthrough"
on_error = "skip"
[rule.map]
"routingData.queueId" = { path = "$.cognigy.intents[0].name", cast = "string" }
"whole" = { expr = "input | tojson | length" }

[[rule]]
name = "strict"
when = { path = "$.channel", eq = "chat" }
cast_mode = "strict"
[rule.map]
"id" = { path = "$.sessionId", required = true }
"n" = { path = "$.n", cast = "integer", on_missing = "skip" }
"$.entities" = { path = "$.cognigy.entities[*]", select = "all", to_object = { key = "name", value = "value" } }
"#;

fn plans() -> &'static [Plan] {
    static PLANS: OnceLock<Vec<Plan>> = OnceLock::new();
    PLANS.get_or_init(|| {
        [("cxone_handoff.toml", CANONICAL), ("general.toml", GENERAL)]
            .into_iter()
            .map(|(name, text)| {
                let file = SourceFile::new(name, text);
                match compile_sources(vec![file], None) {
                    Ok(c) => c.plan,
                    Err(d) => panic!("{name} does not compile:\n{}", d.render(false)),
                }
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    for plan in plans() {
        let mut out = Vec::new();
        if let Ok(Outcome::Transformed { .. }) = plan.transform(data, None, &mut out)
            && let Err(e) = serde_json::from_slice::<serde_json::Value>(&out)
        {
            panic!(
                "the output is not JSON ({e}): {}",
                String::from_utf8_lossy(&out)
            );
        }
    }
});
