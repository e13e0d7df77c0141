//! The turn-taking core: endpointing, pauses, barge-in and backchannels.
//!
//! A pure state machine fed one VAD decision per 16 ms frame together with
//! whether the robot is audible and the frame's time. It never reads a clock
//! or touches a device, so tests drive it frame by frame.
//!
//! Design: half-duplex by default. While the robot speaks (and for
//! `mic_tail_ms` after) participant speech does not start a turn; it is an
//! *overlap*. An overlap that lasts `barge_in_ms` (measured from its start,
//! short gaps included) is a barge-in: the caller stops playback at once and
//! the overlap becomes the start of the participant's next turn. An overlap
//! that ends sooner ("mm-hmm", "yeah", "okay", "right") is a backchannel: the
//! robot goes on and the audio is dropped.

use crate::audio::FRAME_MS;
use crate::endpoint::{wait_ms, Completeness, EndpointMode, EndpointingConfig};
use crate::{TurnConfig, VadConfig};

/// The numbers the core works with (from `[speech.vad]` and `[speech.turn]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnParams {
    /// Shorter speech is dropped.
    pub min_speech_ms: u64,
    /// In-utterance silence reported as a pause.
    pub pause_ms: u64,
    /// Silence that ends a turn.
    pub end_silence_ms: u64,
    /// Longest turn before a forced end.
    pub max_utterance_ms: u64,
    /// Gate the microphone while the robot speaks.
    pub half_duplex: bool,
    /// Gate this long after the robot stops.
    pub mic_tail_ms: u64,
    /// Barge-in allowed.
    pub barge_in: bool,
    /// Overlap length that counts as barge-in.
    pub barge_in_ms: u64,
    /// Adaptive endpointing's waits; None = the fixed `end_silence_ms`.
    pub adaptive: Option<AdaptiveWaits>,
}

/// Adaptive endpointing's silences (from `[speech.endpointing]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveWaits {
    /// Silence after which whisper hears the turn so far, and which ends a
    /// turn judged complete.
    pub short_ms: u64,
    /// Silence that ends a turn judged unfinished, or whose words are not
    /// known yet: the hard maximum.
    pub long_ms: u64,
}

impl TurnParams {
    /// From the config sections.
    pub fn from_config(vad: &VadConfig, turn: &TurnConfig) -> TurnParams {
        TurnParams {
            min_speech_ms: vad.min_speech_ms as u64,
            pause_ms: vad.pause_ms as u64,
            end_silence_ms: vad.end_silence_ms as u64,
            max_utterance_ms: vad.max_utterance_ms as u64,
            half_duplex: turn.half_duplex,
            mic_tail_ms: turn.mic_tail_ms as u64,
            barge_in: turn.barge_in,
            barge_in_ms: turn.barge_in_ms as u64,
            adaptive: None,
        }
    }

    /// With `[speech.endpointing]` applied (adaptive waits or none).
    pub fn with_endpointing(mut self, e: &EndpointingConfig) -> TurnParams {
        self.adaptive = match e.mode {
            EndpointMode::Fixed => None,
            EndpointMode::Adaptive => {
                Some(AdaptiveWaits { short_ms: e.short_silence_ms as u64, long_ms: e.long_silence_ms as u64 })
            }
        };
        self
    }
}

/// What the core tells the voice loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEvent {
    /// Speech began at `at_ms`; `overlap` when it began over the robot's
    /// voice (it may still turn out to be a backchannel). Start buffering.
    SpeechStart { at_ms: u64, overlap: bool },
    /// A pause inside the participant's turn (a cue for a nod).
    Pause { at_ms: u64 },
    /// The participant's turn ended: speech ran from `start_ms` to `end_ms`,
    /// decided at `at_ms`; `forced` when cut at the maximum length.
    EndOfTurn { start_ms: u64, end_ms: u64, at_ms: u64, forced: bool },
    /// Speech too short to be a turn; drop the buffered audio.
    Discarded { start_ms: u64, end_ms: u64 },
    /// Adaptive endpointing: `short_ms` of silence after speech from
    /// `start_ms` to `end_ms`. Transcribe that span and report what its words
    /// say with [`TurnTaker::on_words`]; until then the turn waits at most
    /// the long silence.
    Probe { start_ms: u64, end_ms: u64, at_ms: u64 },
    /// Stop playback now; the overlap that began at `start_ms` continues as
    /// the participant's turn.
    BargeIn { at_ms: u64, start_ms: u64 },
    /// Overlapping speech ended before it counted as barge-in.
    Backchannel { start_ms: u64, end_ms: u64 },
}

