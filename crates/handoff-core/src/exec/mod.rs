//! Execution: one payload through a plan. The hot path: no rule parsing, few allocations.

mod call;
pub(crate) mod cast;
pub(crate) mod doc;
#[cfg(test)]
mod equivalence;
pub(crate) mod input;
pub(crate) mod jinja;

use std::borrow::Cow;

use serde::ser::{Serialize, Serializer};
use serde_json::Value;

use crate::codes::Code;
use crate::error::Error;
use crate::plan::dispatch::{Keyed, Step};
use crate::plan::output::Filled;
use crate::plan::path::{Nodes, Path};
use crate::plan::{Base, Cast, CmpOp, Cond, Mapping, Plan, Policy, Rule, Schema, Select, Source};
pub use call::Call;
use call::Now;
use doc::Node;
use input::Input;

/// What a transform did with a payload that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'p> {
    /// The rule of this name wrote the output.
    Transformed {
        /// The rule's name.
        rule: &'p str,
    },
    /// A `[[rule.ignore]]` reason of this rule held: its ignored body
    /// (`{"outcome":"ignored","reason":…,"rule":…}`) was written instead of the mappings.
    Ignored {
        /// The rule's name.
        rule: &'p str,
        /// The reason that held.
        reason: &'p str,
    },
    /// No rule's condition holds; nothing was written.
    NoRule {
        /// Which conditions were tried.
        reason: String,
    },
}

impl Plan {
    /// Transforms a raw payload with the first rule whose condition holds, appending the output
    /// JSON to `out` (nothing is appended when no rule applies or the transform fails).
    pub fn transform(
        &self,
        payload: &[u8],
        context: Option<&Value>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome<'_>, Error> {
        self.execute(Call::new(context), payload, out)
    }

    /// Transforms a raw payload with the named rule (its condition, if any, must hold).
    pub fn transform_rule(
        &self,
        rule: &str,
        payload: &[u8],
        context: Option<&Value>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome<'_>, Error> {
        self.execute(Call::new(context).rule(Some(rule)), payload, out)
    }

    /// Like [`Plan::transform`] (or [`Plan::transform_rule`] with `Some(rule)`), returning
    /// the output as a `Value`.
    pub fn transform_value(
        &self,
        rule: Option<&str>,
        payload: &[u8],
        context: Option<&Value>,
    ) -> Result<(Outcome<'_>, Option<Value>), Error> {
        self.execute_value(Call::new(context).rule(rule), payload)
    }

    /// Like [`Plan::execute`], returning the output as a `Value`.
    pub fn execute_value(
        &self,
        call: Call<'_>,
        payload: &[u8],
    ) -> Result<(Outcome<'_>, Option<Value>), Error> {
        let mut out = Vec::new();
        let outcome = self.execute(call, payload, &mut out)?;
        let value = match outcome {
            Outcome::Transformed { .. } | Outcome::Ignored { .. } => {
                Some(serde_json::from_slice(&out).map_err(|e| {
                    Error::new(Code::InvalidJson, format!("output is not JSON: {e}"))
                })?)
            }
            Outcome::NoRule { .. } => None,
        };
        Ok((outcome, value))
    }

