//! Speech in and out for attune: audio I/O, voice activity and endpointing,
//! whisper speech-to-text, espeak-ng text-to-speech, turn-taking and the
//! frame-driven voice loop that joins them.
//!
//! # Layout
//! - [`audio`] — 16 kHz mono frames, WAV read/write (any rate, any channel
//!   count), a streaming resampler.
//! - [`vad`] — earshot voice activity per 16 ms frame.
//! - [`turn`] — the pure turn-taking core: endpointing, pauses, barge-in,
//!   backchannels; fed `(voiced, playing, now_ms)`, never reads a clock.
//! - [`stt`] — whisper-rs transcription with `audio_ctx` scaling, and its
//!   worker thread.
//! - [`tts`] — the [`tts::Tts`] trait, espeak-ng as a subprocess, and its worker
//!   thread.
//! - [`piper`] — the Piper neural voice: espeak-ng IPA → phoneme ids → VITS on
//!   ONNX Runtime (loaded at run time), resampled to 16 kHz.
//! - [`tts_engine`] — `[speech.tts] engine` and `fallback`: which voice starts.
//! - [`device`] — cpal capture and playback (callbacks only touch lock-free
//!   ring buffers), device listing and choice by name.
//! - [`file_io`] — WAV file source and sink for offline runs.
//! - [`voice_loop`] — the frame-driven pipeline: source → VAD → turn-taking →
//!   STT → responder (the dialogue engine, supplied by the caller) → TTS → sink.
//! - [`echo`] — AEC3 echo cancellation against the played samples, a simulated room, ERLE.
//! - [`wer`] — word error rate.
//! - [`endpoint`] — does a partial transcript sound finished (adaptive end of turn).
//! - [`prosody`] — YIN pitch and where the voice is heading before a pause
//!   (an opt-in cue for adaptive endpointing).
//! - [`asr_eval`] — the evaluation set (file vs voice loop), used by `attune eval asr`.

pub mod asr_eval;
pub mod audio;
pub mod device;
pub mod echo;
pub mod endpoint;
pub mod file_io;
pub mod overlap;
pub mod piper;
pub mod prosody;
pub mod stt;
pub mod tts;
pub mod tts_engine;
pub mod turn;
pub mod vad;
pub mod voice_loop;
pub mod wer;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors of the speech layer; each names what failed and why.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// A WAV file could not be read or written.
    #[error("WAV file {path}: {msg}")]
    Wav { path: PathBuf, msg: String },
    /// The whisper model is missing or unusable.
    #[error("whisper model {path}: {msg}")]
    Model { path: PathBuf, msg: String },
    /// Transcription of one utterance failed.
    #[error("speech-to-text: {0}")]
    Stt(String),
    /// A transcription was abandoned on request (a stale endpointing probe).
    #[error("speech-to-text: abandoned (no longer needed)")]
    SttAborted,
    /// Synthesis of one sentence failed.
    #[error("text-to-speech: {0}")]
    Tts(String),
    /// The neural voice's model or its config is missing or unusable.
    #[error("voice model {path}: {msg}")]
    TtsModel { path: PathBuf, msg: String },
    /// The ONNX Runtime library is missing or unusable.
    #[error("ONNX Runtime library {path}: {msg}")]
    OnnxRuntime { path: PathBuf, msg: String },
    /// An audio device could not be opened.
    #[error("audio device: {0}")]
    Device(String),
    /// An open audio device stopped working (unplugged, server gone).
    #[error("audio device lost: {0}")]
    DeviceLost(String),
    /// A worker thread is gone.
    #[error("speech worker stopped: {0}")]
    Worker(String),
    /// A config value is out of range; names the field.
    #[error("{0}")]
    Config(String),
}

