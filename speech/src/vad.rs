//! Voice activity per 16 ms frame with earshot (pure Rust, weights built in).

use crate::audio::FRAME;

/// A voice activity detector with a fixed threshold.
pub struct Vad {
    /// earshot's streaming detector (boxed: ~8 KiB of state).
    detector: Box<earshot::Detector>,
    /// Score at or above which a frame is voiced.
    threshold: f32,
}

impl Vad {
    /// A detector voicing frames whose score is `>= threshold`.
    pub fn new(threshold: f32) -> Vad {
        Vad { detector: earshot::Detector::default_boxed(), threshold }
    }

    /// Scores one 256-sample frame; returns (voiced, score).
    pub fn frame(&mut self, frame: &[f32; FRAME]) -> (bool, f32) {
        let score = self.detector.predict_f32(frame);
        (score >= self.threshold, score)
    }

    /// Forgets the stream state (between unrelated inputs).
    pub fn reset(&mut self) {
        self.detector.reset();
    }
}

/// Voiced flags for a whole 16 kHz buffer, one per full frame.
pub fn voiced_frames(samples: &[f32], threshold: f32) -> Vec<bool> {
    let mut vad = Vad::new(threshold);
    let mut f = [0.0f32; FRAME];
    samples
        .chunks_exact(FRAME)
        .map(|c| {
            f.copy_from_slice(c);
            vad.frame(&f).0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_a_pure_tone_are_not_voice() {
        let silence = vec![0.0f32; 16_000];
        assert!(voiced_frames(&silence, 0.5).iter().all(|v| !v));
        let tone: Vec<f32> = (0..16_000).map(|i| (i as f32 * 1000.0 * std::f32::consts::TAU / 16_000.0).sin() * 0.3).collect();
        let voiced = voiced_frames(&tone, 0.5).iter().filter(|v| **v).count();
        assert!(voiced < 10, "{voiced} voiced frames in a 1 kHz tone");
    }
}
