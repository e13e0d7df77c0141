//! Findings of the adversarial new-user pass (issue 9), end to end: the real
//! `attune` binary, real SQLite files shared by several processes, real
//! signals, a real HTTP server, the real head simulator over a pty.

use attune_tests::attune_bin;
use attune_tests::sse_server::{Reply, SseServer};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// An ATTUNE_HOME with no models, so nothing reaches for the user's files.
fn home() -> PathBuf {
    std::env::temp_dir().join("attune-test-home-unused")
}

fn chat(args: &[&str], input: &[u8]) -> (Vec<Value>, String, i32) {
    let mut child = Command::new(attune_bin())
        .args(["chat", "--script", "-"])
        .args(args)
        .env("ATTUNE_HOME", home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn attune");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).expect("write script");
    }
    let out = child.wait_with_output().expect("attune runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines = stdout.lines().map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"))).collect();
    (lines, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap_or(-1))
}

fn attune(args: &[&str]) -> Output {
    Command::new(attune_bin()).args(args).env("ATTUNE_HOME", home()).output().expect("attune runs")
}

fn write_config(dir: &Path, body: &str) -> String {
    let p = dir.join("attune.toml");
    std::fs::write(&p, body).expect("write config");
    p.display().to_string()
}

fn query_i64(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).expect("open db");
    c.query_row(sql, [], |r| r.get(0)).expect("query")
}

const CRISIS: &str = "I want to end my life, I have pills saved up";

/// A chat process reading turns from a pipe we keep open.
struct LiveChat {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: BufReader<std::process::ChildStdout>,
}

impl LiveChat {
    fn start(args: &[&str]) -> LiveChat {
        let mut child = Command::new(attune_bin())
            .args(["chat", "--script", "-"])
            .args(args)
            .env("ATTUNE_HOME", home())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn attune");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        LiveChat { child, stdin, stdout }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write turn");
        stdin.flush().expect("flush");
    }

    fn turn(&mut self, line: &str) -> Value {
        self.say(line);
        let mut out = String::new();
        self.stdout.read_line(&mut out).expect("read turn");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON {out:?}: {e}"))
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().expect("kill runs").success();
        assert!(ok, "kill {sig} failed");
    }

    /// Closes stdin and waits for the exit; (exit code, stderr).
    fn wait(&mut self) -> (i32, String) {
        drop(self.stdin.take());
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let status = self.child.wait().expect("wait");
        (status.code().unwrap_or(-1), err)
    }
}

impl Drop for LiveChat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- 1. Alerts -------------------------------------------------------------

