//! `match()` and `search()` for JSONPath filters, each regular expression compiled once per thread.
//!
//! serde_json_path's built-in functions compile the pattern again for every node they test (10 µs
//! to 16 ms each). A function registered with `#[serde_json_path::function]` is looked up before
//! the built-ins, so these two replace them, with the same RFC 9535 semantics: `match` tests the
//! whole string, `search` any substring, `.` matches neither `\n` nor `\r`, and a pattern that
//! is not a valid regular expression (or that compiles over [`SIZE_LIMIT`]) matches nothing.

use std::cell::RefCell;
use std::collections::HashMap;

use regex::{Regex, RegexBuilder};
use serde_json::Value;
use serde_json_path::functions::{LogicalType, ValueType};

/// Most compiled expressions a thread keeps per function; the least recently used goes first.
const CACHE_ENTRIES: usize = 16;

/// Largest compiled program (`RegexBuilder::size_limit`; the regex crate's default is 10 MiB).
/// It bounds the time one compilation takes: `\w{20}` (15 ms, release) fits; `\pL{100}`, which
/// takes 70 ms to compile under the default, is given up after 16 ms.
const SIZE_LIMIT: usize = 1 << 20;

/// Largest lazy DFA cache of one expression (`RegexBuilder::dfa_size_limit`; default 2 MiB).
const DFA_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Match,
    Search,
}

#[serde_json_path::function(name = "match")]
fn match_func(value: ValueType<'_>, pattern: ValueType<'_>) -> LogicalType {
    test(Kind::Match, value, pattern)
}

#[serde_json_path::function(name = "search")]
fn search_func(value: ValueType<'_>, pattern: ValueType<'_>) -> LogicalType {
    test(Kind::Search, value, pattern)
}

thread_local! {
    static CACHE: RefCell<[Cache; 2]> = RefCell::default();
}

/// Whether `value` is a string that the `pattern` string matches (RFC 9535 §2.4.6, §2.4.7).
fn test(kind: Kind, value: ValueType<'_>, pattern: ValueType<'_>) -> LogicalType {
    let (Some(Value::String(s)), Some(Value::String(p))) = (value.as_value(), pattern.as_value())
    else {
        return LogicalType::False;
    };
    CACHE
        .with_borrow_mut(|c| c[kind as usize].get(kind, p).is_some_and(|r| r.is_match(s)))
        .into()
}

/// The compiled expressions of one function, by pattern; `None` for a pattern that does not
/// compile, so that it is not tried again for every node.
#[derive(Default)]
struct Cache {
    entries: HashMap<Box<str>, Entry>,
    clock: u64,
}

struct Entry {
    regex: Option<Regex>,
    used: u64,
}

impl Cache {
    fn get(&mut self, kind: Kind, pattern: &str) -> Option<&Regex> {
        self.clock += 1;
        let clock = self.clock;
        if !self.entries.contains_key(pattern) {
            if self.entries.len() >= CACHE_ENTRIES {
                let oldest = self.entries.iter().min_by_key(|(_, e)| e.used);
                if let Some(k) = oldest.map(|(k, _)| k.clone()) {
                    self.entries.remove(&k);
                }
            }
            let regex = compile(kind, pattern);
            self.entries
                .insert(pattern.into(), Entry { regex, used: 0 });
        }
        let entry = self.entries.get_mut(pattern)?;
        entry.used = clock;
        entry.regex.as_ref()
    }
}

