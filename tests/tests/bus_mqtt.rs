//! The MQTT bus end to end: the `attune` binary against a real mosquitto
//! (started here on a free port with a password file and an ACL).

use attune_tests::attune_bin;
use attune_tests::bus_schema;
use attune_tests::bus_session::{self, chat_script, Chat, Monitor};
use attune_tests::mosquitto::{available, write_config, Mosquitto, Seen, Subscriber};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CRISIS_LINE: &str = "I want to kill myself tonight.";

fn skip() -> bool {
    if !available() {
        eprintln!("mosquitto is not installed (scripts/setup.sh installs it); skipping");
        return true;
    }
    false
}

fn of_kind<'a>(seen: &'a [Seen], kind: &str) -> Vec<&'a Seen> {
    seen.iter().filter(|s| s.payload["kind"] == kind).collect()
}

fn query<T: rusqlite::types::FromSql>(db: &Path, sql: &str) -> T {
    let c = rusqlite::Connection::open(db).expect("db");
    c.query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn assert_schema(seen: &[Seen]) {
    let schema = bus_schema::load();
    for s in seen {
        if let Err(e) = bus_schema::check(&schema, &s.payload, None) {
            panic!("{} on {} breaks docs/bus-schema.json: {e}", s.payload, s.topic);
        }
    }
}

#[test]
fn a_crisis_alert_reaches_staff_without_text_repeats_until_acked_and_the_ack_is_stored() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-alert", "alert_repeat_ms = 300");
    let staff = Subscriber::start(broker.port, "staff", "staff-watch", "attune/lab/r1/#", false);
    staff.wait_ready();

    let mut chat = Chat::start(&cfg, "P-042", "robot-pw");
    let t1 = chat.turn("I had a long week at work.");
    assert_eq!(t1["risk"], "none");
    let t2 = chat.turn(CRISIS_LINE);
    assert_eq!(t2["alert"], true, "{t2}");

    // The alert arrives, and arrives again (same id) while nobody acknowledges it.
    let seen = staff
        .wait_for(Duration::from_secs(10), |v| of_kind(v, "crisis_alert").len() >= 3)
        .unwrap_or_else(|v| panic!("alert not repeated: {v:?}\n{}", chat.stderr()));
    let alerts = of_kind(&seen, "crisis_alert");
    let a = &alerts[0].payload;
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(alerts[0].topic, "attune/lab/r1/alert");
    assert_eq!(a["participant"], "P-042");
    assert_eq!(a["turn"], 2);
    assert!(a["risk"] == "high" || a["risk"] == "imminent", "{a}");
    assert!(alerts.iter().all(|s| s.payload["id"] == id.as_str()), "republished alerts keep their id");
    let repeats: Vec<u64> = alerts.iter().map(|s| s.payload["repeat"].as_u64().unwrap()).collect();
    assert_eq!(&repeats[..3], &[0, 1, 2]);

    // An ack for an alert this robot never raised is logged, audited and ignored.
    let out = bus_session::staff(&cfg, &["ack", "--alert", "no-such-alert-1", "--by", "dr.lee"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A staff member acknowledges it with the CLI, as the staff user.
    let out = bus_session::staff(&cfg, &["ack", "--alert", &id, "--by", "dr.lee"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen = staff.wait_for(Duration::from_secs(10), |v| !of_kind(v, "alert_acked").is_empty()).expect("alert_acked event");
    let acked_at = seen.iter().position(|s| s.payload["kind"] == "alert_acked").unwrap();
    assert_eq!(seen[acked_at].payload["by"], "dr.lee");
    // No republication after the ack (wait several repeat periods).
    std::thread::sleep(Duration::from_millis(1500));
    let after: Vec<Seen> = staff.snapshot().into_iter().skip(acked_at + 1).filter(|s| s.payload["kind"] == "crisis_alert").collect();
    assert!(after.is_empty(), "alert republished after its ack: {after:?}");

    let t3 = chat.turn("Thank you for staying with me.");
    assert_eq!(t3["turn"], 3);
    let (code, stderr) = chat.finish();
    assert_eq!(code, 0, "{stderr}");

    // The robot stored who acknowledged it and when.
    let db = dir.path().join("s.db");
    assert_eq!(query::<String>(&db, &format!("SELECT acked_by FROM bus_alerts WHERE alert_id = '{id}'")), "dr.lee");
    let acked_ms: i64 = query(&db, &format!("SELECT acked_at_ms FROM bus_alerts WHERE alert_id = '{id}'"));
    assert!(acked_ms > 0);
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM events WHERE kind = 'alert_acked' AND payload LIKE '%dr.lee%'"), 1);
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM events WHERE kind = 'bus_ack_unknown_alert' AND payload LIKE '%no-such-alert-1%'"), 1);
    assert!(stderr.contains("unknown alert \"no-such-alert-1\" ignored"), "{stderr}");
    // Everything went out; no transcript text anywhere on the bus.
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM bus_outbox WHERE delivered_at_ms IS NULL"), 0);
    let all = staff.snapshot();
    for s in &all {
        let text = s.payload.to_string();
        assert!(!text.contains("kill myself") && !text.contains("long week"), "transcript text on the bus: {text}");
    }
    // The live state: in session → crisis → ... → idle (retained).
    let states: Vec<&str> = of_kind(&all, "state").iter().map(|s| s.payload["status"].as_str().unwrap()).collect();
    assert_eq!(states.first(), Some(&"in_session"), "{states:?}");
    assert!(states.contains(&"crisis"), "{states:?}");
    assert_eq!(states.last(), Some(&"idle"), "{states:?}");
    let turns: Vec<u64> = of_kind(&all, "turn_finished").iter().map(|s| s.payload["turn"].as_u64().unwrap()).collect();
    assert_eq!(turns, [1, 2, 3]);
    assert_schema(&all);
}

/// The dedup key of a message as a consumer sees it: `id`, or `id#repeat`
/// for a republished alert (the outbox's `msg_key`).
fn key(payload: &Value) -> String {
    let id = payload["id"].as_str().unwrap_or("").to_string();
    match payload["repeat"].as_u64() {
        Some(n) if n > 0 => format!("{id}#{n}"),
        _ => id,
    }
}

#[test]
fn after_three_broker_restarts_mid_session_bus_monitor_prints_every_id_exactly_once_in_order() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-restart", "keep_alive_s = 1\ndrain_timeout_ms = 20000");
    // What staff run (deduplicating), the same tool with --raw, and a plain
    // persistent MQTT subscriber: the transport as it is.
    let monitor = Monitor::start(&cfg, &[]);
    let raw_monitor = Monitor::start(&cfg, &["--raw"]);
    let raw = Subscriber::start(broker.port, "staff", "staff-restart", "attune/lab/r1/#", true);
    raw.wait_ready();
    let mut chat = Chat::start(&cfg, "P-7", "robot-pw");
    let mut turn = 0u64;
    let mut next_line = || {
        turn += 1;
        (turn, format!("Line {turn}: I walked to the shop and back."))
    };
    for round in 0..3 {
        for _ in 0..2 {
            let (n, l) = next_line();
            assert_eq!(chat.turn(&l)["turn"], n);
        }
        // A burst whose messages are still on their way when the broker stops.
        for _ in 0..3 {
            chat.send(&next_line().1);
        }
        broker.stop();
        for _ in 0..3 {
            chat.report();
        }
        // The session goes on while the broker is down.
        for _ in 0..2 {
            let (n, l) = next_line();
            let t = chat.turn(&l);
            assert_eq!(t["turn"], n, "round {round}: {t}");
        }
        broker.run().unwrap();
    }
    for _ in 0..2 {
        let (n, l) = next_line();
        assert_eq!(chat.turn(&l)["turn"], n);
    }
    let (code, stderr) = chat.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("reconnected"), "no log line about the outages:\n{stderr}");

    let db = dir.path().join("s.db");
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM bus_outbox WHERE delivered_at_ms IS NULL"), 0, "{stderr}");
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut st = c.prepare("SELECT msg_key, topic, payload FROM bus_outbox ORDER BY id").unwrap();
    let rows: Vec<(String, String, String)> = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    let expected: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();

    // A redelivery the test makes for certain: the robot's last three
    // messages published again, byte for byte (same ids). Then a fresh
    // sentinel: per-client order means the monitor has judged the copies by
    // the time it prints the sentinel.
    for (_, topic, payload) in &rows[rows.len() - 3..] {
        attune_tests::mosquitto::publish(broker.port, "robot", topic, payload.clone().into_bytes());
    }
    let sentinel = serde_json::json!({"v": 1, "id": "sentinel-1", "kind": "state", "t": attune_tests_now(), "site": "lab", "robot": "r1", "status": "idle"});
    attune_tests::mosquitto::publish(broker.port, "robot", "attune/lab/r1/state", sentinel.to_string().into_bytes());

    let lines = monitor
        .wait_for(Duration::from_secs(30), |v| v.iter().any(|l| l["payload"]["id"] == "sentinel-1"))
        .unwrap_or_else(|v| panic!("bus monitor never printed the sentinel; {} lines; stderr:\n{}", v.len(), monitor.stderr()));
    let raw_lines = raw_monitor
        .wait_for(Duration::from_secs(30), |v| v.iter().any(|l| l["payload"]["id"] == "sentinel-1"))
        .unwrap_or_else(|v| panic!("bus monitor --raw never printed the sentinel; {} lines", v.len()));
    let (code, mon_stderr) = monitor.interrupt();
    assert_eq!(code, Some(0), "{mon_stderr}");
    drop(raw_monitor);

    // Exactly once per id, in the robot's order, nothing else.
    let got: Vec<String> = lines.iter().map(|l| key(&l["payload"])).collect();
    let mut want = expected.clone();
    want.push("sentinel-1".into());
    if got != want {
        let missing: Vec<&String> = want.iter().filter(|k| !got.contains(k)).collect();
        let mut seen = std::collections::HashSet::new();
        let dups: Vec<&String> = got.iter().filter(|k| !seen.insert(*k)).collect();
        let detail: Vec<String> = lines.iter().map(|l| format!("{} {} {} retain={}", key(&l["payload"]), l["topic"], l["payload"]["kind"], l["retain"])).collect();
        panic!("bus monitor: {} lines for {} messages; missing {missing:?}; duplicated {dups:?}; order:\n{detail:#?}\nwant:\n{want:?}\nmonitor stderr:\n{mon_stderr}\nrobot stderr:\n{stderr}", got.len(), want.len());
    }
    // It held its session across the restarts (it may sleep through a short
    // one), so nothing queued for it while it was away was lost ...
    assert!(mon_stderr.contains("kept this monitor's session") && !mon_stderr.contains("no longer held"), "{mon_stderr}");
    // ... and dropped at least the three copies the test made.
    let raw_keys: Vec<String> = raw_lines.iter().map(|l| key(&l["payload"])).collect();
    assert!(raw_keys.len() >= want.len() + 3, "--raw shows every delivery, copies included: {} lines for {} messages", raw_keys.len(), want.len());
    let dropped: usize = mon_stderr
        .lines()
        .find_map(|l| l.strip_prefix("attune: ").and_then(|r| r.split_once(" redelivered messages")).and_then(|(n, _)| n.parse().ok()))
        .unwrap_or_else(|| panic!("the monitor did not say how many copies it dropped:\n{mon_stderr}"));
    assert!(dropped >= 3, "{dropped} copies dropped; stderr:\n{mon_stderr}");
    for l in &lines {
        assert!(l["topic"].as_str().is_some_and(|t| t.starts_with("attune/lab/r1/")) && l["retain"].is_boolean(), "{l}");
    }
    let payloads: Vec<Seen> = lines.iter().map(|l| Seen { topic: l["topic"].as_str().unwrap().into(), payload: l["payload"].clone(), retain: false, at: Instant::now() }).collect();
    assert_schema(&payloads);
    let turns: Vec<u64> = of_kind(&payloads, "turn_finished").iter().map(|s| s.payload["turn"].as_u64().unwrap()).collect();
    assert_eq!(turns, (1..=turn).collect::<Vec<u64>>());

    // The plain subscriber shows the transport: every id arrived, the first
    // arrivals in order, and copies only of ids already seen.
    let seen = raw.wait_for(Duration::from_secs(10), |v| v.iter().any(|s| s.payload["id"] == "sentinel-1")).expect("raw subscriber saw the sentinel");
    let mut first: Vec<String> = Vec::new();
    for s in &seen {
        let k = key(&s.payload);
        if !first.contains(&k) {
            first.push(k);
        }
    }
    assert_eq!(first, want, "first arrivals at the raw subscriber");
    eprintln!("{} messages; {} deliveries at the raw subscriber ({} redelivered during the restarts), each printed once by bus monitor", want.len(), seen.len(), seen.len().saturating_sub(want.len() + 3));
}

#[test]
fn a_staff_command_delivered_twice_is_applied_once_even_by_a_later_session() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-dup-cmd", "");
    let script = dir.path().join("two.txt");
    std::fs::write(&script, "I made some tea.\nIt was too hot.\n").unwrap();
    // A first session creates the robot's persistent session on the broker.
    let out = chat_script(&cfg, Some("P-21"), &script);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // One `say` command, delivered twice while the robot is away (as a broker
    // redelivers a message whose acknowledgement it never got).
    let say = format!(r#"{{"v":1,"id":"dup-say-1","kind":"say","t":"{}","by":"dr.lee","text":"Your nurse is on the way."}}"#, attune_tests_now());
    for _ in 0..2 {
        attune_tests::mosquitto::publish(broker.port, "staff", "attune/lab/r1/cmd", say.clone().into_bytes());
    }
    let out = chat_script(&cfg, Some("P-21"), &script);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let turns: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(turns.len(), 2, "{stderr}");
    assert_eq!(turns[0]["source"], "staff", "{stderr}");
    assert_ne!(turns[1]["source"], "staff", "the second copy was spoken too: {stderr}");
    // The same command again, now to a later process: the store's audit knows it.
    attune_tests::mosquitto::publish(broker.port, "staff", "attune/lab/r1/cmd", say.into_bytes());
    let out = chat_script(&cfg, Some("P-21"), &script);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let t: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_ne!(t["source"], "staff", "a later session applied the command again: {t}\n{stderr}");
    assert!(stderr.contains("already applied"), "{stderr}");
    let db = dir.path().join("s.db");
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM events WHERE kind = 'staff_command'"), 1);
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM turns WHERE source = 'staff'"), 1);
}

#[test]
fn a_broker_down_at_start_gets_the_sessions_messages_in_order_when_it_comes_up() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-late", "keep_alive_s = 1\nconnect_wait_ms = 300\ndrain_timeout_ms = 15000");
    // A persistent subscriber, so the broker queues for it across its restart.
    let staff = Subscriber::start(broker.port, "staff", "staff-late", "attune/lab/r1/#", true);
    staff.wait_ready();
    broker.stop();
    let mut chat = Chat::start(&cfg, "P-30", "robot-pw");
    for (i, l) in ["The broker is not there yet.", "I keep talking anyway."].iter().enumerate() {
        assert_eq!(chat.turn(l)["turn"], (i + 1) as u64);
    }
    let db = dir.path().join("s.db");
    assert!(query::<i64>(&db, "SELECT COUNT(*) FROM bus_outbox WHERE delivered_at_ms IS NULL") >= 5, "{}", chat.stderr());
    broker.run().unwrap();
    chat.turn("Now it is back.");
    let (code, stderr) = chat.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no broker listening"), "the outage at start was not logged:\n{stderr}");
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM bus_outbox WHERE delivered_at_ms IS NULL"), 0, "{stderr}");
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut st = c.prepare("SELECT msg_key FROM bus_outbox ORDER BY id").unwrap();
    let expected: Vec<String> = st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    let seen = staff
        .wait_for(Duration::from_secs(15), |v| of_kind(v, "session_ended").len() == 1)
        .unwrap_or_else(|v| panic!("session_ended never arrived: {} messages", v.len()));
    let mut first: Vec<String> = Vec::new();
    for s in &seen {
        let k = key(&s.payload);
        if !first.contains(&k) {
            first.push(k);
        }
    }
    assert_eq!(first, expected, "the backlog arrived incomplete or out of order");
}

#[test]
fn a_wrong_password_is_refused_with_a_clear_log_line_and_the_session_goes_on() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-badpw", "drain_timeout_ms = 300\nconnect_wait_ms = 300");
    let mut chat = Chat::start(&cfg, "P-9", "not-the-password");
    let t = chat.turn("I feel okay today.");
    assert_eq!(t["turn"], 1);
    let (code, stderr) = chat.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("refused the credentials of user \"robot\""), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "the password leaked into the log");
    // Nothing lost: the messages wait in the outbox for a later run.
    let db = dir.path().join("s.db");
    let waiting: i64 = query(&db, "SELECT COUNT(*) FROM bus_outbox WHERE delivered_at_ms IS NULL");
    assert!(waiting >= 4, "{waiting}");
    // The next run with the right password delivers the backlog first.
    let staff = Subscriber::start(broker.port, "staff", "staff-badpw", "attune/lab/r1/event", false);
    staff.wait_ready();
    let mut chat = Chat::start(&cfg, "P-9", "robot-pw");
    chat.turn("Still okay.");
    let (code, stderr) = chat.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM bus_outbox WHERE delivered_at_ms IS NULL"), 0, "{stderr}");
    let seen = staff.snapshot();
    let sessions: Vec<i64> = of_kind(&seen, "turn_finished").iter().map(|s| s.payload["session"].as_i64().unwrap()).collect();
    assert_eq!(sessions, [1, 2], "the first session's turn arrives before the second's");
}