    /// Transforms a raw payload as `call` says (the rule, the context, the clock), appending
    /// the output JSON to `out` (nothing is appended when no rule applies or it fails).
    pub fn execute(
        &self,
        call: Call<'_>,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Outcome<'_>, Error> {
        let named = match call.rule {
            Some(name) => Some(*self.by_name.get(name).ok_or_else(|| {
                Error::new(
                    Code::UnknownRule,
                    format!("there is no rule named `{name}`"),
                )
            })?),
            None => None,
        };
        let limits = named.map_or(&self.parse_limits, |i| &self.rules[i].limits);
        let state = input::State::new(limits.payload_depth);
        let parsed = input::parse(payload, &self.projection, limits.payload_bytes, &state)?;
        let start = out.len();
        let result = self.dispatch(named, &parsed, &call, out);
        drop(parsed);
        // A deferred part that could not be built fails the transform, as it would have failed
        // the parse had it been built then; what was written is taken back.
        match (state.into_failure(), result) {
            (Some(e), _) | (None, Err(e)) => {
                out.truncate(start);
                Err(e)
            }
            (None, Ok(outcome)) => Ok(outcome),
        }
    }

    /// Runs the named rule, or the first rule whose condition holds, on a parsed payload.
    fn dispatch(
        &self,
        named: Option<usize>,
        input: &Input<'_>,
        call: &Call<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome<'_>, Error> {
        if let Some(i) = named {
            let rule = &self.rules[i];
            if self.applies(rule, input, call)? {
                return self.apply(rule, input, call, out);
            }
            return Ok(Outcome::NoRule {
                reason: format!("the condition of no rule holds (tried {})", rule.name),
            });
        }
        for step in &self.dispatch {
            let rule = match step {
                Step::Rule(i) => {
                    let rule = &self.rules[*i];
                    if !self.applies(rule, input, call)? {
                        continue;
                    }
                    rule
                }
                Step::Keyed(k) => match self.keyed(k, input, call) {
                    Some(i) => &self.rules[i],
                    None => continue,
                },
            };
            return self.apply(rule, input, call, out);
        }
        Ok(Outcome::NoRule {
            reason: format!("the condition of no rule holds (tried {})", self.tried()),
        })
    }

    /// Whether the rule's `when` holds (a rule without one always applies).
    fn applies(&self, rule: &Rule, input: &Input<'_>, call: &Call<'_>) -> Result<bool, Error> {
        match &rule.when {
            Some(c) => Frame::new(self, rule, input, call)
                .holds(c)
                .map_err(|e| e.with_rule(&rule.name)),
            None => Ok(true),
        }
    }

    /// The rule of a keyed run whose constant equals the value its condition reads.
    fn keyed(&self, k: &Keyed, input: &Input<'_>, call: &Call<'_>) -> Option<usize> {
        let first = &self.rules[k.first];
        let Some(Cond::Cmp { base, path, .. }) = &first.when else {
            return None;
        };
        let frame = Frame::new(self, first, input, call);
        let got = frame.single(*base, path.as_ref())?;
        k.index.get(got.get().as_str()?).copied()
    }

    /// Runs a rule that applies: its own limits, then its bindings and mappings. The depth is
    /// checked again after them, since they may have built deferred parts of the payload.
    fn apply<'p>(
        &'p self,
        rule: &'p Rule,
        input: &Input<'_>,
        call: &Call<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Outcome<'p>, Error> {
        check_rule_limits(rule, input.bytes(), input.depth())?;
        let frame = Frame::new(self, rule, input, call);
        let ignored = frame.run(out).map_err(|e| e.with_rule(&rule.name))?;
        check_rule_depth(rule, input.depth())?;
        Ok(match ignored {
            Some(i) => Outcome::Ignored {
                rule: &rule.name,
                reason: &rule.ignores[i].reason,
            },
            None => Outcome::Transformed { rule: &rule.name },
        })
    }

    /// The rules tried, for the "no rule applies" reason (the first ten, then a count).
    fn tried(&self) -> String {
        let mut names: Vec<&str> = self
            .rules
            .iter()
            .take(10)
            .map(|r| r.name.as_str())
            .collect();
        if self.rules.len() > 10 {
            names.push("…");
        }
        let list = names.join(", ");
        if self.rules.len() > 10 {
            format!("{list} ({} rules)", self.rules.len())
        } else {
            list
        }
    }
}

/// The rule's own payload limits (the parse used the most generous of all rules').
fn check_rule_limits(rule: &Rule, bytes: usize, depth: usize) -> Result<(), Error> {
    if bytes > rule.limits.payload_bytes {
        return Err(Error::new(
            Code::PayloadTooLarge,
            format!(
                "payload is {bytes} bytes, the limit is {}",
                rule.limits.payload_bytes
            ),
        )
        .with_rule(&rule.name));
    }
    check_rule_depth(rule, depth)
}

/// The rule's own depth limit, on what has been built so far.
fn check_rule_depth(rule: &Rule, depth: usize) -> Result<(), Error> {
    if depth > rule.limits.payload_depth {
        return Err(Error::new(
            Code::PayloadTooDeep,
            format!(
                "payload nests deeper than {} levels",
                rule.limits.payload_depth
            ),
        )
        .with_rule(&rule.name));
    }
    Ok(())
}

