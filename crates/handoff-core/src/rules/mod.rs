//! The rule model: a literal, serde-deserialized mirror of a TOML rule file.
//!
//! Nothing here is validated beyond TOML types and known keys; `compile` turns these raw structs
//! into a checked plan. Strings that name enums (casts, policies) stay strings with their spans so
//! that every bad value can be reported, not just the first.

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

pub mod schema;

/// A spanned string.
pub type SStr = Spanned<String>;
/// A spanned TOML value.
pub type SValue = Spanned<toml::Value>;

/// One rule file.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "RuleFile")]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Limits for every rule of the file.
    #[serde(default)]
    #[schemars(with = "Option<RawLimits>")]
    pub limits: Option<Spanned<RawLimits>>,
    /// Lookup tables, shared by the rules of the file.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, RawLookup>")]
    pub lookup: IndexMap<SStr, RawLookup>,
    /// The rules, tried in order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RawRule>,
}

/// `[limits]`: every field optional, defaults from [`crate::Limits`].
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[schemars(rename = "Limits")]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Most segments a JSONPath may have (default 5; 1-1024).
    #[schemars(with = "Option<i64>")]
    pub path_depth: Option<Spanned<i64>>,
    /// Largest payload in bytes (default 262144; 1-2^30).
    #[schemars(with = "Option<i64>")]
    pub payload_bytes: Option<Spanned<i64>>,
    /// Deepest nesting of the parts of a payload the rules read (default 64).
    #[schemars(with = "Option<i64>")]
    pub payload_depth: Option<Spanned<i64>>,
    /// minijinja instructions per expression or template evaluation (default 50000).
    #[schemars(with = "Option<i64>")]
    pub template_fuel: Option<Spanned<i64>>,
    /// Largest rendered template in bytes (default 262144).
    #[schemars(with = "Option<i64>")]
    pub template_bytes: Option<Spanned<i64>>,
}

/// `[lookup.NAME]`: a table from string keys to values, with an optional default entry.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "LookupTable")]
#[serde(deny_unknown_fields)]
pub struct RawLookup {
    /// The value when a key is not in `entries`.
    #[schemars(with = "Option<serde_json::Value>")]
    pub default: Option<SValue>,
    /// String keys -> any value.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub entries: IndexMap<String, toml::Value>,
}

/// `[[rule]]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Rule")]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Unique across every loaded file; used by `--rule`, in errors and in audit records.
    #[schemars(with = "String")]
    pub name: SStr,
    /// Free text, shown by `handoff explain`.
    pub description: Option<String>,
    /// The rule transforms a payload only when this holds (dispatch: the first rule whose `when` holds).
    #[schemars(with = "Option<RawCond>")]
    pub when: Option<Spanned<RawCond>>,
    /// Default policy when a mapping's value is missing.
    #[schemars(schema_with = "schema::policy")]
    #[serde(default)]
    pub on_missing: Option<SStr>,
    /// Default policy when a mapping's value is JSON null.
    #[schemars(schema_with = "schema::policy")]
    #[serde(default)]
    pub on_null: Option<SStr>,
    /// Default policy when a cast or step fails.
    #[schemars(schema_with = "schema::policy")]
    #[serde(default)]
    pub on_error: Option<SStr>,
    /// Default cast mode: lenient (coerce, see the coercion table) or strict.
    #[schemars(schema_with = "schema::cast_mode")]
    #[serde(default)]
    pub cast_mode: Option<SStr>,
    /// Strings a boolean cast turns into true (default ["true"]).
    pub truthy: Option<Vec<String>>,
    /// Strings a boolean cast turns into false (default ["false"]).
    pub falsy: Option<Vec<String>>,
    /// `strict` (only mapped targets, the default) or `passthrough` (the input with the targets written over it).
    #[schemars(schema_with = "schema::output")]
    #[serde(default)]
    pub output: Option<SStr>,
    /// A JSON Schema file (relative to the rule file) the output must satisfy.
    #[schemars(with = "Option<String>")]
    pub output_schema: Option<SStr>,
    /// A JSON Schema file (relative to the rule file) the payload must satisfy.
    #[schemars(with = "Option<String>")]
    pub input_schema: Option<SStr>,
    /// Limits for this rule, overriding the file's `[limits]` key by key.
    #[schemars(with = "Option<RawLimits>")]
    pub limits: Option<Spanned<RawLimits>>,
    /// Named intermediate values, in order; each may use the ones before it.
    #[serde(default, rename = "let")]
    #[schemars(with = "IndexMap<String, RawMapping>")]
    pub lets: IndexMap<SStr, RawMapping>,
    /// Reasons to write the "ignored" body instead of the mappings, tried in order.
    #[serde(default)]
    pub ignore: Vec<RawIgnore>,
    /// Output target -> mapping (or a list of alternatives, the first that applies wins).
    #[serde(default)]
    #[schemars(with = "IndexMap<String, OneOrMany>")]
    pub map: IndexMap<SStr, OneOrMany>,
    /// Tests that live with the rule.
    #[serde(default)]
    pub test: Vec<RawTest>,
}

