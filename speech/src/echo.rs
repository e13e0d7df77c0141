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

use crate::audio::{FRAME, FRAME_MS};
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

/// The far-end reference: the samples the sink actually played, frame by
/// frame, read off the sink's own account of what is still queued.
///
/// Design: the loop knows every sample it pushed and, after each tick, how
/// many are still pending, so `played = pushed - pending` marks what has
/// left the speaker. The reference hands out one frame per loop frame from
/// its cursor while the cursor is behind `played`. A reference that leads
/// the echo is what AEC3 needs (its delay estimator looks back, never
/// forward), so taking a frame that is partly still queued is fine; one
/// that lags more than [`MAX_REF_LAG`] (a device that plays in large bursts)
/// is resynchronised. A file sink plays exactly one frame per tick, so there
/// the reference is exact.
pub struct EchoReference {
    /// Pushed samples from the cursor on (older ones are dropped).
    hist: VecDeque<f32>,
    /// Samples pushed in all (the loop's `pushed_total`).
    pushed: u64,
    /// Next sample index the reference hands out.
    pos: u64,
}

/// Longest the reference may trail the played position before it skips ahead.
pub const MAX_REF_LAG: u64 = 8 * FRAME as u64;

impl Default for EchoReference {
    fn default() -> Self {
        Self::new()
    }
}

impl EchoReference {
    /// Nothing played yet.
    pub fn new() -> EchoReference {
        EchoReference { hist: VecDeque::new(), pushed: 0, pos: 0 }
    }

    /// The loop pushed these samples to the sink.
    pub fn pushed(&mut self, samples: &[f32]) {
        self.hist.extend(samples.iter().copied());
        self.pushed += samples.len() as u64;
    }

    /// The sink was stopped (barge-in): what was queued will never play.
    pub fn stopped(&mut self) {
        self.hist.clear();
        self.pos = self.pushed;
    }

    /// The frame played since the last call, given `played` = samples pushed
    /// minus samples still pending. Silence when nothing new was played.
    pub fn next_frame(&mut self, played: u64, out: &mut [f32; FRAME]) {
        let played = played.min(self.pushed);
        if played > self.pos + MAX_REF_LAG {
            self.pos = played - FRAME as u64;
        }
        if self.pos >= played {
            out.fill(0.0);
            return;
        }
        let base = self.pushed - self.hist.len() as u64;
        let drop = (self.pos.saturating_sub(base) as usize).min(self.hist.len());
        self.hist.drain(..drop);
        let base = self.pushed - self.hist.len() as u64;
        for (i, o) in out.iter_mut().enumerate() {
            let j = self.pos + i as u64;
            *o = if j >= base { self.hist.get((j - base) as usize).copied().unwrap_or(0.0) } else { 0.0 };
        }
        self.pos += FRAME as u64;
    }
}

/// The echo stage of the voice loop: the simulated room (file mode), then
/// the canceller or the duck, on each microphone frame before the VAD.
pub struct EchoPath {
    /// What is active (after any fallback).
    mode: EchoMode,
    /// AEC3, in `Aec` mode.
    aec: Option<EchoCanceller>,
    /// The played samples.
    reference: EchoReference,
    /// A simulated room adding the played samples back into the microphone.
    room: Option<Room>,
    /// Scratch: this frame's reference.
    ref_frame: [f32; FRAME],
    /// Scratch: the cleaned frame.
    clean: [f32; FRAME],
    /// Reference energy of the last [`ENV_FRAMES`] frames (ring).
    ref_energy: [f64; ENV_FRAMES],
    /// Next slot in `ref_energy`.
    ref_slot: usize,
    /// Running ~90th percentile of (output energy / reference envelope) in
    /// dB over frames with robot audio: how loud what is left of the echo is.
    residual_db: f64,
    /// This frame's output stands clear of the residual echo (or no robot
    /// audio is around): the VAD may hear it.
    near_end: bool,
    /// Frames the gate stays open after the last frame that stood clear:
    /// the quiet consonants and short gaps inside a participant's words.
    hold_left: u32,
    /// Frames of robot audio left in the first-reply learning window (the
    /// gate stays shut while the room's echo is measured).
    learn_left: u32,
    /// Leading frames of the window skipped so far because nothing had come
    /// back yet (the room's delay), at most [`LEARN_MAX_DELAY_FRAMES`].
    learn_wait: u32,
    /// Microphone/reference ratio of each frame in the learning window (dB).
    learn_db: Vec<f64>,
    /// AEC3's output/reference ratio on the same frames (dB).
    learn_out_db: Vec<f64>,
    /// What the learning window found: `Some(true)` the robot's voice comes
    /// back into the microphone, `Some(false)` nothing does (headphones, no
    /// speaker): the microphone then passes untouched, as with `off`.
    echo_found: Option<bool>,
    /// What the learning window found, until the loop has reported it.
    learned_note: Option<String>,
    /// The participant is in a turn that began before the robot spoke.
    floor: bool,
    /// The echo level the learning window measured on the raw microphone
    /// (dB of what is played).
    learned_db: f64,
    /// What the gate saw and decided on the last frame (for traces).
    last: GateFrame,
    /// The raw microphone frame (after a simulated room), before AEC3.
    raw: [f32; FRAME],
    /// Raw microphone samples of the learning window's frames.
    learn_mic: Vec<f32>,
    /// Reference samples of the same frames.
    learn_ref: Vec<f32>,
    /// The learning window heard something that is not the robot's voice
    /// (someone talking from its start): the microphone passes untouched
    /// until the robot falls silent, and the next robot audio is measured.
    deferred: bool,
    /// Once, at the end of a learning window that heard someone talking
    /// and let them through: how many frames back (from that frame) their
    /// sound began, for the loop's pre-roll.
    window_speech: Option<usize>,
}

/// What the residual-echo gate saw and decided on one frame (`aec` mode, for
/// the echo bench's traces). Levels are dB of the reference envelope.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GateFrame {
    /// Robot audio was around (the reference envelope above -60 dBFS).
    pub robot: bool,
    /// The frame was part of the first reply's learning window.
    pub learning: bool,
    /// Raw microphone level.
    pub raw_db: f64,
    /// AEC3 output level.
    pub out_db: f64,
    /// The residual estimate the output was compared with.
    pub residual_db: f64,
    /// The echo level the learning window measured.
    pub learned_db: f64,
    /// The output stood clear of the residual.
    pub clear: bool,
    /// The gate let the frame through.
    pub near_end: bool,
}

/// Gate hangover after a near-end frame that follows another (~256 ms,
/// under `pause_ms`).
const NEAR_END_HOLD_FRAMES: u32 = 16;
/// Gate hangover after a lone near-end frame (~64 ms): chosen on the echo
/// bench's rooms 1-4 with espeak-ng (4 and 8 frames tried; 8 let one false
/// barge-in through in the loud room).
const NEAR_END_OPEN_FRAMES: u32 = 4;

