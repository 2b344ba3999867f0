//! A plan described in words: what each rule reads, writes, casts, and where it can fail.

use std::fmt;

use super::{Base, Cond, Mapping, Plan, Policy, Rule, Select, Source};

/// What a plan does, rule by rule (for `handoff explain` and for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInfo {
    /// The rules in dispatch order.
    pub rules: Vec<RuleInfo>,
    /// The rule-set hash.
    pub hash: String,
    /// Whether payloads are parsed whole (some rule needs everything) or projected.
    pub reads_whole_payload: bool,
}

/// One rule, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// The file it is defined in.
    pub file: String,
    /// When it applies (`None`: always).
    pub condition: Option<String>,
    /// The input JSONPaths it reads, deduplicated, in order.
    pub reads: Vec<String>,
    /// The named intermediate values.
    pub bindings: Vec<MappingInfo>,
    /// When the rule writes the "ignored" body instead of its mappings: `REASON when COND`.
    pub ignores: Vec<String>,
    /// The output fields and how each is made.
    pub mappings: Vec<MappingInfo>,
    /// Whether unmapped input passes through.
    pub passthrough: bool,
    /// Output schema file, if any.
    pub output_schema: Option<String>,
}

/// One mapping, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingInfo {
    /// The target field or binding name.
    pub target: String,
    /// Where the value comes from, then each step, in words.
    pub steps: Vec<String>,
    /// How it can fail (empty: it cannot).
    pub failures: Vec<String>,
}

pub(super) fn describe(plan: &Plan) -> PlanInfo {
    PlanInfo {
        rules: plan.rules.iter().map(|r| rule(plan, r)).collect(),
        hash: plan.hash.clone(),
        reads_whole_payload: plan.projection.is_whole(),
    }
}

fn rule(plan: &Plan, r: &Rule) -> RuleInfo {
    let names: Vec<&str> = r.lets.iter().map(|b| b.name.as_str()).collect();
    let mut reads = Vec::new();
    let mut note = |base: Base, text: &str| {
        if base == Base::Input && !reads.iter().any(|x| x == text) {
            reads.push(text.to_owned());
        }
    };
    let all = r
        .lets
        .iter()
        .map(|b| &b.mapping)
        .chain(r.maps.iter().flat_map(|t| &t.alternatives));
    for m in all {
        if let Source::Path(base, p) = &m.source {
            note(*base, &p.text);
        }
        if let Some(c) = &m.when {
            cond_paths(c, &mut note);
        }
    }
    if let Some(c) = &r.when {
        cond_paths(c, &mut note);
    }
    for i in &r.ignores {
        cond_paths(&i.when, &mut note);
    }
    RuleInfo {
        name: r.name.clone(),
        description: r.description.clone(),
        file: plan.files[r.file].name.clone(),
        condition: r.when.as_ref().map(|c| cond(c, &names)),
        reads,
        bindings: r
            .lets
            .iter()
            .map(|b| mapping(plan, &b.name, &b.mapping, &names))
            .collect(),
        ignores: r
            .ignores
            .iter()
            .map(|i| format!("`{}` when {}", i.reason, cond(&i.when, &names)))
            .collect(),
        mappings: r
            .maps
            .iter()
            .flat_map(|t| t.alternatives.iter().map(move |m| (t, m)))
            .map(|(t, m)| mapping(plan, &t.name, m, &names))
            .collect(),
        passthrough: r.passthrough,
        output_schema: r.output_schema.as_ref().map(|s| s.file.clone()),
    }
}

fn cond_paths(c: &Cond, note: &mut impl FnMut(Base, &str)) {
    match c {
        Cond::Cmp {
            base,
            path: Some(p),
            ..
        }
        | Cond::In {
            base,
            path: Some(p),
            ..
        }
        | Cond::Exists {
            base,
            path: Some(p),
            ..
        } => note(*base, &p.text),
        Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| cond_paths(c, note)),
        Cond::Not(c) => cond_paths(c, note),
        _ => {}
    }
}

fn base(b: Base, names: &[&str]) -> String {
    match b {
        Base::Input => "the input".to_owned(),
        Base::Context => "the gateway context".to_owned(),
        Base::Binding(i) => format!("binding `{}`", names.get(i).unwrap_or(&"?")),
    }
}

fn cond(c: &Cond, names: &[&str]) -> String {
    let at = |b: Base, p: &Option<super::path::Path>| match p {
        Some(p) => format!("{} of {}", p.text, base(b, names)),
        None => base(b, names),
    };
    match c {
        Cond::Cmp {
            base: b,
            path,
            op,
            value,
        } => format!("{} {} {value}", at(*b, path), op.symbol()),
        Cond::In {
            base: b,
            path,
            values,
        } => {
            let vs: Vec<String> = values.iter().map(ToString::to_string).collect();
            format!("{} is one of [{}]", at(*b, path), vs.join(", "))
        }
        Cond::Exists {
            base: b,
            path,
            want: true,
        } => format!("{} exists", at(*b, path)),
        Cond::Exists {
            base: b,
            path,
            want: false,
        } => format!("{} does not exist", at(*b, path)),
        Cond::All(cs) => format!("all of ({})", conds(cs, names)),
        Cond::Any(cs) => format!("any of ({})", conds(cs, names)),
        Cond::Not(c) => format!("not ({})", cond(c, names)),
        Cond::Expr(j) => format!("expression {} is true", j.name),
    }
}