#[test]
fn config_check_refuses_an_unwritable_alert_file_and_a_missing_alert_program() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blocker"), "a file, not a folder").unwrap();
    let cfg = write_config(dir.path(), &format!("[alerts]\nfile = \"{}/blocker/alerts.jsonl\"\n", dir.path().display()));
    let o = attune(&["config", "check", &cfg]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "config check accepted an unwritable alert file");
    assert!(err.contains("alerts.file") && err.contains("not a folder"), "{err}");

    let cfg = write_config(dir.path(), "[alerts]\ncommand = [\"/nonexistent/page-oncall\"]\n");
    let o = attune(&["config", "check", &cfg]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("alerts.command") && err.contains("/nonexistent/page-oncall"), "{err}");

    let cfg = write_config(dir.path(), &format!("[alerts]\nfile = \"{}/ok/alerts.jsonl\"\ncommand = [\"true\"]\n", dir.path().display()));
    let o = attune(&["config", "check", &cfg]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_failed_alert_is_loud_in_the_turn_on_stderr_and_in_the_store_and_is_retried_until_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "a file where the alert folder should be").unwrap();
    let alerts = blocker.join("alerts.jsonl");
    let cfg = write_config(dir.path(), &format!("[alerts]\nfile = \"{}\"\nretry_initial_ms = 100\nretry_max_ms = 200\n", alerts.display()));
    let db = dir.path().join("a.db");
    let mut c = LiveChat::start(&["--llm", "reflect", "--db", &db.display().to_string(), "--participant", "p1", "--config", &cfg]);
    let t = c.turn(CRISIS);
    assert_eq!(t["alert"], true, "{t}");
    assert_eq!(t["alert_delivered"], false, "{t}");
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM events WHERE kind = 'alert_delivery_failed'"), 1);
    // Staff fix the folder while the session goes on; the retry delivers it.
    std::fs::remove_file(&blocker).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !alerts.exists() {
        assert!(Instant::now() < deadline, "the failed alert was never retried into {}", alerts.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    let t2 = c.turn("thank you");
    assert!(t2["alert_delivered"].is_null(), "no alert on this turn: {t2}");
    drop(c.stdin.take());
    let (code, stderr) = c.wait();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("STAFF ALERT NOT DELIVERED") && stderr.contains("alerts.file"), "{stderr}");
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM events WHERE kind = 'alert_delivered'"), 1);
    let line: Value = serde_json::from_str(std::fs::read_to_string(&alerts).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(line["participant"], "p1");
}

#[test]
fn a_delivered_alert_says_so_and_a_failing_command_leaves_an_event_and_a_final_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let cfg = write_config(dir.path(), &format!("[alerts]\nfile = \"{}/alerts.jsonl\"\n", dir.path().display()));
    let (turns, stderr, code) = chat(&["--llm", "reflect", "--db", &db.display().to_string(), "--config", &cfg], format!("{CRISIS}\n").as_bytes());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!((turns[0]["alert"].clone(), turns[0]["alert_delivered"].clone()), (Value::Bool(true), Value::Bool(true)));

    let cfg = write_config(dir.path(), "[alerts]\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; exit 4\"]\nretry_initial_ms = 50\nretry_max_ms = 100\n");
    let db2 = dir.path().join("b.db");
    let (turns, stderr, code) = chat(&["--llm", "reflect", "--db", &db2.display().to_string(), "--config", &cfg], format!("{CRISIS}\n").as_bytes());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(turns[0]["alert_delivered"], false);
    assert!(stderr.contains("exit status: 4"), "{stderr}");
    assert_eq!(query_i64(&db2, "SELECT COUNT(*) FROM events WHERE kind = 'alert_delivery_failed'"), 1);
    assert_eq!(query_i64(&db2, "SELECT COUNT(*) FROM events WHERE kind = 'alert_undelivered'"), 1);
    assert!(stderr.contains("NEVER DELIVERED"), "{stderr}");
}

#[test]
fn with_alerts_required_a_session_refuses_to_start_without_a_working_channel() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let cfg = write_config(dir.path(), "[alerts]\nrequired = true\ncommand = [\"/nonexistent/page-oncall\"]\n");
    let (turns, stderr, code) = chat(&["--llm", "reflect", "--db", &db.display().to_string(), "--config", &cfg], b"hello\n");
    assert_ne!(code, 0);
    assert!(turns.is_empty());
    assert!(stderr.contains("alerts.required") && stderr.contains("/nonexistent/page-oncall"), "{stderr}");
    assert!(!db.exists(), "no session may start");
}

// ---- 2. Store ----------------------------------------------------------------

