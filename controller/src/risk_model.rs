//! Loads the crisis layer's semantic second opinion for a config: the one
//! place every command (sessions, `attune fingerprint`, `attune eval risk`)
//! gets it from, so they agree on the fingerprint.

use crate::config::data_dir;
use attune_dialogue::crisis::CrisisConfig;
use attune_dialogue::embed::{default_model_dir, Embedder};
use attune_dialogue::engine::SemanticLayer;
use attune_dialogue::reader::{default_reader_dir, RiskReader};
use attune_dialogue::semantic::SemanticRisk;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the embedding model is read from for this config.
pub fn model_dir(cfg: &CrisisConfig) -> PathBuf {
    cfg.semantic_model_dir.clone().unwrap_or_else(|| default_model_dir(&data_dir()))
}

/// Where the risk reader is read from (and trained into) for this config.
pub fn reader_dir(cfg: &CrisisConfig) -> PathBuf {
    cfg.reader_dir.clone().unwrap_or_else(|| default_reader_dir(&data_dir()))
}

/// Loads the fine-tuned risk reader for this config, or says why not.
///
/// Design: a missing or stale reader does not stop the robot (the lexical
/// layer and the exemplars still run) but it is loud — a warning naming the
/// directory and the command that makes it — and the fingerprint says
/// "absent", so turns graded with and without it never share one.
pub fn load_reader(cfg: &CrisisConfig) -> Option<Arc<RiskReader>> {
    if !cfg.reader {
        return None;
    }
    let dir = reader_dir(cfg);
    match RiskReader::load(&dir, &model_dir(cfg)) {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            eprintln!(
                "attune: WARNING: the crisis layer's risk reader is ABSENT ({e}); grading with the lexical layer and the exemplars alone, \
                 and the engine fingerprint says so. Run `attune risk-reader train` (about 7 minutes on 2 cores; it needs ESConv), \
                 or set crisis.reader = false to run without it on purpose."
            );
            tracing::warn!(error = %e, dir = %dir.display(), "risk reader unavailable");
            None
        }
    }
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
        Ok(s) => SemanticLayer::On(Arc::new(s.with_reader(load_reader(cfg)))),
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
