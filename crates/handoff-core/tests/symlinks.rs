//! Files a rule reads must resolve inside the rules folder, symlinks included, and a rules
//! folder with a symlinked loop is an error, not a descent: real symlinks in temp folders.

#![cfg(unix)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use handoff_core::{Code, Diagnostic, Outcome, compile_paths};
use serde_json::json;

/// A temp folder holding `rules/` and, beside it, `outside/secret.json.j2` (valid JSON, so that
/// rendering it would succeed: only the check can stop it).
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("rules/templates")).unwrap();
    fs::create_dir_all(dir.path().join("outside")).unwrap();
    fs::write(
        dir.path().join("outside/secret.json.j2"),
        r#"{"secret": "from outside the rules folder"}"#,
    )
    .unwrap();
    fs::write(
        dir.path().join("outside/schema.json"),
        r#"{"type": "object"}"#,
    )
    .unwrap();
    dir
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

/// `rules/templates/NAME`, a symlink to the file outside the rules folder.
fn link_out(dir: &Path, name: &str) {
    symlink(
        dir.join("outside/secret.json.j2"),
        dir.join("rules/templates").join(name),
    )
    .unwrap();
}

/// The errors of compiling `rules/`, as `(code, file name, line, column)`.
fn errors(rules: &Path) -> Vec<(Code, String, usize, usize, Diagnostic)> {
    let diags = compile_paths(&[rules]).expect_err("the rules must not compile");
    diags
        .errors()
        .map(|d| {
            let (line, col) = d.line_col();
            let name = Path::new(&d.file.name)
                .strip_prefix(rules)
                .map_or(d.file.name.clone(), |p| p.display().to_string());
            (d.code, name, line, col, d.clone())
        })
        .collect()
}

fn only(errors: &[(Code, String, usize, usize, Diagnostic)]) -> (Code, &str, usize, usize) {
    assert_eq!(
        errors.len(),
        1,
        "{:#?}",
        errors.iter().map(|e| e.4.to_string()).collect::<Vec<_>>()
    );
    let (code, name, line, col, _) = &errors[0];
    (*code, name.as_str(), *line, *col)
}

const RULE_HEAD: &str = "[[rule]]\nname = \"r\"\n\n[rule.map]\n";

#[test]
fn a_template_file_that_is_a_symlink_out_is_refused_at_its_line() {
    let dir = setup();
    let rules = dir.path().join("rules");
    link_out(dir.path(), "cxone.json.j2");
    write(
        &rules.join("r.toml"),
        &format!("{RULE_HEAD}\"$\" = {{ template_file = \"templates/cxone.json.j2\" }}\n"),
    );
    let errors = errors(&rules);
    assert_eq!(only(&errors), (Code::OutsideRules, "r.toml", 5, 25));
    let message = errors[0].4.message.clone();
    assert!(message.contains("outside the rules folder"), "{message}");
    assert!(message.contains("secret.json.j2"), "{message}");
}

#[test]
fn a_symlinked_folder_out_is_refused_too() {
    let dir = setup();
    let rules = dir.path().join("rules");
    symlink(dir.path().join("outside"), rules.join("shared")).unwrap();
    write(
        &rules.join("r.toml"),
        &format!(
            "{RULE_HEAD}\"$\" = {{ template_file = \"shared/secret.json.j2\" }}\n\
             [[rule]]\nname = \"s\"\ninput_schema = \"shared/schema.json\"\n[rule.map]\nx = {{ value = 1 }}\n"
        ),
    );
    let errors = errors(&rules);
    let got: Vec<(Code, &str, usize)> = errors.iter().map(|e| (e.0, e.1.as_str(), e.2)).collect();
    assert_eq!(
        got,
        [
            (Code::OutsideRules, "r.toml", 5),
            (Code::OutsideRules, "r.toml", 8)
        ]
    );
}

#[test]
fn an_include_of_a_symlink_out_is_refused_at_the_include_line_of_the_template_file() {
    let dir = setup();
    let rules = dir.path().join("rules");
    link_out(dir.path(), "part.json.j2");
    write(
        &rules.join("templates/main.json.j2"),
        "{\n  \"a\": 1,\n  \"part\": {% include \"templates/part.json.j2\" %}\n}\n",
    );
    write(
        &rules.join("r.toml"),
        &format!("{RULE_HEAD}\"$\" = {{ template_file = \"templates/main.json.j2\" }}\n"),
    );
    assert_eq!(
        only(&errors(&rules)),
        (Code::OutsideRules, "templates/main.json.j2", 3, 22)
    );
}

