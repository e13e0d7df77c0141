//! The voice pipeline, driven one 16 ms frame at a time:
//! source → VAD → [`TurnTaker`] → STT worker → [`Responder`] (the dialogue
//! engine) → TTS worker → sink.
//!
//! Time inside the loop is *stream time*: frame n starts at n × 16 ms. A live
//! microphone paces frames in real time. A file is paced in real time, or with
//! `Pacing::Fast` it runs as fast as possible *while nothing is being
//! computed*; whenever STT, the engine or TTS is working, stream time is held
//! to real time, so latencies in the transcript and in OUT.wav are the ones
//! a participant would have heard. Stages run on their own threads, so the
//! loop keeps hearing (barge-in, next utterance) while they work.

use crate::audio::{ms_to_samples, samples_to_ms, FRAME, FRAME_MS};
use crate::echo::{EchoMode, EchoPath, Room};
use crate::endpoint::{completeness_sure, with_prosody, Completeness};
use crate::overlap::OverlapWords;
use crate::stt::{SttJob, SttResult, SttWorker};
use crate::tts::{TtsAudio, TtsJob, TtsWorker};
use crate::turn::{TurnEvent, TurnParams, TurnTaker};
use crate::vad::Vad;
use crate::{SpeechConfig, SpeechError};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where frames come from (a file or a microphone).
pub trait FrameSource {
    /// Fills `out` with the next 16 ms; `Ok(false)` at the end of the input.
    /// A live source blocks until a frame is there.
    fn next_frame(&mut self, out: &mut [f32; FRAME]) -> Result<bool, SpeechError>;
    /// True for a device that paces itself.
    fn is_live(&self) -> bool;
}

/// Where robot speech goes (a file or a speaker).
pub trait PlaybackSink {
    /// Queues 16 kHz mono audio after whatever is queued.
    fn push(&mut self, samples: &[f32]) -> Result<(), SpeechError>;
    /// Drops everything queued; output falls silent within one device period.
    fn stop(&mut self);
    /// Samples (16 kHz) queued and not yet played.
    fn pending(&self) -> usize;
    /// One frame of stream time passed.
    fn tick(&mut self) -> Result<(), SpeechError>;
    /// Flushes and closes.
    fn finish(&mut self) -> Result<(), SpeechError>;
}

/// A transcribed participant utterance for the dialogue engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    /// Loop-assigned id; reply events and interruptions refer to it.
    pub id: u64,
    /// What whisper heard.
    pub text: String,
}

/// What the dialogue engine sends back for an utterance.
#[derive(Debug)]
pub enum ReplyEvent<R> {
    /// One validated, committed sentence, ready to speak.
    Sentence { id: u64, text: String },
    /// The turn is complete; `report` is what the transcript records.
    Done { id: u64, report: R },
    /// The engine failed on this utterance (logged; the session goes on).
    Failed { id: u64, error: String },
}

/// The dialogue engine as the loop sees it. Implementations must not block:
/// `submit` queues, `poll` returns what is ready.
pub trait Responder<R> {
    /// Hands over a transcribed utterance.
    fn submit(&mut self, utt: Utterance) -> Result<(), SpeechError>;
    /// The next reply event, if one is ready.
    fn poll(&mut self) -> Option<ReplyEvent<R>>;
    /// The reply to `id` was cut off after `spoken_chars` characters.
    fn interrupted(&mut self, id: u64, spoken_chars: usize);
    /// The last reply asked a question whose answer must be heard even when
    /// it is short and spoken over the question (the crisis check-in: a
    /// "Yes." said while the robot is still asking is the answer, not a
    /// backchannel).
    fn answer_expected(&self) -> bool {
        false
    }
    /// Whether the reply `report` records must be spoken even after the
    /// participant went on talking before it was heard (the crisis protocol
    /// and the check-in question). Other replies are withdrawn then.
    fn must_be_heard(&self, _report: &R) -> bool {
        false
    }
    /// The participant went on talking before the reply to `id` was heard
    /// (past its first `spoken_chars` characters), and their next words are
    /// about to be submitted: the reply will not be spoken unless
    /// [`must_be_heard`](Self::must_be_heard) says so, in which case it is
    /// spoken after those words. Called before that next utterance is
    /// submitted, so an engine can drop the unheard reply from its history,
    /// or know that the next words were said before a question was heard.
    fn superseded(&mut self, _id: u64, _spoken_chars: usize) {}
}

/// How stream time relates to real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Frames at real-time pace (file played as if live).
    RealTime,
    /// Idle stretches skipped; real time only while a stage computes.
    Fast,
}

/// One completed turn, for the transcript.
#[derive(Debug)]
pub struct TurnRecord<R> {
    /// The engine's report.
    pub report: R,
    /// What whisper heard.
    pub asr_text: String,
    /// whisper's wall time for this utterance.
    pub asr_ms: u64,
    /// End of participant speech → end of turn decided.
    pub endpoint_ms: u64,
    /// End of participant speech → its transcript handed to the engine
    /// (endpointing and whisper together: what the engine cannot start before).
    pub heard_ms: u64,
    /// First sentence text → its audio ready (TTS time); None if nothing was spoken.
    pub tts_first_audio_ms: Option<u64>,
    /// End of participant speech → first robot audio heard; None if nothing was spoken.
    pub turn_latency_ms: Option<u64>,
    /// The participant interrupted the reply.
    pub interrupted: bool,
    /// The participant went on talking before the reply was heard, so it
    /// was withdrawn (not spoken past `spoken_chars`); their next turn is
    /// answered instead. `interrupted` is set too.
    pub withdrawn: bool,
    /// Characters of the reply actually heard.
    pub spoken_chars: usize,
    /// Stream time the participant's speech started and ended.
    pub speech_start_ms: u64,
    /// See `speech_start_ms`.
    pub speech_end_ms: u64,
}

