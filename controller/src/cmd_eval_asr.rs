//! `attune eval asr --set DIR`: word error rate of the voice arm's hearing.
//!
//! Every clip of a set made by `scripts/make-asr-set.sh` is transcribed whole
//! (exactly as `attune transcribe` does) and through the voice loop in file
//! mode (exactly as `attune run --arm voice --audio-in` hears it), with
//! whisper's `audio_ctx` scaled, full, or both side by side. Prints WER per
//! clip and per condition, and the real-time factor of each path.

use attune_speech::asr_eval::{evaluate, load_set, AsrClip, ClipResult};
use attune_speech::tts::TtsWorker;
use attune_speech::wer::WordErrors;
use clap::{Args, ValueEnum};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct EvalAsrArgs {
    /// Set directory (set.jsonl + WAV clips) made by scripts/make-asr-set.sh.
    #[arg(long, value_name = "DIR")]
    pub set: PathBuf,
    /// Config file (TOML); its `[speech]` section is what the loop runs with.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// whisper's encoder window: as the config says (`speech.stt.scale_audio_ctx`),
    /// scaled to the utterance, the full 30 s, or both side by side.
    #[arg(long, value_enum, default_value = "config")]
    pub audio_ctx: AudioCtx,
    /// Only clips of this split ("tune", "test"); all by default.
    #[arg(long)]
    pub split: Option<String>,
    /// Print one JSON object on stdout instead of the tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AudioCtx {
    Config,
    Scaled,
    Full,
    Both,
}

/// Totals over a group of clips.
#[derive(Default, Clone, Copy)]
struct Totals {
    file: WordErrors,
    looped: WordErrors,
    clips: usize,
    audio_ms: u64,
    file_ms: u64,
    loop_asr_ms: u64,
}

impl Totals {
    fn add(&mut self, r: &ClipResult) {
        self.file.add(r.file);
        self.looped.add(r.looped);
        self.clips += 1;
        self.audio_ms += r.audio_ms;
        self.file_ms += r.file_ms;
        self.loop_asr_ms += r.loop_heard.asr_ms;
    }
    fn rtf(ms: u64, audio_ms: u64) -> f64 {
        if audio_ms == 0 {
            0.0
        } else {
            ms as f64 / audio_ms as f64
        }
    }
    fn json(&self) -> serde_json::Value {
        json!({
            "clips": self.clips,
            "ref_words": self.file.ref_words,
            "file_wer": round2(self.file.percent()),
            "loop_wer": round2(self.looped.percent()),
            "file_rtf": round3(Self::rtf(self.file_ms, self.audio_ms)),
            "loop_rtf": round3(Self::rtf(self.loop_asr_ms, self.audio_ms)),
        })
    }
    fn row(&self, label: &str) -> String {
        format!(
            "{label:<16} {:>5} {:>9.1} {:>9.1} {:>9.3} {:>9.3}",
            self.clips,
            self.file.percent(),
            self.looped.percent(),
            Self::rtf(self.file_ms, self.audio_ms),
            Self::rtf(self.loop_asr_ms, self.audio_ms)
        )
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn groups(results: &[ClipResult]) -> BTreeMap<String, Totals> {
    let mut g: BTreeMap<String, Totals> = BTreeMap::new();
    for r in results {
        g.entry("all".into()).or_default().add(r);
        g.entry(r.clip.condition()).or_default().add(r);
        if r.clip.pause_ms > 0 {
            g.entry("pause".into()).or_default().add(r);
        }
        if !r.clip.split.is_empty() {
            g.entry(format!("split:{}", r.clip.split)).or_default().add(r);
        }
        g.entry(format!("lead:{}ms", r.clip.lead_ms)).or_default().add(r);
        // The neural voice's clips apart from espeak-ng's (make-asr-set.sh
        // adds them when Piper is installed).
        let engine = if r.clip.voice == "piper" { "piper" } else { "espeak-ng" };
        g.entry(format!("voice:{engine}")).or_default().add(r);
    }
    g
}

pub fn run(a: EvalAsrArgs) -> anyhow::Result<()> {
    let cfg = crate::config::Config::load(a.config.as_deref())?;
    let speech = cfg.speech;
    speech.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut clips: Vec<AsrClip> = load_set(&a.set)?;
    if let Some(s) = &a.split {
        clips.retain(|c| &c.split == s);
        if clips.is_empty() {
            anyhow::bail!("--split {s:?}: no clips of that split in {}", a.set.display());
        }
    }
    let model = speech.stt.model_path(&crate::config::data_dir().join("models"));
    let tts = TtsWorker::start(crate::cmd_voice::open_voice(&speech, false)?);
    let settings: Vec<bool> = match a.audio_ctx {
        AudioCtx::Config => vec![speech.stt.scale_audio_ctx],
        AudioCtx::Scaled => vec![true],
        AudioCtx::Full => vec![false],
        AudioCtx::Both => vec![true, false],
    };
    let mut out_json = Vec::new();
    let mut summaries = Vec::new();
    for scaled in settings {
        let label = if scaled { "scaled" } else { "full" };
        let mut s = speech.clone();
        s.stt.scale_audio_ctx = scaled;
        if !a.json {
            println!("== audio_ctx {label}: WER % per clip (file = attune transcribe, loop = voice arm in file mode) ==");
            println!("{:<16} {:<5} {:<6} {:>8} {:>8} {:>5} {:>6}  loop transcript", "clip", "split", "cond", "file", "loop", "turns", "vad_ms");
        }
        let json_mode = a.json;
        let results = evaluate(&a.set, &clips, &s, &model, &tts, &mut |r| {
            if !json_mode {
                println!(
                    "{:<16} {:<5} {:<6} {:>8.1} {:>8.1} {:>5} {:>6}  {}",
                    r.clip.clip,
                    r.clip.split,
                    r.clip.condition(),
                    r.file.percent(),
                    r.looped.percent(),
                    r.loop_heard.turns,
                    r.vad_onset_delay_ms.map(|d| d.to_string()).unwrap_or_else(|| "-".into()),
                    r.loop_heard.text
                );
            }
        })?;
        let g = groups(&results);
        out_json.push(json!({
            "audio_ctx": label,
            "overall": g["all"].json(),
            "groups": g.iter().map(|(k, v)| (k.clone(), v.json())).collect::<serde_json::Map<_, _>>(),
            "clips": results.iter().map(|r| json!({
                "clip": r.clip.clip,
                "condition": r.clip.condition(),
                "split": r.clip.split,
                "text": r.clip.text,
                "file_text": r.file_text,
                "loop_text": r.loop_heard.text,
                "file_wer": round2(r.file.percent()),
                "loop_wer": round2(r.looped.percent()),
                "loop_turns": r.loop_heard.turns,
                "loop_speech_start_ms": r.loop_heard.first_speech_ms,
                "vad_onset_delay_ms": r.vad_onset_delay_ms,
                "warnings": r.loop_heard.warnings,
            })).collect::<Vec<_>>(),
        }));
        summaries.push((label, g));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json!({ "set": a.set, "settings": out_json }))?);
        return Ok(());
    }
    println!("\n== WER % and real-time factor (whisper time / audio time), per condition ==");
    println!("{:<8} {:<16} {:>5} {:>9} {:>9} {:>9} {:>9}", "ctx", "group", "clips", "file_wer", "loop_wer", "file_rtf", "loop_rtf");
    for (label, g) in &summaries {
        for (k, t) in g {
            println!("{label:<8} {}", t.row(k));
        }
    }
    Ok(())
}
