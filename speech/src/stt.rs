//! Speech-to-text with whisper.cpp (through whisper-rs).
//!
//! [`WhisperStt`] transcribes one utterance; [`SttWorker`] runs it on its own
//! thread behind bounded channels so the voice loop never waits on whisper.

use crate::audio::SAMPLE_RATE;
use crate::{SpeechError, SttConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Instant;
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

/// whisper's encoder sees 50 positions per second of audio (20 ms each).
const CTX_PER_SECOND: usize = 50;
/// Full encoder window (30 s).
const FULL_AUDIO_CTX: usize = 1_500;
/// Extra encoder positions beyond the utterance. Design: a window cut exactly
/// at the speech end makes tiny.en hallucinate repeats; ~1.3 s of slack is
/// what whisper.cpp's own streaming examples settle on in practice.
const AUDIO_CTX_SLACK: usize = 64;
/// whisper.cpp returns nothing for input under 1 s, so shorter utterances are
/// padded with silence to this length.
const MIN_SAMPLES: usize = (SAMPLE_RATE as usize * 11) / 10;

/// One transcription.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The text, trimmed, with non-speech tags like `[BLANK_AUDIO]` removed.
    pub text: String,
    /// Encoder window used (1500 = the full 30 s).
    pub audio_ctx: usize,
    /// whisper's probability for the token that closes this text when the
    /// text ends a sentence (`.`, `?`, `!`): the sentence-end token whose raw
    /// text up to it, cleaned, is `text` (after a decoding loop that is not
    /// the last token decoded); None when the text ends otherwise.
    /// Adaptive endpointing weighs a full stop by it: whisper closes almost
    /// any clip that ends in silence with one, but less surely after words
    /// the speaker was going on from.
    pub end_p: Option<f32>,
    /// Mean probability of the text's tokens (punctuation included); 0
    /// when there are none. Low on what whisper guesses at: a hum or a
    /// laugh read as words ("Fafar", "Kill him. Kill him." for a short
    /// "Cool.").
    pub mean_p: f32,
}

/// A loaded whisper model and its decoding state.
pub struct WhisperStt {
    /// The model: keeps its weights alive for `state`, and names the special
    /// tokens (`token_eot`) when the transcript's closing token is looked up.
    ctx: WhisperContext,
    /// Decoding state reused across utterances.
    state: WhisperState,
    /// Language code.
    language: String,
    /// CPU threads.
    threads: usize,
    /// Scale `audio_ctx` to the utterance.
    scale_audio_ctx: bool,
}

/// The `audio_ctx` for `n` samples of 16 kHz audio when scaling is on.
pub fn scaled_audio_ctx(n: usize) -> usize {
    let positions = n.div_ceil(SAMPLE_RATE as usize / CTX_PER_SECOND);
    (positions + AUDIO_CTX_SLACK).min(FULL_AUDIO_CTX)
}

/// whisper's decoding parameters for `n_samples` of 16 kHz audio: greedy,
/// no timestamps, one segment, no carried context, `audio_ctx` applied when
/// below the full window. The STT stage and its benchmark's direct
/// whisper-rs call both use this, so they decode identically.
pub fn decode_params(language: &str, threads: usize, n_samples: usize, audio_ctx: usize) -> FullParams<'_, 'static> {
    let mut p = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    p.set_n_threads(threads as i32);
    p.set_language(Some(language));
    p.set_translate(false);
    p.set_no_context(true);
    p.set_no_timestamps(true);
    p.set_single_segment(true);
    p.set_suppress_blank(true);
    p.set_print_special(false);
    p.set_print_progress(false);
    p.set_print_realtime(false);
    p.set_print_timestamps(false);
    p.set_temperature_inc(0.0);
    // Design: tiny.en can loop on noisy or clipped audio until the text
    // context is full (seconds of decoding). People say ~3 words (~4-5
    // tokens) a second; allow double that.
    p.set_max_tokens((16 + 10 * n_samples / SAMPLE_RATE as usize) as i32);
    if audio_ctx < FULL_AUDIO_CTX {
        p.set_audio_ctx(audio_ctx as i32);
    }
    p
}

