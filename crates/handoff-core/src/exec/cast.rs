//! The coercion table: how a value is cast to a mapping's type, leniently or strictly.
//!
//! | to \ from | string | number | boolean | object / array |
//! |---|---|---|---|---|
//! | string  | as is | `49.9` -> `"49.9"` | `"true"` / `"false"` | JSON text (lenient) |
//! | number  | `"49.90"` -> 49.9, `" 7 "` -> 7; `"NaN"`, `"inf"`, `""` fail | as is | fails | fails |
//! | integer | `"42"`, `"42.0"` -> 42; `"4.5"` fails | `42.0` -> 42; `4.5` fails | fails | fails |
//! | boolean | truthy -> true, falsy -> false, other fails | fails | as is | fails |
//! | object  | JSON text of an object (lenient) | fails | fails | object as is |
//! | array   | wrapped: `x` -> `[x]` (lenient) | wrapped | wrapped | array as is, object wrapped |
//! | json    | JSON text | JSON text | JSON text | JSON text |
//! | null    | null (lenient) | null | null | null |
//!
//! Strict mode accepts only values that already have the type (an integral number for
//! integer); `json` and `keep` behave the same in both modes. JSON null never reaches a cast:
//! the null policy handles it first.

use std::borrow::Cow;

use serde_json::{Number, Value};

use crate::plan::{BoolVocab, Cast};

/// Casts `v`; on failure, gives back why and the value.
pub(crate) fn cast<'a>(
    v: Cow<'a, Value>,
    to: Cast,
    strict: bool,
    vocab: &BoolVocab,
) -> Result<Cow<'a, Value>, (&'static str, Cow<'a, Value>)> {
    match convert(&v, to, strict, vocab) {
        Ok(None) => Ok(v),
        Ok(Some(new)) => Ok(Cow::Owned(new)),
        Err(reason) => Err((reason, v)),
    }
}

/// The cast of `v`: `None` when it already has the type.
fn convert(
    v: &Value,
    to: Cast,
    strict: bool,
    vocab: &BoolVocab,
) -> Result<Option<Value>, &'static str> {
    if let Value::String(s) = v {
        return convert_str(s, to, strict, vocab);
    }
    let new = |x: Value| Ok(Some(x));
    match (to, v) {
        (Cast::Keep, _)
        | (Cast::Null, Value::Null)
        | (Cast::Number, Value::Number(_))
        | (Cast::Boolean, Value::Bool(_))
        | (Cast::Object, Value::Object(_))
        | (Cast::Array, Value::Array(_)) => Ok(None),
        (Cast::Json, x) => new(Value::String(x.to_string())),
        (Cast::Integer, Value::Number(n)) => match integral(n) {
            Some(i) if n.is_f64() => new(Value::Number(i.into())),
            Some(_) => Ok(None),
            None => Err("it has a fractional part or is out of the integer range"),
        },
        (_, _) if strict => Err(strict_reason(to)),
        (Cast::Null, _) => new(Value::Null),
        (Cast::String, Value::Number(n)) => new(Value::String(n.to_string())),
        (Cast::String, Value::Bool(b)) => new(Value::String(b.to_string())),
        (Cast::String, x @ (Value::Object(_) | Value::Array(_))) => {
            new(Value::String(x.to_string()))
        }
        (Cast::Array, x) => new(Value::Array(vec![x.clone()])),
        _ => Err("there is no coercion between these types"),
    }
}

/// The cast of the string `s` (the string row of the table): `None` when it stays a string.
/// Takes a `&str`, so that a string borrowed from the payload is not copied to be cast.
pub(crate) fn convert_str(
    s: &str,
    to: Cast,
    strict: bool,
    vocab: &BoolVocab,
) -> Result<Option<Value>, &'static str> {
    let new = |x: Value| Ok(Some(x));
    match to {
        Cast::Keep | Cast::String => Ok(None),
        Cast::Json => new(Value::String(Value::from(s).to_string())),
        _ if strict => Err(strict_reason(to)),
        Cast::Null => new(Value::Null),
        Cast::Number => parse_number(s).map(|n| Some(Value::Number(n))),
        Cast::Integer => parse_number(s)
            .and_then(|n| integral(&n).ok_or("it is not a whole number"))
            .map(|i| Some(Value::Number(i.into()))),
        Cast::Boolean => {
            if vocab.truthy.iter().any(|t| t == s) {
                new(Value::Bool(true))
            } else if vocab.falsy.iter().any(|t| t == s) {
                new(Value::Bool(false))
            } else {
                Err("the string is neither one of the rule's truthy nor falsy strings")
            }
        }
        Cast::Object => match serde_json::from_str::<Value>(s) {
            Ok(o @ Value::Object(_)) => new(o),
            _ => Err("the string is not the JSON text of an object"),
        },
        Cast::Array => new(Value::Array(vec![Value::from(s)])),
    }
}

