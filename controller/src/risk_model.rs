//! Loads the crisis layer's semantic second opinion for a config: the one
//! place every command (sessions, `attune fingerprint`, `attune eval risk`)
//! gets it from, so they agree on the fingerprint.

use crate::config::data_dir;
use attune_dialogue::crisis::CrisisConfig;
use attune_dialogue::embed::{default_model_dir, Embedder};
use attune_dialogue::engine::SemanticLayer;
use attune_dialogue::semantic::SemanticRisk;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the embedding model is read from for this config.
pub fn model_dir(cfg: &CrisisConfig) -> PathBuf {
    cfg.semantic_model_dir.clone().unwrap_or_else(|| default_model_dir(&data_dir()))
}

/// Loads the semantic layer, or says why it is off or unavailable.
///
/// Design (decided for issue 7): a missing or corrupt model does not stop
/// the robot — the lexical crisis layer still runs, which is what every
/// arm had before — but it is loud: a warning on stderr naming the file and
/// the fix, a `semantic_unavailable` session event (written by the
/// session), and a fingerprint that says "unavailable", so a study cannot
/// mix turns graded with and without it under one fingerprint.
pub fn load(cfg: &CrisisConfig) -> SemanticLayer {
    if !cfg.semantic {
        return SemanticLayer::Off;
    }
    let dir = model_dir(cfg);
    let loaded = Embedder::load(&dir).map_err(|e| e.to_string()).and_then(|e| SemanticRisk::new(Arc::new(e), cfg.semantic_thresholds()).map_err(|e| e.to_string()));
    match loaded {
        Ok(s) => SemanticLayer::On(Arc::new(s)),
        Err(reason) => {
            eprintln!(
                "attune: WARNING: the crisis layer's semantic second opinion is UNAVAILABLE ({reason}); \
                 grading with the lexical layer alone, and the engine fingerprint says so. \
                 Run scripts/fetch-minilm.sh (or scripts/fetch-models.sh), set crisis.semantic_model_dir, \
                 or set crisis.semantic = false to run without it on purpose."
            );
            tracing::warn!(%reason, dir = %dir.display(), "semantic crisis layer unavailable");
            SemanticLayer::Unavailable(reason)
        }
    }
}
