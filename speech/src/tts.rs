//! Text-to-speech: the [`Tts`] trait, espeak-ng as a subprocess, and a worker
//! thread that synthesises sentence by sentence.
//!
//! espeak-ng is GPL-3.0: it is only ever run as a separate program, never linked.

use crate::audio::{resample, SAMPLE_RATE};
use crate::{SpeechError, TtsConfig};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// A voice: text in, 16 kHz mono audio out. A neural voice can implement it later.
pub trait Tts: Send {
    /// Synthesises one sentence.
    fn synthesize(&mut self, text: &str) -> Result<Vec<f32>, SpeechError>;

    /// Whether a reply's first sentence should be synthesised clause first
    /// ([`split_first_clause`]): worth it only for a voice whose synthesis
    /// takes a noticeable part of the sentence's length (Piper), not for
    /// espeak-ng (~40 ms a sentence).
    fn first_clause_apart(&self) -> bool {
        false
    }
}

/// Fewest words of a first clause spoken on its own.
const HEAD_MIN_WORDS: usize = 4;
/// Fewest words after it.
const TAIL_MIN_WORDS: usize = 3;

/// Where a sentence may be spoken in two parts: after its first clause (at
/// `,` `;` `:` followed by a space) of at least four words, when at least
/// three words follow. Returns (first clause with its mark, the rest).
///
/// Design: a reply's first audio waits for the synthesis of its whole first
/// sentence; with Piper on a Pi-class CPU that is a good part of the time
/// from the participant's last word to the robot's first. Spoken clause
/// first, the rest is synthesised while the first clause plays. A comma is
/// where a speaker may pause anyway and Piper speaks the mark as a short
/// pause with continuing intonation, so the seam is where the voice has one.
/// Very short clauses ("Yes, ...", "Well, I ...") stay joined: the gain is
/// small and a lone word sounds clipped.
pub fn split_first_clause(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        if !matches!(c, ',' | ';' | ':') || !bytes.get(i + 1).is_some_and(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let (head, tail) = (&text[..=i], text[i + 1..].trim());
        let words = |s: &str| s.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count();
        if words(head) < HEAD_MIN_WORDS {
            continue;
        }
        return (words(tail) >= TAIL_MIN_WORDS).then_some((head.trim(), tail));
    }
    None
}

/// espeak-ng run once per sentence.
#[derive(Debug, Clone)]
pub struct EspeakTts {
    /// Program, voice, rate, pitch, timeout.
    cfg: TtsConfig,
}

impl EspeakTts {
    /// Checks that the program runs, so a missing espeak-ng is reported at start.
    pub fn new(cfg: &TtsConfig) -> Result<EspeakTts, SpeechError> {
        let out = Command::new(&cfg.program)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| SpeechError::Tts(format!("cannot run `{}` ({e}); install espeak-ng or set speech.tts.program", cfg.program)))?;
        if !out.status.success() {
            return Err(SpeechError::Tts(format!("`{} --version` failed", cfg.program)));
        }
        Ok(EspeakTts { cfg: cfg.clone() })
    }
}

impl Tts for EspeakTts {
    fn synthesize(&mut self, text: &str) -> Result<Vec<f32>, SpeechError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        // Text goes in on stdin, so a sentence starting with '-' is never an option.
        let (rate_wpm, pitch) = (self.cfg.rate_wpm.to_string(), self.cfg.pitch.to_string());
        let args = ["--stdout", "-b", "1", "-v", &self.cfg.voice, "-s", &rate_wpm, "-p", &pitch];
        let line = format!("{}\n", text.replace(['\n', '\r'], " "));
        let bytes = run_with_input(&self.cfg.program, &args, &line, Duration::from_millis(self.cfg.timeout_ms as u64))?;
        let (rate, pcm) = parse_streamed_wav(&bytes)?;
        Ok(resample(&pcm, rate, SAMPLE_RATE))
    }
}