/// A value on its way through a mapping: a node (of the payload, a constant, the context), a
/// value computed on the way, or the members `to_object` collected (serialized as an object
/// without building one).
enum Item<'a> {
    Node(Node<'a>),
    Owned(Value),
    Entries(Vec<(&'a str, Node<'a>)>),
}

impl<'a> Item<'a> {
    fn borrowed(v: &'a Value) -> Self {
        Item::Node(Node::Json(v))
    }

    /// The item as a node, unless it is `to_object`'s members.
    fn as_node(&self) -> Option<Node<'_>> {
        match self {
            Item::Node(n) => Some(*n),
            Item::Owned(v) => Some(Node::Json(v)),
            Item::Entries(_) => None,
        }
    }

    /// The item as a `Value`: borrowed, except for a projected container or entries
    /// (converted).
    fn into_cow(self) -> Cow<'a, Value> {
        match self {
            Item::Node(n) => n.value(),
            Item::Owned(v) => Cow::Owned(v),
            Item::Entries(entries) => Cow::Owned(object_of(&entries)),
        }
    }

    fn from_cow(v: Cow<'a, Value>) -> Self {
        match v {
            Cow::Borrowed(v) => Item::borrowed(v),
            Cow::Owned(v) => Item::Owned(v),
        }
    }

    fn is_null(&self) -> bool {
        self.as_node().is_some_and(Node::is_null)
    }

    /// The item as a `Value`, converted where it is not one.
    fn value(&self) -> Cow<'_, Value> {
        match self {
            Item::Node(n) => n.value(),
            Item::Owned(v) => Cow::Borrowed(v),
            Item::Entries(entries) => Cow::Owned(object_of(entries)),
        }
    }

    /// The item as a binding: entries become an object.
    fn bound(self) -> Bound<'a> {
        match self {
            Item::Node(n) => Bound::Node(n),
            Item::Owned(v) => Bound::Owned(v),
            entries @ Item::Entries(_) => Bound::Owned(entries.into_cow().into_owned()),
        }
    }

    fn into_owned<'b>(self) -> Item<'b> {
        match self {
            Item::Owned(v) => Item::Owned(v),
            other => Item::Owned(other.into_cow().into_owned()),
        }
    }
}

/// The object of `to_object`'s members.
fn object_of(entries: &[(&str, Node<'_>)]) -> Value {
    Value::Object(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.value().into_owned()))
            .collect(),
    )
}

impl Serialize for Item<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Node(n) => n.serialize(s),
            Item::Owned(v) => v.serialize(s),
            Item::Entries(entries) => s.collect_map(entries.iter().map(|(k, v)| (k, v))),
        }
    }
}

/// A binding's value, which paths read: a node, or a value the frame owns.
enum Bound<'a> {
    Node(Node<'a>),
    Owned(Value),
}

/// A value on its way through a mapping.
enum Val<'a> {
    Missing,
    One(Item<'a>),
    /// The nodes a multi-node selection kept, not yet copied into an array.
    Nodes(Vec<Node<'a>>),
}

impl Val<'_> {
    fn into_owned<'b>(self) -> Val<'b> {
        match self {
            Val::Missing => Val::Missing,
            Val::One(v) => Val::One(v.into_owned()),
            Val::Nodes(n) => Val::One(Item::Owned(array(n))),
        }
    }
}

/// The nodes as one array value.
fn array(nodes: Vec<Node<'_>>) -> Value {
    Value::Array(nodes.into_iter().map(|n| n.value().into_owned()).collect())
}

/// Why a mapping has no value; turned into an [`Error`] only when the policy says fail, so a
/// problem that a fallback handles allocates nothing.
enum Problem<'a> {
    Missing,
    Null(Item<'a>),
    Cast(&'static str, Item<'a>),
    Other(Error),
}

/// A binding's or the input's node: borrowed for the whole call, or only from the frame.
enum BaseRef<'a, 'f> {
    Long(Node<'a>),
    Short(&'f Value),
}

impl BaseRef<'_, '_> {
    fn get(&self) -> Node<'_> {
        match self {
            BaseRef::Long(v) => *v,
            BaseRef::Short(v) => Node::Json(v),
        }
    }
}

/// The state of one rule's run on one payload.
pub(crate) struct Frame<'a> {
    pub(crate) plan: &'a Plan,
    rule: &'a Rule,
    input: &'a Input<'a>,
    context: Option<&'a Value>,
    now: Now,
    bindings: Vec<Option<Bound<'a>>>,
}