/// `[speech]` section of the attune config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SpeechConfig {
    /// Microphone and speaker.
    pub audio: AudioConfig,
    /// Voice activity and endpointing.
    pub vad: VadConfig,
    /// whisper speech-to-text.
    pub stt: SttConfig,
    /// Text-to-speech voice.
    pub tts: TtsConfig,
    /// Turn-taking: half-duplex gating and barge-in.
    pub turn: TurnConfig,
    /// Keeping the robot's own voice out of the microphone.
    pub echo: EchoConfig,
    /// When the participant's turn has ended: silence alone, or silence and words.
    pub endpointing: endpoint::EndpointingConfig,
}

/// `[speech.echo]`: what keeps the robot's voice, heard back through the
/// room, from counting as the participant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EchoConfig {
    /// "aec" (echo cancellation against the played samples; falls back to
    /// "duck" if the canceller cannot start), "duck" (the VAD is deaf while
    /// the robot is audible: no barge-in) or "off" (no protection).
    /// Default "aec".
    pub mode: echo::EchoMode,
}

impl Default for EchoConfig {
    fn default() -> Self {
        // Design: aec by default: with a speaker it keeps the robot from
        // interrupting itself, and with no echo at all (headphones, file
        // mode without a room) its gate measures that nothing comes back in
        // the first ~400 ms of the first reply and then lets a barge-in
        // through as soon as `off` would (tested in voice_loop_real.rs).
        Self { mode: echo::EchoMode::Aec }
    }
}

/// `[speech.audio]`: which devices, how much buffering.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AudioConfig {
    /// Input device: "default" or a substring of a name from `attune audio devices`.
    pub input_device: String,
    /// Output device: "default" or a substring of a device name.
    pub output_device: String,
    /// Capture ring buffer length; when full (the pipeline stalled), new
    /// microphone samples are dropped and counted.
    pub capture_buffer_ms: u32,
    /// Playback ring buffer length; a reply longer than this waits in the
    /// voice loop and is fed as the ring drains.
    pub playback_buffer_ms: u32,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            input_device: "default".into(),
            output_device: "default".into(),
            capture_buffer_ms: 30_000,
            playback_buffer_ms: 2_000,
        }
    }
}

/// `[speech.vad]`: voice activity and endpointing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VadConfig {
    /// earshot score at or above which a 16 ms frame counts as voiced (0..1).
    pub threshold: f32,
    /// Speech shorter than this is a click or cough, not a turn.
    pub min_speech_ms: u32,
    /// Silence inside an utterance that counts as a pause (head nods).
    pub pause_ms: u32,
    /// Silence after speech that ends the participant's turn: always with
    /// `[speech.endpointing] mode = "fixed"`; with "adaptive", when the words
    /// say neither finished nor unfinished.
    pub end_silence_ms: u32,
    /// Longest utterance; a monologue is cut into turns of this length.
    pub max_utterance_ms: u32,
    /// Audio kept before the detected speech start, so STT hears the onset.
    pub preroll_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_speech_ms: 200,
            pause_ms: 300,
            end_silence_ms: 700,
            max_utterance_ms: 20_000,
            preroll_ms: 200,
        }
    }
}

/// `[speech.stt]`: whisper.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SttConfig {
    /// GGML whisper model; a relative path is looked up in the models dir.
    pub model: PathBuf,
    /// Spoken language (whisper code); tiny.en only knows "en".
    pub language: String,
    /// CPU threads for whisper; 0 = min(4, available cores).
    pub threads: u32,
    /// Shrink whisper's encoder window (`audio_ctx`) to the utterance length,
    /// so a 2 s utterance does not pay for a 30 s window.
    pub scale_audio_ctx: bool,
}

impl Default for SttConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::from("ggml-tiny.en.bin"),
            language: "en".into(),
            threads: 0,
            scale_audio_ctx: true,
        }
    }
}

impl SttConfig {
    /// The model path: absolute as given, else inside `models_dir`.
    pub fn model_path(&self, models_dir: &Path) -> PathBuf {
        if self.model.is_absolute() {
            self.model.clone()
        } else {
            models_dir.join(&self.model)
        }
    }

