//! JSONPath as the plan holds it: checked for hostile shapes, parsed once, analysed into
//! segments, and evaluated fast when it only names members and indices.
//!
//! serde_json_path parses and evaluates every path (RFC 9535), but does not expose its syntax
//! tree. The plan needs a little of that structure (segment count for the depth limit, whether
//! the query is singular, which members it reads for the projection), so `scan` reads it back
//! from a path that serde_json_path has already accepted. Before that, `precheck` rejects the
//! shapes its recursive, backtracking parser cannot handle safely.

use std::fmt;

use serde_json::Value;
use serde_json_path::JsonPath;

use super::location::{Element, Located, Location};
use crate::exec::doc::Node;

mod precheck;
mod regex;
use precheck::precheck;

/// A compiled JSONPath.
pub(crate) struct Path {
    pub(crate) text: String,
    pub(crate) segments: Vec<Segment>,
    kind: Kind,
}

enum Kind {
    /// Only child segments with one name or index each: evaluated without serde_json_path.
    Simple(Vec<Step>),
    /// Child segments with one name, index or wildcard each, at least one wildcard
    /// (`$.cognigy.intents[*]`): evaluated without serde_json_path.
    Wild(Vec<Step>),
    /// Everything else: serde_json_path evaluates it.
    General(General),
}

/// A path serde_json_path evaluates. Its leading single names and indices (`$.outputStack` of
/// `$.outputStack[?@.x]`) are walked first, so that only the node they reach, not the whole
/// payload, has to be a `Value`; `rest` is the path from there (`$[?@.x]`). A filter that
/// reads the root (`$`) needs the whole payload: `prefix` is empty then.
struct General {
    whole: JsonPath,
    prefix: Vec<Step>,
    rest: JsonPath,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Name(String),
    Index(i64),
    /// Every member value of an object or element of an array, in order.
    Wildcard,
}

impl Step {
    /// The step a segment is, when it is a child segment with one name, index or wildcard.
    fn of(segment: &Segment) -> Option<Step> {
        match (segment.descendant, segment.selectors.as_slice()) {
            (false, [Selector::Name(n)]) => Some(Step::Name(n.clone())),
            (false, [Selector::Index(i)]) => Some(Step::Index(*i)),
            (false, [Selector::Wildcard]) => Some(Step::Wildcard),
            _ => None,
        }
    }

    /// The node `steps` (names and indices) lead to from `root`.
    fn walk<'a>(steps: &[Step], root: Node<'a>) -> Option<Node<'a>> {
        steps
            .iter()
            .try_fold(root, |v, step| step.apply(v).map(|(v, _)| v))
    }

    /// The child of `v` this step selects, and its location element (not for wildcards).
    #[inline]
    fn apply<'a>(&self, v: Node<'a>) -> Option<(Node<'a>, Element<'a>)> {
        match self {
            Step::Name(n) => v.member(n).map(|(v, k)| (v, Element::Name(k))),
            Step::Index(i) => v.element(*i).map(|(v, i)| (v, Element::Index(i))),
            Step::Wildcard => None,
        }
    }

    /// Every node this step selects from `v`, with its location element, in order.
    fn each<'a>(&self, v: Node<'a>, mut f: impl FnMut(Node<'a>, Element<'a>)) {
        match self {
            Step::Wildcard => v.each_child(f),
            _ => {
                if let Some((v, e)) = self.apply(v) {
                    f(v, e);
                }
            }
        }
    }
}

/// One segment of a path, as far as the plan cares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub(crate) descendant: bool,
    pub(crate) selectors: Vec<Selector>,
}

/// One selector of a segment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Selector {
    Name(String),
    Index(i64),
    Wildcard,
    Slice,
    /// A filter; `uses_root` when it contains an absolute (`$`) query.
    Filter {
        uses_root: bool,
    },
}

/// Why a path was rejected, with a byte offset into the path text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PathError {
    pub(crate) offset: usize,
    pub(crate) message: String,
    pub(crate) too_complex: bool,
    /// A hint of its own, instead of the one for its kind.
    pub(crate) hint: Option<&'static str>,
}

