//! Piper neural text-to-speech: espeak-ng phonemes (run as a program), the
//! voice's VITS model run by ONNX Runtime (loaded at run time with `ort`'s
//! `load-dynamic`), resampled to the loop's 16 kHz.
//!
//! # Pipeline, per sentence
//! 1. [`split_clauses`] cuts the text at clause punctuation (`, ; : . ! ?`
//!    followed by a space or the end) and remembers each clause's mark.
//! 2. [`espeak_ipa`] runs `espeak-ng -q --ipa -v VOICE` once with one clause
//!    per line; espeak-ng prints one IPA line per clause. Where it splits a
//!    clause further (abbreviations), each clause is phonemised on its own.
//!    espeak-ng is GPL-3.0: it is only ever a separate process, never linked.
//! 3. [`PhonemeIds::encode`] maps each IPA character to the voice's ids with
//!    Piper's conventions: `^` first, `_` after every symbol, `$` last; a
//!    clause's mark follows its phonemes, and `,` `;` `:` add a space.
//! 4. The model (inputs `input` [1,N] i64, `input_lengths` [1] i64, `scales`
//!    [noise_scale, length_scale, noise_w] f32, and `sid` for multi-speaker
//!    voices) gives 22 050 Hz audio, peak-normalised and low-pass resampled
//!    by [`resample_sinc`].
//!
//! Sentences that end inside the text (`.` `!` `?` before another clause)
//! are synthesised one after the other, as Piper does.

use crate::audio::SAMPLE_RATE;
use crate::tts::{run_with_input, Tts};
use crate::{SpeechError, TtsConfig};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Piper's beginning-of-utterance symbol.
const BOS: char = '^';
/// Piper's end-of-utterance symbol.
const EOS: char = '$';
/// Piper's padding symbol, placed after every symbol.
const PAD: char = '_';

/// The parts of a Piper voice's `.onnx.json` that synthesis needs.
#[derive(Debug, Clone, Deserialize)]
pub struct VoiceConfig {
    /// Output rate of the model.
    pub audio: VoiceAudio,
    /// The espeak-ng voice the model was trained with.
    pub espeak: VoiceEspeak,
    /// Default sampling scales.
    pub inference: VoiceInference,
    /// "espeak" (IPA from espeak-ng); "text" voices are not supported.
    #[serde(default = "default_phoneme_type")]
    pub phoneme_type: String,
    /// Phoneme (one Unicode character) → model ids.
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    /// Speakers in the model; > 1 needs a `sid` input.
    #[serde(default = "one")]
    pub num_speakers: u32,
}

fn default_phoneme_type() -> String {
    "espeak".into()
}
fn one() -> u32 {
    1
}

/// `audio` in the voice config.
#[derive(Debug, Clone, Deserialize)]
pub struct VoiceAudio {
    /// Hz of the model's output.
    pub sample_rate: u32,
}

/// `espeak` in the voice config.
#[derive(Debug, Clone, Deserialize)]
pub struct VoiceEspeak {
    /// espeak-ng voice name, e.g. "en-us".
    pub voice: String,
}

/// `inference` in the voice config.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct VoiceInference {
    /// Noise added to the prior (expressiveness).
    pub noise_scale: f32,
    /// Phoneme duration multiplier (> 1 = slower).
    pub length_scale: f32,
    /// Noise in the duration predictor.
    pub noise_w: f32,
}

impl VoiceConfig {
    /// Parses and checks a voice config; errors name the file.
    pub fn load(path: &Path) -> Result<VoiceConfig, SpeechError> {
        let bad = |msg: String| SpeechError::TtsModel { path: path.to_path_buf(), msg };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read the voice config: {e}")))?;
        let cfg: VoiceConfig = serde_json::from_str(&text).map_err(|e| bad(format!("not a Piper voice config: {e}")))?;
        if cfg.phoneme_type != "espeak" {
            return Err(bad(format!("phoneme_type {:?} is not supported (only \"espeak\")", cfg.phoneme_type)));
        }
        if !(8_000..=48_000).contains(&cfg.audio.sample_rate) {
            return Err(bad(format!("audio.sample_rate {} is out of range", cfg.audio.sample_rate)));
        }
        for sym in [BOS, EOS, PAD] {
            if cfg.phoneme_id_map.get(&sym.to_string()).is_none_or(|v| v.is_empty()) {
                return Err(bad(format!("phoneme_id_map lacks Piper's {sym:?} symbol")));
            }
        }
        let i = cfg.inference;
        if !(i.noise_scale.is_finite() && i.length_scale.is_finite() && i.noise_w.is_finite()) || i.length_scale <= 0.0 {
            return Err(bad("inference scales must be finite, length_scale above 0".into()));
        }
        Ok(cfg)
    }
}

