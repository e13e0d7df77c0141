//! A staff `say` command over a real mosquitto, spoken by the voice arm in
//! file mode (whisper tiny.en + espeak-ng, `--llm reflect`), and the robot
//! arm's head on the bus (telemetry, and a fault when its link dies).

use attune_tests::attune_bin;
use attune_tests::bus_session;
use attune_tests::mosquitto::{available, write_config, Mosquitto, Subscriber};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn say_wav(dir: &Path, name: &str, text: &str) -> Vec<i16> {
    let p = dir.join(name);
    let out = Command::new(attune_bin()).args(["say", text, "--out"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "attune say failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut r = hound::WavReader::open(&p).unwrap();
    r.samples::<i16>().map(|s| s.unwrap()).collect()
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
}

const STAFF_LINE: &str = "Your research nurse will join you in a few minutes.";

#[test]
fn a_staff_say_command_is_spoken_as_the_voice_robots_next_turn_and_stored_as_staff() {
    if !available() {
        eprintln!("mosquitto is not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-voice", "");
    // The robot's session on the broker is persistent: a first (empty) chat
    // session creates it, so a command sent while the robot is between
    // sessions is queued by the broker and delivered when it connects.
    let out = bus_session::chat_script(&cfg, None, Path::new("/dev/null"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let staff = Subscriber::start(broker.port, "staff", "staff-voice", "attune/lab/r1/event", false);
    staff.wait_ready();
    let out = bus_session::staff(&cfg, &["cmd", "say", "--text", STAFF_LINE, "--by", "nurse.kim"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut input = vec![0i16; 16 * 800];
    input.extend(say_wav(dir.path(), "u1.wav", "I have been feeling tired all week."));
    input.extend(vec![0i16; 16 * 12_000]);
    input.extend(say_wav(dir.path(), "u2.wav", "I think I will go for a walk later."));
    input.extend(vec![0i16; 16 * 12_000]);
    let in_wav = dir.path().join("in.wav");
    write_wav(&in_wav, &input);
    let transcript = dir.path().join("t.jsonl");
    let out = Command::new(attune_bin())
        .args(["run", "--arm", "voice", "--fast", "--llm", "reflect", "--participant", "P-11", "--config"])
        .arg(&cfg)
        .arg("--audio-in")
        .arg(&in_wav)
        .arg("--audio-out")
        .arg(dir.path().join("out.wav"))
        .arg("--transcript")
        .arg(&transcript)
        .env("ATTUNE_TEST_BUS_PW", "robot-pw")
        .env("ATTUNE_LOG", "warn,bus=info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let turns: Vec<Value> = std::fs::read_to_string(&transcript).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(turns.len(), 2, "{turns:?}\n{stderr}");
    // The robot's next turn after the command is the staff line, spoken.
    assert_eq!(turns[0]["reply"], STAFF_LINE, "{stderr}");
    assert_eq!(turns[0]["source"], "staff");
    assert!(turns[0]["tts_first_audio_ms"].as_u64().is_some(), "the staff line was not spoken: {}", turns[0]);
    assert!(turns[0]["spoken_chars"].as_u64().unwrap() > 0);
    // The participant's words still went through the engine, and the line is used once.
    assert!(turns[0]["user"].as_str().unwrap().to_lowercase().contains("tired"));
    assert_ne!(turns[1]["source"], "staff");
    // Stored with who and when.
    let db = rusqlite::Connection::open(dir.path().join("s.db")).unwrap();
    let (src, reply): (String, String) = db.query_row("SELECT source, reply FROM turns t JOIN sessions s ON s.id = t.session_id WHERE s.arm = 'voice' AND t.idx = 1", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((src.as_str(), reply.as_str()), ("staff", STAFF_LINE));
    let audit: String = db.query_row("SELECT payload FROM events WHERE kind = 'staff_say'", [], |r| r.get(0)).unwrap();
    let audit: Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(audit["by"], "nurse.kim");
    assert!(audit["sent_at"].as_str().unwrap().ends_with('Z'));
    let received: i64 = db.query_row("SELECT COUNT(*) FROM events WHERE kind = 'staff_command' AND payload LIKE '%nurse.kim%'", [], |r| r.get(0)).unwrap();
    assert_eq!(received, 1);
    // Staff see what happened to their command on the bus.
    let seen = staff
        .wait_for(Duration::from_secs(10), |v| v.iter().any(|s| s.payload["kind"] == "staff_command" && s.payload["outcome"] == "spoken"))
        .unwrap_or_else(|v| panic!("no spoken outcome: {v:?}"));
    assert!(seen.iter().any(|s| s.payload["outcome"] == "queued"));
}

#[test]
fn the_robot_arms_head_telemetry_reaches_staff_throttled_and_valid() {
    if !available() {
        eprintln!("mosquitto is not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-head", "telemetry_interval_ms = 200\n");
    let staff = Subscriber::start(broker.port, "staff", "staff-head", "attune/lab/r1/telemetry", false);
    staff.wait_ready();
    let mut input = vec![0i16; 16 * 800];
    input.extend(say_wav(dir.path(), "u1.wav", "I have been feeling tired all week."));
    input.extend(vec![0i16; 16 * 6_000]);
    let in_wav = dir.path().join("in.wav");
    write_wav(&in_wav, &input);
    let out = Command::new(attune_bin())
        .args(["run", "--arm", "robot", "--head", "sim", "--fast", "--llm", "reflect", "--participant", "P-12", "--config"])
        .arg(&cfg)
        .arg("--audio-in")
        .arg(&in_wav)
        .arg("--audio-out")
        .arg(dir.path().join("out.wav"))
        .env("ATTUNE_TEST_BUS_PW", "robot-pw")
        .env("ATTUNE_LOG", "warn,bus=info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let db = rusqlite::Connection::open(dir.path().join("s.db")).unwrap();
    let (session, ms): (i64, i64) = db
        .query_row("SELECT id, ended_at_ms - started_at_ms FROM sessions WHERE arm = 'robot'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    let seen = staff
        .wait_for(Duration::from_secs(10), |v| v.iter().any(|s| s.payload["kind"] == "head_telemetry"))
        .unwrap_or_else(|v| panic!("no head telemetry on the bus: {v:?}\n{stderr}"));
    let schema = attune_tests::bus_schema::load();
    let tele: Vec<&Value> = seen.iter().map(|s| &s.payload).filter(|p| p["kind"] == "head_telemetry").collect();
    for t in &tele {
        attune_tests::bus_schema::check(&schema, t, None).unwrap_or_else(|e| panic!("{e}: {t}"));
        assert_eq!(t["session"], session);
        assert!(t["head"]["mode"].is_string() && t["head"]["angles"]["yaw_deg"].is_number(), "{t}");
    }
    // The simulator sends 50 samples a second; staff get one per 200 ms at most.
    let most = ms / 200 + 2;
    assert!((tele.len() as i64) <= most, "{} telemetry messages in a {ms} ms session (at most {most})", tele.len());
}

#[test]
fn a_robot_sessions_head_link_killed_mid_session_reaches_staff_as_a_valid_head_fault() {
    if !available() {
        eprintln!("mosquitto is not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).unwrap();
    // The crisis layer's embedding model is not what this test is about (seconds to load on a busy machine).
    let cfg = write_config(dir.path(), &broker.url(), "robot-head-fault", "telemetry_interval_ms = 200\n\n[crisis]\nsemantic = false\n");
    let staff = Subscriber::start(broker.port, "staff", "staff-head-fault", "attune/lab/r1/#", false);
    staff.wait_ready();
    // The head: the simulator as its own process on a pseudo-terminal.
    let link = dir.path().join("head");
    let mut sim = attune_tests::SimProcess::start(&link, &[]);
    // One line, then silence: the session runs (in real time) for about 20 s.
    let mut input = vec![0i16; 16 * 800];
    input.extend(say_wav(dir.path(), "u1.wav", "I have been feeling tired all week."));
    input.extend(vec![0i16; 16 * 18_000]);
    let in_wav = dir.path().join("in.wav");
    write_wav(&in_wav, &input);
    let log = dir.path().join("attune.err");
    let mut attune = Command::new(attune_bin())
        .args(["run", "--arm", "robot", "--head", "serial", "--llm", "reflect", "--participant", "P-13", "--config"])
        .arg(&cfg)
        .arg("--head-port")
        .arg(&link)
        .arg("--audio-in")
        .arg(&in_wav)
        .arg("--audio-out")
        .arg(dir.path().join("out.wav"))
        .env("ATTUNE_TEST_BUS_PW", "robot-pw")
        .env("ATTUNE_LOG", "warn,bus=info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stderr = || std::fs::read_to_string(&log).unwrap_or_default();
    // The head is up: its telemetry reaches staff.
    if let Err(v) = staff.wait_for(Duration::from_secs(60), |v| v.iter().any(|s| s.payload["kind"] == "head_telemetry")) {
        let _ = attune.kill();
        sim.kill();
        panic!("no head telemetry on the bus: {} messages\n{}", v.len(), stderr());
    }
    assert!(staff.snapshot().iter().all(|s| s.payload["kind"] != "head_fault"), "a head fault before the link failed");
    // The head's link fails: the simulator is killed.
    sim.kill();
    let seen = staff.wait_for(Duration::from_secs(30), |v| v.iter().any(|s| s.payload["kind"] == "head_fault"));
    let status = attune.wait().unwrap();
    let seen = seen.unwrap_or_else(|v| panic!("no head_fault on the bus: {:?}\n{}", v.iter().map(|s| &s.payload["kind"]).collect::<Vec<_>>(), stderr()));
    assert!(status.success(), "the session did not go on without its head: {}", stderr());
    let db = rusqlite::Connection::open(dir.path().join("s.db")).unwrap();
    let session: i64 = db.query_row("SELECT id FROM sessions WHERE arm = 'robot'", [], |r| r.get(0)).unwrap();
    let schema = attune_tests::bus_schema::load();
    let faults: Vec<&Value> = seen.iter().map(|s| &s.payload).filter(|p| p["kind"] == "head_fault").collect();
    for f in &faults {
        attune_tests::bus_schema::check(&schema, f, None).unwrap_or_else(|e| panic!("{e}: {f}"));
        assert_eq!(f["session"], session);
        assert_eq!(f["participant"], "P-13");
    }
    let at = seen.iter().position(|s| s.payload["kind"] == "head_fault").unwrap();
    assert_eq!(seen[at].topic, "attune/lab/r1/event");
    assert!(faults[0]["error"].as_str().unwrap().contains("no telemetry from the head"), "{}", faults[0]);
    // Reported once for the outage, not once per missing sample.
    assert_eq!(faults.len(), 1, "{faults:?}");
    // The session went on and ended normally after the fault.
    let all = staff.wait_for(Duration::from_secs(10), |v| v.iter().any(|s| s.payload["kind"] == "session_ended")).expect("session_ended");
    let ended = all.iter().position(|s| s.payload["kind"] == "session_ended").unwrap();
    assert!(ended > at, "session_ended before the head fault");
}