/// The nodes a path selected.
#[derive(Debug)]
pub(crate) enum Nodes<'a> {
    One(Node<'a>),
    Many(Vec<Node<'a>>),
    /// What serde_json_path selected in a projected container, converted for it (see
    /// [`Path::query`]).
    Owned(Vec<Value>),
}

impl<'a> Nodes<'a> {
    /// The number of nodes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Nodes::One(_) => 1,
            Nodes::Many(v) => v.len(),
            Nodes::Owned(v) => v.len(),
        }
    }

    /// The node at `i` (`i < len()`).
    pub(crate) fn get(&self, i: usize) -> Node<'_> {
        match self {
            Nodes::One(v) => *v,
            Nodes::Many(v) => v[i],
            Nodes::Owned(v) => Node::Json(&v[i]),
        }
    }
}

impl Path {
    /// Parses `text`; rejects over-long, over-nested or otherwise too costly text before
    /// serde_json_path sees it.
    pub(crate) fn compile(text: &str) -> Result<Path, PathError> {
        precheck(text)?;
        let parsed = JsonPath::parse(text).map_err(|e| PathError {
            offset: e.position(),
            message: e.message().to_owned(),
            too_complex: false,
            hint: None,
        })?;
        let (starts, segments): (Vec<usize>, Vec<Segment>) = scan_located(text)
            .map_err(|offset| PathError {
                offset,
                message: "cannot analyse this path".into(),
                too_complex: false,
                hint: None,
            })?
            .into_iter()
            .unzip();
        let fast: Option<Vec<Step>> = segments.iter().map(Step::of).collect();
        let kind = match fast {
            Some(steps) if steps.contains(&Step::Wildcard) => Kind::Wild(steps),
            Some(steps) => Kind::Simple(steps),
            None => Kind::General(General::split(parsed, text, &segments, &starts)),
        };
        Ok(Path {
            text: text.to_owned(),
            segments,
            kind,
        })
    }

    /// Checks the ceilings on the cost of evaluating the path (E203): descendant segments,
    /// absolute queries inside filters, and regular expressions read from the node tested. The compiler checks them after [`Path::compile`], as it
    /// checks `path_depth`.
    pub(crate) fn check_cost(&self) -> Result<(), PathError> {
        match self.kind {
            Kind::Simple(_) | Kind::Wild(_) => Ok(()),
            Kind::General(_) => precheck::cost(&self.text),
        }
    }

    /// Whether the path selects at most one node (RFC 9535 "singular query").
    pub(crate) fn is_singular(&self) -> bool {
        matches!(self.kind, Kind::Simple(_))
    }

    /// Number of segments (the depth checked against `path_depth`).
    pub(crate) fn depth(&self) -> usize {
        self.segments.len()
    }

    /// Whether serde_json_path evaluates this path, which needs a `Value` to run on: a
    /// projected container is converted first (see [`Path::query`]).
    pub(crate) fn is_general(&self) -> bool {
        matches!(self.kind, Kind::General(_))
    }

