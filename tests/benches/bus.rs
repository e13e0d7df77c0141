//! MQTT bus benchmark (prints figures; no assertions). Against a real
//! mosquitto on loopback, through the `attune` binary:
//! 1. crisis turn → `crisis_alert` on a subscriber, p50/p99, beside raw MQTT
//!    publish → receive latency on the same broker (the floor);
//! 2. outbox throughput: a 200-turn script with the bus vs without it;
//! 3. backlog drain after an outage (`ATTUNE_BENCH_OUTAGE_S`, default 60 s)
//!    with the session taking two turns a second throughout, beside raw MQTT
//!    delivery of the same number of messages.
//!
//!     cargo build -p attune && cargo bench -p attune-tests --bench bus

use attune_tests::attune_bin;
use attune_tests::mosquitto::{available, write_config, Mosquitto, Seen, Subscriber};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

struct Chat {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<(Instant, Value)>,
}

fn chat(config: &Path, participant: &str) -> Chat {
    let mut child = Command::new(attune_bin())
        .args(["chat", "--script", "-", "--llm", "reflect", "--participant", participant, "--config"])
        .arg(config)
        .env("ATTUNE_TEST_BUS_PW", "robot-pw")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("attune chat");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&l) {
                let _ = tx.send((Instant::now(), v));
            }
        }
    });
    Chat { stdin: child.stdin.take(), child, lines: rx }
}