/// Where the core is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No participant speech.
    Idle,
    /// Participant speech since `start`; last voiced frame ended at `last_voiced_end`.
    Speech { start: u64, last_voiced_end: u64, pause_sent: bool, overlap: bool, words: Words },
}

/// What adaptive endpointing knows of the words before the current silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Words {
    /// Not asked (speech is going on, or the silence is still short).
    NotAsked,
    /// A [`TurnEvent::Probe`] went out; no answer yet.
    Asked,
    /// The words of the span up to this silence.
    Heard(Completeness),
}

/// The turn-taking state machine.
#[derive(Debug, Clone)]
pub struct TurnTaker {
    /// Thresholds.
    p: TurnParams,
    /// Current state.
    state: State,
    /// Whether the robot was audible on the previous frame.
    was_playing: bool,
    /// When the robot last stopped being audible (start of the mic tail).
    play_end: Option<u64>,
}

impl TurnTaker {
    /// A core in the idle state.
    pub fn new(p: TurnParams) -> TurnTaker {
        TurnTaker { p, state: State::Idle, was_playing: false, play_end: None }
    }

    /// True while participant speech is being tracked.
    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// One 16 ms frame starting at `now_ms`: `voiced` from the VAD, `playing`
    /// whether robot audio is audible in this frame.
    pub fn on_frame(&mut self, voiced: bool, playing: bool, now_ms: u64) -> Option<TurnEvent> {
        let end = now_ms + FRAME_MS;
        if self.was_playing && !playing {
            self.play_end = Some(now_ms);
        }
        self.was_playing = playing;
        let in_tail = self.play_end.is_some_and(|t| now_ms < t + self.p.mic_tail_ms);
        let gated = self.p.half_duplex && (playing || in_tail);
        match self.state {
            State::Idle => {
                if !voiced {
                    return None;
                }
                if gated && !self.p.barge_in && playing {
                    // Strict half-duplex: the robot's turn cannot be taken.
                    return None;
                }
                let overlap = gated;
                self.state = State::Speech { start: now_ms, last_voiced_end: end, pause_sent: false, overlap, words: Words::NotAsked };
                Some(TurnEvent::SpeechStart { at_ms: now_ms, overlap })
            }
            State::Speech { start, last_voiced_end, pause_sent, overlap, words } => {
                if voiced {
                    let mut ev = None;
                    let mut overlap = overlap;
                    if overlap && end - start >= self.p.barge_in_ms {
                        overlap = false;
                        if playing {
                            if self.p.barge_in {
                                ev = Some(TurnEvent::BargeIn { at_ms: end, start_ms: start });
                            } else {
                                // Cannot interrupt: keep it an overlap until the robot stops.
                                overlap = true;
                            }
                        }
                    }
                    // Speech again: whatever was heard of the silence before is stale.
                    self.state = State::Speech { start, last_voiced_end: end, pause_sent: false, overlap, words: Words::NotAsked };
                    if ev.is_none() && !overlap && end - start >= self.p.max_utterance_ms {
                        self.state = State::Idle;
                        return Some(TurnEvent::EndOfTurn { start_ms: start, end_ms: end, at_ms: end, forced: true });
                    }
                    return ev;
                }
                let silence = end.saturating_sub(last_voiced_end);
                if overlap {
                    // An overlap ends at the first pause: it was a backchannel.
                    if silence >= self.p.pause_ms {
                        self.state = State::Idle;
                        return Some(TurnEvent::Backchannel { start_ms: start, end_ms: last_voiced_end });
                    }
                    return None;
                }
                if let Some(a) = self.p.adaptive.filter(|_| last_voiced_end - start >= self.p.min_speech_ms) {
                    // Design: adaptive endpointing. At the short silence the
                    // loop transcribes the turn so far (one Probe per
                    // silence); a complete thought ends the turn at once, an
                    // unfinished one waits the long silence, words that say
                    // neither the usual wait. While the words are not known
                    // the turn waits for them up to the long silence (the
                    // reply needs the transcript anyway, so this costs no
                    // latency), and the long silence ends every turn.
                    let wait = match words {
                        Words::NotAsked | Words::Asked => a.long_ms,
                        Words::Heard(c) => wait_ms(c, a.short_ms, self.p.end_silence_ms, a.long_ms),
                    };
                    if silence >= wait {
                        self.state = State::Idle;
                        return Some(TurnEvent::EndOfTurn { start_ms: start, end_ms: last_voiced_end, at_ms: end, forced: false });
                    }
                    if words == Words::NotAsked && silence >= a.short_ms {
                        self.state = State::Speech { start, last_voiced_end, pause_sent, overlap, words: Words::Asked };
                        return Some(TurnEvent::Probe { start_ms: start, end_ms: last_voiced_end, at_ms: end });
                    }
                    if silence >= self.p.pause_ms && !pause_sent {
                        self.state = State::Speech { start, last_voiced_end, pause_sent: true, overlap, words };
                        return Some(TurnEvent::Pause { at_ms: end });
                    }
                    return None;
                }
                if silence >= self.p.end_silence_ms {
                    self.state = State::Idle;
                    if last_voiced_end - start < self.p.min_speech_ms {
                        return Some(TurnEvent::Discarded { start_ms: start, end_ms: last_voiced_end });
                    }
                    return Some(TurnEvent::EndOfTurn { start_ms: start, end_ms: last_voiced_end, at_ms: end, forced: false });
                }
                if silence >= self.p.pause_ms && !pause_sent {
                    self.state = State::Speech { start, last_voiced_end, pause_sent: true, overlap, words };
                    return Some(TurnEvent::Pause { at_ms: end });
                }
                None
            }
        }
    }

