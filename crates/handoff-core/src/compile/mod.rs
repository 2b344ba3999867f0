//! Compilation: rule files -> a checked, immutable [`Plan`], with every error collected.

mod files;
mod jinja;
mod mapping;

use std::collections::HashMap;
use std::fs;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::clock::Clock;
use crate::codes::Code;
use crate::diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile};
use crate::limits::Limits;
use crate::plan::output::{OutNode, TargetError, split_target};
use crate::plan::projection::Projection;
use crate::plan::{
    Binding, BoolVocab, Expect, Ignore, Jinja, Lookup, Plan, Policy, Rule, Schema, Target, TestCase,
};
use crate::rules::{RawFile, RawIgnore, RawLimits, RawRule, RawTest, SStr};
use jinja::{JinjaBuilder, resolve};
use mapping::{Defaults, list};

/// A successful compilation: the plan and the warnings found on the way.
#[derive(Debug)]
pub struct Compiled {
    /// The plan.
    pub plan: Plan,
    /// Warnings (the plan is usable).
    pub warnings: Vec<Diagnostic>,
}

/// Compiles rule files and folders (every `*.toml` below a folder, in path order).
pub fn compile_paths<P: AsRef<FsPath>>(paths: &[P]) -> Result<Compiled, Diagnostics> {
    let mut files = Vec::new();
    let mut diags = Vec::new();
    let mut root = None;
    for p in paths {
        let p = p.as_ref();
        if p.is_dir() {
            root.get_or_insert_with(|| p.to_path_buf());
            files::rule_files(p, &mut files, &mut diags);
        } else {
            root.get_or_insert_with(|| p.parent().map(FsPath::to_path_buf).unwrap_or_default());
            files.push(p.to_path_buf());
        }
    }
    let mut sources = Vec::new();
    for f in files {
        let name = f.display().to_string();
        match fs::read_to_string(&f) {
            Ok(text) => sources.push(SourceFile::new(name, text)),
            Err(e) => {
                let file = Arc::new(SourceFile::new(name.clone(), String::new()));
                diags.push(Diagnostic::error(
                    Code::Io,
                    &file,
                    0..0,
                    format!("cannot read {name}: {e}"),
                ));
            }
        }
    }
    if !diags.is_empty() {
        return Err(Diagnostics(diags));
    }
    compile_sources(sources, root)
}

/// Compiles one rule file given as text (`name` is how diagnostics and errors name it; its
/// templates and schemas are read beside it).
pub fn compile_text(name: &str, text: impl Into<String>) -> Result<Compiled, Diagnostics> {
    compile_sources(vec![SourceFile::new(name, text)], None)
}

/// Compiles rule files given as text. `root` is the folder templates and schemas are read from
/// and that template includes cannot leave (the rule file's folder when `None`).
pub fn compile_sources(
    sources: Vec<SourceFile>,
    root: Option<PathBuf>,
) -> Result<Compiled, Diagnostics> {
    let files: Vec<Arc<SourceFile>> = sources.into_iter().map(Arc::new).collect();
    let mut diags = Vec::new();
    let mut parsed = Vec::new();
    for (i, file) in files.iter().enumerate() {
        match toml::from_str::<RawFile>(&file.text) {
            Ok(raw) => parsed.push((i, raw)),
            Err(e) => diags.push(toml_error(file, &e)),
        }
    }
    let fuel = Limits::default().template_fuel;
    let mut builder = Builder {
        file_names: files.iter().map(|f| f.name.clone()).collect(),
        jinja: JinjaBuilder::new(fuel),
        root,
        rules: Vec::new(),
        by_name: HashMap::new(),
        tables: Vec::new(),
        reads: Vec::new(),
        diags,
        hasher: Sha256::new(),
        parse_limits: None,
    };
    for (i, raw) in &parsed {
        builder.file(&files[*i], *i, raw);
    }
    builder.finish(files)
}