/// A number from a string: trimmed, decimal or exponent form, finite; integers stay integers.
fn parse_number(s: &str) -> Result<Number, &'static str> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Ok(i.into());
    }
    let looks_numeric = !t.is_empty()
        && t.bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'.' | b'-' | b'+' | b'e' | b'E'))
        && t.bytes().any(|b| b.is_ascii_digit());
    match t.parse::<f64>() {
        Ok(f) if looks_numeric && f.is_finite() => {
            Number::from_f64(f).ok_or("the number is not finite")
        }
        Ok(_) if looks_numeric => Err("the number is out of range"),
        _ => Err("the string is not a number"),
    }
}

/// The integer value of a number, if it has no fractional part and fits in i64.
fn integral(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // i64::MAX as f64 rounds up to 2^63, which is out of range; hence the strict upper bound.
    (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
}

/// The JSON type of a value, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn strict_reason(c: Cast) -> &'static str {
    match c {
        Cast::Integer => "strict mode: the value is not an integer",
        Cast::Object => "strict mode: the value is not an object",
        Cast::Array => "strict mode: the value is not an array",
        Cast::String => "strict mode: the value is not a string",
        Cast::Number => "strict mode: the value is not a number",
        Cast::Boolean => "strict mode: the value is not a boolean",
        Cast::Null | Cast::Keep | Cast::Json => "strict mode: the value is not null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One row of the coercion table: input, cast, lenient result, strict result (None = fails).
    fn row(input: Value, to: &str, lenient: Option<Value>, strict: Option<Value>) {
        let to = Cast::from_name(to).unwrap();
        let vocab = BoolVocab {
            truthy: vec!["true".into(), "yes".into()],
            falsy: vec!["false".into(), "no".into()],
        };
        let got = convert(&input, to, false, &vocab)
            .ok()
            .map(|v| v.unwrap_or_else(|| input.clone()));
        assert_eq!(got, lenient, "lenient {input} -> {}", to.name());
        let got = convert(&input, to, true, &vocab)
            .ok()
            .map(|v| v.unwrap_or_else(|| input.clone()));
        assert_eq!(got, strict, "strict {input} -> {}", to.name());
    }

    #[test]
    fn to_number() {
        row(json!("49.90"), "number", Some(json!(49.9)), None);
        row(json!("-0.62"), "number", Some(json!(-0.62)), None);
        row(json!(" 42 "), "number", Some(json!(42)), None);
        row(json!("1e3"), "number", Some(json!(1000.0)), None);
        row(json!(7.5), "number", Some(json!(7.5)), Some(json!(7.5)));
        for bad in [
            "",
            "abc",
            "NaN",
            "nan",
            "inf",
            "-Infinity",
            "1e400",
            "0x10",
            "1,5",
        ] {
            row(json!(bad), "number", None, None);
        }
        row(json!(true), "number", None, None);
        row(json!({}), "number", None, None);
    }

    #[test]
    fn to_integer() {
        row(json!("42"), "integer", Some(json!(42)), None);
        row(json!("42.0"), "integer", Some(json!(42)), None);
        row(json!("4.5"), "integer", None, None);
        row(json!(42.0), "integer", Some(json!(42)), Some(json!(42)));
        row(json!(4.5), "integer", None, None);
        row(json!(1e300), "integer", None, None);
        row(
            json!("123456789012345678901234567890"),
            "integer",
            None,
            None,
        );
    }

    #[test]
    fn to_string() {
        row(json!(49.9), "string", Some(json!("49.9")), None);
        row(json!(3), "string", Some(json!("3")), None);
        row(json!(false), "string", Some(json!("false")), None);
        row(
            json!({"a": [1]}),
            "string",
            Some(json!("{\"a\":[1]}")),
            None,
        );
        row(json!("x"), "string", Some(json!("x")), Some(json!("x")));
    }

    #[test]
    fn to_boolean_uses_the_vocabulary() {
        row(json!("true"), "boolean", Some(json!(true)), None);
        row(json!("yes"), "boolean", Some(json!(true)), None);
        row(json!("no"), "boolean", Some(json!(false)), None);
        row(json!("TRUE"), "boolean", None, None);
        row(json!(1), "boolean", None, None);
        row(json!(0), "boolean", None, None);
        row(json!(true), "boolean", Some(json!(true)), Some(json!(true)));
    }

    #[test]
    fn to_object_array_json_null_keep() {
        row(json!("{\"a\":1}"), "object", Some(json!({"a": 1})), None);
        row(json!("[1]"), "object", None, None);
        row(json!("x"), "array", Some(json!(["x"])), None);
        row(json!({"a": 1}), "array", Some(json!([{"a": 1}])), None);
        row(json!([1]), "array", Some(json!([1])), Some(json!([1])));
        row(
            json!([1, "a"]),
            "json",
            Some(json!("[1,\"a\"]")),
            Some(json!("[1,\"a\"]")),
        );
        row(json!("x"), "null", Some(json!(null)), None);
        row(json!(false), "keep", Some(json!(false)), Some(json!(false)));
        row(json!(""), "keep", Some(json!("")), Some(json!("")));
    }
}
