//! Projected parsing: deserialize only the parts of a payload the plan reads.
//!
//! Members and elements outside the projection are skipped by serde_json's `IgnoredAny`
//! (a byte scan that builds nothing and does not recurse), so the cost of a payload grows with
//! what the rules read, not with its size. What is read becomes a [`Doc`]: member names are
//! borrowed from the payload and objects are vectors, so nothing is hashed.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::doc::Doc;
use crate::codes::Code;
use crate::error::Error;
use crate::plan::projection::Projection;

/// A parsed payload: the projected tree, the deepest nesting seen in it, and the same tree as
/// a `Value`, converted once when something needs it whole (a template, a schema, a filter).
#[derive(Debug)]
pub(crate) struct Input<'de> {
    pub(crate) doc: Doc<'de>,
    pub(crate) depth: usize,
    value: OnceCell<Value>,
}

impl Input<'_> {
    /// The projected payload as a `Value` (converted on first use).
    pub(crate) fn value(&self) -> &Value {
        self.value.get_or_init(|| self.doc.to_value())
    }
}

/// Parses `bytes` (after a UTF-8 byte-order mark, if any) keeping only what `proj` reads.
pub(crate) fn parse<'de>(
    bytes: &'de [u8],
    proj: &Projection,
    max_bytes: usize,
    max_depth: usize,
) -> Result<Input<'de>, Error> {
    if bytes.len() > max_bytes {
        return Err(Error::new(
            Code::PayloadTooLarge,
            format!("payload is {} bytes, the limit is {max_bytes}", bytes.len()),
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // The whole payload is checked once (vectorized), skipped strings included; after that the
    // parser does not check each string again.
    let text = simdutf8::compat::from_utf8(bytes).map_err(|e| {
        Error::new(
            Code::InvalidJson,
            format!("invalid JSON: not UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    let state = State {
        limit: max_depth,
        seen: Cell::new(0),
        too_deep: Cell::new(false),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    // The depth of what is built is bounded by `max_depth` (State::enter, before recursing);
    // what is skipped is scanned without recursion. serde_json's own limit (128) would cut
    // `payload_depth = 128` short.
    de.disable_recursion_limit();
    let result = Seed {
        proj,
        depth: 0,
        state: &state,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match result {
        Ok(doc) => Ok(Input {
            doc,
            depth: state.seen.get(),
            value: OnceCell::new(),
        }),
        Err(_) if state.too_deep.get() => Err(Error::new(
            Code::PayloadTooDeep,
            format!("payload nests deeper than {max_depth} levels"),
        )),
        Err(e) => Err(Error::new(Code::InvalidJson, format!("invalid JSON: {e}"))),
    }
}

struct State {
    limit: usize,
    seen: Cell<usize>,
    too_deep: Cell<bool>,
}

impl State {
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

/// Builds the node at one node of the projection; `proj.whole` builds everything below.
#[derive(Clone, Copy)]
struct Seed<'p, 's> {
    proj: &'p Projection,
    depth: usize,
    state: &'s State,
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = Doc<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Doc<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
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
        let child = if self.proj.whole {
            Some(self.proj)
        } else {
            self.proj.element()
        };
        let mut out = Vec::new();
        match child {
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
        if self.0.whole {
            return Some((name, self.0));
        }
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
        if self.0.whole || self.0.member(v).is_some() {
            return Ok(self.keep(Cow::Owned(v.to_owned())));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_what_is_read() {
        let p = Projection::of_paths(&["$.a.b", "$.list[*].x"]);
        let text = br#"{"a":{"b":[1,{"z":2}],"c":"skip"},"list":[{"x":1,"y":2},{"y":3}],"noise":{"deep":[[[1]]]}}"#;
        let parsed = parse(text, &p, 1 << 20, 64).unwrap();
        assert_eq!(
            parsed.doc.to_value(),
            json!({"a": {"b": [1, {"z": 2}]}, "list": [{"x": 1}, {}]})
        );
    }

    #[test]
    fn whole_projection_equals_serde_json() {
        let text = br#"{"a":[1,2.5,"x",null,true,{"b":{}}],"dup":1,"dup":2}"#;
        let parsed = parse(text, &Projection::everything(), 1 << 20, 64).unwrap();
        assert_eq!(
            parsed.doc.to_value(),
            serde_json::from_slice::<Value>(text).unwrap()
        );
        assert_eq!(parsed.depth, 4);
    }

    #[test]
    fn limits_and_bad_input_are_errors() {
        let p = Projection::everything();
        assert_eq!(
            parse(b"[[[[1]]]]", &p, 100, 3).unwrap_err().code(),
            Code::PayloadTooDeep
        );
        assert_eq!(
            parse(b"[1, 2]", &p, 3, 64).unwrap_err().code(),
            Code::PayloadTooLarge
        );
        assert_eq!(
            parse(b"{\"a\": 1", &p, 100, 64).unwrap_err().code(),
            Code::InvalidJson
        );
        assert_eq!(
            parse(b"{} x", &p, 100, 64).unwrap_err().code(),
            Code::InvalidJson
        );
        assert_eq!(
            parse(b"\"\xff\"", &p, 100, 64).unwrap_err().code(),
            Code::InvalidJson
        );
        assert_eq!(
            parse(b"\xEF\xBB\xBF{}", &p, 100, 64)
                .unwrap()
                .doc
                .to_value(),
            json!({})
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
            parse(bomb.as_bytes(), &p, 1 << 20, 64)
                .unwrap()
                .doc
                .to_value(),
            json!({"a": 1})
        );
    }
}