fn toml_error(file: &Arc<SourceFile>, e: &toml::de::Error) -> Diagnostic {
    let span = e.span().unwrap_or(0..0);
    let message = e.message().trim().to_owned();
    if message.starts_with("unknown field") {
        let key = message.split('`').nth(1).unwrap_or("").to_owned();
        let hint = message.split_once(", expected ").map_or_else(
            || "remove the key".to_owned(),
            |(_, expected)| format!("expected {expected}"),
        );
        return Diagnostic::error(Code::UnknownKey, file, span, format!("unknown key `{key}`"))
            .with_hint(hint);
    }
    Diagnostic::error(Code::Toml, file, span, message)
        .with_hint("see docs/rules.md for the rule file format")
}

/// How many of `diags` are errors.
fn error_count(diags: &[Diagnostic]) -> usize {
    diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
}

/// The span of a spanned value.
pub(crate) fn span<T>(s: &Spanned<T>) -> Range<usize> {
    s.span()
}

/// TOML -> JSON (datetimes become their RFC 3339 text).
pub(crate) fn json_of(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(json_of).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.iter().map(|(k, v)| (k.clone(), json_of(v))).collect())
        }
    }
}

/// Sorted-key JSON text of a TOML value: what the rule-set hash is computed from.
fn normalized(v: &toml::Value) -> String {
    fn sort(v: Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(String, Value)> =
                    m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(sort).collect()),
            other => other,
        }
    }
    sort(json_of(v)).to_string()
}

struct Builder {
    file_names: Vec<String>,
    jinja: JinjaBuilder,
    root: Option<PathBuf>,
    rules: Vec<Rule>,
    by_name: HashMap<String, usize>,
    tables: Vec<Lookup>,
    /// What each rule reads of the input, in the order of `rules`.
    reads: Vec<Projection>,
    diags: Vec<Diagnostic>,
    hasher: Sha256,
    parse_limits: Option<Limits>,
}

/// What compiling one rule needs to see and write.
pub(crate) struct Ctx<'c> {
    pub(crate) file: &'c Arc<SourceFile>,
    pub(crate) dir: PathBuf,
    pub(crate) root: Option<&'c FsPath>,
    pub(crate) diags: &'c mut Vec<Diagnostic>,
    /// The lookup tables of this file, their plan-wide index offset, and which are used.
    pub(crate) tables: &'c [String],
    pub(crate) table_offset: usize,
    pub(crate) used_tables: &'c mut [bool],
    pub(crate) bindings: Vec<String>,
    pub(crate) used_bindings: &'c mut Vec<bool>,
    pub(crate) limits: Limits,
    pub(crate) projection: &'c mut Projection,
    pub(crate) jinja: &'c mut JinjaBuilder,
    pub(crate) hasher: &'c mut Sha256,
}

