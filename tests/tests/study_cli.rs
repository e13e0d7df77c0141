//! The study runner end to end: the real `attune` binary, real SQLite files,
//! the real dialogue engine (reflect backend), pandas reading the export.

use attune_tests::attune_bin;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A sandbox: its own attune home and allocation-key folder.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let lab = Lab { dir: tempfile::tempdir().unwrap() };
        std::fs::write(lab.path("site.toml"), "[llm]\nmode = \"reflect\"\n").unwrap();
        lab
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn keys(&self) -> PathBuf {
        self.path("keys")
    }
    fn run_with_keys(&self, keys: &Path, args: &[&str]) -> Output {
        Command::new(attune_bin())
            .args(args)
            .env("ATTUNE_HOME", self.path("home"))
            .env("ATTUNE_STUDY_KEYS", keys)
            .env_remove("ATTUNE_LOG")
            .output()
            .unwrap()
    }
    fn run(&self, args: &[&str]) -> Output {
        self.run_with_keys(&self.keys(), args)
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "attune {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    }
    fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(!o.status.success(), "attune {args:?} should have failed; stdout: {}", String::from_utf8_lossy(&o.stdout));
        String::from_utf8_lossy(&o.stderr).into_owned()
    }
    fn init(&self, name: &str, protocol: Option<&str>) -> String {
        let study = self.path(name).display().to_string();
        let site = self.path("site.toml").display().to_string();
        let mut args = vec!["study", "init", "--study", &study, "--config", &site];
        let pfile;
        if let Some(text) = protocol {
            pfile = self.path(&format!("{name}.protocol.toml")).display().to_string();
            std::fs::write(&pfile, text).unwrap();
            args.extend(["--protocol", &pfile]);
        }
        self.ok(&args);
        study
    }
    fn enroll(&self, study: &str, p: &str) -> String {
        let out = self.ok(&["study", "enroll", "--study", study, "--participant", p]);
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["participant"], p);
        assert_eq!(out.trim().lines().count(), 1);
        v["arm"].as_str().unwrap().to_string()
    }
}

const EXAMPLE: &str = include_str!("../../config/study.example.toml");

/// Synthetic distress: participant `i` of `arm` on the PHQ-4 (four items, 0-3).
fn phq4(arm: &str, i: usize, final_: bool) -> Vec<i64> {
    let base = [2, 2, 3, 2].map(|v: i64| (v + (i as i64 % 2)).min(3));
    if !final_ {
        return base.to_vec();
    }
    // Chatbot participants improve more than worksheet ones, with spread.
    let drop = match arm {
        "chatbot" => 1 + (i as i64 % 2),
        _ => i as i64 % 2,
    };
    base.iter().enumerate().map(|(k, v)| if k < 3 { (v - drop).max(0) } else { *v }).collect()
}

fn answers_for(lab: &Lab, arm: &str, i: usize, day: u32) -> String {
    let mut m = serde_json::Map::new();
    m.insert("pre".into(), serde_json::json!({"mood": [5]}));
    m.insert("post".into(), serde_json::json!({"mood": [4]}));
    if day == 1 {
        m.insert("baseline".into(), serde_json::json!({"phq4": phq4(arm, i, false), "k10": vec![2; 10]}));
    }
    if day == 7 || day == 14 {
        m.insert("weekly".into(), serde_json::json!({"phq4": phq4(arm, i, false), "bond": [3, 4, 3, 4]}));
    }
    if day == 15 {
        m.insert("final".into(), serde_json::json!({"phq4": phq4(arm, i, true), "k10": vec![2; 10], "bond": [4, 4, 4, 4]}));
    }
    let p = lab.path(&format!("answers-{arm}-{i}-{day}.json"));
    std::fs::write(&p, Value::Object(m).to_string()).unwrap();
    p.display().to_string()
}

fn script(lab: &Lab, name: &str, lines: &[&str]) -> String {
    let p = lab.path(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p.display().to_string()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir).into_iter().filter(|p| std::fs::read(p).map(|b| b.windows(needle.len()).any(|w| w == needle)).unwrap_or(false)).collect()
}

/// A Python that imports pandas: the one on PATH, else Debian's (python3-pandas,
/// installed by scripts/setup.sh), which a pyenv or venv on PATH can hide.
fn python_with_pandas() -> &'static str {
    for py in ["python3", "/usr/bin/python3"] {
        if Command::new(py).args(["-c", "import pandas"]).output().is_ok_and(|o| o.status.success()) {
            return py;
        }
    }
    panic!("no python3 with pandas: run scripts/setup.sh (it installs python3-pandas)");
}