/// Things worth logging or reacting to (the head's backchannel nods).
#[derive(Debug, Clone, PartialEq)]
pub enum LoopEvent {
    /// Participant speech started.
    SpeechStart { at_ms: u64 },
    /// A pause inside the participant's turn.
    Pause { at_ms: u64 },
    /// The participant talked over the robot: playback was stopped at `at_ms`.
    BargeIn { at_ms: u64, id: u64, spoken_chars: usize },
    /// The participant went on talking before the reply to `id` was heard
    /// (past `spoken_chars`); it will not be spoken, their next words are
    /// answered instead.
    Withdrawn { at_ms: u64, id: u64, spoken_chars: usize },
    /// A short overlap that did not interrupt.
    Backchannel { start_ms: u64, end_ms: u64 },
    /// An utterance was heard as nothing (noise, silence) and skipped.
    Empty { id: u64 },
    /// Something was dropped or failed for one utterance; the session goes on.
    Warning { msg: String },
    /// The participant's turn ended: speech from `start_ms` to `end_ms`,
    /// decided at `at_ms` (the robot's cue to take the turn).
    EndOfTurn { at_ms: u64, start_ms: u64, end_ms: u64 },
    /// Sentence `seq` of reply `id` started playing at `at_ms`; `envelope`
    /// is its loudness per [`ENVELOPE_FRAME_MS`] (RMS, peak = 1).
    /// `part` > 0: the rest of a sentence whose first clause played as its
    /// own audio ([`crate::tts::split_first_clause`]); the same sentence.
    PlaybackStart { at_ms: u64, id: u64, seq: u32, part: u32, duration_ms: u64, envelope: Vec<f32> },
    /// Sentence `seq` of reply `id` finished playing at `at_ms`.
    PlaybackEnd { at_ms: u64, id: u64, seq: u32 },
    /// At start: what keeps the robot's voice out of the microphone; again
    /// in `aec` mode once the first reply has measured the room.
    Echo { active: crate::echo::EchoMode, description: String },
    /// Adaptive endpointing's reading of the turn up to `end_ms` was
    /// abandoned at `at_ms` (the participant went on, so its words would not
    /// count) and whisper was told to stop it.
    ProbeAbandoned { at_ms: u64, end_ms: u64 },
    /// Adaptive endpointing's reading of the turn up to `end_ms` came back
    /// at `at_ms` saying `words` (with the voice's cue, if on); `taken`
    /// when the turn was still in that silence and waits by it.
    Words { at_ms: u64, end_ms: u64, words: crate::endpoint::Completeness, taken: bool },
}

/// Frame of the loudness envelope in [`LoopEvent::PlaybackStart`].
pub const ENVELOPE_FRAME_MS: u64 = 50;