#[test]
fn an_inline_include_of_a_symlink_or_a_dot_dot_path_is_refused_at_compile_time() {
    let dir = setup();
    let rules = dir.path().join("rules");
    link_out(dir.path(), "part.json.j2");
    write(
        &rules.join("r.toml"),
        &format!(
            "{RULE_HEAD}\"a\" = {{ template = '{{% include \"templates/part.json.j2\" %}}' }}\n\
             \"b\" = {{ template = '{{% import \"../outside/secret.json.j2\" as s %}}1' }}\n"
        ),
    );
    let errors = errors(&rules);
    let got: Vec<(Code, &str, usize, usize)> = errors
        .iter()
        .map(|e| (e.0, e.1.as_str(), e.2, e.3))
        .collect();
    // Each at the string that names the file, inside the TOML string.
    assert_eq!(
        got,
        [
            (Code::OutsideRules, "r.toml", 5, 32),
            (Code::OutsideRules, "r.toml", 6, 31)
        ]
    );
}

#[test]
fn a_nested_include_is_checked_and_a_computed_name_is_refused() {
    let dir = setup();
    let rules = dir.path().join("rules");
    link_out(dir.path(), "deep.json.j2");
    write(
        &rules.join("templates/mid.json.j2"),
        "{% include \"templates/deep.json.j2\" %}",
    );
    write(
        &rules.join("r.toml"),
        &format!(
            "{RULE_HEAD}\"a\" = {{ template = '{{% include \"templates/mid.json.j2\" %}}' }}\n\
             \"b\" = {{ template = '{{% include input.name ~ \".j2\" %}}' }}\n"
        ),
    );
    let errors = errors(&rules);
    let mut got: Vec<(Code, &str, usize)> =
        errors.iter().map(|e| (e.0, e.1.as_str(), e.2)).collect();
    got.sort();
    assert_eq!(
        got,
        [
            (Code::OutsideRules, "templates/mid.json.j2", 1),
            (Code::TemplateSyntax, "r.toml", 6)
        ]
    );
}

#[test]
fn symlinks_that_stay_inside_are_followed_and_includes_render_without_a_loader() {
    let dir = setup();
    let rules = dir.path().join("rules");
    fs::create_dir_all(rules.join("templates/v2")).unwrap();
    write(
        &rules.join("templates/v2/part.json.j2"),
        "{\"intent\": {{ input.intent }}}",
    );
    symlink(rules.join("templates/v2"), rules.join("templates/current")).unwrap();
    write(
        &rules.join("r.toml"),
        &format!(
            "{RULE_HEAD}\"$\" = {{ template = '{{\"part\": {{% include \"templates/current/part.json.j2\" %}}}}' }}\n"
        ),
    );
    let plan = compile_paths(&[&rules])
        .unwrap_or_else(|d| panic!("{d}"))
        .plan;
    let (outcome, out) = plan
        .transform_value(None, br#"{"intent": "billing"}"#, None)
        .unwrap();
    assert_eq!(outcome, Outcome::Transformed { rule: "r" });
    assert_eq!(out, Some(json!({"part": {"intent": "billing"}})));
    // The included file is part of the rule set: changing it changes the hash.
    let before = plan.hash().to_owned();
    write(
        &rules.join("templates/v2/part.json.j2"),
        "{\"intent\": {{ input.intent }}, \"v\": 2}",
    );
    let after = compile_paths(&[&rules]).unwrap().plan;
    assert_ne!(after.hash(), before);
}

#[test]
fn a_symlinked_folder_loop_is_an_error_not_a_descent() {
    let dir = setup();
    let rules = dir.path().join("rules");
    fs::create_dir_all(rules.join("team/a")).unwrap();
    write(
        &rules.join("team/a/r.toml"),
        &format!("{RULE_HEAD}x = {{ value = 1 }}\n"),
    );
    // team/a/back -> team: walking it would reach team/a/back/a/back/... 40 levels deep.
    symlink(rules.join("team"), rules.join("team/a/back")).unwrap();
    let errors = errors(&rules);
    let (code, name, line, col) = only(&errors);
    assert_eq!(
        (code, name, line, col),
        (Code::SymlinkLoop, "team/a/back", 1, 1)
    );
    assert!(
        errors[0].4.message.contains("links back to"),
        "{}",
        errors[0].4.message
    );
    // Without the loop the folder compiles: the one rule file is found once.
    fs::remove_file(rules.join("team/a/back")).unwrap();
    let plan = compile_paths(&[&rules]).unwrap().plan;
    assert_eq!(plan.rule_names().collect::<Vec<_>>(), ["r"]);
}