impl WhisperStt {
    /// Loads a GGML whisper model. A missing or corrupt file is a clear error.
    pub fn load(path: &Path, cfg: &SttConfig) -> Result<WhisperStt, SpeechError> {
        let err = |msg: String| SpeechError::Model { path: path.to_path_buf(), msg };
        let meta = std::fs::metadata(path).map_err(|e| {
            err(format!("{e}; run scripts/fetch-models.sh to fetch and convert whisper tiny.en, or set speech.stt.model"))
        })?;
        if !meta.is_file() {
            return Err(err("not a file".into()));
        }
        // whisper.cpp does not check for a short read; a truncated file would load garbage.
        inspect_ggml(path)?;
        whisper_rs::install_logging_hooks();
        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        let ctx = WhisperContext::new_with_params(path, params)
            .map_err(|e| err(format!("whisper.cpp could not load it (truncated or corrupt?): {e}")))?;
        let state = ctx.create_state().map_err(|e| err(format!("cannot create decoding state: {e}")))?;
        Ok(WhisperStt {
            ctx,
            state,
            language: cfg.language.clone(),
            threads: cfg.thread_count(),
            scale_audio_ctx: cfg.scale_audio_ctx,
        })
    }

    /// Switches `audio_ctx` scaling (benchmarks compare both).
    pub fn set_scale_audio_ctx(&mut self, on: bool) {
        self.scale_audio_ctx = on;
    }

    /// Transcribes 16 kHz mono audio (at most 30 s).
    pub fn transcribe(&mut self, samples: &[f32]) -> Result<Transcript, SpeechError> {
        self.transcribe_unless(samples, None)
    }

    /// Transcribes like [`WhisperStt::transcribe`], but gives up with
    /// [`SpeechError::SttAborted`] as soon as `cancel` is set: before
    /// starting, after the encoder, or between two decoded tokens (whisper.cpp
    /// asks its abort callback there; the encoder itself runs to its end).
    /// The state stays usable.
    pub fn transcribe_unless(&mut self, samples: &[f32], cancel: Option<&AtomicBool>) -> Result<Transcript, SpeechError> {
        if cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
            return Err(SpeechError::SttAborted);
        }
        let max = SAMPLE_RATE as usize * 30;
        let mut audio: Vec<f32> = samples[..samples.len().min(max)].to_vec();
        if audio.len() < MIN_SAMPLES {
            audio.resize(MIN_SAMPLES, 0.0);
        }
        let audio_ctx = if self.scale_audio_ctx { scaled_audio_ctx(audio.len()) } else { FULL_AUDIO_CTX };
        let mut p = decode_params(&self.language, self.threads, audio.len(), audio_ctx);
        if let Some(flag) = cancel {
            // Design: whisper-rs's `set_abort_callback_safe` hands whisper.cpp
            // a pointer to a boxed trait object but reads it back as the
            // closure's own type, so the raw setters are used instead, with
            // a plain function and a pointer to the flag. The flag outlives
            // the call: `full` returns before `transcribe_unless` does.
            //
            // SAFETY: `abort_if_set` only reads an `AtomicBool` through the
            // pointer, which points at `flag`, borrowed for this whole call.
            unsafe {
                p.set_abort_callback(Some(abort_if_set));
                p.set_abort_callback_user_data(flag as *const AtomicBool as *mut std::ffi::c_void);
            }
        }
        let r = self.state.full(p, &audio);
        if cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
            return Err(SpeechError::SttAborted);
        }
        r.map_err(|e| SpeechError::Stt(format!("whisper failed: {e}")))?;
        let mut text = String::new();
        // Sentence ends among the text tokens (special tokens such as
        // end-of-text have ids from `token_eot` up), each with the raw text
        // up to it and its probability. The one whose text, cleaned, is the
        // transcript's is the transcript's own end: `clean_text` drops tags
        // and a decoding loop's repeats, so it need not be the last token.
        let eot = self.ctx.token_eot();
        let mut ends: Vec<(String, f32)> = Vec::new();
        let mut raw = String::new();
        let (mut p_sum, mut p_n) = (0.0f32, 0usize);
        for seg in self.state.as_iter() {
            if let Ok(s) = seg.to_str_lossy() {
                text.push_str(&s);
            }
            for i in 0..seg.n_tokens() {
                let Some(tok) = seg.get_token(i) else { continue };
                if tok.token_id() >= eot {
                    continue;
                }
                let Ok(t) = tok.to_str_lossy() else { continue };
                p_sum += tok.token_probability();
                p_n += 1;
                raw.push_str(&t);
                if t.trim_end().ends_with(['.', '?', '!']) {
                    ends.push((raw.clone(), tok.token_probability()));
                }
            }
        }
        let text = clean_text(&text);
        let end_p = if text.ends_with(['.', '?', '!']) {
            ends.iter().find(|(upto, _)| clean_text(upto) == text).or(ends.last()).map(|(_, p)| *p)
        } else {
            None
        };
        let mean_p = if p_n == 0 { 0.0 } else { p_sum / p_n as f32 };
        Ok(Transcript { text, audio_ctx, end_p, mean_p })
    }
}