#[test]
fn an_in_memory_store_is_refused_unless_asked_for_with_ephemeral() {
    let (turns, stderr, code) = chat(&["--llm", "reflect", "--db", ":memory:"], b"hello\n");
    assert_ne!(code, 0);
    assert!(turns.is_empty());
    assert!(stderr.contains("--ephemeral") && stderr.contains(":memory:"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "[store]\npath = \"\"\n");
    let (_, stderr, code) = chat(&["--llm", "reflect", "--config", &cfg], b"hello\n");
    assert_ne!(code, 0);
    assert!(stderr.contains("store.path") && stderr.contains("--ephemeral"), "{stderr}");

    let (turns, stderr, code) = chat(&["--llm", "reflect", "--db", ":memory:", "--ephemeral"], b"hello\n");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(turns.len(), 1);
    assert!(stderr.contains("warning") && stderr.contains("ephemeral"), "{stderr}");
}

fn script(dir: &Path) -> String {
    let p = dir.join("one.txt");
    std::fs::write(&p, "I had a long day at work\n").unwrap();
    p.display().to_string()
}

#[test]
fn two_processes_creating_a_new_database_at_once_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let one = script(dir.path());
    for round in 0..5 {
        let db = dir.path().join(format!("r{round}.db")).display().to_string();
        let kids: Vec<Child> = ["X", "Y"]
            .iter()
            .map(|p| {
                Command::new(attune_bin())
                    .args(["chat", "--script", &one, "--llm", "reflect", "--db", &db, "--participant", p])
                    .env("ATTUNE_HOME", home())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for k in kids {
            let o = k.wait_with_output().expect("wait");
            assert!(o.status.success(), "round {round}: {}", String::from_utf8_lossy(&o.stderr));
            assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1);
        }
        assert_eq!(query_i64(Path::new(&db), "SELECT COUNT(*) FROM turns WHERE status = 'complete'"), 2);
    }
}

#[test]
fn four_writers_on_one_database_all_store_every_turn() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let dbs = db.display().to_string();
    let (_, stderr, code) = chat(&["--llm", "reflect", "--db", &dbs], b"hello\n");
    assert_eq!(code, 0, "{stderr}");
    let turns_file = dir.path().join("many.txt");
    std::fs::write(&turns_file, "I had a long day\nwork was hard\nmy boss shouted\nI feel tired\nthanks\n".repeat(4)).unwrap();
    let tf = turns_file.display().to_string();
    for run in 0..2 {
        let kids: Vec<Child> = (0..4)
            .map(|i| {
                Command::new(attune_bin())
                    .args(["chat", "--script", &tf, "--llm", "reflect", "--db", &dbs, "--participant", &format!("w{run}{i}")])
                    .env("ATTUNE_HOME", home())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        for k in kids {
            let o = k.wait_with_output().expect("wait");
            assert!(o.status.success(), "run {run}: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM turns WHERE status = 'complete'"), 1 + 2 * 4 * 20);
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM sessions WHERE ended_at_ms IS NULL"), 0);
}

#[test]
fn a_foreign_sqlite_file_is_refused_naming_its_tables_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("photos.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE sessions (x INTEGER); CREATE TABLE albums (name TEXT);").unwrap();
    }
    let (_, stderr, code) = chat(&["--llm", "reflect", "--db", &db.display().to_string()], b"hello\n");
    assert_ne!(code, 0);
    assert!(stderr.contains("not an attune store") && stderr.contains("albums, sessions"), "{stderr}");
    assert_eq!(stderr.matches("albums").count(), 1, "the schema is printed once: {stderr}");
}

// ---- 7. Interrupted turns after kill -9 and SIGTERM ---------------------------

#[test]
fn a_turn_left_pending_by_kill_9_is_marked_interrupted_and_its_session_closed_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let dbs = db.display().to_string();
    // The LLM never answers, so the second turn stays pending while we kill.
    let server = SseServer::start(vec![Reply::text("It sounds like a long day. What happened?"), Reply::Stall(Duration::from_secs(30))]).unwrap();
    let cfg = write_config(dir.path(), &format!("[llm]\nbase_url = \"{}\"\nfirst_token_timeout_ms = 20000\ntotal_timeout_ms = 30000\nretries = 0\n", server.base_url()));
    let mut c = LiveChat::start(&["--llm", "openai", "--db", &dbs, "--participant", "k1", "--config", &cfg]);
    let t = c.turn("I had a long day at work and I feel lonely");
    assert_eq!(t["turn"], 1);
    c.say("my sister did not call me back");
    let deadline = Instant::now() + Duration::from_secs(10);
    while query_i64(&db, "SELECT COUNT(*) FROM turns WHERE status = 'pending'") == 0 {
        assert!(Instant::now() < deadline, "the second turn never became pending");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second live process on the same file must not close k1's live session.
    let (_, stderr, code) = chat(&["--llm", "reflect", "--db", &dbs, "--participant", "other"], b"hi\n");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM turns WHERE status = 'pending'"), 1, "a live session was tidied: {stderr}");
    c.signal("-KILL");
    let _ = c.wait();

    let (_, stderr, code) = chat(&["--llm", "reflect", "--db", &dbs, "--participant", "k1"], b"hello again\n");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("left open by a process that ended"), "{stderr}");
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM turns WHERE status = 'pending'"), 0);
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM turns WHERE status = 'interrupted' AND participant_text LIKE 'my sister%'"), 1);
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM sessions WHERE ended_at_ms IS NULL"), 0);
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM sessions WHERE participant = 'k1' AND id = 1 AND summary LIKE '%lonely%'"), 1);
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM events WHERE kind = 'session_recovered' AND session_id = 1"), 1);
}

