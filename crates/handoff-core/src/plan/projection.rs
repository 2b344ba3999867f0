//! The projection: which parts of a payload a plan reads, so the parser builds only those.

use super::path::{Segment, Selector};

/// How much of the node at the end of a path is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaf {
    /// Everything below it: the path's nodes are read.
    Whole,
    /// Only what it is, a scalar or an object or array without its members: the path is only
    /// tested for selecting something (`exists`), so a large subtree is not built to learn
    /// that it is there.
    Shell,
}

/// A tree of the members and elements a plan reads. A `whole` node is built completely; any
/// other node is built only as far as its `fields` (named members) and `any` (every member or
/// element) reach, and everything else is skipped by the parser without being built. A
/// `deferred` node (whole, but not read by every rule) is kept as its text and built when an
/// evaluation first reaches it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Projection {
    pub(crate) whole: bool,
    pub(crate) deferred: bool,
    pub(crate) fields: Vec<(String, Projection)>,
    pub(crate) any: Option<Box<Projection>>,
}

/// A projection that reads everything, as a deferred part is built.
pub(crate) static WHOLE: Projection = Projection {
    whole: true,
    deferred: false,
    fields: Vec::new(),
    any: None,
};

impl Projection {
    /// A projection that reads everything.
    #[cfg(test)]
    pub(crate) fn everything() -> Projection {
        Projection {
            whole: true,
            ..Projection::default()
        }
    }

    /// The projection of a plan: what any of its rules reads (`rules`, one projection each).
    ///
    /// A subtree that some rule reads whole but another does not read at all is deferred, so
    /// that a folder of rules does not build, for every payload, the parts only one rule reads
    /// (a template over `input.data`). What every rule reaches is built while parsing, as
    /// it is for a plan of one rule.
    pub(crate) fn of_rules(mut rules: Vec<Projection>) -> Projection {
        let mut union = Projection::default();
        for r in &mut rules {
            r.finish();
            union.merge(r);
        }
        union.finish();
        let all: Vec<Option<&Projection>> = rules.iter().map(Some).collect();
        union.defer(&all, true);
        union
    }

    /// Marks the whole nodes that not every rule reaches (`rules`: each rule's node here, if
    /// it reaches this far). The root is never deferred.
    fn defer(&mut self, rules: &[Option<&Projection>], root: bool) {
        if self.whole {
            self.deferred = !root && rules.iter().any(Option::is_none);
            return;
        }
        for (name, child) in &mut self.fields {
            let below: Vec<_> = rules.iter().map(|r| (*r)?.member(name)).collect();
            child.defer(&below, false);
        }
        if let Some(any) = &mut self.any {
            let below: Vec<_> = rules.iter().map(|r| (*r)?.element()).collect();
            any.defer(&below, false);
        }
    }

    /// Whether the projection reads the whole payload.
    pub fn is_whole(&self) -> bool {
        self.whole
    }

    /// The finished projection of some paths (for tests).
    #[cfg(test)]
    pub(crate) fn of_paths(paths: &[&str]) -> Projection {
        let mut p = Projection::default();
        for path in paths {
            p.add_path(&super::path::Path::compile(path).unwrap().segments);
        }
        p.finish();
        p
    }

    /// Adds a path whose selected nodes are read whole.
    pub(crate) fn add_path(&mut self, segments: &[Segment]) {
        self.add_selected(segments, Leaf::Whole);
    }

    /// Adds a path whose selected nodes are built as far as `leaf` says.
    pub(crate) fn add_selected(&mut self, segments: &[Segment], leaf: Leaf) {
        let uses_root = segments
            .iter()
            .flat_map(|s| &s.selectors)
            .any(|s| matches!(s, Selector::Filter { uses_root: true }));
        if uses_root {
            self.whole = true;
        } else {
            self.add(segments, leaf);
        }
    }

