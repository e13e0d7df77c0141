//! The study's `[latency_matching]` end to end: the real `attune` binary over
//! a real study folder (SQLite, the dialogue engine on the reflect backend);
//! the web front driven in headless Debian chromium over WebDriver, and the
//! same chatbot arm through `attune session start --script` (the terminal
//! front on the same session runner).
//!
//! Timing is asserted only where it holds by causality on any machine: a
//! sentence the server held until `first_sentence_min_ms` after it took the
//! message up cannot appear in the browser sooner than that after the send
//! click. What the server did is asserted from the timestamps it stores.

use attune_tests::webdriver::{self, Browser, Driver};
use attune_tests::weblab::WebLab;
use serde_json::{json, Value};
use std::time::Duration;

const REFLECT: &str = "[llm]\nmode = \"reflect\"\n";
const WAIT: Duration = Duration::from_secs(90);
/// The matched minimum of the browser test: far above the reflect engine's
/// reply time (milliseconds), so a turn that is not held shows far sooner.
const MIN_MS: u64 = 6000;
const PER_CHAR_MS: u64 = 15;
const MAX_HOLD_MS: u64 = 10_000;

fn store(lab: &WebLab) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(lab.study.join("sessions.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("sessions.db")
}

/// The `latency_matched` record of each turn, in turn order.
fn matched_turns(lab: &WebLab) -> Vec<Value> {
    let c = store(lab);
    let mut st = c.prepare("SELECT payload FROM events WHERE kind = 'latency_matched' ORDER BY turn_idx").expect("query");
    st.query_map([], |r| r.get::<_, String>(0)).expect("rows").map(|p| serde_json::from_str(&p.expect("row")).expect("JSON")).collect()
}

/// The session-level `latency_matching` records (one per session).
fn session_settings(lab: &WebLab) -> Vec<Value> {
    let c = store(lab);
    let mut st = c.prepare("SELECT payload FROM events WHERE kind = 'latency_matching' ORDER BY id").expect("query");
    st.query_map([], |r| r.get::<_, String>(0)).expect("rows").map(|p| serde_json::from_str(&p.expect("row")).expect("JSON")).collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Answers every questionnaire item with its first option and continues.
async fn answer_all(b: &Browser) {
    let radios = b.find_all("fieldset.item .options label:first-child input[type=radio]").await.expect("radios");
    assert!(!radios.is_empty(), "no questionnaire items on the page");
    for r in &radios {
        b.click(r).await.expect("click radio");
    }
    b.click(&b.find("#submit-answers").await.expect("submit")).await.expect("submit");
}

/// Sends a message and waits until reply number `n` (0-based) is complete.
async fn say(b: &Browser, n: usize, text: &str) -> String {
    let box_ = b.find("textarea#message").await.expect("textarea#message");
    b.type_text(&box_, text).await.expect("typing");
    b.click(&b.find("button#send").await.expect("button#send")).await.expect("send");
    let replies = b
        .wait_for("the reply to be complete", WAIT, || async {
            let r = b.find_all(".reply[data-done=\"true\"]").await?;
            Ok((r.len() > n).then_some(r))
        })
        .await
        .expect("reply");
    b.text(&replies[n]).await.expect("reply text")
}

/// Records, on every change of the page, the last reply's state and the
/// typing indicator's, into `window.rec` (read back after the turn).
const RECORDER: &str = r#"
window.rec = [];
var snap = function () {
  var rs = document.querySelectorAll('.reply'), last = rs[rs.length - 1], ty = document.getElementById('typing');
  window.rec.push({
    replies: rs.length,
    sentences: last ? last.querySelectorAll('.sentence').length : 0,
    done: last ? last.dataset.done : null,
    typing: ty.dataset.active,
    text: ty.textContent,
    visible: ty.offsetHeight > 0 && getComputedStyle(ty).visibility !== 'hidden',
    role: ty.getAttribute('role'),
    live: ty.getAttribute('aria-live')
  });
};
snap();
new MutationObserver(snap).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
"#;

#[test]
fn with_latency_matching_the_web_chat_holds_the_first_sentence_shows_the_typing_indicator_and_never_holds_a_crisis_reply() {
    if !webdriver::available() {
        panic!("chromium and chromium-driver are not installed; run scripts/setup.sh");
    }
    let mut lab = WebLab::with_protocol(REFLECT, Some(&WebLab::matched_protocol(MIN_MS, PER_CHAR_MS, MAX_HOLD_MS)));
    let p = lab.enroll_into("chatbot", "L");
    lab.serve(&["--llm", "reflect"]);
    let link = lab.link(&p, 1);
    rt().block_on(async {
        let driver = Driver::start().await.expect("chromedriver");
        let b = driver.session(390, 844).await.expect("browser");
        b.goto(&link).await.expect("link");
        answer_all(&b).await;
        b.wait_for("the chat page", WAIT, || async { Ok(b.find_all("textarea#message").await?.first().cloned()) }).await.expect("chat page");
        let ty = b.find("#typing").await.expect("#typing");
        assert_eq!(b.attr(&ty, "data-active").await.unwrap().as_deref(), Some("false"), "no reply is being written yet");
        b.exec(RECORDER, vec![]).await.expect("recorder");

        // An ordinary turn: held to the matched minimum.
        let r1 = say(&b, 0, "I have been feeling stressed about my exams this week.").await;
        assert!(!r1.trim().is_empty());
        let timings = b.exec("return window.attuneTimings", vec![]).await.expect("timings");
        let first_ms = timings[0]["first_ms"].as_f64().expect("first_ms");
        assert!(first_ms >= MIN_MS as f64, "the first sentence was shown {first_ms} ms after the send click, before the matched {MIN_MS} ms");

        // The indicator: shown (as an aria-live polite status) while nothing
        // of the reply was there, shown while the reply was not done, hidden
        // once it was.
        let rec = b.exec("return window.rec", vec![]).await.expect("rec");
        let rec = rec.as_array().expect("records");
        assert!(
            rec.iter().any(|r| r["replies"] == 1 && r["sentences"] == 0 && r["typing"] == "true" && r["visible"] == true && r["text"].as_str().unwrap_or("").contains("writing")),
            "the indicator was never shown while waiting for the first sentence: {rec:?}"
        );
        for r in rec.iter().filter(|r| r["replies"] == 1 && r["done"] == "false") {
            assert_eq!(r["typing"], "true", "the indicator went away before the reply was done: {r}");
        }
        let last = rec.last().expect("a record");
        assert_eq!((last["done"].as_str(), last["typing"].as_str(), last["text"].as_str()), (Some("true"), Some("false"), Some("")), "{last}");
        assert_eq!((last["role"].as_str(), last["live"].as_str()), (Some("status"), Some("polite")));

        // A crisis turn: the protocol reply and its resource at once.
        let crisis = say(&b, 1, "I want to kill myself tonight. I have the pills here.").await;
        assert!(crisis.contains("988"), "the crisis reply names the resource: {crisis}");
        let resource = b.find("#resource").await.expect("#resource");
        assert_eq!(b.attr(&resource, "hidden").await.unwrap(), None, "the resource panel is shown");
        let timings = b.exec("return window.attuneTimings", vec![]).await.expect("timings");
        let crisis_ms = timings[1]["first_ms"].as_f64().expect("first_ms");
        assert!(crisis_ms < MIN_MS as f64, "the crisis reply took {crisis_ms} ms: it was held to the matched time");
        assert_eq!(b.attr(&b.find("#typing").await.unwrap(), "data-active").await.unwrap().as_deref(), Some("false"));
        b.quit().await;
    });

    // What the server did, from the store: the settings with the session,
    // the first turn held, the crisis turn exempt.
    let settings = session_settings(&lab);
    assert_eq!(settings, vec![json!({"enabled": true, "first_sentence_min_ms": MIN_MS, "ms_per_char": PER_CHAR_MS, "max_hold_ms": MAX_HOLD_MS})]);
    let turns = matched_turns(&lab);
    assert_eq!(turns.len(), 2, "{turns:?}");
    let (t1, t2) = (&turns[0], &turns[1]);
    assert_eq!(t1["exempt"], false, "{t1}");
    let s1 = t1["sentences"].as_array().expect("sentences");
    assert!(s1[0]["shown_ms"].as_u64().unwrap() >= MIN_MS && s1[0]["shown_ms"].as_u64() >= s1[0]["ready_ms"].as_u64(), "{t1}");
    for w in s1.windows(2) {
        assert!(w[1]["shown_ms"].as_u64() > w[0]["shown_ms"].as_u64(), "later sentences are paced after the one before: {t1}");
    }
    assert_eq!((t2["exempt"].as_bool(), t2["held_ms"].as_u64()), (Some(true), Some(0)), "the crisis turn was not held: {t2}");
    for s in t2["sentences"].as_array().expect("sentences") {
        assert_eq!(s["shown_ms"], s["ready_ms"], "{t2}");
    }
}

#[test]
fn the_chatbot_arm_in_the_terminal_is_held_to_the_same_matched_time_and_the_export_says_which_timing_it_got() {
    let lab = WebLab::with_protocol(REFLECT, Some(&WebLab::matched_protocol(1500, 10, 5000)));
    let p = lab.enroll_into("chatbot", "T");
    let status = lab.ok(&["study", "status", "--study", lab.study_str()]);
    assert!(status.contains("latency matching: on") && status.contains("1500 ms"), "{status}");
    let st: Value = serde_json::from_str(lab.ok(&["study", "status", "--study", lab.study_str(), "--json"]).trim()).expect("status JSON");
    assert_eq!(st["latency_matching"]["first_sentence_min_ms"], 1500);

    let script = lab.dir.path().join("script.txt");
    std::fs::write(&script, "I have been feeling stressed about my exams this week.\nI want to kill myself tonight, I have the pills here.\nI don't know.\n").expect("script");
    let answers = lab.dir.path().join("answers.json");
    let a = json!({"baseline": {"phq4": [2, 2, 2, 2], "k10": vec![2; 10]}, "pre": {"mood": [5]}, "post": {"mood": [4]}});
    std::fs::write(&answers, a.to_string()).expect("answers");
    lab.ok(&["session", "start", "--study", lab.study_str(), "--participant", &p, "--day", "1", "--script", script.to_str().unwrap(), "--answers", answers.to_str().unwrap()]);

    assert_eq!(session_settings(&lab).len(), 1);
    assert_eq!(session_settings(&lab)[0]["enabled"], true);
    let turns = matched_turns(&lab);
    assert_eq!(turns.len(), 3, "{turns:?}");
    assert!(turns[0]["first_sentence_ms"].as_u64().unwrap() >= 1500 && turns[0]["exempt"] == false, "{}", turns[0]);
    assert_eq!((turns[1]["exempt"].as_bool(), turns[1]["held_ms"].as_u64()), (Some(true), Some(0)), "{}", turns[1]);
    // The turn after, while the session is in crisis state (the check-in), is not held either.
    assert_eq!((turns[2]["exempt"].as_bool(), turns[2]["held_ms"].as_u64()), (Some(true), Some(0)), "{}", turns[2]);

    // The export carries the session's timing with the day's events.
    let out = lab.dir.path().join("export");
    lab.ok(&["study", "export", "--study", lab.study_str(), "--out", out.to_str().unwrap()]);
    let events = std::fs::read_to_string(out.join("behaviour_events.csv")).expect("behaviour_events.csv");
    let row = events.lines().find(|l| l.contains(",latency_matching,")).unwrap_or_else(|| panic!("no latency_matching row in\n{events}"));
    assert!(row.contains(&p) && row.contains("first_sentence_min_ms") && row.contains("1500"), "{row}");
    assert_eq!(events.lines().filter(|l| l.contains(",latency_matched,")).count(), 3, "{events}");
    let sessions = std::fs::read_to_string(out.join("sessions.csv")).expect("sessions.csv");
    let header: Vec<&str> = sessions.lines().next().unwrap_or("").split(',').collect();
    let col = header.iter().position(|h| *h == "latency_matching").expect("a latency_matching column");
    let row: Vec<&str> = sessions.lines().nth(1).expect("the day's row").split(',').collect();
    assert_eq!(row[col], "first_sentence_min_ms=1500;ms_per_char=10;max_hold_ms=5000", "{sessions}");
    // Each turn's matched timing, beside the spoken arms' turn latency.
    let lat = std::fs::read_to_string(out.join("latencies.csv")).expect("latencies.csv");
    let header: Vec<&str> = lat.lines().next().unwrap_or("").split(',').collect();
    let (fc, ec) = (header.iter().position(|h| *h == "matched_first_sentence_ms").expect("column"), header.iter().position(|h| *h == "matching_exempt").expect("column"));
    let rows: Vec<Vec<&str>> = lat.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{lat}");
    assert!(rows[0][fc].parse::<u64>().expect("first_sentence_ms") >= 1500 && rows[0][ec] == "FALSE", "{lat}");
    assert_eq!((rows[1][ec], rows[2][ec]), ("TRUE", "TRUE"), "{lat}");
}

#[test]
fn with_latency_matching_off_a_study_session_records_that_it_was_off_and_holds_nothing() {
    let lab = WebLab::new(REFLECT);
    let p = lab.enroll_into("chatbot", "O");
    assert!(lab.ok(&["study", "status", "--study", lab.study_str()]).contains("latency matching: off"));
    let script = lab.dir.path().join("script.txt");
    std::fs::write(&script, "Hello, I had a long day.\n").expect("script");
    let answers = lab.dir.path().join("answers.json");
    let a = json!({"baseline": {"phq4": [2, 2, 2, 2], "k10": vec![2; 10]}, "pre": {"mood": [5]}, "post": {"mood": [4]}});
    std::fs::write(&answers, a.to_string()).expect("answers");
    lab.ok(&["session", "start", "--study", lab.study_str(), "--participant", &p, "--day", "1", "--script", script.to_str().unwrap(), "--answers", answers.to_str().unwrap()]);
    let s = session_settings(&lab);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["enabled"], false);
    assert!(matched_turns(&lab).is_empty(), "no turn is held or recorded as matched when matching is off");
    let out = lab.dir.path().join("export");
    lab.ok(&["study", "export", "--study", lab.study_str(), "--out", out.to_str().unwrap()]);
    let sessions = std::fs::read_to_string(out.join("sessions.csv")).expect("sessions.csv");
    assert!(sessions.lines().next().unwrap_or("").ends_with(",latency_matching") && sessions.lines().nth(1).unwrap_or("").ends_with(",off"), "{sessions}");
}

#[test]
fn study_status_reports_the_spoken_arms_measured_turn_latency_beside_the_matched_minimum() {
    let lab = WebLab::new(REFLECT);
    assert!(lab.ok(&["study", "status", "--study", lab.study_str()]).contains("no robot or voice turns recorded yet"));
    // Transcripts as the voice arm writes them (one JSON object per turn).
    let voice = lab.enroll_into("voice", "V");
    let chat = lab.enroll_into("chatbot", "C");
    let write = |p: &str, lat: &[i64]| {
        let d = lab.study.join("transcripts").join(p);
        std::fs::create_dir_all(&d).expect("transcripts folder");
        let lines: Vec<String> = lat.iter().enumerate().map(|(i, l)| json!({"turn": i + 1, "turn_latency_ms": l}).to_string()).collect();
        std::fs::write(d.join("day-01.jsonl"), lines.join("\n") + "\n").expect("transcript");
    };
    write(&voice, &[1200, 1800, 1500, 4000]);
    // Only the spoken arms count.
    write(&chat, &[99_999]);
    let st: Value = serde_json::from_str(lab.ok(&["study", "status", "--study", lab.study_str(), "--json"]).trim()).expect("status JSON");
    assert_eq!(st["spoken_turn_latency_ms"], json!({"p50": 1500, "p95": 4000, "n": 4}));
    let text = lab.ok(&["study", "status", "--study", lab.study_str()]);
    assert!(text.contains("p50 1500 ms, p95 4000 ms over 4 turns") && text.contains("first_sentence_min_ms is 2000 ms"), "{text}");
}