    /// The nodes the path selects in `root`; `None` when it selects none. A path that needs
    /// serde_json_path, run on a projected container, runs on a converted copy and gives owned
    /// nodes ([`Nodes::Owned`]); the caller avoids that for the input as a whole, whose
    /// converted copy it keeps.
    pub(crate) fn query<'a>(&self, root: Node<'a>) -> Option<Nodes<'a>> {
        match &self.kind {
            Kind::Simple(steps) => Step::walk(steps, root).map(Nodes::One),
            Kind::Wild(steps) => {
                // Down to the first wildcard there is one node; from there, lists sized by the
                // container the wildcard reads.
                let first = steps.iter().position(|s| *s == Step::Wildcard)?;
                let v = Step::walk(&steps[..first], root)?;
                let mut nodes = Vec::with_capacity(v.children());
                v.each_child(|v, _| nodes.push(v));
                let mut next = Vec::new();
                for step in &steps[first + 1..] {
                    next.clear();
                    for v in &nodes {
                        step.each(*v, |v, _| next.push(v));
                    }
                    std::mem::swap(&mut nodes, &mut next);
                }
                (!nodes.is_empty()).then_some(Nodes::Many(nodes))
            }
            Kind::General(g) => {
                let v = Step::walk(&g.prefix, root)?;
                let nodes = match v.as_json() {
                    Some(v) => {
                        Nodes::Many(g.rest.query(v).all().into_iter().map(Node::Json).collect())
                    }
                    None => {
                        let v = v.value();
                        Nodes::Owned(g.rest.query(&v).all().into_iter().cloned().collect())
                    }
                };
                (nodes.len() > 0).then_some(nodes)
            }
        }
    }

    /// Whether evaluating the path needs its root as a `Value`: a filter in it reads `$`.
    pub(crate) fn needs_root_value(&self) -> bool {
        match &self.kind {
            Kind::General(g) => g.prefix.is_empty(),
            _ => false,
        }
    }

    /// The nodes the path selects in a `Value`.
    pub(crate) fn query_values<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        match self.query(Node::Json(root)) {
            Some(Nodes::One(n)) => n.as_json().into_iter().collect(),
            Some(Nodes::Many(n)) => n.into_iter().filter_map(Node::as_json).collect(),
            Some(Nodes::Owned(_)) | None => Vec::new(),
        }
    }

    /// The nodes the path selects in a `Value`, each with its normalized path.
    pub(crate) fn located_values<'a>(&self, root: &'a Value) -> Vec<(&'a Value, String)> {
        self.query_located(Node::Json(root))
            .into_iter()
            .filter_map(|n| Some((n.value.as_json()?, n.location.to_string())))
            .collect()
    }

    /// The nodes the path selects in `root`, in the order of [`Path::query`], each with its
    /// location. Slower than `query`: meant for naming a failing node in an error. A path that
    /// needs serde_json_path locates nothing in a projected container.
    pub(crate) fn query_located<'a>(&self, root: Node<'a>) -> Vec<Located<'a>> {
        match &self.kind {
            Kind::Simple(steps) => {
                let mut v = root;
                let mut at = Vec::with_capacity(steps.len());
                for step in steps {
                    let Some((next, e)) = step.apply(v) else {
                        return Vec::new();
                    };
                    v = next;
                    at.push(e);
                }
                vec![Located {
                    value: v,
                    location: Location::new(at),
                }]
            }
            Kind::Wild(steps) => {
                let mut nodes = vec![(root, Vec::new())];
                for step in steps {
                    let mut next = Vec::new();
                    for (v, at) in &nodes {
                        step.each(*v, |v, e| {
                            let mut at = at.clone();
                            at.push(e);
                            next.push((v, at));
                        });
                    }
                    nodes = next;
                }
                nodes
                    .into_iter()
                    .map(|(value, at)| Located {
                        value,
                        location: Location::new(at),
                    })
                    .collect()
            }
            Kind::General(g) => match root.as_json() {
                Some(root) => g
                    .whole
                    .query_located(root)
                    .all()
                    .into_iter()
                    .map(|n| Located {
                        value: Node::Json(n.node()),
                        location: Location::from(n.location()),
                    })
                    .collect(),
                None => Vec::new(),
            },
        }
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What handoff selects for one JSONPath in one document, for the RFC 9535 conformance test
/// (`tests/cts.rs`). Not a stable API.
#[doc(hidden)]
#[derive(Debug)]
pub struct ConformanceRun<'a> {
    /// Whether the fast evaluator (member names, indices and wildcards only) ran, not
    /// serde_json_path.
    pub fast: bool,
    /// The nodes `exec` reads (`Path::query`).
    pub nodes: Vec<&'a Value>,
    /// The located nodes: each value with its normalized path.
    pub located: Vec<(&'a Value, String)>,
    /// The nodes selected when the document is parsed through the path's projection into the
    /// projected tree, as `exec` reads a payload.
    pub projected: Vec<Value>,
}

