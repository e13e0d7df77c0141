//! 16 kHz mono audio: the one format every stage after the device speaks.

use crate::SpeechError;
use std::path::Path;

/// Sample rate of everything after capture: whisper and earshot both want 16 kHz.
pub const SAMPLE_RATE: u32 = 16_000;
/// One frame = 256 samples = 16 ms, earshot's frame size.
pub const FRAME: usize = 256;
/// Duration of one frame in milliseconds.
pub const FRAME_MS: u64 = 16;

/// Milliseconds of 16 kHz audio in `n` samples.
pub fn samples_to_ms(n: usize) -> u64 {
    (n as u64 * 1000) / SAMPLE_RATE as u64
}

/// Samples of 16 kHz audio in `ms` milliseconds.
pub fn ms_to_samples(ms: u64) -> usize {
    (ms * SAMPLE_RATE as u64 / 1000) as usize
}

/// Streaming resampler for one mono channel: a box filter (anti-aliasing for
/// downsampling) followed by linear interpolation. Good enough for speech into
/// VAD/whisper and for espeak's 22.05 kHz into a 48 kHz device.
#[derive(Debug, Clone)]
pub struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample, in input samples, relative to `prev`.
    pos: f64,
    /// Last filtered input sample of the previous block (interpolation needs it).
    prev: f32,
    /// Box filter length (1 = no filtering, when upsampling).
    taps: usize,
    /// Recent raw input, for the box filter.
    hist: Vec<f32>,
    /// Next write index into `hist`.
    hist_i: usize,
    /// Running sum of `hist`.
    hist_sum: f32,
}

impl Resampler {
    /// A resampler from `from_hz` to `to_hz` (both > 0).
    pub fn new(from_hz: u32, to_hz: u32) -> Resampler {
        let step = from_hz as f64 / to_hz.max(1) as f64;
        let taps = if step > 1.0 { step.round() as usize } else { 1 };
        Resampler { step, pos: 0.0, prev: 0.0, taps, hist: vec![0.0; taps.max(1)], hist_i: 0, hist_sum: 0.0 }
    }

    /// Resamples `input`, appending to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        for &x in input {
            let y = if self.taps > 1 {
                self.hist_sum += x - self.hist[self.hist_i];
                self.hist[self.hist_i] = x;
                self.hist_i = (self.hist_i + 1) % self.taps;
                self.hist_sum / self.taps as f32
            } else {
                x
            };
            // Output samples that fall between prev (t=0) and y (t=1).
            while self.pos <= 1.0 {
                let t = self.pos as f32;
                out.push(self.prev + (y - self.prev) * t);
                self.pos += self.step;
            }
            self.pos -= 1.0;
            self.prev = y;
        }
    }
}

/// Resamples a whole buffer.
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == to_hz {
        return input.to_vec();
    }
    let mut r = Resampler::new(from_hz, to_hz);
    let mut out = Vec::with_capacity((input.len() as u64 * to_hz as u64 / from_hz.max(1) as u64) as usize + 2);
    r.process(input, &mut out);
    out
}

/// Reads a WAV file of any rate, channel count and sample format into 16 kHz
/// mono f32. Errors name the file and what is wrong with it.
pub fn read_wav_16k_mono(path: &Path) -> Result<Vec<f32>, SpeechError> {
    let err = |msg: String| SpeechError::Wav { path: path.to_path_buf(), msg };
    let mut reader = hound::WavReader::open(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate < 1_000 || spec.sample_rate > 384_000 {
        return Err(err(format!("unsupported format: {} channels at {} Hz", spec.channels, spec.sample_rate)));
    }
    let mut interleaved: Vec<f32> = Vec::with_capacity(reader.len() as usize);
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for s in reader.samples::<f32>() {
                interleaved.push(s.map_err(|e| err(format!("corrupt sample data: {e}")))?);
            }
        }
        hound::SampleFormat::Int => {
            let bits = spec.bits_per_sample;
            if bits == 0 || bits > 32 {
                return Err(err(format!("unsupported sample width {bits} bits")));
            }
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            for s in reader.samples::<i32>() {
                interleaved.push(s.map_err(|e| err(format!("corrupt sample data: {e}")))? as f32 * scale);
            }
        }
    }
    if interleaved.is_empty() {
        return Err(err("no audio samples".into()));
    }
    let ch = spec.channels as usize;
    let mono: Vec<f32> = if ch == 1 {
        interleaved
    } else {
        interleaved.chunks_exact(ch).map(|f| f.iter().sum::<f32>() / ch as f32).collect()
    };
    // NaN/inf from a broken float WAV would poison VAD and whisper.
    let mono: Vec<f32> = mono.into_iter().map(|x| if x.is_finite() { x.clamp(-1.0, 1.0) } else { 0.0 }).collect();
    Ok(resample(&mono, spec.sample_rate, SAMPLE_RATE))
}

