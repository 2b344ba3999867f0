//! The checks of a JSONPath's text: before serde_json_path parses it (length, nesting, filter
//! nesting, regular expression size) and after (the cost of evaluating it).

use super::{PathError, Selector, bracket, skip_ws};
use crate::limits::Limits;

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
/// overflow its stack), filters nested over [`Limits::MAX_FILTER_NESTING`] (parse time is
/// exponential in it) and regular expression literals over [`Limits::MAX_REGEX_BYTES`].
///
/// The scan is lexical. An unclosed string literal is a syntax error here (the parser can panic
/// on one). Where it could otherwise disagree with the grammar (a closer that does not match),
/// the parser fails at that point, so nothing after it is ever parsed.
pub(super) fn precheck(text: &str) -> Result<(), PathError> {
    let reject = |offset: usize, message: String| Err(too_complex(offset, message, None));
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
                if i >= b.len() {
                    // serde_json_path 0.7.2 panics on some unclosed strings (one that ends
                    // right after `\u`), so an unclosed string never reaches it.
                    return Err(PathError {
                        offset: start,
                        message: "the string literal is not closed".to_owned(),
                        too_complex: false,
                        hint: None,
                    });
                }
                let len = i.min(b.len()) - start - 1;
                let regex = matches!(
                    open.last(),
                    Some(Open {
                        regex_arg: Some(1),
                        ..
                    })
                );
                if regex && len > Limits::MAX_REGEX_BYTES {
                    return reject(
                        start,
                        format!(
                            "the regular expression is {len} bytes long, the limit is {}",
                            Limits::MAX_REGEX_BYTES
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
                    if filters > Limits::MAX_FILTER_NESTING {
                        return reject(
                            i,
                            format!("filters nest deeper than {}", Limits::MAX_FILTER_NESTING),
                        );
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

fn too_complex(offset: usize, message: String, hint: Option<&'static str>) -> PathError {
    PathError {
        offset,
        message,
        too_complex: true,
        hint,
    }
}

/// Rejects a path that serde_json_path has accepted but that could cost too much to evaluate:
/// more than [`Limits::MAX_DESCENDANT_SEGMENTS`] descendant segments (counting those inside
/// filters), an absolute query inside a filter that is not singular, or a `match()` /
/// `search()` pattern read from the node being tested (`@`), which would be compiled again
/// for each node.
///
/// On a valid path the scan is exact: outside string literals, `..` only starts a descendant
/// segment, `$` after the first character only starts an absolute query in a filter, and `@`
/// only starts a relative query.
pub(super) fn cost(text: &str) -> Result<(), PathError> {
    let b = text.as_bytes();
    let mut descendants = 0;
    let mut roots = 0;
    // For each open bracket and parenthesis: for the parenthesis of `match(` or `search(`,
    // the index of the current argument.
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c @ (b'[' | b'(') => {
                open.push((c == b'(' && is_regex_function(&text[..i])).then_some(0));
            }
            b']' | b')' => {
                open.pop();
            }
            b',' => {
                if let Some(Some(n)) = open.last_mut() {
                    *n += 1;
                }
            }
            b'@' if open.contains(&Some(1)) => {
                return Err(too_complex(
                    i,
                    "the pattern of this `match()` or `search()` is read from the node being \
                     tested, so it would be compiled again for every node"
                        .into(),
                    Some(
                        "give the pattern as a string literal, or read it with an absolute \
                         query (`$.pattern`): each pattern is compiled once",
                    ),
                ));
            }
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'.' if b.get(i + 1) == Some(&b'.') => {
                descendants += 1;
                if descendants > Limits::MAX_DESCENDANT_SEGMENTS {
                    return Err(too_complex(
                        i,
                        format!(
                            "the path has more descendant segments (`..`) than the limit of {}",
                            Limits::MAX_DESCENDANT_SEGMENTS
                        ),
                        Some(
                            "name the members on the way (`$.cognigy.intents[*].name` rather than \
                             `$..intents..name`); each `..` can multiply the nodes selected by \
                             the depth of the payload",
                        ),
                    ));
                }
                i += 1;
            }
            b'$' => {
                roots += 1;
                if roots > 1 && !singular_at(text, i + 1) {
                    return Err(too_complex(
                        i,
                        "an absolute query inside a filter selects several nodes, and the \
                         filter would evaluate it again for every node it tests"
                            .into(),
                        Some(
                            "inside a filter, follow `$` only with names and indices \
                             (`$.threshold`, `$.items[0].id`)",
                        ),
                    ));
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Whether the segments of the query whose `$` ends just before `at` are all one name or
/// one index each.
fn singular_at(text: &str, mut at: usize) -> bool {
    let b = text.as_bytes();
    loop {
        skip_ws(b, &mut at);
        match b.get(at) {
            Some(b'.') if b.get(at + 1) == Some(&b'.') => return false,
            Some(b'.') => {
                at += 1;
                if b.get(at) == Some(&b'*') {
                    return false;
                }
                while at < b.len()
                    && (b[at] == b'_' || b[at].is_ascii_alphanumeric() || b[at] >= 0x80)
                {
                    at += 1;
                }
            }
            Some(b'[') => match bracket(text, &mut at).as_deref() {
                Ok([Selector::Name(_) | Selector::Index(_)]) => {}
                _ => return false,
            },
            _ => return true,
        }
    }
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
        compiles(&nested(Limits::MAX_FILTER_NESTING));
        let (offset, message) = too_complex(&nested(Limits::MAX_FILTER_NESTING + 1));
        assert_eq!(offset, 2 + 3 * Limits::MAX_FILTER_NESTING);
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
                compiles(&call(f, q, Limits::MAX_REGEX_BYTES));
                let (offset, message) = too_complex(&call(f, q, Limits::MAX_REGEX_BYTES + 1));
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
            "a".repeat(Limits::MAX_REGEX_BYTES)
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

    /// The evaluation-cost rejection of `text`, which parses: offset, message and hint.
    fn costly(text: &str) -> (usize, String) {
        let path = Path::compile(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        match path.check_cost() {
            Err(e) if e.too_complex && e.hint.is_some() => (e.offset, e.message),
            other => panic!("{text}: expected E203, got {other:?}"),
        }
    }

    fn cheap(text: &str) {
        let path = Path::compile(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        if let Err(e) = path.check_cost() {
            panic!("{text}: {e:?}");
        }
    }

    #[test]
    fn limits_descendant_segments() {
        for text in [
            "$..a",
            "$..a[?@.b]",
            "$.a[?@..b]",
            "$..[?@.a == $.b]",
            "$['..']..a",
            "$..a[?@.b == '..']",
        ] {
            cheap(text);
        }
        let (offset, message) = costly("$..a..b");
        assert_eq!(offset, 4);
        assert_eq!(
            message,
            "the path has more descendant segments (`..`) than the limit of 1"
        );
        assert_eq!(costly("$..a[?@..b]").0, 7);
        assert_eq!(costly("$..*..*[?@..x]").0, 4);
        assert_eq!(costly("$.a[?@..b && @..c]").0, 14);
    }

    #[test]
    fn limits_absolute_queries_in_filters_to_singular_ones() {
        for text in [
            "$[?@.x == $.y]",
            "$[?@.x == $ .y [0] ['z']]",
            "$[?@.x == $['y'][-1] && $.z]",
            "$[?length($.a.b) > 0]",
            "$[?@[?$.a]]",
            "$[?$]",
            "$[?@.a == '$..x[*]']",
            "$[?match(@.a, $.pattern)]",
        ] {
            cheap(text);
        }
        let (offset, message) = costly("$[?$[?@ == 3]]");
        assert_eq!(offset, 3);
        assert_eq!(
            message,
            "an absolute query inside a filter selects several nodes, and the filter would \
             evaluate it again for every node it tests"
        );
        for (text, offset) in [
            ("$[?$.*.a]", 3),
            ("$.values[?length(@.a) == value($..c)]", 31),
            ("$[?count($[*]) > 1]", 9),
            ("$[?@.a && $.b[0:1]]", 10),
            ("$[?@.a && $.b['c','d']]", 10),
            ("$[?@.a && $.b .* ]", 10),
            ("$[?@[?@.b && $.c[?@]]]", 13),
        ] {
            assert_eq!(costly(text).0, offset, "{text}");
        }
    }

    #[test]
    fn limits_regular_expressions_to_patterns_that_do_not_vary_by_node() {
        for text in [
            "$[?match(@.a, 'x')]",
            "$[?search(@.a, $.p)]",
            "$[?match(@.a, $['p'][0]) && @.b == 'c']",
            "$[?match(@.a, '@')]",
            "$[?length(@.a) == 1 && count(@[?@.b, ?@.c]) > 0]",
            "$[?xmatch(@.a, @.b)]",
        ] {
            if let Ok(path) = Path::compile(text) {
                assert!(path.check_cost().is_ok(), "{text}");
            }
        }
        for (text, offset) in [
            ("$[?match(@.a, @.p)]", 14),
            ("$[?search(@.a, value(@..p))]", 21),
            ("$[?@.b && match(@.a, @['p'])]", 21),
        ] {
            assert_eq!(costly(text).0, offset, "{text}");
        }
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
            let pre = precheck(&text);
            let precheck_says = pre.as_ref().is_err_and(|e| e.too_complex);
            match Path::compile(&text) {
                Ok(path) => {
                    prop_assert!(pre.is_ok());
                    // The cost check reads a path that parsed, whatever it is, without panicking.
                    let _ = path.check_cost();
                }
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
