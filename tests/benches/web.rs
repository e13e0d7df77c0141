//! Web front latency, printed side by side with the same turns through
//! `attune chat` in the same run (reflect backend, so the engine's own time
//! is the same on both sides and the difference is the web path):
//!
//! - message sent (button#send clicked) → first reply sentence shown in
//!   headless chromium, p50/p95, vs. line written to `attune chat --script -`
//!   → its turn's JSON read back;
//! - dashboard update latency: a crisis alert stored (`events.at_ms`) → the
//!   alert element in the staff page's DOM (MutationObserver time);
//! - the same browser figure in a study with `[latency_matching]` enabled
//!   (the shipped defaults: 2000 ms, 60 ms/character, 10000 ms), beside the
//!   server's own record of those turns (engine ready → released).
//!
//! Run: `cargo build -p attune && cargo bench -p attune-tests --bench web`
//! (`ATTUNE_BENCH_TURNS` sets the number of turns, default 20;
//! `ATTUNE_BENCH_MATCHED_TURNS` those with matching, default 8: each takes
//! the matched time of its whole reply).

use attune_tests::webdriver::{Browser, Driver};
use attune_tests::weblab::WebLab;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REFLECT: &str = "[llm]\nmode = \"reflect\"\n";

const LINES: &[&str] = &[
    "I have been feeling stressed about my exams this week.",
    "My sister and I argued again and I feel awful about it.",
    "I can't sleep well lately, my mind keeps racing.",
    "Work has been a lot and I feel like I am falling behind.",
    "I felt a bit better today after a walk.",
];

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

async fn start_day(b: &Browser, link: &str) {
    b.goto(link).await.expect("link");
    let radios = b.find_all("fieldset.item .options label:first-child input[type=radio]").await.expect("radios");
    for r in &radios {
        b.click(r).await.expect("radio");
    }
    b.click(&b.find("#submit-answers").await.expect("submit")).await.expect("submit");
    b.wait_for("chat", Duration::from_secs(60), || async { Ok(b.find_all("textarea#message").await?.first().cloned()) }).await.expect("chat page");
}

async fn send(b: &Browser, text: &str) {
    let n = b.find_all(".reply[data-done=\"true\"]").await.expect("replies").len();
    b.exec("document.getElementById('message').value = arguments[0];", vec![json!(text)]).await.expect("set text");
    b.click(&b.find("button#send").await.expect("send")).await.expect("click");
    b.wait_for("reply", Duration::from_secs(120), || async { Ok((b.find_all(".reply[data-done=\"true\"]").await?.len() > n).then_some(())) }).await.expect("reply");
}