/// Frames of reference kept for the envelope (~190 ms: room delay plus the
/// loudest part of its reverberation).
const ENV_FRAMES: usize = 12;
/// Reference energy per sample above which the robot counts as audible
/// (-60 dBFS).
const ACTIVE_REF_ENERGY: f64 = 1e-6;
/// Where the residual estimate starts: the echo as loud as what was played,
/// i.e. nothing cancelled yet. Replaced at the end of the learning window.
const RESIDUAL_START_DB: f64 = 0.0;
/// Frames of robot audio (~400 ms) over which the first reply measures what
/// comes back before the gate opens: longer than the envelope, the room
/// delays the bench covers (20-80 ms) and the first syllable's reverberation.
const LEARN_FRAMES: u32 = 25;
/// Most leading frames of the learning window (~128 ms) that are skipped
/// while nothing has come back yet: the echo arrives after the room's
/// delay (the bench's rooms: 20-80 ms, plus a device's buffering), and
/// frames at the floor before it are not "nothing comes back". Before this,
/// the bench's rooms sent half of the echo back at once (a sox mistake, see
/// [`sox_room_ir`]) and the window never saw the delay; with rooms that
/// have one, the floor frames before the echo split the window like "no
/// echo, then a participant" (60-80 ms: nothing comes back, the robot
/// interrupted itself in 4 of 4 replies) or dragged the learned level down.
const LEARN_MAX_DELAY_FRAMES: u32 = 8;
/// Headroom added to the echo level measured in the learning window: AEC3
/// has not converged yet, and later, louder syllables carry more echo.
const LEARN_HEADROOM_DB: f64 = 3.0;
/// How far above the window's median frame a frame may be and still count
/// as echo. Measured with the echo bench's four sox rooms (espeak-ng
/// replies): the loudest echo frame of the window lies 1.6-3.6 dB above the
/// median, so every echo frame is kept; a participant talking over the
/// robot lifts their frames further and they are left out.
const LEARN_SPREAD_DB: f64 = 5.0;
/// A jump between two neighbouring frame levels (sorted) this large splits
/// the learning window into "nothing comes back" and "someone talking".
const LEARN_GAP_DB: f64 = 20.0;
/// Below this microphone/reference ratio (dB) in the learning window nothing
/// of the robot comes back: 40 dB under what is played is under any level
/// earshot calls voice next to a participant, and a real room's echo (the
/// bench: -10 to 0 dB direct path) is far above it.
const NO_ECHO_DB: f64 = -40.0;
/// Lowest the estimate goes: a frame of digital silence has no level, and
/// an estimate far below any real noise floor would take long to recover.
const RESIDUAL_FLOOR_DB: f64 = -80.0;
/// Percentile tracker steps per frame: up 9x faster than down puts the
/// estimate near the 90th percentile of the residual.
const RESIDUAL_UP_DB: f64 = 0.45;
/// See [`RESIDUAL_UP_DB`].
const RESIDUAL_DOWN_DB: f64 = 0.05;
/// How far above the residual echo a frame must be to count as the participant.
pub const NEAR_END_MARGIN_DB: f64 = 6.0;

impl EchoPath {
    /// The stage for `mode`. `Aec` falls back to `Duck` if AEC3 cannot
    /// start; the returned string says why (for the start-up line).
    pub fn new(mode: EchoMode, room: Option<Room>) -> (EchoPath, Option<String>) {
        let (mode, aec, why) = match mode {
            EchoMode::Aec => match EchoCanceller::new() {
                Ok(c) => (EchoMode::Aec, Some(c), None),
                Err(e) => (EchoMode::Duck, None, Some(format!("{e}; ducking the VAD while the robot speaks instead"))),
            },
            m => (m, None, None),
        };
        let path = EchoPath {
            mode,
            aec,
            reference: EchoReference::new(),
            room,
            ref_frame: [0.0; FRAME],
            clean: [0.0; FRAME],
            ref_energy: [0.0; ENV_FRAMES],
            ref_slot: 0,
            residual_db: RESIDUAL_START_DB,
            near_end: true,
            hold_left: 0,
            learn_left: LEARN_FRAMES,
            learn_wait: 0,
            learn_db: Vec::with_capacity(LEARN_FRAMES as usize),
            learn_out_db: Vec::with_capacity(LEARN_FRAMES as usize),
            echo_found: None,
            learned_note: None,
            floor: false,
            learned_db: RESIDUAL_START_DB,
            last: GateFrame::default(),
            raw: [0.0; FRAME],
            learn_mic: Vec::new(),
            learn_ref: Vec::new(),
            deferred: false,
            window_speech: None,
        };
        (path, why)
    }

    /// What is active.
    pub fn mode(&self) -> EchoMode {
        self.mode
    }

    /// A one-line description for the start-up banner.
    pub fn describe(&self) -> String {
        let what = match self.mode {
            EchoMode::Aec => "aec (AEC3 against the samples played, plus a residual-echo gate; barge-in over the robot works; the first reply's first 400 ms of echo (after up to 128 ms of the room's delay) measure the room, and with nothing coming back the microphone passes untouched)",
            EchoMode::Duck => "duck (the microphone is ignored while the robot is audible; no barge-in)",
            EchoMode::Off => "off (no echo protection: use headphones)",
        };
        match &self.room {
            Some(_) => format!("{what}; simulated room on the input"),
            None => what.to_string(),
        }
    }

    /// Whether the participant holds the floor (a turn of theirs that began
    /// while the robot was silent is still going), for the next frame.
    pub fn participant_has_floor(&mut self, floor: bool) {
        self.floor = floor;
    }

    /// The loop pushed samples to the sink.
    pub fn pushed(&mut self, samples: &[f32]) {
        self.reference.pushed(samples);
    }

    /// The loop stopped the sink.
    pub fn stopped(&mut self) {
        self.reference.stopped();
    }