/// Runs `program` with `args`, writes `input` to its stdin and returns its
/// stdout, killing it after `timeout` (espeak-ng for audio and for Piper's
/// phonemes). stdout and stderr are drained while it runs, so a chatty
/// program cannot block on a full pipe.
pub(crate) fn run_with_input(program: &str, args: &[&str], input: &str, timeout: Duration) -> Result<Vec<u8>, SpeechError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SpeechError::Tts(format!("cannot run `{program}`: {e}")))?;
    let mut stdin = child.stdin.take().ok_or_else(|| SpeechError::Tts("no stdin".into()))?;
    let mut stdout = child.stdout.take().ok_or_else(|| SpeechError::Tts("no stdout".into()))?;
    let mut stderr = child.stderr.take().ok_or_else(|| SpeechError::Tts("no stderr".into()))?;
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SpeechError::Tts(format!("`{program}` took longer than {} ms", timeout.as_millis())));
            }
            Err(e) => return Err(SpeechError::Tts(format!("waiting for `{program}`: {e}"))),
        }
    };
    let _ = writer.join();
    let out = reader.join().map_err(|_| SpeechError::Tts("reader thread panicked".into()))?;
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(SpeechError::Tts(format!("`{program}` failed ({status}): {}", err.trim())));
    }
    Ok(out)
}

/// Parses the 16-bit mono WAV espeak-ng streams to stdout. Its header's size
/// fields are placeholders (it does not know the length in advance), so the
/// data chunk runs to the end of the stream.
pub fn parse_streamed_wav(bytes: &[u8]) -> Result<(u32, Vec<f32>), SpeechError> {
    let bad = |m: &str| SpeechError::Tts(format!("espeak-ng output: {m}"));
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a WAV stream"));
    }
    let mut pos = 12;
    let mut rate = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]) as usize;
        pos += 8;
        if id == b"fmt " {
            if pos + 16 > bytes.len() {
                return Err(bad("truncated fmt chunk"));
            }
            let channels = u16::from_le_bytes([bytes[pos + 2], bytes[pos + 3]]);
            let r = u32::from_le_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]);
            let bits = u16::from_le_bytes([bytes[pos + 14], bytes[pos + 15]]);
            if channels != 1 || bits != 16 || r == 0 {
                return Err(bad("expected 16-bit mono"));
            }
            rate = Some(r);
            pos += size;
        } else if id == b"data" {
            let r = rate.ok_or_else(|| bad("data before fmt"))?;
            let pcm = bytes[pos..]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0)
                .collect();
            return Ok((r, pcm));
        } else {
            pos = pos.saturating_add(size);
        }
    }
    Err(bad("no data chunk"))
}

/// A sentence to speak.
#[derive(Debug, Clone)]
pub struct TtsJob {
    /// Which reply it belongs to.
    pub utt: u64,
    /// Position within the reply.
    pub seq: u32,
    /// The sentence.
    pub text: String,
    /// The reply's first sentence: spoken clause first where the voice
    /// wants it ([`Tts::first_clause_apart`]).
    pub first: bool,
}

/// A synthesised sentence.
#[derive(Debug)]
pub struct TtsAudio {
    /// The job's reply id.
    pub utt: u64,
    /// The job's position.
    pub seq: u32,
    /// Characters of this part of the sentence (for "spoken up to"
    /// bookkeeping).
    pub chars: usize,
    /// Which part of the sentence (0, or 1 for the rest after a first
    /// clause spoken on its own).
    pub part: u32,
    /// The sentence's last part.
    pub last: bool,
    /// 16 kHz mono audio, or the error for this sentence alone.
    pub audio: Result<Vec<f32>, SpeechError>,
    /// Wall time the synthesis took.
    pub elapsed_ms: u64,
}

