//! WAV file source and sink for offline runs: the input is played as if
//! live, the output receives the robot's speech at the times it is heard.

use crate::audio::{read_wav_16k_mono, to_i16, wav_spec, FRAME};
use crate::voice_loop::{FrameSource, PlaybackSink};
use crate::SpeechError;
use std::collections::VecDeque;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// A WAV file as a microphone.
pub struct WavSource {
    /// The whole file at 16 kHz mono.
    samples: Vec<f32>,
    /// Next sample to hand out.
    pos: usize,
}

impl WavSource {
    /// Reads and converts the file (any rate, any channels).
    pub fn open(path: &Path) -> Result<WavSource, SpeechError> {
        Ok(WavSource { samples: read_wav_16k_mono(path)?, pos: 0 })
    }

    /// A source over samples already in memory (16 kHz mono).
    pub fn from_samples(samples: Vec<f32>) -> WavSource {
        WavSource { samples, pos: 0 }
    }

    /// Length in 16 kHz samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

impl FrameSource for WavSource {
    fn next_frame(&mut self, out: &mut [f32; FRAME]) -> Result<bool, SpeechError> {
        if self.pos >= self.samples.len() {
            return Ok(false);
        }
        let n = (self.samples.len() - self.pos).min(FRAME);
        out[..n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
        out[n..].fill(0.0);
        self.pos += n;
        Ok(true)
    }

    fn is_live(&self) -> bool {
        false
    }
}

/// A WAV file as a speaker: each loop tick writes one frame, robot audio if
/// any is queued, silence otherwise, so the file lines up with the input.
pub struct WavSink {
    /// The open writer (None after finish).
    writer: Option<hound::WavWriter<BufWriter<std::fs::File>>>,
    /// Audio queued but not yet "played".
    queue: VecDeque<f32>,
    /// For error messages.
    path: PathBuf,
}

impl WavSink {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> Result<WavSink, SpeechError> {
        let writer = hound::WavWriter::create(path, wav_spec())
            .map_err(|e| SpeechError::Wav { path: path.to_path_buf(), msg: format!("cannot create: {e}") })?;
        Ok(WavSink { writer: Some(writer), queue: VecDeque::new(), path: path.to_path_buf() })
    }
}

impl PlaybackSink for WavSink {
    fn push(&mut self, samples: &[f32]) -> Result<(), SpeechError> {
        self.queue.extend(samples.iter().copied());
        Ok(())
    }

    fn stop(&mut self) {
        self.queue.clear();
    }

    fn pending(&self) -> usize {
        self.queue.len()
    }

    fn tick(&mut self) -> Result<(), SpeechError> {
        let Some(w) = self.writer.as_mut() else { return Ok(()) };
        for _ in 0..FRAME {
            let s = self.queue.pop_front().unwrap_or(0.0);
            w.write_sample(to_i16(s))
                .map_err(|e| SpeechError::Wav { path: self.path.clone(), msg: format!("write failed: {e}") })?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SpeechError> {
        if let Some(w) = self.writer.take() {
            w.finalize().map_err(|e| SpeechError::Wav { path: self.path.clone(), msg: format!("write failed: {e}") })?;
        }
        Ok(())
    }
}
