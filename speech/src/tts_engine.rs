//! Which voice speaks: `[speech.tts] engine` and `fallback`, and
//! [`open_tts`], which starts the configured engine (or its fallback) and
//! says which one is active and why.

use crate::piper::PiperTts;
use crate::tts::{EspeakTts, Tts};
use crate::{SpeechError, TtsConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `[speech.tts] engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TtsEngine {
    /// The Piper neural voice on ONNX Runtime.
    #[serde(rename = "piper")]
    Piper,
    /// espeak-ng, run as a program per sentence.
    #[serde(rename = "espeak-ng")]
    EspeakNg,
}

impl TtsEngine {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            TtsEngine::Piper => "piper",
            TtsEngine::EspeakNg => "espeak-ng",
        }
    }
}

/// `[speech.tts] fallback`: what speaks when piper cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TtsFallback {
    /// espeak-ng, with a warning naming what is wrong with piper.
    #[serde(rename = "espeak-ng")]
    EspeakNg,
    /// None: start-up fails with the error.
    #[serde(rename = "none")]
    None,
}

impl TtsConfig {
    /// Threads piper's model gets.
    pub fn piper_thread_count(&self) -> usize {
        if self.piper_threads > 0 {
            return self.piper_threads as usize;
        }
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(2)
    }
}

/// The voice that started.
pub struct OpenedTts {
    /// The engine, ready for a [`crate::tts::TtsWorker`].
    pub tts: Box<dyn Tts>,
    /// Which engine it is.
    pub engine: TtsEngine,
    /// One line for the start-up banner: the engine and its files, and, for a
    /// fallback, why the configured engine did not start.
    pub description: String,
    /// Set when the configured engine failed and the fallback speaks.
    pub fallback_reason: Option<SpeechError>,
}

/// Starts the configured engine. With `engine = "piper"`, a missing or broken
/// voice model, voice config or ONNX Runtime library is an error naming the
/// file, unless `fallback = "espeak-ng"`, when espeak-ng starts instead and
/// the error is kept in [`OpenedTts::fallback_reason`] for the caller to say.
/// `warm_up` synthesises one short sentence at start, so the first reply
/// does not also pay for ONNX Runtime's first-run allocations.
pub fn open_tts(cfg: &TtsConfig, models_dir: &Path, warm_up: bool) -> Result<OpenedTts, SpeechError> {
    match cfg.engine {
        TtsEngine::EspeakNg => {
            let tts = EspeakTts::new(cfg)?;
            Ok(OpenedTts {
                tts: Box::new(tts),
                engine: TtsEngine::EspeakNg,
                description: format!("espeak-ng (voice {}, {} wpm)", cfg.voice, cfg.rate_wpm),
                fallback_reason: None,
            })
        }
        TtsEngine::Piper => {
            let started = PiperTts::new(cfg, models_dir).and_then(|mut p| {
                if warm_up {
                    p.synthesize("Hello.")?;
                }
                Ok(p)
            });
            match started {
                Ok(p) => Ok(OpenedTts { description: p.describe(), tts: Box::new(p), engine: TtsEngine::Piper, fallback_reason: None }),
                Err(e) if cfg.fallback == TtsFallback::EspeakNg => {
                    let tts = EspeakTts::new(cfg)?;
                    Ok(OpenedTts {
                        tts: Box::new(tts),
                        engine: TtsEngine::EspeakNg,
                        description: format!("espeak-ng (voice {}, {} wpm; fallback: piper did not start: {e})", cfg.voice, cfg.rate_wpm),
                        fallback_reason: Some(e),
                    })
                }
                Err(e) => Err(e),
            }
        }
    }
}