/// whisper.cpp's abort callback: true (stop) once the flag is set.
unsafe extern "C" fn abort_if_set(user_data: *mut std::ffi::c_void) -> bool {
    if user_data.is_null() {
        return false;
    }
    // SAFETY: `transcribe_unless` passes a pointer to an `AtomicBool` that
    // lives until whisper.cpp returns.
    let flag = unsafe { &*(user_data as *const AtomicBool) };
    flag.load(Ordering::Acquire)
}

/// Transcribes a whole file's audio the way `attune transcribe` does: whisper
/// hears 30 s at a time, so longer audio goes in 28 s pieces whose texts are
/// joined.
pub fn transcribe_long(stt: &mut WhisperStt, samples: &[f32]) -> Result<String, SpeechError> {
    let piece = 28 * SAMPLE_RATE as usize;
    let mut parts = Vec::new();
    for chunk in samples.chunks(piece) {
        let t = stt.transcribe(chunk)?;
        if !t.text.is_empty() {
            parts.push(t.text);
        }
    }
    Ok(parts.join(" "))
}

/// The header of a GGML whisper model and what the structure check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgmlInfo {
    /// The eleven header integers, in file order: n_vocab, n_audio_ctx,
    /// n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, n_text_state,
    /// n_text_head, n_text_layer, n_mels, ftype.
    pub hparams: [i32; 11],
    /// Mel filter bank shape.
    pub mel_rows: i32,
    /// See above.
    pub mel_cols: i32,
    /// Vocabulary entries stored.
    pub n_tokens: i32,
    /// Tensors stored.
    pub n_tensors: usize,
}

