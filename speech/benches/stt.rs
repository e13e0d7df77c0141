//! Speech benchmarks (prints figures; run with `cargo bench -p attune-speech`).
//!
//! 1. whisper STT on 2–5 s utterances with and without `audio_ctx` scaling,
//!    side by side.
//! 2. Our STT stage (worker thread, padding, clean-up) against whisper-rs
//!    called directly on the same audio with the same parameters: overhead ratio.
//! 3. Voice-arm turn latency breakdown, p50/p95, over a scripted multi-turn
//!    session through the `attune` binary: the local LLM and, as the
//!    reference in the same run, the LLM-free reflect engine. Skipped (with a
//!    note) when the binary is not built.
//!
//! Speech is generated with espeak-ng; the model is whisper tiny.en from
//! `scripts/fetch-models.sh`.

use attune_speech::audio::{ms_to_samples, write_wav_16k_mono, SAMPLE_RATE};
use attune_speech::stt::{decode_params, default_models_dir, scaled_audio_ctx, SttJob, SttWorker, WhisperStt};
use attune_speech::tts::{EspeakTts, Tts};
use attune_speech::{SttConfig, TtsConfig};
use std::path::PathBuf;
use std::time::Instant;
use whisper_rs::{WhisperContext, WhisperContextParameters};

const RUNS: usize = 5;

fn say(text: &str) -> Vec<f32> {
    let cfg = TtsConfig { voice: "en-gb".into(), rate_wpm: 160, ..TtsConfig::default() };
    EspeakTts::new(&cfg).expect("espeak-ng").synthesize(text).expect("synthesis")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return f64::NAN;
    }
    let i = ((s.len() - 1) as f64 * p).round() as usize;
    s[i]
}