impl<'a> Frame<'a> {
    fn new(plan: &'a Plan, rule: &'a Rule, input: &'a Input<'a>, call: &Call<'a>) -> Self {
        Frame {
            plan,
            rule,
            input,
            context: call.context,
            now: Now::new(call.clock),
            bindings: Vec::new(),
        }
    }

    /// Runs the rule's bindings and mappings and writes the output; returns which ignore
    /// reason held when the ignored body was written instead.
    fn run(mut self, out: &mut Vec<u8>) -> Result<Option<usize>, Error> {
        let rule = self.rule;
        if let Some(schema) = &rule.input_schema {
            validate(schema, self.input.value(), Code::InputSchema)?;
        }
        self.bindings.reserve(rule.lets.len());
        for b in &rule.lets {
            let v = self
                .mapping(&b.mapping)
                .map_err(|e| e.with_target(&format!("let {}", b.name)))?;
            self.bindings.push(v.flatten().map(Item::bound));
        }
        for (i, ignore) in rule.ignores.iter().enumerate() {
            let holds = self
                .holds(&ignore.when)
                .map_err(|e| e.with_target(&format!("ignore {}", ignore.reason)))?;
            if holds {
                out.extend_from_slice(ignore.body.as_bytes());
                return Ok(Some(i));
            }
        }
        let mut slots: Vec<Option<Item<'a>>> = Vec::with_capacity(rule.maps.len());
        for t in &rule.maps {
            let mut slot = None;
            for m in &t.alternatives {
                if let Some(v) = self.mapping(m).map_err(|e| e.with_target(&t.name))? {
                    slot = v;
                    break;
                }
            }
            slots.push(slot);
        }
        let start = out.len();
        let written = if rule.passthrough || rule.output_schema.is_some() {
            let slots: Vec<Option<Cow<'_, Value>>> =
                slots.into_iter().map(|s| s.map(Item::into_cow)).collect();
            let value = if rule.passthrough {
                let mut value = self.input.value().clone();
                rule.output.merge_into(&mut value, &slots);
                value
            } else {
                rule.output.to_value(&slots)
            };
            if let Some(schema) = &rule.output_schema {
                validate(schema, &value, Code::OutputSchema)?;
            }
            serde_json::to_writer(&mut *out, &value)
        } else {
            serde_json::to_writer(
                &mut *out,
                &Filled {
                    node: &rule.output,
                    slots: &slots,
                },
            )
        };
        written.map(|()| None).map_err(|e| {
            out.truncate(start);
            Error::new(Code::InvalidJson, format!("cannot write the output: {e}"))
        })
    }