/// Compiles `text` as a rule's `path` is compiled (without the rule's `path_depth` limit and the
/// evaluation-cost ceilings of [`Path::check_cost`], which the compiler checks afterwards) and
/// evaluates it on `root` with both evaluators. `Err` holds
/// the diagnostic: `E200` (syntax) or `E203` (too complex), the byte offset and the message.
#[doc(hidden)]
pub fn conformance_run<'a>(text: &str, root: &'a Value) -> Result<ConformanceRun<'a>, String> {
    let path = Path::compile(text).map_err(|e| {
        let code = if e.too_complex { "E203" } else { "E200" };
        format!("{code} at byte {}: {}", e.offset, e.message)
    })?;
    let mut projection = super::projection::Projection::default();
    projection.add_path(&path.segments);
    projection.finish();
    let text = root.to_string();
    let state = crate::exec::input::State::new(1024);
    let input = crate::exec::input::parse(text.as_bytes(), &projection, usize::MAX, &state)
        .map_err(|e| format!("the document does not parse: {e}"))?;
    let projected = match path.query(Node::of_doc(&input.doc)) {
        Some(nodes) => (0..nodes.len())
            .map(|i| nodes.get(i).value().into_owned())
            .collect(),
        None => Vec::new(),
    };
    Ok(ConformanceRun {
        fast: !path.is_general(),
        nodes: path.query_values(root),
        located: path.located_values(root),
        projected,
    })
}

impl General {
    /// Splits off the leading single names and indices, unless a filter reads `$`.
    fn split(whole: JsonPath, text: &str, segments: &[Segment], starts: &[usize]) -> General {
        let uses_root = segments
            .iter()
            .flat_map(|s| &s.selectors)
            .any(|s| matches!(s, Selector::Filter { uses_root: true }));
        let prefix: Vec<Step> = segments
            .iter()
            .map_while(|s| Step::of(s).filter(|step| *step != Step::Wildcard))
            .collect();
        let rest = match starts.get(prefix.len()) {
            Some(&start) if !uses_root && !prefix.is_empty() => {
                JsonPath::parse(&format!("${}", &text[start..])).ok()
            }
            _ => None,
        };
        match rest {
            Some(rest) => General {
                whole,
                prefix,
                rest,
            },
            None => General {
                rest: whole.clone(),
                whole,
                prefix: Vec::new(),
            },
        }
    }
}

/// Reads the segments of a path that serde_json_path has accepted, each with the byte offset
/// where it starts. Returns the offset of anything unexpected (which would be a bug in this
/// scanner, not in the path).
fn scan_located(text: &str) -> Result<Vec<(usize, Segment)>, usize> {
    let b = text.as_bytes();
    let mut i = 0;
    skip_ws(b, &mut i);
    if b.get(i) != Some(&b'$') {
        return Err(i);
    }
    i += 1;
    let mut segments = Vec::new();
    loop {
        skip_ws(b, &mut i);
        if i >= b.len() {
            return Ok(segments);
        }
        let start = i;
        let descendant = b[i..].starts_with(b"..");
        if descendant {
            i += 2;
        } else if b[i] == b'.' {
            i += 1;
        } else if b[i] != b'[' {
            return Err(i);
        }
        let selectors = if b.get(i) == Some(&b'[') {
            bracket(text, &mut i)?
        } else if b.get(i) == Some(&b'*') {
            i += 1;
            vec![Selector::Wildcard]
        } else {
            let start = i;
            while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric() || b[i] >= 0x80) {
                i += 1;
            }
            if start == i {
                return Err(i);
            }
            vec![Selector::Name(text[start..i].to_owned())]
        };
        segments.push((
            start,
            Segment {
                descendant,
                selectors,
            },
        ));
    }
}

fn skip_ws(b: &[u8], i: &mut usize) {
    while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
        *i += 1;
    }
}