/// A TTS engine on a dedicated thread, sentences in order.
///
/// Design: the job queue holds 32 sentences (a reply has a handful); when full,
/// [`TtsWorker::submit`] hands the job back and the caller drops that sentence
/// with a warning. The audio queue holds 8 sentences; the worker waits when it
/// is full, which only happens if the voice loop stops draining it.
pub struct TtsWorker {
    /// Job queue (bounded, 32).
    jobs: Option<SyncSender<TtsJob>>,
    /// Audio queue (bounded, 8).
    audio: Receiver<TtsAudio>,
    /// The thread, joined on drop.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TtsWorker {
    /// Starts a worker that owns `tts`.
    pub fn start(mut tts: Box<dyn Tts>) -> TtsWorker {
        let (jtx, jrx) = mpsc::sync_channel::<TtsJob>(32);
        let (atx, arx) = mpsc::sync_channel::<TtsAudio>(8);
        let thread = std::thread::Builder::new()
            .name("attune-tts".into())
            .spawn(move || {
                'jobs: while let Ok(job) = jrx.recv() {
                    let t0 = Instant::now();
                    let parts: Vec<&str> = match split_first_clause(&job.text) {
                        Some((head, tail)) if job.first && tts.first_clause_apart() => vec![head, tail],
                        _ => vec![job.text.as_str()],
                    };
                    let n = parts.len();
                    // The parts' characters add up to the sentence's.
                    let mut chars_left = job.text.chars().count();
                    for (i, text) in parts.into_iter().enumerate() {
                        let audio = tts.synthesize(text);
                        // A part that fails ends the sentence: its error is
                        // the sentence's last word.
                        let last = i + 1 == n || audio.is_err();
                        let out = TtsAudio {
                            utt: job.utt,
                            seq: job.seq,
                            chars: if last { chars_left } else { text.chars().count().min(chars_left) },
                            part: i as u32,
                            last,
                            audio,
                            elapsed_ms: t0.elapsed().as_millis() as u64,
                        };
                        chars_left -= out.chars;
                        if atx.send(out).is_err() {
                            break 'jobs;
                        }
                        if last {
                            break;
                        }
                    }
                }
            })
            .ok();
        TtsWorker { jobs: Some(jtx), audio: arx, thread }
    }

    /// Queues a sentence; a full queue or dead worker hands it back.
    pub fn submit(&self, job: TtsJob) -> Result<(), TtsJob> {
        match &self.jobs {
            Some(tx) => tx.try_send(job).map_err(|e| match e {
                TrySendError::Full(j) | TrySendError::Disconnected(j) => j,
            }),
            None => Err(job),
        }
    }

    /// Finished audio, if any (never blocks).
    pub fn try_audio(&self) -> Option<TtsAudio> {
        self.audio.try_recv().ok()
    }
}

impl Drop for TtsWorker {
    fn drop(&mut self) {
        self.jobs = None;
        // Drain so a worker blocked on a full audio queue can finish.
        while self.audio.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::rms;

    #[test]
    fn espeak_speaks_a_sentence_as_16k_audio() {
        let mut tts = EspeakTts::new(&TtsConfig::default()).unwrap();
        let a = tts.synthesize("Hello, how are you today?").unwrap();
        let secs = a.len() as f32 / SAMPLE_RATE as f32;
        assert!((0.8..4.0).contains(&secs), "{secs} s");
        assert!(rms(&a) > 0.02, "{}", rms(&a));
        assert!(tts.synthesize("   ").unwrap().is_empty());
    }

    #[test]
    fn text_starting_with_a_dash_is_spoken_not_parsed_as_an_option() {
        let mut tts = EspeakTts::new(&TtsConfig::default()).unwrap();
        let a = tts.synthesize("--version is not a flag here").unwrap();
        assert!(a.len() > SAMPLE_RATE as usize / 2);
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let cfg = TtsConfig { program: "/nonexistent/espeak".into(), ..TtsConfig::default() };
        let e = EspeakTts::new(&cfg).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/espeak"), "{e}");
    }

    #[test]
    fn a_first_sentence_splits_after_a_first_clause_of_four_words_or_more() {
        assert_eq!(
            split_first_clause("It sounds like this week has been heavy, and I'm glad you told me."),
            Some(("It sounds like this week has been heavy,", "and I'm glad you told me."))
        );
        // Too short a clause first: the next one that is long enough.
        assert_eq!(
            split_first_clause("Yes, that makes a lot of sense; thank you for saying so."),
            Some(("Yes, that makes a lot of sense;", "thank you for saying so."))
        );
        // Too little after it, no clause mark, a mark with no space after it.
        assert_eq!(split_first_clause("That sounds really hard for you, truly."), None);
        assert_eq!(split_first_clause("I hear how lonely the move has made you feel."), None);
        assert_eq!(split_first_clause("You walked 1,200 steps today and that counts for something."), None);
        assert_eq!(split_first_clause(""), None);
        // Punctuation alone is not a word; non-ASCII text is cut on a character boundary.
        assert_eq!(split_first_clause("Ça va — très bien, vraiment, merci beaucoup à vous."), Some(("Ça va — très bien,", "vraiment, merci beaucoup à vous.")));
    }

    #[test]
    fn garbage_instead_of_wav_is_an_error() {
        assert!(parse_streamed_wav(b"hello world, not audio").is_err());
    }
}