impl Ctx<'_> {
    pub(crate) fn error(
        &mut self,
        code: Code,
        at: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.report(Severity::Error, code, at, message.into(), hint.into());
    }

    pub(crate) fn warning(
        &mut self,
        code: Code,
        at: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.report(Severity::Warning, code, at, message.into(), hint.into());
    }

    fn report(
        &mut self,
        severity: Severity,
        code: Code,
        at: Range<usize>,
        message: String,
        hint: String,
    ) {
        self.diags
            .push(Diagnostic::new(severity, code, self.file, at, message).with_hint(hint));
    }

    pub(crate) fn error_count(&self) -> usize {
        error_count(self.diags)
    }

    /// Compiles an expression; its variables must be `input`, `context` or bindings.
    pub(crate) fn expr(&mut self, raw: &SStr) -> Option<Jinja> {
        let at = span(raw);
        let (line, _) = self.file.line_col(at.start);
        let name = format!("{}:{line}", self.file.name);
        match self.jinja.expression(&name, raw.get_ref()) {
            Ok(vars) => self.resolve(&name, &vars, at),
            Err(e) => {
                let s = e.range.map_or(at.clone(), |r| {
                    let start = (at.start + 1 + r.start).min(at.end);
                    start..(at.start + 1 + r.end).min(at.end).max(start)
                });
                self.error(
                    Code::ExprSyntax,
                    s,
                    format!("invalid expression: {}", e.message),
                    "see docs/rules.md, \"Expressions\"",
                );
                None
            }
        }
    }

    /// Compiles a template given as text (inline at `at`, or read from the file `file`), and
    /// loads the templates it names.
    pub(crate) fn template(
        &mut self,
        name: &str,
        text: String,
        at: Range<usize>,
        file: Option<&FsPath>,
    ) -> Option<Jinja> {
        self.hasher.update(text.as_bytes());
        let origin = match file {
            Some(path) => files::Origin::File(path),
            None => files::Origin::Inline(at.clone()),
        };
        // An included or imported template reads variables this one does not show: give it
        // everything (the whole input, the context and every binding so far).
        let composes = self.load_named(&text, origin);
        match self.jinja.template(name, text.clone()) {
            Ok(mut vars) => {
                if composes {
                    vars.extend(["input".to_owned(), "context".to_owned()]);
                    vars.extend(self.bindings.iter().cloned());
                }
                self.resolve(name, &vars, at)
            }
            Err(e) => {
                let line = e
                    .range
                    .map(|r| text[..r.start.min(text.len())].matches('\n').count() + 1);
                let message = match line {
                    Some(l) => format!("template {name}, line {l}: {}", e.message),
                    None => format!("template {name}: {}", e.message),
                };
                self.error(
                    Code::TemplateSyntax,
                    at,
                    message,
                    "see docs/rules.md, \"Templates\"",
                );
                None
            }
        }
    }

    fn resolve(&mut self, name: &str, vars: &[String], at: Range<usize>) -> Option<Jinja> {
        let (jinja, unknown) = resolve(name, vars, &self.bindings);
        // Any table of the file may be read with `lookup()`; which one is only known at run time.
        self.used_tables.iter_mut().for_each(|u| *u = true);
        for var in &jinja.vars {
            match var.base {
                crate::plan::Base::Input => self.projection.merge(&var.reads),
                crate::plan::Base::Binding(i) => self.used_bindings[i] = true,
                crate::plan::Base::Context => {}
            }
        }
        if !unknown.is_empty() {
            let hint = format!(
                "templates and expressions see `input`, `context`, the bindings defined above ({}) and `lookup(table, key)`",
                list(&self.bindings)
            );
            self.error(
                Code::UnknownBinding,
                at,
                format!("unknown variable `{}`", unknown.join("`, `")),
                hint,
            );
            return None;
        }
        Some(jinja)
    }
}

impl Builder {
    fn file(&mut self, file: &Arc<SourceFile>, index: usize, raw: &RawFile) {
        if let Ok(v) = toml::from_str::<toml::Value>(&file.text) {
            self.hasher.update(normalized(&v).as_bytes());
        }
        let dir = FsPath::new(&file.name)
            .parent()
            .map(FsPath::to_path_buf)
            .unwrap_or_default();
        let file_limits = self.limits(file, raw.limits.as_ref(), Limits::default());
        let first_table = self.tables.len();
        for (name, table) in &raw.lookup {
            if self.tables.iter().any(|t| t.name == *name.get_ref()) {
                self.diags.push(
                    Diagnostic::error(
                        Code::DuplicateLookup,
                        file,
                        span(name),
                        format!("a lookup table named `{}` already exists", name.get_ref()),
                    )
                    .with_hint(
                        "table names are shared by templates across the loaded files; rename one",
                    ),
                );
            }
            let entries = table
                .entries
                .iter()
                .map(|(k, v)| (k.clone(), json_of(v)))
                .collect();
            let default = table.default.as_ref().map(|d| json_of(d.get_ref()));
            self.tables.push(Lookup {
                name: name.get_ref().clone(),
                entries,
                default,
            });
        }
        let table_names: Vec<String> = self.tables[first_table..]
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let mut used_tables = vec![false; table_names.len()];
        if raw.rules.is_empty() {
            self.diags.push(
                Diagnostic::error(Code::NoRules, file, 0..0, "the file defines no rule")
                    .with_hint("add a `[[rule]]` table with a `name` and a `[rule.map]`"),
            );
        }
        for rule in &raw.rules {
            let limits = self.limits(file, rule.limits.as_ref(), file_limits);
            self.rule(
                file,
                index,
                &dir,
                rule,
                limits,
                (&table_names, first_table),
                &mut used_tables,
            );
        }
        for ((name, _), used) in raw.lookup.iter().zip(&used_tables) {
            if !used {
                self.diags.push(
                    Diagnostic::warning(
                        Code::Unused,
                        file,
                        span(name),
                        format!("lookup table `{}` is never used", name.get_ref()),
                    )
                    .with_hint(
                        "use it with `lookup = \"NAME\"` or `lookup(\"NAME\", key)`, or remove it",
                    ),
                );
            }
        }
    }