/// Loudness of `samples` (16 kHz) per [`ENVELOPE_FRAME_MS`]: RMS of each
/// frame divided by the loudest frame's, so 0..1 whatever the voice's gain.
pub fn loudness_envelope(samples: &[f32]) -> Vec<f32> {
    let n = ms_to_samples(ENVELOPE_FRAME_MS).max(1);
    let rms: Vec<f32> = samples
        .chunks(n)
        .map(|c| (c.iter().map(|x| x * x).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let peak = rms.iter().cloned().fold(0.0f32, f32::max);
    if peak <= 0.0 || !peak.is_finite() {
        return vec![0.0; rms.len()];
    }
    rms.iter().map(|r| r / peak).collect()
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoopSummary {
    /// Stream time covered.
    pub stream_ms: u64,
    /// Turns recorded.
    pub turns: usize,
    /// Barge-ins.
    pub barge_ins: usize,
    /// Backchannels heard.
    pub backchannels: usize,
    /// Short overlaps whose words were read (see [`crate::overlap`]) …
    pub overlaps_read: usize,
    /// … of which were words for a turn (answered after the robot's reply) …
    pub overlaps_turned: usize,
    /// … and of which were the robot's own words (its echo), dropped.
    pub overlaps_echo: usize,
    /// Adaptive endpointing: turns-so-far transcribed at a short silence.
    pub probes: usize,
    /// … of which became the turn's transcript (no second transcription).
    pub probes_used: usize,
    /// … of which were abandoned while whisper still had them (the
    /// participant went on): whisper stopped reading and was free again.
    pub probes_abandoned: usize,
    /// Replies withdrawn because the participant went on before hearing them.
    pub withdrawn: usize,
    /// Replies that were held back while the participant spoke and then
    /// spoken anyway (the turn was noise, or the reply must be heard).
    pub held_then_spoken: usize,
}

/// A transcribed utterance waiting for, or being, answered.
struct Pending<R> {
    /// Transcript text.
    asr_text: String,
    /// whisper time.
    asr_ms: u64,
    /// Endpointing delay.
    endpoint_ms: u64,
    /// Speech end → transcript handed to the engine.
    heard_ms: u64,
    /// Speech span.
    speech_start_ms: u64,
    /// See above.
    speech_end_ms: u64,
    /// Sentences handed to TTS.
    sentences_in: u32,
    /// Sentences whose audio came back (spoken, dropped or failed).
    audio_back: u32,
    /// Real time the first sentence arrived from the engine.
    first_sentence_at: Option<Instant>,
    /// TTS time of the first sentence.
    tts_first_ms: Option<u64>,
    /// Stream time the first audio is heard.
    first_audio_ms: Option<u64>,
    /// The engine's report once done.
    report: Option<R>,
    /// The engine failed.
    failed: bool,
    /// Playback was cut.
    interrupted: bool,
    /// Characters heard so far.
    spoken_chars: usize,
    /// Audio back from TTS and not yet in the sink: held while the
    /// participant holds the floor or while this reply may be superseded.
    held: VecDeque<TtsAudio>,
    /// Audio was held back at least once.
    was_held: bool,
    /// Whether a later turn of the participant's replaces this reply.
    superseded: Superseded,
    /// Sentences that came while `superseded` awaited the engine's report:
    /// synthesised only if it says the reply must be heard.
    unsynthesised: Vec<String>,
    /// Withdrawn (see [`TurnRecord::withdrawn`]).
    withdrawn: bool,
}

/// Whether a participant's later turn replaces a reply not yet (fully) heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Superseded {
    /// No (or it was decided to play).
    No,
    /// Their turn `n` ended while the reply was unheard: its transcript
    /// decides (words: the reply is withdrawn unless it must be heard;
    /// nothing: it plays).
    By(u64),
    /// That turn had words; the engine's report decides whether it must be heard.
    AwaitingReport,
}

impl<R> Pending<R> {
    /// Every sentence of the reply is in the sink (or was dropped).
    fn all_audio_out(&self) -> bool {
        self.report.is_some() && self.audio_back >= self.sentences_in && self.held.is_empty()
    }

    /// The transcript record, once the engine has reported.
    fn into_record(self, interrupted: bool) -> Option<TurnRecord<R>> {
        let report = self.report?;
        Some(TurnRecord {
            report,
            asr_text: self.asr_text,
            asr_ms: self.asr_ms,
            endpoint_ms: self.endpoint_ms,
            heard_ms: self.heard_ms,
            tts_first_audio_ms: self.tts_first_ms,
            turn_latency_ms: self.first_audio_ms.map(|t| t.saturating_sub(self.speech_end_ms)),
            interrupted,
            withdrawn: self.withdrawn,
            spoken_chars: self.spoken_chars,
            speech_start_ms: self.speech_start_ms,
            speech_end_ms: self.speech_end_ms,
        })
    }
}

/// One sentence in the sink.
struct Segment {
    /// Reply id.
    id: u64,
    /// Sentence position within the reply.
    seq: u32,
    /// Loudness envelope, for observers (the head).
    envelope: Vec<f32>,
    /// Part of the sentence (0, or 1 after a first clause spoken apart).
    part: u32,
    /// The sentence's last part.
    last: bool,
    /// PlaybackStart was reported.
    started: bool,
    /// Characters of the sentence (of this part).
    chars: usize,
    /// Offset of its first sample in everything pushed.
    start: u64,
    /// Its length in samples.
    len: u64,
}

/// An utterance being transcribed.
struct InStt {
    /// The utterance id the engine sees (a probe's job id differs).
    utt_id: u64,
    /// Speech span.
    speech_start_ms: u64,
    /// See above.
    speech_end_ms: u64,
    /// Endpointing delay.
    endpoint_ms: u64,
    /// A short overlap whose words decide whether it is a turn
    /// (`utt_id` is then assigned only if it is).
    overlap: bool,
}

/// Adaptive endpointing's transcription of the turn so far, taken at a short
/// silence.
///
/// Design: this bounds what adaptive endpointing costs in whisper time. At
/// most one probe is in flight (a silence that comes while one is running is
/// judged on silence alone, the fixed wait); whisper hears a turn at most once
/// per silence of `short_silence_ms` inside it, and when the turn ends at the
/// silence that was probed, the probe's transcript *is* the turn's transcript
/// — it is never transcribed twice. The only extra work is the turn-so-far
/// of each silence the participant went on after (with scaled `audio_ctx`,
/// whisper's time grows with that length).
struct Probe {
    /// STT job id (from a range of its own, so utterance ids stay 1, 2, 3…).
    job_id: u64,
    /// The span it heard.
    start_ms: u64,
    /// See above.
    end_ms: u64,
    /// Its result once back.
    result: Option<SttResult>,
    /// Set when the probe goes stale: whisper stops reading it.
    cancel: Arc<AtomicBool>,
    /// Where the voice was heading before the pause (`[speech.endpointing]
    /// prosody` only).
    pitch: Option<crate::prosody::EndPitch>,
}

/// Probe job ids start here (utterance ids count from 1).
const PROBE_ID_BASE: u64 = 1 << 48;
/// Whisper job ids of short overlaps being read (see [`crate::overlap`]).
const OVERLAP_ID_BASE: u64 = 1 << 49;
/// How many of the robot's latest sentences an overlap is compared with.
const ROBOT_SAID_KEPT: usize = 6;

/// Stages and settings the loop needs.
pub struct VoiceLoop<'a, R> {
    /// Speech config (VAD, turn-taking).
    cfg: &'a SpeechConfig,
    /// STT worker.
    stt: &'a SttWorker,
    /// TTS worker.
    tts: &'a TtsWorker,
    /// The dialogue engine.
    responder: &'a mut dyn Responder<R>,
    /// Pacing for non-live sources.
    pacing: Pacing,
    /// Longest the loop keeps running after a file ends, waiting for replies.
    pub drain_limit_ms: u64,
    /// A simulated room that mixes the robot's played speech back into the
    /// input (file mode: the echo a speaker and microphone would make).
    pub room: Option<Room>,
    /// Hold replies while the participant holds the floor and withdraw the
    /// ones they went on before hearing (true, always in attune). False is
    /// the loop as it was before, kept as the reference for the endpointing
    /// bench and the tests: audio goes to the speaker as it comes back.
    pub yield_to_participant: bool,
    /// When the robot's audio last ran out (none queued since), in input
    /// time; `None` while it speaks.
    robot_silent_since_ms: Option<u64>,
    /// The robot's latest sentences (sent to TTS), for telling its echo
    /// from the participant in a short overlap.
    robot_said: VecDeque<String>,
    /// Next whisper job id for a short overlap.
    next_overlap_id: u64,
}

/// Speech that began over the robot and goes on this long after the robot
/// fell silent is the participant's turn, not a backchannel.
const OUTLASTS_ROBOT_MS: u64 = 200;

impl<'a, R> VoiceLoop<'a, R> {
    /// Wires the stages.
    pub fn new(
        cfg: &'a SpeechConfig,
        stt: &'a SttWorker,
        tts: &'a TtsWorker,
        responder: &'a mut dyn Responder<R>,
        pacing: Pacing,
    ) -> Self {
        VoiceLoop { cfg, stt, tts, responder, pacing, drain_limit_ms: 180_000, room: None, yield_to_participant: true, robot_silent_since_ms: None, robot_said: VecDeque::new(), next_overlap_id: OVERLAP_ID_BASE }
    }

    /// Runs until the source ends (and every reply is spoken) or `stop` is set.
    /// Per-utterance failures go to `on_event` as warnings; only a source or
    /// sink failure ends the run with an error (turns already recorded stay).
    pub fn run(
        &mut self,
        source: &mut dyn FrameSource,
        sink: &mut dyn PlaybackSink,
        stop: &AtomicBool,
        on_turn: &mut dyn FnMut(TurnRecord<R>),
        on_event: &mut dyn FnMut(LoopEvent),
    ) -> Result<LoopSummary, SpeechError> {
        let result = self.run_inner(source, sink, stop, on_turn, on_event);
        let fin = sink.finish();
        let summary = result?;
        fin?;
        Ok(summary)
    }

    fn run_inner(
        &mut self,
        source: &mut dyn FrameSource,
        sink: &mut dyn PlaybackSink,
        stop: &AtomicBool,
        on_turn: &mut dyn FnMut(TurnRecord<R>),
        on_event: &mut dyn FnMut(LoopEvent),
    ) -> Result<LoopSummary, SpeechError> {
        let params = TurnParams::from_config(&self.cfg.vad, &self.cfg.turn).with_endpointing(&self.cfg.endpointing);
        let mut turn = TurnTaker::new(params);
        let mut vad = Vad::new(self.cfg.vad.threshold);
        // Design: the echo stage sits before the VAD, so the turn taker,
        // the pre-roll and whisper all hear the cleaned microphone.
        let (mut echo, fallback) = EchoPath::new(self.cfg.echo.mode, self.room.take());
        if let Some(why) = fallback {
            on_event(LoopEvent::Warning { msg: format!("echo canceller: {why}") });
        }
        on_event(LoopEvent::Echo { active: echo.mode(), description: echo.describe() });
        // Duck mode stays deaf for the mic tail after the robot stops: the
        // room's reverberation outlasts the last sample played.
        let duck_tail_ms = self.cfg.turn.mic_tail_ms as u64;
        let mut last_audible_ms: Option<u64> = None;
        let preroll = ms_to_samples(self.cfg.vad.preroll_ms as u64);
        // The pre-roll as whisper hears it; kept long enough to reach back
        // over a learning window of the echo stage (see `window_speech`).
        let recent_cap = preroll + ms_to_samples(WINDOW_SPEECH_REACH_MS);
        let mut recent: VecDeque<f32> = VecDeque::with_capacity(recent_cap + FRAME);
        // Stream time where someone began talking inside the echo stage's
        // learning window, while the VAD was deaf to them; their utterance
        // starts there if the VAD hears them soon after.
        let mut window_speech: Option<(u64, u64)> = None;
        let mut utt_buf: Vec<f32> = Vec::new();
        let mut utt_buf_start_ms = 0u64;
        let mut buffering = false;
        let mut next_id = 1u64;
        let mut in_stt: HashMap<u64, InStt> = HashMap::new();
        let mut probe: Option<Probe> = None;
        let mut next_probe_id = PROBE_ID_BASE;
        // STT results to handle this frame without asking whisper (an adopted probe's).
        let mut ready: VecDeque<SttResult> = VecDeque::new();
        let mut pending: HashMap<u64, Pending<R>> = HashMap::new();
        let mut order: VecDeque<u64> = VecDeque::new();
        let mut playlist: VecDeque<Segment> = VecDeque::new();
        let mut pushed_total = 0u64;
        let mut summary = LoopSummary::default();
        let mut frame = [0.0f32; FRAME];
        let mut now = 0u64;
        let mut input_done = false;
        let mut input_end_ms = 0u64;
        // Pacing anchor: (real instant, stream ms) when real-time pacing began.
        let mut anchor: Option<(Instant, u64)> = None;
        let live = source.is_live();

        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            // --- pacing -------------------------------------------------------
            let busy = !in_stt.is_empty()
                || probe.as_ref().is_some_and(|p| p.result.is_none())
                || pending.values().any(|p| (p.report.is_none() && !p.failed) || p.audio_back < p.sentences_in);
            if !live {
                let pace = self.pacing == Pacing::RealTime || busy;
                if pace {
                    let (t0, s0) = *anchor.get_or_insert((Instant::now(), now));
                    let due = t0 + Duration::from_millis(now - s0);
                    let wait = due.saturating_duration_since(Instant::now());
                    if !wait.is_zero() {
                        std::thread::sleep(wait);
                    }
                } else {
                    anchor = None;
                }
            }
            // --- input frame ----------------------------------------------------
            if !input_done {
                if !source.next_frame(&mut frame)? {
                    input_done = true;
                    input_end_ms = now;
                    if let Some(ev) = turn.finish(now) {
                        self.on_turn_event(ev, now, &mut buffering, &mut utt_buf, utt_buf_start_ms, &mut next_id,
                            &mut in_stt, &mut probe, &mut ready, &mut playlist, &mut pending, sink, pushed_total, &mut summary, on_event);
                    }
                }
            }
            if input_done {
                frame.fill(0.0);
                // A probe still running is waited for, so its result cannot
                // reach the next run of a shared STT worker.
                let idle = in_stt.is_empty()
                    && pending.is_empty()
                    && sink.pending() == 0
                    && probe.as_ref().is_none_or(|p| p.result.is_some());
                if idle || now.saturating_sub(input_end_ms) > self.drain_limit_ms {
                    if !idle {
                        on_event(LoopEvent::Warning { msg: format!("input ended; gave up waiting for replies after {} ms", self.drain_limit_ms) });
                    }
                    break;
                }
            } else {
                let playing = sink.pending() > 0;
                echo.participant_has_floor(turn.participant_has_floor());
                echo.process(&mut frame, pushed_total - sink.pending() as u64);
                // Whisper hears the raw microphone where AEC3 is still
                // learning (its young suppressor mutes words).
                let asr_frame: [f32; FRAME] = if echo.asr_hears_raw() { *echo.raw_frame() } else { frame };
                if let Some(description) = echo.take_learned() {
                    on_event(LoopEvent::Echo { active: echo.mode(), description });
                }
                if let Some(back) = echo.take_window_speech() {
                    // (began at, valid until): the VAD needs a few frames.
                    let began = now.saturating_sub(back as u64 * FRAME_MS);
                    window_speech = Some((began, now + WINDOW_SPEECH_GRACE_MS));
                }
                if playing {
                    last_audible_ms = Some(now);
                }
                let audible = last_audible_ms.is_some_and(|t| now <= t + duck_tail_ms);
                let (voiced, _) = vad.frame(&frame);
                let voiced = voiced && !echo.deaf(audible);
                let ev = turn.on_frame(voiced, playing, now);
                if let Some(TurnEvent::SpeechStart { .. }) = ev {
                    buffering = true;
                    utt_buf.clear();
                    // Design: the usual pre-roll, or back to where someone
                    // began talking inside the echo stage's learning window
                    // (the VAD was deaf to them there; their first words
                    // are in those frames).
                    let from_ms = match window_speech.take() {
                        Some((began, until)) if now <= until => began.saturating_sub(self.cfg.vad.preroll_ms as u64),
                        _ => now.saturating_sub(self.cfg.vad.preroll_ms as u64),
                    };
                    let keep = ms_to_samples(now.saturating_sub(from_ms)).min(recent.len());
                    utt_buf.extend(recent.iter().skip(recent.len() - keep).copied());
                    utt_buf_start_ms = now.saturating_sub(samples_to_ms(keep));
                }
                if buffering {
                    utt_buf.extend_from_slice(&asr_frame);
                }
                if let Some(TurnEvent::Probe { start_ms, end_ms, .. }) = ev {
                    // Adaptive endpointing: hear the turn so far (see `Probe`).
                    let free = probe.as_ref().is_none_or(|p| p.result.is_some());
                    let samples = utterance_samples(&utt_buf, utt_buf_start_ms, end_ms);
                    let pitch = if self.cfg.endpointing.prosody && free { crate::prosody::end_pitch(&samples) } else { None };
                    let job_id = next_probe_id;
                    let cancel = Arc::new(AtomicBool::new(false));
                    if free && self.stt.submit(SttJob { id: job_id, samples, cancel: Some(cancel.clone()) }).is_ok() {
                        next_probe_id += 1;
                        summary.probes += 1;
                        probe = Some(Probe { job_id, start_ms, end_ms, result: None, cancel, pitch });
                    } else {
                        turn.on_words(end_ms, Completeness::Unknown);
                    }
                } else if let Some(ev) = ev {
                    let barge = matches!(ev, TurnEvent::BargeIn { .. });
                    self.on_turn_event(ev, now, &mut buffering, &mut utt_buf, utt_buf_start_ms, &mut next_id,
                        &mut in_stt, &mut probe, &mut ready, &mut playlist, &mut pending, sink, pushed_total, &mut summary, on_event);
                    if barge {
                        echo.stopped();
                    }
                }
                recent.extend(asr_frame.iter().copied());
                while recent.len() > recent_cap {
                    recent.pop_front();
                }
            }
            // Design: a probe whose words can no longer count (the
            // participant went on, or the turn ended at another silence)
            // is stopped inside whisper, not left to finish: the single
            // whisper thread is then free for the next probe or the
            // turn's own transcription instead of reading a stale turn
            // for seconds on a slow machine. Its (aborted) result still
            // comes back and frees the probe slot as before.
            if let Some(p) = probe.as_ref().filter(|p| p.result.is_none() && !p.cancel.load(Ordering::Relaxed)) {
                if !turn.awaits_words(p.end_ms) {
                    p.cancel.store(true, Ordering::Release);
                    summary.probes_abandoned += 1;
                    on_event(LoopEvent::ProbeAbandoned { at_ms: now, end_ms: p.end_ms });
                }
            }
            // --- STT results -----------------------------------------------------
            while let Some(r) = ready.pop_front().or_else(|| self.stt.try_result()) {
                let Some(info) = in_stt.remove(&r.id) else {
                    // A probe's words: tell the turn taker (ignored if stale).
                    if let Some(p) = probe.as_mut().filter(|p| p.job_id == r.id) {
                        let c = match &r.result {
                            Ok(t) => with_prosody(completeness_sure(&t.text, t.end_p, self.cfg.endpointing.sure_end_p), p.pitch.as_ref()),
                            Err(_) => Completeness::Unknown,
                        };
                        let end_ms = p.end_ms;
                        p.result = Some(r);
                        let taken = turn.on_words(end_ms, c);
                        on_event(LoopEvent::Words { at_ms: now, end_ms, words: c, taken });
                        if !taken {
                            probe = None;
                        }
                    }
                    continue;
                };
                let mut info = info;
                if info.overlap {
                    // Design: a short overlap is a backchannel unless its
                    // words say otherwise; only words for a turn become one
                    // (a new utterance id, answered after the reply that is
                    // playing), the rest is dropped as before.
                    summary.overlaps_read += 1;
                    let said = self.robot_said.make_contiguous();
                    let echo_room = match echo.mode() {
                        EchoMode::Aec => echo.echo_found() != Some(false),
                        EchoMode::Duck => false,
                        EchoMode::Off => true,
                    };
                    let read = match &r.result {
                        Ok(t) => crate::overlap::classify_heard(&t.text, t.mean_p, said, echo_room),
                        Err(_) => OverlapWords::Nothing,
                    };
                    match read {
                        OverlapWords::Turn => {
                            summary.overlaps_turned += 1;
                            info.utt_id = next_id;
                            next_id += 1;
                            if self.yield_to_participant {
                                supersede(info.utt_id, &mut pending, &playlist);
                            }
                        }
                        OverlapWords::Echo => {
                            summary.overlaps_echo += 1;
                            continue;
                        }
                        OverlapWords::Backchannel | OverlapWords::Nothing => {
                            summary.backchannels += 1;
                            on_event(LoopEvent::Backchannel { start_ms: info.speech_start_ms, end_ms: info.speech_end_ms });
                            continue;
                        }
                    }
                }
                let id = info.utt_id;
                let has_words = matches!(&r.result, Ok(t) if t.text.chars().any(|c| c.is_alphanumeric()));
                // Design: a reply the participant went on talking before
                // hearing is replaced by their next words only if those are
                // words (a cough or a door whisper hears as nothing must not
                // silence the robot). The engine is told before the new
                // utterance reaches it, so its history drops the unheard
                // reply first.
                for (&pid, p) in pending.iter_mut().filter(|(_, p)| p.superseded == Superseded::By(id)) {
                    p.superseded = Superseded::No;
                    if !has_words {
                        continue;
                    }
                    self.responder.superseded(pid, p.spoken_chars);
                    match p.report.as_ref().map(|rep| self.responder.must_be_heard(rep)) {
                        Some(true) => {}
                        Some(false) => withdraw(pid, p, now, &mut summary, on_event),
                        // Decided when the engine's report says whether it must be heard.
                        None => p.superseded = Superseded::AwaitingReport,
                    }
                }
                match r.result {
                    Ok(t) if has_words => {
                        let utt = Utterance { id, text: t.text.clone() };
                        match self.responder.submit(utt) {
                            Ok(()) => {
                                order.push_back(id);
                                pending.insert(id, Pending {
                                    asr_text: t.text,
                                    asr_ms: r.elapsed_ms,
                                    endpoint_ms: info.endpoint_ms,
                                    heard_ms: now.saturating_sub(info.speech_end_ms),
                                    speech_start_ms: info.speech_start_ms,
                                    speech_end_ms: info.speech_end_ms,
                                    sentences_in: 0,
                                    audio_back: 0,
                                    first_sentence_at: None,
                                    tts_first_ms: None,
                                    first_audio_ms: None,
                                    report: None,
                                    failed: false,
                                    interrupted: false,
                                    spoken_chars: 0,
                                    held: VecDeque::new(),
                                    was_held: false,
                                    superseded: Superseded::No,
                                    unsynthesised: Vec::new(),
                                    withdrawn: false,
                                });
                            }
                            Err(e) => on_event(LoopEvent::Warning { msg: format!("utterance {id} not answered: {e}") }),
                        }
                    }
                    Ok(_) => on_event(LoopEvent::Empty { id }),
                    Err(e) => on_event(LoopEvent::Warning { msg: format!("utterance {id}: {e}") }),
                }
            }
            // --- engine events ---------------------------------------------------
            while let Some(ev) = self.responder.poll() {
                match ev {
                    ReplyEvent::Sentence { id, text } => {
                        let Some(p) = pending.get_mut(&id) else { continue };
                        if p.interrupted || text.trim().is_empty() {
                            continue;
                        }
                        // Design: the participant went on before hearing
                        // this reply; most likely it is withdrawn, and
                        // synthesising it would only delay the answer to
                        // what they said next.
                        if p.superseded == Superseded::AwaitingReport {
                            p.unsynthesised.push(text);
                            continue;
                        }
                        remember(&mut self.robot_said, &text);
                        synthesise(self.tts, id, p, text, on_event);
                    }
                    ReplyEvent::Done { id, report } => {
                        if let Some(p) = pending.get_mut(&id) {
                            if p.superseded == Superseded::AwaitingReport {
                                p.superseded = Superseded::No;
                                if !self.responder.must_be_heard(&report) {
                                    withdraw(id, p, now, &mut summary, on_event);
                                } else {
                                    for text in std::mem::take(&mut p.unsynthesised) {
                                        remember(&mut self.robot_said, &text);
                                        synthesise(self.tts, id, p, text, on_event);
                                    }
                                }
                            }
                            p.report = Some(report);
                        }
                    }
                    ReplyEvent::Failed { id, error } => {
                        on_event(LoopEvent::Warning { msg: format!("engine failed on utterance {id}: {error}") });
                        if let Some(p) = pending.get_mut(&id) {
                            p.failed = true;
                        }
                    }
                }
            }
            // --- TTS audio -------------------------------------------------------
            while let Some(a) = self.tts.try_audio() {
                let Some(p) = pending.get_mut(&a.utt) else { continue };
                if a.last {
                    p.audio_back += 1;
                }
                if p.interrupted {
                    continue;
                }
                match &a.audio {
                    Ok(samples) if !samples.is_empty() => p.held.push_back(a),
                    Ok(_) => {}
                    Err(e) => on_event(LoopEvent::Warning { msg: format!("sentence not spoken: {e}") }),
                }
            }
            // Design: the robot never starts talking while the participant
            // holds the floor (speaking, or in the silence before their turn
            // is judged over): audio that comes back then is held. When their
            // turn ends, a reply they had not (fully) heard may be superseded
            // by it (see the STT results above); when it was noise, or the
            // reply must be heard, the held audio plays. Replies play in
            // utterance order: a later one waits for an earlier one to finish.
            let floor = self.yield_to_participant && !input_done && turn.participant_has_floor();
            for id in order.iter() {
                let Some(p) = pending.get_mut(id) else { continue };
                if p.interrupted {
                    p.held.clear();
                    continue;
                }
                if floor || p.superseded != Superseded::No {
                    p.was_held |= !p.held.is_empty();
                    break;
                }
                if p.was_held && !p.held.is_empty() {
                    p.was_held = false;
                    summary.held_then_spoken += 1;
                }
                while let Some(a) = p.held.pop_front() {
                    let Ok(samples) = a.audio else { continue };
                    if p.first_audio_ms.is_none() {
                        p.tts_first_ms = Some(a.elapsed_ms);
                        p.first_audio_ms = Some(now + samples_to_ms(sink.pending()));
                    }
                    sink.push(&samples)?;
                    echo.pushed(&samples);
                    let envelope = loudness_envelope(&samples);
                    playlist.push_back(Segment {
                        id: a.utt,
                        seq: a.seq,
                        part: a.part,
                        last: a.last,
                        envelope,
                        started: false,
                        chars: a.chars,
                        start: pushed_total,
                        len: samples.len() as u64,
                    });
                    pushed_total += samples.len() as u64;
                }
                if !((p.report.is_some() || p.failed) && p.audio_back >= p.sentences_in) {
                    break;
                }
            }
            // --- playback progress ----------------------------------------------
            sink.tick()?;
            now += FRAME_MS;
            let played = pushed_total - sink.pending() as u64;
            for seg in playlist.iter_mut() {
                if seg.started {
                    continue;
                }
                if seg.start >= played {
                    break;
                }
                seg.started = true;
                let envelope = std::mem::take(&mut seg.envelope);
                self.robot_silent_since_ms = None;
                on_event(LoopEvent::PlaybackStart { at_ms: now, id: seg.id, seq: seg.seq, part: seg.part, duration_ms: samples_to_ms(seg.len as usize), envelope });
            }
            while let Some(seg) = playlist.front() {
                if seg.start + seg.len > played {
                    break;
                }
                if let Some(p) = pending.get_mut(&seg.id) {
                    p.spoken_chars += seg.chars;
                }
                if seg.last {
                    on_event(LoopEvent::PlaybackEnd { at_ms: now, id: seg.id, seq: seg.seq });
                }
                playlist.pop_front();
                if playlist.is_empty() {
                    self.robot_silent_since_ms = Some(now);
                }
            }
            // --- completed turns, in order ---------------------------------------
            while let Some(&id) = order.front() {
                let complete = match pending.get(&id) {
                    None => true,
                    Some(p) => {
                        p.failed
                            || (p.report.is_some()
                                && (p.interrupted
                                    || (p.all_audio_out()
                                        && p.superseded == Superseded::No
                                        && !playlist.iter().any(|s| s.id == id))))
                    }
                };
                if !complete {
                    break;
                }
                order.pop_front();
                if let Some(p) = pending.remove(&id) {
                    let interrupted = p.interrupted;
                    if let Some(rec) = p.into_record(interrupted) {
                        summary.turns += 1;
                        on_turn(rec);
                    }
                }
            }
        }
        // Stopped (Ctrl-C) or drained: turns the engine finished still get
        // their transcript line; a reply cut by the stop counts as interrupted.
        while let Some(id) = order.pop_front() {
            if let Some(p) = pending.remove(&id) {
                let cut = p.audio_back < p.sentences_in || !p.held.is_empty() || playlist.iter().any(|s| s.id == id);
                let interrupted = p.interrupted || cut;
                if let Some(rec) = p.into_record(interrupted) {
                    summary.turns += 1;
                    on_turn(rec);
                }
            }
        }
        summary.stream_ms = now;
        Ok(summary)
    }

    #[allow(clippy::too_many_arguments)]
    fn on_turn_event(
        &mut self,
        ev: TurnEvent,
        now: u64,
        buffering: &mut bool,
        utt_buf: &mut Vec<f32>,
        utt_buf_start_ms: u64,
        next_id: &mut u64,
        in_stt: &mut HashMap<u64, InStt>,
        probe: &mut Option<Probe>,
        ready: &mut VecDeque<SttResult>,
        playlist: &mut VecDeque<Segment>,
        pending: &mut HashMap<u64, Pending<R>>,
        sink: &mut dyn PlaybackSink,
        pushed_total: u64,
        summary: &mut LoopSummary,
        on_event: &mut dyn FnMut(LoopEvent),
    ) {
        match ev {
            TurnEvent::SpeechStart { at_ms, overlap: false } => on_event(LoopEvent::SpeechStart { at_ms }),
            TurnEvent::SpeechStart { .. } => {}
            TurnEvent::Pause { at_ms } => on_event(LoopEvent::Pause { at_ms }),
            // Handled where the turn taker is (it needs the answer).
            TurnEvent::Probe { .. } => {}
            TurnEvent::Discarded { .. } => {
                *buffering = false;
                utt_buf.clear();
            }
            TurnEvent::Backchannel { start_ms, end_ms }
                if !utt_buf.is_empty()
                    && (self.responder.answer_expected()
                        || self.robot_silent_since_ms.is_some_and(|t| end_ms >= t + OUTLASTS_ROBOT_MS)) =>
            {
                // Design: an answer over the question is kept and
                // transcribed as the participant's turn; the robot finishes
                // asking (no barge-in), then the answer counts. So is speech
                // that began over the robot's last words and went on after
                // them ("I could not do it." over a short "I see."): a
                // backchannel ends while the robot still speaks.
                self.on_turn_event(TurnEvent::EndOfTurn { start_ms, end_ms, at_ms: now.max(end_ms), forced: false }, now, buffering, utt_buf,
                    utt_buf_start_ms, next_id, in_stt, probe, ready, playlist, pending, sink, pushed_total, summary, on_event);
            }
            TurnEvent::Backchannel { start_ms, end_ms } => {
                *buffering = false;
                // Design: whisper reads the overlap (a second or so of
                // audio) to tell "mm-hmm" from "I'm scared." said wholly
                // under a long reply; the verdict comes with the STT result
                // (see `crate::overlap`). When whisper cannot take it, it is
                // a backchannel by length, as before.
                let samples = utterance_samples(utt_buf, utt_buf_start_ms, end_ms);
                utt_buf.clear();
                let job = self.next_overlap_id;
                let info = InStt { utt_id: 0, speech_start_ms: start_ms, speech_end_ms: end_ms, endpoint_ms: now.saturating_sub(end_ms), overlap: true };
                if !samples.is_empty() && self.stt.submit(SttJob { id: job, samples, cancel: None }).is_ok() {
                    self.next_overlap_id += 1;
                    in_stt.insert(job, info);
                } else {
                    summary.backchannels += 1;
                    on_event(LoopEvent::Backchannel { start_ms, end_ms });
                }
            }
            TurnEvent::BargeIn { at_ms, .. } => {
                // Design: stop first, account after; the sink must fall silent now.
                let played = pushed_total - sink.pending() as u64;
                sink.stop();
                let mut cut: Option<(u64, usize)> = None;
                while let Some(seg) = playlist.pop_front() {
                    let heard = played.saturating_sub(seg.start).min(seg.len);
                    if let Some(p) = pending.get_mut(&seg.id) {
                        if !p.interrupted {
                            if heard > 0 && seg.len > 0 {
                                p.spoken_chars += (seg.chars as u64 * heard / seg.len) as usize;
                            }
                            p.interrupted = true;
                            cut.get_or_insert((seg.id, 0));
                        }
                    }
                }
                // Sentences of a started reply still in TTS must not play later.
                for (id, p) in pending.iter_mut() {
                    if p.first_audio_ms.is_some() && !p.interrupted && p.report.is_none() {
                        p.interrupted = true;
                        cut.get_or_insert((*id, 0));
                    }
                }
                if let Some((id, _)) = cut {
                    let spoken = pending.get(&id).map(|p| p.spoken_chars).unwrap_or(0);
                    self.responder.interrupted(id, spoken);
                    summary.barge_ins += 1;
                    on_event(LoopEvent::BargeIn { at_ms, id, spoken_chars: spoken });
                }
                on_event(LoopEvent::SpeechStart { at_ms: now });
            }
            TurnEvent::EndOfTurn { start_ms, end_ms, at_ms, .. } => {
                on_event(LoopEvent::EndOfTurn { at_ms, start_ms, end_ms });
                *buffering = false;
                let id = *next_id;
                *next_id += 1;
                let info = InStt { utt_id: id, speech_start_ms: start_ms, speech_end_ms: end_ms, endpoint_ms: at_ms.saturating_sub(end_ms), overlap: false };
                // The turn ended at the silence adaptive endpointing probed:
                // its transcript is the turn's (see `Probe`).
                if let Some(p) = probe.take_if(|p| p.start_ms == start_ms && p.end_ms == end_ms) {
                    summary.probes_used += 1;
                    in_stt.insert(p.job_id, info);
                    if let Some(r) = p.result {
                        ready.push_back(r);
                    }
                    utt_buf.clear();
                    if self.yield_to_participant {
                        supersede(id, pending, playlist);
                    }
                    return;
                }
                let samples = utterance_samples(utt_buf, utt_buf_start_ms, end_ms);
                utt_buf.clear();
                match self.stt.submit(SttJob { id, samples, cancel: None }) {
                    Ok(()) => {
                        in_stt.insert(id, info);
                        if self.yield_to_participant {
                            supersede(id, pending, playlist);
                        }
                    }
                    Err(_) => on_event(LoopEvent::Warning { msg: format!("STT busy; utterance {id} dropped") }),
                }
            }
        }
    }
}