    /// One microphone frame, `played` = samples pushed minus pending: adds
    /// the room's echo (if simulated), then cancels it (in `Aec` mode).
    pub fn process(&mut self, mic: &mut [f32; FRAME], played: u64) {
        self.reference.next_frame(played, &mut self.ref_frame);
        if let Some(room) = self.room.as_mut() {
            room.add_echo(&self.ref_frame, mic);
        }
        self.raw.copy_from_slice(mic);
        if let Some(aec) = self.aec.as_mut() {
            let energy = |x: &[f32]| x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>() / x.len() as f64;
            let raw_energy = energy(mic);
            aec.process(mic, &self.ref_frame, &mut self.clean);
            self.ref_energy[self.ref_slot] = energy(&self.ref_frame);
            self.ref_slot = (self.ref_slot + 1) % ENV_FRAMES;
            let env = self.ref_energy.iter().cloned().fold(0.0f64, f64::max);
            if env > ACTIVE_REF_ENERGY {
                // Output and raw microphone energy against what was played (dB).
                let db_of_played = |e: f64| (10.0 * (e.max(1e-12) / env).log10()).max(RESIDUAL_FLOOR_DB);
                let ratio_db = db_of_played(energy(&self.clean));
                let raw_db = db_of_played(raw_energy);
                self.last = GateFrame { robot: true, learning: self.learn_left > 0, raw_db, out_db: ratio_db, residual_db: self.residual_db, learned_db: self.learned_db, ..GateFrame::default() };
                if self.deferred {
                    // Design: the learning window heard someone who is not
                    // the robot (see ECHO_MIN_PHAT_PEAK): until the robot
                    // falls silent the microphone passes untouched, as with
                    // `off`, so they are heard and can barge in; the room
                    // is measured on the robot's next words.
                    self.near_end = true;
                    self.hold_left = 0;
                    self.last.learning = false;
                } else if self.learn_left > 0 && self.floor {
                    // Design: the robot started while the participant was
                    // still talking (a reply to a turn that ended too soon,
                    // or one that came late). Every frame of the window
                    // would carry their voice, so none is measured, and
                    // none is ducked: their turn is not cut by the robot's
                    // first words. The window measures the robot's audio
                    // once their turn is over.
                    self.near_end = true;
                    self.hold_left = 0;
                } else if self.learn_left > 0 {
                    // Design: the first reply's first ~400 ms measure what
                    // comes back (the room's echo, or nothing at all with
                    // headphones or no speaker) before the gate opens, so the
                    // estimate starts where the room is instead of at
                    // "nothing cancelled" and decaying from there for
                    // seconds: without echo the gate is then as open as
                    // `off` after 400 ms of the session's first reply. It is
                    // measured on the microphone *before* AEC3: AEC3's
                    // suppressor mutes nearly everything while it has not
                    // converged, so its output would claim a quiet room that
                    // is not; what the microphone carries is the echo before
                    // any cancellation, a level the residual can only fall
                    // from (at the tracker's usual pace).
                    //
                    // The level taken is the loudest frame *near the
                    // window's median* (within LEARN_SPREAD_DB), not the
                    // loudest of all: a participant who starts talking while
                    // the robot does adds their voice to some frames, and the
                    // loudest frame would then be them, not the echo — the
                    // gate would learn their voice as the room's and stay
                    // shut to them (or call a silent room an echoing one).
                    // Near-end speech in under half the window leaves the
                    // median where the echo is, and its frames stand out;
                    // through more of it, [`near_end_onset`] cuts the window
                    // where they started.
                    self.learn_db.push(raw_db);
                    self.learn_out_db.push(ratio_db);
                    self.learn_mic.extend_from_slice(&self.raw);
                    self.learn_ref.extend_from_slice(&self.ref_frame);
                    let leading_floor = self.learn_wait as usize + 1 == self.learn_db.len() && raw_db <= NO_ECHO_DB;
                    if leading_floor && self.learn_wait < LEARN_MAX_DELAY_FRAMES {
                        self.learn_wait += 1;
                    } else {
                        self.learn_left -= 1;
                    }
                    if self.learn_left == 0 {
                        let lead = (self.learn_wait as usize).min(self.learn_db.len());
                        let echo = lead..lead + echo_frames(&self.learn_db, &self.learn_out_db, lead);
                        let level = echo_level_db(&self.learn_db, echo.clone());
                        let left = residual_start_db(&self.learn_out_db[echo]);
                        self.residual_db = (level.min(left) + LEARN_HEADROOM_DB).min(RESIDUAL_START_DB);
                        self.learned_db = level;
                        let found = level > NO_ECHO_DB;
                        let corr = echo_phat_peak(&self.learn_mic, &self.learn_ref);
                        // Where sound above the floor began in the window
                        // (frames back from this one, which is its last).
                        let n = self.learn_db.len();
                        let sound_back = self.learn_db.iter().position(|db| *db > NO_ECHO_DB).map(|i| n - 1 - i);
                        if found && corr < ECHO_MIN_PHAT_PEAK {
                            // Not the robot's voice: someone talked from the
                            // window's start (their voice would be learned as
                            // the room's echo, and the gate would stay shut
                            // to them).
                            self.deferred = true;
                            self.window_speech = sound_back;
                            self.learn_left = LEARN_FRAMES;
                            self.learn_wait = 0;
                            self.learned_note = Some(format!(
                                "aec: what came back in the first {} ms of robot audio is not the robot's voice (echo peak {corr:.1}); someone is talking: the microphone passes untouched until the robot is silent, and its next words measure the room",
                                n as u64 * FRAME_MS
                            ));
                        } else {
                            self.echo_found = Some(found);
                            if !found {
                                self.window_speech = sound_back;
                            }
                            self.learned_note = Some(if found {
                                format!("aec: the robot's voice comes back at {level:.0} dB of what is played (echo peak {corr:.1}); cancelling it")
                            } else {
                                format!("aec: nothing of the robot's voice comes back ({level:.0} dB); the microphone passes untouched")
                            });
                        }
                        self.learn_db.clear();
                        self.learn_out_db.clear();
                        self.learn_mic.clear();
                        self.learn_ref.clear();
                    }
                    self.near_end = self.deferred;
                    self.hold_left = 0;
                } else if self.echo_found == Some(false) {
                    // Design: nothing comes back, so there is nothing to
                    // cancel, and AEC3 would only hurt: its suppressor mutes
                    // a participant who talks over the robot for the first
                    // few hundred ms of double talk (measured: a barge-in
                    // 3 s late), because it cannot yet tell them from an
                    // echo. The microphone passes untouched, exactly as with
                    // `off`; AEC3 keeps running on it.
                    self.near_end = true;
                    self.hold_left = 0;
                } else {
                    let clear = ratio_db > self.residual_db + NEAR_END_MARGIN_DB;
                    // Design: one frame standing clear opens the gate only
                    // for NEAR_END_OPEN_FRAMES; a second one while it is
                    // open holds it NEAR_END_HOLD_FRAMES. The residual is a
                    // 90th percentile, so now and then an echo frame stands
                    // clear on its own; with the full hold after each, two
                    // such frames ~550 ms apart joined into 700 ms of
                    // "voice" and the robot interrupted itself (the echo
                    // bench: 1 reply in 4 in two of its four rooms). A
                    // participant's words stand clear frame after frame.
                    // Design: there was a second rule here, for the first
                    // ~2 s after the window: a *raw* microphone frame 6 dB
                    // over the learned echo level opened the gate too, and
                    // went on to the VAD, because on the echo bench's old
                    // rooms (half the echo at no delay, see `sox_room_ir`)
                    // AEC3 stayed young for seconds and muted a participant
                    // talking over the first reply. On rooms with a real
                    // delay AEC3 converges within the window (20-32 dB over
                    // the first second) and the rule let the echo's loud
                    // syllables through: the robot interrupted itself in 2
                    // of 4 replies in most of the bench's rooms, and the
                    // real-model test of a room did too. Removed.
                    (self.near_end, self.hold_left) = gate_step(self.hold_left, clear);
                    self.last.clear = clear;
                    self.residual_db += if ratio_db > self.residual_db { RESIDUAL_UP_DB } else { -RESIDUAL_DOWN_DB };
                    self.residual_db = self.residual_db.max(RESIDUAL_FLOOR_DB);
                }
            } else {
                self.near_end = true;
                self.hold_left = 0;
                self.last = GateFrame::default();
                self.deferred = false;
            }
            self.last.near_end = self.near_end;
            if self.echo_found != Some(false) && !self.deferred {
                mic.copy_from_slice(&self.clean);
            }
        }
    }

    /// What the gate saw and decided on the last frame (`aec` mode; the
    /// default before the first frame and in the other modes).
    pub fn last_frame(&self) -> GateFrame {
        self.last
    }

    /// The last frame as the microphone (and a simulated room) gave it,
    /// before AEC3.
    pub fn raw_frame(&self) -> &[f32; FRAME] {
        &self.raw
    }

    /// Whether whisper should hear the raw microphone for the last frame
    /// rather than AEC3's output: in the first reply's learning window
    /// AEC3 has not converged and its suppressor mutes a participant's
    /// words; whether those frames are kept is decided when the window
    /// ends ([`take_window_speech`](Self::take_window_speech)).
    pub fn asr_hears_raw(&self) -> bool {
        self.mode == EchoMode::Aec && self.last.learning
    }

    /// Once, when a learning window ended that heard someone talking and
    /// lets them through (nothing of the robot comes back, or what came
    /// back was not its voice): how many frames before the last one their
    /// sound began. The loop starts their utterance there, since the VAD
    /// was deaf to them through the window.
    pub fn take_window_speech(&mut self) -> Option<usize> {
        self.window_speech.take()
    }

    /// Once, when the first reply's learning window has ended: what it found,
    /// in words (the loop reports it like the start-up line).
    pub fn take_learned(&mut self) -> Option<String> {
        self.learned_note.take()
    }