    fn limits(
        &mut self,
        file: &Arc<SourceFile>,
        raw: Option<&Spanned<RawLimits>>,
        base: Limits,
    ) -> Limits {
        let Some(raw) = raw else { return base };
        let mut l = base;
        let r = raw.get_ref();
        let mut set = |v: &Option<Spanned<i64>>, max: i64, name: &str| -> Option<u64> {
            let v = v.as_ref()?;
            let n = *v.get_ref();
            if n < 1 || n > max {
                self.diags.push(
                    Diagnostic::error(
                        Code::BadLimit,
                        file,
                        span(v),
                        format!("`{name}` must be between 1 and {max}, not {n}"),
                    )
                    .with_hint("see docs/rules.md, \"Limits\""),
                );
                return None;
            }
            Some(n as u64)
        };
        if let Some(n) = set(&r.path_depth, 1024, "path_depth") {
            l.path_depth = n as usize;
        }
        if let Some(n) = set(&r.payload_bytes, 1 << 30, "payload_bytes") {
            l.payload_bytes = n as usize;
        }
        if let Some(n) = set(
            &r.payload_depth,
            Limits::MAX_PAYLOAD_DEPTH as i64,
            "payload_depth",
        ) {
            l.payload_depth = n as usize;
        }
        if let Some(n) = set(&r.template_fuel, 1 << 40, "template_fuel") {
            l.template_fuel = n;
        }
        if let Some(n) = set(&r.template_bytes, 1 << 30, "template_bytes") {
            l.template_bytes = n as usize;
        }
        l
    }