/// How far back (beyond the pre-roll) an utterance may start: the echo
/// stage's learning window at its longest (25 frames plus 8 of delay,
/// ~528 ms) and a little more.
const WINDOW_SPEECH_REACH_MS: u64 = 600;
/// How soon after a learning window that heard someone the VAD must hear
/// them for their utterance to start inside the window.
const WINDOW_SPEECH_GRACE_MS: u64 = 400;

/// Keeps the robot's latest sentences for [`crate::overlap::classify`].
fn remember(said: &mut VecDeque<String>, text: &str) {
    said.push_back(text.to_string());
    while said.len() > ROBOT_SAID_KEPT {
        said.pop_front();
    }
}

/// The participant's turn `by` ended: every earlier reply not yet (fully)
/// heard and not playing now may be replaced by it (decided by its words).
fn supersede<R>(by: u64, pending: &mut HashMap<u64, Pending<R>>, playlist: &VecDeque<Segment>) {
    for (id, p) in pending.iter_mut() {
        if p.interrupted || p.failed || p.all_audio_out() || p.superseded != Superseded::No || playlist.iter().any(|s| s.id == *id) {
            continue;
        }
        p.superseded = Superseded::By(by);
    }
}

/// Hands one reply sentence of utterance `id` to TTS.
fn synthesise<R>(tts: &TtsWorker, id: u64, p: &mut Pending<R>, text: String, on_event: &mut dyn FnMut(LoopEvent)) {
    p.first_sentence_at.get_or_insert_with(Instant::now);
    let job = TtsJob { utt: id, seq: p.sentences_in, text, first: p.sentences_in == 0 };
    match tts.submit(job) {
        Ok(()) => p.sentences_in += 1,
        Err(j) => on_event(LoopEvent::Warning { msg: format!("TTS queue full; sentence dropped: {}", j.text) }),
    }
}