fn conds(cs: &[Cond], names: &[&str]) -> String {
    cs.iter()
        .map(|c| cond(c, names))
        .collect::<Vec<_>>()
        .join("; ")
}

fn mapping(plan: &Plan, target: &str, m: &Mapping, names: &[&str]) -> MappingInfo {
    let mut steps = Vec::new();
    let mut failures = Vec::new();
    if let Some(c) = &m.when {
        steps.push(format!("only when {}", cond(c, names)));
    }
    steps.push(match &m.source {
        Source::Path(b, p) => format!("read {} from {}", p.text, base(*b, names)),
        Source::Base(b) => format!("take {}", base(*b, names)),
        Source::Expr(j) => format!("evaluate the expression at {}", j.name),
        Source::Template(j) => format!("render template {} and parse it as JSON", j.name),
        Source::Value(v) => format!("the constant {v}"),
        Source::Now(f) => format!("the current time ({f:?})"),
    });
    if matches!(m.source, Source::Expr(_)) {
        failures.push("the expression can fail".to_owned());
    }
    if matches!(m.source, Source::Template(_)) {
        failures.push("the template can fail or render text that is not JSON".to_owned());
    }
    if matches!(m.source, Source::Path(..)) {
        steps.push(match &m.select {
            Select::One => "expect exactly one node".to_owned(),
            Select::First => "take the first node".to_owned(),
            Select::Last => "take the last node".to_owned(),
            Select::All => "collect all nodes into an array".to_owned(),
            Select::MaxBy(f) => {
                format!("take the node with the largest `{f}` (the first on a tie)")
            }
            Select::MinBy(f) => {
                format!("take the node with the smallest `{f}` (the first on a tie)")
            }
        });
        if m.select == Select::One {
            failures.push(format!("several nodes: {}", policy(m.on_error, m)));
        }
    }
    if let Some(t) = &m.to_object {
        steps.push(format!(
            "build an object from `{}` -> `{}` entries{}",
            t.key,
            t.value,
            if t.skip_empty {
                ", skipping empty values"
            } else {
                ""
            }
        ));
    }
    if let Some(l) = m.lookup {
        let t = &plan.tables[l];
        let default = if t.default.is_some() {
            " (its default when the key is not in it)"
        } else {
            ""
        };
        steps.push(format!("look the value up in table `{}`{default}", t.name));
    }
    if m.cast != super::Cast::Keep {
        let mode = if m.strict { "strictly" } else { "leniently" };
        steps.push(format!("cast {mode} to {}", m.cast.name()));
        failures.push(format!("cast fails: {}", policy(m.on_error, m)));
    }
    if m.required {
        failures.push("missing or null: fail (required)".to_owned());
    } else {
        failures.push(format!("missing: {}", policy(m.on_missing, m)));
        failures.push(format!("null: {}", policy(m.on_null, m)));
    }
    failures.retain(|f| !f.ends_with(": write the value"));
    MappingInfo {
        target: target.to_owned(),
        steps,
        failures,
    }
}

fn policy(p: Policy, m: &Mapping) -> String {
    match (p, &m.fallback) {
        (Policy::Fallback, Some(f)) => format!("use the fallback {f}"),
        (Policy::Fallback, None) | (Policy::Skip, _) => "leave the field out".to_owned(),
        (Policy::Null, _) => "write null".to_owned(),
        (Policy::Fail, _) => "FAIL".to_owned(),
    }
}

impl fmt::Display for PlanInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parsing = if self.reads_whole_payload {
            "whole payloads"
        } else {
            "only the parts of a payload its rules read"
        };
        writeln!(
            f,
            "rule set {} ({} rule(s)); parses {parsing}",
            self.hash,
            self.rules.len()
        )?;
        for r in &self.rules {
            writeln!(f, "\nrule `{}` ({})", r.name, r.file)?;
            if let Some(d) = &r.description {
                writeln!(f, "  {d}")?;
            }
            match &r.condition {
                Some(c) => writeln!(f, "  applies when {c}")?,
                None => writeln!(f, "  applies to every payload")?,
            }
            writeln!(
                f,
                "  reads: {}",
                if r.reads.is_empty() {
                    "(nothing by path)".to_owned()
                } else {
                    r.reads.join(", ")
                }
            )?;
            let writes: Vec<&str> = r.mappings.iter().map(|m| m.target.as_str()).collect();
            writeln!(f, "  writes: {}", writes.join(", "))?;
            if r.passthrough {
                writeln!(f, "  passes unmapped input through")?;
            }
            if let Some(s) = &r.output_schema {
                writeln!(f, "  validates the output against {s}")?;
            }
            for (title, list) in [("bindings", &r.bindings), ("mappings", &r.mappings)] {
                if title == "mappings" && !r.ignores.is_empty() {
                    writeln!(
                        f,
                        "  ignored (an \"ignored\" body instead of the mappings):"
                    )?;
                    for i in &r.ignores {
                        writeln!(f, "    {i}")?;
                    }
                }
                if list.is_empty() {
                    continue;
                }
                writeln!(f, "  {title}:")?;
                for m in list {
                    writeln!(f, "    {}: {}", m.target, m.steps.join("; "))?;
                    if !m.failures.is_empty() {
                        writeln!(f, "      on problems: {}", m.failures.join("; "))?;
                    }
                }
            }
        }
        Ok(())
    }
}