/// Reads `[sel, sel, ...]` starting at the `[`.
fn bracket(text: &str, i: &mut usize) -> Result<Vec<Selector>, usize> {
    let b = text.as_bytes();
    *i += 1;
    let mut selectors = Vec::new();
    loop {
        skip_ws(b, i);
        let c = *b.get(*i).ok_or(*i)?;
        let sel = match c {
            b'\'' | b'"' => Selector::Name(quoted(text, i)?),
            b'*' => {
                *i += 1;
                Selector::Wildcard
            }
            b'?' => {
                let start = *i;
                let end = filter_end(b, *i)?;
                let uses_root = mentions_root(&text[start..end]);
                *i = end;
                Selector::Filter { uses_root }
            }
            _ => {
                let start = *i;
                while *i < b.len()
                    && matches!(
                        b[*i],
                        b'-' | b'0'..=b'9' | b':' | b' ' | b'\t' | b'\n' | b'\r'
                    )
                {
                    *i += 1;
                }
                let s = text[start..*i].trim();
                if s.contains(':') {
                    Selector::Slice
                } else {
                    Selector::Index(s.parse().map_err(|_| start)?)
                }
            }
        };
        selectors.push(sel);
        skip_ws(b, i);
        match b.get(*i) {
            Some(b',') => *i += 1,
            Some(b']') => {
                *i += 1;
                return Ok(selectors);
            }
            _ => return Err(*i),
        }
    }
}

/// The end of a filter selector: the first `,` or `]` outside quotes, brackets and parentheses.
fn filter_end(b: &[u8], mut i: usize) -> Result<usize, usize> {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'[' | b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b']' if depth == 0 => return Ok(i),
            b']' => depth -= 1,
            b',' if depth == 0 => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    Err(i)
}

/// Whether a filter contains a `$` outside string literals.
fn mentions_root(filter: &str) -> bool {
    let mut quote = None;
    let mut escaped = false;
    for c in filter.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '$' => return true,
            None => {}
        }
    }
    false
}

/// Reads a quoted member name (RFC 9535 string literal) and unescapes it.
fn quoted(text: &str, i: &mut usize) -> Result<String, usize> {
    let b = text.as_bytes();
    let q = b[*i];
    let start = *i;
    *i += 1;
    let mut out = String::new();
    let mut chars = text[*i..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            c if c as u32 == q as u32 => {
                *i += off + 1;
                return Ok(out);
            }
            '\\' => {
                let (_, e) = chars.next().ok_or(start)?;
                out.push(match e {
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => {
                        let hi = hex4(&mut chars).ok_or(start)?;
                        if (0xD800..0xDC00).contains(&hi) {
                            let (_, bs) = chars.next().ok_or(start)?;
                            let (_, u) = chars.next().ok_or(start)?;
                            if bs != '\\' || u != 'u' {
                                return Err(start);
                            }
                            let lo = hex4(&mut chars).ok_or(start)?;
                            char::from_u32(
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00)),
                            )
                            .ok_or(start)?
                        } else {
                            char::from_u32(hi).ok_or(start)?
                        }
                    }
                    other => other,
                });
            }
            c => out.push(c),
        }
    }
    Err(start)
}

