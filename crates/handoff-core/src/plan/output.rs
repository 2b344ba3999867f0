//! The output tree: the shape of a rule's output, known at compile time, filled per payload.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// A node of the output: a value slot, or an object of named children (in mapping order).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OutNode {
    Leaf(usize),
    Object(Vec<(String, OutNode)>),
}

/// Why a target cannot be placed in the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TargetError {
    Malformed,
    /// Conflicts with the target of this slot.
    Conflict(usize),
}

/// Splits a target (`a.b.c`, or `$` for the whole output) into member names.
pub(crate) fn split_target(target: &str) -> Result<Vec<&str>, TargetError> {
    let t = target.strip_prefix("$.").unwrap_or(target);
    if t == "$" {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = t.split('.').collect();
    if parts.iter().any(|p| p.is_empty() || p.trim() != *p) {
        return Err(TargetError::Malformed);
    }
    Ok(parts)
}

impl OutNode {
    /// Inserts slot `slot` at `names`, creating objects as needed.
    pub(crate) fn insert(&mut self, names: &[&str], slot: usize) -> Result<(), TargetError> {
        let Some((first, rest)) = names.split_first() else {
            return match self {
                OutNode::Object(children) if children.is_empty() => {
                    *self = OutNode::Leaf(slot);
                    Ok(())
                }
                other => Err(TargetError::Conflict(other.first_slot())),
            };
        };
        match self {
            OutNode::Leaf(s) => Err(TargetError::Conflict(*s)),
            OutNode::Object(children) => {
                if let Some((_, child)) = children.iter_mut().find(|(n, _)| n == first) {
                    return child.insert(rest, slot);
                }
                let mut child = OutNode::Object(Vec::new());
                child.insert(rest, slot)?;
                children.push(((*first).to_owned(), child));
                Ok(())
            }
        }
    }

    fn first_slot(&self) -> usize {
        match self {
            OutNode::Leaf(s) => *s,
            OutNode::Object(c) => c.first().map_or(0, |(_, n)| n.first_slot()),
        }
    }

    fn is_set<T>(&self, slots: &[Option<T>]) -> bool {
        match self {
            OutNode::Leaf(s) => slots[*s].is_some(),
            OutNode::Object(children) => children.iter().any(|(_, c)| c.is_set(slots)),
        }
    }

    /// Builds the output as a `Value` (for schema validation and pass-through).
    pub(crate) fn to_value(&self, slots: &[Option<Cow<'_, Value>>]) -> Value {
        match self {
            OutNode::Leaf(s) => slots[*s].as_deref().cloned().unwrap_or(Value::Null),
            OutNode::Object(children) => Value::Object(
                children
                    .iter()
                    .filter(|(_, c)| c.is_set(slots))
                    .map(|(n, c)| (n.clone(), c.to_value(slots)))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }

    /// Writes the mapped values into `base` (pass-through: the input plus the mapped fields).
    pub(crate) fn merge_into(&self, base: &mut Value, slots: &[Option<Cow<'_, Value>>]) {
        match self {
            OutNode::Leaf(s) => {
                if let Some(v) = &slots[*s] {
                    *base = v.as_ref().clone();
                }
            }
            OutNode::Object(children) => {
                if !base.is_object() {
                    *base = Value::Object(Map::new());
                }
                if let Value::Object(map) = base {
                    for (n, c) in children.iter().filter(|(_, c)| c.is_set(slots)) {
                        c.merge_into(map.entry(n.clone()).or_insert(Value::Null), slots);
                    }
                }
            }
        }
    }
}

/// A filled output tree, serialized without building a `Value`.
pub(crate) struct Filled<'a, T> {
    pub(crate) node: &'a OutNode,
    pub(crate) slots: &'a [Option<T>],
}

impl<T: Serialize> Serialize for Filled<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.node {
            OutNode::Leaf(i) => match &self.slots[*i] {
                Some(v) => v.serialize(s),
                None => s.serialize_none(),
            },
            OutNode::Object(children) => {
                let mut map = s.serialize_map(None)?;
                for (name, child) in children {
                    if child.is_set(self.slots) {
                        map.serialize_entry(
                            name,
                            &Filled {
                                node: child,
                                slots: self.slots,
                            },
                        )?;
                    }
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_nested_objects_and_finds_conflicts() {
        let mut root = OutNode::Object(Vec::new());
        root.insert(&split_target("a.b").unwrap(), 0).unwrap();
        root.insert(&split_target("a.c").unwrap(), 1).unwrap();
        root.insert(&split_target("d").unwrap(), 2).unwrap();
        assert_eq!(
            root.insert(&split_target("a.b.x").unwrap(), 3),
            Err(TargetError::Conflict(0))
        );
        assert_eq!(
            root.insert(&split_target("a").unwrap(), 3),
            Err(TargetError::Conflict(0))
        );
        assert_eq!(split_target("a..b"), Err(TargetError::Malformed));
        let slots = vec![
            Some(Cow::Owned(json!(1))),
            None,
            Some(Cow::Owned(json!("x"))),
        ];
        let text = serde_json::to_string(&Filled {
            node: &root,
            slots: &slots,
        })
        .unwrap();
        assert_eq!(text, r#"{"a":{"b":1},"d":"x"}"#);
        assert_eq!(root.to_value(&slots), json!({"a": {"b": 1}, "d": "x"}));
    }
}
