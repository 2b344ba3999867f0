//! The lexical check a JSONPath passes before serde_json_path parses it: length, nesting,
//! filter nesting and regular expression size.

use super::PathError;
use crate::limits::Limits;

/// Most filter selectors (`[?…]`) nested inside one another. serde_json_path parses a nested
/// query once for each alternative it tries, so parse time doubles with every level (measured
/// in release: 0.1 ms at 4 levels, 14 ms at 12, 4 s at 20); the RFC 9535 suite needs 2.
pub(crate) const MAX_FILTER_NESTING: usize = 4;

/// Longest regular expression literal of `match()` / `search()`, in bytes as written.
/// serde_json_path compiles the expression again for every node it tests.
pub(crate) const MAX_REGEX_BYTES: usize = 256;

/// An open bracket or parenthesis, as [`precheck`] tracks it.
struct Open {
    bracket: bool,
    /// A bracket holding a filter selector.
    filter: bool,
    /// For the parenthesis of `match(` or `search(`: the index of the current argument.
    regex_arg: Option<usize>,
}

/// Rejects what serde_json_path cannot parse or run safely, before it sees the text: paths
/// over [`Limits::MAX_PATH_BYTES`], brackets and parentheses nested over
/// [`Limits::MAX_PATH_NESTING`] (the parser is recursive: a path nested thousands deep would
/// overflow its stack), filters nested over [`MAX_FILTER_NESTING`] (parse time is exponential
/// in it) and regular expression literals over [`MAX_REGEX_BYTES`].
///
/// The scan is lexical. Where it could disagree with the grammar (an unclosed string, a closer
/// that does not match), the parser fails at that point, so nothing after it is ever parsed.
pub(super) fn precheck(text: &str) -> Result<(), PathError> {
    let reject = |offset: usize, message: String| {
        Err(PathError {
            offset,
            message,
            too_complex: true,
        })
    };
    if text.len() > Limits::MAX_PATH_BYTES {
        return reject(
            Limits::MAX_PATH_BYTES,
            format!(
                "path is {} bytes long, the limit is {}",
                text.len(),
                Limits::MAX_PATH_BYTES
            ),
        );
    }
    let b = text.as_bytes();
    let mut open: Vec<Open> = Vec::new();
    let mut filters = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                let len = i.min(b.len()) - start - 1;
                let regex = matches!(
                    open.last(),
                    Some(Open {
                        regex_arg: Some(1),
                        ..
                    })
                );
                if regex && len > MAX_REGEX_BYTES {
                    return reject(
                        start,
                        format!(
                            "the regular expression is {len} bytes long, the limit is {MAX_REGEX_BYTES}"
                        ),
                    );
                }
            }
            c @ (b'[' | b'(') => {
                if open.len() == Limits::MAX_PATH_NESTING {
                    return reject(
                        i,
                        format!(
                            "brackets and parentheses nest deeper than {}",
                            Limits::MAX_PATH_NESTING
                        ),
                    );
                }
                open.push(Open {
                    bracket: c == b'[',
                    filter: false,
                    regex_arg: (c == b'(' && is_regex_function(&text[..i])).then_some(0),
                });
            }
            b',' => {
                if let Some(Open {
                    regex_arg: Some(n), ..
                }) = open.last_mut()
                {
                    *n += 1;
                }
            }
            b'?' => {
                let bracket = open.iter_mut().rev().find(|o| o.bracket);
                if let Some(o) = bracket.filter(|o| !o.filter) {
                    o.filter = true;
                    filters += 1;
                    if filters > MAX_FILTER_NESTING {
                        return reject(i, format!("filters nest deeper than {MAX_FILTER_NESTING}"));
                    }
                }
            }
            c @ (b']' | b')') => match open.pop() {
                Some(o) if o.bracket == (c == b']') => filters -= usize::from(o.filter),
                // A closer with nothing or something else open: the parser fails here.
                _ => return Ok(()),
            },
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Whether `before` (the text up to a `(`) ends with the function name `match` or `search`.
fn is_regex_function(before: &str) -> bool {
    ["match", "search"].iter().any(|f| {
        before.strip_suffix(f).is_some_and(|rest| {
            !rest
                .bytes()
                .next_back()
                .is_some_and(|c| c == b'_' || c.is_ascii_lowercase() || c.is_ascii_digit())
        })
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::Path;
    use super::*;

    /// The E203 rejection of `text`: offset and message.
    fn too_complex(text: &str) -> (usize, String) {
        match Path::compile(text) {
            Err(e) if e.too_complex => (e.offset, e.message),
            other => panic!("{text:.60}: expected E203, got {other:?}"),
        }
    }

    fn compiles(text: &str) {
        if let Err(e) = Path::compile(text) {
            panic!("{text:.60}: {e:?}");
        }
    }

    #[test]
    fn rejects_deep_brackets_before_parsing() {
        too_complex(&format!("${}", "[".repeat(10_000)));
        let (offset, message) = too_complex(&format!("${}", "[".repeat(1_000)));
        assert_eq!(offset, 33);
        assert_eq!(message, "brackets and parentheses nest deeper than 32");
        // Parentheses in filters, negated groups, nested function calls: the same ceiling.
        for (open, inner, close) in [
            ("(", "@.a == 1", ")"),
            ("!(", "@.a == 1", ")"),
            ("length(", "@.a", ") == 1"),
        ] {
            let at = |n: usize| {
                let close = format!("{}{}", ")".repeat(n - 1), close);
                format!("$[?{}{inner}{close}]", open.repeat(n))
            };
            compiles(&at(31));
            too_complex(&at(32));
            too_complex(&at(5_000));
        }
    }

    #[test]
    fn rejects_long_paths() {
        let (offset, message) = too_complex(&format!("$.{}", "a".repeat(10_000)));
        assert_eq!(
            (offset, message.as_str()),
            (4096, "path is 10002 bytes long, the limit is 4096")
        );
        let chain = |n: usize| format!("$[?@.a{}]", " && @.a".repeat(n));
        assert!(chain(584).len() <= 4096);
        compiles(&chain(584));
        too_complex(&chain(585));
    }

    #[test]
    fn chains_without_nesting_fail_as_syntax_errors() {
        for text in [
            format!("$[?{}@.a]", "!".repeat(4_000)),
            format!("$[?@.a{}]", "==1".repeat(1_000)),
            format!("${}", "..".repeat(2_000)),
        ] {
            let e = Path::compile(&text).unwrap_err();
            assert!(!e.too_complex, "{e:?}");
        }
    }

    #[test]
    fn limits_filter_nesting() {
        let nested = |n: usize| format!("$[?{}@.a{}]", "@[?".repeat(n - 1), "]".repeat(n - 1));
        compiles(&nested(MAX_FILTER_NESTING));
        let (offset, message) = too_complex(&nested(MAX_FILTER_NESTING + 1));
        assert_eq!(offset, 2 + 3 * MAX_FILTER_NESTING);
        assert_eq!(message, "filters nest deeper than 4");
        // Filters side by side, several in one bracket, or a `?` in a string do not nest.
        compiles("$[?@[?@[?@[?@.a, ?@.b]]], ?@[?@[?@[?@.c]]]]");
        compiles("$[?@[?@[?@[?@['?'] == '[?']]]]");
        // Through a function argument and an absolute query, they do.
        too_complex("$[?count(@[?@[?$[?@[?@.a]]]]) > 0]");
    }

    #[test]
    fn limits_regular_expression_literals() {
        let call = |f: &str, q: char, n: usize| format!("$[?{f}(@.a, {q}{}{q})]", "a".repeat(n));
        for f in ["match", "search"] {
            for q in ['\'', '"'] {
                compiles(&call(f, q, MAX_REGEX_BYTES));
                let (offset, message) = too_complex(&call(f, q, MAX_REGEX_BYTES + 1));
                assert_eq!(offset, f.len() + 9);
                assert_eq!(
                    message,
                    "the regular expression is 257 bytes long, the limit is 256"
                );
            }
        }
        // Escaped quotes stay inside the literal; other functions and arguments are not regexes.
        too_complex(&format!(
            r"$[?match(@.a, '\'{}')]",
            "a".repeat(MAX_REGEX_BYTES)
        ));
        compiles(&format!("$[?@.a == '{}']", "a".repeat(1_000)));
        compiles(&format!("$[?match('{}', 'a')]", "a".repeat(1_000)));
        compiles(&format!("$[?match(@['{}'], 'a')]", "a".repeat(1_000)));
        assert!(
            !Path::compile(&call("xmatch", '\'', 1_000))
                .unwrap_err()
                .too_complex
        );
    }

    #[test]
    fn stray_closers_end_the_scan_without_harm() {
        for text in ["$]", "$[?@.a)]", "$[?(@.a]", "$[?'unclosed", r#"$['\"] ["#] {
            assert!(!Path::compile(text).unwrap_err().too_complex, "{text}");
        }
    }

    /// Fragments that nest and combine; any sequence of them is lexically hostile.
    fn fragment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "$", "@", "[", "]", "(", ")", "?", "!", ".", "..", "*", ",", "'", "\"", "\\", "a", "0",
            "-1", ":", "==", "&&", "||", " ", "length(", "count(", "match(", "value(", "[?", "@[?",
            "$[?", "'x'", "1",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whatever the text, compiling it returns (no panic, no stack overflow), and only the
        /// precheck reports E203.
        #[test]
        fn any_text_compiles_or_is_rejected(parts in prop::collection::vec(fragment(), 0..400)) {
            let text: String = parts.concat();
            let precheck_says = precheck(&text).is_err();
            match Path::compile(&text) {
                Ok(_) => prop_assert!(!precheck_says),
                Err(e) => prop_assert_eq!(e.too_complex, precheck_says),
            }
        }

        /// A deep prefix of openers is rejected however it continues.
        #[test]
        fn deep_prefixes_are_rejected(
            openers in prop::collection::vec(prop::sample::select(vec!["[?", "(", "!(", "length(", "[?@"]), 33..200),
            tail in prop::collection::vec(fragment(), 0..50),
        ) {
            let text = format!("$[?{}{}", openers.concat(), tail.concat());
            prop_assert!(Path::compile(&text).unwrap_err().too_complex);
        }
    }
}
