//! The study runner's spoken arms with real models (whisper tiny.en,
//! espeak-ng): a voice and a robot participant each run two short days from
//! WAV files with `--fast`; the transcripts land in the study folder and the
//! export carries their turn latencies. In the `real-models` nextest group.

use attune_tests::attune_bin;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn attune(keys: &Path, args: &[&str]) -> std::process::Output {
    Command::new(attune_bin()).args(args).env("ATTUNE_STUDY_KEYS", keys).output().unwrap()
}

fn ok(keys: &Path, args: &[&str]) -> String {
    let o = attune(keys, args);
    assert!(o.status.success(), "attune {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// One spoken utterance with silence around it, as 16 kHz mono WAV.
fn clip(dir: &Path, name: &str, text: &str) -> String {
    let speech = dir.join(format!("{name}.speech.wav"));
    let o = Command::new(attune_bin()).args(["say", text, "--out"]).arg(&speech).output().unwrap();
    assert!(o.status.success(), "attune say: {}", String::from_utf8_lossy(&o.stderr));
    let mut r = hound::WavReader::open(&speech).unwrap();
    let spec = r.spec();
    let mut samples: Vec<i16> = vec![0; 8000];
    samples.extend(r.samples::<i16>().map(|s| s.unwrap()));
    samples.extend(vec![0i16; 16000 * 4]);
    let p = dir.join(format!("{name}.wav"));
    let mut w = hound::WavWriter::create(&p, spec).unwrap();
    for s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    p.display().to_string()
}

#[test]
fn voice_and_robot_participants_run_spoken_days_whose_transcripts_and_latencies_reach_the_export() {
    let lab = tempfile::tempdir().unwrap();
    let keys = lab.path().join("keys");
    let site = lab.path().join("site.toml");
    std::fs::write(&site, "[llm]\nmode = \"reflect\"\n").unwrap();
    let study = lab.path().join("study").display().to_string();
    ok(&keys, &["study", "init", "--study", &study, "--config", site.to_str().unwrap()]);
    let mut spoken = Vec::new();
    for i in 0..8 {
        let p = format!("S{i}");
        let v: Value = serde_json::from_str(ok(&keys, &["study", "enroll", "--study", &study, "--participant", &p]).trim()).unwrap();
        let arm = v["arm"].as_str().unwrap().to_string();
        if (arm == "voice" || arm == "robot") && !spoken.iter().any(|(_, a): &(String, String)| *a == arm) {
            spoken.push((p, arm));
        }
    }
    assert_eq!(spoken.len(), 2, "a block of 8 holds both spoken arms");
    let wav = clip(lab.path(), "u", "I have been feeling a bit lonely this week.");
    for (p, arm) in &spoken {
        for day in 1..=2u32 {
            let mut ans = serde_json::json!({"pre": {"mood": [5]}, "post": {"mood": [4]}});
            if day == 1 {
                ans["baseline"] = serde_json::json!({"phq4": [1, 2, 1, 2], "k10": vec![2; 10]});
            }
            let af = lab.path().join(format!("a-{p}-{day}.json"));
            std::fs::write(&af, ans.to_string()).unwrap();
            let out_wav = lab.path().join(format!("out-{p}-{day}.wav"));
            let d = day.to_string();
            let mut args = vec![
                "session", "start", "--study", &study, "--participant", p, "--day", &d, "--answers", af.to_str().unwrap(),
                "--audio-in", &wav, "--audio-out", out_wav.to_str().unwrap(), "--fast", "--llm", "reflect",
            ];
            if arm == "robot" {
                args.extend(["--head", "sim"]);
            }
            ok(&keys, &args);
            let t = Path::new(&study).join("transcripts").join(p).join(format!("day-{day:02}.jsonl"));
            let lines: Vec<Value> = std::fs::read_to_string(&t).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(lines.len(), 1, "{arm} day {day}: {lines:?}");
            assert!(lines[0]["asr_text"].as_str().unwrap().to_lowercase().contains("lonely"), "{}", lines[0]);
        }
    }
    // Raw audio is off by default: no copy of the participant's audio in the folder.
    assert!(!Path::new(&study).join("audio").exists());
    let out = lab.path().join("export");
    ok(&keys, &["study", "export", "--study", &study, "--out", out.to_str().unwrap()]);
    let lat = std::fs::read_to_string(out.join("latencies.jsonl")).unwrap();
    let rows: Vec<Value> = lat.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["turn_latency_ms"].as_i64().is_some_and(|ms| ms > 0)), "{rows:?}");
    let sessions = std::fs::read_to_string(out.join("sessions.jsonl")).unwrap();
    assert!(sessions.lines().any(|l| l.contains("\"head\":\"sim\"")));
}