#[test]
fn sigterm_closes_the_session_cleanly_with_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let mut c = LiveChat::start(&["--llm", "reflect", "--db", &db.display().to_string(), "--participant", "t1"]);
    let t = c.turn("I feel lonely since I moved");
    assert_eq!(t["turn"], 1);
    c.signal("-TERM");
    // It must exit on the signal alone, with its stdin still open.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.child.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "attune did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, stderr) = c.wait();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM sessions WHERE ended_at_ms IS NOT NULL AND summary LIKE '%lonely%'"), 1);
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM events WHERE kind = 'session_end'"), 1);
}

// ---- 6. Control characters in drafts ---------------------------------------------

#[test]
fn control_characters_in_an_llm_draft_never_reach_the_json_or_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let server = SseServer::start(vec![Reply::Stream(vec![
        "It sounds like the move\u{1b}".into(),
        " has left you feeling lonely.\u{7}".into(),
        " What has that been\u{9b} like for you?".into(),
    ])])
    .unwrap();
    let cfg = write_config(dir.path(), &format!("[llm]\nbase_url = \"{}\"\n", server.base_url()));
    let (turns, stderr, code) = chat(
        &["--llm", "openai", "--db", &db.display().to_string(), "--config", &cfg],
        b"I feel so lonely since I moved to this city.\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(turns[0]["source"], "llm", "{}", turns[0]);
    assert_eq!(turns[0]["reply"], "It sounds like the move has left you feeling lonely. What has that been like for you?");
    let c = rusqlite::Connection::open(&db).unwrap();
    let stored: String = c.query_row("SELECT reply FROM turns", [], |r| r.get(0)).unwrap();
    assert!(!stored.chars().any(|ch| ch.is_control()), "{stored:?}");
}

// ---- 8. Same file in and out ---------------------------------------------------------

#[test]
fn the_same_wav_as_audio_in_and_audio_out_is_an_error_naming_both_flags() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("x.wav");
    let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for _ in 0..1600 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let before = std::fs::read(&wav).unwrap();
    let link = dir.path().join("link.wav");
    std::os::unix::fs::symlink(&wav, &link).unwrap();
    let w = wav.display().to_string();
    let other_spelling = format!("{}/./x.wav", dir.path().display());
    for out in [w.clone(), link.display().to_string(), other_spelling] {
        let o = attune(&["run", "--arm", "voice", "--llm", "reflect", "--db", &dir.path().join("v.db").display().to_string(), "--audio-in", &w, "--audio-out", &out, "--fast"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "same file accepted as --audio-out {out}");
        assert!(err.contains("--audio-in") && err.contains("--audio-out") && err.contains("same file"), "{err}");
        assert_eq!(std::fs::read(&wav).unwrap(), before, "the input recording was touched");
    }
}

// ---- 9. Small things ---------------------------------------------------------------

#[test]
fn errors_do_not_repeat_their_cause() {
    let o = attune(&["head", "ping", "--port", "/nonexistent/attune-tty"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("/nonexistent/attune-tty"), "{err}");
    let cause = "No such file or directory";
    assert_eq!(err.matches(cause).count(), 1, "{err}");
}

#[test]
fn an_infinite_angle_is_reported_as_not_finite() {
    let o = attune(&["head", "move", "--port", "/nonexistent/attune-tty", "--yaw", "inf"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("--yaw") && err.contains("not finite"), "{err}");
    assert!(!err.contains("NotANumber"), "{err}");
}

// ---- 3. Head acknowledgements ----------------------------------------------------

#[test]
fn head_move_reports_success_only_when_the_head_holds_the_new_target() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("head");
    let sim = attune_tests::SimProcess::start(&link, &["--drop", "0.05", "--seed", "7"]);
    let port = link.display().to_string();
    for yaw in [10, 20, 30, 15, 25] {
        let o = attune(&["head", "move", "--port", &port, "--yaw", &yaw.to_string(), "--ms", "300"]);
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() {
            let v: Value = serde_json::from_str(out.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
            assert_eq!(v["ok"], true);
            assert_eq!(v["targets"]["yaw_deg"].as_f64(), Some(yaw as f64), "rc 0 but the head's target is not yaw {yaw}: {v}");
            assert!((v["angles"]["yaw_deg"].as_f64().unwrap() - yaw as f64).abs() < 0.5, "{v}");
        } else {
            // A failure must say what the head did not confirm.
            assert!(err.contains("head"), "unclear failure: {err}");
        }
    }
    drop(sim);
}