/// A clause of a sentence and the punctuation that ended it.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// The words, without the closing mark.
    pub text: String,
    /// `, ; : . ! ?` or `None` at the end of text without a mark.
    pub mark: Option<char>,
}

/// Marks that end a clause when a space or the end of text follows them.
const CLAUSE_MARKS: [char; 6] = [',', ';', ':', '.', '!', '?'];

/// Cuts text into clauses at `, ; : . ! ?` followed by whitespace or the end
/// (so "5.50" and "e.g" stay whole). Runs of marks ("?!", "...") end one
/// clause with the first mark. Clauses with no letters or digits are dropped.
pub fn split_clauses(text: &str) -> Vec<Clause> {
    let chars: Vec<char> = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if CLAUSE_MARKS.contains(&c) {
            let mut j = i;
            while j < chars.len() && CLAUSE_MARKS.contains(&chars[j]) {
                j += 1;
            }
            if j == chars.len() || chars[j].is_whitespace() {
                push_clause(&mut out, &cur, Some(c));
                cur.clear();
                i = j;
                continue;
            }
        }
        cur.push(c);
        i += 1;
    }
    push_clause(&mut out, &cur, None);
    out
}

fn push_clause(out: &mut Vec<Clause>, text: &str, mark: Option<char>) {
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().any(|c| c.is_alphanumeric()) {
        out.push(Clause { text: t, mark });
    } else if let (Some(last), Some(m)) = (out.last_mut(), mark) {
        // "Really?!" or a mark after a quote: keep the first mark.
        if last.mark.is_none() {
            last.mark = Some(m);
        }
    }
}

/// True for marks that end a sentence (Piper synthesises each sentence alone).
fn ends_sentence(mark: Option<char>) -> bool {
    matches!(mark, Some('.' | '!' | '?'))
}

/// IPA for each clause from espeak-ng (one process for all clauses; one per
/// clause where espeak-ng's own clause split differs from ours).
pub fn espeak_ipa(program: &str, voice: &str, clauses: &[Clause], timeout: Duration) -> Result<Vec<String>, SpeechError> {
    if clauses.is_empty() {
        return Ok(Vec::new());
    }
    let args = ["-q", "--ipa", "-v", voice];
    let run = |text: &str| -> Result<Vec<String>, SpeechError> {
        let out = run_with_input(program, &args, text, timeout)?;
        let s = String::from_utf8(out).map_err(|_| SpeechError::Tts("espeak-ng printed invalid UTF-8".into()))?;
        Ok(s.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect())
    };
    // Design: each clause on its own line; espeak-ng ends a clause at a line
    // break, so it prints one line per clause unless it splits one itself.
    let input: String = clauses.iter().map(|c| format!("{}\n", c.text)).collect();
    let lines = run(&input)?;
    if lines.len() == clauses.len() {
        return Ok(lines);
    }
    clauses.iter().map(|c| run(&format!("{}\n", c.text)).map(|l| l.join(" "))).collect()
}

/// The voice's symbol table.
#[derive(Debug, Clone)]
pub struct PhonemeIds {
    /// Character → ids.
    map: HashMap<char, Vec<i64>>,
}

impl PhonemeIds {
    /// From a voice config's `phoneme_id_map` (keys longer than one character
    /// are never produced by espeak-ng's IPA and are skipped).
    pub fn new(cfg: &VoiceConfig) -> PhonemeIds {
        let mut map = HashMap::new();
        for (k, v) in &cfg.phoneme_id_map {
            let mut it = k.chars();
            if let (Some(c), None) = (it.next(), it.next()) {
                map.insert(c, v.clone());
            }
        }
        PhonemeIds { map }
    }