    /// One mapping: `None` when its condition does not hold, `Some(None)` when it skips.
    fn mapping(&self, m: &'a Mapping) -> Result<Option<Option<Item<'a>>>, Error> {
        if let Some(c) = &m.when {
            if !self.holds(c)? {
                return Ok(None);
            }
        }
        let problem = match self.value(m) {
            Ok(Val::Missing) => Problem::Missing,
            Ok(Val::One(v)) if v.is_null() => Problem::Null(v),
            Ok(Val::One(v)) if m.cast == Cast::Keep => return Ok(Some(Some(v))),
            Ok(Val::One(v)) => {
                // A string is cast from its text, not copied into a Value first.
                let string = v.as_node().and_then(Node::as_str);
                match string.map(|s| cast::convert_str(s, m.cast, m.strict, &m.vocab)) {
                    Some(Ok(None)) => return Ok(Some(Some(v))),
                    Some(Ok(Some(new))) => return Ok(Some(Some(Item::Owned(new)))),
                    Some(Err(reason)) => Problem::Cast(reason, v),
                    None => match cast::cast(v.into_cow(), m.cast, m.strict, &m.vocab) {
                        Ok(v) => return Ok(Some(Some(Item::from_cow(v)))),
                        Err((reason, v)) => Problem::Cast(reason, Item::from_cow(v)),
                    },
                }
            }
            Ok(Val::Nodes(_)) => unreachable!("value() materializes node lists"),
            Err(e) => Problem::Other(e),
        };
        let policy = match problem {
            Problem::Missing | Problem::Null(_) if m.required => Policy::Fail,
            Problem::Missing => m.on_missing,
            Problem::Null(_) => m.on_null,
            Problem::Cast(..) | Problem::Other(_) => m.on_error,
        };
        Ok(Some(match policy {
            Policy::Fallback => m.fallback.as_ref().map(Item::borrowed),
            Policy::Skip => None,
            Policy::Null => Some(Item::Owned(Value::Null)),
            Policy::Fail => return Err(self.failure(m, problem)),
        }))
    }

    /// The error of a mapping whose policy is to fail, naming the path or template it read
    /// and, when the value is a node the path selected, that node. Built only on failure.
    fn failure(&self, m: &'a Mapping, problem: Problem<'_>) -> Error {
        let qualifier = if m.required { "a required" } else { "the" };
        let (e, value) = match problem {
            Problem::Missing => (
                Error::new(Code::Missing, format!("{qualifier} value is missing")),
                None,
            ),
            Problem::Null(v) => (
                Error::new(Code::Null, format!("{qualifier} value is null")),
                Some(v),
            ),
            Problem::Cast(reason, v) => (
                Error::new(
                    Code::CastFailed,
                    format!(
                        "cannot cast {} to {}: {reason}",
                        preview(&v.value()),
                        m.cast.name()
                    ),
                ),
                Some(v),
            ),
            Problem::Other(e) => (e, None),
        };
        match &m.source {
            Source::Path(base, p) => {
                let e = e.with_path(&p.text);
                match value.and_then(|v| self.node(m, *base, p, v)) {
                    Some(node) => e.with_node(node),
                    None => e,
                }
            }
            Source::Expr(j) | Source::Template(j) => e.with_path(&j.name),
            _ => e,
        }
    }

    /// The normalized path of the node whose value `failed`, among the nodes `path` selects,
    /// found by pointer. A value that is not one node (a `to_object`, `lookup` or
    /// `select = "all"` result) has none.
    fn node(&self, m: &Mapping, base: Base, path: &Path, failed: Item<'_>) -> Option<String> {
        if m.to_object.is_some() || m.lookup.is_some() {
            return None;
        }
        let root = self.located_root(base, path)?;
        let root = root.get();
        let again;
        let node = match &failed {
            Item::Node(n) => *n,
            Item::Entries(_) => return None,
            // Cloned out of a binding the frame owns (see `value`): select the node again.
            Item::Owned(_) => {
                again = select(path.query(root), &m.select).ok()?;
                match &again {
                    Val::One(Item::Node(n)) => *n,
                    _ => return None,
                }
            }
        };
        path.query_located(root)
            .into_iter()
            .find(|n| n.value.same(node))
            .map(|n| n.location.to_string())
    }

    /// The source of a mapping, selected and run through its steps, before policy and cast.
    fn value(&self, m: &'a Mapping) -> Result<Val<'a>, Error> {
        let mut v = match &m.source {
            Source::Path(base, path) => match self.root(*base, path) {
                None => select(None, &m.select)?,
                Some(BaseRef::Long(root)) => select(path.query(root), &m.select)?,
                Some(BaseRef::Short(root)) => {
                    select(path.query(Node::Json(root)), &m.select)?.into_owned()
                }
            },
            Source::Base(base) => match self.base(*base) {
                None => Val::Missing,
                Some(BaseRef::Long(v)) => Val::One(Item::Node(v)),
                Some(BaseRef::Short(v)) => Val::One(Item::Owned(v.clone())),
            },
            Source::Value(v) => Val::One(Item::borrowed(v)),
            Source::Expr(j) => {
                jinja::eval(self, j)?.map_or(Val::Missing, |v| Val::One(Item::Owned(v)))
            }
            Source::Template(j) => Val::One(Item::Owned(jinja::render(self, j)?)),
            Source::Now(format) => Val::One(Item::Owned(self.now.value(*format))),
        };
        if let Some(to) = &m.to_object {
            v = match v {
                Val::Missing => Val::Missing,
                Val::Nodes(nodes) => Val::One(Item::Entries(to_object(to, &nodes))),
                Val::One(Item::Node(node)) if node.is_array() => {
                    let mut items = Vec::with_capacity(node.children());
                    node.each_child(|n, _| items.push(n));
                    Val::One(Item::Entries(to_object(to, &items)))
                }
                Val::One(Item::Owned(Value::Array(array))) => {
                    let items: Vec<Node<'_>> = array.iter().map(Node::Json).collect();
                    Val::One(Item::Owned(object_of(&to_object(to, &items))))
                }
                Val::One(other) => {
                    return Err(Error::new(
                        Code::StepFailed,
                        format!(
                            "to_object needs an array of objects, got {}",
                            cast::kind(&other.value())
                        ),
                    ));
                }
            };
        }
        if let Some(t) = m.lookup {
            let table = &self.plan.tables[t];
            let hit = match &v {
                Val::One(key) => match key.as_node() {
                    Some(k) => match (k.as_str(), k.plain_scalar()) {
                        (Some(s), _) => table.entries.get(s),
                        (None, Some(k @ (Value::Number(_) | Value::Bool(_)))) => {
                            table.entries.get(&k.to_string())
                        }
                        _ => None,
                    },
                    None => None,
                },
                _ => None,
            };
            v = match hit.or(table.default.as_ref()) {
                Some(entry) => Val::One(Item::borrowed(entry)),
                None => Val::Missing,
            };
        }
        Ok(match v {
            Val::Nodes(n) => Val::One(Item::Owned(array(n))),
            v => v,
        })
    }

    fn base(&self, base: Base) -> Option<BaseRef<'a, '_>> {
        match base {
            Base::Input => Some(BaseRef::Long(Node::of_doc(&self.input.doc))),
            Base::Context => self.context.map(|c| BaseRef::Long(Node::Json(c))),
            Base::Binding(i) => match self.bindings.get(i)?.as_ref()? {
                Bound::Node(n) => Some(BaseRef::Long(*n)),
                Bound::Owned(v) => Some(BaseRef::Short(v)),
            },
        }
    }

    /// Where `path` starts: the base, except that a path whose filter reads `$` reads the
    /// input through its converted copy, made once per payload. (Other paths serde_json_path
    /// evaluates convert only the node their leading names reach.)
    fn root(&self, base: Base, path: &Path) -> Option<BaseRef<'a, '_>> {
        match base {
            Base::Input if path.needs_root_value() => {
                Some(BaseRef::Long(Node::Json(self.input.value())))
            }
            _ => self.base(base),
        }
    }

    /// Where `path` starts when its nodes are located for an error: as [`Frame::root`], but
    /// serde_json_path locates nodes only in a `Value`, so the input is its converted copy.
    fn located_root(&self, base: Base, path: &Path) -> Option<BaseRef<'a, '_>> {
        match base {
            Base::Input if path.is_general() => Some(BaseRef::Long(Node::Json(self.input.value()))),
            _ => self.base(base),
        }
    }

    /// The value a binding, the context or the input has for a template (`None`: undefined).
    pub(crate) fn base_value(&self, base: Base) -> Option<Node<'_>> {
        Some(match self.base(base)? {
            BaseRef::Long(n) => n,
            BaseRef::Short(v) => Node::Json(v),
        })
    }

    /// Whether a condition holds.
    fn holds(&self, c: &'a Cond) -> Result<bool, Error> {
        Ok(match c {
            Cond::Cmp {
                base,
                path,
                op,
                value,
            } => {
                let got = self.single(*base, path.as_ref());
                match (got.as_ref().and_then(|g| g.get().as_str()), value) {
                    (Some(got), Value::String(want)) => compare_str(got, *op, want),
                    _ => compare(got.as_ref().map(|g| g.get().value()).as_deref(), *op, value),
                }
            }
            Cond::In { base, path, values } => match self.single(*base, path.as_ref()) {
                Some(got) => match got.get().as_str() {
                    Some(s) => values.iter().any(|v| v.as_str() == Some(s)),
                    None => {
                        let got = got.get().value();
                        values.iter().any(|v| json_eq(&got, v))
                    }
                },
                None => false,
            },
            Cond::Exists { base, path, want } => {
                let found = match path {
                    None => self.base(*base).is_some(),
                    Some(p) => self
                        .root(*base, p)
                        .is_some_and(|root| p.query(root.get()).is_some()),
                };
                found == *want
            }
            Cond::All(cs) => {
                for c in cs {
                    if !self.holds(c)? {
                        return Ok(false);
                    }
                }
                true
            }
            Cond::Any(cs) => {
                for c in cs {
                    if self.holds(c)? {
                        return Ok(true);
                    }
                }
                false
            }
            Cond::Not(c) => !self.holds(c)?,
            Cond::Expr(j) => jinja::truthy(self, j)?,
        })
    }

    /// The one node a singular path selects (compile time checked that it is singular, so
    /// the fast evaluator runs it and never gives owned nodes).
    fn single(&self, base: Base, path: Option<&Path>) -> Option<BaseRef<'a, '_>> {
        let Some(path) = path else {
            return self.base(base);
        };
        match self.root(base, path)? {
            BaseRef::Long(v) => match path.query(v)? {
                Nodes::One(n) => Some(BaseRef::Long(n)),
                Nodes::Many(n) => n.first().map(|n| BaseRef::Long(*n)),
                Nodes::Owned(_) => None,
            },
            BaseRef::Short(v) => match path.query(Node::Json(v))? {
                Nodes::One(n) => n.as_json().map(BaseRef::Short),
                Nodes::Many(n) => n.first().and_then(|n| n.as_json()).map(BaseRef::Short),
                Nodes::Owned(_) => None,
            },
        }
    }
}

fn validate(schema: &Schema, value: &Value, code: Code) -> Result<(), Error> {
    let mut errors = schema.validator.iter_errors(value).peekable();
    if errors.peek().is_none() {
        return Ok(());
    }
    let shown: Vec<String> = errors
        .take(5)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!(
                "at `{}`: {e}",
                if at.is_empty() { "/" } else { at.as_str() }
            )
        })
        .collect();
    Err(Error::new(
        code,
        format!("does not match {}: {}", schema.file, shown.join("; ")),
    ))
}

