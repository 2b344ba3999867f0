//! The execution plan: immutable, `Send + Sync`, built once by `compile`, run by `exec`.
//!
//! Nothing in here holds source text that still has to be parsed: JSONPaths are parsed (and
//! simple ones reduced to a list of steps), casts and policies are enums, templates and
//! expressions live compiled in one minijinja environment.

pub(crate) mod dispatch;
pub mod info;
pub(crate) mod location;
pub mod output;
pub mod path;
pub mod projection;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::diagnostic::SourceFile;
use crate::limits::Limits;
pub use info::{MappingInfo, PlanInfo, RuleInfo};
use output::OutNode;
use path::Path;
use projection::Projection;

/// A compiled set of rules (from one or many rule files), ready to transform payloads.
pub struct Plan {
    pub(crate) rules: Vec<Rule>,
    /// The order in which rules are tried (runs keyed on one value become a table).
    pub(crate) dispatch: Vec<dispatch::Step>,
    pub(crate) by_name: HashMap<String, usize>,
    pub(crate) tables: Vec<Lookup>,
    pub(crate) projection: Projection,
    pub(crate) env: minijinja::Environment<'static>,
    /// Limits used while parsing a payload, before the rule is known (the most generous of all).
    pub(crate) parse_limits: Limits,
    pub(crate) files: Vec<Arc<SourceFile>>,
    pub(crate) hash: String,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// The rule names, in dispatch order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.name.as_str())
    }

    /// Whether a rule of that name exists.
    pub fn has_rule(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The rule-set hash: a stable hash of the normalized rule files, templates and schemas
    /// (comments and formatting do not change it), for audit records.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The largest payload, in bytes, that the named rule accepts, or without a name the most
    /// generous of all rules' `payload_bytes` (a larger payload is E400 before it is parsed).
    /// A reader can stop holding a payload once it is longer.
    pub fn payload_limit(&self, rule: Option<&str>) -> usize {
        rule.and_then(|r| self.by_name.get(r))
            .map_or(self.parse_limits.payload_bytes, |&i| {
                self.rules[i].limits.payload_bytes
            })
    }

    /// The rule files the plan was compiled from.
    pub fn files(&self) -> &[Arc<SourceFile>] {
        &self.files
    }

    /// A description of everything the plan reads, writes and may fail on.
    pub fn info(&self) -> PlanInfo {
        info::describe(self)
    }

    /// The tests declared with the rules (`[[rule.test]]`).
    pub fn tests(&self) -> impl Iterator<Item = (&str, &TestCase)> {
        self.rules
            .iter()
            .flat_map(|r| r.tests.iter().map(move |t| (r.name.as_str(), t)))
    }
}

/// One rule.
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) file: usize,
    pub(crate) when: Option<Cond>,
    pub(crate) lets: Vec<Binding>,
    /// `[[rule.ignore]]`, tried in order after the bindings.
    pub(crate) ignores: Vec<Ignore>,
    /// One entry per output target (in slot order), each a list of alternatives.
    pub(crate) maps: Vec<Target>,
    pub(crate) output: OutNode,
    pub(crate) passthrough: bool,
    pub(crate) output_schema: Option<Schema>,
    pub(crate) input_schema: Option<Schema>,
    pub(crate) limits: Limits,
    pub(crate) tests: Vec<TestCase>,
}

/// A named intermediate value.
pub(crate) struct Binding {
    pub(crate) name: String,
    pub(crate) mapping: Mapping,
}

/// A reason to write the "ignored" body instead of the mappings.
pub(crate) struct Ignore {
    pub(crate) when: Cond,
    pub(crate) reason: String,
    /// `{"outcome":"ignored","reason":…,"rule":…}`, serialized at compile time.
    pub(crate) body: String,
}

/// An output field and the mappings that may write it (the first that applies wins).
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) alternatives: Vec<Mapping>,
}

/// A compiled JSON Schema with the file it came from.
pub(crate) struct Schema {
    pub(crate) file: String,
    pub(crate) validator: jsonschema::Validator,
}

/// One source -> value mapping with its steps and policies.
pub(crate) struct Mapping {
    pub(crate) when: Option<Cond>,
    pub(crate) source: Source,
    pub(crate) select: Select,
    pub(crate) to_object: Option<ToObject>,
    pub(crate) lookup: Option<usize>,
    pub(crate) cast: Cast,
    pub(crate) strict: bool,
    pub(crate) vocab: Arc<BoolVocab>,
    pub(crate) required: bool,
    pub(crate) on_missing: Policy,
    pub(crate) on_null: Policy,
    pub(crate) on_error: Policy,
    /// Already cast to `cast` at compile time.
    pub(crate) fallback: Option<Value>,
}

/// Where a mapping's value comes from.
pub(crate) enum Source {
    /// A JSONPath against the input, the context or a binding.
    Path(Base, Path),
    /// A whole binding, the whole context or the whole input.
    Base(Base),
    /// A minijinja expression.
    Expr(Jinja),
    /// A minijinja template whose output is parsed as JSON.
    Template(Jinja),
    /// A constant.
    Value(Value),
    /// The current time.
    Now(NowFormat),
}

/// The value a path is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    Input,
    Context,
    Binding(usize),
}

/// How the current time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NowFormat {
    /// RFC 3339 text in UTC with milliseconds.
    Rfc3339,
    /// Integer milliseconds since the Unix epoch.
    UnixMs,
    /// Integer seconds since the Unix epoch.
    Unix,
}

