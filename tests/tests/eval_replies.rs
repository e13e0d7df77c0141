//! `attune eval replies`: one scripted session through the real binary,
//! against the real SSE test server or the reflective engine, summarised
//! per kind of turn.

use attune_tests::attune_bin;
use attune_tests::sse_server::{Reply, SseServer};
use serde_json::Value;
use std::process::Command;

fn eval(dir: &std::path::Path, script: &str, extra: &[&str]) -> (Value, String, i32) {
    let path = dir.join("script.txt");
    std::fs::write(&path, script).unwrap();
    let out = Command::new(attune_bin()).args(["eval", "replies", "--script"]).arg(&path).arg("--json").args(extra).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let v = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (v, stderr, out.status.code().unwrap_or(-1))
}

#[test]
fn a_reflect_session_is_counted_by_source_and_kind_of_turn() {
    let dir = tempfile::tempdir().unwrap();
    let (v, stderr, code) = eval(dir.path(), "Hi there.\nI feel lonely since I moved here for school.\nI don't want to be here anymore.\n\n", &["--llm", "reflect"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["backend"], "reflect");
    assert_eq!(v["all"]["turns"], 4, "{v}");
    assert_eq!(v["all"]["llm"], 0);
    // The passive-ideation turn gets at least the deterministic check-in
    // (rule) — the semantic layer may grade "I don't want to be here anymore"
    // as the crisis protocol (its nearest exemplar is active ideation) — and
    // the empty turn the fixed reply (rule); the rest reflect.
    let deterministic = v["all"]["rule"].as_u64().unwrap() + v["all"]["protocol"].as_u64().unwrap();
    assert_eq!(deterministic, 2, "{v}");
    assert!(v["all"]["rule"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(v["all"]["reflect"], 2, "{v}");
    assert_eq!(v["by_user_act"]["empty"]["turns"], 1, "{v}");
    assert!(v["by_user_act"]["disclosure"]["turns"].as_u64().unwrap() >= 1, "{v}");
}

#[test]
fn flagged_llm_drafts_show_up_as_flags_and_fallbacks() {
    let dir = tempfile::tempdir().unwrap();
    // Every request gets the same incoherent draft: the rewrite is flagged
    // too, so each turn falls back to reflection.
    let server = SseServer::start(vec![Reply::text("I'm so glad to hear that. I'm your doctor.")]).unwrap();
    let cfg = dir.path().join("site.toml");
    std::fs::write(&cfg, format!("[llm]\nmode = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\nfirst_token_timeout_ms = 2000\n", server.base_url())).unwrap();
    let cfg = cfg.to_string_lossy().to_string();
    let (v, stderr, code) = eval(dir.path(), "My parents were screaming at each other all night.\nMy sister won't talk to me now.\n", &["--config", &cfg]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(v["all"]["turns"], 2, "{v}");
    assert_eq!(v["all"]["fallback"], 2, "{v}");
    assert_eq!(v["all"]["reflect"], 2, "{v}");
    assert_eq!(v["all"]["rewrites"], 2, "{v}");
    let flags = &v["all"]["flags"];
    assert_eq!(flags["valence_mismatch"], 2, "{v}");
    assert_eq!(server.request_count(), 4, "one draft and one rewrite per turn");
}

#[test]
fn a_missing_script_is_a_clear_error() {
    let out = Command::new(attune_bin()).args(["eval", "replies", "--script", "/nonexistent/turns.txt", "--llm", "reflect"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/turns.txt"));
}