/// Applies a selection to the nodes a path found.
fn select<'x>(nodes: Option<Nodes<'x>>, sel: &Select) -> Result<Val<'x>, Error> {
    let Some(nodes) = nodes else {
        return Ok(if *sel == Select::All {
            Val::Nodes(Vec::new())
        } else {
            Val::Missing
        });
    };
    let len = nodes.len();
    Ok(match sel {
        Select::One if len == 1 => Val::One(take(nodes, 0)),
        Select::One => {
            return Err(Error::new(
                Code::Cardinality,
                format!("the path selected {len} nodes where one was expected"),
            ));
        }
        Select::First => Val::One(take(nodes, 0)),
        Select::Last => Val::One(take(nodes, len - 1)),
        Select::All => match nodes {
            Nodes::One(v) => Val::Nodes(vec![v]),
            Nodes::Many(v) => Val::Nodes(v),
            Nodes::Owned(v) => Val::One(Item::Owned(Value::Array(v))),
        },
        Select::MaxBy(field) => best(nodes, field, |a, b| a > b),
        Select::MinBy(field) => best(nodes, field, |a, b| a < b),
    })
}

/// The node at `i` of a non-empty selection.
fn take(nodes: Nodes<'_>, i: usize) -> Item<'_> {
    match nodes {
        Nodes::One(n) => Item::Node(n),
        Nodes::Many(n) => Item::Node(n[i]),
        Nodes::Owned(mut v) => Item::Owned(v.swap_remove(i)),
    }
}

/// The node whose numeric member `field` wins `better` (the first on a tie); nodes without a
/// numeric `field` are passed over.
fn best<'x>(nodes: Nodes<'x>, field: &str, better: impl Fn(f64, f64) -> bool) -> Val<'x> {
    let mut top: Option<(usize, f64)> = None;
    for i in 0..nodes.len() {
        let score = nodes.get(i).member(field).and_then(|(n, _)| n.as_f64());
        if let Some(score) = score {
            if top.is_none_or(|(_, s)| better(score, s)) {
                top = Some((i, score));
            }
        }
    }
    top.map_or(Val::Missing, |(i, _)| Val::One(take(nodes, i)))
}

