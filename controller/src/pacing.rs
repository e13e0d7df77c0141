//! Latency matching: the text arms' reply timing held to the spoken arms'.
//!
//! In an embodiment study the chatbot arm answers in a few tens of
//! milliseconds while the robot and voice arms take a second or more to
//! hear the participant and then speak each sentence aloud. Unmatched, the
//! arms differ in pace as well as in embodiment. With the protocol's
//! `[latency_matching]` enabled, the session runner ([`crate::runner::serve`])
//! holds each reply sentence of a text arm (`attune chat` inside a study day,
//! `attune study session start` for the chatbot arm, `attune web`) until its
//! matched time, server side, so no front can show it sooner:
//!
//! - the first sentence no sooner than `first_sentence_min_ms` after the
//!   session took the message up;
//! - each later sentence no sooner than the previous one was shown plus
//!   `ms_per_char` × the previous sentence's characters (as if it had been
//!   spoken; espeak-ng's default 175 words/min is about 60 ms per character);
//! - no sentence is held more than `max_hold_ms` beyond the moment the
//!   engine had it ready (a very long sentence never stalls the chat).
//!
//! A sentence the engine is slower to produce than its matched time is shown
//! as soon as it is ready: matching only ever adds delay.
//!
//! Design: safety first — a turn the crisis layer answers (its protocol
//! reply, the resource and the check-in question), raises a staff alert on,
//! or any turn while the session is in crisis state, is never held.
//!
//! [`TurnPacer`] is the pure core (times in, release times out); the runner
//! owns the clock and the waiting.

use serde::{Deserialize, Serialize};

/// `[latency_matching]` of a study protocol.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyMatching {
    /// Hold the text arms' replies to the timing below (off by default).
    pub enabled: bool,
    /// Message taken up → first reply sentence shown, at least (ms).
    pub first_sentence_min_ms: u64,
    /// Each later sentence waits this long per character of the sentence
    /// before it, as if that one had been spoken (ms per character).
    pub ms_per_char: u64,
    /// The most any one sentence is held beyond when it was ready (ms).
    pub max_hold_ms: u64,
}

impl Default for LatencyMatching {
    fn default() -> Self {
        // Design: 2000 ms is a round figure above the voice arm's floor on an
        // idle core (700 ms fixed endpointing, about 0.3 s of whisper
        // tiny.en, then the first synthesised audio; README "Voice"); a
        // study sets it from its own pilot (`study status` prints the spoken
        // arms' measured p50). 60 ms/character is espeak-ng's default
        // 175 words/min at about 6 characters a word with its space.
        Self { enabled: false, first_sentence_min_ms: 2000, ms_per_char: 60, max_hold_ms: 10_000 }
    }
}

/// Longest matched first-sentence time accepted (a minute: past that a
/// participant thinks the chat has broken).
pub const MAX_FIRST_SENTENCE_MS: u64 = 60_000;
/// Slowest pacing accepted (ms per character; 400 ≈ 30 words a minute).
pub const MAX_MS_PER_CHAR: u64 = 400;
/// Longest hold accepted for one sentence.
pub const MAX_HOLD_MS: u64 = 120_000;

impl LatencyMatching {
    /// Checks the values; the error is `(key, message)` with the key relative
    /// to the `[latency_matching]` table.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.first_sentence_min_ms > MAX_FIRST_SENTENCE_MS {
            return Err(("first_sentence_min_ms", format!("must be 0-{MAX_FIRST_SENTENCE_MS} ms, got {}", self.first_sentence_min_ms)));
        }
        if self.ms_per_char > MAX_MS_PER_CHAR {
            return Err(("ms_per_char", format!("must be 0-{MAX_MS_PER_CHAR} ms per character (speech is about 60), got {}", self.ms_per_char)));
        }
        if self.max_hold_ms == 0 || self.max_hold_ms > MAX_HOLD_MS {
            return Err(("max_hold_ms", format!("must be 1-{MAX_HOLD_MS} ms, got {}", self.max_hold_ms)));
        }
        if self.max_hold_ms < self.first_sentence_min_ms {
            return Err((
                "max_hold_ms",
                format!("is {} ms, below first_sentence_min_ms ({} ms): the first sentence could never be held to its matched time", self.max_hold_ms, self.first_sentence_min_ms),
            ));
        }
        Ok(())
    }

    /// One line for `attune study` output.
    pub fn describe(&self) -> String {
        if !self.enabled {
            return "latency matching: off (text arms answer as fast as the engine)".into();
        }
        format!(
            "latency matching: on — first sentence ≥ {} ms after the message, later sentences paced at {} ms/character, no sentence held over {} ms; crisis replies never held",
            self.first_sentence_min_ms, self.ms_per_char, self.max_hold_ms
        )
    }

    /// The settings as recorded with a session (the `latency_matching` event).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "enabled": self.enabled,
            "first_sentence_min_ms": self.first_sentence_min_ms,
            "ms_per_char": self.ms_per_char,
            "max_hold_ms": self.max_hold_ms,
        })
    }
}

/// When each sentence of one turn is released. Times are ms since the
/// session took the message up.
#[derive(Debug, Clone)]
pub struct TurnPacer {
    /// The settings.
    m: LatencyMatching,
    /// Release time and characters of the previous sentence.
    last: Option<(u64, u64)>,
    /// The crisis layer answers this turn: nothing is held.
    exempt: bool,
    /// Sentences released (or scheduled) so far, for the record.
    released: Vec<Released>,
}

