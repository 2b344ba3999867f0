//! Hot reload through the gateway: a broken rule edit keeps the old rules serving and shows in
//! /health; the fix is picked up.

mod common;

use common::{Server, Sign, answer, config, eventually, post};
use serde_json::Value;

const GOOD: &str = "[[rule]]\nname = \"r\"\n[rule.map]\nqueue = { value = \"q-one\" }\n";
const FIXED: &str = "[[rule]]\nname = \"r\"\n[rule.map]\nqueue = { value = \"q-two\" }\n";
const BROKEN: &str = "[[rule]]\nname = \"r\"\n[rule.map]\nqueue = { path = \"$.a[\" }\n";

/// Replaces `file` as a deploy does: written beside the watched folder, then renamed over it, so
/// a reload sees the old text or the new one, never a truncated file.
fn replace(file: &std::path::Path, text: &str, staging: &std::path::Path) {
    let mut staged = tempfile::NamedTempFile::new_in(staging).unwrap();
    std::io::Write::write_all(&mut staged, text.as_bytes()).unwrap();
    staged.persist(file).unwrap();
}

async fn queue(s: &Server) -> Value {
    let (status, body) = answer(post(&s.url("/v1/transform/r"), b"{}", Sign::Yes).await).await;
    assert_eq!(status, 200, "{body}");
    body["queue"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_edit_shows_in_health_while_the_old_rules_serve() {
    let dir = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir_in(dir.path().parent().unwrap()).unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(&file, GOOD).unwrap();
    let mut c = config(vec![dir.path().to_path_buf()]);
    c.watch = true;
    let s = Server::start(c).await;
    assert_eq!(queue(&s).await, "q-one");
    let hash = s.health().await["rule_set_hash"].clone();

    replace(&file, BROKEN, staging.path());
    eventually("the failed reload in /health", async || {
        let h = s.health().await;
        h["last_reload_error"]
            .as_str()
            .is_some_and(|e| e.contains("error[E200]"))
    })
    .await;
    let health = s.health().await;
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["rule_set_hash"], hash);
    assert_eq!(queue(&s).await, "q-one", "the old rules keep serving");

    replace(&file, FIXED, staging.path());
    eventually("the fixed rules", async || {
        s.health().await["status"] == "ok"
    })
    .await;
    assert_eq!(queue(&s).await, "q-two");
    assert_ne!(s.health().await["rule_set_hash"], hash);
    let metrics = s.metrics().await;
    assert!(metrics.contains("handoff_gateway_rule_reloads_total{result=\"error\"}"));
    s.stop().await.unwrap();
}

/// The error code a refused reload left in /health, once one is there.
async fn refused_with(s: &Server, code: &str) -> Value {
    eventually("the refused reload in /health", async || {
        s.health().await["last_reload_error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("error[{code}]")))
    })
    .await;
    s.health().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_file_moved_out_is_a_refused_reload_not_an_empty_rule_set() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(&file, GOOD).unwrap();
    let mut c = config(vec![dir.path().to_path_buf()]);
    c.watch = true;
    let s = Server::start(c).await;
    let hash = s.health().await["rule_set_hash"].clone();

    let away = tempfile::tempdir().unwrap();
    std::fs::rename(&file, away.path().join("r.toml")).unwrap();
    let health = refused_with(&s, "E112").await;
    assert_eq!(health["status"], "degraded");
    assert_eq!(
        (&health["rules_loaded"], &health["rule_set_hash"]),
        (&1.into(), &hash)
    );
    assert_eq!(queue(&s).await, "q-one", "the old rules keep serving");

    std::fs::rename(away.path().join("r.toml"), &file).unwrap();
    eventually("the rules back", async || {
        s.health().await["status"] == "ok"
    })
    .await;
    s.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_drops_a_forwarded_rule_is_refused_unless_allowed() {
    for allowed in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.toml");
        std::fs::write(&file, GOOD).unwrap();
        std::fs::write(
            dir.path().join("keep.toml"),
            GOOD.replace("\"r\"", "\"keep\""),
        )
        .unwrap();
        let mut c = config(vec![dir.path().to_path_buf()]);
        c.watch = true;
        c.allow_dropping_forwarded_rules = allowed;
        c.dead_letter.path = dir.path().join("dead.jsonl");
        c.dead_letter.replay_interval = std::time::Duration::ZERO;
        c.forward.insert(
            "r".to_owned(),
            handoff_gateway::ForwardConfig {
                // Never reached: nothing is posted to the forwarded rule here.
                url: "http://127.0.0.1:9/deliver".to_owned(),
                ..Default::default()
            },
        );
        let s = Server::start(c).await;
        let hash = s.health().await["rule_set_hash"].clone();
        // The forwarded rule is renamed: a reload would drop it.
        std::fs::write(&file, GOOD.replace("\"r\"", "\"r2\"")).unwrap();
        if allowed {
            eventually("the reload that drops `r`", async || {
                let r = post(&s.url("/v1/transform/r2"), b"{}", Sign::Yes).await;
                r.status() == 200
            })
            .await;
            assert_eq!(s.health().await["status"], "ok");
        } else {
            let health = refused_with(&s, "E120").await;
            assert_eq!(health["status"], "degraded");
            assert_eq!(health["rule_set_hash"], hash, "the old rules keep serving");
            let error = health["last_reload_error"].as_str().unwrap();
            assert!(error.contains("`r`"), "{error}");
        }
        s.stop().await.unwrap();
    }
}
