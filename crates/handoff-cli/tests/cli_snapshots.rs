//! Snapshot tests of the real `handoff` binary: what a rule author sees, with timings redacted.

use std::path::{Path, PathBuf};
use std::process::Command;

use insta_cmd::assert_cmd_snapshot;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn handoff() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handoff"));
    cmd.current_dir(root()).env("NO_COLOR", "1");
    cmd
}

/// Redacts what changes from run to run: timings, throughput, temporary paths.
fn redacted() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"\d+\.\d+ s, \d+ transforms/s",
        "[ELAPSED] s, [N] transforms/s",
    );
    settings.add_filter(r"(p50|p90|p99|p99\.9|max) \d+\.\d+ µs", "$1 [T] µs");
    settings.add_filter(r#""latency_us":[0-9.e-]+"#, r#""latency_us":[T]"#);
    settings.add_filter(r#""time":"[^"]+""#, r#""time":"[TIME]""#);
    settings.add_filter(r"/tmp/\.tmp\w+", "[TMP]");
    settings
}

#[test]
fn run_with_malformed_lines_mixed_in() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.ndjson");
    let audit = dir.path().join("audit.ndjson");
    let _guard = redacted().bind_to_scope();
    assert_cmd_snapshot!(handoff().args([
        "run",
        "rules/cxone_handoff.toml",
        "fixtures/cli/mixed.ndjson",
        "--dead-letter",
        dead.to_str().unwrap(),
        "--audit",
        audit.to_str().unwrap(),
    ]));
    insta::assert_snapshot!("dead_letter", std::fs::read_to_string(&dead).unwrap());
    insta::assert_snapshot!("audit", std::fs::read_to_string(&audit).unwrap());
}

#[test]
fn run_with_two_jobs_writes_the_same_lines_in_the_same_order() {
    let run = |jobs: &str| {
        let out = handoff()
            .args([
                "run",
                "rules/cxone_handoff.toml",
                "fixtures/cxone_handoff/payloads.ndjson",
                "fixtures/cli/mixed.ndjson",
                "fixtures/cxone_handoff/payloads.ndjson",
                "--jobs",
                jobs,
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "mixed.ndjson has failures");
        out.stdout
    };
    let one = run("1");
    assert_eq!(one.split(|b| *b == b'\n').count() - 1, 803);
    assert_eq!(run("2"), one);
    assert_eq!(run("7"), one);
}

#[test]
fn a_failing_output_write_is_an_error_not_a_truncation() {
    let _guard = redacted().bind_to_scope();
    assert_cmd_snapshot!(handoff().args([
        "run",
        "rules/cxone_handoff.toml",
        "fixtures/cxone_handoff/payloads.ndjson",
        "--output",
        "/dev/full",
    ]));
}

#[test]
fn check_shows_every_error_with_a_caret_and_a_hint() {
    assert_cmd_snapshot!(handoff().args(["check", "fixtures/core/err_four_errors/rule.toml"]));
}

#[test]
fn explain_the_canonical_rule() {
    assert_cmd_snapshot!(handoff().args(["explain", "rules/cxone_handoff.toml"]));
}

#[test]
fn test_the_canonical_rule() {
    assert_cmd_snapshot!(handoff().args(["test", "rules/cxone_handoff.toml"]));
}

#[test]
fn help_of_every_command() {
    for command in [
        None,
        Some("run"),
        Some("check"),
        Some("explain"),
        Some("test"),
        Some("schema"),
        Some("serve"),
    ] {
        let mut cmd = handoff();
        cmd.args(command).arg("--help");
        insta::with_settings!({ snapshot_suffix => command.unwrap_or("handoff") }, {
            assert_cmd_snapshot!(cmd);
        });
    }
}
