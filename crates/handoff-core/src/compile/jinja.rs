//! The plan's minijinja environment: strict, JSON-escaping, fuelled, with the domain's helpers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::value::Value as MjValue;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};

use crate::exec::jinja::RESULT_VAR;
use crate::plan::projection::Projection;
use crate::plan::{Base, Jinja, JinjaVar, Lookup};

/// A lookup table as templates see it: entries and the default (undefined when none).
type Table = (HashMap<String, MjValue>, MjValue);

/// Builds the environment and compiles templates and expressions into it.
pub(crate) struct JinjaBuilder {
    pub(crate) env: Environment<'static>,
    /// The templates loaded because another names them, by name, with the file each was read
    /// from. The environment has no loader: every template a plan renders is loaded when it
    /// compiles, from inside the rules folder (`files.rs`), so none is read at run time.
    pub(crate) loaded: HashMap<String, PathBuf>,
}

/// A compile error inside a template, with a byte range in the template source when known.
pub(crate) struct JinjaError {
    pub(crate) message: String,
    pub(crate) range: Option<std::ops::Range<usize>>,
}

impl JinjaBuilder {
    pub(crate) fn new(fuel: u64) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::Json);
        env.set_fuel(Some(fuel));
        env.set_recursion_limit(64);
        env.add_filter("max_by", |list: Vec<MjValue>, attr: String| {
            best_by(list, &attr, true)
        });
        env.add_filter("min_by", |list: Vec<MjValue>, attr: String| {
            best_by(list, &attr, false)
        });
        env.add_filter("to_object", to_object);
        // Declared now so that templates compiled before the tables are known see the name;
        // `add_lookups` replaces it.
        env.add_function("lookup", |_: String, _: MjValue| MjValue::UNDEFINED);
        JinjaBuilder {
            env,
            loaded: HashMap::new(),
        }
    }

    /// Makes the lookup tables callable as `lookup("table", key)`.
    pub(crate) fn add_lookups(&mut self, tables: &[Lookup]) {
        let tables: Arc<HashMap<String, Table>> = Arc::new(
            tables
                .iter()
                .map(|t| {
                    let entries = t
                        .entries
                        .iter()
                        .map(|(k, v)| (k.clone(), MjValue::from_serialize(v)))
                        .collect();
                    let default = t
                        .default
                        .as_ref()
                        .map_or(MjValue::UNDEFINED, MjValue::from_serialize);
                    (t.name.clone(), (entries, default))
                })
                .collect(),
        );
        self.env
            .add_function("lookup", move |table: String, key: MjValue| {
                let (entries, default) = tables.get(&table).ok_or_else(|| {
                    minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!("there is no lookup table `{table}`"),
                    )
                })?;
                let key = match key.as_str() {
                    Some(s) => s.to_owned(),
                    None => key.to_string(),
                };
                Ok(entries
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| default.clone()))
            });
    }

    /// Compiles an expression as a template that stores its value.
    pub(crate) fn expression(
        &mut self,
        name: &str,
        source: &str,
    ) -> Result<Vec<String>, JinjaError> {
        let prefix = format!("{{% set {RESULT_VAR} = (");
        let wrapped = format!("{prefix}{source}) %}}");
        self.add(name, wrapped).map_err(|mut e| {
            e.range = e
                .range
                .map(|r| r.start.saturating_sub(prefix.len())..r.end.saturating_sub(prefix.len()));
            e
        })
    }

    /// Compiles a template.
    pub(crate) fn template(
        &mut self,
        name: &str,
        source: String,
    ) -> Result<Vec<String>, JinjaError> {
        self.add(name, source)
    }

    fn add(&mut self, name: &str, source: String) -> Result<Vec<String>, JinjaError> {
        let err = |e: minijinja::Error| JinjaError {
            message: match e.detail() {
                Some(d) => format!("{}: {d}", e.kind()),
                None => e.kind().to_string(),
            },
            range: e.range(),
        };
        self.env
            .add_template_owned(name.to_owned(), source)
            .map_err(err)?;
        let tmpl = self.env.get_template(name).map_err(err)?;
        let mut vars: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
        // Functions such as `lookup` are globals, not variables the caller must supply.
        vars.retain(|v| {
            let top = v.split('.').next().unwrap_or(v);
            self.env.globals().all(|(name, _)| name != top)
        });
        vars.sort();
        Ok(vars)
    }
}

/// Resolves the variables a template reads: the top-level name of each must be `input`,
/// `context` or a binding. Returns the `Jinja` and the names that are unknown.
pub(crate) fn resolve(name: &str, vars: &[String], bindings: &[String]) -> (Jinja, Vec<String>) {
    let mut out: Vec<JinjaVar> = Vec::new();
    let mut unknown = Vec::new();
    for var in vars {
        let mut parts = var.split('.');
        let top = parts.next().unwrap_or(var);
        let base = match top {
            "input" => Base::Input,
            "context" => Base::Context,
            b => match bindings.iter().position(|n| n == b) {
                Some(i) => Base::Binding(i),
                None => {
                    if !unknown.iter().any(|u| u == top) {
                        unknown.push(top.to_owned());
                    }
                    continue;
                }
            },
        };
        let i = match out.iter().position(|v| v.name == top) {
            Some(i) => i,
            None => {
                out.push(JinjaVar {
                    name: top.to_owned(),
                    base,
                    reads: Projection::default(),
                });
                out.len() - 1
            }
        };
        out[i].reads.add_names(parts);
    }
    (
        Jinja {
            name: name.to_owned(),
            vars: out,
        },
        unknown,
    )
}

fn best_by(list: Vec<MjValue>, attr: &str, max: bool) -> MjValue {
    let mut top: Option<(MjValue, f64)> = None;
    for item in list {
        let Ok(score) = item.get_attr(attr) else {
            continue;
        };
        let Some(score) = f64::try_from(score).ok() else {
            continue;
        };
        let better = match &top {
            None => true,
            Some((_, s)) => (max && score > *s) || (!max && score < *s),
        };
        if better {
            top = Some((item, score));
        }
    }
    top.map_or(MjValue::UNDEFINED, |(v, _)| v)
}

/// Like the `to_object` step: keys must be non-empty strings, null and undefined values are
/// dropped, and `""` values too when `skip_empty` is true.
fn to_object(list: Vec<MjValue>, key: String, value: String, skip_empty: Option<bool>) -> MjValue {
    let skip_empty = skip_empty.unwrap_or(false);
    let mut map = indexmap::IndexMap::new();
    for item in list {
        let Ok(k) = item.get_attr(&key) else { continue };
        let Some(k) = k.as_str().filter(|k| !k.is_empty()).map(str::to_owned) else {
            continue;
        };
        match item.get_attr(&value) {
            Ok(v) if !(v.is_undefined() || v.is_none() || skip_empty && v.as_str() == Some("")) => {
                map.insert(k, v);
            }
            _ => {}
        }
    }
    MjValue::from_iter(map)
}
