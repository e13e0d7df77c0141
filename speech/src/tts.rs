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
}

/// A synthesised sentence.
#[derive(Debug)]
pub struct TtsAudio {
    /// The job's reply id.
    pub utt: u64,
    /// The job's position.
    pub seq: u32,
    /// Characters of the sentence (for "spoken up to" bookkeeping).
    pub chars: usize,
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
                while let Ok(job) = jrx.recv() {
                    let t0 = Instant::now();
                    let audio = tts.synthesize(&job.text);
                    let out = TtsAudio {
                        utt: job.utt,
                        seq: job.seq,
                        chars: job.text.chars().count(),
                        audio,
                        elapsed_ms: t0.elapsed().as_millis() as u64,
                    };
                    if atx.send(out).is_err() {
                        break;
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
    fn garbage_instead_of_wav_is_an_error() {
        assert!(parse_streamed_wav(b"hello world, not audio").is_err());
    }
}
