//! The robot hearing itself: acoustic echo cancellation, its fallback, and a
//! simulated room for file mode.
//!
//! - [`EchoCanceller`] — WebRTC's AEC3 (the pure-Rust `aec3` port) fed with
//!   the exact samples the sink played as its reference; it removes the
//!   robot's voice from the microphone before VAD and whisper hear it.
//! - Ducking — where AEC cannot run, the VAD is deaf while the robot is
//!   audible (no barge-in then); chosen by `[speech.echo] mode`.
//! - [`Room`] — a simulated room for file mode: the sink's output convolved
//!   with an impulse response (delay, attenuation, reverberation; tests make
//!   the response with sox) and added to the microphone input.
//! - [`erle_db`] — echo-return-loss enhancement, for the bench.

use crate::audio::FRAME;
use crate::SpeechError;
use aec3::nodes::audio::AudioFormat;
use aec3::pipelines::linear::{self, LinearPipeline};
use std::collections::VecDeque;

/// AEC3 works on 10 ms blocks: 160 samples at 16 kHz.
const BLOCK: usize = 160;

/// What keeps the robot's voice from counting as the participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EchoMode {
    /// Acoustic echo cancellation against the played samples.
    Aec,
    /// The VAD ignores the microphone while the robot is audible (no barge-in).
    Duck,
    /// Nothing (headphones, or a test without a room).
    Off,
}

impl EchoMode {
    /// The name printed at start-up.
    pub fn as_str(self) -> &'static str {
        match self {
            EchoMode::Aec => "aec",
            EchoMode::Duck => "duck",
            EchoMode::Off => "off",
        }
    }
}

/// AEC3 at 16 kHz mono, re-blocked from the loop's 16 ms frames to its 10 ms
/// blocks. Output lags input by at most one block (10 ms).
pub struct EchoCanceller {
    /// High-pass + AEC3 (noise suppression and gain control off: whisper
    /// hears better without them, and gain changes would upset the VAD).
    pipe: LinearPipeline,
    /// Microphone samples waiting for a full block.
    mic_in: VecDeque<f32>,
    /// Reference samples waiting for a full block.
    ref_in: VecDeque<f32>,
    /// Cleaned samples waiting to be handed out.
    out: VecDeque<f32>,
    /// Scratch blocks.
    blk_mic: Vec<f32>,
    /// See above.
    blk_ref: Vec<f32>,
    /// See above.
    blk_out: Vec<f32>,
}

impl EchoCanceller {
    /// A canceller; fails only if the AEC3 graph cannot be built.
    pub fn new() -> Result<EchoCanceller, SpeechError> {
        let fmt = AudioFormat::ten_ms(crate::audio::SAMPLE_RATE, 1);
        let pipe = linear::builder(fmt, fmt)
            .enable_noise_suppression(false)
            .enable_gain_controller2(false)
            .enable_post_filter(false)
            .enable_high_pass_filter(true)
            .build()
            .map_err(|e| SpeechError::Config(format!("echo canceller (AEC3) could not start: {e}")))?;
        let mut out = VecDeque::with_capacity(FRAME * 2);
        // One block of latency up front, so every frame has output.
        out.extend(std::iter::repeat_n(0.0, BLOCK));
        Ok(EchoCanceller {
            pipe,
            mic_in: VecDeque::with_capacity(FRAME * 2),
            ref_in: VecDeque::with_capacity(FRAME * 2),
            out,
            blk_mic: vec![0.0; BLOCK],
            blk_ref: vec![0.0; BLOCK],
            blk_out: vec![0.0; BLOCK],
        })
    }

    /// One 16 ms frame: `mic` from the microphone, `played` the samples the
    /// speaker played over the same 16 ms. Writes the echo-free frame to `out`.
    /// A processing error passes the microphone through unchanged.
    pub fn process(&mut self, mic: &[f32; FRAME], played: &[f32; FRAME], out: &mut [f32; FRAME]) {
        self.mic_in.extend(mic.iter().copied());
        self.ref_in.extend(played.iter().copied());
        while self.mic_in.len() >= BLOCK && self.ref_in.len() >= BLOCK {
            for (d, s) in self.blk_mic.iter_mut().zip(self.mic_in.drain(..BLOCK)) {
                *d = s;
            }
            for (d, s) in self.blk_ref.iter_mut().zip(self.ref_in.drain(..BLOCK)) {
                *d = s;
            }
            let ok = self.pipe.handle_render_frame(&self.blk_ref).is_ok()
                && matches!(self.pipe.process_capture_frame(&self.blk_mic, &mut self.blk_out), Ok(true));
            if ok {
                self.out.extend(self.blk_out.iter().copied());
            } else {
                self.out.extend(self.blk_mic.iter().copied());
            }
        }
        for o in out.iter_mut() {
            *o = self.out.pop_front().unwrap_or(0.0);
        }
    }
}

/// A simulated room: what the speaker plays reaches the microphone through
/// an impulse response (direct path delay, attenuation, reverberation).
/// A real implementation for file mode, with its own tests; the voice loop
/// adds its output to the input frames.
pub struct Room {
    /// Non-negligible taps of the impulse response: (delay in samples, gain).
    taps: Vec<(usize, f32)>,
    /// Recent played samples, newest last; as long as the longest tap.
    hist: VecDeque<f32>,
    /// Longest delay + 1.
    len: usize,
}

