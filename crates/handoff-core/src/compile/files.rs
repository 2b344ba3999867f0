//! The files rules read: rule folders walked (a symlinked loop is an error, not a descent), and
//! every template file, include and schema resolved, symlinks followed, inside the rules folder.

use std::fs;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use minijinja::machinery::{Token, WhitespaceConfig, tokenize};
use minijinja::syntax::SyntaxConfig;
use sha2::Digest;

use super::{Ctx, span};
use crate::codes::Code;
use crate::diagnostic::{Diagnostic, SourceFile};
use crate::rules::SStr;

/// Every `*.toml` below `dir` (hidden entries skipped, symlinks followed), in path order, into
/// `files`. A symlinked folder that leads back to a folder it is in is E119 (it would be walked
/// until the system's limit of 40 links); an entry that cannot be read is E100.
pub(crate) fn rule_files(dir: &Path, files: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    let mut found = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walk {
        match entry {
            Ok(e) if e.file_type().is_file() && is_toml(e.path()) => found.push(e.into_path()),
            Ok(_) => {}
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let file = Arc::new(SourceFile::new(path.display().to_string(), String::new()));
                if let Some(ancestor) = e.loop_ancestor() {
                    let message = format!(
                        "{} links back to {}, a folder it is in: the rules folder has a loop",
                        path.display(),
                        ancestor.display()
                    );
                    let hint = "remove the symlink, or point it at a folder outside its parents";
                    diags.push(
                        Diagnostic::error(Code::SymlinkLoop, &file, 0..0, message).with_hint(hint),
                    );
                } else if is_toml(&path) || !dangling(&e) {
                    // A dangling link named anything but `*.toml` is not a rule file.
                    diags.push(Diagnostic::error(
                        Code::Io,
                        &file,
                        0..0,
                        format!("cannot read {}: {e}", path.display()),
                    ));
                }
            }
        }
    }
    found.sort();
    files.extend(found);
}

/// A symlink whose target does not exist.
fn dangling(e: &walkdir::Error) -> bool {
    e.io_error()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
}

fn is_toml(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "toml")
}

/// Where a diagnostic about a named file goes: a span of a rule file or of a template file.
#[derive(Clone)]
pub(crate) struct Place {
    file: Arc<SourceFile>,
    span: Range<usize>,
}

/// A template another names with `{% include %}`, `{% import %}`, `{% from … import %}` or
/// `{% extends %}`.
#[derive(Debug, PartialEq)]
struct Named {
    /// The name, or `None` when an expression computes it.
    name: Option<String>,
    /// The bytes of the template that name it.
    span: Range<usize>,
    /// `{% include … ignore missing %}`.
    ignore_missing: bool,
}

/// Where a template's text came from, to place diagnostics about what it names.
pub(crate) enum Origin<'a> {
    /// Inline in the rule file, as the TOML string at this span.
    Inline(Range<usize>),
    /// A template file (its path as given, for diagnostics).
    File(&'a Path),
}