fn main() {
    let model = default_models_dir().join("ggml-tiny.en.bin");
    if !model.exists() {
        eprintln!("bench: {} missing; run scripts/fetch-models.sh", model.display());
        std::process::exit(1);
    }
    let cfg = SttConfig::default();
    let utts = [
        "I feel a little tired today.",
        "My sister called me this morning and we talked for a while.",
        "I have been thinking about work a lot lately, and it keeps me awake at night sometimes.",
    ];
    let audio: Vec<Vec<f32>> = utts.iter().map(|u| say(u)).collect();
    println!("== STT: whisper tiny.en, {} threads, median of {RUNS} runs ==", cfg.thread_count());
    println!("{:>8} {:>10} {:>14} {:>14} {:>8}", "audio_s", "audio_ctx", "scaled_ms", "full_30s_ms", "speedup");
    let mut stt = WhisperStt::load(&model, &cfg).expect("model");
    stt.transcribe(&audio[0]).expect("warm-up");
    for a in &audio {
        let mut scaled = vec![];
        let mut full = vec![];
        for _ in 0..RUNS {
            stt.set_scale_audio_ctx(true);
            let t = Instant::now();
            stt.transcribe(a).expect("stt");
            scaled.push(t.elapsed().as_secs_f64() * 1e3);
            stt.set_scale_audio_ctx(false);
            let t = Instant::now();
            stt.transcribe(a).expect("stt");
            full.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (s, f) = (median(scaled), median(full));
        println!(
            "{:>8.2} {:>10} {:>14.1} {:>14.1} {:>7.2}x",
            a.len() as f64 / SAMPLE_RATE as f64,
            scaled_audio_ctx(a.len()),
            s,
            f,
            f / s
        );
    }
    drop(stt);

    println!("\n== Our STT stage vs whisper-rs directly (same audio, same params, scaled audio_ctx) ==");
    let worker = SttWorker::start(&model, &cfg).expect("worker");
    let ctx = WhisperContext::new_with_params(&model, WhisperContextParameters::default()).expect("ctx");
    let mut state = ctx.create_state().expect("state");
    let direct = |state: &mut whisper_rs::WhisperState, a: &[f32]| {
        let p = decode_params(&cfg.language, cfg.thread_count(), a.len(), scaled_audio_ctx(a.len()));
        state.full(p, a).expect("whisper");
        state.as_iter().map(|s| s.to_string()).collect::<String>()
    };
    direct(&mut state, &audio[0]);
    println!("{:>8} {:>12} {:>12} {:>8}", "audio_s", "ours_ms", "direct_ms", "ratio");
    let mut id = 0;
    for a in &audio {
        let mut ours = vec![];
        let mut dir = vec![];
        for _ in 0..RUNS {
            id += 1;
            let t = Instant::now();
            worker.submit(SttJob { id, samples: a.clone(), cancel: None }).expect("submit");
            let r = worker.wait_result().expect("result");
            r.result.expect("stt");
            ours.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            direct(&mut state, a);
            dir.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (o, d) = (median(ours), median(dir));
        println!("{:>8.2} {:>12.1} {:>12.1} {:>7.3}x", a.len() as f64 / SAMPLE_RATE as f64, o, d, o / d);
    }
    drop(worker);

    turn_latency(&audio);
}

/// Finds a built `attune` binary (release preferred).
fn attune_bin() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent()?.to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    ["release", "debug"].iter().map(|p| target.join(p).join("attune")).find(|p| p.is_file())
}

fn turn_latency(_audio: &[Vec<f32>]) {
    println!("\n== Voice arm turn latency (scripted 6-turn session, --fast, file I/O) ==");
    let Some(bin) = attune_bin() else {
        println!("skipped: no attune binary (cargo build --release -p attune)");
        return;
    };
    let lines = [
        "Hi, I had a long day at work today.",
        "My manager asked me to redo the whole report.",
        "I felt frustrated but I did not say anything.",
        "Later my friend called and that helped a bit.",
        "I think I should talk to my manager tomorrow.",
        "Thanks for listening to me.",
    ];
    let dir = std::env::temp_dir().join(format!("attune-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut input = vec![0.0f32; ms_to_samples(500)];
    for l in lines {
        input.extend(say(l));
        input.extend(vec![0.0f32; ms_to_samples(12_000)]); // room for a slow reply
    }
    let in_wav = dir.join("in.wav");
    write_wav_16k_mono(&in_wav, &input).expect("write input");
    println!("binary: {}", bin.display());
    println!(
        "{:<8} {:>6} | {:>15} {:>15} {:>15} {:>15} {:>15}",
        "llm", "turns", "endpoint p50/95", "asr p50/95", "engine1st p50/95", "tts1st p50/95", "turn p50/95"
    );
    for llm in ["reflect", "local"] {
        let t = dir.join(format!("{llm}.jsonl"));
        let out = std::process::Command::new(&bin)
            .args(["run", "--arm", "voice", "--fast", "--llm", llm, "--participant", "bench"])
            .arg("--audio-in")
            .arg(&in_wav)
            .arg("--audio-out")
            .arg(dir.join(format!("{llm}.wav")))
            .arg("--transcript")
            .arg(&t)
            .arg("--db")
            .arg(dir.join(format!("{llm}.db")))
            .output();
        let ok = matches!(&out, Ok(o) if o.status.success());
        if !ok {
            let why = out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_else(|e| e.to_string());
            println!("{llm:<8} failed: {}", why.lines().last().unwrap_or(""));
            continue;
        }
        let text = std::fs::read_to_string(&t).unwrap_or_default();
        let rows: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let col = |f: &dyn Fn(&serde_json::Value) -> Option<f64>| -> Vec<f64> { rows.iter().filter_map(f).collect() };
        let e = col(&|r| r["endpoint_ms"].as_f64());
        let a = col(&|r| r["asr_ms"].as_f64());
        let g = col(&|r| r["timings_ms"]["first_token"].as_f64());
        let s = col(&|r| r["tts_first_audio_ms"].as_f64());
        let l = col(&|r| r["turn_latency_ms"].as_f64());
        let f = |v: &[f64]| format!("{:.0}/{:.0}", pct(v, 0.5), pct(v, 0.95));
        println!("{llm:<8} {:>6} | {:>15} {:>15} {:>15} {:>15} {:>15}", rows.len(), f(&e), f(&a), f(&g), f(&s), f(&l));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
