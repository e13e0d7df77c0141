//! `[speech.tts] engine` through the `attune` binary: Piper by default when
//! its voice is installed, espeak-ng when asked for or as the fallback, and a
//! start-up error naming the file when there is no fallback.

use attune_tests::attune_bin;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn config(dir: &Path, tts: &str) -> PathBuf {
    let p = dir.join("attune.toml");
    std::fs::write(&p, format!("[speech.tts]\n{tts}\n")).unwrap();
    p
}

/// Where the set-up put the models (as `attune` finds them).
fn models_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("ATTUNE_HOME") {
        return PathBuf::from(h).join("models");
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(x).join("attune/models");
    }
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share/attune/models")
}

fn say(text: &str, out: &Path, cfg: Option<&Path>) -> Output {
    let mut c = Command::new(attune_bin());
    c.args(["say", text, "--out"]).arg(out);
    if let Some(p) = cfg {
        c.arg("--config").arg(p);
    }
    c.output().unwrap()
}

fn loud_samples(wav: &Path) -> usize {
    let mut r = hound::WavReader::open(wav).unwrap();
    r.samples::<i16>().map(|s| s.unwrap()).filter(|s| s.unsigned_abs() > 1_000).count()
}

#[test]
fn say_speaks_with_piper_by_default_and_whisper_hears_the_words() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("p.wav");
    let out = say("Please remind me to call my mother tomorrow.", &wav, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("tts: piper") && stderr.contains("en_US-joe-medium.onnx"), "{stderr}");
    assert!(loud_samples(&wav) > 8_000);
    let heard = Command::new(attune_bin()).arg("transcribe").arg(&wav).output().unwrap();
    let text = String::from_utf8_lossy(&heard.stdout).to_lowercase();
    for w in ["remind", "call", "mother", "tomorrow"] {
        assert!(text.contains(w), "{text:?} lacks {w}");
    }
}

#[test]
fn espeak_ng_is_used_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "engine = \"espeak-ng\"");
    let wav = dir.path().join("e.wav");
    let out = say("Hello there.", &wav, Some(&cfg));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("tts: espeak-ng") && !stderr.contains("piper"), "{stderr}");
    assert!(loud_samples(&wav) > 4_000);
}

#[test]
fn a_missing_voice_model_falls_back_to_espeak_ng_with_a_warning_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "piper_model = \"/nonexistent/voice.onnx\"");
    let wav = dir.path().join("f.wav");
    let out = say("Hello there.", &wav, Some(&cfg));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("/nonexistent/voice.onnx") && stderr.contains("tts: espeak-ng"), "{stderr}");
    assert!(loud_samples(&wav) > 4_000);
}

#[test]
fn without_a_fallback_a_corrupt_model_stops_the_voice_arm_at_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("broken.onnx");
    std::fs::write(&model, b"not a model").unwrap();
    // The voice config beside it is the real one, so only the model is wrong.
    std::fs::copy(models_dir().join("piper/en_US-joe-medium.onnx.json"), dir.path().join("broken.onnx.json")).unwrap();
    let cfg = config(dir.path(), &format!("piper_model = {:?}\nfallback = \"none\"", model.display().to_string()));
    let input = dir.path().join("in.wav");
    let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(&input, spec).unwrap();
    for _ in 0..16_000 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let db = dir.path().join("s.db");
    let out = Command::new(attune_bin())
        .args(["run", "--arm", "voice", "--fast", "--llm", "reflect", "--audio-in"])
        .arg(&input)
        .arg("--audio-out")
        .arg(dir.path().join("out.wav"))
        .arg("--db")
        .arg(&db)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("broken.onnx") && stderr.contains("fallback"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    if db.exists() {
        let c = rusqlite::Connection::open(&db).unwrap();
        let n: i64 = c.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }
}

#[test]
fn an_unknown_engine_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "engine = \"festival\"");
    let out = say("Hello.", &dir.path().join("x.wav"), Some(&cfg));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("speech.tts.engine") && stderr.contains("festival"), "{stderr}");
}
