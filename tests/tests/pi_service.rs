//! The Raspberry Pi service (packaging/debian): what `attune.service` relies
//! on, exercised with the real `attune` binary on this machine. systemd
//! itself cannot run in CI, so each behaviour the unit delegates is run as
//! the unit runs it: the start helper's waits and back-off as the same
//! script with the same environment, `systemctl stop` as the SIGTERM it
//! sends (KillMode=mixed: to attune alone). The unit file itself is checked
//! by `systemd-analyze verify` in scripts/check-deb.sh.

use attune_tests::{attune_bin, workspace_root};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn helper() -> PathBuf {
    workspace_root().join("packaging/debian/attune-service")
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn query_i64(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Runs one helper step with the service's environment; returns stdout.
fn step(state: &Path, args: &str, env: &[(&str, &str)]) -> String {
    let mut c = Command::new("sh");
    c.arg(helper()).arg(args).env("STATE_DIRECTORY", state).env("ATTUNE_BACKOFF_BASE_S", "1").env("ATTUNE_BACKOFF_MAX_S", "2");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("sh runs");
    assert!(out.status.success(), "attune-service {args}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_service_backs_off_longer_after_each_failure_up_to_its_cap_and_a_clean_stop_resets_it() {
    let state = tempfile::tempdir().unwrap();
    let s = state.path();
    let failed = [("SERVICE_RESULT", "exit-code"), ("EXIT_CODE", "exited"), ("EXIT_STATUS", "1")];
    assert_eq!(step(s, "backoff", &[]), "", "a first start waits for nothing");
    assert!(step(s, "record", &failed).contains("failure 1 in a row"));
    assert!(step(s, "backoff", &[]).contains("waiting 1 s"));
    assert!(step(s, "record", &failed).contains("failure 2 in a row"));
    assert!(step(s, "backoff", &[]).contains("waiting 2 s"));
    assert!(step(s, "record", &failed).contains("failure 3 in a row"));
    // Capped at ATTUNE_BACKOFF_MAX_S.
    assert!(step(s, "backoff", &[]).contains("waiting 2 s"));
    assert!(step(s, "record", &[("SERVICE_RESULT", "success")]).contains("stopped cleanly"));
    assert_eq!(step(s, "backoff", &[]), "", "a clean stop resets the back-off");
    // A failure after a long healthy run counts as the first again.
    assert!(step(s, "record", &failed).contains("failure 1 in a row"));
    step(s, "backoff", &[]);
    assert!(step(s, "record", &[("SERVICE_RESULT", "signal"), ("ATTUNE_HEALTHY_RUN_S", "0")]).contains("failure 1 in a row"));
}

#[test]
fn the_service_waits_for_the_sound_card_and_the_head_link_saying_so_then_starts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (snd, state, link) = (d.join("snd"), d.join("state"), d.join("head"));
    std::fs::create_dir_all(&snd).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    let cfg = d.join("site.toml");
    std::fs::write(
        &cfg,
        format!("[llm]\nmode = \"reflect\"\n[store]\npath = \"{}\"\n[head]\nbackend = \"serial\"\nport = \"{}\"\n", d.join("s.db").display(), link.display()),
    )
    .unwrap();
    let mut child = Command::new("sh")
        .arg(helper())
        .arg("wait")
        .env("ATTUNE_BIN", attune_bin())
        .env("ATTUNE_CONFIG", &cfg)
        .env("ATTUNE_SND_DIR", &snd)
        .env("ATTUNE_WAIT_POLL_S", "1")
        .env("ATTUNE_WAIT_REPORT_S", "1")
        .env("STATE_DIRECTORY", &state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| -> String {
        let l = rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|_| panic!("no journal line while {what}"));
        l
    };
    // Nothing there yet: it says both, and keeps waiting (no exit, no crash loop).
    let first = next("nothing is plugged in");
    assert!(first.contains("waiting before the session can start"), "{first}");
    assert!(first.contains("no sound card"), "{first}");
    assert!(first.contains("head link") && first.contains(&link.display().to_string()), "{first}");
    assert!(child.try_wait().unwrap().is_none(), "the helper gave up instead of waiting");

    // The sound card appears (its capture and playback nodes): only the head is awaited.
    std::fs::write(snd.join("pcmC0D0c"), b"").unwrap();
    std::fs::write(snd.join("pcmC0D0p"), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let l = next("the sound card is there");
        if !l.contains("sound card") {
            assert!(l.contains("head link"), "{l}");
            break;
        }
        assert!(Instant::now() < deadline, "still waiting for a sound card that is there: {l}");
    }
    assert!(child.try_wait().unwrap().is_none(), "started without a head link");

    // The head comes up (the simulator on a real pseudo-terminal): it starts.
    let mut sim = attune_tests::SimProcess::spawn(&link, &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            sim.kill();
            panic!("the helper did not start once everything was there");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    sim.terminate();
    let mut rest = String::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
        rest.push_str(&l);
        rest.push('\n');
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "{rest}{err}");
    assert!(rest.contains("ready after"), "{rest}");
}

#[test]
fn a_session_on_a_disk_with_less_room_than_min_free_mb_is_refused_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("full.db");
    let cfg = dir.path().join("site.toml");
    // More free space than any disk has: the real statvfs figure is below it.
    std::fs::write(&cfg, format!("[store]\npath = \"{}\"\nmin_free_mb = 1000000000000\n", db.display())).unwrap();
    let mut child = Command::new(attune_bin())
        .args(["chat", "--llm", "reflect", "--script", "-", "--config"])
        .arg(&cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        // attune may exit before it reads the script.
        let _ = child.stdin.take().unwrap().write_all(b"I feel lonely since I moved.\n");
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a session started on a full disk: {stderr}");
    assert!(stderr.contains("refusing to start a session") && stderr.contains("MiB free"), "{stderr}");
    assert!(stderr.contains("[store] min_free_mb") && stderr.contains("full.db"), "{stderr}");
    assert!(out.stdout.is_empty(), "a turn was answered: {}", String::from_utf8_lossy(&out.stdout));
    assert!(!db.exists(), "the store was created on a full disk");

    // The doctor (the service's ExecStartPre) fails the same check.
    let out = Command::new(attune_bin()).args(["doctor", "--config"]).arg(&cfg).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.lines().any(|l| l.starts_with("FAIL disk space")), "{stdout}");
}

/// `systemctl stop` during a robot session: SIGTERM to attune alone.
#[test]
fn stopping_the_service_during_a_robot_session_parks_the_head_and_closes_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let said = d.join("a.wav");
    let out = Command::new(attune_bin()).args(["say", "I have been feeling lonely since I moved to a new city.", "--out"]).arg(&said).output().unwrap();
    assert!(out.status.success(), "attune say: {}", String::from_utf8_lossy(&out.stderr));
    let speech: Vec<i16> = hound::WavReader::open(&said).unwrap().samples::<i16>().map(|s| s.unwrap()).collect();
    // 1.5 s of quiet, one utterance, then two minutes of quiet: the session
    // is still live (waiting for the participant) when the stop comes.
    let mut input = vec![0i16; 24_000];
    input.extend(speech);
    input.extend(vec![0i16; 16_000 * 120]);
    let wav = d.join("in.wav");
    let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for s in input {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();

    let (t, trace, tel, db) = (d.join("t.jsonl"), d.join("trace.jsonl"), d.join("tel.jsonl"), d.join("s.db"));
    let mut child = Command::new(attune_bin())
        .args(["run", "--arm", "robot", "--head", "sim", "--llm", "reflect", "--participant", "svc1", "--audio-in"])
        .arg(&wav)
        .arg("--audio-out")
        .arg(d.join("out.wav"))
        .arg("--transcript")
        .arg(&t)
        .arg("--behavior-trace")
        .arg(&trace)
        .arg("--head-telemetry")
        .arg(&tel)
        .arg("--db")
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first turn to be answered (and stored).
    let deadline = Instant::now() + Duration::from_secs(300);
    while jsonl(&t).is_empty() {
        if let Some(s) = child.try_wait().unwrap() {
            panic!("attune ended before the first turn: {s}");
        }
        assert!(Instant::now() < deadline, "no turn within 300 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The robot is mid-session: its head is up and moving, not parked.
    std::thread::sleep(Duration::from_millis(1500));
    let before = jsonl(&tel);
    assert!(before.iter().rev().take(25).all(|l| l["mode"] != "parked"), "the head was already parked before the stop");
    assert!(child.try_wait().unwrap().is_none(), "the session ended by itself");

    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "attune did not stop within 60 s of SIGTERM (the unit allows 30 s)");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    {
        use std::io::Read;
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(0), "a stop is not a failure (Restart=on-failure must not fire): {stderr}");

    // Head parked: the planner's last command is park, the session_ended
    // event is traced, and the simulated servos ended at rest.
    let tr = jsonl(&trace);
    let last_cmd = tr.iter().rev().find(|l| l.get("command").is_some()).expect("no head command traced");
    assert_eq!(last_cmd["behavior"], "park", "{last_cmd}");
    assert!(tr.iter().any(|l| l["event"] == "session_ended"), "no session_ended in the trace");
    let after = jsonl(&tel);
    assert!(after.len() > before.len(), "no telemetry after the stop");
    let end = after.last().unwrap();
    // (The runner's own park on the way out may restart a zero-length park
    // move in the last ticks; the horns are at rest either way.)
    assert!(after.iter().rev().take(100).any(|l| l["mode"] == "parked"), "not parked at the end: {end}");
    assert!(end["servo"]["yaw_deg"].as_f64().unwrap().abs() < 0.5 && (end["servo"]["pitch_deg"].as_f64().unwrap() + 10.0).abs() < 0.5, "{end}");
    // Session closed, its turn stored.
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM sessions WHERE participant = 'svc1' AND ended_at_ms IS NOT NULL"), 1, "{stderr}");
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM sessions WHERE ended_at_ms IS NULL"), 0);
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM events WHERE kind = 'session_end'"), 1);
    assert_eq!(query_i64(&db, "SELECT COUNT(*) FROM turns WHERE status = 'complete'"), 1);
}