/// `[[rule.ignore]]`: when `when` holds (it sees the bindings), the rule writes
/// `{"outcome": "ignored", "reason": REASON, "rule": NAME}` instead of its mappings.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Ignore")]
#[serde(deny_unknown_fields)]
pub struct RawIgnore {
    /// When this holds, the rule writes the ignored body.
    #[schemars(with = "RawCond")]
    pub when: Spanned<RawCond>,
    /// The `reason` of the ignored body.
    #[schemars(with = "String")]
    pub reason: SStr,
}

/// One mapping: a source, the steps applied to it, and the policy for what can go wrong.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Mapping")]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    /// A JSONPath (RFC 9535) read from the input, or from `from` when both are given.
    #[schemars(with = "Option<String>")]
    pub path: Option<SStr>,
    /// `input`, `context`, or the name of a binding from `[rule.let]`.
    #[schemars(with = "Option<String>")]
    pub from: Option<SStr>,
    /// A minijinja expression.
    #[schemars(with = "Option<String>")]
    pub expr: Option<SStr>,
    /// An inline minijinja template whose output is parsed as JSON.
    #[schemars(with = "Option<String>")]
    pub template: Option<SStr>,
    /// A minijinja template file (relative to the rule file) whose output is parsed as JSON.
    #[schemars(with = "Option<String>")]
    pub template_file: Option<SStr>,
    /// A constant.
    #[schemars(with = "Option<serde_json::Value>")]
    pub value: Option<SValue>,
    /// The current time.
    #[schemars(schema_with = "schema::now")]
    #[serde(default)]
    pub now: Option<SStr>,
    /// Which node(s) of a path that can select several: one (several is an error), first, last, all.
    #[schemars(schema_with = "schema::select")]
    #[serde(default)]
    pub select: Option<SStr>,
    /// Take the node with the largest numeric value of this field (the first on a tie).
    #[schemars(with = "Option<String>")]
    pub max_by: Option<SStr>,
    /// Take the node with the smallest numeric value of this field (the first on a tie).
    #[schemars(with = "Option<String>")]
    pub min_by: Option<SStr>,
    /// Turn an array of {key, value} objects into one object.
    #[schemars(with = "Option<RawToObject>")]
    pub to_object: Option<Spanned<RawToObject>>,
    /// Look the value up in a `[lookup.NAME]` table of this file.
    #[schemars(with = "Option<String>")]
    pub lookup: Option<SStr>,
    /// Convert the value (after the missing/null policies).
    #[schemars(schema_with = "schema::cast")]
    #[serde(default)]
    pub cast: Option<SStr>,
    /// lenient (coerce, see the coercion table) or strict (only values of the type).
    #[schemars(schema_with = "schema::cast_mode")]
    #[serde(default)]
    pub cast_mode: Option<SStr>,
    /// The value used by the `fallback` policies.
    #[schemars(with = "Option<serde_json::Value>")]
    pub fallback: Option<SValue>,
    /// A missing value fails the transform (same as on_missing = "fail").
    #[schemars(with = "Option<bool>")]
    pub required: Option<Spanned<bool>>,
    /// What to do when the value is missing.
    #[schemars(schema_with = "schema::policy")]
    #[serde(default)]
    pub on_missing: Option<SStr>,
    /// What to do when the value is JSON null.
    #[schemars(schema_with = "schema::policy")]
    #[serde(default)]
    pub on_null: Option<SStr>,
    /// What to do when a cast or a step fails.
    #[schemars(schema_with = "schema::policy")]
    #[serde(default)]
    pub on_error: Option<SStr>,
    /// The mapping (or alternative) applies only when this holds.
    #[schemars(with = "Option<RawCond>")]
    pub when: Option<Spanned<RawCond>>,
}

/// `to_object = { key = "name", value = "value", skip_empty = true }`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "ToObject")]
#[serde(deny_unknown_fields)]
pub struct RawToObject {
    /// The member of each item that gives the key.
    pub key: String,
    /// The member of each item that gives the value.
    pub value: String,
    /// Also drop items whose value is "".
    #[serde(default)]
    pub skip_empty: bool,
}