/// The templates `text` names, found with minijinja's own lexer (comments, raw blocks and
/// strings are read as minijinja reads them). A template that does not lex names nothing here:
/// compiling it reports the error.
// `SyntaxConfig` is a unit struct only while minijinja's `custom_syntax` feature is off.
#[allow(clippy::default_constructed_unit_structs)]
fn named_templates(text: &str) -> Vec<Named> {
    let tokens: Vec<(Token<'_>, Range<usize>)> = tokenize(
        text,
        false,
        SyntaxConfig::default(),
        WhitespaceConfig::default(),
    )
    .map_while(Result::ok)
    .map(|(t, s)| (t, s.start_offset as usize..s.end_offset as usize))
    .collect();
    let mut named = Vec::new();
    let mut i = 0;
    while i + 1 < tokens.len() {
        let keyword = match (&tokens[i].0, &tokens[i + 1].0) {
            (Token::BlockStart, Token::Ident(k @ ("include" | "import" | "from" | "extends"))) => {
                *k
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i + 2;
        let mut end = start;
        while end < tokens.len() && !ends_name(keyword, &tokens[end].0) {
            end += 1;
        }
        let expr = &tokens[start..end];
        let ignore_missing =
            keyword == "include" && matches!(tokens.get(end), Some((Token::Ident("ignore"), _)));
        let literal = |t: &Token<'_>| match t {
            Token::Str(s) => Some((*s).to_owned()),
            Token::String(s) => Some(s.to_string()),
            _ => None,
        };
        // A string, or (`include` only) a list of strings, the first that exists is used.
        let list = expr.len() >= 2
            && matches!(expr[0].0, Token::BracketOpen)
            && matches!(expr[expr.len() - 1].0, Token::BracketClose)
            && expr[1..expr.len() - 1]
                .iter()
                .enumerate()
                .all(|(k, (t, _))| {
                    if k % 2 == 0 {
                        literal(t).is_some()
                    } else {
                        matches!(t, Token::Comma)
                    }
                });
        let strings: Vec<&(Token<'_>, Range<usize>)> = match expr {
            [one] if literal(&one.0).is_some() => vec![one],
            _ if list => expr.iter().filter(|(t, _)| literal(t).is_some()).collect(),
            _ => Vec::new(),
        };
        if strings.is_empty() {
            let span = match (expr.first(), expr.last()) {
                (Some(a), Some(b)) => a.1.start..b.1.end,
                _ => tokens[i + 1].1.clone(),
            };
            named.push(Named {
                name: None,
                span,
                ignore_missing,
            });
        }
        for (t, span) in strings {
            named.push(Named {
                name: literal(t),
                span: span.clone(),
                ignore_missing: ignore_missing || list,
            });
        }
        i = end;
    }
    named
}

/// Whether `t` ends the template name of a `keyword` statement.
fn ends_name(keyword: &str, t: &Token<'_>) -> bool {
    matches!(
        (keyword, t),
        (_, Token::BlockEnd)
            | ("include", Token::Ident("ignore" | "with" | "without"))
            | ("import", Token::Ident("as"))
            | ("from", Token::Ident("import"))
    )
}

/// A name minijinja's `path_loader` would accept: `/`-separated segments, none starting with
/// a dot (no `..`) or holding a backslash, and not absolute.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .split('/')
            .all(|s| !s.is_empty() && !s.starts_with('.') && !s.contains('\\'))
}

/// Where a diagnostic about bytes `span` of a template goes: the template file, or the TOML
/// string of an inline template (offset past its opening quotes; escapes may shift it).
fn place(
    rule_file: &Arc<SourceFile>,
    text: &str,
    origin: &Origin<'_>,
    span: Range<usize>,
) -> Place {
    match origin {
        Origin::Inline(at) => {
            let value = rule_file.text.get(at.clone()).unwrap_or("");
            let quotes = if value.starts_with("'''") || value.starts_with("\"\"\"") {
                3
            } else {
                1
            };
            let base = at.start + quotes;
            let start = (base + span.start).min(at.end);
            Place {
                file: Arc::clone(rule_file),
                span: start..(base + span.end).clamp(start, at.end),
            }
        }
        Origin::File(path) => Place {
            file: Arc::new(SourceFile::new(path.display().to_string(), text)),
            span,
        },
    }
}

/// A folder as named in messages and resolved: `.` for the empty path.
fn shown(folder: &Path) -> &Path {
    if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    }
}