    /// What the words of the span probed up to `end_ms` say. Ignored (false)
    /// when the participant has spoken since (the probe is stale) or no
    /// probe is open; the end of the turn is then decided on later frames.
    pub fn on_words(&mut self, end_ms: u64, c: Completeness) -> bool {
        match &mut self.state {
            State::Speech { last_voiced_end, words, overlap: false, .. } if *last_voiced_end == end_ms && *words == Words::Asked => {
                *words = Words::Heard(c);
                true
            }
            _ => false,
        }
    }

    /// Whether the participant holds the floor: they are in a turn that
    /// began while the robot was silent (not an overlap with its speech).
    pub fn participant_has_floor(&self) -> bool {
        matches!(self.state, State::Speech { overlap: false, .. })
    }

    /// Whether the words of the span probed up to `end_ms` would still be
    /// taken: the turn is still in that silence, waiting for them. False
    /// once the participant spoke again or the turn ended elsewhere.
    pub fn awaits_words(&self, end_ms: u64) -> bool {
        matches!(&self.state, State::Speech { last_voiced_end, words: Words::Asked, overlap: false, .. } if *last_voiced_end == end_ms)
    }

    /// The input ended: closes an open turn (long enough) as forced.
    pub fn finish(&mut self, now_ms: u64) -> Option<TurnEvent> {
        let st = std::mem::replace(&mut self.state, State::Idle);
        match st {
            State::Speech { start, last_voiced_end, overlap: false, .. }
                if last_voiced_end - start >= self.p.min_speech_ms =>
            {
                Some(TurnEvent::EndOfTurn { start_ms: start, end_ms: last_voiced_end, at_ms: now_ms, forced: true })
            }
            State::Speech { start, last_voiced_end, overlap: true, .. } => {
                Some(TurnEvent::Backchannel { start_ms: start, end_ms: last_voiced_end })
            }
            State::Speech { start, last_voiced_end, .. } => {
                Some(TurnEvent::Discarded { start_ms: start, end_ms: last_voiced_end })
            }
            State::Idle => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> TurnParams {
        TurnParams {
            min_speech_ms: 200,
            pause_ms: 300,
            end_silence_ms: 700,
            max_utterance_ms: 5_000,
            half_duplex: true,
            mic_tail_ms: 250,
            barge_in: true,
            barge_in_ms: 700,
            adaptive: None,
        }
    }

    fn adaptive() -> TurnParams {
        TurnParams { adaptive: Some(AdaptiveWaits { short_ms: 300, long_ms: 1_200 }), ..params() }
    }

    /// Speech for `speech_ms`, then silence; answers the first probe with
    /// `words` after `answer_after_ms` more frames. Returns the events and
    /// the silence (after the last voiced frame) at which the turn ended.
    fn silence_until_end(words: Option<Completeness>, answer_after_ms: u64, speech_ms: u64, silence_ms: u64) -> (Vec<TurnEvent>, Option<u64>) {
        let mut tt = TurnTaker::new(adaptive());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, speech_ms, true, false, &mut ev);
        let mut probe: Option<(u64, u64)> = None;
        let end = t + silence_ms;
        while t < end {
            if let Some((end_ms, at)) = probe {
                if t >= at + answer_after_ms {
                    if let Some(c) = words {
                        assert!(tt.on_words(end_ms, c));
                    }
                    probe = None;
                }
            }
            if let Some(e) = tt.on_frame(false, false, t) {
                if let TurnEvent::Probe { end_ms, at_ms, .. } = e {
                    probe = Some((end_ms, at_ms));
                }
                ev.push(e);
            }
            t += FRAME_MS;
        }
        let ended = ev.iter().find_map(|e| match e {
            TurnEvent::EndOfTurn { end_ms, at_ms, .. } => Some(at_ms - end_ms),
            _ => None,
        });
        (ev, ended)
    }

    #[test]
    fn a_complete_sentence_ends_the_turn_after_the_short_wait() {
        let (ev, ended) = silence_until_end(Some(Completeness::Complete), 0, 1_200, 2_000);
        assert!(matches!(ev[1], TurnEvent::Probe { start_ms: 0, .. }), "{ev:?}");
        let s = ended.expect("the turn ended");
        assert!((300..300 + 2 * FRAME_MS).contains(&s), "ended after {s} ms of silence");
    }

    #[test]
    fn a_complete_sentence_heard_late_ends_the_turn_when_the_words_arrive() {
        // whisper took 250 ms: the turn ends when its answer comes, not later.
        let (_, ended) = silence_until_end(Some(Completeness::Complete), 250, 1_200, 2_000);
        let s = ended.expect("the turn ended");
        assert!((550..550 + 2 * FRAME_MS).contains(&s), "ended after {s} ms of silence");
    }

    #[test]
    fn a_trailing_conjunction_or_filler_is_not_cut_off_at_the_short_or_usual_wait() {
        let (ev, ended) = silence_until_end(Some(Completeness::Incomplete), 0, 1_200, 1_100);
        assert_eq!(ended, None, "{ev:?}");
        let (_, ended) = silence_until_end(Some(Completeness::Incomplete), 0, 1_200, 2_000);
        let s = ended.expect("the turn ended");
        assert!((1_200..1_200 + 2 * FRAME_MS).contains(&s), "ended after {s} ms of silence");
    }

    #[test]
    fn words_that_say_neither_wait_the_usual_silence() {
        let (_, ended) = silence_until_end(Some(Completeness::Unknown), 0, 1_200, 2_000);
        let s = ended.expect("the turn ended");
        assert!((700..700 + 2 * FRAME_MS).contains(&s), "ended after {s} ms of silence");
    }

    #[test]
    fn a_long_pause_mid_thought_beyond_the_hard_maximum_still_ends_the_turn() {
        // Words never come back (whisper stuck): the long silence still ends it.
        let (_, ended) = silence_until_end(None, 0, 1_200, 3_000);
        let s = ended.expect("the turn ended");
        assert!((1_200..1_200 + 2 * FRAME_MS).contains(&s), "ended after {s} ms of silence");
    }

    #[test]
    fn speech_after_a_probe_makes_its_words_stale_and_the_next_silence_probes_again() {
        let mut tt = TurnTaker::new(adaptive());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 1_000, true, false, &mut ev);
        run(&mut tt, &mut t, 400, false, false, &mut ev);
        let first = ev.iter().find_map(|e| match e { TurnEvent::Probe { end_ms, .. } => Some(*end_ms), _ => None }).expect("probe");
        run(&mut tt, &mut t, 800, true, false, &mut ev);
        // The first probe's words arrive after the participant went on.
        assert!(!tt.on_words(first, Completeness::Complete));
        run(&mut tt, &mut t, 320, false, false, &mut ev);
        let probes: Vec<u64> = ev.iter().filter_map(|e| match e { TurnEvent::Probe { end_ms, .. } => Some(*end_ms), _ => None }).collect();
        assert_eq!(probes.len(), 2, "{ev:?}");
        assert!(!ev.iter().any(|e| matches!(e, TurnEvent::EndOfTurn { .. })), "{ev:?}");
        assert!(tt.on_words(probes[1], Completeness::Complete));
        run(&mut tt, &mut t, 32, false, false, &mut ev);
        assert!(matches!(ev.last(), Some(TurnEvent::EndOfTurn { start_ms: 0, .. })), "{ev:?}");
    }

