//! Where the voice is heading when a participant pauses: the pitch (F0) of
//! the last voiced stretch before the pause, as a slope in semitones per
//! second and as a level against the speaker's own recent pitch.
//!
//! Why: a speaker who stops for good mostly lets the pitch fall to the
//! bottom of their range; one who is going on after the pause mostly holds it
//! level or lets it rise ("continuation intonation"). Studies of turn-taking
//! in English dialogue (Gravano and Hirschberg 2011, "Turn-taking cues in
//! task-oriented dialogue", Computer Speech and Language 25(3)) found a
//! plateau in the final stretch before a pause among the cues that the
//! speaker holds the turn, and a fall (or a high rise, a question) among the
//! cues that they yield it. Adaptive endpointing uses it as a third voice
//! beside the words and the silence (`crate::endpoint::with_prosody`).
//!
//! Pitch is estimated with YIN (de Cheveigné and Kawahara 2002, "YIN, a
//! fundamental frequency estimator for speech and music", JASA 111(4)):
//! the cumulative-mean-normalised difference function, its first dip under
//! an absolute threshold, refined by parabolic interpolation. The audio is
//! halved to 8 kHz first (a 60-400 Hz voice needs no more): one reading of
//! 2 s before a pause costs ~2.5 ms optimised (the endpoint bench prints it).
//!
//! Pure functions of the samples: no state, no I/O.

/// Analysis rate (the 16 kHz input halved).
pub const RATE: u32 = 8_000;
/// Lowest pitch looked for, Hz (a low adult voice).
pub const F0_MIN: f32 = 60.0;
/// Highest pitch looked for, Hz (a high voice, raised).
pub const F0_MAX: f32 = 400.0;
/// YIN's absolute threshold on the normalised difference.
const THRESHOLD: f32 = 0.25;
/// Integration window at 8 kHz (25 ms).
const WINDOW: usize = 200;
/// Hop between pitch frames at 8 kHz (10 ms).
const HOP: usize = 80;
/// How much audio before the pause is analysed (the speaker's recent level
/// comes from all of it, the slope from its end).
pub const TAIL_MS: u64 = 2_000;
/// The final stretch whose slope is measured.
pub const FINAL_MS: u64 = 300;
/// Fewest voiced frames (10 ms each) in the final stretch for a reading.
const MIN_FINAL_FRAMES: usize = 8;

/// Samples one YIN frame needs at `rate`: the integration window plus the
/// longest period looked for, plus one.
fn frame_len(rate: u32) -> usize {
    WINDOW + (rate as f32 / F0_MIN).ceil() as usize + 1
}

/// The voice at the end of a stretch of speech.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndPitch {
    /// Least-squares slope of the pitch over the last voiced `FINAL_MS`,
    /// semitones per second (negative: falling).
    pub slope_st_per_s: f32,
    /// Pitch of the last 50 ms voiced against the median of the whole tail,
    /// semitones (negative: ended low in the speaker's range).
    pub end_vs_median_st: f32,
    /// Voiced frames in the final stretch (10 ms each).
    pub final_frames: usize,
    /// Median pitch of the tail, Hz.
    pub median_hz: f32,
}

/// Halves 16 kHz audio to 8 kHz with a [1, 2, 1] / 4 low-pass.
pub fn halve(x: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len() / 2);
    let mut i = 1;
    while i + 1 < x.len() {
        out.push(0.25 * x[i - 1] + 0.5 * x[i] + 0.25 * x[i + 1]);
        i += 2;
    }
    out
}

