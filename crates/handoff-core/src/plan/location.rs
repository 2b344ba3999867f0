//! Where a selected node sits: RFC 9535 normalized paths (§2.7), escaped as the RFC says.
//!
//! serde_json_path 0.7.2 prints member names containing `'`, `\` or control characters
//! unescaped, so its `NormalizedPath` is read element by element and printed here instead.

use std::fmt::{self, Write};

use serde_json_path::{NormalizedPath, PathElement};

use crate::exec::doc::Node;

/// One step of a [`Location`]: a member name or a (non-negative) array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Element<'a> {
    Name(&'a str),
    Index(usize),
}

/// The location of a node in a JSON value. `Display` prints its normalized path, e.g.
/// `$['user']['tags'][0]`: the unique canonical JSONPath that selects exactly that node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Location<'a>(Vec<Element<'a>>);

impl<'a> Location<'a> {
    /// The location `elements` describe, outermost first.
    pub(crate) fn new(elements: Vec<Element<'a>>) -> Self {
        Location(elements)
    }
}

impl<'a> From<&NormalizedPath<'a>> for Location<'a> {
    fn from(path: &NormalizedPath<'a>) -> Self {
        Location(
            path.iter()
                .map(|e| match e {
                    PathElement::Name(n) => Element::Name(n),
                    PathElement::Index(i) => Element::Index(*i),
                })
                .collect(),
        )
    }
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('$')?;
        for e in &self.0 {
            match e {
                Element::Name(n) => {
                    f.write_str("['")?;
                    write_name(f, n)?;
                    f.write_str("']")?;
                }
                Element::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A node a path selected, and where it is.
#[derive(Debug, Clone)]
pub(crate) struct Located<'a> {
    pub(crate) value: Node<'a>,
    pub(crate) location: Location<'a>,
}

/// Writes `name` as the inside of a normalized path's `'…'` (RFC 9535 §2.7,
/// `normal-single-quoted`): `\'` and `\\`, `\b \f \n \r \t`, other control characters as
/// `\u00xx` with lowercase hex digits; everything else (including DEL and non-ASCII) as is.
fn write_name(out: &mut impl Write, name: &str) -> fmt::Result {
    let mut plain = 0;
    for (i, c) in name.char_indices() {
        let escape = match c {
            '\'' => "\\'",
            '\\' => "\\\\",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\0'..='\u{1f}' => "",
            _ => continue,
        };
        out.write_str(&name[plain..i])?;
        if escape.is_empty() {
            write!(out, "\\u{:04x}", c as u32)?;
        } else {
            out.write_str(escape)?;
        }
        plain = i + c.len_utf8();
    }
    out.write_str(&name[plain..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> String {
        Location::new(vec![Element::Name(n)]).to_string()
    }

    #[test]
    fn escapes_what_the_rfc_escapes() {
        assert_eq!(Location::default().to_string(), "$");
        assert_eq!(
            Location::new(vec![Element::Name("a"), Element::Index(0)]).to_string(),
            "$['a'][0]"
        );
        assert_eq!(name("it's"), r"$['it\'s']");
        assert_eq!(name(r"a\b"), r"$['a\\b']");
        assert_eq!(name("\u{8}\u{c}\n\r\t"), r"$['\b\f\n\r\t']");
        assert_eq!(
            name("\0\u{7}\u{b}\u{e}\u{1f}"),
            r"$['\u0000\u0007\u000b\u000e\u001f']"
        );
        // Not escaped: the double quote, DEL, and everything beyond ASCII.
        assert_eq!(name("\"\u{7f}é😀\u{2028}"), "$['\"\u{7f}é😀\u{2028}']");
    }
}
