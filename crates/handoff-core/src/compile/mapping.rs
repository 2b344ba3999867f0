//! Compiling one mapping (or binding) and its conditions: sources, steps, casts, policies.

use std::ops::Range;

use toml::Spanned;

use super::{Ctx, json_of, span};
use crate::codes::Code;
use crate::exec::cast;
use crate::plan::path::{Path, PathError};
use crate::plan::projection::Leaf;
use crate::plan::{Base, Cast, CmpOp, Cond, Mapping, NowFormat, Policy, Select, Source, ToObject};
use crate::rules::{RawCond, RawMapping, SStr};

/// Rule-wide defaults a mapping inherits.
#[derive(Clone)]
pub(crate) struct Defaults {
    pub(crate) on_missing: Policy,
    pub(crate) on_null: Policy,
    pub(crate) on_error: Policy,
    pub(crate) strict: bool,
    pub(crate) vocab: std::sync::Arc<crate::plan::BoolVocab>,
}

impl Ctx<'_> {
    /// Compiles a mapping; `at` is the span of its target or binding name, `label` names it.
    pub(crate) fn mapping(
        &mut self,
        raw: &RawMapping,
        at: Range<usize>,
        label: &str,
        d: &Defaults,
    ) -> Option<Mapping> {
        let errors_before = self.error_count();
        let given: Vec<(&str, Range<usize>)> = [
            (
                "path",
                raw.path.as_ref().map(span).or(raw.from.as_ref().map(span)),
            ),
            ("expr", raw.expr.as_ref().map(span)),
            ("template", raw.template.as_ref().map(span)),
            ("template_file", raw.template_file.as_ref().map(span)),
            ("value", raw.value.as_ref().map(span)),
            ("now", raw.now.as_ref().map(span)),
        ]
        .into_iter()
        .filter_map(|(n, s)| s.map(|s| (n, s)))
        .collect();
        const SOURCES: &str = "give exactly one of `path` (with an optional `from`), `from`, `expr`, `template`, \
                               `template_file`, `value` or `now`";
        let source = match given.as_slice() {
            [] => {
                self.error(
                    Code::Source,
                    at.clone(),
                    format!("`{label}` has no source"),
                    SOURCES,
                );
                None
            }
            [_] => self.source(raw, label),
            [_, (second, s), ..] => {
                self.error(
                    Code::Source,
                    s.clone(),
                    format!("`{label}` has more than one source (`{second}`)"),
                    SOURCES,
                );
                None
            }
        };

        let singular = match &source {
            Some(Source::Path(_, p)) => Some(p.is_singular()),
            _ => None,
        };
        let select = self.select(raw, singular, at.clone(), label);
        let to_object = raw.to_object.as_ref().map(|t| {
            let t = t.get_ref();
            ToObject {
                key: t.key.clone(),
                value: t.value.clone(),
                skip_empty: t.skip_empty,
            }
        });
        let lookup = raw.lookup.as_ref().and_then(|l| self.table(l));
        if lookup.is_some() && select == Some(Select::All) && to_object.is_none() {
            self.error(
                Code::BadStep,
                raw.lookup.as_ref().map_or(at.clone(), span),
                "a lookup needs one key, but `select = \"all\"` gives an array",
                "select one node (`first`, `max_by`, ...) or drop the lookup",
            );
        }
        let cast = match &raw.cast {
            None => Cast::Keep,
            Some(c) => Cast::from_name(c.get_ref()).unwrap_or_else(|| {
                let hint = format!("valid casts: {}", Cast::NAMES.join(", "));
                self.error(
                    Code::BadCast,
                    span(c),
                    format!("unknown cast `{}`", c.get_ref()),
                    hint,
                );
                Cast::Keep
            }),
        };
        let strict = raw
            .cast_mode
            .as_ref()
            .map_or(d.strict, |m| self.cast_mode(m));
        let on_missing = self.policy(raw.on_missing.as_ref(), d.on_missing);
        let on_null = self.policy(raw.on_null.as_ref(), d.on_null);
        let on_error = self.policy(raw.on_error.as_ref(), d.on_error);
        let required = raw.required.as_ref().is_some_and(|r| *r.get_ref());
        let fallback = raw.fallback.as_ref().and_then(|f| {
            let json = json_of(f.get_ref());
            match cast::cast(std::borrow::Cow::Owned(json), cast, strict, &d.vocab) {
                Ok(v) => Some(v.into_owned()),
                Err((reason, v)) => {
                    self.error(
                        Code::BadFallback,
                        span(f),
                        format!(
                            "the fallback {v} cannot be cast to {}: {reason}",
                            cast.name()
                        ),
                        format!("give a fallback that is {} or change the cast", cast.name()),
                    );
                    None
                }
            }
        });
        if let Some(f) = &raw.fallback {
            let absent =
                (on_missing == Policy::Fallback || on_null == Policy::Fallback) && !required;
            let usable = absent || on_error == Policy::Fallback;
            if !usable {
                self.warning(
                    Code::FallbackUnused,
                    span(f),
                    format!("the fallback of `{label}` is never used"),
                    "no policy of this mapping that can apply is `fallback`",
                );
            }
        }
        let when = raw.when.as_ref().and_then(|c| self.cond(c));
        if self.error_count() > errors_before {
            return None;
        }
        Some(Mapping {
            when,
            source: source?,
            select: select.unwrap_or(Select::One),
            to_object,
            lookup,
            cast,
            strict,
            vocab: d.vocab.clone(),
            required,
            on_missing,
            on_null,
            on_error,
            fallback,
        })
    }

    /// `lookup = "NAME"`: the plan-wide index of a table of this file, marked used.
    fn table(&mut self, name: &SStr) -> Option<usize> {
        match self.tables.iter().position(|t| t == name.get_ref()) {
            Some(i) => {
                self.used_tables[i] = true;
                Some(self.table_offset + i)
            }
            None => {
                let hint = format!("tables defined in this file: {}", list(self.tables));
                self.error(
                    Code::UnknownLookup,
                    span(name),
                    format!("there is no lookup table `{}`", name.get_ref()),
                    hint,
                );
                None
            }
        }
    }

    fn source(&mut self, raw: &RawMapping, label: &str) -> Option<Source> {
        if raw.path.is_some() || raw.from.is_some() {
            let base = match &raw.from {
                Some(f) => self.base(f)?,
                None => Base::Input,
            };
            return match &raw.path {
                Some(p) => Some(Source::Path(base, self.path(p, base, Leaf::Whole)?)),
                None => {
                    if base == Base::Input {
                        self.projection.whole = true;
                    }
                    Some(Source::Base(base))
                }
            };
        }
        if let Some(e) = &raw.expr {
            return self.expr(e).map(Source::Expr);
        }
        if let Some(t) = &raw.template {
            let name = format!("{}#{label}", self.file.name);
            return self
                .template(&name, t.get_ref().clone(), span(t), None)
                .map(Source::Template);
        }
        if let Some(t) = &raw.template_file {
            let (name, path, text) = self.template_file(t)?;
            return self
                .template(&name, text, span(t), Some(&path))
                .map(Source::Template);
        }
        if let Some(v) = &raw.value {
            return Some(Source::Value(json_of(v.get_ref())));
        }
        if let Some(n) = &raw.now {
            let format = match n.get_ref().as_str() {
                "rfc3339" => NowFormat::Rfc3339,
                "unix_ms" => NowFormat::UnixMs,
                "unix" => NowFormat::Unix,
                other => {
                    self.error(
                        Code::BadOption,
                        span(n),
                        format!("unknown time format `{other}`"),
                        "valid formats: rfc3339, unix_ms, unix",
                    );
                    return None;
                }
            };
            return Some(Source::Now(format));
        }
        None
    }

    /// `from = "NAME"`: the input, the context or a binding defined before.
    pub(crate) fn base(&mut self, from: &SStr) -> Option<Base> {
        match from.get_ref().as_str() {
            "input" | "$" => Some(Base::Input),
            "context" => Some(Base::Context),
            name => match self.bindings.iter().position(|b| b == name) {
                Some(i) => {
                    self.used_bindings[i] = true;
                    Some(Base::Binding(i))
                }
                None => {
                    let hint = if self.bindings.is_empty() {
                        "`from` takes `input`, `context` or the name of a `[rule.let]` binding defined above".to_owned()
                    } else {
                        format!("bindings defined above: {}", list(&self.bindings))
                    };
                    self.error(
                        Code::UnknownBinding,
                        span(from),
                        format!("there is no binding `{name}` here"),
                        hint,
                    );
                    None
                }
            },
        }
    }

    /// Compiles a JSONPath, checks its depth and evaluation cost, and adds what it reads to the
    /// projection.
    pub(crate) fn path(&mut self, raw: &SStr, base: Base, leaf: Leaf) -> Option<Path> {
        let text = raw.get_ref();
        let at = span(raw);
        // The string's first character sits one byte after the opening quote (exact for
        // strings without escapes, which JSONPaths in TOML literal strings never have).
        let inner = |offset: usize| {
            let start = (at.start + 1 + offset).min(at.end.saturating_sub(1).max(at.start));
            start..(start + 1).min(at.end).max(start)
        };
        match Path::compile(text).and_then(|p| p.check_cost().map(|()| p)) {
            Err(PathError {
                offset,
                message,
                too_complex,
                hint,
            }) => {
                let code = if too_complex {
                    Code::PathTooComplex
                } else {
                    Code::PathSyntax
                };
                let hint = if let Some(hint) = hint {
                    hint
                } else if too_complex {
                    "split the path, or bind an intermediate value with `[rule.let]`"
                } else {
                    "JSONPath (RFC 9535) looks like `$.user.profile.tier`, `$.items[0]` or `$.items[?@.score > 0.5]`"
                };
                self.error(
                    code,
                    inner(offset),
                    format!("invalid JSONPath `{text}`: {message}"),
                    hint,
                );
                None
            }
            Ok(path) if path.depth() > self.limits.path_depth => {
                let message = format!(
                    "JSONPath `{text}` has {} segments, the limit is {}",
                    path.depth(),
                    self.limits.path_depth
                );
                let hint = "raise `limits.path_depth`, or bind an intermediate value with `[rule.let]` and read \
                            from it with `from`";
                self.error(Code::PathTooDeep, at, message, hint);
                None
            }
            Ok(path) => {
                if base == Base::Input {
                    self.projection.add_selected(&path.segments, leaf);
                }
                Some(path)
            }
        }
    }

    fn select(
        &mut self,
        raw: &RawMapping,
        singular: Option<bool>,
        at: Range<usize>,
        label: &str,
    ) -> Option<Select> {
        let by = [(&raw.max_by, true), (&raw.min_by, false)]
            .into_iter()
            .find_map(|(f, max)| f.as_ref().map(|f| (f, max)));
        let explicit = match (&raw.select, by) {
            (Some(_), Some((b, _))) => {
                self.error(
                    Code::BadStep,
                    span(b),
                    "`select` and `max_by`/`min_by` exclude each other",
                    "keep one",
                );
                return None;
            }
            (Some(s), None) => Some(match s.get_ref().as_str() {
                "one" => Select::One,
                "first" => Select::First,
                "last" => Select::Last,
                "all" => Select::All,
                other => {
                    self.error(
                        Code::BadOption,
                        span(s),
                        format!("unknown select `{other}`"),
                        "valid: one, first, last, all (or use max_by / min_by)",
                    );
                    return None;
                }
            }),
            (None, Some((b, true))) => Some(Select::MaxBy(b.get_ref().clone())),
            (None, Some((b, false))) => Some(Select::MinBy(b.get_ref().clone())),
            (None, None) => None,
        };
        match (singular, explicit) {
            // A path that did not compile has its own diagnostic.
            (None, Some(_)) if raw.path.is_some() => None,
            (None, Some(_)) => {
                let s = raw
                    .select
                    .as_ref()
                    .map(span)
                    .or(raw.max_by.as_ref().map(span))
                    .or(raw.min_by.as_ref().map(span));
                self.error(
                    Code::BadStep,
                    s.unwrap_or(at),
                    "a selection applies only to a `path` source",
                    "remove it, or read the value with `path`",
                );
                None
            }
            (Some(false), None) => {
                let p = raw.path.as_ref().map_or(at, span);
                self.error(
                    Code::PathCardinality,
                    p,
                    format!("the path of `{label}` can select several nodes, and the mapping does not say which"),
                    "add `select = \"first\"`, `\"last\"`, `\"all\"` or `\"one\"` (several is an error), or \
                     `max_by = \"field\"`",
                );
                None
            }
            (_, s) => s,
        }
    }

    pub(crate) fn cast_mode(&mut self, m: &SStr) -> bool {
        match m.get_ref().as_str() {
            "lenient" => false,
            "strict" => true,
            other => {
                self.error(
                    Code::BadOption,
                    span(m),
                    format!("unknown cast_mode `{other}`"),
                    "valid: lenient, strict",
                );
                false
            }
        }
    }

    pub(crate) fn policy(&mut self, raw: Option<&SStr>, default: Policy) -> Policy {
        let Some(raw) = raw else { return default };
        Policy::from_name(raw.get_ref()).unwrap_or_else(|| {
            let hint = format!("valid policies: {}", Policy::NAMES.join(", "));
            self.error(
                Code::BadOption,
                span(raw),
                format!("unknown policy `{}`", raw.get_ref()),
                hint,
            );
            default
        })
    }

    fn conds(&mut self, list: &[Spanned<RawCond>]) -> Option<Vec<Cond>> {
        list.iter().map(|c| self.cond(c)).collect()
    }

    /// Compiles a condition.
    pub(crate) fn cond(&mut self, raw: &Spanned<RawCond>) -> Option<Cond> {
        let at = span(raw);
        let c = raw.get_ref();
        let ops: Vec<&str> = [
            ("eq", c.eq.is_some()),
            ("ne", c.ne.is_some()),
            ("lt", c.lt.is_some()),
            ("le", c.le.is_some()),
            ("gt", c.gt.is_some()),
            ("ge", c.ge.is_some()),
            ("in", c.in_.is_some()),
            ("exists", c.exists.is_some()),
            ("all", c.all.is_some()),
            ("any", c.any.is_some()),
            ("not", c.not.is_some()),
            ("expr", c.expr.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect();
        const HINT: &str = "a condition is one of `{ path = \"$.x\", eq = 1 }` (or ne, lt, le, gt, ge, in, exists), \
                            `{ all = [...] }`, `{ any = [...] }`, `{ not = {...} }` or `{ expr = \"...\" }`";
        if ops.len() != 1 {
            let what = if ops.is_empty() {
                "no operator".to_owned()
            } else {
                format!("several operators ({})", ops.join(", "))
            };
            self.error(
                Code::BadCondition,
                at,
                format!("the condition has {what}"),
                HINT,
            );
            return None;
        }
        let op = ops[0];
        let located = matches!(
            op,
            "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "in" | "exists"
        );
        if !located && (c.path.is_some() || c.from.is_some()) {
            self.error(
                Code::BadCondition,
                at,
                format!("`{op}` takes no `path` or `from`"),
                HINT,
            );
            return None;
        }
        if located && c.path.is_none() && c.from.is_none() {
            self.error(
                Code::BadCondition,
                at,
                format!("`{op}` needs a `path` or a `from`"),
                HINT,
            );
            return None;
        }
        let base = match &c.from {
            Some(f) => self.base(f)?,
            None => Base::Input,
        };
        let path = match &c.path {
            Some(p) if op == "exists" => Some(self.path(p, base, Leaf::Shell)?),
            Some(p) => Some(self.path(p, base, Leaf::Whole)?),
            None => {
                if base == Base::Input && located {
                    self.projection.whole = true;
                }
                None
            }
        };
        if op != "exists" {
            if let (Some(p), Some(raw_path)) = (&path, &c.path) {
                if !p.is_singular() {
                    self.error(
                        Code::PathCardinality,
                        span(raw_path),
                        format!("`{op}` compares one value, but `{}` can select several", p.text),
                        "use a singular path (names and indices only), or `exists` with a filter path",
                    );
                    return None;
                }
            }
        }
        let cmp = |op: CmpOp, v: &Spanned<toml::Value>| Cond::Cmp {
            base,
            path: None,
            op,
            value: json_of(v.get_ref()),
        };
        let mut cond = match op {
            "eq" => cmp(CmpOp::Eq, c.eq.as_ref()?),
            "ne" => cmp(CmpOp::Ne, c.ne.as_ref()?),
            "lt" => cmp(CmpOp::Lt, c.lt.as_ref()?),
            "le" => cmp(CmpOp::Le, c.le.as_ref()?),
            "gt" => cmp(CmpOp::Gt, c.gt.as_ref()?),
            "ge" => cmp(CmpOp::Ge, c.ge.as_ref()?),
            "in" => Cond::In {
                base,
                path: None,
                values: c.in_.as_ref()?.get_ref().iter().map(json_of).collect(),
            },
            "exists" => Cond::Exists {
                base,
                path: None,
                want: *c.exists.as_ref()?.get_ref(),
            },
            "all" => Cond::All(self.conds(c.all.as_ref()?)?),
            "any" => Cond::Any(self.conds(c.any.as_ref()?)?),
            "not" => Cond::Not(Box::new(self.cond(c.not.as_ref()?)?)),
            _ => Cond::Expr(self.expr(c.expr.as_ref()?)?),
        };
        match &mut cond {
            Cond::Cmp { path: p, .. } | Cond::In { path: p, .. } | Cond::Exists { path: p, .. } => {
                *p = path
            }
            _ => {}
        }
        Some(cond)
    }
}

/// `a, b, c` for hints.
pub(crate) fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}