    #[test]
    fn a_click_too_short_to_be_a_turn_is_discarded_without_a_probe() {
        let mut tt = TurnTaker::new(adaptive());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 96, true, false, &mut ev);
        run(&mut tt, &mut t, 1_000, false, false, &mut ev);
        assert!(!ev.iter().any(|e| matches!(e, TurnEvent::Probe { .. })), "{ev:?}");
        assert!(matches!(ev.last(), Some(TurnEvent::Discarded { .. })), "{ev:?}");
    }

    /// Drives `tt` with `ms` of frames (voiced, playing) from `*t`; collects events.
    fn run(tt: &mut TurnTaker, t: &mut u64, ms: u64, voiced: bool, playing: bool, out: &mut Vec<TurnEvent>) {
        let end = *t + ms;
        while *t < end {
            if let Some(e) = tt.on_frame(voiced, playing, *t) {
                out.push(e);
            }
            *t += FRAME_MS;
        }
    }

    #[test]
    fn speech_followed_by_silence_ends_the_turn_after_end_silence() {
        let mut tt = TurnTaker::new(params());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 160, false, false, &mut ev);
        run(&mut tt, &mut t, 1_200, true, false, &mut ev);
        run(&mut tt, &mut t, 1_000, false, false, &mut ev);
        assert_eq!(ev[0], TurnEvent::SpeechStart { at_ms: 160, overlap: false });
        assert!(matches!(ev[1], TurnEvent::Pause { .. }));
        match ev[2] {
            TurnEvent::EndOfTurn { start_ms, end_ms, at_ms, forced } => {
                assert_eq!(start_ms, 160);
                assert!(end_ms >= 1_360 && end_ms <= 1_376, "{end_ms}");
                assert!(at_ms - end_ms >= 700 && at_ms - end_ms < 700 + 16);
                assert!(!forced);
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(ev.len(), 3);
    }

    #[test]
    fn a_short_pause_does_not_end_the_turn() {
        let mut tt = TurnTaker::new(params());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 800, true, false, &mut ev);
        run(&mut tt, &mut t, 500, false, false, &mut ev);
        run(&mut tt, &mut t, 800, true, false, &mut ev);
        run(&mut tt, &mut t, 800, false, false, &mut ev);
        let ends: Vec<_> = ev.iter().filter(|e| matches!(e, TurnEvent::EndOfTurn { .. })).collect();
        assert_eq!(ends.len(), 1, "{ev:?}");
        assert!(matches!(ends[0], TurnEvent::EndOfTurn { start_ms: 0, .. }));
    }

    #[test]
    fn a_click_shorter_than_min_speech_is_discarded() {
        let mut tt = TurnTaker::new(params());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 64, true, false, &mut ev);
        run(&mut tt, &mut t, 800, false, false, &mut ev);
        assert!(matches!(ev.last(), Some(TurnEvent::Discarded { .. })), "{ev:?}");
    }

    #[test]
    fn a_monologue_is_cut_at_the_maximum_length() {
        let mut tt = TurnTaker::new(params());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 12_000, true, false, &mut ev);
        let forced = ev.iter().filter(|e| matches!(e, TurnEvent::EndOfTurn { forced: true, .. })).count();
        assert_eq!(forced, 2, "{ev:?}");
    }

    #[test]
    fn talking_over_the_robot_long_enough_is_a_barge_in() {
        let mut tt = TurnTaker::new(params());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 1_008, false, true, &mut ev);
        run(&mut tt, &mut t, 1_500, true, true, &mut ev);
        assert_eq!(ev[0], TurnEvent::SpeechStart { at_ms: 1_008, overlap: true });
        match ev[1] {
            TurnEvent::BargeIn { at_ms, start_ms } => {
                assert_eq!(start_ms, 1_008);
                assert!(at_ms - start_ms >= 700 && at_ms - start_ms < 716, "{at_ms}");
            }
            e => panic!("{e:?}"),
        }
        // The robot stopped; the participant goes on and finishes a normal turn.
        run(&mut tt, &mut t, 500, true, false, &mut ev);
        run(&mut tt, &mut t, 800, false, false, &mut ev);
        assert!(matches!(ev.last(), Some(TurnEvent::EndOfTurn { start_ms: 1_008, forced: false, .. })), "{ev:?}");
    }

    #[test]
    fn a_backchannel_over_the_robot_does_not_interrupt() {
        let mut tt = TurnTaker::new(params());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 1_008, false, true, &mut ev);
        run(&mut tt, &mut t, 450, true, true, &mut ev); // "mm-hmm"
        run(&mut tt, &mut t, 2_000, false, true, &mut ev);
        assert!(!ev.iter().any(|e| matches!(e, TurnEvent::BargeIn { .. } | TurnEvent::EndOfTurn { .. })), "{ev:?}");
        assert!(matches!(ev.last(), Some(TurnEvent::Backchannel { start_ms: 1_008, .. })), "{ev:?}");
    }

    #[test]
    fn barge_in_disabled_never_interrupts() {
        let mut p = params();
        p.barge_in = false;
        let mut tt = TurnTaker::new(p);
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 3_000, true, true, &mut ev);
        assert!(ev.is_empty(), "{ev:?}");
    }

    #[test]
    fn speech_in_the_mic_tail_is_an_overlap_and_becomes_a_turn_only_if_long() {
        let mut tt = TurnTaker::new(params());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 480, false, true, &mut ev);
        run(&mut tt, &mut t, 96, false, false, &mut ev); // inside the 250 ms tail
        run(&mut tt, &mut t, 1_200, true, false, &mut ev);
        run(&mut tt, &mut t, 800, false, false, &mut ev);
        assert_eq!(ev[0], TurnEvent::SpeechStart { at_ms: 576, overlap: true });
        assert!(matches!(ev.last(), Some(TurnEvent::EndOfTurn { start_ms: 576, .. })), "{ev:?}");
        assert!(!ev.iter().any(|e| matches!(e, TurnEvent::BargeIn { .. })));
    }

    #[test]
    fn input_ending_mid_speech_closes_the_turn() {
        let mut tt = TurnTaker::new(params());
        let (mut t, mut ev) = (0, vec![]);
        run(&mut tt, &mut t, 1_000, true, false, &mut ev);
        assert!(matches!(tt.finish(t), Some(TurnEvent::EndOfTurn { forced: true, start_ms: 0, .. })));
        assert_eq!(tt.finish(t), None);
    }
}