    /// Adds a chain of member names whose end is read whole (`input.a.b` in an expression).
    pub(crate) fn add_names<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        let mut node = self;
        for name in names {
            if node.whole {
                return;
            }
            node = node.child(name);
        }
        node.whole = true;
    }

    fn add(&mut self, segments: &[Segment], leaf: Leaf) {
        if self.whole {
            return;
        }
        let Some((seg, rest)) = segments.split_first() else {
            // A shell is what a node of the projection without members builds.
            self.whole |= leaf == Leaf::Whole;
            return;
        };
        let filtered = seg
            .selectors
            .iter()
            .any(|s| matches!(s, Selector::Filter { .. }));
        if seg.descendant || filtered {
            self.whole = true;
            return;
        }
        for sel in &seg.selectors {
            match sel {
                Selector::Name(n) => self.child(n).add(rest, leaf),
                _ => self.any.get_or_insert_with(Box::default).add(rest, leaf),
            }
        }
    }

    fn child(&mut self, name: &str) -> &mut Projection {
        let i = match self.fields.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.fields.push((name.to_owned(), Projection::default()));
                self.fields.len() - 1
            }
        };
        &mut self.fields[i].1
    }

    /// Merges `any` into every named field, so that a member's projection is one lookup.
    pub(crate) fn finish(&mut self) {
        if self.whole {
            self.fields.clear();
            self.any = None;
            return;
        }
        if let Some(any) = &mut self.any {
            any.finish();
            let any = (**any).clone();
            for (_, f) in &mut self.fields {
                f.merge(&any);
            }
        }
        for (_, f) in &mut self.fields {
            f.finish();
        }
    }

    /// Adds what `other` reads.
    pub(crate) fn merge(&mut self, other: &Projection) {
        if other.whole {
            self.whole = true;
        }
        for (n, p) in &other.fields {
            self.child(n).merge(p);
        }
        if let Some(a) = &other.any {
            self.any.get_or_insert_with(Box::default).merge(a);
        }
    }

    /// The projection of a member (`None`: skip it); a whole node's members are whole.
    pub(crate) fn member(&self, name: &str) -> Option<&Projection> {
        if self.whole {
            return Some(self);
        }
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .or(self.any.as_deref())
    }

    /// The projection of every array element (`None`: skip them); a whole node's elements
    /// are whole.
    pub(crate) fn element(&self) -> Option<&Projection> {
        if self.whole {
            return Some(self);
        }
        self.any.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proj(paths: &[&str]) -> Projection {
        Projection::of_paths(paths)
    }

    #[test]
    fn names_and_wildcards() {
        let p = proj(&["$.a.b", "$.c[*]", "$.a.d"]);
        let a = p.member("a").unwrap();
        assert!(a.member("b").unwrap().whole && a.member("d").unwrap().whole);
        assert!(a.member("x").is_none());
        assert!(p.member("c").unwrap().element().unwrap().whole);
        assert!(p.member("zzz").is_none());
    }

    #[test]
    fn filters_descendants_and_root_references_read_more() {
        assert!(proj(&["$.a[?@.x > 1]"]).member("a").unwrap().whole);
        assert!(proj(&["$..x"]).whole);
        assert!(proj(&["$.a[?@.x == $.y]"]).whole);
        assert!(proj(&["$"]).whole);
    }

    #[test]
    fn a_presence_test_builds_a_shell_unless_the_node_is_also_read() {
        let path = |p: &str| super::super::path::Path::compile(p).unwrap().segments;
        let mut p = Projection::default();
        p.add_selected(&path("$.cognigy"), Leaf::Shell);
        p.add_selected(&path("$.items[*]"), Leaf::Shell);
        p.add_selected(&path("$.a[?@.x]"), Leaf::Shell);
        p.add_path(&path("$.user.id"));
        p.add_selected(&path("$.user"), Leaf::Shell);
        p.finish();
        let shell = p.member("cognigy").unwrap();
        assert!(!shell.whole && shell.fields.is_empty() && shell.any.is_none());
        let item = p.member("items").unwrap().element().unwrap();
        assert!(!item.whole && item.fields.is_empty());
        assert!(p.member("a").unwrap().whole, "a filter reads what it tests");
        assert!(p.member("user").unwrap().member("id").unwrap().whole);
        p.add_path(&path("$.cognigy"));
        assert!(p.member("cognigy").unwrap().whole);
    }

    #[test]
    fn what_only_some_rules_read_whole_is_deferred() {
        let one = proj(&["$.data", "$.cognigy.intents[*]", "$.sessionId"]);
        let two = proj(&["$.cognigy.intents[*]", "$.cognigy.flow", "$.sessionId"]);
        let p = Projection::of_rules(vec![one.clone(), two]);
        assert!(
            p.member("data").unwrap().deferred,
            "only the first rule reads data"
        );
        let cognigy = p.member("cognigy").unwrap();
        assert!(!cognigy.deferred && !cognigy.whole);
        assert!(
            !cognigy
                .member("intents")
                .unwrap()
                .element()
                .unwrap()
                .deferred
        );
        assert!(cognigy.member("flow").unwrap().deferred);
        assert!(!p.member("sessionId").unwrap().deferred);
        // A plan of one rule builds everything it reads while parsing.
        let alone = Projection::of_rules(vec![one.clone()]);
        assert!(!alone.member("data").unwrap().deferred);
        // A rule that reads all of the input reaches every part of it.
        let p = Projection::of_rules(vec![one, Projection::everything()]);
        assert!(p.whole && !p.deferred);
    }

    #[test]
    fn wildcard_merges_into_named_members() {
        let p = proj(&["$.*.x", "$.a.y"]);
        let a = p.member("a").unwrap();
        assert!(a.member("x").is_some() && a.member("y").is_some());
        assert!(p.member("other").unwrap().member("x").is_some());
    }
}