/// A predicate: one comparison, or a combination of predicates.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(rename = "Condition")]
#[serde(deny_unknown_fields)]
pub struct RawCond {
    /// A JSONPath read from the input, or from `from` when both are given.
    #[schemars(with = "Option<String>")]
    pub path: Option<SStr>,
    /// `input`, `context`, or the name of a binding.
    #[schemars(with = "Option<String>")]
    pub from: Option<SStr>,
    /// Holds when the value equals this (JSON equality).
    #[schemars(with = "Option<serde_json::Value>")]
    pub eq: Option<SValue>,
    /// Holds when the value does not equal this (also when it is missing).
    #[schemars(with = "Option<serde_json::Value>")]
    pub ne: Option<SValue>,
    /// Less than (number with number, string with string).
    #[schemars(with = "Option<serde_json::Value>")]
    pub lt: Option<SValue>,
    /// Less than or equal.
    #[schemars(with = "Option<serde_json::Value>")]
    pub le: Option<SValue>,
    /// Greater than.
    #[schemars(with = "Option<serde_json::Value>")]
    pub gt: Option<SValue>,
    /// Greater than or equal.
    #[schemars(with = "Option<serde_json::Value>")]
    pub ge: Option<SValue>,
    /// Holds when the value equals one of these.
    #[serde(rename = "in")]
    #[schemars(with = "Option<Vec<serde_json::Value>>")]
    pub in_: Option<Spanned<Vec<toml::Value>>>,
    /// Holds when the path selects at least one node (false: none).
    #[schemars(with = "Option<bool>")]
    pub exists: Option<Spanned<bool>>,
    /// Holds when every condition holds.
    #[schemars(with = "Option<Vec<RawCond>>")]
    pub all: Option<Vec<Spanned<RawCond>>>,
    /// Holds when at least one condition holds.
    #[schemars(with = "Option<Vec<RawCond>>")]
    pub any: Option<Vec<Spanned<RawCond>>>,
    /// Holds when the condition does not.
    #[schemars(with = "Option<Box<RawCond>>")]
    pub not: Option<Box<Spanned<RawCond>>>,
    /// Holds when the minijinja expression is truthy.
    #[schemars(with = "Option<String>")]
    pub expr: Option<SStr>,
}

/// `[[rule.test]]`: an input and what the rule must make of it.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(rename = "Test")]
#[serde(deny_unknown_fields)]
pub struct RawTest {
    /// The test's name.
    #[schemars(with = "String")]
    pub name: SStr,
    /// The input as a TOML table (no nulls) ...
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub input: Option<toml::Table>,
    /// ... or as JSON text.
    pub input_json: Option<String>,
    /// The gateway context, as JSON text.
    pub context_json: Option<String>,
    /// Pin the clock the `now` sources read to this RFC 3339 time
    /// (`"2026-11-11T06:25:16.250Z"`), so that the output can be expected exactly.
    #[schemars(with = "Option<String>")]
    pub now: Option<SStr>,
    /// Pad the input with trailing spaces to this many bytes (to test `payload_bytes`).
    #[schemars(with = "Option<i64>")]
    pub pad_input_to: Option<Spanned<i64>>,
    /// The expected output as a TOML table ...
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub expect: Option<toml::Table>,
    /// ... or as JSON text.
    pub expect_json: Option<String>,
    /// The expected error code (`E502`) or slug (`cast_failed`) ...
    pub expect_error: Option<String>,
    /// ... or `true` when no rule must apply.
    pub expect_no_rule: Option<bool>,
}

/// A map value: one mapping, or a list of alternatives.
#[derive(Debug, JsonSchema)]
#[schemars(untagged, rename = "MappingOrAlternatives")]
pub enum OneOrMany {
    /// `target = { ... }`.
    One(Box<RawMapping>),
    /// `target = [ { ..., when = ... }, { ... } ]`.
    Many(Vec<RawMapping>),
}

impl OneOrMany {
    /// The alternatives, in order.
    pub fn as_slice(&self) -> &[RawMapping] {
        match self {
            OneOrMany::One(m) => std::slice::from_ref(m.as_ref()),
            OneOrMany::Many(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping table or an array of mapping tables")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrMany, A::Error> {
                RawMapping::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|m| OneOrMany::One(Box::new(m)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<OneOrMany, A::Error> {
                Vec::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(OneOrMany::Many)
            }
        }
        d.deserialize_any(V)
    }
}