    /// Threads whisper gets.
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 {
            return self.threads as usize;
        }
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(4)
    }
}

/// `[speech.tts]`: the voice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TtsConfig {
    /// Engine: "piper" (neural voice on ONNX Runtime; the default) or
    /// "espeak-ng" (run as a program, never linked: it is GPL-3.0).
    pub engine: tts_engine::TtsEngine,
    /// What speaks when piper cannot start (voice or ONNX Runtime missing or
    /// broken): "espeak-ng" (the default) or "none" (start-up fails).
    pub fallback: tts_engine::TtsFallback,
    /// Piper voice model (.onnx; its config is the same path plus ".json");
    /// a relative path is looked up in the models dir.
    pub piper_model: PathBuf,
    /// The ONNX Runtime library (libonnxruntime.so) piper runs on; a
    /// relative path is looked up in the models dir.
    pub onnxruntime: PathBuf,
    /// CPU threads for piper's model; 0 = min(2, available cores).
    pub piper_threads: u32,
    /// The espeak-ng program (name on PATH or a path); piper also runs it
    /// for phonemes.
    pub program: String,
    /// espeak-ng voice name (`espeak-ng --voices`).
    pub voice: String,
    /// Speaking rate in words per minute.
    pub rate_wpm: u32,
    /// Pitch, 0..99 (espeak-ng scale).
    pub pitch: u32,
    /// Longest time one sentence may take to synthesise before it is abandoned.
    pub timeout_ms: u32,
}

impl Default for TtsConfig {
    fn default() -> Self {
        Self {
            engine: tts_engine::TtsEngine::Piper,
            fallback: tts_engine::TtsFallback::EspeakNg,
            piper_model: PathBuf::from("piper/en_US-joe-medium.onnx"),
            onnxruntime: PathBuf::from("onnxruntime/libonnxruntime.so"),
            piper_threads: 0,
            program: "espeak-ng".into(),
            voice: "en-us".into(),
            rate_wpm: 165,
            pitch: 45,
            timeout_ms: 10_000,
        }
    }
}

/// `[speech.turn]`: who speaks when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TurnConfig {
    /// Gate the microphone while the robot speaks (plus `mic_tail_ms`), so
    /// the robot does not answer itself or a backchannel.
    pub half_duplex: bool,
    /// How long after the robot stops the microphone stays gated.
    pub mic_tail_ms: u32,
    /// Allow the participant to interrupt the robot.
    pub barge_in: bool,
    /// Talking over the robot for this long stops it; shorter overlaps
    /// ("mm-hmm", "yeah", "okay", "right") are backchannels and do not.
    pub barge_in_ms: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self { half_duplex: true, mic_tail_ms: 250, barge_in: true, barge_in_ms: 700 }
    }
}

impl SpeechConfig {
    /// Checks ranges types cannot; errors name the field.
    pub fn validate(&self) -> Result<(), SpeechError> {
        let bad = |f: &str, why: &str| Err(SpeechError::Config(format!("field `speech.{f}`: {why}")));
        if !(0.0..=1.0).contains(&self.vad.threshold) || self.vad.threshold.is_nan() {
            return bad("vad.threshold", "must be between 0 and 1");
        }
        if self.vad.end_silence_ms < 100 {
            return bad("vad.end_silence_ms", "must be at least 100");
        }
        if self.vad.max_utterance_ms < 1_000 || self.vad.max_utterance_ms > 28_000 {
            return bad("vad.max_utterance_ms", "must be between 1000 and 28000 (whisper hears at most 30 s)");
        }
        if self.vad.pause_ms >= self.vad.end_silence_ms {
            return bad("vad.pause_ms", "must be shorter than vad.end_silence_ms");
        }
        if let Err((f, why)) = self.endpointing.validate(self.vad.end_silence_ms) {
            return bad(f, &why);
        }
        if self.turn.barge_in_ms < 100 {
            return bad("turn.barge_in_ms", "must be at least 100");
        }
        if self.tts.piper_threads > 64 {
            return bad("tts.piper_threads", "must be between 0 (automatic) and 64");
        }
        if self.tts.rate_wpm < 80 || self.tts.rate_wpm > 450 {
            return bad("tts.rate_wpm", "must be between 80 and 450");
        }
        if self.tts.pitch > 99 {
            return bad("tts.pitch", "must be between 0 and 99");
        }
        if self.audio.capture_buffer_ms < 1_000 {
            return bad("audio.capture_buffer_ms", "must be at least 1000");
        }
        if self.audio.playback_buffer_ms < 200 {
            return bad("audio.playback_buffer_ms", "must be at least 200");
        }
        Ok(())
    }
}

