//! Projected parsing: deserialize only the parts of a payload the plan reads.
//!
//! Members and elements outside the projection are skipped by serde_json's `IgnoredAny`
//! (a byte scan that builds nothing and does not recurse), so the cost of a payload grows with
//! what the rules read, not with its size. What is read becomes a [`Doc`]: member names are
//! borrowed from the payload and objects are vectors, so nothing is hashed. A deferred part
//! (read whole, but not by every rule) is kept as its text, scanned like a skipped one, and
//! built when an evaluation first reaches it ([`Lazy`]).

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use super::doc::Doc;
use crate::codes::Code;
use crate::error::Error;
use crate::plan::projection::{Projection, WHOLE};

/// A parsed payload: the projected tree, the parse state it shares with its deferred parts,
/// and the same tree as a `Value`, converted once when something needs it whole (a template,
/// a schema, a filter).
#[derive(Debug)]
pub(crate) struct Input<'de> {
    pub(crate) doc: Doc<'de>,
    bytes: usize,
    state: &'de State,
    value: OnceCell<Value>,
}

impl Input<'_> {
    /// The projected payload as a `Value` (converted on first use).
    pub(crate) fn value(&self) -> &Value {
        self.value.get_or_init(|| self.doc.to_value())
    }

    /// The payload's size in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The deepest nesting built so far.
    pub(crate) fn depth(&self) -> usize {
        self.state.seen.get()
    }
}

/// The state of one payload's parse, shared by its deferred parts: the depth limit, the
/// deepest nesting built, and the first error of a deferred part (which fails the transform,
/// as it would have failed the parse).
#[derive(Debug, Default)]
pub(crate) struct State {
    limit: usize,
    seen: Cell<usize>,
    too_deep: Cell<bool>,
    failure: OnceCell<Error>,
}

impl State {
    pub(crate) fn new(max_depth: usize) -> State {
        State {
            limit: max_depth,
            ..State::default()
        }
    }

    /// The error of the first deferred part that could not be built, if one was reached.
    pub(crate) fn into_failure(self) -> Option<Error> {
        self.failure.into_inner()
    }

    fn enter<E: de::Error>(&self, depth: usize) -> Result<(), E> {
        if depth > self.limit {
            self.too_deep.set(true);
            return Err(E::custom("payload too deep"));
        }
        if depth > self.seen.get() {
            self.seen.set(depth);
        }
        Ok(())
    }
}

/// A deferred part of a payload: its text, where it sits, and its value once built.
///
/// It is built as a `Value` (a tree of the payload's lifetime inside a cell would tie every
/// node's lifetime to the payload's exactly); only parts of at least [`LAZY_BYTES`] are
/// deferred, so the conversion is rare next to the building it saves.
#[derive(Debug, Clone)]
pub(crate) struct Lazy<'de> {
    raw: &'de str,
    depth: usize,
    state: &'de State,
    value: OnceCell<Value>,
}

/// A deferred object or array shorter than this is built at once: its second scan costs
/// less than keeping it aside.
const LAZY_BYTES: usize = 256;

impl Lazy<'_> {
    /// The part, built on first use (null, with the error kept in the parse state, if it
    /// cannot be: too deep, or text that only a skipping scan accepts).
    #[inline(never)]
    pub(crate) fn value(&self) -> &Value {
        self.value.get_or_init(|| {
            match build(self.raw, &WHOLE, self.depth, self.state) {
                Ok(doc) => doc.to_value(),
                Err(e) => {
                    // The first failure is the one reported.
                    let _ = self.state.failure.set(e);
                    Value::Null
                }
            }
        })
    }
}

impl PartialEq for Lazy<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

/// Parses `bytes` (after a UTF-8 byte-order mark, if any) keeping only what `proj` reads.
pub(crate) fn parse<'de>(
    bytes: &'de [u8],
    proj: &Projection,
    max_bytes: usize,
    state: &'de State,
) -> Result<Input<'de>, Error> {
    if bytes.len() > max_bytes {
        return Err(Error::new(
            Code::PayloadTooLarge,
            format!("payload is {} bytes, the limit is {max_bytes}", bytes.len()),
        ));
    }
    let size = bytes.len();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // The whole payload is checked once (vectorized), skipped strings included; after that the
    // parser does not check each string again.
    let text = simdutf8::compat::from_utf8(bytes).map_err(|e| {
        Error::new(
            Code::InvalidJson,
            format!("invalid JSON: not UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    let doc = build(text, proj, 0, state)?;
    Ok(Input {
        doc,
        bytes: size,
        state,
        value: OnceCell::new(),
    })
}

/// Builds the JSON `text` through `proj`, `depth` levels down in its payload.
fn build<'de>(
    text: &'de str,
    proj: &Projection,
    depth: usize,
    state: &'de State,
) -> Result<Doc<'de>, Error> {
    seed_parse(text, proj, depth, state).map_err(|e| {
        if state.too_deep.get() {
            Error::new(
                Code::PayloadTooDeep,
                format!("payload nests deeper than {} levels", state.limit),
            )
        } else {
            Error::new(Code::InvalidJson, format!("invalid JSON: {e}"))
        }
    })
}

/// [`build`], with serde_json's error.
fn seed_parse<'de>(
    text: &'de str,
    proj: &Projection,
    depth: usize,
    state: &'de State,
) -> Result<Doc<'de>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    // The depth of what is built is bounded by the limit (State::enter, before recursing);
    // what is skipped is scanned without recursion. serde_json's own limit (128) would cut
    // `payload_depth = 128` short.
    de.disable_recursion_limit();
    Seed { proj, depth, state }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
}