/// Compiles `pattern` for `kind`, or `None` when it is not a valid expression.
fn compile(kind: Kind, pattern: &str) -> Option<Regex> {
    // The pattern must be valid on its own: wrapped in a group, `a)|(b` would compile as an
    // alternation that escapes the anchors. Its syntax is checked before anything is compiled,
    // so a zero size limit reports a syntax error, or that it would compile.
    let alone = RegexBuilder::new(pattern).size_limit(0).build();
    if matches!(alone, Err(regex::Error::Syntax(_))) {
        return None;
    }
    // `R`: `.` matches anything but `\n` and `\r`, as in I-Regexp (RFC 9485).
    let text = match kind {
        Kind::Match => format!("(?R)^(?:{pattern})$"),
        Kind::Search => format!("(?R)(?:{pattern})"),
    };
    RegexBuilder::new(&text)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use serde_json_path::JsonPath;

    use super::*;

    fn select(path: &str, doc: &Value) -> Vec<Value> {
        let path = JsonPath::parse(path).unwrap();
        path.query(doc).all().into_iter().cloned().collect()
    }

    /// Whether this thread's cache holds `pattern` for `kind`, and how many entries it has.
    fn cached(kind: Kind, pattern: &str) -> (bool, usize) {
        CACHE.with_borrow(|c| {
            let c = &c[kind as usize];
            (c.entries.contains_key(pattern), c.entries.len())
        })
    }

    #[test]
    fn replace_the_built_in_functions() {
        // The built-ins compile `^(a)|(b)$` and select all three; an unbalanced pattern is not
        // a valid I-Regexp, so it matches nothing.
        let doc = json!(["a", "b", "xb"]);
        assert_eq!(select("$[?match(@, 'a)|(b')]", &doc), Vec::<Value>::new());
        assert_eq!(select("$[?search(@, 'a)|(b')]", &doc), Vec::<Value>::new());
        assert!(cached(Kind::Match, "a)|(b").0);
        assert!(cached(Kind::Search, "a)|(b").0);
    }

    #[test]
    fn follow_rfc_9535() {
        let doc = json!([
            "ab",
            "xab",
            "abx",
            "a\nb",
            "a\rb",
            "a\u{2028}b",
            1,
            null,
            ["ab"]
        ]);
        assert_eq!(
            select("$[?match(@, 'a.?b')]", &doc),
            [json!("ab"), json!("a\u{2028}b")]
        );
        assert_eq!(
            select("$[?search(@, 'a.?b')]", &doc),
            [json!("ab"), json!("xab"), json!("abx"), json!("a\u{2028}b")]
        );
        assert_eq!(select("$[?match(@, '(')]", &doc), Vec::<Value>::new());
        assert_eq!(select("$[?!search(@, '(')]", &doc).len(), 9);
        assert_eq!(select("$[?match(@, '')]", &json!(["", "a"])), [json!("")]);
        // The pattern from the document, and a non-string pattern.
        let doc = json!({"p": "b+", "v": ["bb", "abb", 2]});
        assert_eq!(select("$.v[?match(@, $.p)]", &doc), [json!("bb")]);
        assert_eq!(
            select("$.v[?search(@, $.p)]", &doc),
            [json!("bb"), json!("abb")]
        );
        assert_eq!(select("$.v[?match(@, $.v[2])]", &doc), Vec::<Value>::new());
    }

    #[test]
    fn give_up_patterns_that_compile_too_big() {
        let doc = json!(["a".repeat(100)]);
        assert_eq!(
            select(r"$[?match(@, '\\pL{100}')]", &doc),
            Vec::<Value>::new()
        );
        assert_eq!(
            select(r"$[?match(@, '\\pL{10}.*')]", &doc),
            [doc[0].clone()]
        );
    }

    #[test]
    fn compile_each_pattern_once() {
        let items: Vec<Value> = (0..1000)
            .map(|i| json!({"id": format!("AB-{i:04}"), "name": format!("customer_{i}")}))
            .collect();
        let doc = json!({ "items": items });
        std::thread::spawn(move || {
            let path = r"$.items[?match(@.name, '\\w{12}')]";
            assert_eq!(select(path, &doc).len(), 900);
            assert_eq!(cached(Kind::Match, r"\w{12}"), (true, 1));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn keep_a_bounded_number_of_patterns() {
        // A new thread: a cache of its own.
        std::thread::spawn(|| {
            let search = |p: &str| select(&format!("$[?search(@, '{p}')]"), &json!(["p1"]));
            for i in 0..40 {
                search(&format!("p{i}"));
            }
            assert_eq!(cached(Kind::Search, "p39"), (true, CACHE_ENTRIES));
            assert!(!cached(Kind::Search, "p0").0);
            assert_eq!(cached(Kind::Match, "p39"), (false, 0));
            // The least recently used go first.
            search("p30");
            for i in 40..50 {
                search(&format!("p{i}"));
            }
            assert!(cached(Kind::Search, "p30").0);
            assert!(!cached(Kind::Search, "p31").0);
        })
        .join()
        .unwrap();
    }
}