/// Walks a whole GGML whisper file (header, mel filters, vocabulary, every
/// tensor header and its data size) without loading it, so a truncated or
/// foreign file is refused with a reason before whisper.cpp sees it.
pub fn inspect_ggml(path: &Path) -> Result<GgmlInfo, SpeechError> {
    use std::io::{Read, Seek, SeekFrom};
    let err = |msg: String| SpeechError::Model { path: path.to_path_buf(), msg };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let len = file.metadata().map_err(|e| err(e.to_string()))?.len();
    let mut r = std::io::BufReader::new(file);
    let mut pos: u64 = 0;
    let i32s = |r: &mut std::io::BufReader<std::fs::File>, pos: &mut u64, out: &mut [i32]| -> Result<(), SpeechError> {
        for v in out.iter_mut() {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).map_err(|_| err(format!("truncated at byte {}", *pos)))?;
            *pos += 4;
            *v = i32::from_le_bytes(b);
        }
        Ok(())
    };
    let skip = |r: &mut std::io::BufReader<std::fs::File>, pos: &mut u64, n: i64| -> Result<(), SpeechError> {
        if n < 0 || *pos + n as u64 > len {
            return Err(SpeechError::Model { path: path.to_path_buf(), msg: format!("truncated at byte {}", *pos) });
        }
        r.seek(SeekFrom::Current(n)).map_err(|e| SpeechError::Model { path: path.to_path_buf(), msg: e.to_string() })?;
        *pos += n as u64;
        Ok(())
    };
    let mut magic = [0i32; 1];
    i32s(&mut r, &mut pos, &mut magic).map_err(|_| err("too short to be a model".into()))?;
    if magic[0] as u32 != 0x6767_6d6c {
        return Err(err("not a GGML whisper model (bad magic)".into()));
    }
    let mut hp = [0i32; 11];
    i32s(&mut r, &mut pos, &mut hp)?;
    if hp[..10].iter().any(|&v| v <= 0 || v > 1_000_000) {
        return Err(err(format!("implausible header values {hp:?}")));
    }
    let mut mel = [0i32; 2];
    i32s(&mut r, &mut pos, &mut mel)?;
    skip(&mut r, &mut pos, 4 * mel[0] as i64 * mel[1] as i64)?;
    let mut n_tok = [0i32; 1];
    i32s(&mut r, &mut pos, &mut n_tok)?;
    for _ in 0..n_tok[0].max(0) {
        let mut l = [0i32; 1];
        i32s(&mut r, &mut pos, &mut l)?;
        skip(&mut r, &mut pos, l[0] as i64)?;
    }
    let mut n_tensors = 0usize;
    while pos < len {
        let mut h = [0i32; 3];
        i32s(&mut r, &mut pos, &mut h)?;
        let (n_dims, name_len, ttype) = (h[0], h[1], h[2]);
        if !(1..=4).contains(&n_dims) || !(1..=256).contains(&name_len) {
            return Err(err(format!("bad tensor header at byte {}", pos - 12)));
        }
        let bytes_per = match ttype {
            0 => 4,
            1 => 2,
            t => return Err(err(format!("tensor type {t} not supported by this check (f32/f16 only)"))),
        };
        let mut dims = [0i32; 4];
        i32s(&mut r, &mut pos, &mut dims[..n_dims as usize])?;
        let n: i64 = dims[..n_dims as usize].iter().map(|&d| d as i64).product();
        skip(&mut r, &mut pos, name_len as i64)?;
        skip(&mut r, &mut pos, n * bytes_per)?;
        n_tensors += 1;
    }
    // Per layer: encoder 15 tensors, decoder 24; plus 7 encoder and 4 decoder others.
    let expected = 7 + 15 * hp[4] as usize + 4 + 24 * hp[8] as usize;
    if n_tensors != expected {
        return Err(err(format!("{n_tensors} tensors, expected {expected} for {} + {} layers", hp[4], hp[8])));
    }
    Ok(GgmlInfo { hparams: hp, mel_rows: mel[0], mel_cols: mel[1], n_tokens: n_tok[0], n_tensors })
}

/// Removes whisper's non-speech annotations (`[BLANK_AUDIO]`, `(wind)`,
/// `{noise}`, `*music*`) and squeezes whitespace.
pub fn clean_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut depth_sq = 0;
    let mut depth_par = 0;
    let mut depth_br = 0;
    let mut star = false;
    for ch in raw.chars() {
        match ch {
            '[' => depth_sq += 1,
            ']' if depth_sq > 0 => depth_sq -= 1,
            '(' => depth_par += 1,
            ')' if depth_par > 0 => depth_par -= 1,
            '{' => depth_br += 1,
            '}' if depth_br > 0 => depth_br -= 1,
            '*' => star = !star,
            _ if depth_sq == 0 && depth_par == 0 && depth_br == 0 && !star => out.push(ch),
            _ => {}
        }
    }
    collapse_repeats(&out.split_whitespace().collect::<Vec<_>>())
}