#[test]
fn a_robot_day_keeps_its_behaviour_trace_and_the_staff_page_of_its_session_shows_the_timeline() {
    use attune_tests::weblab::WebLab;
    let mut lab = WebLab::new("[llm]\nmode = \"reflect\"\n");
    let p = lab.enroll_into("robot", "R");
    // The lab has its own ATTUNE_HOME: its models are this machine's.
    let models = match (std::env::var_os("ATTUNE_HOME"), std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
        (Some(h), _, _) => Path::new(&h).join("models"),
        (None, Some(x), _) => Path::new(&x).join("attune/models"),
        (None, None, h) => Path::new(&h.unwrap_or_default()).join(".local/share/attune/models"),
    };
    std::fs::create_dir_all(lab.dir.path().join("home")).unwrap();
    std::os::unix::fs::symlink(&models, lab.dir.path().join("home").join("models")).unwrap();
    let wav = clip(lab.dir.path(), "u", "I have been feeling a bit lonely this week.");
    let af = lab.dir.path().join("answers.json");
    let ans = serde_json::json!({"pre": {"mood": [5]}, "post": {"mood": [4]}, "baseline": {"phq4": [1, 2, 1, 2], "k10": vec![2; 10]}});
    std::fs::write(&af, ans.to_string()).unwrap();
    let out_wav = lab.dir.path().join("out.wav");
    lab.ok(&[
        "session", "start", "--study", lab.study_str(), "--participant", &p, "--day", "1", "--answers", af.to_str().unwrap(),
        "--audio-in", &wav, "--audio-out", out_wav.to_str().unwrap(), "--fast", "--llm", "reflect", "--head", "sim",
    ]);
    let traces: Vec<_> = std::fs::read_dir(lab.study.join("traces").join(&p)).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(traces.len(), 1, "{traces:?}");
    let c = rusqlite::Connection::open(lab.study.join("sessions.db")).unwrap();
    let (sid, trace): (i64, String) = c
        .query_row("SELECT session_id, json_extract(payload, '$.trace') FROM events WHERE kind = 'behaviors'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(Path::new(&trace), std::fs::canonicalize(&traces[0]).unwrap());
    lab.add_user("dr.lee", "staff", "correct horse battery");
    lab.serve(&["--llm", "reflect"]);
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let cookie = lab.staff_cookie("dr.lee", "correct horse battery").await;
        let http = reqwest::Client::new();
        let page = http.get(format!("{}/staff/session/{sid}", lab.base)).header("Cookie", &cookie).send().await.unwrap().text().await.unwrap();
        let img = format!("src=\"/staff/session/{sid}/timeline.svg\"");
        assert!(page.contains("Behaviour timeline") && page.contains(&img), "{page}");
        let r = http.get(format!("{}/staff/session/{sid}/timeline.svg", lab.base)).header("Cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("image/svg+xml"));
        let svg = r.text().await.unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>") && svg.matches("<rect").count() > 5, "{}", &svg[..svg.len().min(400)]);
        std::fs::write(WebLab::artefacts().join("14-robot-timeline.svg"), &svg).unwrap();
        // Not without signing in.
        let r = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap().get(format!("{}/staff/session/{sid}/timeline.svg", lab.base)).send().await.unwrap();
        assert_eq!(r.status(), 303);
    });
}