impl Chat {
    fn send(&mut self, line: &str) {
        let w = self.stdin.as_mut().expect("stdin");
        let _ = writeln!(w, "{line}");
        let _ = w.flush();
    }
    fn finish(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn kind_count(v: &[Seen], kind: &str) -> usize {
    v.iter().filter(|s| s.payload["kind"] == kind).count()
}

/// Raw MQTT: publish `n` messages of `size` bytes as the robot user, return
/// per-message latency (ms) at `sub` and the time until all arrived.
fn raw_mqtt(port: u16, sub: &Subscriber, n: usize, size: usize, gap: Duration) -> (Vec<f64>, f64) {
    let mut o = rumqttc::MqttOptions::new("bench-raw", "127.0.0.1", port);
    o.set_credentials("robot", "robot-pw");
    let (c, mut conn) = rumqttc::Client::new(o, 1024);
    std::thread::spawn(move || for _ in conn.iter() {});
    let base = sub.snapshot().len();
    let mut sent = Vec::new();
    let start = Instant::now();
    for i in 0..n {
        let pad = "x".repeat(size.saturating_sub(40));
        let payload = format!(r#"{{"kind":"raw","seq":{i},"pad":"{pad}"}}"#);
        sent.push(Instant::now());
        let _ = c.publish("attune/lab/r1/event", rumqttc::QoS::AtLeastOnce, false, payload);
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
    let got = sub.wait_for(Duration::from_secs(60), |v| v.len() >= base + n).unwrap_or_else(|v| v);
    let total = got.last().map(|s| s.at.duration_since(start).as_secs_f64() * 1000.0).unwrap_or(f64::NAN);
    let lat = got[base.min(got.len())..]
        .iter()
        .filter(|s| s.payload["kind"] == "raw")
        .filter_map(|s| s.payload["seq"].as_u64().and_then(|i| sent.get(i as usize)).map(|t| s.at.duration_since(*t).as_secs_f64() * 1000.0))
        .collect();
    (lat, total)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !available() {
        eprintln!("mosquitto not installed; nothing to measure");
        return;
    }
    let outage_s: u64 = std::env::var("ATTUNE_BENCH_OUTAGE_S").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Mosquitto::start(dir.path()).expect("mosquitto");
    let sub = Subscriber::start(broker.port, "staff", "bench-staff", "attune/lab/r1/#", true);
    sub.wait_ready();

    // 1. Alert latency.
    let (mut raw_lat, _) = raw_mqtt(broker.port, &sub, 200, 250, Duration::from_millis(5));
    let cfg = write_config(dir.path(), &broker.url(), "bench-robot", "alert_repeat_ms = 600000");
    let mut c = chat(&cfg, "B-1");
    let (mut from_line, mut from_report, mut engine) = (Vec::new(), Vec::new(), Vec::new());
    for i in 1..=60u64 {
        let before = sub.snapshot().len();
        let t0 = Instant::now();
        c.send("I want to kill myself.");
        let Ok((t_report, rep)) = c.lines.recv_timeout(Duration::from_secs(20)) else { break };
        let got = sub.wait_for(Duration::from_secs(10), |v| v[before.min(v.len())..].iter().any(|s| s.payload["kind"] == "crisis_alert" && s.payload["turn"] == i));
        if let Ok(v) = got {
            if let Some(a) = v[before..].iter().find(|s| s.payload["kind"] == "crisis_alert" && s.payload["turn"] == i) {
                from_line.push(a.at.duration_since(t0).as_secs_f64() * 1000.0);
                from_report.push(a.at.saturating_duration_since(t_report).as_secs_f64() * 1000.0);
                engine.push(rep["timings_ms"]["total"].as_f64().unwrap_or(f64::NAN));
            }
        }
    }
    c.finish();
    println!("bus bench on mosquitto (loopback), {} crisis turns", from_line.len());
    println!("  {:<46} {:>9} {:>9}", "latency (ms)", "p50", "p99");
    println!("  {:<46} {:>9.2} {:>9.2}", "raw MQTT publish -> subscriber (reference)", pct(&mut raw_lat, 0.5), pct(&mut raw_lat, 0.99));
    println!("  {:<46} {:>9.2} {:>9.2}", "crisis line written -> alert on subscriber", pct(&mut from_line, 0.5), pct(&mut from_line, 0.99));
    println!("  {:<46} {:>9.2} {:>9.2}", "turn report printed -> alert on subscriber", pct(&mut from_report, 0.5), pct(&mut from_report, 0.99));
    println!("  {:<46} {:>9.2} {:>9.2}", "engine turn total_ms (for scale)", pct(&mut engine, 0.5), pct(&mut engine, 0.99));

    // 2. Throughput: the same script with and without the bus.
    let n = 200;
    let lines: Vec<String> = (0..n).map(|i| format!("Today I walked {i} steps and thought about my week.")).collect();
    let run = |cfg: Option<&Path>, db: &Path| -> f64 {
        let mut cmd = Command::new(attune_bin());
        cmd.args(["chat", "--script", "-", "--llm", "reflect", "--participant", "B-2", "--db"]).arg(db);
        if let Some(c) = cfg {
            cmd.arg("--config").arg(c);
        }
        let mut child = cmd.env("ATTUNE_TEST_BUS_PW", "robot-pw").stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("chat");
        let t0 = Instant::now();
        if let Some(mut w) = child.stdin.take() {
            for l in &lines {
                let _ = writeln!(w, "{l}");
            }
        }
        let _ = child.wait();
        t0.elapsed().as_secs_f64()
    };
    let before = sub.snapshot().len();
    let plain_s = run(None, &dir.path().join("plain.db"));
    let t0 = Instant::now();
    let bus_s = run(Some(&cfg), &dir.path().join("s.db"));
    let got = sub.wait_for(Duration::from_secs(120), |v| kind_count(&v[before.min(v.len())..], "session_ended") >= 1).unwrap_or_else(|v| v);
    let msgs = got.len() - before;
    let delivered_s = got.last().map(|s| s.at.duration_since(t0).as_secs_f64()).unwrap_or(f64::NAN);
    println!("  throughput, {n}-turn script (--llm reflect):");
    println!("    without bus: {:>7.2} s  {:>8.1} turns/s (reference)", plain_s, n as f64 / plain_s);
    println!("    with bus:    {:>7.2} s  {:>8.1} turns/s; {msgs} messages delivered in {:.2} s = {:.0} msgs/s", bus_s, n as f64 / bus_s, delivered_s, msgs as f64 / delivered_s);

    // 3. Drain after an outage, the session going on at two turns a second.
    let mut c = chat(&cfg, "B-3");
    c.send("Hello again.");
    let _ = c.lines.recv_timeout(Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    broker.stop();
    let t_out = Instant::now();
    let mut turns = 0;
    while t_out.elapsed() < Duration::from_secs(outage_s) {
        c.send("I am still here and talking.");
        let _ = c.lines.recv_timeout(Duration::from_secs(20));
        turns += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    let db = dir.path().join("s.db");
    let backlog = || -> i64 {
        rusqlite::Connection::open(&db)
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM bus_outbox WHERE delivered_at_ms IS NULL", [], |r| r.get(0)))
            .unwrap_or(-1)
    };
    let waiting = backlog();
    let before = sub.snapshot().len();
    broker.run().expect("mosquitto restart");
    let t_up = Instant::now();
    let mut drained = None;
    while t_up.elapsed() < Duration::from_secs(120) {
        if backlog() == 0 {
            drained = Some(t_up.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = sub.snapshot();
    let arrived = got.len().saturating_sub(before);
    c.finish();
    let bytes: usize = got[before.min(got.len())..].iter().map(|s| s.payload.to_string().len()).sum::<usize>() / arrived.max(1);
    let (_, raw_total_ms) = raw_mqtt(broker.port, &sub, waiting.max(1) as usize, bytes.max(100), Duration::ZERO);
    println!("  outage of {outage_s} s with {turns} turns taken during it: backlog {waiting} messages (avg {bytes} B)");
    match drained {
        Some(s) => println!("    drain after the broker returned: {:.2} s (broker start to outbox empty, incl. reconnect backoff <= 1 s)", s),
        None => println!("    drain: backlog not empty after 120 s"),
    }
    println!("    raw MQTT, same count and size, published at once (reference): {:.2} s", raw_total_ms / 1000.0);
    let mut keys = std::collections::HashSet::new();
    for s in &got[before.min(got.len())..] {
        let id = s.payload["id"].as_str().unwrap_or("").to_string();
        keys.insert(format!("{id}#{}", s.payload["repeat"].as_u64().unwrap_or(0)));
    }
    println!(
        "    subscriber received {arrived} deliveries after the restart: {} distinct ids, {} copies (a consumer drops them by id; see docs/bus-schema.md)",
        keys.len(),
        arrived.saturating_sub(keys.len())
    );
}
