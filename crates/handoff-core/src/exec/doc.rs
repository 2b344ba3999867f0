//! The projected payload as a tree of its own: names borrowed from the payload, members in a
//! vector (no hashing), and one node type over it and `serde_json::Value` for the evaluator.
//!
//! Strings are borrowed from the payload too (copied only when they have escapes); other
//! scalars are kept as `serde_json::Value`. A node is converted to a `Value` only where one is
//! needed as such (a cast, a comparison with a non-string, a filter, a schema); the output and
//! templates serialize it as it is.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::input::Lazy;
use crate::plan::location::Element;
use crate::plan::projection::Projection;

/// A node of the projected payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Doc<'de> {
    /// A string, borrowed from the payload unless it has escapes.
    Str(Cow<'de, str>),
    /// null, a boolean or a number.
    Scalar(Value),
    Array(Vec<Doc<'de>>),
    /// Members in payload order, each name once (the last value of a repeated name wins, in
    /// the place of its first occurrence, as in `serde_json::Map`).
    Object(Vec<(Cow<'de, str>, Doc<'de>)>),
    /// A deferred part: built, as a `Value`, when it is first reached ([`Node::of_doc`]).
    Lazy(Box<Lazy<'de>>),
}

/// Objects up to this many members are searched by comparing names, which is cheaper than
/// hashing the name (serde_json's map hashes with SipHash).
const LINEAR_LOOKUP: usize = 8;

impl<'de> Doc<'de> {
    /// An object from its members as parsed: repeated names are merged.
    pub(crate) fn object(members: Vec<(Cow<'de, str>, Doc<'de>)>) -> Doc<'de> {
        Doc::Object(merge_repeats(members))
    }

    /// The same tree as a `serde_json::Value`.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Doc::Str(s) => Value::String(s.to_string()),
            Doc::Scalar(v) => v.clone(),
            Doc::Array(items) => Value::Array(items.iter().map(Doc::to_value).collect()),
            Doc::Object(members) => {
                let mut map = Map::with_capacity(members.len());
                for (name, value) in members {
                    map.insert(name.to_string(), value.to_value());
                }
                Value::Object(map)
            }
            Doc::Lazy(lazy) => lazy.value().clone(),
        }
    }
}

/// Members with each name once: a repeated name keeps the place of its first occurrence and
/// the value of its last, as `serde_json::Map` does.
pub(crate) fn merge_repeats<K: AsRef<str>, V>(members: Vec<(K, V)>) -> Vec<(K, V)> {
    if !has_repeats(&members) {
        return members;
    }
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(members.len());
    let places: Vec<usize> = members
        .iter()
        .map(|(name, _)| {
            let next = first.len();
            *first.entry(name.as_ref()).or_insert(next)
        })
        .collect();
    let kept = first.len();
    drop(first);
    let mut merged: Vec<(K, V)> = Vec::with_capacity(kept);
    for (member, place) in members.into_iter().zip(places) {
        if place == merged.len() {
            merged.push(member);
        } else {
            merged[place].1 = member.1;
        }
    }
    merged
}

/// Whether some name occurs twice.
fn has_repeats<K: AsRef<str>, V>(members: &[(K, V)]) -> bool {
    if members.len() <= 16 {
        return members
            .iter()
            .enumerate()
            .any(|(i, (n, _))| members[..i].iter().any(|(m, _)| m.as_ref() == n.as_ref()));
    }
    let mut seen = HashSet::with_capacity(members.len());
    !members.iter().all(|(n, _)| seen.insert(n.as_ref()))
}

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Doc::Str(text) => s.serialize_str(text),
            Doc::Scalar(v) => v.serialize(s),
            Doc::Array(items) => s.collect_seq(items),
            Doc::Object(members) => s.collect_map(members.iter().map(|(n, v)| (n.as_ref(), v))),
            Doc::Lazy(lazy) => lazy.value().serialize(s),
        }
    }
}

/// A node the evaluator reads: in the projected payload, or in a `serde_json::Value` (a
/// constant, the context, a computed binding).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Node<'a> {
    Doc(&'a Doc<'a>),
    Json(&'a Value),
}