    /// Ids of one sentence: `^ _`, then each phoneme and `_`, then `$`.
    /// `ipa` pairs each clause's IPA with its closing mark. Characters the
    /// voice does not know (espeak-ng's tie marks, for one) are skipped and
    /// counted in the second value.
    pub fn encode(&self, ipa: &[(String, Option<char>)]) -> (Vec<i64>, usize) {
        let mut ids = Vec::new();
        let mut skipped = 0;
        let pad = self.map.get(&PAD).cloned().unwrap_or_default();
        let mut push = |c: char, ids: &mut Vec<i64>| match self.map.get(&c) {
            Some(v) => {
                ids.extend_from_slice(v);
                ids.extend_from_slice(&pad);
            }
            None => skipped += 1,
        };
        if let Some(b) = self.map.get(&BOS) {
            ids.extend_from_slice(b);
            ids.extend_from_slice(&pad);
        }
        for (i, (phonemes, mark)) in ipa.iter().enumerate() {
            for c in phonemes.chars() {
                if c == '\u{200d}' {
                    continue; // zero-width joiner: espeak-ng's tie, not a phoneme
                }
                push(c, &mut ids);
            }
            match mark {
                Some(m @ (',' | ';' | ':')) => {
                    push(*m, &mut ids);
                    push(' ', &mut ids);
                }
                Some(m) => push(*m, &mut ids),
                // A clause that ran into the next without a mark.
                None if i + 1 < ipa.len() => push(' ', &mut ids),
                None => {}
            }
        }
        if let Some(e) = self.map.get(&EOS) {
            ids.extend_from_slice(e);
        }
        (ids, skipped)
    }
}

/// Resamples a whole buffer with a windowed-sinc low-pass (Blackman window,
/// cut-off at 0.9 × the lower Nyquist rate), so Piper's 8-11 kHz sibilance
/// does not alias into the 16 kHz output as the loop's linear resampler would.
pub fn resample_sinc(input: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == to_hz || input.is_empty() || from_hz == 0 || to_hz == 0 {
        return input.to_vec();
    }
    const HALF_TAPS: i64 = 16;
    let ratio = to_hz as f64 / from_hz as f64;
    let cutoff = 0.9 * ratio.min(1.0); // in cycles per input sample × 2
    let width = HALF_TAPS as f64 / cutoff.min(1.0);
    let n_out = (input.len() as f64 * ratio).floor() as usize;
    let mut out = Vec::with_capacity(n_out);
    for n in 0..n_out {
        let t = n as f64 / ratio;
        let lo = (t - width).ceil().max(0.0) as i64;
        let hi = ((t + width).floor() as i64).min(input.len() as i64 - 1);
        let mut acc = 0.0f64;
        let mut norm = 0.0f64;
        for k in lo..=hi {
            let x = k as f64 - t;
            let sinc = if x.abs() < 1e-9 { 1.0 } else { (std::f64::consts::PI * cutoff * x).sin() / (std::f64::consts::PI * cutoff * x) };
            let w = x / width; // -1..1
            let blackman = 0.42 + 0.5 * (std::f64::consts::PI * w).cos() + 0.08 * (2.0 * std::f64::consts::PI * w).cos();
            let h = sinc * blackman;
            acc += h * input[k as usize] as f64;
            norm += h;
        }
        out.push(if norm.abs() > 1e-9 { (acc / norm) as f32 } else { 0.0 });
    }
    out
}

/// Where Piper's files are and how it runs, resolved from `[speech.tts]`.
#[derive(Debug, Clone)]
pub struct PiperPaths {
    /// The voice model (.onnx).
    pub model: PathBuf,
    /// Its config (`<model>.json`).
    pub config: PathBuf,
    /// libonnxruntime.so.
    pub onnxruntime: PathBuf,
}

impl PiperPaths {
    /// Paths from config; relative ones are inside `models_dir`.
    pub fn resolve(cfg: &TtsConfig, models_dir: &Path) -> PiperPaths {
        let abs = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { models_dir.join(p) };
        let model = abs(&cfg.piper_model);
        let mut config = model.clone().into_os_string();
        config.push(".json");
        PiperPaths { model, config: PathBuf::from(config), onnxruntime: abs(&cfg.onnxruntime) }
    }
}

/// The library ONNX Runtime was loaded from in this process, and its environment.
static LOADED_ORT: std::sync::Mutex<Option<(PathBuf, ort::environment::Environment)>> = std::sync::Mutex::new(None);

