//! Compile diagnostics: code, message, file:line:column, hint, and their rendering.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::{self, Files};
use codespan_reporting::term::{self, termcolor};

use crate::codes::Code;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The rule file cannot be compiled.
    Error,
    /// The rule compiles, but something in it is probably a mistake.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A rule file as read: its display name and its text, shared by its diagnostics.
#[derive(Debug)]
pub struct SourceFile {
    /// The path the file was read from, as given.
    pub name: String,
    /// The whole text.
    pub text: String,
    /// The byte offset of each line's start, found once on first need: a compile asks for
    /// the line of every expression, so scanning the text each time would be quadratic.
    line_starts: OnceLock<Vec<usize>>,
}

impl SourceFile {
    /// A file named `name` (the path it was read from, as given) with its text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile {
            name: name.into(),
            text: text.into(),
            line_starts: OnceLock::new(),
        }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        self.location((), offset)
            .map_or((1, 1), |l| (l.line_number, l.column_number))
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts
            .get_or_init(|| files::line_starts(&self.text).collect())
    }
}

/// The file as codespan sees it, with the line index computed once (`SimpleFile` computes it
/// anew each time it is built).
impl<'a> Files<'a> for SourceFile {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(&self.name)
    }

    fn source(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(&self.text)
    }

    fn line_index(&'a self, (): (), byte_index: usize) -> Result<usize, files::Error> {
        let starts = self.line_starts();
        Ok(starts
            .binary_search(&byte_index)
            .unwrap_or_else(|next| next - 1))
    }

    fn line_range(&'a self, (): (), line_index: usize) -> Result<Range<usize>, files::Error> {
        let starts = self.line_starts();
        let start = *starts.get(line_index).ok_or(files::Error::LineTooLarge {
            given: line_index,
            max: starts.len() - 1,
        })?;
        let end = starts
            .get(line_index + 1)
            .copied()
            .unwrap_or(self.text.len());
        Ok(start..end)
    }
}

/// One problem found while compiling rule files.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The stable code, documented in `docs/errors.md`.
    pub code: Code,
    /// What is wrong, lower-case, without a trailing period.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub hint: Option<String>,
    /// The file the problem is in.
    pub file: Arc<SourceFile>,
    /// Byte range in the file.
    pub span: Range<usize>,
}

impl Diagnostic {
    /// A new diagnostic at `span` of `file`.
    pub fn new(
        severity: Severity,
        code: Code,
        file: &Arc<SourceFile>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let (file, message, hint) = (Arc::clone(file), message.into(), None);
        Diagnostic {
            severity,
            code,
            message,
            hint,
            file,
            span,
        }
    }

    /// A new error at `span` of `file`.
    pub fn error(
        code: Code,
        file: &Arc<SourceFile>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic::new(Severity::Error, code, file, span, message)
    }

    /// A new warning at `span` of `file`.
    pub fn warning(
        code: Code,
        file: &Arc<SourceFile>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic::new(Severity::Warning, code, file, span, message)
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// 1-based line and column of the start of the span.
    pub fn line_col(&self) -> (usize, usize) {
        self.file.line_col(self.span.start)
    }

    /// Renders the diagnostic like a compiler: the one-line header, the source line with a caret
    /// under the span, and the hint. `color` adds ANSI colours.
    pub fn render(&self, color: bool) -> String {
        let file = &*self.file;
        let end = self.span.end.max(self.span.start).min(self.file.text.len());
        let start = self.span.start.min(end);
        let mut cs = match self.severity {
            Severity::Error => CsDiagnostic::error(),
            Severity::Warning => CsDiagnostic::warning(),
        }
        .with_code(self.code.to_string())
        .with_message(&self.message)
        .with_labels(vec![Label::primary((), start..end)]);
        if let Some(hint) = &self.hint {
            cs = cs.with_notes(vec![format!("hint: {hint}")]);
        }
        let mut buf = if color {
            termcolor::Buffer::ansi()
        } else {
            termcolor::Buffer::no_color()
        };
        let config = term::Config::default();
        // Rendering into memory cannot fail on I/O; a failure would only mean a bad span, and
        // then the one-line form below is still printed.
        let _ = term::emit(&mut buf, &config, file, &cs);
        let body = String::from_utf8_lossy(buf.as_slice());
        // codespan repeats the message as a header; the one-line form above replaces it.
        let excerpt: Vec<&str> = body.lines().skip_while(|l| !l.contains('┌')).collect();
        format!("{self}\n{}\n", excerpt.join("\n"))
    }
}

impl fmt::Display for Diagnostic {
    /// The one-line form: `path:LINE:COL: error[CODE]: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, col) = self.line_col();
        write!(
            f,
            "{}:{line}:{col}: {}[{}]: {}",
            self.file.name, self.severity, self.code, self.message
        )
    }
}

/// Every error (and warning) found while compiling; returned when compilation fails.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// Renders every diagnostic (see [`Diagnostic::render`]).
    pub fn render(&self, color: bool) -> String {
        self.0
            .iter()
            .map(|d| d.render(color))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use codespan_reporting::files::SimpleFile;

    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let file = SourceFile::new("x.toml", "a = 1\nbé = \"x\"\n");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(6), (2, 1));
        // "bé" is 3 bytes; the "=" after "bé " is the 4th character.
        assert_eq!(file.line_col(10), (2, 4));
    }

    #[test]
    fn line_col_and_ranges_agree_with_codespans_simple_file() {
        let text = "a = 1\r\nbé = \"x\"\n\n  ü\u{1F600} = 2\nlast";
        let file = SourceFile::new("x.toml", text);
        let simple = SimpleFile::new("x.toml", text);
        for offset in (0..=text.len()).filter(|o| text.is_char_boundary(*o)) {
            let want = simple.location((), offset).unwrap();
            assert_eq!(
                file.line_col(offset),
                (want.line_number, want.column_number),
                "at {offset}"
            );
            let line = simple.line_index((), offset).unwrap();
            assert_eq!(file.line_index((), offset).unwrap(), line);
            assert_eq!(
                file.line_range((), line).unwrap(),
                simple.line_range((), line).unwrap()
            );
        }
        assert!(file.line_range((), 99).is_err());
        assert_eq!(file.line_col(text.len() + 10), file.line_col(text.len()));
    }
}