impl<'a> Node<'a> {
    /// The node of a projected tree's node; a deferred part is built here, when it is first
    /// reached, so no `Node::Doc` is ever a `Doc::Lazy`.
    #[inline]
    pub(crate) fn of_doc(doc: &'a Doc<'a>) -> Node<'a> {
        match doc {
            Doc::Lazy(lazy) => Node::Json(lazy.value()),
            doc => Node::Doc(doc),
        }
    }

    /// The member called `name` of an object, and its name as stored.
    pub(crate) fn member(self, name: &str) -> Option<(Node<'a>, &'a str)> {
        match self {
            Node::Doc(Doc::Object(members)) => members
                .iter()
                .find(|(n, _)| n == name)
                .map(|(n, v)| (Node::of_doc(v), n.as_ref())),
            Node::Json(Value::Object(m)) if m.len() <= LINEAR_LOOKUP => m
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(n, v)| (Node::Json(v), n.as_str())),
            Node::Json(Value::Object(m)) => m
                .get_key_value(name)
                .map(|(n, v)| (Node::Json(v), n.as_str())),
            _ => None,
        }
    }

    /// The element at `index` of an array (negative: from the end), and its position.
    pub(crate) fn element(self, index: i64) -> Option<(Node<'a>, usize)> {
        let len = self.len()?;
        let i = if index < 0 {
            len.checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
        } else {
            usize::try_from(index).ok()?
        };
        match self {
            Node::Doc(Doc::Array(items)) => items.get(i).map(|v| (Node::of_doc(v), i)),
            Node::Json(Value::Array(items)) => items.get(i).map(|v| (Node::Json(v), i)),
            _ => None,
        }
    }

    /// The number of members of an object or elements of an array (0 for a scalar).
    pub(crate) fn children(self) -> usize {
        match self {
            Node::Doc(Doc::Array(items)) => items.len(),
            Node::Doc(Doc::Object(members)) => members.len(),
            Node::Json(Value::Array(items)) => items.len(),
            Node::Json(Value::Object(m)) => m.len(),
            _ => 0,
        }
    }

    /// The number of elements of an array (`None` for anything else).
    fn len(self) -> Option<usize> {
        match self {
            Node::Doc(Doc::Array(items)) => Some(items.len()),
            Node::Json(Value::Array(items)) => Some(items.len()),
            _ => None,
        }
    }

    /// Every member value of an object or element of an array, in order, with where it is.
    pub(crate) fn each_child(self, mut f: impl FnMut(Node<'a>, Element<'a>)) {
        match self {
            Node::Doc(Doc::Object(members)) => members
                .iter()
                .for_each(|(n, v)| f(Node::of_doc(v), Element::Name(n))),
            Node::Doc(Doc::Array(items)) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| f(Node::of_doc(v), Element::Index(i))),
            Node::Json(Value::Object(m)) => m
                .iter()
                .for_each(|(n, v)| f(Node::Json(v), Element::Name(n))),
            Node::Json(Value::Array(items)) => items
                .iter()
                .enumerate()
                .for_each(|(i, v)| f(Node::Json(v), Element::Index(i))),
            _ => {}
        }
    }

    /// Whether the node is an object.
    pub(crate) fn is_object(self) -> bool {
        matches!(
            self,
            Node::Doc(Doc::Object(_)) | Node::Json(Value::Object(_))
        )
    }

    /// Whether the node is an array.
    pub(crate) fn is_array(self) -> bool {
        matches!(self, Node::Doc(Doc::Array(_)) | Node::Json(Value::Array(_)))
    }

    /// The string, if the node is one.
    pub(crate) fn as_str(self) -> Option<&'a str> {
        match self {
            Node::Doc(Doc::Str(s)) => Some(s),
            Node::Json(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The number, if the node is one, as an `f64`.
    pub(crate) fn as_f64(self) -> Option<f64> {
        match self {
            Node::Doc(Doc::Scalar(v)) | Node::Json(v) => v.as_f64(),
            _ => None,
        }
    }

    /// Whether the node is null.
    pub(crate) fn is_null(self) -> bool {
        matches!(
            self,
            Node::Doc(Doc::Scalar(Value::Null)) | Node::Json(Value::Null)
        )
    }

    /// A number, boolean or null, as the `Value` it is stored as (`None` for strings, objects
    /// and arrays).
    pub(crate) fn plain_scalar(self) -> Option<&'a Value> {
        match self {
            Node::Doc(Doc::Scalar(v)) => Some(v),
            Node::Json(v @ (Value::Null | Value::Bool(_) | Value::Number(_))) => Some(v),
            _ => None,
        }
    }

    /// The node as a `Value`: borrowed where it is one, converted from the projected tree.
    pub(crate) fn value(self) -> Cow<'a, Value> {
        match self {
            Node::Json(v) | Node::Doc(Doc::Scalar(v)) => Cow::Borrowed(v),
            Node::Doc(d) => Cow::Owned(d.to_value()),
        }
    }

    /// The `Value` this node is, if it is stored as one (any node of a `Value`, and the
    /// projected tree's numbers, booleans and nulls).
    pub(crate) fn as_json(self) -> Option<&'a Value> {
        match self {
            Node::Json(v) | Node::Doc(Doc::Scalar(v)) => Some(v),
            Node::Doc(_) => None,
        }
    }

    /// Whether both refer to the same node.
    pub(crate) fn same(self, other: Node<'_>) -> bool {
        match (self, other) {
            (Node::Doc(a), Node::Doc(b)) => std::ptr::eq(a, b),
            (Node::Json(a), Node::Json(b)) => std::ptr::eq(a, b),
            (Node::Doc(Doc::Scalar(a)), Node::Json(b))
            | (Node::Json(a), Node::Doc(Doc::Scalar(b))) => std::ptr::eq(a, b),
            _ => false,
        }
    }
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Doc(d) => d.serialize(s),
            Node::Json(v) => v.serialize(s),
        }
    }
}

