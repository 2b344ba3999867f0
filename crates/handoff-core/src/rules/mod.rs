//! The rule model: a literal, serde-deserialized mirror of a TOML rule file.
//!
//! Nothing here is validated beyond TOML types and known keys; `compile` turns these raw structs
//! into a checked plan. Strings that name enums (casts, policies) stay strings with their spans so
//! that every bad value can be reported, not just the first.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A spanned string.
pub type SStr = Spanned<String>;
/// A spanned TOML value.
pub type SValue = Spanned<toml::Value>;

/// One rule file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Limits for every rule of the file.
    #[serde(default)]
    pub limits: Option<Spanned<RawLimits>>,
    /// Lookup tables, shared by the rules of the file.
    #[serde(default)]
    pub lookup: IndexMap<SStr, RawLookup>,
    /// The rules, tried in order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RawRule>,
}

/// `[limits]`: every field optional, defaults from [`crate::Limits`].
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub path_depth: Option<Spanned<i64>>,
    pub payload_bytes: Option<Spanned<i64>>,
    pub payload_depth: Option<Spanned<i64>>,
    pub template_fuel: Option<Spanned<i64>>,
    pub template_bytes: Option<Spanned<i64>>,
}

/// `[lookup.NAME]`: a table from string keys to values, with an optional default entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLookup {
    pub default: Option<SValue>,
    #[serde(default)]
    pub entries: IndexMap<String, toml::Value>,
}

/// `[[rule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: SStr,
    pub description: Option<String>,
    pub when: Option<Spanned<RawCond>>,
    pub on_missing: Option<SStr>,
    pub on_null: Option<SStr>,
    pub on_error: Option<SStr>,
    pub cast_mode: Option<SStr>,
    pub truthy: Option<Vec<String>>,
    pub falsy: Option<Vec<String>>,
    pub output: Option<SStr>,
    pub output_schema: Option<SStr>,
    pub input_schema: Option<SStr>,
    pub limits: Option<Spanned<RawLimits>>,
    /// Named intermediate values, in order; each may use the ones before it.
    #[serde(default, rename = "let")]
    pub lets: IndexMap<SStr, RawMapping>,
    /// Reasons to write the "ignored" body instead of the mappings, tried in order.
    #[serde(default)]
    pub ignore: Vec<RawIgnore>,
    /// Output target -> mapping (or a list of alternatives, the first that applies wins).
    #[serde(default)]
    pub map: IndexMap<SStr, OneOrMany>,
    /// Tests that live with the rule.
    #[serde(default)]
    pub test: Vec<RawTest>,
}

/// `[[rule.ignore]]`: when `when` holds (it sees the bindings), the rule writes
/// `{"outcome": "ignored", "reason": REASON, "rule": NAME}` instead of its mappings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIgnore {
    pub when: Spanned<RawCond>,
    pub reason: SStr,
}

/// One mapping: a source, the steps applied to it, and the policy for what can go wrong.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub path: Option<SStr>,
    pub from: Option<SStr>,
    pub expr: Option<SStr>,
    pub template: Option<SStr>,
    pub template_file: Option<SStr>,
    pub value: Option<SValue>,
    pub now: Option<SStr>,
    pub select: Option<SStr>,
    pub max_by: Option<SStr>,
    pub min_by: Option<SStr>,
    pub to_object: Option<Spanned<RawToObject>>,
    pub lookup: Option<SStr>,
    pub cast: Option<SStr>,
    pub cast_mode: Option<SStr>,
    pub fallback: Option<SValue>,
    pub required: Option<Spanned<bool>>,
    pub on_missing: Option<SStr>,
    pub on_null: Option<SStr>,
    pub on_error: Option<SStr>,
    pub when: Option<Spanned<RawCond>>,
}

/// `to_object = { key = "name", value = "value", skip_empty = true }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToObject {
    pub key: String,
    pub value: String,
    #[serde(default)]
    pub skip_empty: bool,
}

/// A predicate: one comparison, or a combination of predicates.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCond {
    pub path: Option<SStr>,
    pub from: Option<SStr>,
    pub eq: Option<SValue>,
    pub ne: Option<SValue>,
    pub lt: Option<SValue>,
    pub le: Option<SValue>,
    pub gt: Option<SValue>,
    pub ge: Option<SValue>,
    #[serde(rename = "in")]
    pub in_: Option<Spanned<Vec<toml::Value>>>,
    pub exists: Option<Spanned<bool>>,
    pub all: Option<Vec<Spanned<RawCond>>>,
    pub any: Option<Vec<Spanned<RawCond>>>,
    pub not: Option<Box<Spanned<RawCond>>>,
    pub expr: Option<SStr>,
}

/// `[[rule.test]]`: an input and what the rule must make of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTest {
    pub name: SStr,
    /// The input as a TOML table (no nulls) ...
    pub input: Option<toml::Table>,
    /// ... or as JSON text.
    pub input_json: Option<String>,
    /// The gateway context, as JSON text.
    pub context_json: Option<String>,
    /// Pad the input with trailing spaces to this many bytes (to test `payload_bytes`).
    pub pad_input_to: Option<Spanned<i64>>,
    /// The expected output as a TOML table ...
    pub expect: Option<toml::Table>,
    /// ... or as JSON text.
    pub expect_json: Option<String>,
    /// The expected error code (`E502`) or slug (`cast_failed`) ...
    pub expect_error: Option<String>,
    /// ... or `true` when no rule must apply.
    pub expect_no_rule: Option<bool>,
}

/// A map value: one mapping, or a list of alternatives.
#[derive(Debug)]
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