impl Room {
    /// A room from an impulse response at 16 kHz. Taps below -60 dB of the
    /// strongest are dropped (inaudible, and they make the simulation slow).
    pub fn from_impulse_response(ir: &[f32]) -> Result<Room, SpeechError> {
        let peak = ir.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        if ir.is_empty() || peak == 0.0 || !peak.is_finite() {
            return Err(SpeechError::Config("room impulse response is empty or silent".into()));
        }
        let floor = peak * 1e-3;
        let taps: Vec<(usize, f32)> = ir.iter().enumerate().filter(|(_, h)| h.abs() >= floor).map(|(i, h)| (i, *h)).collect();
        let len = taps.last().map(|t| t.0 + 1).unwrap_or(1);
        Ok(Room { taps, hist: VecDeque::from(vec![0.0; len]), len })
    }

    /// Feeds the samples just played and adds their echo, sample by sample,
    /// to `mic`.
    pub fn add_echo(&mut self, played: &[f32], mic: &mut [f32]) {
        for (p, m) in played.iter().zip(mic.iter_mut()) {
            self.hist.pop_front();
            self.hist.push_back(*p);
            let newest = self.len - 1;
            let mut y = 0.0f32;
            for &(d, g) in &self.taps {
                y += g * self.hist[newest - d];
            }
            *m += y;
        }
    }
}

/// Echo-return-loss enhancement in dB: how much quieter the echo is after
/// cancellation, `10·log10(E[mic²] / E[out²])`, over stretches where only
/// the robot is audible.
pub fn erle_db(mic: &[f32], out: &[f32]) -> f64 {
    let e = |x: &[f32]| x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>() / x.len().max(1) as f64;
    let (a, b) = (e(mic), e(out));
    if b <= 0.0 {
        return f64::INFINITY;
    }
    10.0 * (a / b).log10()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::rms;

    fn chirpy(n: usize, seed: u32) -> Vec<f32> {
        // Speech-like: a few drifting harmonics with a syllable envelope.
        let mut s = seed;
        (0..n)
            .map(|i| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let t = i as f32 / 16_000.0;
                let f0 = 120.0 + 40.0 * (t * 1.3).sin();
                let env = (t * 4.0 * std::f32::consts::PI).sin().abs();
                let h: f32 = (1..6).map(|k| (std::f32::consts::TAU * f0 * k as f32 * t).sin() / k as f32).sum();
                0.2 * env * h + 0.01 * ((s >> 9) as f32 / (1u32 << 23) as f32 - 0.5)
            })
            .collect()
    }

    #[test]
    fn a_room_delays_and_attenuates_what_is_played() {
        let mut ir = vec![0.0f32; 1_000];
        ir[800] = 0.5; // 50 ms, -6 dB
        let mut room = Room::from_impulse_response(&ir).unwrap();
        let mut played = vec![0.0f32; 2_000];
        played[10] = 1.0;
        let mut mic = vec![0.0f32; 2_000];
        room.add_echo(&played, &mut mic);
        assert_eq!(mic.iter().position(|x| x.abs() > 0.0), Some(810));
        assert!((mic[810] - 0.5).abs() < 1e-6);
        assert!(Room::from_impulse_response(&[0.0; 10]).is_err());
    }

    #[test]
    fn aec_removes_most_of_a_delayed_echo_after_it_converges() {
        let far = chirpy(16_000 * 6, 1);
        let mut ir = vec![0.0f32; 1_200];
        ir[640] = 0.4; // 40 ms
        ir[900] = 0.15;
        let mut room = Room::from_impulse_response(&ir).unwrap();
        let mut aec = EchoCanceller::new().unwrap();
        let mut mic_all = Vec::new();
        let mut out_all = Vec::new();
        for c in far.chunks_exact(FRAME) {
            let played: [f32; FRAME] = c.try_into().unwrap();
            let mut mic = [0.0f32; FRAME];
            room.add_echo(&played, &mut mic);
            let mut out = [0.0f32; FRAME];
            aec.process(&mic, &played, &mut out);
            mic_all.extend_from_slice(&mic);
            out_all.extend_from_slice(&out);
        }
        // After 3 s of convergence.
        let from = 16_000 * 3;
        let erle = erle_db(&mic_all[from..], &out_all[from..]);
        assert!(erle > 10.0, "ERLE {erle:.1} dB (mic rms {}, out rms {})", rms(&mic_all[from..]), rms(&out_all[from..]));
    }

    #[test]
    fn aec_passes_near_end_speech_when_nothing_is_played() {
        let near = chirpy(16_000 * 2, 7);
        let mut aec = EchoCanceller::new().unwrap();
        let mut out_all = Vec::new();
        let silent = [0.0f32; FRAME];
        for c in near.chunks_exact(FRAME) {
            let mic: [f32; FRAME] = c.try_into().unwrap();
            let mut out = [0.0f32; FRAME];
            aec.process(&mic, &silent, &mut out);
            out_all.extend_from_slice(&out);
        }
        let ratio = rms(&out_all[8_000..]) / rms(&near[8_000..]);
        assert!(ratio > 0.7 && ratio < 1.3, "near-end level changed by {ratio}");
    }
}