    #[allow(clippy::too_many_arguments)]
    fn rule(
        &mut self,
        file: &Arc<SourceFile>,
        file_index: usize,
        dir: &FsPath,
        raw: &RawRule,
        limits: Limits,
        (table_names, table_offset): (&[String], usize),
        used_tables: &mut [bool],
    ) {
        let name = raw.name.get_ref().clone();
        if name.trim().is_empty() {
            self.diags.push(Diagnostic::error(
                Code::BadOption,
                file,
                span(&raw.name),
                "a rule name cannot be empty",
            ));
        } else if let Some(&other) = self.by_name.get(&name) {
            let first = &self.file_names[self.rules[other].file];
            self.diags.push(
                Diagnostic::error(
                    Code::DuplicateRule,
                    file,
                    span(&raw.name),
                    format!("a rule named `{name}` already exists"),
                )
                .with_hint(format!(
                    "first defined in {first}; rule names must be unique across the loaded files"
                )),
            );
        }
        let errors_before = error_count(&self.diags);
        let mut used_bindings: Vec<bool> = Vec::new();
        let mut lets = Vec::new();
        let mut ignores = Vec::new();
        let mut maps = Vec::new();
        let mut output = OutNode::Object(Vec::new());
        let mut reads = Projection::default();
        let when;
        let (output_schema, input_schema, passthrough, tests);
        {
            let mut cx = Ctx {
                file,
                dir: dir.to_path_buf(),
                root: self.root.as_deref(),
                diags: &mut self.diags,
                tables: table_names,
                table_offset,
                used_tables,
                bindings: Vec::new(),
                used_bindings: &mut used_bindings,
                limits,
                projection: &mut reads,
                jinja: &mut self.jinja,
                hasher: &mut self.hasher,
            };
            let on_missing = cx.policy(raw.on_missing.as_ref(), Policy::Fallback);
            let on_null = cx.policy(raw.on_null.as_ref(), Policy::Fallback);
            let on_error = cx.policy(raw.on_error.as_ref(), Policy::Fail);
            let strict = raw.cast_mode.as_ref().is_some_and(|m| cx.cast_mode(m));
            let mut vocab = BoolVocab::default();
            if let Some(t) = &raw.truthy {
                vocab.truthy = t.clone();
            }
            if let Some(f) = &raw.falsy {
                vocab.falsy = f.clone();
            }
            let defaults = Defaults {
                on_missing,
                on_null,
                on_error,
                strict,
                vocab: Arc::new(vocab),
            };
            passthrough = match raw.output.as_ref() {
                None => false,
                Some(o) if o.get_ref() == "strict" => false,
                Some(o) if o.get_ref() == "passthrough" => true,
                Some(o) => {
                    cx.error(
                        Code::BadOption,
                        span(o),
                        format!("unknown output mode `{}`", o.get_ref()),
                        "valid: strict, passthrough",
                    );
                    false
                }
            };
            if passthrough {
                cx.projection.whole = true;
            }
            when = raw.when.as_ref().and_then(|c| cx.cond(c));

            for (bname, m) in &raw.lets {
                let n = bname.get_ref();
                let ident = n
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ident || ["input", "context", "lookup"].contains(&n.as_str()) {
                    cx.error(
                        Code::BadBindingName,
                        span(bname),
                        format!("`{n}` cannot name a binding"),
                        "use an identifier (letters, digits, `_`) other than input, context and lookup",
                    );
                    cx.bindings.push(n.clone());
                    cx.used_bindings.push(true);
                    continue;
                }
                let compiled = cx.mapping(m, span(bname), &format!("let {n}"), &defaults);
                cx.bindings.push(n.clone());
                cx.used_bindings.push(false);
                if let Some(mapping) = compiled {
                    lets.push(Binding {
                        name: n.clone(),
                        mapping,
                    });
                }
            }
            for ig in &raw.ignore {
                if let Some(i) = ignore(&mut cx, &name, ig) {
                    ignores.push(i);
                }
            }
            for (target, alts) in &raw.map {
                let at = span(target);
                let slot = maps.len();
                match split_target(target.get_ref()) {
                    Err(_) => cx.error(
                        Code::BadTarget,
                        at.clone(),
                        format!("`{}` is not a target", target.get_ref()),
                        "a target is `field`, `a.b.c` or `$` (the whole output)",
                    ),
                    Ok(names) => {
                        if let Err(TargetError::Conflict(other)) = output.insert(&names, slot) {
                            let other: &Target = &maps[other];
                            cx.error(
                                Code::BadTarget,
                                at.clone(),
                                format!(
                                    "target `{}` overlaps target `{}`",
                                    target.get_ref(),
                                    other.name
                                ),
                                "a target cannot be inside another target's value",
                            );
                        }
                    }
                }
                let alternatives = alts.as_slice();
                let mut compiled = Vec::new();
                for (i, m) in alternatives.iter().enumerate() {
                    if i + 1 < alternatives.len() && m.when.is_none() {
                        cx.warning(
                            Code::Unreachable,
                            at.clone(),
                            format!("alternative {} of `{}` always applies, so the ones after it never do", i + 1, target.get_ref()),
                            "give it a `when`, or move it last",
                        );
                    }
                    if let Some(m) = cx.mapping(m, at.clone(), target.get_ref(), &defaults) {
                        compiled.push(m);
                    }
                }
                maps.push(Target {
                    name: target.get_ref().clone(),
                    alternatives: compiled,
                });
            }
            if raw.map.is_empty() && !passthrough {
                cx.error(
                    Code::Source,
                    span(&raw.name),
                    format!("rule `{name}` maps nothing"),
                    "add a `[rule.map]` table",
                );
            }
            output_schema = raw.output_schema.as_ref().and_then(|s| schema(&mut cx, s));
            input_schema = raw.input_schema.as_ref().and_then(|s| schema(&mut cx, s));
            if input_schema.is_some() {
                cx.projection.whole = true;
            }
            tests = raw
                .test
                .iter()
                .filter_map(|t| test(&mut cx, t))
                .collect::<Vec<_>>();
            let unused = raw
                .lets
                .keys()
                .zip(cx.used_bindings.iter())
                .filter(|(_, used)| !**used);
            let unused: Vec<&SStr> = unused.map(|(name, _)| name).collect();
            for name in unused {
                cx.warning(
                    Code::Unused,
                    span(name),
                    format!("binding `{}` is never used", name.get_ref()),
                    "read it with `from`, in an expression, or remove it",
                );
            }
        }
        if error_count(&self.diags) > errors_before {
            return;
        }
        self.parse_limits = Some(match self.parse_limits {
            None => limits,
            Some(p) => Limits {
                payload_bytes: p.payload_bytes.max(limits.payload_bytes),
                payload_depth: p.payload_depth.max(limits.payload_depth),
                template_fuel: p.template_fuel.max(limits.template_fuel),
                template_bytes: p.template_bytes.max(limits.template_bytes),
                path_depth: p.path_depth.max(limits.path_depth),
            },
        });
        self.by_name.insert(name.clone(), self.rules.len());
        self.reads.push(reads);
        self.rules.push(Rule {
            name,
            description: raw.description.clone(),
            file: file_index,
            when,
            lets,
            ignores,
            maps,
            output,
            passthrough,
            output_schema,
            input_schema,
            limits,
            tests,
        });
    }

