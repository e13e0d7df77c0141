//! The speech-recognition evaluation: a set of clips (made by
//! `scripts/make-asr-set.sh`) heard two ways — whole, as `attune transcribe`
//! hears a file, and through the voice loop in file mode, as the voice arm
//! hears a participant — scored by word error rate against the text spoken.
//!
//! The loop path is the real [`VoiceLoop`] with the config's VAD, turn-taking,
//! pre-roll and STT stage; only the dialogue engine is replaced by a listener
//! that takes every utterance and answers nothing, so no robot speech is mixed
//! into what is measured.

use crate::audio::{read_wav_16k_mono, FRAME_MS, SAMPLE_RATE};
use crate::vad::voiced_frames;
use crate::file_io::{WavSink, WavSource};
use crate::stt::{transcribe_long, SttWorker, WhisperStt};
use crate::tts::TtsWorker;
use crate::voice_loop::{LoopEvent, Pacing, ReplyEvent, Responder, TurnRecord, Utterance, VoiceLoop};
use crate::wer::WordErrors;
use crate::{SpeechConfig, SpeechError};
use serde::Deserialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// One clip of the set (a line of `set.jsonl`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AsrClip {
    /// WAV file name inside the set directory.
    pub clip: String,
    /// The words spoken.
    pub text: String,
    /// espeak-ng voice (or "piper").
    #[serde(default)]
    pub voice: String,
    /// Speaking rate.
    #[serde(default)]
    pub rate_wpm: u32,
    /// Silence before the speech.
    #[serde(default)]
    pub lead_ms: u32,
    /// Pause inside the sentence (0 = none).
    #[serde(default)]
    pub pause_ms: u32,
    /// Pink noise mixed in at this SNR; None = clean.
    #[serde(default)]
    pub snr_db: Option<i32>,
    /// "tune" or "test".
    #[serde(default)]
    pub split: String,
}

impl AsrClip {
    /// The noise condition as a label: "clean" or "snr10".
    pub fn condition(&self) -> String {
        match self.snr_db {
            None => "clean".into(),
            Some(s) => format!("snr{s}"),
        }
    }
}

/// Reads `DIR/set.jsonl`; errors name the file and line.
pub fn load_set(dir: &Path) -> Result<Vec<AsrClip>, SpeechError> {
    let path = dir.join("set.jsonl");
    let bad = |msg: String| SpeechError::Config(format!("{}: {msg}", path.display()));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| bad(format!("{e} (make the set with scripts/make-asr-set.sh DIR)")))?;
    let out = crate::parse_jsonl(&text, |c: &AsrClip| {
        if c.clip.contains('/') || c.clip.contains("..") {
            return Err(format!("clip {:?} must be a file name inside the set", c.clip));
        }
        Ok(())
    })
    .map_err(bad)?;
    if out.is_empty() {
        return Err(bad("no clips".into()));
    }
    Ok(out)
}

/// The listener standing in for the dialogue engine: takes each utterance and
/// finishes its turn with no reply (also used by the endpointing bench).
#[derive(Default)]
pub struct Listener {
    /// Done events waiting to be polled.
    out: VecDeque<ReplyEvent<()>>,
}

impl Responder<()> for Listener {
    fn submit(&mut self, utt: Utterance) -> Result<(), SpeechError> {
        self.out.push_back(ReplyEvent::Done { id: utt.id, report: () });
        Ok(())
    }
    fn poll(&mut self) -> Option<ReplyEvent<()>> {
        self.out.pop_front()
    }
    fn interrupted(&mut self, _id: u64, _spoken_chars: usize) {}
}

/// What the voice loop heard in one clip.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoopHeard {
    /// Every turn's transcript, in order, joined by spaces.
    pub text: String,
    /// Turns the loop made of the clip.
    pub turns: usize,
    /// Stream time the first turn's speech started (VAD onset), if any.
    pub first_speech_ms: Option<u64>,
    /// whisper wall time over all turns.
    pub asr_ms: u64,
    /// Warnings the loop raised.
    pub warnings: Vec<String>,
}

/// Plays `samples` through the voice loop in file mode (fast pacing) with
/// `cfg` and returns what it heard.
pub fn loop_transcribe(
    cfg: &SpeechConfig,
    stt: &SttWorker,
    tts: &TtsWorker,
    samples: Vec<f32>,
    scratch_wav: &Path,
) -> Result<LoopHeard, SpeechError> {
    let mut listener = Listener::default();
    let mut source = WavSource::from_samples(samples);
    let mut sink = WavSink::create(scratch_wav)?;
    let mut turns: Vec<TurnRecord<()>> = Vec::new();
    let mut warnings = Vec::new();
    {
        let mut vl = VoiceLoop::new(cfg, stt, tts, &mut listener, Pacing::Fast);
        // Generous: on a machine loaded by other work whisper can take tens
        // of seconds per utterance; the limit only guards against a hang.
        vl.drain_limit_ms = 600_000;
        vl.run(&mut source, &mut sink, &AtomicBool::new(false), &mut |t| turns.push(t), &mut |e| {
            if let LoopEvent::Warning { msg } = e {
                warnings.push(msg);
            }
        })?;
    }
    Ok(LoopHeard {
        text: turns.iter().map(|t| t.asr_text.as_str()).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" "),
        turns: turns.len(),
        first_speech_ms: turns.first().map(|t| t.speech_start_ms),
        asr_ms: turns.iter().map(|t| t.asr_ms).sum(),
        warnings,
    })
}

