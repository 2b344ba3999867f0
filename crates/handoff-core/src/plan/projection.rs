//! The projection: which parts of a payload a plan reads, so the parser builds only those.

use super::path::{Segment, Selector};

/// A tree of the members and elements a plan reads. A `whole` node is built completely; any
/// other node is built only as far as its `fields` (named members) and `any` (every member or
/// element) reach, and everything else is skipped by the parser without being built.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Projection {
    pub(crate) whole: bool,
    pub(crate) fields: Vec<(String, Projection)>,
    pub(crate) any: Option<Box<Projection>>,
}

impl Projection {
    /// A projection that reads everything.
    #[cfg(test)]
    pub(crate) fn everything() -> Projection {
        Projection {
            whole: true,
            ..Projection::default()
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
        let uses_root = segments
            .iter()
            .flat_map(|s| &s.selectors)
            .any(|s| matches!(s, Selector::Filter { uses_root: true }));
        if uses_root {
            self.whole = true;
        } else {
            self.add(segments);
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

    fn add(&mut self, segments: &[Segment]) {
        if self.whole {
            return;
        }
        let Some((seg, rest)) = segments.split_first() else {
            self.whole = true;
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
                Selector::Name(n) => self.child(n).add(rest),
                _ => self.any.get_or_insert_with(Box::default).add(rest),
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

    fn merge(&mut self, other: &Projection) {
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

    /// The projection of a member (`None`: skip it).
    pub(crate) fn member(&self, name: &str) -> Option<&Projection> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .or(self.any.as_deref())
    }

    /// The projection of every array element (`None`: skip them).
    pub(crate) fn element(&self) -> Option<&Projection> {
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
    fn wildcard_merges_into_named_members() {
        let p = proj(&["$.*.x", "$.a.y"]);
        let a = p.member("a").unwrap();
        assert!(a.member("x").is_some() && a.member("y").is_some());
        assert!(p.member("other").unwrap().member("x").is_some());
    }
}