    /// What the first reply's learning window found: `None` before it ended,
    /// `Some(false)` when nothing of the robot comes back (the microphone
    /// then passes untouched).
    pub fn echo_found(&self) -> Option<bool> {
        self.echo_found
    }

    /// How loud the echo left after cancellation is, relative to what is
    /// played (dB; ~90th percentile). 0 dB (nothing cancelled) until the
    /// first reply's learning window has measured the room.
    pub fn residual_db(&self) -> f64 {
        self.residual_db
    }

    /// Whether the VAD must ignore this frame: in `Duck` mode while the robot
    /// is audible (or in its tail); in `Aec` mode when the cancelled frame
    /// is no louder than the echo AEC3 leaves behind.
    ///
    /// Design: AEC3 alone leaves residual echo that earshot may still call
    /// voice (designed when the echo bench's rooms were wrong and it
    /// cancelled 3-11 dB; on the corrected rooms 20-66 dB, but a loud room
    /// or a real speaker's distortion leaves more), enough for the robot to
    /// barge in on itself. So while the robot is audible, a frame reaches the VAD only if
    /// its energy stands [`NEAR_END_MARGIN_DB`] above the residual level the
    /// canceller leaves (a running 90th percentile of output over played
    /// energy): a participant talking over the robot does, the echo does not.
    /// The first ~400 ms of the session's first reply are ducked while the
    /// gate measures what comes back; the estimate then starts there.
    pub fn deaf(&self, robot_audible: bool) -> bool {
        match self.mode {
            EchoMode::Duck => robot_audible,
            EchoMode::Aec => robot_audible && !self.near_end,
            EchoMode::Off => false,
        }
    }
}

/// One frame of the residual-echo gate's hangover: whether the frame reaches
/// the VAD, and the hangover left for the next one. A frame standing clear
/// of the residual opens the gate for [`NEAR_END_OPEN_FRAMES`] (itself
/// included), or for [`NEAR_END_HOLD_FRAMES`] when the gate was already open.
fn gate_step(hold_left: u32, clear: bool) -> (bool, u32) {
    let hold = match (clear, hold_left > 0) {
        (true, true) => NEAR_END_HOLD_FRAMES,
        (true, false) => NEAR_END_OPEN_FRAMES,
        (false, _) => hold_left,
    };
    (hold > 0, hold.saturating_sub(1))
}

/// The learning window's echo level (`window`: dB per frame, in time
/// order): its loudest frame within [`LEARN_SPREAD_DB`] of the median frame,
/// over the frames before a participant started talking (if they did).
///
/// Design: first, a window split in two by a gap of [`LEARN_GAP_DB`] with at
/// least a fifth of its frames below the gap is read as "no echo, then a
/// participant": an echo follows the robot's voice frame by frame (in the
/// bench's rooms the frames spread over at most 24 dB with no gap over
/// 6 dB), so frames at the floor beside frames tens of dB louder mean that
/// nothing comes back and someone started talking. The lower part's level
/// is taken, however much of the window they talked through.
///
/// Then a participant who starts talking over the robot inside the window
/// ([`near_end_onset`]) is cut off it: only the frames before them are
/// measured. Without that, one who talked through more than half of it put
/// the median on their own voice; the gate learned them as the room's echo
/// and stayed shut to them (the echo bench's barge-in 200 ms into reply 1:
/// missed in every room).
///
/// `echo` is the span of `window` with the echo alone ([`echo_frames`]):
/// after the leading frames at the floor before anything came back (at most
/// [`LEARN_MAX_DELAY_FRAMES`], the room's delay), before a participant. The
/// leading frames count for the gap rule only beyond what a delay explains
/// (more frames at the floor than the longest delay).
fn echo_level_db(window: &[f64], echo: std::ops::Range<usize>) -> f64 {
    let mut xs = window.to_vec();
    xs.sort_by(|a, b| a.total_cmp(b));
    let gap = xs.windows(2).enumerate().map(|(i, w)| (w[1] - w[0], i)).max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((g, i)) = gap {
        if g >= LEARN_GAP_DB && (i + 1) * 5 >= xs.len() && i + 1 > LEARN_MAX_DELAY_FRAMES as usize {
            return xs[i];
        }
    }
    spread_level_db(&window[echo])
}

/// How many frames after `lead` the learning window has the echo alone:
/// up to where a participant started talking ([`near_end_onset`]) on the
/// raw microphone or on AEC3's output, whichever comes first, else all.
///
/// Design: on the raw microphone a participant who talks about as loud as
/// the echo does not stand out (the echo bench's room 3, 200 ms into the
/// first reply: the echo's syllables from -20 to -6 dB, theirs from -7 to
/// +7 dB; no onset was found, and their voice was learned as the echo, so
/// the gate stayed shut to them for 3.4 s). Through AEC3, converged on the
/// echo within the window, they stand 30 dB and more above it (its output
/// from -44 dB to -7..+3 dB).
fn echo_frames(raw: &[f64], out: &[f64], lead: usize) -> usize {
    let n = raw.len() - lead;
    let on_raw = near_end_onset(&raw[lead..]).unwrap_or(n);
    let on_out = near_end_onset(&out[lead..out.len().min(raw.len())]).unwrap_or(n);
    on_raw.min(on_out)
}

/// What AEC3 leaves of the echo by the end of the learning window (dB of
/// what is played): its output's level over the later half of `frames`,
/// the output on the frames the window measured the echo on (after the
/// delay, before a participant who started talking), read like the echo
/// level.
///
/// Design: the residual estimate used to start at the raw echo level, on
/// the view that AEC3's output during the window is its suppressor muting
/// what it has not learned yet. On rooms with a real delay AEC3 has
/// converged by then (20-32 dB over the first second on the echo bench),
/// and starting 25-30 dB above its output, falling 0.05 dB a frame, kept
/// the gate shut to a participant over the whole first reply (the bench's
/// trace of room 2: their words through AEC3 at -19 to -6 dB, the estimate
/// at -12 dB). Its later half is read, so that frames from before AEC3
/// converged do not count.
fn residual_start_db(frames: &[f64]) -> f64 {
    spread_level_db(&frames[frames.len() / 2..])
}

/// The loudest of `frames` (dB) within [`LEARN_SPREAD_DB`] of their median.
fn spread_level_db(frames: &[f64]) -> f64 {
    let mut xs = frames.to_vec();
    xs.sort_by(|a, b| a.total_cmp(b));
    let Some(median) = xs.get(xs.len() / 2).copied() else { return RESIDUAL_FLOOR_DB };
    xs.iter().copied().filter(|x| *x <= median + LEARN_SPREAD_DB).fold(median, f64::max)
}

/// Lowest peak of the phase-transform cross-correlation (GCC-PHAT) between
/// the learning window's microphone and what was played, in multiples of
/// its RMS over all delays, for what came back to count as the robot's
/// voice. An echo is the played signal through the room: every frequency
/// arrives with the same delay, and the whitened correlation peaks sharply
/// there. Someone talking does not: their voice is not a delayed copy of
/// the robot's, however alike the two are (a plain correlation of two
/// espeak-ng voices reached 0.47, as much as a reverberant room's echo).
/// Without this, a participant talking from the window's start was learned
/// as the room's echo (100 ms into the first reply with no speaker at all:
/// never heard).
///
/// Chosen between what was measured (voice-loop probes, espeak-ng robot):
/// the eight echo-bench rooms alone 104-109, with a participant (another
/// espeak-ng voice) talking through the window 53-86; that participant with
/// no room at all 5.4 and 9.1. 20 sits in the gap with room either side.
const ECHO_MIN_PHAT_PEAK: f64 = 20.0;
/// Longest echo delay the correlation looks at (ms).
const ECHO_MAX_LAG_MS: usize = 160;

