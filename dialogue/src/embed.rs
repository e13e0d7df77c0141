//! Sentence embeddings in-process: all-MiniLM-L6-v2 (a 6-layer BERT,
//! 384-dimensional output) on the CPU through candle, mean-pooled over the
//! attention mask and L2-normalised — the sentence-transformers recipe for
//! this model, so cosine similarity is a plain dot product.
//!
//! Used by the crisis layer's semantic second opinion ([`crate::semantic`])
//! and meant to be reused by the validator (e.g. off-topic checks): one
//! [`Embedder`] per process, shared behind an `Arc`.
//!
//! Design: deterministic for the same input — no sampling, no dropout
//! (inference only), the same weights and tokenizer; the sha256 of the weights
//! file is part of the engine fingerprint so two arms that load different
//! weights cannot share a fingerprint.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// File names inside the model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Tokenizer file (Hugging Face `tokenizers` JSON).
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// BERT config file.
pub const CONFIG_FILE: &str = "config.json";
/// Directory name the set-up script (`scripts/fetch-minilm.sh`) installs under the models dir.
pub const DEFAULT_MODEL_DIR_NAME: &str = "all-MiniLM-L6-v2";
/// sha256 of the `model.safetensors` the set-up script pins.
pub const PINNED_WEIGHTS_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// Why embedding (or loading the embedder) failed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A model file is there but is not what it should be (truncated, wrong format).
    #[error("{path} is not a usable model file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The tokenizer rejected the text.
    #[error("tokenizing failed: {0}")]
    Tokenize(String),
    /// The forward pass failed.
    #[error("embedding forward pass failed: {0}")]
    Model(String),
}

/// A loaded sentence-embedding model. `Send + Sync`; share it behind an `Arc`.
pub struct Embedder {
    /// The BERT encoder.
    model: BertModel,
    /// WordPiece tokenizer with padding turned off.
    tokenizer: Tokenizer,
    /// Always the CPU here.
    device: Device,
    /// sha256 (hex) of the weights file, for the fingerprint.
    weights_sha256: String,
    /// Where it was loaded from (for messages).
    dir: PathBuf,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("dir", &self.dir).field("weights_sha256", &self.weights_sha256).finish()
    }
}

impl Embedder {
    /// Loads `model.safetensors`, `tokenizer.json` and `config.json` from `dir`.
    /// A missing or corrupt file is an error naming the file.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let read = |name: &str| -> Result<Vec<u8>, EmbedError> {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| EmbedError::Read { path, source })
        };
        let corrupt = |name: &str, reason: String| EmbedError::Corrupt { path: dir.join(name), reason };

        let config_bytes = read(CONFIG_FILE)?;
        let config: BertConfig = serde_json::from_slice(&config_bytes).map_err(|e| corrupt(CONFIG_FILE, e.to_string()))?;
        let tok_bytes = read(TOKENIZER_FILE)?;
        let mut tokenizer = Tokenizer::from_bytes(&tok_bytes).map_err(|e| corrupt(TOKENIZER_FILE, e.to_string()))?;
        // Design: the shipped tokenizer.json pads every input to 128 tokens;
        // one sentence is ~15 tokens, so padding would make every call ~4x
        // slower for the same vector (the mask excludes padding anyway).
        tokenizer.with_padding(None);
        let weights = read(WEIGHTS_FILE)?;
        let weights_sha256 = hex::encode(Sha256::digest(&weights));
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device).map_err(|e| corrupt(WEIGHTS_FILE, e.to_string()))?;
        let model = BertModel::load(vb, &config).map_err(|e| corrupt(WEIGHTS_FILE, e.to_string()))?;
        let e = Self { model, tokenizer, device, weights_sha256, dir: dir.to_path_buf() };
        // A file that parses but holds garbage (NaN weights) is caught here
        // rather than on a participant's turn.
        let probe = e.embed("hello")?;
        if probe.iter().any(|x| !x.is_finite()) || probe.is_empty() {
            return Err(corrupt(WEIGHTS_FILE, "the model produces non-finite vectors".into()));
        }
        Ok(e)
    }

    /// sha256 (hex) of the loaded weights file.
    pub fn weights_sha256(&self) -> &str {
        &self.weights_sha256
    }

    /// The directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The unit-length embedding of `text` (384 floats for MiniLM).
    /// Text beyond the tokenizer's truncation length (128 tokens) is cut.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let ids = enc.get_ids();
        let n = ids.len();
        let m = |e: candle_core::Error| EmbedError::Model(e.to_string());
        let input = Tensor::new(ids, &self.device).and_then(|t| t.reshape((1, n))).map_err(m)?;
        let types = input.zeros_like().map_err(m)?;
        let mask = input.ones_like().map_err(m)?;
        let out = self.model.forward(&input, &types, Some(&mask)).map_err(m)?;
        // Mean over tokens (no padding here, so every token counts).
        let pooled = out.mean(1).and_then(|t| t.squeeze(0)).and_then(|t| t.to_vec1::<f32>()).map_err(m)?;
        Ok(l2_normalise(pooled))
    }

    /// Embeddings of several texts (one forward pass each; same vectors as
    /// [`embed`](Self::embed)).
    pub fn embed_all(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        texts.iter().map(|t| self.embed(t)).collect()
    }
}

fn l2_normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

/// Cosine similarity of two vectors (0 when either is zero or the lengths differ).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

/// The models directory's default MiniLM location under a data dir
/// (`<data>/models/all-MiniLM-L6-v2`).
pub fn default_model_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("models").join(DEFAULT_MODEL_DIR_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_a_vector_with_itself_is_one_and_with_its_opposite_minus_one() {
        let a = vec![0.5, -1.0, 2.0];
        let b: Vec<f32> = a.iter().map(|x| -x).collect();
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-6);
        assert!((cosine(&a, &b) + 1.0).abs() < 1e-6);
    }

    #[test]
    fn cosine_of_mismatched_or_zero_vectors_is_zero() {
        assert_eq!(cosine(&[1.0, 2.0], &[1.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
        assert_eq!(cosine(&[], &[]), 0.0);
    }

    #[test]
    fn a_missing_model_dir_is_an_error_naming_the_file() {
        let dir = std::env::temp_dir().join("attune-no-such-model-dir");
        let err = Embedder::load(&dir).unwrap_err();
        assert!(matches!(err, EmbedError::Read { .. }));
        assert!(err.to_string().contains(CONFIG_FILE), "{err}");
    }
}