/// The reply `p` to utterance `id` will not be spoken (past what was heard).
fn withdraw<R>(id: u64, p: &mut Pending<R>, now: u64, summary: &mut LoopSummary, on_event: &mut dyn FnMut(LoopEvent)) {
    p.interrupted = true;
    p.withdrawn = true;
    p.held.clear();
    p.unsynthesised.clear();
    p.superseded = Superseded::No;
    summary.withdrawn += 1;
    on_event(LoopEvent::Withdrawn { at_ms: now, id, spoken_chars: p.spoken_chars });
}

/// The utterance whisper hears: the buffer up to 150 ms after the last
/// voiced frame (word endings are quiet). A probe and the turn's own
/// transcription cut the same span the same way.
fn utterance_samples(utt_buf: &[f32], utt_buf_start_ms: u64, end_ms: u64) -> Vec<f32> {
    let keep_until = end_ms + 150;
    let keep = ms_to_samples(keep_until.saturating_sub(utt_buf_start_ms)).min(utt_buf.len());
    utt_buf[..keep].to_vec()
}

#[cfg(test)]
mod envelope_tests {
    use super::*;

    #[test]
    fn the_loudness_envelope_follows_the_signal_and_peaks_at_one() {
        // 100 ms loud, 100 ms quiet, 100 ms silent at 16 kHz.
        let mut s = vec![0.5f32; 1600];
        s.extend(vec![0.1f32; 1600]);
        s.extend(vec![0.0f32; 1600]);
        let e = loudness_envelope(&s);
        assert_eq!(e.len(), 6);
        assert!((e[0] - 1.0).abs() < 1e-6 && (e[1] - 1.0).abs() < 1e-6);
        assert!((e[2] - 0.2).abs() < 1e-3, "{e:?}");
        assert_eq!(e[5], 0.0);
        assert!(loudness_envelope(&[0.0; 100]).iter().all(|&x| x == 0.0));
    }
}
