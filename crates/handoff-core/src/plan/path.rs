//! JSONPath as the plan holds it: parsed once, analysed into segments, and evaluated fast when
//! it only names members and indices.
//!
//! serde_json_path parses and evaluates every path (RFC 9535), but does not expose its syntax
//! tree. The plan needs a little of that structure (segment count for the depth limit, whether
//! the query is singular, which members it reads for the projection), so [`scan`] reads it back
//! from a path that serde_json_path has already accepted.

use std::fmt;

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::limits::Limits;

/// A compiled JSONPath.
pub(crate) struct Path {
    pub(crate) text: String,
    pub(crate) segments: Vec<Segment>,
    kind: Kind,
}

enum Kind {
    /// Only child segments with one name or index each: evaluated without serde_json_path.
    Simple(Vec<Step>),
    /// Everything else.
    General(JsonPath),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Name(String),
    Index(i64),
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
}

/// The nodes a path selected.
#[derive(Debug)]
pub(crate) enum Nodes<'a> {
    One(&'a Value),
    Many(Vec<&'a Value>),
}

impl<'a> Nodes<'a> {
    pub(crate) fn as_slice(&self) -> &[&'a Value] {
        match self {
            Nodes::One(v) => std::slice::from_ref(v),
            Nodes::Many(v) => v,
        }
    }
}

impl Path {
    /// Parses `text`; rejects over-long or over-nested text before serde_json_path sees it.
    pub(crate) fn compile(text: &str) -> Result<Path, PathError> {
        precheck(text)?;
        let parsed = JsonPath::parse(text).map_err(|e| PathError {
            offset: e.position(),
            message: e.message().to_owned(),
            too_complex: false,
        })?;
        let segments = scan(text).map_err(|offset| PathError {
            offset,
            message: "cannot analyse this path".into(),
            too_complex: false,
        })?;
        let simple: Option<Vec<Step>> = segments
            .iter()
            .map(|s| match (s.descendant, s.selectors.as_slice()) {
                (false, [Selector::Name(n)]) => Some(Step::Name(n.clone())),
                (false, [Selector::Index(i)]) => Some(Step::Index(*i)),
                _ => None,
            })
            .collect();
        let kind = match simple {
            Some(steps) => Kind::Simple(steps),
            None => Kind::General(parsed),
        };
        Ok(Path {
            text: text.to_owned(),
            segments,
            kind,
        })
    }

    /// Whether the path selects at most one node (RFC 9535 "singular query").
    pub(crate) fn is_singular(&self) -> bool {
        matches!(self.kind, Kind::Simple(_))
    }

    /// Number of segments (the depth checked against `path_depth`).
    pub(crate) fn depth(&self) -> usize {
        self.segments.len()
    }

    /// The nodes the path selects in `root`; `None` when it selects none.
    pub(crate) fn query<'a>(&self, root: &'a Value) -> Option<Nodes<'a>> {
        match &self.kind {
            Kind::Simple(steps) => {
                let mut v = root;
                for step in steps {
                    v = match (step, v) {
                        (Step::Name(n), Value::Object(m)) => m.get(n.as_str())?,
                        (Step::Index(i), Value::Array(a)) => {
                            let idx = if *i < 0 {
                                a.len().checked_sub(i.unsigned_abs() as usize)?
                            } else {
                                *i as usize
                            };
                            a.get(idx)?
                        }
                        _ => return None,
                    };
                }
                Some(Nodes::One(v))
            }
            Kind::General(p) => {
                let nodes = p.query(root).all();
                if nodes.is_empty() {
                    None
                } else {
                    Some(Nodes::Many(nodes))
                }
            }
        }
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Rejects paths that are too long or nest brackets and parentheses too deeply to parse safely
/// (the parser is recursive; a path nested thousands deep would overflow its stack).
fn precheck(text: &str) -> Result<(), PathError> {
    if text.len() > Limits::MAX_PATH_BYTES {
        return Err(PathError {
            offset: Limits::MAX_PATH_BYTES,
            message: format!(
                "path is {} bytes long, the limit is {}",
                text.len(),
                Limits::MAX_PATH_BYTES
            ),
            too_complex: true,
        });
    }
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'\'' | b'"' => quote = Some(b),
            b'[' | b'(' => {
                depth += 1;
                if depth > Limits::MAX_PATH_NESTING {
                    return Err(PathError {
                        offset: i,
                        message: format!("brackets nest deeper than {}", Limits::MAX_PATH_NESTING),
                        too_complex: true,
                    });
                }
            }
            b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Reads the segments of a path that serde_json_path has accepted. Returns the offset of
/// anything unexpected (which would be a bug in this scanner, not in the path).
pub(crate) fn scan(text: &str) -> Result<Vec<Segment>, usize> {
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
        segments.push(Segment {
            descendant,
            selectors,
        });
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
    use super::*;
    use serde_json::json;

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
            let got: Vec<&Value> = ours
                .query(&v)
                .map(|n| n.as_slice().to_vec())
                .unwrap_or_default();
            assert_eq!(got, JsonPath::parse(p).unwrap().query(&v).all(), "{p}");
        }
    }

    #[test]
    fn rejects_hostile_nesting_before_parsing() {
        let deep = format!("$.a{}", "[?".repeat(5000));
        let err = Path::compile(&deep).unwrap_err();
        assert!(err.too_complex);
        let long = format!("$.{}", "a".repeat(10_000));
        assert!(Path::compile(&long).unwrap_err().too_complex);
    }
}
