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
    let metrics = reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("handoff_gateway_rule_reloads_total{result=\"error\"}"));
    s.stop().await.unwrap();
}