/// Loads ONNX Runtime from `lib` (once per process); errors name the file.
///
/// Design: `ort` keeps the first library it loads for the rest of the
/// process and silently ignores a later, different path, and ONNX Runtime
/// allows one environment per process. So the first library and its
/// environment are kept here: the same path again shares them, another path
/// is an error rather than a voice running on a library other than the one
/// configured.
pub fn load_onnxruntime(lib: &Path) -> Result<ort::environment::Environment, SpeechError> {
    let bad = |msg: String| SpeechError::OnnxRuntime { path: lib.to_path_buf(), msg };
    let meta = std::fs::metadata(lib).map_err(|e| bad(format!("cannot open ({e}); run scripts/fetch-models.sh or set speech.tts.onnxruntime")))?;
    if !meta.is_file() {
        return Err(bad("is not a file".into()));
    }
    let canonical = std::fs::canonicalize(lib).unwrap_or_else(|_| lib.to_path_buf());
    let mut loaded = LOADED_ORT.lock().unwrap_or_else(|p| p.into_inner());
    match &*loaded {
        Some((first, env)) if *first == canonical => return Ok(env.clone()),
        Some((first, _)) => {
            return Err(bad(format!("another ONNX Runtime library ({}) is already loaded in this process", first.display())));
        }
        None => {}
    }
    let env = ort::init_from(&canonical)
        .map_err(|e| bad(format!("not a usable ONNX Runtime library: {e}")))?
        .with_name("attune-piper")
        .with_telemetry(false)
        .build()
        .map_err(|e| bad(format!("cannot start ONNX Runtime: {e}")))?;
    *loaded = Some((canonical, env.clone()));
    Ok(env)
}

/// A Piper voice on ONNX Runtime.
pub struct PiperTts {
    /// The loaded model.
    session: ort::session::Session,
    /// Symbol table.
    ids: PhonemeIds,
    /// Sampling scales, rate, espeak voice.
    voice: VoiceConfig,
    /// The model takes a speaker id.
    needs_sid: bool,
    /// espeak-ng, for phonemes.
    program: String,
    /// Longest time espeak-ng may take per call.
    timeout: Duration,
    /// Where the files came from (for messages).
    paths: PiperPaths,
    /// ONNX Runtime intra-op threads.
    threads: usize,
}

impl std::fmt::Debug for PiperTts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiperTts").field("paths", &self.paths).finish_non_exhaustive()
    }
}

impl PiperTts {
    /// Loads the voice; errors name the missing or broken file.
    pub fn new(cfg: &TtsConfig, models_dir: &Path) -> Result<PiperTts, SpeechError> {
        let paths = PiperPaths::resolve(cfg, models_dir);
        let model_err = |msg: String| SpeechError::TtsModel { path: paths.model.clone(), msg };
        // Cheap checks first, so a missing voice is named before ONNX Runtime loads.
        match std::fs::metadata(&paths.model) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(model_err("is not a file".into())),
            Err(e) => return Err(model_err(format!("cannot open ({e}); run scripts/fetch-models.sh or set speech.tts.piper_model"))),
        }
        let voice = VoiceConfig::load(&paths.config)?;
        crate::tts::EspeakTts::new(cfg)?;
        let env = load_onnxruntime(&paths.onnxruntime)?;
        let threads = cfg.piper_thread_count();
        let session = ort::session::Session::builder(&env)
            .and_then(|b| b.with_intra_threads(threads).map_err(ort::Error::from))
            .and_then(|b| b.with_inter_threads(1).map_err(ort::Error::from))
            .and_then(|mut b| b.commit_from_file(&paths.model))
            .map_err(|e| model_err(format!("not a loadable ONNX model: {e}")))?;
        let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for need in ["input", "input_lengths", "scales"] {
            if !names.contains(&need) {
                return Err(model_err(format!("not a Piper voice: no `{need}` input (inputs: {names:?})")));
            }
        }
        let needs_sid = names.contains(&"sid");
        if session.outputs().is_empty() {
            return Err(model_err("the model has no output".into()));
        }
        Ok(PiperTts {
            session,
            ids: PhonemeIds::new(&voice),
            voice,
            needs_sid,
            program: cfg.program.clone(),
            timeout: Duration::from_millis(cfg.timeout_ms as u64),
            paths,
            threads,
        })
    }

    /// "piper (voice …, ONNX Runtime …)" for the start-up line.
    pub fn describe(&self) -> String {
        format!(
            "piper (voice {}, {} Hz, {} intra-op threads, ONNX Runtime from {})",
            self.paths.model.display(),
            self.voice.audio.sample_rate,
            self.threads,
            self.paths.onnxruntime.display()
        )
    }

    /// The model's own output rate.
    pub fn model_rate_hz(&self) -> u32 {
        self.voice.audio.sample_rate
    }

    /// Phoneme ids of one sentence's clauses (for tests and the bench).
    pub fn phoneme_ids(&self, clauses: &[Clause]) -> Result<Vec<i64>, SpeechError> {
        let ipa = espeak_ipa(&self.program, &self.voice.espeak.voice, clauses, self.timeout)?;
        let pairs: Vec<(String, Option<char>)> = ipa.into_iter().zip(clauses.iter().map(|c| c.mark)).collect();
        let (ids, skipped) = self.ids.encode(&pairs);
        if skipped > 0 {
            tracing::debug!(skipped, "piper: phonemes the voice does not know were skipped");
        }
        Ok(ids)
    }

    /// Runs the model on one sentence's ids; audio at the model's rate.
    fn infer(&mut self, ids: Vec<i64>) -> Result<Vec<f32>, SpeechError> {
        let err = |e: ort::Error| SpeechError::Tts(format!("piper inference: {e}"));
        let n = ids.len();
        let inf = self.voice.inference;
        let input = ort::value::Tensor::from_array(([1usize, n], ids)).map_err(err)?;
        let lengths = ort::value::Tensor::from_array(([1usize], vec![n as i64])).map_err(err)?;
        let scales = ort::value::Tensor::from_array(([3usize], vec![inf.noise_scale, inf.length_scale, inf.noise_w])).map_err(err)?;
        let outputs = if self.needs_sid {
            let sid = ort::value::Tensor::from_array(([1usize], vec![0i64])).map_err(err)?;
            self.session.run(ort::inputs! {"input" => input, "input_lengths" => lengths, "scales" => scales, "sid" => sid})
        } else {
            self.session.run(ort::inputs! {"input" => input, "input_lengths" => lengths, "scales" => scales})
        }
        .map_err(err)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        Ok(audio.to_vec())
    }
}