#[test]
fn malformed_oversized_and_unauthorised_commands_are_ignored_and_the_session_goes_on() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-badcmd", "");
    let mut chat = Chat::start(&cfg, "P-5", "robot-pw");
    chat.turn("Hello.");
    let publish = |user: &str, payload: Vec<u8>| attune_tests::mosquitto::publish(broker.port, user, "attune/lab/r1/cmd", payload);
    let now = attune_tests_now();
    publish("staff", b"{not json".to_vec());
    publish("staff", format!(r#"{{"v":1,"id":"big","kind":"say","t":"{now}","by":"x","text":"{}"}}"#, "a".repeat(1 << 20)).into_bytes());
    publish("staff", format!(r#"{{"v":1,"id":"rb","kind":"reboot","t":"{now}","by":"x"}}"#).into_bytes());
    // The visitor may not publish on cmd: the broker drops it (ACL).
    publish("visitor", format!(r#"{{"v":1,"id":"v1","kind":"stop","t":"{now}","by":"visitor"}}"#).into_bytes());
    std::thread::sleep(Duration::from_millis(800));
    let t = chat.turn("Are you still there?");
    assert_eq!(t["turn"], 2, "the session went on");
    assert_ne!(t["source"], "staff");
    let (code, stderr) = chat.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("not a valid message"), "{stderr}");
    assert!(stderr.contains("limit"), "{stderr}");
    assert!(stderr.contains("unknown command kind"), "{stderr}");
    let db = dir.path().join("s.db");
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM events WHERE kind = 'staff_command_rejected'"), 3);
    // The visitor's stop never reached the robot: the session took turn 2.
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM events WHERE kind = 'staff_command'"), 0);
}

#[test]
fn a_staff_line_is_refused_while_the_crisis_protocol_is_active() {
    if !available() {
        eprintln!("mosquitto is not installed; skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-crisis-say", "");
    // Establish the persistent session, then leave the participant in crisis state.
    let crisis = dir.path().join("crisis.txt");
    std::fs::write(&crisis, "I want to end my life.\n").unwrap();
    let out = chat_script(&cfg, Some("P-12"), &crisis);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let send = |text: &str, aware: bool| {
        let mut args = vec!["cmd", "say", "--text", text, "--by", "dr.lee"];
        if aware {
            args.push("--crisis-aware");
        }
        let out = bus_session::staff(&cfg, &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    send("Shall we talk about your holidays?", false);
    let script = dir.path().join("calm.txt");
    std::fs::write(&script, "I am sitting on my bed.\n").unwrap();
    let out = chat_script(&cfg, Some("P-12"), &script);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(t["crisis_active"], true, "{t}");
    assert_ne!(t["source"], "staff", "an ordinary staff line displaced the crisis protocol: {t}");
    assert!(!t["reply"].as_str().unwrap().contains("holidays"));
    let db = rusqlite::Connection::open(dir.path().join("s.db")).unwrap();
    let refused: i64 = db.query_row("SELECT COUNT(*) FROM events WHERE kind = 'staff_say_refused'", [], |r| r.get(0)).unwrap();
    assert_eq!(refused, 1);

    // A crisis-aware line is spoken while the crisis state holds.
    send("A member of our team is on the way to sit with you.", true);
    let out = chat_script(&cfg, Some("P-12"), &script);
    let t: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(t["source"], "staff", "{t}");
    assert_eq!(t["crisis_active"], true);
}

fn staff_cmd(cfg: &Path, args: &[&str]) {
    let args: Vec<&str> = ["cmd"].iter().chain(args).chain(&["--by", "dr.lee"]).copied().collect();
    let out = bus_session::staff(cfg, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn pause_holds_the_next_turn_until_resume_and_stop_ends_a_waiting_session() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-pause", "");
    let staff = Subscriber::start(broker.port, "staff", "staff-pause", "attune/lab/r1/state", false);
    staff.wait_ready();
    let mut chat = Chat::start(&cfg, "P-3", "robot-pw");
    chat.turn("Hello.");
    staff_cmd(&cfg, &["pause"]);
    staff.wait_for(Duration::from_secs(10), |v| v.iter().any(|s| s.payload["status"] == "paused")).expect("paused state");
    // A line typed while paused is not answered...
    chat.send("Are you there?");
    assert!(chat.lines.recv_timeout(Duration::from_millis(1500)).is_err(), "a paused session answered");
    // ...until staff resume it.
    staff_cmd(&cfg, &["resume"]);
    let t = chat.lines.recv_timeout(Duration::from_secs(10)).expect("turn after resume");
    assert_eq!(t["turn"], 2);
    // Stop ends the session while it waits for the participant (stdin stays open).
    staff_cmd(&cfg, &["stop"]);
    let end = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Ok(Some(st)) = chat.child.try_wait() {
            break st.code();
        }
        assert!(Instant::now() < end, "stop did not end the session: {}", chat.stderr());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
    let states: Vec<String> = staff.snapshot().iter().map(|s| s.payload["status"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(states.last().map(String::as_str), Some("idle"), "{states:?}");
    let db = dir.path().join("s.db");
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM events WHERE kind = 'staff_command' AND payload LIKE '%dr.lee%'"), 3);
    assert!(query::<i64>(&db, "SELECT ended_at_ms FROM sessions") > 0);
}

fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl").current_dir(dir).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

#[test]
fn mqtts_connects_with_the_right_ca_and_names_a_certificate_it_rejects() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A test CA, a broker certificate for 127.0.0.1 signed by it, and an unrelated CA.
    let ok = openssl(d, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=attune test CA"])
        && openssl(d, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost"])
        && std::fs::write(d.join("ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").is_ok()
        && openssl(d, &["x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext"])
        && openssl(d, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days", "2", "-subj", "/CN=other CA"]);
    if !ok {
        eprintln!("openssl unavailable; skipping");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let root = if Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false) { "user root\n" } else { "" };
    let conf = format!(
        "{root}listener {port} 127.0.0.1\ncafile {0}/ca.pem\ncertfile {0}/srv.pem\nkeyfile {0}/srv.key\nallow_anonymous true\nlog_dest file {0}/m.log\n",
        d.display()
    );
    std::fs::write(d.join("m.conf"), conf).unwrap();
    let mut broker = Command::new("mosquitto").arg("-c").arg(d.join("m.conf")).spawn().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "TLS mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = |ca: &str| {
        let cfg = d.join(format!("{ca}.toml"));
        let text = format!(
            "[store]\npath = \"{0}/{ca}.db\"\n[bus]\nurl = \"mqtts://127.0.0.1:{port}\"\nca_file = \"{0}/{ca}\"\nclient_id = \"tls-{ca}\"\nsite = \"lab\"\nrobot = \"r1\"\ndrain_timeout_ms = 3000\nconnect_wait_ms = 3000\n",
            d.display()
        );
        std::fs::write(&cfg, text).unwrap();
        let mut child = Command::new(attune_bin())
            .args(["chat", "--script", "-", "--llm", "reflect", "--config"])
            .arg(&cfg)
            .env("ATTUNE_LOG", "warn,bus=info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"Hello.\n").unwrap();
        let out = child.wait_with_output().unwrap();
        let waiting: i64 = query(&d.join(format!("{ca}.db")), "SELECT COUNT(*) FROM bus_outbox WHERE delivered_at_ms IS NULL");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), waiting)
    };
    let (code, stderr, waiting) = run("ca.pem");
    assert_eq!((code, waiting), (Some(0), 0), "{stderr}");
    let (code, stderr, waiting) = run("other.pem");
    let _ = broker.kill();
    let _ = broker.wait();
    assert_eq!(code, Some(0), "the session goes on: {stderr}");
    assert!(stderr.contains("TLS with the broker") && stderr.contains("bus.ca_file"), "{stderr}");
    assert!(waiting > 0, "the messages wait in the outbox");
}

/// Now as RFC 3339 UTC (what staff clients put in `t`).
fn attune_tests_now() -> String {
    let out = Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%S.000Z"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
