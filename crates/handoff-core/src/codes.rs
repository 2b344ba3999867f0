//! The registry of stable error codes, one number range per layer.
//!
//! Never reuse or renumber a code that has appeared in a release: tools, dashboards and
//! dead-letter files key on them. Every code is documented in `docs/errors.md`.

use std::fmt;

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $num:literal, $slug:literal;)*) => {
        /// A stable error code (`E101`, ...). The number ranges are: 1xx rule files and
        /// TOML, 2xx JSONPath, 3xx expressions and templates, 4xx payloads (run time),
        /// 5xx mapping failures (run time), 6xx schemas, 9xx warnings.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $($(#[$doc])* $name = $num,)*
        }

        impl Code {
            /// Every code, in numeric order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The short machine-friendly name of the code, e.g. `unknown_key`.
            pub fn slug(self) -> &'static str {
                match self {
                    $(Code::$name => $slug,)*
                }
            }
        }
    };
}

codes! {
    /// The rule file could not be read.
    Io = 100, "io";
    /// The rule file is not valid TOML, or a key has the wrong type.
    Toml = 101, "toml";
    /// A key the rule format does not know.
    UnknownKey = 102, "unknown_key";
    /// Two rules share a name.
    DuplicateRule = 103, "duplicate_rule";
    /// A mapping names zero or several sources.
    Source = 104, "source";
    /// A cast name that does not exist.
    BadCast = 105, "bad_cast";
    /// A fallback that cannot be cast to the mapping's type.
    BadFallback = 106, "bad_fallback";
    /// A policy, mode or option value that does not exist.
    BadOption = 107, "bad_option";
    /// A target path that is empty, malformed or conflicts with another target.
    BadTarget = 108, "bad_target";
    /// A `from` or expression refers to a binding that is not defined before it.
    UnknownBinding = 109, "unknown_binding";
    /// A mapping refers to a lookup table that does not exist.
    UnknownLookup = 110, "unknown_lookup";
    /// A condition names zero or several operators.
    BadCondition = 111, "bad_condition";
    /// A rule file defines no rule, or a rule set has none (a runner's start or reload).
    NoRules = 112, "no_rules";
    /// A limit that is zero or out of range.
    BadLimit = 113, "bad_limit";
    /// A binding name that is reserved or not an identifier.
    BadBindingName = 114, "bad_binding_name";
    /// A step that does not fit the values it receives (e.g. `to_object` on one value).
    BadStep = 115, "bad_step";
    /// A rule test (`[[rule.test]]`) that is malformed.
    BadTest = 116, "bad_test";
    /// Two lookup tables share a name.
    DuplicateLookup = 117, "duplicate_lookup";
    /// A file a rule reads (template, include, schema) resolves outside the rules folder,
    /// through `..` or a symlink.
    OutsideRules = 118, "outside_rules_folder";
    /// A symlinked folder in the rules folder leads back to a folder it is in.
    SymlinkLoop = 119, "symlink_loop";
    /// A reload would drop a rule that traffic names (a gateway's forward target).
    NamedRuleDropped = 120, "named_rule_dropped";

    /// A JSONPath that is not valid RFC 9535.
    PathSyntax = 200, "path_syntax";
    /// A JSONPath with more segments than the rule's `path_depth` limit.
    PathTooDeep = 201, "path_too_deep";
    /// A JSONPath that may select several nodes, used without an explicit `select`.
    PathCardinality = 202, "path_cardinality";
    /// A JSONPath that is too long or too nested to parse safely.
    PathTooComplex = 203, "path_too_complex";

    /// A minijinja expression that does not compile.
    ExprSyntax = 300, "expr_syntax";
    /// A minijinja template that does not compile or cannot be loaded.
    TemplateSyntax = 301, "template_syntax";

    /// The payload is larger than `payload_bytes`.
    PayloadTooLarge = 400, "payload_too_large";
    /// The payload nests deeper than `payload_depth`.
    PayloadTooDeep = 401, "payload_too_deep";
    /// The payload is not valid JSON (or not UTF-8).
    InvalidJson = 402, "invalid_json";
    /// No rule's condition holds for the payload (an outcome, not a failure).
    NoRuleApplies = 403, "no_rule_applies";
    /// A rule was asked for by name and does not exist.
    UnknownRule = 404, "unknown_rule";
    /// The gateway's context is not valid JSON.
    InvalidContext = 405, "invalid_context";
    /// An input file (`.json`) that is empty or holds only white space.
    EmptyInput = 406, "empty_input";

    /// A required value is missing (absent key or no node).
    Missing = 500, "missing";
    /// A value is JSON null where the policy says fail.
    Null = 501, "null";
    /// A value cannot be cast to the mapping's type.
    CastFailed = 502, "cast_failed";
    /// A path selected several nodes where one was expected.
    Cardinality = 503, "cardinality";
    /// An expression failed at run time.
    ExprFailed = 504, "expr_failed";
    /// A template failed at run time (strict undefined, fuel exhausted, ...).
    TemplateFailed = 505, "template_failed";
    /// A template rendered text that is not JSON.
    TemplateNotJson = 506, "template_not_json";
    /// A step received a value it cannot work on (e.g. `to_object` on a string).
    StepFailed = 507, "step_failed";

    /// A JSON Schema file that cannot be read or compiled.
    SchemaInvalid = 600, "schema_invalid";
    /// The output does not validate against the rule's output schema.
    OutputSchema = 601, "output_schema";
    /// The input does not validate against the rule's input schema.
    InputSchema = 602, "input_schema";

    /// Warning: a binding or lookup table that nothing uses.
    Unused = 900, "unused";
    /// Warning: a fallback that no policy of the mapping can use.
    FallbackUnused = 901, "fallback_unused";
    /// Warning: an alternative that can never apply because an earlier one always does.
    Unreachable = 902, "unreachable";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{:03}", *self as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn codes_are_unique_and_sorted() {
        let nums: Vec<u16> = Code::ALL.iter().map(|c| *c as u16).collect();
        let mut sorted = nums.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(nums, sorted);
        assert_eq!(Code::PathTooDeep.to_string(), "E201");
    }

    #[test]
    fn every_code_is_documented_with_its_slug() {
        let docs = include_str!("../../../docs/errors.md");
        for code in Code::ALL {
            let row = format!("| {code} | `{}` |", code.slug());
            assert!(docs.contains(&row), "docs/errors.md has no row `{row}`");
        }
    }
}