fn main() {
    let turns: usize = std::env::var("ATTUNE_BENCH_TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let mut lab = WebLab::new(REFLECT);
    let mut chatters = Vec::new();
    for i in 0..6 {
        chatters.push(lab.enroll_into("chatbot", &format!("C{i}x")));
    }
    lab.add_user("bench", "staff", "bench password 1");
    lab.serve(&["--llm", "reflect"]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (web_first, dash) = rt.block_on(async {
        let driver = Driver::start().await.expect("chromedriver");
        let b = driver.session(1280, 900).await.expect("browser");
        start_day(&b, &lab.link(&chatters[0], 1)).await;
        for i in 0..turns {
            send(&b, LINES[i % LINES.len()]).await;
        }
        let t = b.exec("return window.attuneTimings.map(function (x) { return x.first_ms; })", vec![]).await.expect("timings");
        let web_first: Vec<f64> = t.as_array().expect("array").iter().filter_map(|v| v.as_f64()).collect();

        // Dashboard: one crisis alert per participant.
        let staff = driver.session(1280, 900).await.expect("staff browser");
        staff.goto(&format!("{}/staff/login", lab.base)).await.expect("login page");
        staff.type_text(&staff.find("input#username").await.expect("u"), "bench").await.expect("u");
        staff.type_text(&staff.find("input#password").await.expect("p"), "bench password 1").await.expect("p");
        staff.click(&staff.find("button#login").await.expect("login")).await.expect("login");
        staff.wait_for("dashboard", Duration::from_secs(60), || async { Ok(staff.find_all("#live").await?.first().cloned()) }).await.expect("dashboard");
        staff
            .exec(
                "window.alertSeen = {}; new MutationObserver(function () { document.querySelectorAll('.alert[data-alert-id]').forEach(function (a) { var id = a.getAttribute('data-alert-id'); if (!(id in window.alertSeen)) window.alertSeen[id] = Date.now(); }); }).observe(document.getElementById('live'), {childList: true, subtree: true});",
                vec![],
            )
            .await
            .expect("observer");
        for p in &chatters[1..] {
            start_day(&b, &lab.link(p, 1)).await;
            send(&b, "I want to kill myself tonight. I have the pills here.").await;
        }
        let n = chatters.len() - 1;
        let seen = staff
            .wait_for("every alert on the dashboard", Duration::from_secs(60), || async {
                let v = staff.exec("return window.alertSeen", vec![]).await?;
                Ok((v.as_object().map(|o| o.len()).unwrap_or(0) >= n).then_some(v))
            })
            .await
            .expect("alerts");
        b.quit().await;
        staff.quit().await;
        (web_first, seen)
    });
    let c = rusqlite::Connection::open_with_flags(lab.study.join("sessions.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("store");
    let mut dash_ms = Vec::new();
    for (id, shown) in dash.as_object().expect("object") {
        let eid: i64 = id.strip_prefix("ev-").and_then(|x| x.parse().ok()).expect("web alert id");
        let at: i64 = c.query_row("SELECT at_ms FROM events WHERE id = ?1", [eid], |r| r.get(0)).expect("alert event");
        dash_ms.push(shown.as_f64().unwrap_or(f64::NAN) - at as f64);
    }

    // The same turns through `attune chat --script -` (one line in, its JSON line out).
    let home = lab.dir.path().join("chat-home");
    let mut child = Command::new(attune_tests::attune_bin())
        .args(["chat", "--script", "-", "--llm", "reflect", "--db"])
        .arg(lab.dir.path().join("chat.db"))
        .env("ATTUNE_HOME", &home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("attune chat");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut cli = Vec::new();
    for i in 0..turns {
        let t0 = Instant::now();
        writeln!(stdin, "{}", LINES[i % LINES.len()]).expect("write");
        stdin.flush().expect("flush");
        let mut line = String::new();
        out.read_line(&mut line).expect("read");
        cli.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    drop(stdin);
    let _ = child.wait();

    drop(lab);

    // With latency matching: a study whose protocol enables it.
    let (m_first, m_set) = (2000u64, (60u64, 10_000u64));
    let matched_turns: usize = std::env::var("ATTUNE_BENCH_MATCHED_TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let mut mlab = WebLab::with_protocol(REFLECT, Some(&WebLab::matched_protocol(m_first, m_set.0, m_set.1)));
    let mp = mlab.enroll_into("chatbot", "M");
    mlab.serve(&["--llm", "reflect"]);
    let matched_web = rt.block_on(async {
        let driver = Driver::start().await.expect("chromedriver");
        let b = driver.session(1280, 900).await.expect("browser");
        start_day(&b, &mlab.link(&mp, 1)).await;
        for i in 0..matched_turns {
            send(&b, LINES[i % LINES.len()]).await;
        }
        let t = b.exec("return window.attuneTimings.map(function (x) { return x.first_ms; })", vec![]).await.expect("timings");
        b.quit().await;
        t.as_array().expect("array").iter().filter_map(|v| v.as_f64()).collect::<Vec<f64>>()
    });
    let mc = rusqlite::Connection::open_with_flags(mlab.study.join("sessions.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("store");
    let (mut ready, mut released) = (Vec::new(), Vec::new());
    let mut st = mc.prepare("SELECT payload FROM events WHERE kind = 'latency_matched'").expect("query");
    for p in st.query_map([], |r| r.get::<_, String>(0)).expect("rows").flatten() {
        let v: serde_json::Value = serde_json::from_str(&p).expect("JSON");
        if let Some(s0) = v["sentences"].get(0) {
            ready.push(s0["ready_ms"].as_f64().unwrap_or(f64::NAN));
            released.push(s0["shown_ms"].as_f64().unwrap_or(f64::NAN));
        }
    }

    let mut w = web_first.clone();
    let mut c2 = cli.clone();
    println!("web front bench ({} turns, reflect backend, debug build unless built otherwise)", turns);
    println!("{:<58} {:>9} {:>9}", "", "p50 ms", "p95 ms");
    println!("{:<58} {:>9.1} {:>9.1}", "browser: send clicked -> first sentence shown", pct(&mut w, 0.5), pct(&mut w, 0.95));
    println!("{:<58} {:>9.1} {:>9.1}", "attune chat --script -: line written -> turn JSON read", pct(&mut c2, 0.5), pct(&mut c2, 0.95));
    let mut d = dash_ms.clone();
    println!("{:<58} {:>9.1} {:>9.1}  (n = {})", "dashboard: alert stored -> alert in the staff page DOM", pct(&mut d, 0.5), pct(&mut d, 0.95), dash_ms.len());
    println!();
    println!("with [latency_matching] first_sentence_min_ms = {m_first}, ms_per_char = {}, max_hold_ms = {} ({} turns)", m_set.0, m_set.1, matched_web.len());
    let mut mw = matched_web.clone();
    let mut w = web_first.clone();
    println!("{:<58} {:>9.1} {:>9.1}", "browser, matching off: send clicked -> first sentence shown", pct(&mut w, 0.5), pct(&mut w, 0.95));
    println!("{:<58} {:>9.1} {:>9.1}", "browser, matching on: send clicked -> first sentence shown", pct(&mut mw, 0.5), pct(&mut mw, 0.95));
    println!("{:<58} {:>9.1} {:>9.1}", "server, on: message taken up -> first sentence ready", pct(&mut ready, 0.5), pct(&mut ready, 0.95));
    println!("{:<58} {:>9.1} {:>9.1}", "server, on: message taken up -> first sentence released", pct(&mut released, 0.5), pct(&mut released, 0.95));
}