/// Writes 16 kHz mono samples as 16-bit PCM (clipped to [-1, 1]).
pub fn write_wav_16k_mono(path: &Path, samples: &[f32]) -> Result<(), SpeechError> {
    let err = |msg: String| SpeechError::Wav { path: path.to_path_buf(), msg };
    let mut w = hound::WavWriter::create(path, wav_spec()).map_err(|e| err(format!("cannot create: {e}")))?;
    for &s in samples {
        w.write_sample(to_i16(s)).map_err(|e| err(format!("write failed: {e}")))?;
    }
    w.finalize().map_err(|e| err(format!("write failed: {e}")))
}

/// The WAV format attune writes: 16 kHz, mono, 16-bit.
pub fn wav_spec() -> hound::WavSpec {
    hound::WavSpec { channels: 1, sample_rate: SAMPLE_RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int }
}

/// f32 in [-1, 1] to i16, clipping.
pub fn to_i16(s: f32) -> i16 {
    (s.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// Root-mean-square level of a buffer.
pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, rate: u32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize).map(|i| (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 0.5).collect()
    }

    #[test]
    fn resampling_keeps_duration_and_tone() {
        let x = sine(440.0, 44_100, 1.0);
        let y = resample(&x, 44_100, 16_000);
        assert!((y.len() as i64 - 16_000).abs() <= 2, "{}", y.len());
        // Zero crossings of a 440 Hz tone over 1 s: ~880.
        let zc = y.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        assert!((860..=900).contains(&zc), "{zc}");
        let up = resample(&y, 16_000, 48_000);
        assert!((up.len() as i64 - 48_000).abs() <= 3, "{}", up.len());
    }

    #[test]
    fn streaming_resampler_matches_one_shot() {
        let x = sine(300.0, 22_050, 0.5);
        let whole = resample(&x, 22_050, 16_000);
        let mut r = Resampler::new(22_050, 16_000);
        let mut parts = Vec::new();
        for c in x.chunks(100) {
            r.process(c, &mut parts);
        }
        assert_eq!(whole.len(), parts.len());
        assert!(whole.iter().zip(&parts).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn stereo_44k_wav_is_read_as_16k_mono() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.wav");
        let spec = hound::WavSpec { channels: 2, sample_rate: 44_100, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(&p, spec).unwrap();
        for s in sine(200.0, 44_100, 0.5) {
            w.write_sample(to_i16(s)).unwrap();
            w.write_sample(to_i16(-s)).unwrap(); // opposite phase: mono mix is silence
        }
        w.finalize().unwrap();
        let m = read_wav_16k_mono(&p).unwrap();
        assert!((m.len() as i64 - 8_000).abs() <= 2);
        assert!(rms(&m) < 1e-3, "{}", rms(&m));
    }

    #[test]
    fn corrupt_wav_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.wav");
        std::fs::write(&p, b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
        let e = read_wav_16k_mono(&p).unwrap_err().to_string();
        assert!(e.contains("bad.wav"), "{e}");
        let e = read_wav_16k_mono(&dir.path().join("missing.wav")).unwrap_err().to_string();
        assert!(e.contains("missing.wav"), "{e}");
    }
}
