//! `attune chat` on the embedded default: the real SmolLM2 model served by the
//! real `attune-llm`, started and supervised by attune.

use attune_tests::attune_bin;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn scripted_chat_on_the_local_model_answers_through_the_validator() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let mut child = Command::new(attune_bin())
        .args(["chat", "--script", "-", "--llm", "local", "--db"])
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"I feel really stressed about my exams next week.\nCan you give me some ideas for coping?\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "attune failed (run scripts/setup.sh to fetch the model): {stderr}");
    let turns: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(turns.len(), 2, "{stderr}");
    for t in &turns {
        assert_eq!(t["backend"], "local");
        assert!(t["llm_error"].is_null(), "LLM failed: {t}");
        assert!(t["timings_ms"]["llm"].as_u64().unwrap() > 0, "the model was not asked: {t}");
        assert!(!t["reply"].as_str().unwrap().trim().is_empty());
        // Whatever the small model said, what was shown passed the validator
        // (or is the reflective fallback).
        assert!(t["source"] == "llm" || (t["source"] == "reflect" && t["fallback"] == true), "{t}");
    }
    assert_eq!(turns[0]["user_act"], "disclosure");
    assert!(turns[0]["emotions"].as_array().unwrap().iter().any(|e| e == "stressed"), "{}", turns[0]);
    assert_eq!(turns[1]["intent"], "suggest");
    // The server was shut down with the session: nothing listens on its port.
    let c = rusqlite::Connection::open(&db).unwrap();
    let ended: Option<i64> = c.query_row("SELECT ended_at_ms FROM sessions", [], |r| r.get(0)).unwrap();
    assert!(ended.is_some());
}
