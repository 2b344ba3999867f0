//! The embeddable runner: concurrent transforms, metrics, and hot reload that never lets a
//! broken rule file reach traffic.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use handoff_runner::{Guard, Runner};

/// Only a guard against a hang: a reload normally comes a quarter of a second after a change.
const HANG_GUARD: Duration = Duration::from_secs(120);

const GOOD: &str = "[[rule]]\nname = \"r\"\n[rule.map]\nqueue = { value = \"q-one\" }\n";
const FIXED: &str = "[[rule]]\nname = \"r\"\n[rule.map]\nqueue = { value = \"q-two\" }\n";
const BROKEN: &str = "[[rule]]\nname = \"r\"\n[rule.map]\nqueue = { path = \"$.a[\" }\n";

/// Replaces `file` the way a deploy does: the new text is written beside the watched folder and
/// renamed over the file, so every reload sees the old text or the new one, never a half-written
/// file (an in-place write truncates first, and a reload in between would see no rules).
fn replace(file: &std::path::Path, text: &str, staging: &std::path::Path) {
    let mut staged = tempfile::NamedTempFile::new_in(staging).unwrap();
    std::io::Write::write_all(&mut staged, text.as_bytes()).unwrap();
    staged.persist(file).unwrap();
}

fn queue(runner: &Runner) -> String {
    let t = runner.transform(None, b"{}", None).expect("transforms");
    let out: serde_json::Value = serde_json::from_slice(&t.output.unwrap()).unwrap();
    out["queue"].as_str().unwrap().to_owned()
}

#[test]
fn a_broken_edit_keeps_the_old_plan_and_a_fix_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir_in(dir.path().parent().unwrap()).unwrap();
    let file = dir.path().join("rules.toml");
    std::fs::write(&file, GOOD).unwrap();
    let runner = Arc::new(Runner::load(&[dir.path()]).unwrap());
    let (tx, rx) = mpsc::channel();
    let _watcher = runner.watch(move |r| tx.send(r.is_ok()).unwrap()).unwrap();
    assert_eq!(queue(&runner), "q-one");
    let hash = runner.plan().hash().to_owned();

    replace(&file, BROKEN, staging.path());
    assert!(
        !rx.recv_timeout(HANG_GUARD)
            .expect("a reload after the broken edit")
    );
    assert_eq!(queue(&runner), "q-one", "the old plan keeps serving");
    let diags = runner
        .last_reload_error()
        .expect("the diagnostics are kept");
    assert!(diags.to_string().contains("error[E200]"), "{diags}");

    replace(&file, FIXED, staging.path());
    // A second reload of the broken text may still come; wait for the successful one.
    while !rx.recv_timeout(HANG_GUARD).expect("a reload after the fix") {}
    assert_eq!(queue(&runner), "q-two");
    assert!(runner.last_reload_error().is_none());
    assert_ne!(
        runner.plan().hash(),
        hash,
        "the rule-set hash follows the rules"
    );
}

#[test]
fn many_threads_transform_at_once_and_metrics_add_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), GOOD).unwrap();
    let runner = Arc::new(Runner::load(&[dir.path()]).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let runner = Arc::clone(&runner);
            std::thread::spawn(move || {
                for i in 0..250 {
                    let payload: &[u8] = if i % 50 == 0 { b"{not json" } else { b"{}" };
                    let _ = runner.transform(None, payload, None);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let metrics = runner.metrics();
    let ok = metrics["r"].ok;
    let failed: u64 = metrics.values().flat_map(|m| m.failed.values()).sum();
    assert_eq!((ok, failed), (980, 20));
    assert_eq!(metrics[""].failed[&handoff_core::Code::InvalidJson], 20);
    assert_eq!(metrics["r"].latency.len(), 980);
}

const OTHER: &str = "[[rule]]\nname = \"o\"\nwhen = { path = \"$.o\", exists = true }\n[rule.map]\nqueue = { value = \"q-o\" }\n";

/// The code of the one error a refused reload kept.
fn refused(runner: &Runner) -> String {
    let diags = runner.last_reload_error().expect("the refusal is kept");
    let errors: Vec<_> = diags.errors().collect();
    assert_eq!(errors.len(), 1, "{diags}");
    errors[0].code.to_string()
}

#[test]
fn a_reload_that_leaves_no_rules_or_drops_a_named_rule_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (r, o) = (dir.path().join("r.toml"), dir.path().join("o.toml"));
    std::fs::write(&r, GOOD).unwrap();
    std::fs::write(&o, OTHER).unwrap();
    let guard = Guard {
        named: vec!["r".to_owned()],
        ..Guard::default()
    };
    let runner = Runner::load(&[dir.path()]).unwrap().with_guard(guard);
    let hash = runner.plan().hash().to_owned();

    // The rule file is moved out for a moment: the reload would drop `r`, which traffic names.
    std::fs::rename(&r, dir.path().join("r.toml.moved")).unwrap();
    let d = runner
        .reload()
        .expect_err("dropping a named rule is refused");
    assert!(d.to_string().contains("error[E120]"), "{d}");
    assert!(d.to_string().contains("`r`"), "{d}");
    assert_eq!(refused(&runner), "E120");
    assert_eq!(
        runner.plan().hash(),
        hash,
        "the previous rules keep serving"
    );
    assert_eq!(queue(&runner), "q-one");

    // Every rule file gone: no rules left.
    std::fs::remove_file(&o).unwrap();
    let d = runner.reload().expect_err("an empty rule set is refused");
    assert!(d.to_string().contains("error[E112]"), "{d}");
    assert_eq!(refused(&runner), "E112");
    assert_eq!(queue(&runner), "q-one");

    // Back: the reload goes through, and dropping a rule no traffic names is fine.
    std::fs::rename(dir.path().join("r.toml.moved"), &r).unwrap();
    runner.reload().unwrap();
    assert!(runner.last_reload_error().is_none());
    assert_eq!(runner.plan().rule_names().collect::<Vec<_>>(), ["r"]);
}

#[test]
fn a_guard_that_allows_it_lets_a_reload_empty_or_drop() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("r.toml");
    std::fs::write(&r, GOOD).unwrap();
    std::fs::write(dir.path().join("o.toml"), OTHER).unwrap();
    let guard = Guard {
        named: vec!["r".to_owned()],
        allow_dropping_named: true,
        ..Guard::default()
    };
    let runner = Runner::load(&[dir.path()]).unwrap().with_guard(guard);
    std::fs::remove_file(&r).unwrap();
    runner.reload().unwrap();
    assert_eq!(runner.plan().rule_names().collect::<Vec<_>>(), ["o"]);

    let runner = Runner::load(&[dir.path()]).unwrap().with_guard(Guard {
        allow_empty: true,
        ..Guard::default()
    });
    std::fs::remove_file(dir.path().join("o.toml")).unwrap();
    runner.reload().unwrap();
    assert_eq!(runner.plan().rule_names().count(), 0);
}

#[test]
fn starting_with_no_rules_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "no rules here").unwrap();
    let d = Runner::load(&[dir.path()]).expect_err("nothing to serve");
    assert!(d.to_string().contains("error[E112]"), "{d}");
}