/// Entries -> object members: the key must be a non-empty string, the value present and not
/// null (and not `""` with `skip_empty`); the last entry of a key wins.
fn to_object<'x>(to: &crate::plan::ToObject, items: &[Node<'x>]) -> Vec<(&'x str, Node<'x>)> {
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let Some(key) = item.member(&to.key).and_then(|(n, _)| n.as_str()) else {
            continue;
        };
        let Some((value, _)) = item.member(&to.value) else {
            continue;
        };
        if value.is_null() || (to.skip_empty && value.as_str() == Some("")) {
            continue;
        }
        if !key.is_empty() {
            entries.push((key, value));
        }
    }
    doc::merge_repeats(entries)
}

/// RFC 9535 comparison: a missing value equals nothing, `!=` holds against it; `<` and
/// friends compare numbers with numbers and strings with strings only.
fn compare(got: Option<&Value>, op: CmpOp, want: &Value) -> bool {
    let Some(got) = got else {
        return op == CmpOp::Ne;
    };
    let less = match (got, want) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() < b.as_f64(),
        (Value::String(a), Value::String(b)) => a < b,
        _ => false,
    };
    let eq = json_eq(got, want);
    match op {
        CmpOp::Eq => eq,
        CmpOp::Ne => !eq,
        CmpOp::Lt => less,
        CmpOp::Le => less || eq,
        CmpOp::Gt => !less && !eq && comparable(got, want),
        CmpOp::Ge => !less && comparable(got, want),
    }
}