/// Peak of the GCC-PHAT of `mic` against `played` over delays 0 to
/// [`ECHO_MAX_LAG_MS`], divided by the RMS of the whole correlation.
fn echo_phat_peak(mic: &[f32], played: &[f32]) -> f64 {
    use rustfft::num_complex::Complex;
    let n = mic.len().min(played.len());
    let max_lag = ECHO_MAX_LAG_MS * 16;
    if n < 2 * FRAME {
        return 0.0;
    }
    let size = (n + max_lag).next_power_of_two();
    let mut planner = rustfft::FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(size);
    let inv = planner.plan_fft_inverse(size);
    let spectrum = |x: &[f32]| {
        let mut v: Vec<Complex<f64>> = x[..n].iter().map(|s| Complex::new(*s as f64, 0.0)).collect();
        v.resize(size, Complex::new(0.0, 0.0));
        fwd.process(&mut v);
        v
    };
    let (m, r) = (spectrum(mic), spectrum(played));
    // Cross-spectrum, phase only: r(τ) peaks where mic[t] = played[t - τ].
    let mut c: Vec<Complex<f64>> = m.iter().zip(&r).map(|(a, b)| {
        let x = a * b.conj();
        let mag = x.norm();
        if mag > 1e-12 { x / mag } else { Complex::new(0.0, 0.0) }
    }).collect();
    inv.process(&mut c);
    let rms = (c.iter().map(|z| z.re * z.re).sum::<f64>() / size as f64).sqrt();
    if rms <= 0.0 {
        return 0.0;
    }
    let peak = c[..=max_lag.min(size - 1)].iter().map(|z| z.re).fold(0.0f64, f64::max);
    peak / rms
}

/// Fewest frames (~96 ms) before a participant's onset that the learning
/// window can measure the echo on: more than the bench rooms' direct-path
/// delays (20-80 ms), so the echo has arrived in them.
const LEARN_MIN_PREFIX: usize = 6;
/// Fewest frames above the echo that make an onset.
const LEARN_MIN_LOUD: usize = 3;

/// Where a participant started talking over the robot in the learning
/// window (`window`: dB per frame, time order), if they did: the first frame
/// `k` (at least [`LEARN_MIN_PREFIX`] in) from which at least half of the
/// frames, and at least [`LEARN_MIN_LOUD`], stand [`LEARN_SPREAD_DB`] above
/// the echo level of the frames before `k`.
///
/// Design: the microphone/reference ratio of an echo follows the room, so
/// it stays level through the window, or dips where the robot pauses (the
/// envelope outlasts its voice); a voice added on top only raises frames,
/// and keeps raising them once it has started. The constants are the
/// window's own (spread) and the rooms' delays; none was fitted to the
/// bench's outcomes.
fn near_end_onset(window: &[f64]) -> Option<usize> {
    let n = window.len();
    (LEARN_MIN_PREFIX..n.saturating_sub(LEARN_MIN_LOUD - 1)).find(|&k| {
        let echo = spread_level_db(&window[..k]);
        let loud = window[k..].iter().filter(|x| **x > echo + LEARN_SPREAD_DB).count();
        loud >= LEARN_MIN_LOUD && loud * 2 >= n - k
    })
}

