//! Run-time errors: a stable code, a message, and the rule, target, path and node that failed.

use std::fmt;

use crate::codes::Code;

/// A transform that failed. Small (one pointer) so that `Result`s on the hot path stay small.
#[derive(Clone, PartialEq)]
pub struct Error(Box<Repr>);

#[derive(Debug, Clone, PartialEq)]
struct Repr {
    code: Code,
    message: String,
    rule: Option<String>,
    target: Option<String>,
    path: Option<String>,
    node: Option<String>,
}

impl Error {
    /// A new error without context.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error(Box::new(Repr {
            code,
            message: message.into(),
            rule: None,
            target: None,
            path: None,
            node: None,
        }))
    }

    pub(crate) fn with_rule(mut self, rule: &str) -> Self {
        self.0.rule.get_or_insert_with(|| rule.to_owned());
        self
    }

    pub(crate) fn with_target(mut self, target: &str) -> Self {
        self.0.target.get_or_insert_with(|| target.to_owned());
        self
    }

    pub(crate) fn with_path(mut self, path: &str) -> Self {
        self.0.path.get_or_insert_with(|| path.to_owned());
        self
    }

    pub(crate) fn with_node(mut self, node: String) -> Self {
        self.0.node.get_or_insert(node);
        self
    }

    /// The stable error code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// What went wrong, without the context.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The rule that failed, when one was chosen.
    pub fn rule(&self) -> Option<&str> {
        self.0.rule.as_deref()
    }

    /// The output target (or binding) whose mapping failed.
    pub fn target(&self) -> Option<&str> {
        self.0.target.as_deref()
    }

    /// The JSONPath (or template) that failed.
    pub fn path(&self) -> Option<&str> {
        self.0.path.as_deref()
    }

    /// The node the path selected whose value failed, as an RFC 9535 normalized path relative
    /// to what the path reads (the input, the context or a binding), e.g.
    /// `$['cognigy']['intents'][1]['confidence']`. Set when a selected value is null or fails
    /// its cast.
    pub fn node(&self) -> Option<&str> {
        self.0.node.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.code, self.0.code.slug())?;
        let mut sep = " (";
        for (what, v) in [
            ("rule", &self.0.rule),
            ("target", &self.0.target),
            ("path", &self.0.path),
            ("node", &self.0.node),
        ] {
            if let Some(v) = v {
                write!(f, "{sep}{what} `{v}`")?;
                sep = ", ";
            }
        }
        if sep == ", " {
            f.write_str(")")?;
        }
        write!(f, ": {}", self.0.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_small_send_sync_and_names_its_context() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        let e = Error::new(Code::CastFailed, "cannot cast \"abc\" to number")
            .with_path("$.a")
            .with_target("x.y")
            .with_rule("r");
        assert_eq!(
            e.to_string(),
            "E502 cast_failed (rule `r`, target `x.y`, path `$.a`): cannot cast \"abc\" to number"
        );
        assert_eq!(e.node(), None);
        let e = e.with_node("$['a'][1]".into());
        assert_eq!(e.node(), Some("$['a'][1]"));
        assert_eq!(
            e.to_string(),
            "E502 cast_failed (rule `r`, target `x.y`, path `$.a`, node `$['a'][1]`): cannot cast \"abc\" to number"
        );
        let e = Error::new(Code::Null, "the value is null").with_node("$".into());
        assert_eq!(e.to_string(), "E501 null (node `$`): the value is null");
    }
}