impl Ctx<'_> {
    /// The folder every file a rule reads must resolve inside: the rules folder, or the rule
    /// file's own folder; as given, so that the paths below it start with it (it is empty
    /// for a rule file named without a folder).
    fn folder(&self) -> PathBuf {
        self.root.unwrap_or(&self.dir).to_path_buf()
    }

    fn place_of(&self, raw: &SStr) -> Place {
        Place {
            file: Arc::clone(self.file),
            span: span(raw),
        }
    }

    fn fail(&mut self, code: Code, at: &Place, message: String, hint: &str) {
        self.diags
            .push(Diagnostic::error(code, &at.file, at.span.clone(), message).with_hint(hint));
    }

    /// `full` with its symlinks resolved, when it resolves inside the rules folder; otherwise
    /// E100 (it cannot be resolved) or E118 (it is outside), at `at`.
    fn resolve_inside(&mut self, full: &Path, at: &Place, ignore_missing: bool) -> Option<PathBuf> {
        let folder = self.folder();
        let resolved = match fs::canonicalize(full) {
            Ok(p) => p,
            Err(e) if ignore_missing && e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return self.unreadable(full, &e, at),
        };
        let inside = fs::canonicalize(shown(&folder)).is_ok_and(|f| resolved.starts_with(f));
        if !inside {
            let message = format!(
                "{} resolves to {}, outside the rules folder {}",
                full.display(),
                resolved.display(),
                shown(&folder).display()
            );
            let hint = "a rule reads only files inside its rules folder, symlinks included: \
                        move the file in, or point the symlink inside";
            self.fail(Code::OutsideRules, at, message, hint);
            return None;
        }
        Some(resolved)
    }

    /// Reads `resolved` (the file `full` resolved), E100 at `at` when it cannot be read.
    fn read_resolved(&mut self, full: &Path, resolved: &Path, at: &Place) -> Option<String> {
        match fs::read_to_string(resolved) {
            Ok(text) => Some(text),
            Err(e) => self.unreadable(full, &e, at),
        }
    }

    /// E100 at `at`: `full` cannot be resolved or read.
    fn unreadable<T>(&mut self, full: &Path, e: &std::io::Error, at: &Place) -> Option<T> {
        let message = format!("cannot read {}: {e}", full.display());
        let hint = "a template file or schema is named relative to the rule file, an included \
                    template relative to the rules folder";
        self.fail(Code::Io, at, message, hint);
        None
    }

    /// Reads a file named relative to the rule file (a schema), inside the rules folder.
    pub(crate) fn read_beside(&mut self, raw: &SStr) -> Option<String> {
        let full = self.dir.join(raw.get_ref());
        let at = self.place_of(raw);
        let resolved = self.resolve_inside(&full, &at, false)?;
        self.read_resolved(&full, &resolved, &at)
    }

    /// A `template_file`: its name relative to the rules folder (how templates name it), its
    /// path as given, and its text; it must resolve inside the rules folder.
    pub(crate) fn template_file(&mut self, raw: &SStr) -> Option<(String, PathBuf, String)> {
        let full = self.dir.join(raw.get_ref());
        let at = self.place_of(raw);
        let folder = self.folder();
        let name = full
            .strip_prefix(&folder)
            .ok()
            .filter(|r| r.components().all(|c| matches!(c, Component::Normal(_))))
            .map(|r| r.to_string_lossy().replace('\\', "/"));
        let Some(name) = name else {
            let message = format!(
                "template `{}` is outside the rules folder {}",
                raw.get_ref(),
                shown(&folder).display()
            );
            self.fail(
                Code::OutsideRules,
                &at,
                message,
                "keep templates inside the rules folder",
            );
            return None;
        };
        let resolved = self.resolve_inside(&full, &at, false)?;
        let text = self.read_resolved(&full, &resolved, &at)?;
        Some((name, full, text))
    }

    /// Loads every template that `text` names (includes, imports, extends), and those they
    /// name, into the environment, each read from inside the rules folder; a name computed by
    /// an expression is E301, since its file could not be checked now. Returns whether `text`
    /// names any.
    pub(crate) fn load_named(&mut self, text: &str, origin: Origin<'_>) -> bool {
        let rule_file = Arc::clone(self.file);
        let first = named_templates(text);
        let composes = !first.is_empty();
        let mut pending: Vec<(Named, Place)> = first
            .into_iter()
            .map(|n| {
                let at = place(&rule_file, text, &origin, n.span.clone());
                (n, at)
            })
            .collect();
        while let Some((named, at)) = pending.pop() {
            let Some(name) = named.name else {
                self.fail(
                    Code::TemplateSyntax,
                    &at,
                    "a template named by an expression cannot be checked when the rules compile"
                        .to_owned(),
                    "name the template with a string literal: {% include \"parts/message.j2\" %}",
                );
                continue;
            };
            let folder = self.folder();
            if !safe_name(&name) {
                let message = format!(
                    "template `{name}` is outside the rules folder {}",
                    shown(&folder).display()
                );
                let hint = "name a template by its path inside the rules folder, without `..`";
                self.fail(Code::OutsideRules, &at, message, hint);
                continue;
            }
            let full = folder.join(&name);
            let Some(resolved) = self.resolve_inside(&full, &at, named.ignore_missing) else {
                continue;
            };
            match self.jinja.loaded.get(&name) {
                Some(same) if *same == resolved => continue,
                Some(other) => {
                    let message = format!(
                        "template `{name}` is {} here, but {} was loaded under that name",
                        resolved.display(),
                        other.display()
                    );
                    let hint = "give the templates of different rules folders distinct paths";
                    self.fail(Code::TemplateSyntax, &at, message, hint);
                    continue;
                }
                None => {}
            }
            let Some(included) = self.read_resolved(&full, &resolved, &at) else {
                continue;
            };
            self.hasher.update(included.as_bytes());
            self.jinja.loaded.insert(name.clone(), resolved);
            if let Err(e) = self
                .jinja
                .env
                .add_template_owned(name.clone(), included.clone())
            {
                let detail = e
                    .detail()
                    .map_or_else(|| e.kind().to_string(), str::to_owned);
                let message = format!("template {name}: {detail}");
                self.fail(
                    Code::TemplateSyntax,
                    &at,
                    message,
                    "see docs/rules.md, \"Templates\"",
                );
                continue;
            }
            let origin = Origin::File(&full);
            for n in named_templates(&included) {
                let at = place(&rule_file, &included, &origin, n.span.clone());
                pending.push((n, at));
            }
        }
        composes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<(Option<String>, &str, bool)> {
        named_templates(text)
            .into_iter()
            .map(|n| (n.name, &text[n.span], n.ignore_missing))
            .collect()
    }

    #[test]
    fn every_statement_that_names_a_template_is_found() {
        let text = r#"{% extends "base.j2" %}{# {% include "comment.j2" %} #}
{%- include 'a.j2' -%}{% include "b\"q.j2" ignore missing with context %}
{% import "m.j2" as m %}{% from "f.j2" import x, y %}{% raw %}{% include "raw.j2" %}{% endraw %}
{% include ["c.j2", "d.j2"] %}{% include input.name ~ ".j2" %}{{ "include" }}"#;
        assert_eq!(
            names(text),
            [
                (Some("base.j2".into()), "\"base.j2\"", false),
                (Some("a.j2".into()), "'a.j2'", false),
                (Some("b\"q.j2".into()), "\"b\\\"q.j2\"", true),
                (Some("m.j2".into()), "\"m.j2\"", false),
                (Some("f.j2".into()), "\"f.j2\"", false),
                (Some("c.j2".into()), "\"c.j2\"", true),
                (Some("d.j2".into()), "\"d.j2\"", true),
                (None, "input.name ~ \".j2\"", false),
            ]
        );
    }

    #[test]
    fn names_are_those_path_loader_accepts() {
        assert!(safe_name("parts/message.json.j2"));
        for bad in [
            "../x",
            "a/../x",
            "/etc/passwd",
            ".hidden",
            "a\\b",
            "",
            "a//b",
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
    }
}