/// [`compare`] for a string against a string, without making either a `Value`.
fn compare_str(got: &str, op: CmpOp, want: &str) -> bool {
    match op {
        CmpOp::Eq => got == want,
        CmpOp::Ne => got != want,
        CmpOp::Lt => got < want,
        CmpOp::Le => got <= want,
        CmpOp::Gt => got > want,
        CmpOp::Ge => got >= want,
    }
}

fn comparable(a: &Value, b: &Value) -> bool {
    matches!(
        (a, b),
        (Value::Number(_), Value::Number(_)) | (Value::String(_), Value::String(_))
    )
}

/// JSON equality with numbers compared by value (`1 == 1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A short rendering of a value for error messages.
fn preview(v: &Value) -> String {
    let text = v.to_string();
    let kind = cast::kind(v);
    if text.chars().count() > 60 {
        format!("{kind} {}...", text.chars().take(57).collect::<String>())
    } else {
        format!("{kind} {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comparisons_follow_rfc_9535() {
        assert!(compare(Some(&json!(0.5)), CmpOp::Ge, &json!(0.5)));
        assert!(!compare(Some(&json!(0.49)), CmpOp::Ge, &json!(0.5)));
        assert!(compare(Some(&json!(1)), CmpOp::Eq, &json!(1.0)));
        assert!(compare(None, CmpOp::Ne, &json!("voice")));
        assert!(!compare(None, CmpOp::Eq, &json!("voice")));
        assert!(!compare(Some(&json!("1")), CmpOp::Lt, &json!(2)));
        assert!(!compare(Some(&json!("1")), CmpOp::Ge, &json!(2)));
        assert!(compare(Some(&json!("b")), CmpOp::Gt, &json!("a")));
    }

    #[test]
    fn string_comparisons_agree_with_value_comparisons() {
        let ops = [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ];
        for (a, b) in [("a", "b"), ("b", "a"), ("x", "x"), ("", "é"), ("Z", "a")] {
            for op in ops {
                assert_eq!(
                    compare_str(a, op, b),
                    compare(Some(&json!(a)), op, &json!(b)),
                    "{a:?} {op:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn best_takes_the_first_on_a_tie_and_passes_over_non_numbers() {
        let a = json!({"c": 0.9, "n": "a"});
        let b = json!({"c": 0.9, "n": "b"});
        let c = json!({"c": "0.99"});
        let nodes = Nodes::Many(vec![Node::Json(&c), Node::Json(&a), Node::Json(&b)]);
        let Val::One(top) = best(nodes, "c", |x, y| x > y) else {
            panic!("no top")
        };
        let Item::Node(top) = top else {
            panic!("not a node")
        };
        assert!(top.same(Node::Json(&a)));
    }
}