/// YIN pitch of one frame at `rate` (the frame must hold `WINDOW` samples
/// plus the longest period looked for); `None` where it is not voiced.
pub fn yin(frame: &[f32], rate: u32) -> Option<f32> {
    let tau_min = (rate as f32 / F0_MAX).floor() as usize;
    let tau_max = frame_len(rate) - WINDOW - 1;
    if frame.len() < frame_len(rate) {
        return None;
    }
    let energy: f32 = frame[..WINDOW].iter().map(|v| v * v).sum::<f32>() / WINDOW as f32;
    if energy.is_nan() || energy <= 1e-7 {
        return None;
    }
    // The difference function d(tau), turned in place into its
    // cumulative-mean-normalised form (index 0 is never read).
    let mut norm = vec![0.0f32; tau_max + 1];
    let mut running = 0.0;
    for (tau, n) in norm.iter_mut().enumerate().skip(1) {
        let mut d = 0.0;
        for j in 0..WINDOW {
            let e = frame[j] - frame[j + tau];
            d += e * e;
        }
        running += d;
        *n = if running > 0.0 { d * tau as f32 / running } else { 1.0 };
    }
    let mut tau = tau_min.max(2);
    while tau < tau_max {
        if norm[tau] < THRESHOLD {
            while tau + 1 < tau_max && norm[tau + 1] < norm[tau] {
                tau += 1;
            }
            // Parabolic interpolation around the dip.
            let (a, b, c) = (norm[tau - 1], norm[tau], norm[tau + 1]);
            let den = a - 2.0 * b + c;
            let shift = if den.abs() > 1e-12 { (0.5 * (a - c) / den).clamp(-1.0, 1.0) } else { 0.0 };
            let period = tau as f32 + shift;
            let f0 = rate as f32 / period;
            return (F0_MIN..=F0_MAX).contains(&f0).then_some(f0);
        }
        tau += 1;
    }
    None
}

/// Pitch every 10 ms over 8 kHz audio (Hz, or None where not voiced).
pub fn track(x8k: &[f32]) -> Vec<Option<f32>> {
    let need = frame_len(RATE);
    // (frame start, RMS of its window). Frames quieter than a tenth of the
    // loudest are not voiced (breath, the tail of a consonant, room noise).
    let frames: Vec<(usize, f32)> = (0..)
        .map(|k| k * HOP)
        .take_while(|&s| s + need <= x8k.len())
        .map(|s| (s, crate::audio::rms(&x8k[s..s + WINDOW])))
        .collect();
    let loudest = frames.iter().map(|f| f.1).fold(0.0f32, f32::max);
    frames.iter().map(|&(s, rms)| if rms < 0.1 * loudest { None } else { yin(&x8k[s..s + need], RATE) }).collect()
}

fn semitones(hz: f32) -> f32 {
    12.0 * (hz / 100.0).log2()
}