/// Reads a JSON-lines evaluation file: one item per non-blank line, each
/// passed to `check`; the first bad line is an error naming it ("line 3:
/// …"). The evaluation sets of endpointing, ASR clips and overlaps share it.
pub(crate) fn parse_jsonl<T: serde::de::DeserializeOwned>(text: &str, check: impl Fn(&T) -> Result<(), String>) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item: T = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        check(&item).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push(item);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let c = SpeechConfig::default();
        c.validate().unwrap();
        let text = toml::to_string_pretty(&c).unwrap();
        let back: SpeechConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn unknown_speech_fields_are_rejected() {
        let err = toml::from_str::<SpeechConfig>("[vad]\nend_silence = 3\n").unwrap_err();
        assert!(err.to_string().contains("end_silence"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let mut c = SpeechConfig::default();
        c.vad.pause_ms = 900;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("speech.vad.pause_ms"), "{err}");
        let err = toml::from_str::<SpeechConfig>("[tts]\nengine = \"festival\"\n").unwrap_err().to_string();
        assert!(err.contains("festival") && err.contains("piper") && err.contains("espeak-ng"), "{err}");
    }

    #[test]
    fn the_echo_mode_defaults_to_aec_and_an_unknown_mode_is_an_error() {
        assert_eq!(SpeechConfig::default().echo.mode, echo::EchoMode::Aec);
        let c: SpeechConfig = toml::from_str("[echo]\nmode = \"duck\"\n").unwrap();
        assert_eq!(c.echo.mode, echo::EchoMode::Duck);
        let err = toml::from_str::<SpeechConfig>("[echo]\nmode = \"loud\"\n").unwrap_err().to_string();
        assert!(err.contains("loud") && err.contains("aec"), "{err}");
    }

    #[test]
    fn endpointing_defaults_to_adaptive_and_bad_values_name_the_field() {
        let c = SpeechConfig::default();
        assert_eq!(c.endpointing.mode, endpoint::EndpointMode::Adaptive);
        let c: SpeechConfig = toml::from_str("[endpointing]\nmode = \"fixed\"\n").unwrap();
        assert_eq!(c.endpointing.mode, endpoint::EndpointMode::Fixed);
        let err = toml::from_str::<SpeechConfig>("[endpointing]\nmode = \"smart\"\n").unwrap_err().to_string();
        assert!(err.contains("smart") && err.contains("adaptive"), "{err}");
        let err = toml::from_str::<SpeechConfig>("[endpointing]\nshort_ms = 300\n").unwrap_err().to_string();
        assert!(err.contains("short_ms"), "{err}");
        let mut c = SpeechConfig::default();
        c.endpointing.long_silence_ms = 500;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("speech.endpointing.long_silence_ms"), "{err}");
    }

    #[test]
    fn relative_model_paths_resolve_inside_the_models_dir() {
        let c = SttConfig::default();
        assert_eq!(c.model_path(Path::new("/m")), PathBuf::from("/m/ggml-tiny.en.bin"));
        let c = SttConfig { model: "/abs/x.bin".into(), ..SttConfig::default() };
        assert_eq!(c.model_path(Path::new("/m")), PathBuf::from("/abs/x.bin"));
    }
}