    fn finish(mut self, files: Vec<Arc<SourceFile>>) -> Result<Compiled, Diagnostics> {
        if error_count(&self.diags) > 0 {
            return Err(Diagnostics(self.diags));
        }
        self.jinja.add_lookups(&self.tables);
        let parse_limits = self.parse_limits.unwrap_or_default();
        self.jinja.env.set_fuel(Some(parse_limits.template_fuel));
        let projection = Projection::of_rules(self.reads);
        let hash = self.hasher.finalize();
        let hash: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let plan = Plan {
            dispatch: crate::plan::dispatch::steps(&self.rules),
            rules: self.rules,
            by_name: self.by_name,
            tables: self.tables,
            projection,
            env: self.jinja.env,
            parse_limits,
            files,
            hash,
        };
        Ok(Compiled {
            plan,
            warnings: self.diags,
        })
    }
}

/// `[[rule.ignore]]`: its condition (which sees the bindings) and the body it writes.
fn ignore(cx: &mut Ctx<'_>, rule: &str, raw: &RawIgnore) -> Option<Ignore> {
    let reason = raw.reason.get_ref();
    let when = cx.cond(&raw.when);
    if reason.trim().is_empty() {
        cx.error(
            Code::BadOption,
            span(&raw.reason),
            "an ignore reason cannot be empty",
            "name why the payload is ignored, e.g. `intent_not_configured`",
        );
        return None;
    }
    let body = serde_json::json!({"outcome": "ignored", "reason": reason, "rule": rule});
    Some(Ignore {
        when: when?,
        reason: reason.clone(),
        body: body.to_string(),
    })
}

