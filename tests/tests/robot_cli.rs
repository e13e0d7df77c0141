//! The robot arm's bad input and the trace plot, through the `attune`
//! binary. No model runs: every bad input is refused before the models load,
//! and the plotted trace comes from the planner itself.

use attune_behaviors::{Driver, Event, Planner, Settings, TraceLine};
use attune_tests::attune_bin;
use std::path::Path;
use std::process::Command;

fn silent_wav(path: &Path) {
    let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for _ in 0..16_000 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Runs `attune run --arm robot` with `extra`; returns (exit code, stderr).
fn robot(dir: &Path, extra: &[&str]) -> (i32, String) {
    let wav = dir.join("in.wav");
    silent_wav(&wav);
    let out = Command::new(attune_bin())
        .args(["run", "--arm", "robot", "--llm", "reflect", "--fast", "--audio-in"])
        .arg(&wav)
        .arg("--audio-out")
        .arg(dir.join("out.wav"))
        .arg("--db")
        .arg(dir.join("s.db"))
        .args(extra)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn no_session(dir: &Path) -> bool {
    let db = dir.join("s.db");
    !db.exists() || rusqlite::Connection::open(&db).unwrap().query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get::<_, i64>(0)).unwrap() == 0
}

#[test]
fn bad_robot_input_is_refused_by_name_before_the_session_starts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--head".into(), "serial".into()], "--head-port"),
        (vec!["--head".into(), "serial".into(), "--head-port".into(), "/dev/attune-no-such-head".into()], "/dev/attune-no-such-head"),
        (vec!["--head".into(), "none".into(), "--behavior-trace".into(), d.join("no/such/dir/t.jsonl").display().to_string()], "behaviour trace"),
        (vec!["--head".into(), "none".into(), "--head-port".into(), "/dev/null".into()], "--head-port is for --head serial"),
    ];
    for (args, needle) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stderr) = robot(d, &a);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr:?} lacks {needle:?}");
        assert!(no_session(d), "{args:?} left a session row");
    }
    for (toml, needle) in [("[behaviors]\nprofile = \"lively\"\n", "behaviors.profile"), ("[behaviors]\nnodding = false\n", "nodding")] {
        let cfg = d.join("c.toml");
        std::fs::write(&cfg, toml).unwrap();
        let (code, stderr) = robot(d, &["--head", "none", "--config", cfg.to_str().unwrap()]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
        assert!(no_session(d));
    }
    let (code, stderr) = robot(d, &["--head", "bogus"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("bogus") && stderr.contains("sim"), "{stderr}");
    // Robot flags on the voice arm are a mistake, said so.
    let out = Command::new(attune_bin()).args(["run", "--arm", "voice", "--head", "sim", "--llm", "reflect"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--head is for the robot arm"));
}

/// A planner trace of a short conversation, as `--behavior-trace` writes it.
fn planner_trace(path: &Path) {
    let s = Settings::default();
    let evs = vec![
        (0, Event::SessionStarted { seed: 11, settings: s }),
        (500, Event::ParticipantStarted { barge_in: false }),
        (1800, Event::ParticipantPaused),
        (3500, Event::ParticipantStopped),
        (3900, Event::AgentThinking { feelings: vec!["sad".into()], self_critical: false }),
        (4800, Event::AgentSentence { text: "That sounds hard.".into(), strategy: "Reflection of feelings".into(), duration_ms: 1500, envelope: vec![0.6; 30], continued: false }),
        (6400, Event::AgentFinished),
        (9000, Event::SessionEnded),
    ];
    let mut d = Driver::new(Planner::new(attune_hardware::firmware::HeadParams::DEFAULT, s, 11), 0);
    let mut lines = Vec::new();
    for (t, e) in evs {
        for (tc, c) in d.event(&e, t) {
            lines.push(TraceLine::Command { t_ms: tc, command: c });
        }
        lines.push(TraceLine::Event { t_ms: t, event: e });
    }
    for (tc, c) in d.advance_to(9020) {
        lines.push(TraceLine::Command { t_ms: tc, command: c });
    }
    let text: String = lines.iter().map(|l| serde_json::to_string(l).unwrap() + "\n").collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_trace_plots_to_png_and_svg_and_bad_plot_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("t.jsonl");
    planner_trace(&trace);
    let png = dir.path().join("p.png");
    let out = Command::new(attune_bin()).args(["behaviors", "plot"]).arg(&trace).arg("--out").arg(&png).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 20_000, "a {}-byte PNG is too small to hold the plot", bytes.len());
    let svg = dir.path().join("p.svg");
    let out = Command::new(attune_bin()).args(["behaviors", "plot"]).arg(&trace).arg("--out").arg(&svg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&svg).unwrap();
    for label in ["<svg", "participant speaks", "turn_ack", "backchannel_nod", "pitch", "session time (s)"] {
        assert!(text.contains(label), "SVG lacks {label:?}");
    }
    // Bad input: wrong extension, not a trace, missing file.
    let out = Command::new(attune_bin()).args(["behaviors", "plot"]).arg(&trace).arg("--out").arg(dir.path().join("p.jpg")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".png or .svg"));
    let junk = dir.path().join("junk.jsonl");
    std::fs::write(&junk, "{\"t_ms\": 1}\nnot json\n").unwrap();
    let out = Command::new(attune_bin()).args(["behaviors", "plot"]).arg(&junk).arg("--out").arg(&png).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(attune_bin()).args(["behaviors", "plot"]).arg(dir.path().join("nope.jsonl")).arg("--out").arg(&png).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.jsonl"));
}