fn median(v: &mut [f32]) -> f32 {
    v.sort_by(f32::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

/// The voice at the end of `samples` (16 kHz; the speech up to the pause,
/// trailing silence allowed). `None` when too little of its end is voiced
/// to say (a whisper, a final voiceless word, noise).
pub fn end_pitch(samples: &[f32]) -> Option<EndPitch> {
    let tail = crate::audio::ms_to_samples(TAIL_MS).min(samples.len());
    let x = halve(&samples[samples.len() - tail..]);
    let f0 = track(&x);
    let last = f0.iter().rposition(Option::is_some)?;
    let final_frames = (FINAL_MS / 10) as usize;
    let first = (last + 1).saturating_sub(final_frames);
    let mut all: Vec<f32> = f0.iter().flatten().map(|&h| semitones(h)).collect();
    let median_st = median(&mut all);
    // The final stretch, without octave jumps (YIN's usual error): frames
    // more than 7 semitones from the stretch's own median are dropped.
    let pts: Vec<(f32, f32)> = (first..=last).filter_map(|i| f0[i].map(|h| (i as f32 * 0.01, semitones(h)))).collect();
    let mut st: Vec<f32> = pts.iter().map(|p| p.1).collect();
    let mid = median(&mut st);
    let pts: Vec<(f32, f32)> = pts.into_iter().filter(|p| (p.1 - mid).abs() <= 7.0).collect();
    if pts.len() < MIN_FINAL_FRAMES {
        return None;
    }
    let n = pts.len() as f32;
    let mt = pts.iter().map(|p| p.0).sum::<f32>() / n;
    let ms = pts.iter().map(|p| p.1).sum::<f32>() / n;
    let sxx: f32 = pts.iter().map(|p| (p.0 - mt) * (p.0 - mt)).sum();
    let sxy: f32 = pts.iter().map(|p| (p.0 - mt) * (p.1 - ms)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let end: Vec<f32> = pts.iter().rev().take(5).map(|p| p.1).collect();
    let end_st = end.iter().sum::<f32>() / end.len() as f32;
    Some(EndPitch {
        slope_st_per_s: slope,
        end_vs_median_st: end_st - median_st,
        final_frames: pts.len(),
        median_hz: 100.0 * 2f32.powf(median_st / 12.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A voiced-like tone (five harmonics, falling amplitude) whose pitch
    /// moves from `f_start` to `f_end` Hz over `ms`, at 16 kHz.
    fn glide(f_start: f32, f_end: f32, ms: u64) -> Vec<f32> {
        let n = crate::audio::ms_to_samples(ms);
        let mut phase = 0.0f32;
        (0..n)
            .map(|i| {
                let t = i as f32 / n as f32;
                // Exponential (semitone-linear) glide.
                let f = f_start * (f_end / f_start).powf(t);
                phase += 2.0 * std::f32::consts::PI * f / 16_000.0;
                (1..=5).map(|k| (k as f32 * phase).sin() / k as f32).sum::<f32>() * 0.2
            })
            .collect()
    }

    #[test]
    fn yin_reads_a_steady_tone_within_one_percent() {
        for f in [80.0, 120.0, 210.0, 330.0] {
            let x = halve(&glide(f, f, 200));
            let got = yin(&x[..frame_len(RATE)], RATE).expect("voiced");
            assert!((got - f).abs() / f < 0.01, "{f} Hz read as {got}");
        }
    }

    #[test]
    fn silence_and_noise_have_no_pitch() {
        assert_eq!(end_pitch(&vec![0.0; 16_000]), None);
        // Deterministic white noise (xorshift).
        let mut s = 0x2545_f491_u32;
        let noise: Vec<f32> = (0..16_000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 0.4
            })
            .collect();
        assert_eq!(end_pitch(&noise), None);
        assert_eq!(end_pitch(&[]), None);
        assert_eq!(end_pitch(&glide(150.0, 150.0, 40)), None, "too short to say");
    }

    #[test]
    fn a_fall_a_level_and_a_rise_are_told_apart() {
        // 1.2 s level at 180 Hz, then the last 400 ms glides.
        let ending = |to: f32| {
            let mut x = glide(180.0, 180.0, 1_200);
            x.extend(glide(180.0, to, 400));
            x.extend(vec![0.0; 4_800]); // the pause (300 ms)
            end_pitch(&x).expect("voiced end")
        };
        let fall = ending(130.0);
        let level = ending(180.0);
        let rise = ending(220.0);
        // 180 -> 130 Hz over 400 ms is -5.6 st, -14 st/s.
        assert!((fall.slope_st_per_s + 14.1).abs() < 2.0, "{fall:?}");
        assert!(fall.end_vs_median_st < -3.0, "{fall:?}");
        assert!(level.slope_st_per_s.abs() < 1.0, "{level:?}");
        assert!(level.end_vs_median_st.abs() < 0.5, "{level:?}");
        assert!(rise.slope_st_per_s > 8.0, "{rise:?}");
        assert!((level.median_hz - 180.0).abs() < 3.0, "{level:?}");
    }

    #[test]
    fn a_quiet_unvoiced_tail_after_the_vowel_is_skipped() {
        // A falling vowel, then 100 ms of faint noise (a final "s"), then silence.
        let mut x = glide(200.0, 200.0, 800);
        x.extend(glide(200.0, 150.0, 300));
        x.extend((0..1_600).map(|i| ((i * 7919 % 101) as f32 / 101.0 - 0.5) * 0.01));
        x.extend(vec![0.0; 4_800]);
        let p = end_pitch(&x).expect("voiced end");
        assert!(p.slope_st_per_s < -10.0, "{p:?}");
    }
}