/// Peak level Piper's output is normalised to (about −1 dBFS), as Piper does
/// per utterance (its raw output level varies from sentence to sentence).
const PEAK: f32 = 0.89;

impl Tts for PiperTts {
    fn first_clause_apart(&self) -> bool {
        true
    }

    fn synthesize(&mut self, text: &str) -> Result<Vec<f32>, SpeechError> {
        let clauses = split_clauses(text);
        let mut audio = Vec::new();
        let mut start = 0;
        for end in 0..clauses.len() {
            if ends_sentence(clauses[end].mark) || end + 1 == clauses.len() {
                let ids = self.phoneme_ids(&clauses[start..=end])?;
                let mut raw = self.infer(ids)?;
                let peak = raw.iter().fold(0.0f32, |m, x| if x.is_finite() { m.max(x.abs()) } else { m });
                let gain = PEAK / peak.max(0.01);
                for x in &mut raw {
                    *x = if x.is_finite() { (*x * gain).clamp(-1.0, 1.0) } else { 0.0 };
                }
                audio.extend(resample_sinc(&raw, self.voice.audio.sample_rate, SAMPLE_RATE));
                start = end + 1;
            }
        }
        Ok(audio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice_with(symbols: &[(&str, i64)]) -> VoiceConfig {
        let mut map: HashMap<String, Vec<i64>> = symbols.iter().map(|(k, v)| (k.to_string(), vec![*v])).collect();
        map.insert("_".into(), vec![0]);
        map.insert("^".into(), vec![1]);
        map.insert("$".into(), vec![2]);
        VoiceConfig {
            audio: VoiceAudio { sample_rate: 22_050 },
            espeak: VoiceEspeak { voice: "en-us".into() },
            inference: VoiceInference { noise_scale: 0.667, length_scale: 1.0, noise_w: 0.8 },
            phoneme_type: "espeak".into(),
            phoneme_id_map: map,
            num_speakers: 1,
        }
    }

    #[test]
    fn clauses_split_at_punctuation_followed_by_a_space_only() {
        let c = split_clauses("Hello, it costs $5.50 today; e.g. now. Really?! Yes");
        let got: Vec<(&str, Option<char>)> = c.iter().map(|c| (c.text.as_str(), c.mark)).collect();
        assert_eq!(
            got,
            vec![
                ("Hello", Some(',')),
                ("it costs $5.50 today", Some(';')),
                ("e.g", Some('.')),
                ("now", Some('.')),
                ("Really", Some('?')),
                ("Yes", None)
            ]
        );
    }

    #[test]
    fn empty_and_punctuation_only_text_gives_no_clauses() {
        assert!(split_clauses("").is_empty());
        assert!(split_clauses("  ... !? \n").is_empty());
        let c = split_clauses("Wait ... what?");
        assert_eq!(c, vec![Clause { text: "Wait".into(), mark: Some('.') }, Clause { text: "what".into(), mark: Some('?') }]);
    }

    #[test]
    fn ids_follow_pipers_bos_pad_eos_convention() {
        let v = voice_with(&[("h", 20), ("ə", 59), ("l", 24), ("ˈ", 120), ("o", 27), ("?", 13)]);
        let ids = PhonemeIds::new(&v);
        let (got, skipped) = ids.encode(&[("həlˈo".into(), Some('?'))]);
        assert_eq!(got, vec![1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 13, 0, 2]);
        assert_eq!(skipped, 0);
    }

    #[test]
    fn a_comma_adds_a_space_and_unknown_symbols_are_skipped_and_counted() {
        let v = voice_with(&[("a", 14), ("b", 15), (",", 8), (" ", 3), (".", 10)]);
        let ids = PhonemeIds::new(&v);
        // U+200D (tie) is dropped silently; 'Q' is unknown to the voice.
        let (got, skipped) = ids.encode(&[("a\u{200d}Q".into(), Some(',')), ("b".into(), Some('.'))]);
        assert_eq!(got, vec![1, 0, 14, 0, 8, 0, 3, 0, 15, 0, 10, 0, 2]);
        assert_eq!(skipped, 1);
    }

    #[test]
    fn espeak_gives_one_ipa_line_per_clause_even_where_it_splits_itself() {
        let t = Duration::from_secs(10);
        let clauses = split_clauses("Hello, how are you today? Dr. Smith is here");
        let ipa = espeak_ipa("espeak-ng", "en-us", &clauses, t).unwrap();
        assert_eq!(ipa.len(), clauses.len(), "{ipa:?}");
        assert!(ipa[0].starts_with('h') && ipa[0].contains('l'), "{ipa:?}");
        assert!(ipa.iter().all(|l| !l.contains('\n')));
    }

    #[test]
    fn the_installed_voice_config_maps_every_symbol_espeak_prints_for_english() {
        // The real voice config and the real espeak-ng: nothing an ordinary
        // English sentence produces may be missing from the voice's table.
        let paths = PiperPaths::resolve(&TtsConfig::default(), &crate::stt::default_models_dir());
        let v = VoiceConfig::load(&paths.config).expect("the Piper voice: run scripts/fetch-models.sh");
        let clauses = split_clauses("I have been feeling really stressed about my exams, and my family worries. Is that normal?");
        let ipa = espeak_ipa("espeak-ng", &v.espeak.voice, &clauses, Duration::from_secs(10)).unwrap();
        let pairs: Vec<_> = ipa.into_iter().zip(clauses.iter().map(|c| c.mark)).collect();
        let (ids, skipped) = PhonemeIds::new(&v).encode(&pairs);
        assert_eq!(skipped, 0, "{pairs:?}");
        assert!(ids.len() > 100, "{}", ids.len());
        assert_eq!(ids[..2], [1, 0]);
        assert_eq!(ids.last(), Some(&2));
    }

    #[test]
    fn a_voice_config_without_pipers_symbols_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.onnx.json");
        std::fs::write(&p, r#"{"audio":{"sample_rate":22050},"espeak":{"voice":"en-us"},"inference":{"noise_scale":0.6,"length_scale":1,"noise_w":0.8},"phoneme_id_map":{"a":[1]}}"#).unwrap();
        let e = VoiceConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("v.onnx.json") && e.contains("'^'"), "{e}");
        std::fs::write(&p, "{ not json").unwrap();
        let e = VoiceConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("v.onnx.json") && e.contains("not a Piper voice config"), "{e}");
    }

    #[test]
    fn sinc_resampling_keeps_a_low_tone_and_removes_one_above_the_new_nyquist() {
        let tone = |hz: f32| -> Vec<f32> { (0..22_050).map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / 22_050.0).sin() * 0.5).collect() };
        let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        let low = resample_sinc(&tone(1_000.0), 22_050, 16_000);
        assert!((low.len() as i64 - 16_000).abs() <= 1, "{}", low.len());
        assert!((rms(&low[100..15_900]) - 0.354).abs() < 0.02, "{}", rms(&low));
        // 10 kHz would alias to 6 kHz with plain interpolation.
        let high = resample_sinc(&tone(10_000.0), 22_050, 16_000);
        assert!(rms(&high[100..15_900]) < 0.02, "{}", rms(&high));
    }
}