/// Cardinality: what to do with the nodes a path selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Select {
    /// Exactly one node; several is an error; none is missing.
    One,
    /// The first node; none is missing.
    First,
    /// The last node; none is missing.
    Last,
    /// All nodes as an array (possibly empty).
    All,
    /// The node whose member is the largest number (the first on a tie).
    MaxBy(String),
    /// The node whose member is the smallest number (the first on a tie).
    MinBy(String),
}

/// `to_object`: an array of entries -> an object.
#[derive(Debug, Clone)]
pub(crate) struct ToObject {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) skip_empty: bool,
}

/// A lookup table.
pub(crate) struct Lookup {
    pub(crate) name: String,
    pub(crate) entries: HashMap<String, Value>,
    pub(crate) default: Option<Value>,
}

/// The type a value is cast to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cast {
    /// Keep the value as it is.
    Keep,
    /// A string.
    String,
    /// A number (float or integer).
    Number,
    /// An integer.
    Integer,
    /// A boolean.
    Boolean,
    /// An object.
    Object,
    /// An array.
    Array,
    /// JSON null.
    Null,
    /// The value's JSON text, as a string.
    Json,
}

impl Cast {
    /// Every cast name accepted in rule files.
    pub const NAMES: &'static [&'static str] = &[
        "keep", "string", "number", "integer", "boolean", "object", "array", "null", "json",
    ];
    /// Other spellings accepted for some of them.
    pub const ALIASES: &'static [&'static str] = &["any", "float", "int", "bool"];

    /// The cast of a name in a rule file.
    pub fn from_name(s: &str) -> Option<Cast> {
        Some(match s {
            "keep" | "any" => Cast::Keep,
            "string" => Cast::String,
            "number" | "float" => Cast::Number,
            "integer" | "int" => Cast::Integer,
            "boolean" | "bool" => Cast::Boolean,
            "object" => Cast::Object,
            "array" => Cast::Array,
            "null" => Cast::Null,
            "json" => Cast::Json,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Cast::Keep => "keep",
            Cast::String => "string",
            Cast::Number => "number",
            Cast::Integer => "integer",
            Cast::Boolean => "boolean",
            Cast::Object => "object",
            Cast::Array => "array",
            Cast::Null => "null",
            Cast::Json => "json",
        }
    }
}

/// The strings a boolean cast recognizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoolVocab {
    /// Strings cast to `true`.
    pub truthy: Vec<String>,
    /// Strings cast to `false`; every other string fails the cast.
    pub falsy: Vec<String>,
}

impl Default for BoolVocab {
    fn default() -> Self {
        BoolVocab {
            truthy: vec!["true".into()],
            falsy: vec!["false".into()],
        }
    }
}

/// What happens when a value is missing, null, or fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Use the mapping's fallback; without one, skip the target.
    Fallback,
    /// Leave the target out.
    Skip,
    /// Fail the transform.
    Fail,
    /// Write JSON null.
    Null,
}

impl Policy {
    pub(crate) const NAMES: &'static [&'static str] = &["fallback", "skip", "fail", "null"];
    /// Other spellings accepted (the matrix style's `useFallback` and `error`).
    pub(crate) const ALIASES: &'static [&'static str] = &["useFallback", "use_fallback", "error"];

    pub(crate) fn from_name(s: &str) -> Option<Policy> {
        Some(match s {
            "fallback" | "useFallback" | "use_fallback" => Policy::Fallback,
            "skip" => Policy::Skip,
            "fail" | "error" => Policy::Fail,
            "null" => Policy::Null,
            _ => return None,
        })
    }
}

/// A predicate.
pub(crate) enum Cond {
    /// Compare the value at a path with a constant (RFC 9535 comparison semantics).
    Cmp {
        base: Base,
        path: Option<Path>,
        op: CmpOp,
        value: Value,
    },
    /// The value equals one of the constants.
    In {
        base: Base,
        path: Option<Path>,
        values: Vec<Value>,
    },
    /// The path selects at least one node (or none, when `want` is false).
    Exists {
        base: Base,
        path: Option<Path>,
        want: bool,
    },
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    /// A minijinja expression, true when its value is truthy.
    Expr(Jinja),
}

/// A compiled minijinja template (an expression is compiled as a template that sets
/// `__value`) and the variables it reads, so only those are converted per call.
pub(crate) struct Jinja {
    pub(crate) name: String,
    pub(crate) vars: Vec<JinjaVar>,
}

/// A variable a template or expression reads, and which of its members (only those are
/// converted for it).
#[derive(Debug)]
pub(crate) struct JinjaVar {
    pub(crate) name: String,
    pub(crate) base: Base,
    /// The member names it reads below the variable (`whole` when it reads the variable itself).
    pub(crate) reads: Projection,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A test declared with a rule.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// The test's name.
    pub name: String,
    /// The input payload as JSON text.
    pub input: String,
    /// The gateway context.
    pub context: Option<Value>,
    /// The clock the `now` sources read (pinned by the test's `now`).
    pub clock: crate::clock::Clock,
    /// What the rule must make of the input.
    pub expect: Expect,
    /// Where the test is declared (file name, line).
    pub location: (String, usize),
}

/// What a rule test expects.
#[derive(Debug, Clone)]
pub enum Expect {
    /// This output.
    Output(Value),
    /// A failure with this error code.
    Error(crate::Code),
    /// No rule applies.
    NoRule,
}

#[cfg(test)]
mod tests {
    #[test]
    fn plan_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Plan>();
    }
}