/// One sentence's timing, for the turn's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Released {
    /// The engine had it ready (ms after the message was taken up).
    pub ready_ms: u64,
    /// Its matched release time (ms after the message was taken up).
    pub due_ms: u64,
    /// It was actually released to the participant (ms after the message
    /// was taken up; a timer wakes at or after `due_ms`, and a session
    /// being shut down releases early).
    pub shown_ms: u64,
}

impl TurnPacer {
    /// A turn paced by `m`.
    pub fn new(m: LatencyMatching) -> TurnPacer {
        TurnPacer { m, last: None, exempt: false, released: Vec::new() }
    }

    /// Releases everything of this turn as soon as it is ready (crisis).
    pub fn exempt(&mut self) {
        self.exempt = true;
    }

    /// A sentence of `chars` characters was ready at `ready_ms`; returns when
    /// it is to be shown (never before `ready_ms`, never before the previous
    /// sentence's release: sentences keep their order).
    pub fn release_at(&mut self, ready_ms: u64, chars: u64) -> u64 {
        let prev = self.last.map(|(t, _)| t).unwrap_or(0);
        let at = if self.exempt {
            ready_ms.max(prev)
        } else {
            let matched = match self.last {
                None => self.m.first_sentence_min_ms,
                Some((t, c)) => t.saturating_add(c.saturating_mul(self.m.ms_per_char)),
            };
            let held = matched.min(ready_ms.saturating_add(self.m.max_hold_ms));
            ready_ms.max(held).max(prev)
        };
        self.last = Some((at, chars));
        self.released.push(Released { ready_ms, due_ms: at, shown_ms: at });
        at
    }

    /// Sentence `i` (0-based, in the order given to [`release_at`](Self::release_at))
    /// was actually released at `at_ms`.
    pub fn shown(&mut self, i: usize, at_ms: u64) {
        if let Some(r) = self.released.get_mut(i) {
            r.shown_ms = at_ms;
        }
    }

    /// Sentences scheduled so far.
    pub fn scheduled(&self) -> usize {
        self.released.len()
    }

    /// The turn's record: settings, exemption, every sentence's timing.
    pub fn record(&self) -> serde_json::Value {
        let held: u64 = self.released.iter().map(|r| r.shown_ms.saturating_sub(r.ready_ms)).sum();
        serde_json::json!({
            "exempt": self.exempt,
            "first_sentence_ms": self.released.first().map(|r| r.shown_ms),
            "held_ms": held,
            "sentences": self.released,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(first: u64, per_char: u64, max_hold: u64) -> LatencyMatching {
        LatencyMatching { enabled: true, first_sentence_min_ms: first, ms_per_char: per_char, max_hold_ms: max_hold }
    }

    #[test]
    fn the_first_sentence_waits_for_the_matched_minimum() {
        let mut p = TurnPacer::new(on(2000, 60, 10_000));
        assert_eq!(p.release_at(40, 20), 2000);
    }

    #[test]
    fn later_sentences_are_paced_as_if_the_one_before_was_spoken() {
        let mut p = TurnPacer::new(on(2000, 60, 10_000));
        assert_eq!(p.release_at(40, 20), 2000);
        // 20 characters at 60 ms: 1200 ms after the first was shown.
        assert_eq!(p.release_at(60, 10), 3200);
        assert_eq!(p.release_at(80, 5), 3800);
    }

    #[test]
    fn a_sentence_the_engine_is_slow_to_write_is_shown_when_ready() {
        let mut p = TurnPacer::new(on(2000, 60, 10_000));
        assert_eq!(p.release_at(5000, 10), 5000);
        assert_eq!(p.release_at(9000, 10), 9000, "600 ms of pacing had long passed");
    }

    #[test]
    fn no_sentence_is_held_longer_than_max_hold() {
        let mut p = TurnPacer::new(on(2000, 400, 3000));
        assert_eq!(p.release_at(10, 500), 2000);
        // 500 chars × 400 ms = 200 s, capped at ready + 3 s.
        assert_eq!(p.release_at(20, 10), 3020);
    }

    #[test]
    fn an_exempt_turn_is_never_held() {
        let mut p = TurnPacer::new(on(5000, 60, 10_000));
        p.exempt();
        assert_eq!(p.release_at(30, 200), 30);
        assert_eq!(p.release_at(35, 20), 35);
        let r = p.record();
        assert_eq!(r["exempt"], true);
        assert_eq!(r["held_ms"], 0);
    }

    #[test]
    fn the_record_holds_every_sentence_and_the_total_hold() {
        let mut p = TurnPacer::new(on(1000, 10, 10_000));
        p.release_at(100, 10);
        p.release_at(150, 10);
        p.shown(1, 1103);
        let r = p.record();
        assert_eq!(r["first_sentence_ms"], 1000);
        assert_eq!((r["sentences"][1]["due_ms"].as_u64(), r["sentences"][1]["shown_ms"].as_u64()), (Some(1100), Some(1103)));
        assert_eq!(r["held_ms"], (1000 - 100) + (1103 - 150));
    }

    #[test]
    fn absurd_values_are_refused_naming_the_key() {
        assert_eq!(on(120_000, 60, 130_000).check().unwrap_err().0, "first_sentence_min_ms");
        assert_eq!(on(2000, 5000, 10_000).check().unwrap_err().0, "ms_per_char");
        assert_eq!(on(2000, 60, 0).check().unwrap_err().0, "max_hold_ms");
        assert_eq!(on(2000, 60, 500).check().unwrap_err().0, "max_hold_ms");
        assert!(LatencyMatching::default().check().is_ok());
    }
}
