//! The MQTT bus end to end: the `attune` binary against a real mosquitto
//! (started here on a free port with a password file and an ACL).

use attune_tests::attune_bin;
use attune_tests::bus_schema;
use attune_tests::mosquitto::{available, write_config, Mosquitto, Seen, Subscriber};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CRISIS_LINE: &str = "I want to kill myself tonight.";

fn skip() -> bool {
    if !available() {
        eprintln!("mosquitto is not installed (scripts/setup.sh installs it); skipping");
        return true;
    }
    false
}

/// `attune chat --script -` with stdin kept open; stdout lines arrive on a channel.
struct Chat {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Chat {
    fn start(config: &Path, participant: &str, env_pw: &str) -> Chat {
        let mut child = Command::new(attune_bin())
            .args(["chat", "--script", "-", "--llm", "reflect", "--participant", participant, "--config"])
            .arg(config)
            .env("ATTUNE_TEST_BUS_PW", env_pw)
            .env("ATTUNE_LOG", "warn,bus=info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("attune chat");
        let stdout = child.stdout.take().expect("stdout");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&l) {
                    let _ = tx.send(v);
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let e2 = stderr.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                if let Ok(mut s) = e2.lock() {
                    s.push_str(&l);
                    s.push('\n');
                }
            }
        });
        Chat { stdin: child.stdin.take(), child, lines: rx, stderr }
    }

    /// Sends one participant line and waits for its turn report.
    fn turn(&mut self, text: &str) -> Value {
        let w = self.stdin.as_mut().expect("stdin open");
        writeln!(w, "{text}").expect("write turn");
        w.flush().expect("flush");
        self.lines.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("no turn report for {text:?}; stderr:\n{}", self.stderr()))
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Closes stdin and waits for the exit code.
    fn finish(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let end = Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                break st.code().unwrap_or(-1);
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("attune chat did not exit; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        (code, self.stderr())
    }
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

    // A staff member acknowledges it with the CLI, as the staff user.
    let out = Command::new(attune_bin())
        .args(["bus", "ack", "--alert", &id, "--by", "dr.lee", "--username", "staff", "--password-env", "STAFF_PW", "--config"])
        .arg(&cfg)
        .env("STAFF_PW", "staff-pw")
        .output()
        .unwrap();
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

#[test]
fn a_broker_restart_mid_session_loses_nothing_and_keeps_the_order() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start(dir.path()).unwrap();
    let cfg = write_config(dir.path(), &broker.url(), "robot-restart", "keep_alive_s = 1\ndrain_timeout_ms = 15000");
    // A persistent subscriber: the broker queues for it while it is away.
    let staff = Subscriber::start(broker.port, "staff", "staff-restart", "attune/lab/r1/#", true);
    staff.wait_ready();
    let mut chat = Chat::start(&cfg, "P-7", "robot-pw");
    let lines = ["I slept badly.", "Work was stressful today.", "My sister called me.", "We talked about our mother.", "I felt a bit better after.", "Then I cooked dinner.", "I watched a film.", "It was funny.", "Tomorrow is a busy day.", "I will try to rest."];
    for l in &lines[..3] {
        chat.turn(l);
    }
    staff.wait_for(Duration::from_secs(10), |v| of_kind(v, "turn_finished").len() == 3).expect("first three turns live");
    broker.stop();
    // The session goes on while the broker is down.
    for (i, l) in lines[3..8].iter().enumerate() {
        let t = chat.turn(l);
        assert_eq!(t["turn"], (i + 4) as u64, "{t}");
    }
    std::thread::sleep(Duration::from_millis(1500));
    broker.run().unwrap();
    for l in &lines[8..] {
        chat.turn(l);
    }
    let (code, stderr) = chat.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("reconnected") || stderr.contains("connection"), "no log line about the outage:\n{stderr}");

    let db = dir.path().join("s.db");
    assert_eq!(query::<i64>(&db, "SELECT COUNT(*) FROM bus_outbox WHERE delivered_at_ms IS NULL"), 0, "{stderr}");
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut st = c.prepare("SELECT msg_key, topic FROM bus_outbox ORDER BY id").unwrap();
    let rows: Vec<(String, String)> = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let seen = staff
        .wait_for(Duration::from_secs(15), |v| of_kind(v, "session_ended").len() == 1)
        .unwrap_or_else(|v| panic!("session_ended never arrived: {} messages", v.len()));
    // Every outbox id arrived; first arrivals in outbox order. At-least-once:
    // a message in flight when the broker went away may arrive twice (same id).
    let key = |s: &Seen| {
        let id = s.payload["id"].as_str().unwrap_or("").to_string();
        match s.payload["repeat"].as_u64() {
            Some(n) if n > 0 => format!("{id}#{n}"),
            _ => id,
        }
    };
    let mut first: Vec<String> = Vec::new();
    for s in &seen {
        let k = key(s);
        if !first.contains(&k) {
            first.push(k);
        }
    }
    let expected: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let missing: Vec<&String> = expected.iter().filter(|k| !first.contains(k)).collect();
    assert!(missing.is_empty(), "{} of {} messages never arrived: {missing:?}", missing.len(), expected.len());
    let ours: Vec<&String> = first.iter().filter(|k| expected.contains(k)).collect();
    assert_eq!(ours, expected.iter().collect::<Vec<_>>(), "first arrivals out of outbox order");
    let dups = seen.len() - first.len();
    eprintln!("{} messages, {} duplicate deliveries (at-least-once)", expected.len(), dups);
    let turns: Vec<u64> = of_kind(&seen, "turn_finished").iter().map(|s| s.payload["turn"].as_u64().unwrap()).collect();
    let mut uniq = turns.clone();
    uniq.dedup();
    assert_eq!(uniq, (1..=10).collect::<Vec<u64>>());
    assert_schema(&seen);
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
    let publish = |user: &str, payload: Vec<u8>| {
        let mut o = rumqttc::MqttOptions::new(format!("pub-{user}-{}", payload.len()), "127.0.0.1", broker.port);
        o.set_credentials(user, format!("{user}-pw"));
        o.set_max_packet_size(4 << 20, 4 << 20);
        let (c, mut conn) = rumqttc::Client::new(o, 8);
        c.publish("attune/lab/r1/cmd", rumqttc::QoS::AtLeastOnce, false, payload).unwrap();
        for ev in conn.iter() {
            match ev {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => break,
                Err(e) => panic!("{e}"),
                _ => {}
            }
        }
    };
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
    let out = Command::new(attune_bin())
        .args(["chat", "--llm", "reflect", "--participant", "P-12", "--script"])
        .arg(&crisis)
        .arg("--config")
        .arg(&cfg)
        .env("ATTUNE_TEST_BUS_PW", "robot-pw")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let send = |text: &str, aware: bool| {
        let mut args = vec!["bus", "cmd", "say", "--text", text, "--by", "dr.lee", "--username", "staff", "--password-env", "STAFF_PW"];
        if aware {
            args.push("--crisis-aware");
        }
        let out = Command::new(attune_bin()).args(&args).arg("--config").arg(&cfg).env("STAFF_PW", "staff-pw").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    send("Shall we talk about your holidays?", false);
    let script = dir.path().join("calm.txt");
    std::fs::write(&script, "I am sitting on my bed.\n").unwrap();
    let out = Command::new(attune_bin())
        .args(["chat", "--llm", "reflect", "--participant", "P-12", "--script"])
        .arg(&script)
        .arg("--config")
        .arg(&cfg)
        .env("ATTUNE_TEST_BUS_PW", "robot-pw")
        .output()
        .unwrap();
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
    let out = Command::new(attune_bin())
        .args(["chat", "--llm", "reflect", "--participant", "P-12", "--script"])
        .arg(&script)
        .arg("--config")
        .arg(&cfg)
        .env("ATTUNE_TEST_BUS_PW", "robot-pw")
        .output()
        .unwrap();
    let t: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(t["source"], "staff", "{t}");
    assert_eq!(t["crisis_active"], true);
}

fn staff_cmd(cfg: &Path, args: &[&str]) {
    let out = Command::new(attune_bin())
        .args(["bus", "cmd"])
        .args(args)
        .args(["--by", "dr.lee", "--username", "staff", "--password-env", "STAFF_PW", "--config"])
        .arg(cfg)
        .env("STAFF_PW", "staff-pw")
        .output()
        .unwrap();
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
    let w = chat.stdin.as_mut().unwrap();
    writeln!(w, "Are you there?").unwrap();
    w.flush().unwrap();
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