/// One clip's result under one setting.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipResult {
    /// The clip.
    pub clip: AsrClip,
    /// Clip length.
    pub audio_ms: u64,
    /// `attune transcribe`'s text.
    pub file_text: String,
    /// Its errors.
    pub file: WordErrors,
    /// whisper wall time on the file path.
    pub file_ms: u64,
    /// The loop's text.
    pub loop_heard: LoopHeard,
    /// Its errors.
    pub looped: WordErrors,
    /// First frame the VAD calls voiced minus `lead_ms` (where the speech
    /// really starts): how late the detector hears an onset.
    pub vad_onset_delay_ms: Option<i64>,
}

/// Runs every clip through both paths with one config. `progress` sees each
/// result as it is made (the eval command prints a row per clip).
pub fn evaluate(
    dir: &Path,
    clips: &[AsrClip],
    cfg: &SpeechConfig,
    model: &Path,
    tts: &TtsWorker,
    progress: &mut dyn FnMut(&ClipResult),
) -> Result<Vec<ClipResult>, SpeechError> {
    let mut whisper = WhisperStt::load(model, &cfg.stt)?;
    let worker = SttWorker::start(model, &cfg.stt)?;
    let scratch = ScratchDir::new()?;
    // Warm the file path too, so its first clip does not pay whisper's set-up.
    whisper.transcribe(&vec![0.0; SAMPLE_RATE as usize])?;
    let mut out = Vec::with_capacity(clips.len());
    for c in clips {
        let path = dir.join(&c.clip);
        let samples = read_wav_16k_mono(&path)?;
        let t0 = Instant::now();
        let file_text = transcribe_long(&mut whisper, &samples)?;
        let file_ms = t0.elapsed().as_millis() as u64;
        // The loop reads the file exactly as `attune run --audio-in` does.
        let src = WavSource::open(&path)?;
        let audio_ms = src.len() as u64 * 1000 / SAMPLE_RATE as u64;
        let vad_onset_delay_ms = voiced_frames(&samples, cfg.vad.threshold)
            .iter()
            .position(|&v| v)
            .map(|i| (i as u64 * FRAME_MS) as i64 - c.lead_ms as i64);
        let heard = loop_transcribe(cfg, &worker, tts, samples, &scratch.path.join("out.wav"))?;
        let r = ClipResult {
            vad_onset_delay_ms,
            file: WordErrors::between(&c.text, &file_text),
            looped: WordErrors::between(&c.text, &heard.text),
            clip: c.clone(),
            audio_ms,
            file_text,
            file_ms,
            loop_heard: heard,
        };
        progress(&r);
        out.push(r);
    }
    Ok(out)
}

/// A temporary directory removed on drop (the loop's OUT.wav goes there).
struct ScratchDir {
    /// Its path.
    path: PathBuf,
}

impl ScratchDir {
    fn new() -> Result<ScratchDir, SpeechError> {
        let path = std::env::temp_dir().join(format!("attune-eval-asr-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&path).map_err(|e| SpeechError::Config(format!("{}: {e}", path.display())))?;
        Ok(ScratchDir { path })
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_file_is_read_and_bad_lines_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("set.jsonl"),
            "{\"clip\": \"a.wav\", \"text\": \"hello\", \"snr_db\": null, \"split\": \"tune\"}\n\n{\"clip\": \"b.wav\", \"text\": \"x\", \"snr_db\": 5}\n",
        )
        .unwrap();
        let s = load_set(dir.path()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].condition(), "clean");
        assert_eq!(s[1].condition(), "snr5");
        std::fs::write(dir.path().join("set.jsonl"), "{\"clip\": \"a.wav\"}\n").unwrap();
        let e = load_set(dir.path()).unwrap_err().to_string();
        assert!(e.contains("set.jsonl") && e.contains("line 1") && e.contains("text"), "{e}");
        std::fs::write(dir.path().join("set.jsonl"), "{\"clip\": \"../x.wav\", \"text\": \"a\"}\n").unwrap();
        assert!(load_set(dir.path()).unwrap_err().to_string().contains("inside the set"));
        let e = load_set(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(e.contains("make-asr-set.sh"), "{e}");
    }
}