fn schema(cx: &mut Ctx<'_>, raw: &SStr) -> Option<Schema> {
    let text = cx.read_beside(raw)?;
    cx.hasher.update(text.as_bytes());
    let json: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            cx.error(
                Code::SchemaInvalid,
                span(raw),
                format!("{} is not JSON: {e}", raw.get_ref()),
                "a schema is a JSON file",
            );
            return None;
        }
    };
    match jsonschema::validator_for(&json) {
        Ok(validator) => Some(Schema {
            file: raw.get_ref().clone(),
            validator,
        }),
        Err(e) => {
            cx.error(
                Code::SchemaInvalid,
                span(raw),
                format!("{} is not a valid JSON Schema: {e}", raw.get_ref()),
                "see https://json-schema.org/draft/2020-12",
            );
            None
        }
    }
}

fn test(cx: &mut Ctx<'_>, t: &RawTest) -> Option<TestCase> {
    let at = span(&t.name);
    let (line, _) = cx.file.line_col(at.start);
    let input = match (&t.input, &t.input_json) {
        (Some(table), None) => json_of(&toml::Value::Table(table.clone())).to_string(),
        (None, Some(text)) => text.clone(),
        _ => {
            cx.error(
                Code::BadTest,
                at,
                "a test needs exactly one of `input` and `input_json`",
                "input_json may hold any text, even invalid JSON",
            );
            return None;
        }
    };
    let input = match &t.pad_input_to {
        None => input,
        Some(n) => {
            let want = *n.get_ref();
            if want < input.len() as i64 || want > 1 << 30 {
                cx.error(
                    Code::BadTest,
                    span(n),
                    format!(
                        "cannot pad an input of {} bytes to {want} bytes",
                        input.len()
                    ),
                    "give a size between the input's length and 1073741824",
                );
                return None;
            }
            let mut padded = input;
            let len = padded.len();
            padded.extend(std::iter::repeat_n(' ', want as usize - len));
            padded
        }
    };
    let context = match &t.context_json {
        None => None,
        Some(text) => match serde_json::from_str(text) {
            Ok(v) => Some(v),
            Err(e) => {
                cx.error(
                    Code::BadTest,
                    at,
                    format!("context_json is not JSON: {e}"),
                    "give the gateway context as JSON text",
                );
                return None;
            }
        },
    };
    let clock = match &t.now {
        None => Clock::System,
        Some(text) => match Clock::parse_rfc3339(text.get_ref()) {
            Ok(clock) => clock,
            Err(e) => {
                cx.error(
                    Code::BadTest,
                    span(text),
                    e,
                    "give the time with its offset: now = \"2026-11-11T06:25:16.250Z\"",
                );
                return None;
            }
        },
    };
    let expect = match (&t.expect, &t.expect_json, &t.expect_error, t.expect_no_rule) {
        (Some(table), None, None, None) => {
            Expect::Output(json_of(&toml::Value::Table(table.clone())))
        }
        (None, Some(text), None, None) => match serde_json::from_str(text) {
            Ok(v) => Expect::Output(v),
            Err(e) => {
                cx.error(
                    Code::BadTest,
                    at,
                    format!("expect_json is not JSON: {e}"),
                    "give the expected output as JSON text",
                );
                return None;
            }
        },
        (None, None, Some(code), None) => {
            match crate::Code::ALL
                .iter()
                .find(|c| c.to_string() == *code || c.slug() == code)
            {
                Some(c) => Expect::Error(*c),
                None => {
                    cx.error(
                        Code::BadTest,
                        at,
                        format!("unknown error code `{code}`"),
                        "see docs/errors.md",
                    );
                    return None;
                }
            }
        }
        (None, None, None, Some(true)) => Expect::NoRule,
        _ => {
            cx.error(
                Code::BadTest,
                at,
                "a test needs exactly one of `expect`, `expect_json`, `expect_error` and `expect_no_rule = true`",
                "see docs/rules.md, \"Tests\"",
            );
            return None;
        }
    };
    Some(TestCase {
        name: t.name.get_ref().clone(),
        input,
        context,
        clock,
        expect,
        location: (cx.file.name.clone(), line),
    })
}