/// A room impulse response at 16 kHz made with sox: a direct path after
/// `delay_ms` at `gain_db` (negative: attenuation) plus sox's `reverb` with
/// the given reverberance (0-100 %), nothing before the delay. Errors name
/// sox and what it said.
///
/// `reverb` with a stereo depth makes two channels, and sox's `delay` with
/// one position delays only the first of them: without the `channels 1`
/// between them, half of the "room" came back at once and half after the
/// delay — two equal paths 20-80 ms apart, which AEC3's 52 ms filter
/// cannot both follow (every ERLE measured on those rooms was 2-18 dB).
pub fn sox_room_ir(delay_ms: u32, gain_db: f32, reverberance_pct: u32) -> Result<Vec<f32>, SpeechError> {
    let dir = std::env::temp_dir().join(format!("attune-room-{}-{delay_ms}-{reverberance_pct}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| SpeechError::Config(format!("room: cannot make {}: {e}", dir.display())))?;
    let imp = dir.join("impulse.wav");
    let ir = dir.join("ir.wav");
    let mut pulse = vec![0.0f32; 16_000 / 2];
    pulse[0] = 1.0;
    crate::audio::write_wav_16k_mono(&imp, &pulse)?;
    let delay_s = format!("{:.4}", delay_ms as f64 / 1000.0);
    let rev = reverberance_pct.min(100).to_string();
    let gain = format!("{gain_db:.1}");
    // `-R`: sox's repeatable mode — its dither is the same every run, so a
    // room (and the bench's figures on it) is too.
    let out = std::process::Command::new("sox")
        .arg("-R")
        .args([imp.as_os_str(), ir.as_os_str()])
        .args(["reverb", &rev, "50", "60", "100", "0", "-6", "channels", "1", "gain", &gain, "delay", &delay_s])
        .output()
        .map_err(|e| SpeechError::Config(format!("room: cannot run sox (is it installed?): {e}")))?;
    if !out.status.success() {
        return Err(SpeechError::Config(format!("room: sox failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    let r = crate::audio::read_wav_16k_mono(&ir);
    let _ = std::fs::remove_dir_all(&dir);
    r
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

    /// `far` played into a room with impulse response `ir`: the microphone
    /// (the echo alone) and AEC3's output, frame by frame.
    fn echo_and_aec(ir: &[f32], far: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut room = Room::from_impulse_response(ir).unwrap();
        let mut aec = EchoCanceller::new().unwrap();
        let (mut mic_all, mut out_all) = (Vec::new(), Vec::new());
        for c in far.chunks_exact(FRAME) {
            let played: [f32; FRAME] = c.try_into().unwrap();
            let mut mic = [0.0f32; FRAME];
            room.add_echo(&played, &mut mic);
            let mut out = [0.0f32; FRAME];
            aec.process(&mic, &played, &mut out);
            mic_all.extend_from_slice(&mic);
            out_all.extend_from_slice(&out);
        }
        (mic_all, out_all)
    }

    #[test]
    fn the_echo_test_finds_the_played_signal_through_a_room_and_not_another_voice() {
        // 33 frames: the learning window with its longest wait.
        let n = 33 * FRAME;
        let far = chirpy(n, 1);
        let (echo, _) = echo_and_aec(&sox_room_ir(40, -6.0, 50).unwrap(), &far);
        // Another speaker: the same kind of signal from a later stretch,
        // its pitch and syllables elsewhere.
        let other: Vec<f32> = chirpy(n + 40_000, 2)[40_000..].to_vec();
        let alone = echo_phat_peak(&echo, &far);
        let voice = echo_phat_peak(&other, &far);
        let both: Vec<f32> = echo.iter().zip(&other).map(|(e, o)| e + o).collect();
        let double_talk = echo_phat_peak(&both, &far);
        assert!(alone >= ECHO_MIN_PHAT_PEAK, "echo alone: {alone}");
        assert!(double_talk >= ECHO_MIN_PHAT_PEAK, "echo under a voice as loud: {double_talk}");
        assert!(voice < ECHO_MIN_PHAT_PEAK, "another voice: {voice}");
        // Too short to tell: nothing.
        assert_eq!(echo_phat_peak(&echo[..FRAME], &far[..FRAME]), 0.0);
        assert_eq!(echo_phat_peak(&vec![0.0; n], &far), 0.0);
    }

    #[test]
    fn a_sox_room_has_nothing_before_its_delay_and_aec_cancels_it() {
        for (delay_ms, gain_db, rev) in [(40u32, -6.0f32, 50u32), (80, -6.0, 80)] {
            let ir = sox_room_ir(delay_ms, gain_db, rev).unwrap();
            let d = delay_ms as usize * 16;
            let e = |x: &[f32]| x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>();
            let total = e(&ir);
            // Before the fix half the energy came at sample 0 (sox dithers
            // the silence before the delay, hence not zero).
            assert!(e(&ir[..d]) <= total * 1e-4, "{delay_ms} ms: {:.3} of the energy before the delay", e(&ir[..d]) / total);
            let peak = ir.iter().enumerate().fold((0, 0.0f32), |m, (i, x)| if x.abs() > m.1 { (i, x.abs()) } else { m });
            assert_eq!(peak.0, d, "{delay_ms} ms: direct path at sample {}", peak.0);
            let want = 10f32.powf(gain_db / 20.0);
            assert!((peak.1 - want).abs() < 0.02 * want, "{delay_ms} ms: direct path {} (want {want})", peak.1);
            // AEC3 follows such a room: after 3 s of noise-like speech the
            // echo is well down (it was 2-4 dB with the two-path rooms).
            let (mic_all, out_all) = echo_and_aec(&ir, &chirpy(16_000 * 6, 2));
            let from = 16_000 * 3;
            let erle = erle_db(&mic_all[from..], &out_all[from..]);
            eprintln!("{delay_ms} ms room: ERLE {erle:.1} dB");
            assert!(erle > 10.0, "{delay_ms} ms room: ERLE {erle:.1} dB");
        }
    }

    #[test]
    fn aec_removes_most_of_a_delayed_echo_after_it_converges() {
        let far = chirpy(16_000 * 6, 1);
        let mut ir = vec![0.0f32; 1_200];
        ir[640] = 0.4; // 40 ms
        ir[900] = 0.15;
        let (mic_all, out_all) = echo_and_aec(&ir, &far);
        // After 3 s of convergence.
        let from = 16_000 * 3;
        let erle = erle_db(&mic_all[from..], &out_all[from..]);
        assert!(erle > 10.0, "ERLE {erle:.1} dB (mic rms {}, out rms {})", rms(&mic_all[from..]), rms(&out_all[from..]));
    }

    #[test]
    fn the_reference_hands_out_exactly_what_a_file_sink_played_frame_by_frame() {
        let mut r = EchoReference::new();
        let a: Vec<f32> = (0..FRAME * 3).map(|i| i as f32).collect();
        r.pushed(&a);
        let mut out = [0.0f32; FRAME];
        // Nothing played yet: silence, and the cursor stays.
        r.next_frame(0, &mut out);
        assert!(out.iter().all(|x| *x == 0.0));
        for k in 0..3 {
            r.next_frame(((k + 1) * FRAME) as u64, &mut out);
            assert_eq!(out[0], (k * FRAME) as f32);
            assert_eq!(out[FRAME - 1], ((k + 1) * FRAME - 1) as f32);
        }
        // All played: silence again.
        r.next_frame((3 * FRAME) as u64, &mut out);
        assert!(out.iter().all(|x| *x == 0.0));
    }

    #[test]
    fn a_stopped_sink_leaves_nothing_in_the_reference_and_later_speech_lines_up() {
        let mut r = EchoReference::new();
        r.pushed(&vec![0.5f32; FRAME * 10]);
        let mut out = [0.0f32; FRAME];
        r.next_frame(FRAME as u64, &mut out);
        assert_eq!(out[0], 0.5);
        r.stopped();
        // After a stop, the loop's played count jumps to everything pushed.
        r.next_frame((FRAME * 10) as u64, &mut out);
        assert!(out.iter().all(|x| *x == 0.0), "dropped audio must not be referenced");
        r.pushed(&vec![0.25f32; FRAME]);
        r.next_frame((FRAME * 11) as u64, &mut out);
        assert!(out.iter().all(|x| *x == 0.25));
    }

    #[test]
    fn a_reference_that_falls_far_behind_a_bursty_device_skips_ahead() {
        let mut r = EchoReference::new();
        let a: Vec<f32> = (0..FRAME * 40).map(|i| i as f32).collect();
        r.pushed(&a);
        let mut out = [0.0f32; FRAME];
        // The device reports 20 frames played at once.
        r.next_frame((FRAME * 20) as u64, &mut out);
        assert_eq!(out[0], (FRAME * 19) as f32, "should resync to the newest played frame");
        // A burst within the allowed lag is followed frame by frame.
        r.next_frame((FRAME * 23) as u64, &mut out);
        assert_eq!(out[0], (FRAME * 20) as f32);
    }

    #[test]
    fn the_echo_path_removes_a_simulated_rooms_echo_only_when_cancelling() {
        let far = chirpy(16_000 * 5, 3);
        let mut ir = vec![0.0f32; 1_000];
        ir[480] = 0.5; // 30 ms
        ir[700] = 0.1;
        let run = |mode: EchoMode| {
            let (mut path, why) = EchoPath::new(mode, Some(Room::from_impulse_response(&ir).unwrap()));
            assert!(why.is_none());
            path.pushed(&far);
            let mut heard = Vec::new();
            for k in 0..far.len() / FRAME {
                let mut mic = [0.0f32; FRAME];
                path.process(&mut mic, ((k + 1) * FRAME) as u64);
                heard.extend_from_slice(&mic);
            }
            (heard, path.residual_db())
        };
        let (off, _) = run(EchoMode::Off);
        let (aec, residual) = run(EchoMode::Aec);
        assert!(residual < -10.0, "the residual estimate should learn the cancelled echo: {residual:.1} dB");
        let from = 16_000 * 2;
        assert!(rms(&off[from..]) > 0.02, "the room should carry the echo: {}", rms(&off[from..]));
        let erle = erle_db(&off[from..], &aec[from..]);
        assert!(erle > 10.0, "ERLE {erle:.1} dB");
        let (duck, _) = EchoPath::new(EchoMode::Duck, None);
        assert!(duck.deaf(true) && !duck.deaf(false));
        let (aec_path, _) = EchoPath::new(EchoMode::Aec, None);
        assert!(!aec_path.deaf(false));
    }

    /// Runs the echo path over `far` played from frame 0, with `near` (the
    /// participant) added to the microphone from `near_from` samples on;
    /// returns per frame whether the gate kept the VAD deaf.
    /// Also returns the frame after the learning window's last (where it
    /// ends depends on the room's delay); `usize::MAX` if it never ended.
    fn gate_over(room: Option<Room>, far: &[f32], near: &[f32], near_from: usize) -> (Vec<bool>, Vec<f64>, usize) {
        let (mut deaf, mut residual, mut end) = (Vec::new(), Vec::new(), usize::MAX);
        drive_gate(room, far, near, near_from, |path| {
            if end == usize::MAX && path.echo_found().is_some() {
                end = deaf.len() + 1;
            }
            deaf.push(path.deaf(true));
            residual.push(path.residual_db());
        });
        (deaf, residual, end)
    }

    /// The loop under [`gate_over`]: `far` played from
    /// frame 0, `near` added to the microphone from `near_from` samples on,
    /// `after` called with the path once each frame is processed.
    fn drive_gate(room: Option<Room>, far: &[f32], near: &[f32], near_from: usize, mut after: impl FnMut(&EchoPath)) {
        let (mut path, _) = EchoPath::new(EchoMode::Aec, room);
        path.pushed(far);
        for k in 0..far.len() / FRAME {
            let mut mic = [0.0f32; FRAME];
            for (i, m) in mic.iter_mut().enumerate() {
                *m = (k * FRAME + i).checked_sub(near_from).and_then(|j| near.get(j)).copied().unwrap_or(0.0);
            }
            path.process(&mut mic, ((k + 1) * FRAME) as u64);
            after(&path);
        }
    }

    #[test]
    fn the_gate_learns_in_the_first_reply_whether_anything_comes_back() {
        let far = chirpy(16_000 * 2, 11);
        let mut ir = vec![0.0f32; 1_000];
        ir[480] = 0.3; // 30 ms, -10 dB
        let (deaf_none, res_none, end_none) = gate_over(None, &far, &[], 0);
        let (deaf_room, res_room, end_room) = gate_over(Some(Room::from_impulse_response(&ir).unwrap()), &far, &[], 0);
        // Nothing comes back: the window waits out the longest delay, then
        // measures its frames. The room's echo arrives within its first
        // three frames (30 ms, the chirp's start quiet), and only the frames
        // before it are waited out.
        assert_eq!(end_none, (LEARN_MAX_DELAY_FRAMES + LEARN_FRAMES) as usize);
        assert!(end_room > LEARN_FRAMES as usize && end_room <= LEARN_FRAMES as usize + 3, "the window ended at frame {end_room}");
        for (deaf, end) in [(&deaf_none, end_none), (&deaf_room, end_room)] {
            assert!(deaf[..end].iter().all(|d| *d), "the learning window is gated");
        }
        let learn = end_none;
        // Before it, both start at "nothing cancelled"; after it, the
        // estimate says where each room is, not seconds of decay later.
        assert_eq!(res_none[learn - 2], RESIDUAL_START_DB);
        assert!(res_none[learn] < -30.0, "nothing comes back, yet the estimate is {:.1} dB", res_none[learn]);
        // The room: its echo level is learned on the raw microphone (-10 dB
        // comes back), and the residual starts where AEC3's output is by the
        // window's end — far under the raw echo (it starting at the raw
        // level kept the gate shut to a participant over the first reply),
        // yet far above a room where nothing comes back.
        // (The level a frame reports is the one learned before it: read the
        // last frame's, the robot playing throughout.)
        let mut learned = 0.0;
        drive_gate(Some(Room::from_impulse_response(&ir).unwrap()), &far, &[], 0, |path| learned = path.last_frame().learned_db);
        assert!(learned > -20.0 && learned < 0.0, "a -10 dB room learned as {learned:.1} dB");
        let res = res_room[end_room];
        assert!(res < learned - 10.0, "the residual starts at {res:.1} dB, the raw echo at {learned:.1} dB");
        assert!(res > res_none[learn] + 20.0, "the residual starts at {res:.1} dB, with no echo at {:.1} dB", res_none[learn]);
    }

    #[test]
    fn with_nothing_coming_back_the_microphone_passes_untouched_after_the_learning_window() {
        let far = chirpy(16_000 * 3, 11);
        let near: Vec<f32> = chirpy(16_000 * 2, 5).iter().map(|x| 0.3 * x).collect();
        let run = |room: Option<Room>| {
            let (mut path, _) = EchoPath::new(EchoMode::Aec, room);
            path.pushed(&far);
            let (mut raw, mut heard, mut deaf) = (Vec::new(), Vec::new(), Vec::new());
            for k in 0..far.len() / FRAME {
                let mut mic = [0.0f32; FRAME];
                for (i, m) in mic.iter_mut().enumerate() {
                    *m = (k * FRAME + i).checked_sub(16_000).and_then(|j| near.get(j)).copied().unwrap_or(0.0);
                }
                raw.extend_from_slice(&mic);
                path.process(&mut mic, ((k + 1) * FRAME) as u64);
                heard.extend_from_slice(&mic);
                deaf.push(path.deaf(true));
            }
            (raw, heard, deaf, path.echo_found())
        };
        let (raw, heard, deaf, found) = run(None);
        assert_eq!(found, Some(false));
        let (mut p, _) = EchoPath::new(EchoMode::Aec, None);
        p.pushed(&far);
        let mut notes = Vec::new();
        for k in 0..far.len() / FRAME {
            let mut mic = [0.0f32; FRAME];
            p.process(&mut mic, ((k + 1) * FRAME) as u64);
            notes.extend(p.take_learned().map(|n| (k, n)));
        }
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0].0, (LEARN_MAX_DELAY_FRAMES + LEARN_FRAMES) as usize - 1);
        assert!(notes[0].1.contains("passes untouched"), "{notes:?}");
        // From the participant's first sample on: not a frame gated, not a
        // sample changed (AEC3's suppressor would mute them at first).
        assert!(deaf[16_000 / FRAME..].iter().all(|d| !*d));
        assert_eq!(&raw[16_000..], &heard[16_000..]);
        // The control: with a room the canceller does work on the microphone.
        let mut ir = vec![0.0f32; 1_000];
        ir[480] = 0.3;
        let (_, _, _, found) = run(Some(Room::from_impulse_response(&ir).unwrap()));
        assert_eq!(found, Some(true));
    }

    #[test]
    fn a_participant_who_starts_talking_in_the_learning_window_is_not_learned_as_the_echo() {
        let far = chirpy(16_000 * 3, 11);
        let near: Vec<f32> = chirpy(16_000 * 2, 5).iter().map(|x| 0.5 * x).collect();
        // They start ten frames before the window would end in a room
        // without delay (40 % of it).
        let near_from = (LEARN_FRAMES as usize - 10) * FRAME;
        let learn = LEARN_FRAMES as usize;
        // With nothing coming back the window waits out the longest delay first.
        let learn_no_echo = (LEARN_MAX_DELAY_FRAMES + LEARN_FRAMES) as usize;
        let after = |deaf: &[bool]| deaf[learn_no_echo..learn_no_echo + 40].iter().filter(|d| !**d).count();
        // No room: nothing of the robot comes back, so the microphone must
        // pass untouched once the window ends, participant and all.
        let (mut path, _) = EchoPath::new(EchoMode::Aec, None);
        path.pushed(&far);
        let mut deaf = Vec::new();
        for k in 0..far.len() / FRAME {
            let mut mic = [0.0f32; FRAME];
            for (i, m) in mic.iter_mut().enumerate() {
                *m = (k * FRAME + i).checked_sub(near_from).and_then(|j| near.get(j)).copied().unwrap_or(0.0);
            }
            path.process(&mut mic, ((k + 1) * FRAME) as u64);
            deaf.push(path.deaf(true));
        }
        assert_eq!(path.echo_found(), Some(false), "the participant's voice was taken for an echo");
        assert_eq!(after(&deaf), 40, "the participant was gated after the window");
        // No room, and they talk through most of the window (from 160 ms,
        // just past the longest delay the window waits out): the frames
        // before them say nothing comes back. (One who starts within that
        // delay, 128 ms, cannot be told from an echo by level and time
        // alone: they are taken for it.)
        let (mut path, _) = EchoPath::new(EchoMode::Aec, None);
        path.pushed(&far);
        for k in 0..learn_no_echo + 1 {
            let mut mic = [0.0f32; FRAME];
            for (i, m) in mic.iter_mut().enumerate() {
                *m = (k * FRAME + i).checked_sub(10 * FRAME).and_then(|j| near.get(j)).copied().unwrap_or(0.0);
            }
            path.process(&mut mic, ((k + 1) * FRAME) as u64);
        }
        assert_eq!(path.echo_found(), Some(false), "a participant talking through most of the window was taken for an echo");
        // A -10 dB room (the participant 4 dB above its echo): the level
        // learned with them talking stays near the one learned without them
        // (the loudest frame would have been theirs).
        let mut ir = vec![0.0f32; 1_000];
        ir[480] = 0.3;
        let room = || Some(Room::from_impulse_response(&ir).unwrap());
        let (_, alone, end) = gate_over(room(), &far, &[], 0);
        // Ten frames before this room's window ends (it waited out the
        // frames before the echo arrived).
        let (_, with, end_with) = gate_over(room(), &far, &near, (end - 10) * FRAME);
        assert_eq!(end_with, end);
        assert!((with[end] - alone[end]).abs() < 2.5, "learned {:.1} dB with the participant, {:.1} dB without", with[end], alone[end]);
        // The same room, and they start after 8 frames, talking through
        // two thirds of the window, 10 dB above the echo (a participant
        // near the microphone; the echo bench's are 10-20 dB above): the
        // median frame is theirs, and still the level comes from the frames
        // before them. (At 4 dB, as above, no onset stands out; then the
        // median is theirs and the level 3-4 dB high.)
        let loud = chirpy(16_000 * 2, 5);
        // Eight frames read the echo a little low (its loudest frames come
        // later in the window): -9.9 dB against -7.2 dB from all 25.
        let (_, with, _) = gate_over(room(), &far, &loud, 8 * FRAME);
        let d = with[end] - alone[end];
        assert!(d < 2.5 && d > -4.0, "learned {:.1} dB with the participant from frame 8, {:.1} dB without", with[end], alone[end]);
        // A -10 dB room, and the robot starts while the participant holds
        // the floor (their turn began before it): those frames are neither
        // measured nor ducked; the window measures the room after their turn.
        let (mut path, _) = EchoPath::new(EchoMode::Aec, room());
        path.pushed(&far);
        let held = 30;
        let (mut deaf_held, mut learned) = (0, None);
        for k in 0..far.len() / FRAME {
            let mut mic = [0.0f32; FRAME];
            for (i, m) in mic.iter_mut().enumerate() {
                let j = k * FRAME + i;
                *m = if k < held { near.get(j).copied().unwrap_or(0.0) } else { 0.0 };
            }
            path.participant_has_floor(k < held);
            path.process(&mut mic, ((k + 1) * FRAME) as u64);
            if k < held && path.deaf(true) {
                deaf_held += 1;
            }
            if learned.is_none() && path.echo_found().is_some() {
                learned = Some((k, path.residual_db()));
            }
        }
        assert_eq!(deaf_held, 0, "the participant holding the floor was ducked");
        let (k, res) = learned.expect("the window ended");
        // (Their turn over, the echo is already there: no frame waited.)
        assert_eq!(k, held + learn - 1, "the window measured frames while the participant held the floor");
        assert!((res - alone[end]).abs() < 2.5, "learned {res:.1} dB after the participant's turn, {:.1} dB with nobody talking", alone[end]);
    }

    #[test]
    fn through_a_sox_room_with_a_delay_the_echo_of_the_first_reply_never_opens_the_gate() {
        // The bench's rooms as they are meant (every path after the delay):
        // over the session's first reply, after the learning window, the
        // robot's voice alone must not reach the VAD. Without waiting out
        // the delay, the 70 ms room's floor frames before the echo read as
        // "nothing comes back" and the microphone passed untouched.
        for (delay_ms, gain_db, rev) in [(40u32, -6.0f32, 50u32), (70, -4.0, 40)] {
            let ir = sox_room_ir(delay_ms, gain_db, rev).unwrap();
            let far = chirpy(16_000 * 4, 17);
            let (deaf, _, end) = gate_over(Some(Room::from_impulse_response(&ir).unwrap()), &far, &[], 0);
            let leaked = deaf[end..].iter().filter(|d| !**d).count();
            assert!(leaked == 0, "{delay_ms} ms room: the echo reached the VAD in {leaked} of {} frames", deaf.len() - end);
        }
    }

    #[test]
    fn a_participant_as_loud_as_the_echo_is_heard_over_the_first_reply_after_the_window() {
        // A -10 dB room; 160 ms after the window the participant talks at the
        // echo's own level (-10 dB of what is played). AEC3 has converged,
        // so its output carries them well above what it leaves of the echo;
        // with the residual starting at the raw echo level (+3 dB) they had
        // to stand 6 dB above that and were not heard.
        let far = chirpy(16_000 * 4, 11);
        let near: Vec<f32> = chirpy(16_000 * 2, 5).iter().map(|x| 0.3 * x).collect();
        let mut ir = vec![0.0f32; 1_000];
        ir[480] = 0.3;
        let room = || Some(Room::from_impulse_response(&ir).unwrap());
        let (_, _, end) = gate_over(room(), &far, &[], 0);
        let from = end + 10;
        let (deaf, _, _) = gate_over(room(), &far, &near, from * FRAME);
        let open = deaf[from..from + 40].iter().filter(|d| !**d).count();
        assert!(open >= 30, "only {open} of 40 frames of the participant passed the gate");
    }

    #[test]
    fn with_a_room_the_learned_estimate_keeps_the_echo_from_the_vad_after_the_learning_window() {
        let far = chirpy(16_000 * 4, 13);
        let mut ir = vec![0.0f32; 1_000];
        ir[480] = 0.3; // 30 ms, -10 dB
        ir[700] = 0.1;
        let (deaf, _, end) = gate_over(Some(Room::from_impulse_response(&ir).unwrap()), &far, &[], 0);
        let echo_only = &deaf[end..];
        let leaked = echo_only.iter().filter(|d| !**d).count();
        assert!(leaked * 20 < echo_only.len(), "echo reached the VAD in {leaked} of {} frames", echo_only.len());
    }

    /// Frames the gate passes for a sequence of clear flags.
    fn gate_run(clear: &[bool]) -> Vec<bool> {
        let mut hold = 0;
        clear
            .iter()
            .map(|&c| {
                let (open, h) = gate_step(hold, c);
                hold = h;
                open
            })
            .collect()
    }

    #[test]
    fn a_lone_frame_clear_of_the_echo_opens_the_gate_briefly_and_words_hold_it_open() {
        // Lone echo frames standing clear every 560 ms (35 frames), as in
        // the bench's reverberant room: each opens the gate for 64 ms, so the
        // turn taker (300 ms pauses end an overlap) never sees 700 ms of voice.
        let mut lone = vec![false; 140];
        for i in (0..140).step_by(35) {
            lone[i] = true;
        }
        let open = gate_run(&lone);
        assert_eq!(open.iter().filter(|&&o| o).count(), 4 * NEAR_END_OPEN_FRAMES as usize);
        assert!(open[..4].iter().all(|&o| o) && !open[4], "{:?}", &open[..6]);
        // A participant's words: clear frames close together hold it open
        // across the quiet parts between them (gaps of 10 frames, 160 ms).
        let mut words = vec![false; 60];
        for i in [0, 2, 12, 22, 32, 42] {
            words[i] = true;
        }
        let open = gate_run(&words);
        assert!(open[..42 + NEAR_END_HOLD_FRAMES as usize].iter().all(|&o| o), "{open:?}");
        assert!(!open[42 + NEAR_END_HOLD_FRAMES as usize], "the hangover ends");
        // Nothing clear: shut.
        assert!(gate_run(&[false; 10]).iter().all(|&o| !o));
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