fn hex4(chars: &mut std::str::CharIndices<'_>) -> Option<u32> {
    let mut v = 0;
    for _ in 0..4 {
        v = v * 16 + chars.next()?.1.to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn names(path: &str) -> Vec<Segment> {
        Path::compile(path).unwrap().segments
    }

    #[test]
    fn scans_every_segment_form() {
        assert_eq!(
            names("$.a['b c'][0]..d[*][1:2,?@.x == $.y]"),
            vec![
                Segment {
                    descendant: false,
                    selectors: vec![Selector::Name("a".into())]
                },
                Segment {
                    descendant: false,
                    selectors: vec![Selector::Name("b c".into())]
                },
                Segment {
                    descendant: false,
                    selectors: vec![Selector::Index(0)]
                },
                Segment {
                    descendant: true,
                    selectors: vec![Selector::Name("d".into())]
                },
                Segment {
                    descendant: false,
                    selectors: vec![Selector::Wildcard]
                },
                Segment {
                    descendant: false,
                    selectors: vec![Selector::Slice, Selector::Filter { uses_root: true }]
                },
            ]
        );
        assert_eq!(
            names(r#"$['\u00e9\'']"#)[0].selectors,
            vec![Selector::Name("é'".into())]
        );
        assert_eq!(
            names("$['$']")[0].selectors,
            vec![Selector::Name("$".into())]
        );
    }

    #[test]
    fn simple_paths_agree_with_serde_json_path() {
        let v = json!({"a": {"b": [1, 2, {"c": "x"}]}, "d": null});
        for p in [
            "$.a.b[2].c",
            "$.a.b[-1]",
            "$.a.b[-4]",
            "$.a.b[3]",
            "$.d",
            "$.a.x",
            "$['a']['b'][0]",
            "$",
        ] {
            let ours = Path::compile(p).unwrap();
            assert!(ours.is_singular(), "{p}");
            let got = ours.query_values(&v);
            assert_eq!(got, JsonPath::parse(p).unwrap().query(&v).all(), "{p}");
        }
    }

    #[test]
    fn general_paths_walk_their_leading_names_first() {
        let v = json!({"a": {"b": [{"x": 1}, {"x": 2}, {"x": 3}]}, "y": 1, "c": [[1, 2], [3]]});
        for (p, prefix) in [
            ("$.a.b[?@.x > 1]", 2),
            ("$ .a ['b'] [1:]", 2),
            ("$.c[0][-1:]", 2),
            ("$.a..x", 1),
            ("$.a.b[?@.x > $.y]", 0),
            ("$..x", 0),
            ("$.nothing[?@.x]", 1),
        ] {
            let path = Path::compile(p).unwrap();
            let Kind::General(g) = &path.kind else {
                panic!("{p} is not general")
            };
            assert_eq!(g.prefix.len(), prefix, "{p}");
            assert_eq!(path.needs_root_value(), prefix == 0, "{p}");
            let expected = JsonPath::parse(p).unwrap().query(&v).all();
            assert_eq!(path.query_values(&v), expected, "{p}");
            let projected = conformance_run(p, &v).unwrap().projected;
            assert_eq!(projected.iter().collect::<Vec<_>>(), expected, "{p}");
        }
    }

    #[test]
    fn locates_nodes_with_both_evaluators() {
        let v = json!({"a": {"b": [1, 2, {"it's": "x"}]}});
        let at = |p: &str| -> Vec<(Value, String)> {
            let path = Path::compile(p).unwrap();
            let located = path.located_values(&v);
            let plain = path.query_values(&v);
            assert_eq!(
                plain,
                located.iter().map(|n| n.0).collect::<Vec<_>>(),
                "{p}"
            );
            located.into_iter().map(|(v, p)| (v.clone(), p)).collect()
        };
        assert_eq!(
            at("$.a.b[-1]"),
            [(json!({"it's": "x"}), "$['a']['b'][2]".into())]
        );
        assert_eq!(
            at(r#"$.a.b[2]["it's"]"#),
            [(json!("x"), r"$['a']['b'][2]['it\'s']".into())]
        );
        assert_eq!(
            at("$..['it\\'s']"),
            [(json!("x"), r"$['a']['b'][2]['it\'s']".into())]
        );
        assert_eq!(
            at("$.a.b[0:2]"),
            [
                (json!(1), "$['a']['b'][0]".into()),
                (json!(2), "$['a']['b'][1]".into())
            ]
        );
        assert_eq!(at("$.a.b[3]"), []);
        assert_eq!(at("$.a.b[-4]"), []);
        assert_eq!(at("$"), [(v.clone(), "$".into())]);
    }

    /// Member names that need every kind of escape, and some that need none.
    fn name() -> impl Strategy<Value = String> {
        let tricky = prop::sample::select(vec![
            'a', '\'', '\\', '"', '\u{8}', '\u{c}', '\n', '\r', '\t', '\0', '\u{b}', '\u{e}',
            '\u{1f}', '\u{7f}', 'é', '\u{2028}', '😀', ' ', '$', ']',
        ]);
        prop_oneof![
            1 => any::<String>(),
            3 => prop::collection::vec(tricky, 0..6).prop_map(String::from_iter),
        ]
    }

    /// A document of nested objects and arrays along `steps` (a name, or an index into an
    /// array of that length + 1), with a sibling beside every step.
    fn along(steps: &[(String, Option<usize>)]) -> Value {
        let mut v = json!("leaf");
        for (name, index) in steps.iter().rev() {
            v = match index {
                Some(i) => {
                    let mut a = vec![json!(null); i + 2];
                    a[*i] = v;
                    Value::Array(a)
                }
                None => {
                    let mut m = serde_json::Map::new();
                    m.insert(format!("{name}~"), json!(0));
                    m.insert(name.clone(), v);
                    Value::Object(m)
                }
            };
        }
        v
    }

    proptest! {
        /// Any normalized path reads back: it compiles (as a fast path), selects the node it
        /// names, and prints the same; serde_json_path locates the same node there too.
        #[test]
        fn normalized_paths_round_trip(
            steps in prop::collection::vec((name(), prop::option::of(0usize..4)), 0..5)
        ) {
            let doc = along(&steps);
            let located = Path::compile("$..*").unwrap().located_values(&doc);
            let leaf = located.iter().find(|n| n.0 == "leaf");
            let expected = if steps.is_empty() {
                "$".to_owned()
            } else {
                leaf.expect("the leaf is a descendant").1.clone()
            };
            let path = Path::compile(&expected).unwrap();
            prop_assert!(path.is_singular());
            let again = path.located_values(&doc);
            prop_assert_eq!(again.len(), 1);
            prop_assert_eq!(again[0].0, &json!("leaf"));
            prop_assert_eq!(again[0].1.clone(), expected.clone());
            let theirs = JsonPath::parse(&expected).unwrap().query_located(&doc).all();
            prop_assert_eq!(theirs.len(), 1);
            prop_assert_eq!(Location::from(theirs[0].location()).to_string(), expected);
        }

        /// The fast evaluator selects and locates what serde_json_path does.
        #[test]
        fn fast_paths_agree_with_serde_json_path(
            steps in prop::collection::vec(
                prop_oneof![
                    prop::sample::select(vec!["a", "b", "it's", "\\", ""]).prop_map(|n| Step::Name(n.into())),
                    (-4i64..4).prop_map(Step::Index),
                    Just(Step::Wildcard),
                ],
                0..4,
            ),
            doc in proptest_json(),
        ) {
            let text: String = std::iter::once("$".to_owned()).chain(steps.iter().map(|s| match s {
                Step::Name(n) => format!("[{}]", serde_json::to_string(n).unwrap()),
                Step::Index(i) => format!("[{i}]"),
                Step::Wildcard => "[*]".to_owned(),
            })).collect();
            let ours = Path::compile(&text).unwrap();
            prop_assert_eq!(ours.is_singular(), !steps.contains(&Step::Wildcard));
            prop_assert!(!matches!(ours.kind, Kind::General(_)));
            let theirs = JsonPath::parse(&text).unwrap();
            let nodes = ours.query_values(&doc);
            prop_assert_eq!(&nodes, &theirs.query(&doc).all());
            // The same through the path's projection and the projected tree, as exec reads it.
            let projected = conformance_run(&text, &doc).unwrap().projected;
            prop_assert_eq!(projected.iter().collect::<Vec<_>>(), nodes.clone());
            let located = ours.located_values(&doc);
            let expected: Vec<(&Value, String)> = theirs.query_located(&doc).all().into_iter().map(|n| (n.node(), Location::from(n.location()).to_string())).collect();
            prop_assert_eq!(located, expected);
        }
    }

    /// Small JSON values keyed by the names the paths use.
    fn proptest_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<i32>().prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::from)
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop::sample::select(vec!["a", "b", "it's", "\\", ""]),
                        inner
                    ),
                    0..4
                )
                .prop_map(|kv| Value::Object(
                    kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }
}