fn status(lab: &Lab, study: &str) -> Value {
    serde_json::from_str(lab.ok(&["study", "status", "--study", study, "--json"]).trim()).unwrap()
}

#[test]
fn a_fifteen_day_study_with_twelve_participants_runs_day_by_day_and_exports_data_pandas_reads() {
    let lab = Lab::new();
    let study = lab.init("study", None);
    let mut arms: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..12 {
        let p = format!("P{i:02}");
        let arm = lab.enroll(&study, &p);
        arms.insert(p, arm);
    }
    // Block randomisation, blocks of 8 over 4 arms: after 12, no arm has
    // fewer than 2 or more than 4.
    let mut per_arm: BTreeMap<&str, usize> = BTreeMap::new();
    for a in arms.values() {
        *per_arm.entry(a.as_str()).or_default() += 1;
    }
    assert_eq!(per_arm.len(), 4, "{per_arm:?}");
    assert!(per_arm.values().all(|n| (2..=4).contains(n)), "{per_arm:?}");

    // Text arms run every day; spoken arms (real whisper) are covered by the
    // real-models test, so here their participants withdraw after day 0.
    let day_script = script(&lab, "day.txt", &["Hi, I had a long day at work.", "I felt anxious about a meeting and could not sleep.", "I wrote down what worried me.", "Thanks, that helps. Bye."]);
    let mut text_participants: Vec<(usize, String, String)> = Vec::new();
    // Design: the synthetic spread comes from each participant's index
    // within its arm (odd and even differ), so every arm with two or more
    // participants has a non-zero SD and Hedges' g is defined whatever the
    // allocation.
    let mut within_arm: BTreeMap<String, usize> = BTreeMap::new();
    for (p, arm) in arms.iter() {
        if arm == "chatbot" || arm == "worksheet" {
            let k = within_arm.entry(arm.clone()).or_default();
            text_participants.push((*k, p.clone(), arm.clone()));
            *k += 1;
        }
    }
    for day in 1..=15u32 {
        for (i, p, arm) in &text_participants {
            let ans = answers_for(&lab, arm, *i, day);
            let d = day.to_string();
            let mut args = vec!["session", "start", "--study", &study, "--participant", p, "--day", &d, "--answers", &ans];
            if arm == "chatbot" {
                args.extend(["--script", &day_script, "--llm", "reflect"]);
            }
            let out = lab.ok(&args);
            if arm == "chatbot" {
                let turns: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
                assert_eq!(turns.len(), 4);
                assert!(turns.iter().all(|t| t["backend"] == "reflect"));
            } else {
                assert!(out.is_empty(), "the worksheet arm prints no turns: {out}");
                let page = Path::new(&study).join("worksheets").join(p).join(format!("day-{day:02}.html"));
                assert!(std::fs::read_to_string(&page).unwrap().contains(&format!("day {day} of 15")));
            }
        }
    }
    let st = status(&lab, &study);
    for (_, p, _) in &text_participants {
        let row = st["participants"].as_array().unwrap().iter().find(|r| r["participant"] == p.as_str()).unwrap();
        assert_eq!(row["days_done"], 15, "{row}");
        assert!(row["next_day"].is_null());
    }
    // Day 16 does not exist.
    let (_, p0, _) = &text_participants[0];
    assert!(lab.fails(&["session", "start", "--study", &study, "--participant", p0, "--day", "16"]).contains("days 1 to 15"));

    let out = lab.path("export");
    let outs = out.display().to_string();
    lab.ok(&["study", "export", "--study", &study, "--out", &outs]);
    for f in ["participants", "sessions", "turns", "questionnaires", "questionnaire_scores", "behaviour_events", "latencies", "summary", "data_dictionary"] {
        assert!(out.join(format!("{f}.csv")).is_file(), "{f}.csv");
    }
    for f in ["distress_change.svg", "distress_change.png", "adherence.svg", "adherence.png"] {
        let bytes = std::fs::read(out.join(f)).unwrap();
        assert!(bytes.len() > 1000, "{f} is too small to be a plot");
    }
    let svg = std::fs::read_to_string(out.join("distress_change.svg")).unwrap();
    assert!(svg.contains("chatbot") && svg.contains("worksheet"), "arm labels are drawn");
    assert_eq!(&std::fs::read(out.join("adherence.png")).unwrap()[1..4], b"PNG");

    // The summary, checked against the synthetic answers.
    let summary: Vec<Value> = std::fs::read_to_string(out.join("summary.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for arm in ["chatbot", "worksheet"] {
        let changes: Vec<f64> = text_participants
            .iter()
            .filter(|t| t.2 == arm)
            .map(|(i, _, _)| (phq4(arm, *i, true).iter().sum::<i64>() - phq4(arm, *i, false).iter().sum::<i64>()) as f64)
            .collect();
        let mean = changes.iter().sum::<f64>() / changes.len() as f64;
        let row = summary.iter().find(|r| r["arm"] == arm).unwrap();
        assert_eq!(row["n_change"], changes.len());
        assert!((row["distress_change_mean"].as_f64().unwrap() - mean).abs() < 0.006, "{row}");
        assert_eq!(row["adherence_mean"], 1.0, "{row}");
        assert_eq!(row["bond_final_mean"], 16.0, "bond is its own column: {row}");
    }
    let chat = summary.iter().find(|r| r["arm"] == "chatbot").unwrap();
    assert_eq!(chat["turns"], per_arm["chatbot"] * 15 * 4);
    assert!(chat["validator_flagged_turns"].is_number() && chat["staff_alerts"].is_number(), "safety columns are separate: {chat}");
    if per_arm["chatbot"] >= 2 && per_arm["worksheet"] >= 2 {
        assert!(chat["hedges_g"].as_f64().unwrap() < 0.0, "chatbot participants improved more: {chat}");
    }

    // pandas reads every CSV as-is; rows equal the JSONL lines; the data
    // dictionary lists every column.
    let py = r#"
import sys, json, pandas as pd
out = sys.argv[1]
dd = pd.read_csv(f"{out}/data_dictionary.csv")
for name in ["participants", "sessions", "turns", "questionnaires", "questionnaire_scores", "behaviour_events", "latencies", "summary"]:
    df = pd.read_csv(f"{out}/{name}.csv")
    n = sum(1 for _ in open(f"{out}/{name}.jsonl"))
    assert len(df) == n, (name, len(df), n)
    cols = list(dd[dd.file == f"{name}.csv"].column)
    assert list(df.columns) == cols, (name, list(df.columns), cols)
t = pd.read_csv(f"{out}/turns.csv")
print(json.dumps({"turns": len(t), "days": int(t.day.max()), "users": sorted(t.user_text.unique().tolist())}))
"#;
    let o = Command::new(python_with_pandas()).arg("-c").arg(py).arg(&out).output().unwrap();
    assert!(o.status.success(), "pandas: {}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["turns"], per_arm["chatbot"] * 15 * 4);
    assert_eq!(v["days"], 15);
    assert!(v["users"].as_array().unwrap().contains(&Value::from("I felt anxious about a meeting and could not sleep.")));
}

#[test]
fn allocation_is_balanced_and_concealed_until_enrolment() {
    let lab = Lab::new();
    let study = lab.init("study", None);
    let key_files = files_under(&lab.keys());
    assert_eq!(key_files.len(), 1, "one key, outside the study folder");
    let secret = std::fs::read_to_string(&key_files[0]).unwrap().trim().to_string();
    // Nothing in the folder holds the seed, and the databases hold no arm yet.
    assert!(files_containing(Path::new(&study), secret.as_bytes()).is_empty());
    for db in ["study.db", "sessions.db"] {
        let p = Path::new(&study).join(db);
        if let Ok(bytes) = std::fs::read(&p) {
            // ("robot" is left out: it is also part of the robot id, robot-1.)
            for arm in ["voice", "chatbot", "worksheet"] {
                assert!(!bytes.windows(arm.len()).any(|w| w == arm.as_bytes()), "{db} names {arm} before enrolment");
            }
        }
    }
    // The folder alone (without the key) cannot enrol, so cannot reveal an arm.
    let copy = lab.path("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for f in files_under(Path::new(&study)) {
        std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
    }
    let o = lab.run_with_keys(&lab.path("no-keys"), &["study", "enroll", "--study", copy.to_str().unwrap(), "--participant", "X1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("allocation key"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty());

    // Two full blocks of 8: exactly 4 per arm.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..16 {
        *counts.entry(lab.enroll(&study, &format!("A{i}"))).or_default() += 1;
    }
    assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![4, 4, 4, 4], "{counts:?}");
    // A second study gets its own seed: a different sequence (2^-30-ish chance of equal).
    let other = lab.init("other", None);
    let mut seq_a = Vec::new();
    let mut seq_b = Vec::new();
    for i in 0..16 {
        seq_b.push(lab.enroll(&other, &format!("B{i}")));
    }
    let st = status(&lab, &study);
    for r in st["participants"].as_array().unwrap() {
        seq_a.push(r["arm"].as_str().unwrap().to_string());
    }
    assert_ne!(seq_a, seq_b);
    // Duplicate ids are refused and change nothing.
    assert!(lab.fails(&["study", "enroll", "--study", &study, "--participant", "A3"]).contains("already enrolled"));
    assert_eq!(status(&lab, &study)["participants"].as_array().unwrap().len(), 16);
}

#[test]
fn enrolling_past_the_allocation_table_is_refused() {
    let lab = Lab::new();
    let proto = EXAMPLE.replace("table_size = 48", "table_size = 8");
    let study = lab.init("study", Some(&proto));
    for i in 0..8 {
        lab.enroll(&study, &format!("P{i}"));
    }
    let e = lab.fails(&["study", "enroll", "--study", &study, "--participant", "P8"]);
    assert!(e.contains("allocation table") && e.contains("full"), "{e}");
}

/// Enrols until a participant lands in `arm`; returns its id.
fn enroll_into(lab: &Lab, study: &str, arm: &str, prefix: &str) -> String {
    for i in 0..8 {
        let p = format!("{prefix}{i}");
        if lab.enroll(study, &p) == arm {
            return p;
        }
    }
    panic!("no {arm} slot in a block of 8");
}

#[test]
fn withdrawal_with_purge_leaves_no_byte_of_the_participants_words_in_the_folder_or_exports() {
    let lab = Lab::new();
    let study = lab.init("study", None);
    let p = enroll_into(&lab, &study, "chatbot", "W");
    let keep = enroll_into(&lab, &study, "chatbot", "K");
    let marker = "zq-marker-7f3a9c-blueberry";
    let s = script(&lab, "secret.txt", &[&format!("My secret is {marker} and it worries me."), &format!("I keep thinking about {marker}."), "I feel lonely tonight.", "bye"]);
    let other = script(&lab, "other.txt", &["I had an okay day.", "Work was busy.", "I am tired.", "bye"]);
    for day in ["1", "2"] {
        let a = answers_for(&lab, "chatbot", 0, day.parse().unwrap());
        lab.ok(&["session", "start", "--study", &study, "--participant", &p, "--day", day, "--script", &s, "--answers", &a]);
        lab.ok(&["session", "start", "--study", &study, "--participant", &keep, "--day", day, "--script", &other, "--answers", &a]);
    }
    let out = lab.path("export");
    lab.ok(&["study", "export", "--study", &study, "--out", out.to_str().unwrap()]);
    // The test can fail: the marker is there before the purge.
    assert!(!files_containing(Path::new(&study), marker.as_bytes()).is_empty());
    assert!(!files_containing(&out, marker.as_bytes()).is_empty());

    let report: Value = serde_json::from_str(lab.ok(&["study", "withdraw", "--study", &study, "--participant", &p, "--purge"]).trim()).unwrap();
    assert_eq!(report["purged"], true);
    assert_eq!(report["counts"]["store_turns"], 8);
    let left: Vec<PathBuf> = files_containing(Path::new(&study), marker.as_bytes()).into_iter().chain(files_containing(&out, marker.as_bytes())).collect();
    assert!(left.is_empty(), "the marker survives in {left:?}");
    // Their answers are gone; the other participant's data is intact.
    let answers = std::fs::read_to_string(out.join("questionnaires.csv")).unwrap();
    assert!(!answers.contains(&format!(",{p},")));
    assert!(answers.contains(&format!(",{keep},")));
    let turns = std::fs::read_to_string(out.join("turns.csv")).unwrap();
    assert!(turns.contains("Work was busy."));
    let st = status(&lab, &study);
    let row = st["participants"].as_array().unwrap().iter().find(|r| r["participant"] == p.as_str()).unwrap().clone();
    assert_eq!(row["status"], "withdrawn");
    assert_eq!(st["purges"], 1);
    // No further sessions for a withdrawn participant.
    assert!(lab.fails(&["session", "start", "--study", &study, "--participant", &p, "--day", "3", "--script", &s]).contains("withdrawn"));
}

#[test]
fn arms_sharing_an_engine_with_different_fingerprints_are_refused_naming_the_part() {
    let lab = Lab::new();
    // At init: the chatbot arm claims the shared engine but runs another policy.
    let bad = EXAMPLE.replace("name = \"chatbot\"\nmedium = \"chatbot\"\nengine = \"main\"\npolicy = \"attuned\"", "name = \"chatbot\"\nmedium = \"chatbot\"\nengine = \"main\"\npolicy = \"assistant\"");
    assert_ne!(bad, EXAMPLE);
    let pf = lab.path("bad.toml");
    std::fs::write(&pf, &bad).unwrap();
    let dir = lab.path("bad-study");
    let site = lab.path("site.toml");
    let e = lab.fails(&["study", "init", "--study", dir.to_str().unwrap(), "--protocol", pf.to_str().unwrap(), "--config", site.to_str().unwrap()]);
    assert!(e.contains("arm parity") && e.contains("policy") && e.contains("chatbot"), "{e}");
    assert!(!dir.join("study.db").exists(), "nothing is written for a refused protocol");

    // Before a session: the study's site config was edited after sessions ran.
    let study = lab.init("study", None);
    let p = enroll_into(&lab, &study, "chatbot", "F");
    let s = script(&lab, "s.txt", &["hello", "I feel low", "ok", "bye"]);
    let a1 = answers_for(&lab, "chatbot", 0, 1);
    lab.ok(&["session", "start", "--study", &study, "--participant", &p, "--day", "1", "--script", &s, "--answers", &a1]);
    let site_path = Path::new(&study).join("site.toml");
    let text = std::fs::read_to_string(&site_path).unwrap();
    let edited = text.replacen("max_words = ", "max_words = 1", 1);
    assert_ne!(edited, text);
    std::fs::write(&site_path, edited).unwrap();
    let a2 = answers_for(&lab, "chatbot", 0, 2);
    let e = lab.fails(&["session", "start", "--study", &study, "--participant", &p, "--day", "2", "--script", &s, "--answers", &a2]);
    assert!(e.contains("validator.max_words"), "{e}");
    assert_eq!(status(&lab, &study)["participants"].as_array().unwrap().iter().find(|r| r["participant"] == p.as_str()).unwrap()["days_done"], 1);
}

#[test]
fn out_of_order_days_repeated_days_bad_answers_and_newer_folders_are_refused_without_partial_writes() {
    let lab = Lab::new();
    let study = lab.init("study", None);
    let p = enroll_into(&lab, &study, "chatbot", "D");
    let s = script(&lab, "s.txt", &["hello", "I feel low", "ok", "bye"]);
    let a1 = answers_for(&lab, "chatbot", 0, 1);
    let a2 = answers_for(&lab, "chatbot", 0, 2);
    let e = lab.fails(&["session", "start", "--study", &study, "--participant", &p, "--day", "2", "--script", &s, "--answers", &a2]);
    assert!(e.contains("due for day 1"), "{e}");
    // An answer outside the scale: refused before the conversation, so the
    // session store holds nothing.
    let bad = lab.path("bad.json");
    std::fs::write(&bad, r#"{"baseline": {"phq4": [0, 1, 9, 0], "k10": [1,1,1,1,1,1,1,1,1,1]}, "pre": {"mood": [3]}, "post": {"mood": [3]}}"#).unwrap();
    let e = lab.fails(&["session", "start", "--study", &study, "--participant", &p, "--day", "1", "--script", &s, "--answers", bad.to_str().unwrap()]);
    assert!(e.contains("baseline.phq4 item 3") && e.contains("9"), "{e}");
    let store = Path::new(&study).join("sessions.db");
    if store.exists() {
        let c = rusqlite::Connection::open(&store).unwrap();
        let n: i64 = c.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }
    lab.ok(&["session", "start", "--study", &study, "--participant", &p, "--day", "1", "--script", &s, "--answers", &a1]);
    let e = lab.fails(&["session", "start", "--study", &study, "--participant", &p, "--day", "1", "--script", &s, "--answers", &a1]);
    assert!(e.contains("already completed day 1"), "{e}");
    // Wrong inputs for the arm.
    let e = lab.fails(&["session", "start", "--study", &study, "--participant", &p, "--day", "2", "--audio-in", "x.wav"]);
    assert!(e.contains("text chatbot"), "{e}");
    // Unknown participant.
    assert!(lab.fails(&["session", "start", "--study", &study, "--participant", "nobody", "--day", "1"]).contains("not enrolled"));
    // A protocol with an unknown key or an impossible schedule.
    let e = lab.fails(&["study", "init", "--study", lab.path("x").to_str().unwrap(), "--protocol", {
        let f = lab.path("unk.toml");
        std::fs::write(&f, EXAMPLE.replace("[session]\n", "[session]\nmax_hours = 3\n")).unwrap();
        f
    }.to_str().unwrap()]);
    assert!(e.contains("max_hours"), "{e}");
    let e = lab.fails(&["study", "init", "--study", lab.path("y").to_str().unwrap(), "--protocol", {
        let f = lab.path("sched.toml");
        std::fs::write(&f, EXAMPLE.replace("days = 15", "days = 14")).unwrap();
        f
    }.to_str().unwrap()]);
    assert!(e.contains("plan.days") && e.contains("14"), "{e}");
    // A study folder from a newer attune.
    {
        let c = rusqlite::Connection::open(Path::new(&study).join("study.db")).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let e = lab.fails(&["study", "status", "--study", &study]);
    assert!(e.contains("newer attune") && e.contains("99"), "{e}");
}

#[test]
fn export_merges_robots_of_one_study_and_refuses_a_different_protocol() {
    let lab = Lab::new();
    let a = lab.init("robot1", None);
    let b = lab.init("robot2", Some(&EXAMPLE.replace("robot = \"robot-1\"", "robot = \"robot-2\"")));
    let c = lab.init("other", Some(&EXAMPLE.replace("max_minutes = 20", "max_minutes = 30")));
    let s = script(&lab, "s.txt", &["hello", "I feel low", "ok", "bye"]);
    for (study, pre) in [(&a, "A"), (&b, "B")] {
        let p = enroll_into(&lab, study, "chatbot", pre);
        let ans = answers_for(&lab, "chatbot", 0, 1);
        lab.ok(&["session", "start", "--study", study, "--participant", &p, "--day", "1", "--script", &s, "--answers", &ans]);
    }
    let out = lab.path("merged");
    lab.ok(&["study", "export", "--study", &a, &b, "--out", out.to_str().unwrap()]);
    let turns = std::fs::read_to_string(out.join("turns.csv")).unwrap();
    assert!(turns.contains(",robot-1,") && turns.contains(",robot-2,"));
    let e = lab.fails(&["study", "export", "--study", &a, &c, "--out", lab.path("bad").to_str().unwrap()]);
    assert!(e.contains("different protocols"), "{e}");
    let e = lab.fails(&["study", "export", "--study", &a, &a, "--out", lab.path("bad2").to_str().unwrap()]);
    assert!(e.contains("exported once"), "{e}");
}

#[test]
fn doctor_passes_a_ready_study_and_fails_when_the_model_is_missing() {
    let lab = Lab::new();
    let study = lab.init("study", None);
    let o = lab.run(&["doctor", "--study", &study]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    for name in ["clock", "folder writable", "disk space", "LLM", "whisper model", "head link", "audio devices"] {
        assert!(text.lines().any(|l| l.contains(name)), "no {name} line in\n{text}");
    }
    assert!(text.lines().all(|l| l.starts_with("PASS") || l.starts_with("FAIL") || l.starts_with("WARN")), "{text}");
    // The site uses the local LLM with a model file that is not there.
    std::fs::write(lab.path("site.toml"), "[llm]\nmode = \"local\"\n[llm.local]\nmodel_path = \"/nonexistent/model.gguf\"\n").unwrap();
    let broken = lab.init("broken", None);
    let o = lab.run(&["doctor", "--study", &broken]);
    assert!(!o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.lines().any(|l| l.starts_with("FAIL") && l.contains("/nonexistent/model.gguf")), "{text}");
}

#[test]
fn a_stratified_protocol_balances_each_stratum_and_needs_the_stratum_at_enrolment() {
    let lab = Lab::new();
    let study = lab.init("study", Some(&EXAMPLE.replace("strata = []", "strata = [\"under-40\", \"40-plus\"]")));
    let e = lab.fails(&["study", "enroll", "--study", &study, "--participant", "N0"]);
    assert!(e.contains("--stratum") && e.contains("under-40"), "{e}");
    let e = lab.fails(&["study", "enroll", "--study", &study, "--participant", "N0", "--stratum", "teen"]);
    assert!(e.contains("teen"), "{e}");
    for stratum in ["under-40", "40-plus"] {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..8 {
            let out = lab.ok(&["study", "enroll", "--study", &study, "--participant", &format!("{stratum}-{i}"), "--stratum", stratum]);
            let v: Value = serde_json::from_str(out.trim()).unwrap();
            *counts.entry(v["arm"].as_str().unwrap().to_string()).or_default() += 1;
        }
        assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![2, 2, 2, 2], "{stratum}: {counts:?}");
    }
}