/// Builds the node at one node of the projection; `proj.whole` builds everything below, and
/// `proj.deferred` keeps it as its text.
#[derive(Clone, Copy)]
struct Seed<'p, 'de> {
    proj: &'p Projection,
    depth: usize,
    state: &'de State,
}

impl<'de> DeserializeSeed<'de> for Seed<'_, 'de> {
    type Value = Doc<'de>;

    #[inline]
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Doc<'de>, D::Error> {
        if self.proj.deferred {
            return self.defer(d);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Seed<'_, 'de> {
    /// Keeps a deferred part as its text (a small one, or a scalar, is built at once).
    #[inline(never)]
    fn defer<D: de::Deserializer<'de>>(self, d: D) -> Result<Doc<'de>, D::Error> {
        let raw = <&'de RawValue as serde::Deserialize>::deserialize(d)?.get();
        if raw.len() < LAZY_BYTES || !raw.starts_with(['{', '[']) {
            return seed_parse(raw, &WHOLE, self.depth, self.state).map_err(de::Error::custom);
        }
        Ok(Doc::Lazy(Box::new(Lazy {
            raw,
            depth: self.depth,
            state: self.state,
            value: OnceCell::new(),
        })))
    }
}

impl<'de> Visitor<'de> for Seed<'_, 'de> {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Doc<'de>, E> {
        Ok(Doc::Scalar(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Doc<'de>, E> {
        Ok(Doc::Scalar(Value::Number(v.into())))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Doc<'de>, E> {
        Ok(Doc::Scalar(Value::Number(v.into())))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Doc<'de>, E> {
        Ok(Doc::Scalar(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Doc<'de>, E> {
        Ok(Doc::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Doc<'de>, E> {
        // A string with escapes: decoded into the parser's scratch space, so it is copied.
        Ok(Doc::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Doc<'de>, E> {
        Ok(Doc::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Scalar(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc<'de>, A::Error> {
        let depth = self.depth + 1;
        self.state.enter(depth)?;
        let mut out = Vec::new();
        match self.proj.element() {
            Some(proj) => {
                while let Some(v) = seq.next_element_seed(Seed {
                    proj,
                    depth,
                    state: self.state,
                })? {
                    out.push(v);
                }
            }
            None => while seq.next_element::<IgnoredAny>()?.is_some() {},
        }
        Ok(Doc::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
        let depth = self.depth + 1;
        self.state.enter(depth)?;
        // A projected object gets at most the members the projection names: no regrowth.
        let mut out = match (self.proj.whole, &self.proj.any) {
            (false, None) => Vec::with_capacity(self.proj.fields.len()),
            _ => Vec::new(),
        };
        while let Some(key) = map.next_key_seed(Key(self.proj))? {
            match key {
                Some((name, proj)) => {
                    let v = map.next_value_seed(Seed {
                        proj,
                        depth,
                        state: self.state,
                    })?;
                    out.push((name, v));
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Doc::object(out))
    }
}

/// Reads a member name and decides whether its value is built (and with which projection).
struct Key<'p>(&'p Projection);

impl<'p> Key<'p> {
    fn keep<'de>(&self, name: Cow<'de, str>) -> Option<(Cow<'de, str>, &'p Projection)> {
        let proj = self.0.member(&name)?;
        Some((name, proj))
    }
}

impl<'de, 'p> DeserializeSeed<'de> for Key<'p> {
    type Value = Option<(Cow<'de, str>, &'p Projection)>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'p> Visitor<'de> for Key<'p> {
    type Value = Option<(Cow<'de, str>, &'p Projection)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(self.keep(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        // A name with escapes: decoded into the parser's scratch space, so it is copied.
        Ok(self
            .0
            .member(v)
            .map(|proj| (Cow::Owned(v.to_owned()), proj)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The built tree as a `Value` and the deepest nesting built.
    fn parsed(
        text: &[u8],
        p: &Projection,
        max_bytes: usize,
        depth: usize,
    ) -> Result<(Value, usize), Error> {
        let state = State::new(depth);
        let input = parse(text, p, max_bytes, &state)?;
        Ok((input.doc.to_value(), input.depth()))
    }

    #[test]
    fn keeps_only_what_is_read() {
        let p = Projection::of_paths(&["$.a.b", "$.list[*].x"]);
        let text = br#"{"a":{"b":[1,{"z":2}],"c":"skip"},"list":[{"x":1,"y":2},{"y":3}],"noise":{"deep":[[[1]]]}}"#;
        assert_eq!(
            parsed(text, &p, 1 << 20, 64).unwrap().0,
            json!({"a": {"b": [1, {"z": 2}]}, "list": [{"x": 1}, {}]})
        );
    }

    #[test]
    fn whole_projection_equals_serde_json() {
        let text = br#"{"a":[1,2.5,"x",null,true,{"b":{}}],"dup":1,"dup":2}"#;
        let (value, depth) = parsed(text, &Projection::everything(), 1 << 20, 64).unwrap();
        assert_eq!(value, serde_json::from_slice::<Value>(text).unwrap());
        assert_eq!(depth, 4);
    }

    #[test]
    fn limits_and_bad_input_are_errors() {
        let p = Projection::everything();
        assert_eq!(
            parsed(b"[[[[1]]]]", &p, 100, 3).unwrap_err().code(),
            Code::PayloadTooDeep
        );
        assert_eq!(
            parsed(b"[1, 2]", &p, 3, 64).unwrap_err().code(),
            Code::PayloadTooLarge
        );
        assert_eq!(
            parsed(b"{\"a\": 1", &p, 100, 64).unwrap_err().code(),
            Code::InvalidJson
        );
        assert_eq!(
            parsed(b"{} x", &p, 100, 64).unwrap_err().code(),
            Code::InvalidJson
        );
        assert_eq!(
            parsed(b"\"\xff\"", &p, 100, 64).unwrap_err().code(),
            Code::InvalidJson
        );
        assert_eq!(parsed(b"\xEF\xBB\xBF{}", &p, 100, 64).unwrap().0, json!({}));
    }

    #[test]
    fn a_deferred_part_is_built_when_first_reached() {
        let mut p = Projection::of_paths(&["$.big", "$.small", "$.n"]);
        for (_, f) in &mut p.fields {
            f.deferred = true;
        }
        let big = format!("{{\"list\": [{}1]}}", "1, ".repeat(LAZY_BYTES));
        let text = format!(r#"{{"big": {big}, "small": {{"a": "x"}}, "n": 5, "skip": 1}}"#);
        let state = State::new(64);
        let input = parse(text.as_bytes(), &p, 1 << 20, &state).unwrap();
        let Doc::Object(members) = &input.doc else {
            panic!("an object")
        };
        assert!(matches!(members[0].1, Doc::Lazy(_)), "a large part waits");
        assert!(
            matches!(members[1].1, Doc::Object(_)),
            "a small one is built at once"
        );
        assert_eq!(members[2].1, Doc::Scalar(json!(5)));
        assert_eq!(input.depth(), 2);
        let root = super::super::doc::Node::of_doc(&input.doc);
        let list = root.member("big").unwrap().0.member("list").unwrap().0;
        assert_eq!(list.children(), LAZY_BYTES + 1);
        assert_eq!(
            input.depth(),
            3,
            "the depth counts the deferred part once built"
        );
        drop(input);
        assert!(state.into_failure().is_none());
    }

    #[test]
    fn a_deferred_part_that_cannot_be_built_fails_only_when_reached() {
        let mut p = Projection::of_paths(&["$.big"]);
        p.fields[0].1.deferred = true;
        // A lone surrogate passes the skipping scan but not a string's decoding.
        let text = format!(r#"{{"big": ["\ud800", "{}"]}}"#, "x".repeat(LAZY_BYTES));
        for reached in [false, true] {
            let state = State::new(64);
            let input = parse(text.as_bytes(), &p, 1 << 20, &state).unwrap();
            if reached {
                let root = super::super::doc::Node::of_doc(&input.doc);
                assert!(root.member("big").unwrap().0.is_null());
            }
            drop(input);
            let failure = state.into_failure();
            assert_eq!(
                failure.map(|e| e.code()),
                reached.then_some(Code::InvalidJson)
            );
        }
        let deep = format!(
            r#"{{"big": {}{}0{}}}"#,
            "[".repeat(10),
            "0, ".repeat(LAZY_BYTES),
            "]".repeat(10)
        );
        let state = State::new(5);
        let input = parse(deep.as_bytes(), &p, 1 << 20, &state).unwrap();
        let root = super::super::doc::Node::of_doc(&input.doc);
        assert!(root.member("big").unwrap().0.is_null());
        drop(input);
        assert_eq!(
            state.into_failure().map(|e| e.code()),
            Some(Code::PayloadTooDeep)
        );
    }

    #[test]
    fn skipped_parts_may_nest_deeply_without_recursion() {
        let p = Projection::of_paths(&["$.a"]);
        let bomb = format!(
            "{{\"a\":1,\"b\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(
            parsed(bomb.as_bytes(), &p, 1 << 20, 64).unwrap().0,
            json!({"a": 1})
        );
    }
}