/// A node as a template sees it: an object keeps only the members `reads` names, down to the
/// ones it reads whole; anything else is serialized as it is.
pub(crate) struct Pruned<'a> {
    pub(crate) node: Node<'a>,
    pub(crate) reads: &'a Projection,
}

impl Serialize for Pruned<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.reads.whole || !self.node.is_object() {
            return self.node.serialize(s);
        }
        let mut map = s.serialize_map(None)?;
        let mut written = Ok(());
        self.node.each_child(|node, at| {
            if let (Ok(()), Element::Name(name)) = (&written, at) {
                if let Some(reads) = self.reads.member(name) {
                    written = map.serialize_entry(name, &Pruned { node, reads });
                }
            }
        });
        written?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: &Value) -> Doc<'static> {
        match v {
            Value::Array(a) => Doc::Array(a.iter().map(doc).collect()),
            Value::Object(m) => Doc::object(
                m.iter()
                    .map(|(k, v)| (Cow::Owned(k.clone()), doc(v)))
                    .collect(),
            ),
            Value::String(s) => Doc::Str(Cow::Owned(s.clone())),
            v => Doc::Scalar(v.clone()),
        }
    }

    #[test]
    fn converts_and_serializes_like_the_value() {
        let v = json!({"a": [1, "x", null, {"b": true}], "c": {}, "d": 2.5});
        let d = doc(&v);
        assert_eq!(d.to_value(), v);
        assert_eq!(serde_json::to_string(&d).unwrap(), v.to_string());
    }

    #[test]
    fn repeated_names_keep_the_first_place_and_the_last_value() {
        for n in [3, 40] {
            let mut members: Vec<(Cow<'_, str>, Doc<'_>)> = (0..n)
                .map(|i| (Cow::Owned(format!("k{i}")), Doc::Scalar(json!(i))))
                .collect();
            members.push((Cow::Borrowed("k1"), Doc::Str(Cow::Borrowed("last"))));
            let Doc::Object(m) = Doc::object(members) else {
                panic!("not an object")
            };
            assert_eq!(m.len(), n);
            assert_eq!(m[1], (Cow::Borrowed("k1"), Doc::Str(Cow::Borrowed("last"))));
        }
    }

    #[test]
    fn a_template_sees_only_the_members_it_reads() {
        let v = json!({"channel": "voice", "data": {"big": [1, 2, 3], "x": {"y": 1, "z": 2}}, "list": [{"a": 1}], "skip": "me"});
        let d = doc(&v);
        let mut reads = Projection::default();
        reads.add_names(["channel"]);
        reads.add_names(["data", "x", "y"]);
        reads.add_names(["list", "a"]);
        reads.add_names(["absent"]);
        for node in [Node::Json(&v), Node::Doc(&d)] {
            let seen = serde_json::to_value(Pruned {
                node,
                reads: &reads,
            })
            .unwrap();
            assert_eq!(
                seen,
                json!({"channel": "voice", "data": {"x": {"y": 1}}, "list": [{"a": 1}]})
            );
            let all = Projection::everything();
            let seen = serde_json::to_value(Pruned { node, reads: &all }).unwrap();
            assert_eq!(seen, v);
        }
    }

    #[test]
    fn both_kinds_of_node_navigate_alike() {
        let v = json!({"a": [1, {"b": "x"}], "many": {"1":1,"2":2,"3":3,"4":4,"5":5,"6":6,"7":7,"8":8,"9":9}});
        let d = doc(&v);
        for root in [Node::Json(&v), Node::Doc(&d)] {
            let (a, name) = root.member("a").unwrap();
            assert_eq!(name, "a");
            assert_eq!(a.element(-1).unwrap().1, 1);
            assert_eq!(
                a.element(1).unwrap().0.member("b").unwrap().0.as_str(),
                Some("x")
            );
            assert!(a.element(2).is_none() && a.element(-3).is_none());
            assert_eq!(
                root.member("many")
                    .unwrap()
                    .0
                    .member("9")
                    .unwrap()
                    .0
                    .as_f64(),
                Some(9.0)
            );
            let mut seen = Vec::new();
            a.each_child(|n, e| seen.push((n.value().into_owned(), e)));
            assert_eq!(
                seen,
                [
                    (json!(1), Element::Index(0)),
                    (json!({"b": "x"}), Element::Index(1))
                ]
            );
            assert!(root.as_str().is_none() && root.as_f64().is_none() && !root.is_null());
            assert!(root.member("zz").is_none());
            assert_eq!(root.value().as_ref(), &v);
        }
    }
}