/// Removes decoding loops: a run of words repeated back to back ("Can you
/// help? Can you help? Can you help?") keeps one copy, and a trailing
/// fragment that only restarts the repeated phrase is dropped.
///
/// Design: whisper with a shortened `audio_ctx` (and tiny.en generally)
/// sometimes re-decodes the same span until `max_tokens`; measured here on
/// espeak-ng speech. People do repeat themselves, but a phrase of 3+ words
/// said twice in a row verbatim is far rarer than this failure.
pub fn collapse_repeats(words: &[&str]) -> String {
    let norm = |w: &str| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    let keys: Vec<String> = words.iter().map(|w| norm(w)).collect();
    let mut out: Vec<usize> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        out.push(i);
        i += 1;
        // Does the text just emitted (a phrase of len n ending at i) repeat at i?
        for n in (3..=out.len().min(40)).rev() {
            let start = out[out.len() - n];
            let phrase: Vec<&String> = out[out.len() - n..].iter().map(|&k| &keys[k]).collect();
            if out[out.len() - n..].windows(2).any(|w| w[1] != w[0] + 1) || start + n != i {
                continue;
            }
            let mut j = i;
            let mut reps = 0;
            while j + n <= words.len() && (0..n).all(|k| &keys[j + k] == phrase[k]) {
                j += n;
                reps += 1;
            }
            if reps > 0 {
                // Drop a trailing partial restart of the phrase too.
                let mut k = 0;
                while j + k < words.len() && k < n && keys[j + k] == *phrase[k] {
                    k += 1;
                }
                if j + k == words.len() {
                    j += k;
                }
                i = j;
                break;
            }
        }
    }
    out.iter().map(|&k| words[k]).collect::<Vec<_>>().join(" ")
}

/// A job for the STT worker.
#[derive(Debug)]
pub struct SttJob {
    /// Caller's utterance id, returned with the result.
    pub id: u64,
    /// 16 kHz mono audio.
    pub samples: Vec<f32>,
    /// Set by the caller when the result is no longer wanted: the worker
    /// then skips the job, or stops whisper mid-way, and answers
    /// [`SpeechError::SttAborted`] (the single whisper thread is free again).
    pub cancel: Option<Arc<AtomicBool>>,
}

/// A finished job.
#[derive(Debug)]
pub struct SttResult {
    /// The job's id.
    pub id: u64,
    /// Text or the error for this utterance alone.
    pub result: Result<Transcript, SpeechError>,
    /// Wall time whisper took.
    pub elapsed_ms: u64,
}

/// whisper on a dedicated thread.
///
/// Design: jobs queue holds 4 utterances; when full, [`SttWorker::submit`]
/// hands the job back (the caller drops that utterance and logs it) rather
/// than blocking the audio path. Results queue holds 4; the voice loop
/// drains it every frame.
pub struct SttWorker {
    /// Job queue (bounded, 4).
    jobs: Option<SyncSender<SttJob>>,
    /// Result queue (bounded, 4).
    results: Receiver<SttResult>,
    /// The thread, joined on drop.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SttWorker {
    /// Loads the model (on the calling thread, so errors surface before any
    /// audio runs) and starts the worker.
    pub fn start(model: &Path, cfg: &SttConfig) -> Result<SttWorker, SpeechError> {
        let mut stt = WhisperStt::load(model, cfg)?;
        // Warm-up: whisper.cpp sizes its buffers on the first call; pay that
        // here, not on the participant's first turn.
        stt.transcribe(&vec![0.0; SAMPLE_RATE as usize])?;
        Ok(Self::from_stt(stt))
    }

    /// Starts a worker around an already loaded model.
    pub fn from_stt(mut stt: WhisperStt) -> SttWorker {
        let (jtx, jrx) = mpsc::sync_channel::<SttJob>(4);
        let (rtx, rrx) = mpsc::sync_channel::<SttResult>(4);
        let thread = std::thread::Builder::new()
            .name("attune-stt".into())
            .spawn(move || {
                while let Ok(job) = jrx.recv() {
                    let t0 = Instant::now();
                    let result = stt.transcribe_unless(&job.samples, job.cancel.as_deref());
                    let elapsed_ms = t0.elapsed().as_millis() as u64;
                    if rtx.send(SttResult { id: job.id, result, elapsed_ms }).is_err() {
                        break;
                    }
                }
            })
            .ok();
        SttWorker { jobs: Some(jtx), results: rrx, thread }
    }

    /// Queues a job; a full queue or a dead worker hands it back.
    pub fn submit(&self, job: SttJob) -> Result<(), SttJob> {
        match &self.jobs {
            Some(tx) => tx.try_send(job).map_err(|e| match e {
                TrySendError::Full(j) | TrySendError::Disconnected(j) => j,
            }),
            None => Err(job),
        }
    }

    /// A finished result, if any (never blocks).
    pub fn try_result(&self) -> Option<SttResult> {
        self.results.try_recv().ok()
    }

    /// Waits for the next result (for one-shot use such as `attune transcribe`).
    pub fn wait_result(&self) -> Result<SttResult, SpeechError> {
        self.results.recv().map_err(|_| SpeechError::Worker("STT thread ended".into()))
    }
}

impl Drop for SttWorker {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Default model location for tests and benches: `$ATTUNE_HOME/models`,
/// else `$XDG_DATA_HOME/attune/models`, else `~/.local/share/attune/models`
/// (the same rule as the controller's data dir).
pub fn default_models_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("ATTUNE_HOME") {
        return PathBuf::from(h).join("models");
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(x).join("attune/models");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/attune/models")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_speech_tags_are_removed() {
        assert_eq!(clean_text(" [BLANK_AUDIO] "), "");
        assert_eq!(clean_text(" Hello (wind blowing) there. *music*"), "Hello there.");
    }

    #[test]
    fn decoding_loops_collapse_to_one_copy() {
        assert_eq!(clean_text("Can you give me some ideas? Can you give me some ideas? Can you give me some ideas?"), "Can you give me some ideas?");
        assert_eq!(
            clean_text("My mom has been sick and I am scared. My mom has been sick and I am scared. My mom"),
            "My mom has been sick and I am scared."
        );
    }

    #[test]
    fn ordinary_speech_and_short_repeats_are_kept() {
        assert_eq!(clean_text("no no no I said it was fine"), "no no no I said it was fine");
        assert_eq!(clean_text("I feel sad. I feel tired too."), "I feel sad. I feel tired too.");
        assert_eq!(clean_text("really really tired"), "really really tired");
        assert_eq!(clean_text(""), "");
    }

    #[test]
    fn audio_ctx_scales_with_length_and_caps_at_thirty_seconds() {
        assert_eq!(scaled_audio_ctx(16_000 * 2), 100 + AUDIO_CTX_SLACK);
        assert!(scaled_audio_ctx(16_000 * 5) > scaled_audio_ctx(16_000 * 2));
        assert_eq!(scaled_audio_ctx(16_000 * 40), FULL_AUDIO_CTX);
    }

    #[test]
    fn a_missing_model_is_a_clear_error() {
        let Err(e) = WhisperStt::load(Path::new("/nonexistent/ggml.bin"), &SttConfig::default()) else {
            panic!("loaded a missing model")
        };
        let e = e.to_string();
        assert!(e.contains("/nonexistent/ggml.bin") && e.contains("fetch-models"), "{e}");
    }

    #[test]
    fn a_corrupt_model_is_a_clear_error_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.bin");
        std::fs::write(&p, vec![7u8; 4096]).unwrap();
        let Err(e) = WhisperStt::load(&p, &SttConfig::default()) else { panic!("loaded junk") };
        assert!(e.to_string().contains("bad magic"), "{e}");
        // Right magic, truncated body: whisper.cpp itself must reject it.
        let mut bytes = 0x6767_6d6cu32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[1, 0, 0, 0, 2, 0]);
        std::fs::write(&p, bytes).unwrap();
        let Err(e) = WhisperStt::load(&p, &SttConfig::default()) else { panic!("loaded truncated") };
        assert!(e.to_string().contains("junk.bin") && e.to_string().contains("truncated"), "{e}");
    }
}
