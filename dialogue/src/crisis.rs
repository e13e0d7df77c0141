//! Crisis layer: deterministic risk grading that runs first on every turn and
//! needs neither the LLM nor the network.

use crate::semantic::SemanticRisk;
use crate::warning_signs::Category;
use serde::{Deserialize, Serialize};

/// Graded risk of a participant turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    None,
    Low,
    High,
    Imminent,
}

impl Risk {
    /// Lower-case name as written in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::None => "none",
            Risk::Low => "low",
            Risk::High => "high",
            Risk::Imminent => "imminent",
        }
    }
}

/// `[crisis]` section of the config: the site's protocol text and resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CrisisConfig {
    /// Name of the crisis resource shown to the participant.
    pub resource_name: String,
    /// How to reach it (phone / text number, URL).
    pub resource_contact: String,
    /// Safe-messaging reply; `{resource_name}` and `{resource_contact}` are filled in.
    pub reply_template: String,
    /// Calm turns (risk none) needed after the last high/imminent turn before
    /// the crisis state clears. A single denial never clears it.
    pub calm_turns_to_clear: u32,
    /// Run the semantic second opinion (sentence embeddings against curated
    /// exemplars) besides the lexical layer. It can only raise a grade.
    pub semantic: bool,
    /// Directory with all-MiniLM-L6-v2 (`model.safetensors`, `tokenizer.json`,
    /// `config.json`); unset = `<data dir>/models/all-MiniLM-L6-v2`, where
    /// `scripts/fetch-minilm.sh` puts it. Not part of the fingerprint (the
    /// weights' sha256 is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semantic_model_dir: Option<std::path::PathBuf>,
    /// Cosine for a strong semantic match: raises to the crisis protocol.
    pub semantic_strong: f32,
    /// Cosine for a weaker match: raises to the direct check-in question.
    pub semantic_weak: f32,
    /// A match must beat the closest hard negative exemplar by this much.
    pub semantic_margin: f32,
    /// Cosine at which a match to an act that is ordinary on its own (a
    /// plan, means, preparation) earns its category's grade even with no
    /// despair in the turn: the exemplar it is that close to carries its
    /// purpose in its own words. 1 = never.
    pub semantic_decisive: f32,
    /// A decisive match must also beat the closest hard negative (everyday
    /// errands among them) by this much; an act beside an ordinary purpose
    /// then keeps the check-in question instead of the protocol.
    pub semantic_decisive_margin: f32,
    /// Cosine at which a match to such an act, with no despair beside it
    /// and short of decisive, earns the direct check-in question (a strong
    /// match always does).
    pub semantic_act_check_in: f32,
    /// Read each open sentence with the fine-tuned risk reader as well
    /// (`attune risk-reader train` makes it; without it the layer runs on
    /// the exemplars alone, loudly, and the fingerprint says "absent").
    pub reader: bool,
    /// Directory with `reader.safetensors` and `reader.json`; unset =
    /// `<data dir>/models/risk-reader`. Not part of the fingerprint (the
    /// weights' sha256 is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reader_dir: Option<std::path::PathBuf>,
    /// The reader's probability of "protocol" that raises to the crisis protocol.
    pub reader_protocol: f32,
    /// The reader's probability of "check-in or protocol" that raises to the check-in question.
    pub reader_check_in: f32,
}

impl CrisisConfig {
    /// Checks the semantic thresholds; errors name the field.
    pub fn validate_semantic(&self) -> Result<(), String> {
        for (name, v) in [
            ("crisis.semantic_strong", self.semantic_strong),
            ("crisis.semantic_weak", self.semantic_weak),
            ("crisis.semantic_margin", self.semantic_margin),
            ("crisis.semantic_decisive", self.semantic_decisive),
            ("crisis.semantic_decisive_margin", self.semantic_decisive_margin),
            ("crisis.semantic_act_check_in", self.semantic_act_check_in),
            ("crisis.reader_protocol", self.reader_protocol),
            ("crisis.reader_check_in", self.reader_check_in),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("field `{name}`: must be within 0..=1, got {v}"));
            }
        }
        if self.semantic_weak > self.semantic_strong {
            return Err(format!("field `crisis.semantic_weak`: must not exceed crisis.semantic_strong ({})", self.semantic_strong));
        }
        // Matches under the weak threshold are never considered, so an act
        // check-in below it would silently act as the weak threshold.
        if self.semantic_act_check_in < self.semantic_weak {
            return Err(format!(
                "field `crisis.semantic_act_check_in`: must not be below crisis.semantic_weak ({}); matches under the weak threshold are never considered (1 = only a strong match asks)",
                self.semantic_weak
            ));
        }
        Ok(())
    }

    /// The semantic tier thresholds.
    pub fn semantic_thresholds(&self) -> crate::semantic::Thresholds {
        crate::semantic::Thresholds { strong: self.semantic_strong, weak: self.semantic_weak, margin: self.semantic_margin, decisive: self.semantic_decisive, decisive_margin: self.semantic_decisive_margin, act_check_in: self.semantic_act_check_in, reader_protocol: self.reader_protocol, reader_check_in: self.reader_check_in }
    }
}

impl Default for CrisisConfig {
    fn default() -> Self {
        Self {
            resource_name: "988 Suicide & Crisis Lifeline".into(),
            resource_contact: "call or text 988 (US)".into(),
            reply_template: "I'm really glad you told me. What you're describing sounds serious, and you deserve support from a person right now. I'm a robot, so I can't keep you safe the way a person can. Please reach the {resource_name}: {resource_contact}. If you are in immediate danger, call your local emergency number. I'm also flagging this for the study team so a person can follow up with you.".into(),
            calm_turns_to_clear: 3,
            semantic: true,
            semantic_model_dir: None,
            // Design: chosen with the five authors' statements as exemplars,
            // on two things only: recall when each author in turn is left out
            // (the others' statements are the exemplars) and false alarms on
            // ESConv seeker turns, with room under the goals (0.31 % protocol,
            // 0.97 % check-in with the final exemplars; 0.62 / 0.575 / 0.06 gave 0.55 % / 2.63 %;
            // `examples/risk_sweep.rs`).
            // Raising the margin cost less left-out recall than raising
            // `strong` for the same false alarms. Held-out files not used.
            semantic_strong: 0.62,
            // Design: weak 0.60 -> 0.56 (step 14), chosen on the tuning
            // writers left out and ESConv alone: the exemplars grown in
            // steps 11-13 left room under the check-in goal (ESConv check-in
            // 1.00 % -> 1.70 %, protocol unchanged at 0.33 %; 0.54 gave
            // 2.01 %); left-out authors' low recall 0.709 -> 0.748, their
            // high+imminent reaching the check-in 0.792 -> 0.812; errand
            // specificity -0.01 to -0.02 (check-ins only: no errand more
            // gets the protocol, since the weak tier never grants it).
            // Then 0.56 -> 0.57 when writers x/y/z's one-sentence
            // statements became exemplars: at 0.56 they took ESConv's
            // check-in to 1.94 %, too close to the goal; at 0.57 1.77 %
            // (0.58: 1.55 %, with the left-out authors' low recall below
            // where it was before them).
            // Then 0.57 -> 0.58 when writers aa/bb/cc's one-sentence
            // statements became exemplars (step 16): at 0.57 ESConv's
            // check-in rose to 1.95 %; at 0.58 1.70 %, with the left-out
            // authors' low recall where it was before them (0.752) and
            // x/y/z's 0.810 -> 0.829 (0.59: 1.48 %, authors' low 0.748).
            semantic_weak: 0.58,
            semantic_margin: 0.10,
            // Design: on at 0.66 with its own margin of 0.15 over the
            // closest hard negative. Without that margin it gave "bought
            // rope for the camping trip this weekend" the crisis protocol
            // (0.82 to a one-sentence rope statement, 0.71 to a tow-rope
            // errand). Chosen on the left-out authors, the tuning half of a
            // sixth writer's act statements (150 veiled acts and everyday
            // errands with ropes, pills, ladders, platforms) and ESConv:
            // strict recall 0.606 → 0.654 and 0.164 → 0.192, ESConv 0.31 % /
            // 0.97 % and the errands' specificity unchanged; margin 0.10
            // would have given 0.664 / 0.205. Held-out files not used.
            semantic_decisive: 0.66,
            semantic_decisive_margin: 0.15,
            // Design: 0.60 (step 14; until then the strong threshold,
            // 0.62), chosen on the nine acts writers left out and ESConv:
            // their acts reaching at least the check-in question +0.014 to
            // +0.036, errands given it -0.013 to -0.045 specificity (about
            // one errand asked per act reached: safety first, the question
            // costs a moment), ESConv check-in 1.70 % -> 1.75 %. 0.58 gave
            // +0.03 to +0.055 for -0.05 to -0.07 and 1.83 % of ESConv,
            // too close to the 2 % goal. Never grants the protocol.
            semantic_act_check_in: 0.60,
            reader: true,
            reader_dir: None,
            // Design: both chosen on the odd-numbered ESConv seeker turns
            // alone (never trained on; the reader trains on even-numbered
            // ones): the lowest settings on a grid (0.5 to 0.995 by 0.005,
            // then 0.9975, 0.999, 0.9995) at which the layers together stay
            // within the goals there — protocol 0.47 % (goal 0.5 %), then
            // check-in 1.86 % (goal 2 %); `examples/risk_reader_eval.rs`.
            // No held-out item informed them (README, step 19).
            reader_protocol: 0.995,
            reader_check_in: 0.99,
        }
    }
}

/// What the crisis layer concluded for one turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrisisDecision {
    /// Risk of this turn alone.
    pub risk: Risk,
    /// Whether the session is in crisis state after this turn.
    pub crisis_active: bool,
    /// True when the reply must be the protocol's safe-messaging text.
    pub use_protocol_reply: bool,
    /// True when a staff alert must be emitted for this turn.
    pub alert: bool,
    /// Categories and cues that matched (for the log), e.g. "active_ideation".
    pub signals: Vec<String>,
}

/// Turns of a session, before the current one, whose warning signs the
/// crisis layer still reads together with the current turn.
///
/// Design: four turns is roughly the last minute or two of a conversation;
/// long enough for "I feel like such a burden" followed by "I've started
/// giving my things away", short enough that one sad remark early in a
/// session does not colour everything after it.
pub const ACCUMULATE_TURNS: usize = 4;

/// Warning signs read from one earlier turn (kept for accumulation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnCues {
    /// Categories the turn was graded with.
    pub categories: Vec<Category>,
    /// Acts that mean risk only in a context of despair (giving things away,
    /// a rope, "I have a plan"), seen without that context.
    pub ambiguous: Vec<Category>,
}

/// Per-session crisis state machine. Pure: feed it turns, read decisions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CrisisTracker {
    /// Whether the session is in crisis state.
    pub active: bool,
    /// Consecutive calm turns since the last high/imminent turn.
    pub calm_streak: u32,
    /// Highest risk seen this session.
    pub peak: Option<Risk>,
    /// Warning signs of the last [`ACCUMULATE_TURNS`] turns, oldest first.
    #[serde(default)]
    pub recent: Vec<TurnCues>,
}

impl CrisisTracker {
    /// Grades `text` with the lexical layer alone and advances the state machine.
    pub fn on_turn(&mut self, text: &str, cfg: &CrisisConfig) -> CrisisDecision {
        self.on_turn_with(text, cfg, None)
    }

    /// Grades `text` (lexical layer, then the semantic second opinion when
    /// given, which can only raise the grade) and advances the state machine.
    ///
    /// Design: the crisis state is entered on any high/imminent turn and
    /// left only after `calm_turns_to_clear` consecutive turns graded none
    /// that are neither denials ("never mind, I'm fine", "just kidding") nor
    /// empty; a low turn restarts the count. So one retraction never clears
    /// it, whatever the config says.
    pub fn on_turn_with(&mut self, text: &str, cfg: &CrisisConfig, semantic: Option<&SemanticRisk>) -> CrisisDecision {
        let ctx = RecentContext { in_crisis: self.active, recent: &self.recent };
        let mut a = assess_in(text, &ctx);
        if let Some(sem) = semantic {
            let despair_before = ctx.in_crisis || ctx.recent.iter().any(|t| !t.categories.is_empty());
            sem.raise(&mut a, despair_before);
        }
        accumulate(&mut a, &ctx);
        let mut signals: Vec<String> = a.signals.iter().map(|s| s.to_string()).collect();
        signals.extend(a.semantic_signals.iter().cloned());
        if a.risk >= Risk::High {
            self.active = true;
            self.calm_streak = 0;
        } else if self.active {
            let substantive = text.chars().any(char::is_alphanumeric);
            if a.risk == Risk::Low {
                self.calm_streak = 0;
            } else if a.denial {
                signals.push("denial_while_in_crisis".into());
            } else if substantive {
                self.calm_streak = self.calm_streak.saturating_add(1);
            }
            if self.calm_streak >= cfg.calm_turns_to_clear.max(1) {
                self.active = false;
                self.calm_streak = 0;
                signals.push("crisis_cleared".into());
            }
        }
        self.peak = Some(self.peak.map_or(a.risk, |p| p.max(a.risk)));
        self.recent.push(TurnCues { categories: a.categories.clone(), ambiguous: a.ambiguous.clone() });
        if self.recent.len() > ACCUMULATE_TURNS {
            let drop = self.recent.len() - ACCUMULATE_TURNS;
            self.recent.drain(..drop);
        }
        let severe = a.risk >= Risk::High;
        CrisisDecision { risk: a.risk, crisis_active: self.active, use_protocol_reply: severe, alert: severe, signals }
    }
}

/// What the crisis layer knows of the session when it reads a turn.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecentContext<'a> {
    /// The session is already in crisis state.
    pub in_crisis: bool,
    /// Warning signs of the last few turns, oldest first.
    pub recent: &'a [TurnCues],
}

/// The stateless reading of one turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// Risk of this text (given the session context it was read in).
    pub risk: Risk,
    /// Cue categories and modifiers that matched, in a fixed order.
    pub signals: Vec<&'static str>,
    /// The text retracts or plays down something said before.
    pub denial: bool,
    /// Warning-sign categories found (lexical and semantic).
    pub categories: Vec<Category>,
    /// Context-dependent acts seen without a context of despair.
    pub ambiguous: Vec<Category>,
    /// Sentences (normalised) the semantic layer may read: not negated,
    /// not about someone else, not fiction, not past-and-resolved, not idiom.
    pub semantic_eligible: Vec<String>,
    /// What the semantic layer added (`semantic_strong:<category>` ...).
    pub semantic_signals: Vec<String>,
    /// The turn says what an act is for, ruminates on it, or talks of being
    /// gone or of doing "it" without naming it: an act matched by meaning
    /// gets its full grade, as it would beside despair.
    pub context_cue: bool,
    /// The turn says what an act is for or ruminates on it: an act matched
    /// by meaning, even weakly, gets its full grade.
    pub purpose_cue: bool,
}

impl Assessment {
    /// Adds a category (once) and raises the risk to at least `grade`.
    pub fn add(&mut self, c: Category, grade: Risk) {
        if !self.categories.contains(&c) {
            self.categories.push(c);
        }
        self.risk = self.risk.max(grade);
    }
}

/// Grades one text on its own. `in_crisis` says whether the session is
/// already in crisis state: then a plan, means or goodbye on its own
/// escalates, since the ideation was stated on an earlier turn.
pub fn assess(text: &str, in_crisis: bool) -> Assessment {
    let ctx = RecentContext { in_crisis, recent: &[] };
    let mut a = assess_in(text, &ctx);
    accumulate(&mut a, &ctx);
    a
}

/// Grades one text read in a session context (lexical layer only).
///
/// Design (grading by warning-sign category, see [`crate::warning_signs`]):
/// each category found gets its own grade (passive ideation, burdensomeness,
/// belongingness, hopelessness, entrapment `low`; active ideation, method
/// research, means, preparation, self-injury, a plan, calm after a decision
/// `high`; a plan with a time, means at hand, an act under way `imminent`),
/// and the C-SSRS ladder on top: ideation together with intent, a plan,
/// means, a time frame or goodbye behaviour is `imminent`. Acts that are
/// ordinary on their own (giving things away, a rope, a plan, a height)
/// count only in a context of despair — this turn or the last few. Idioms
/// ("killing me", "dying to"), accidents ("cut myself shaving"), negations
/// ("I'm not suicidal"), other people ("my friend wants to die"), fiction and
/// the past ("I used to cut") do not count as current risk; past ideation or
/// self-harm is `low`.
pub fn assess_in(text: &str, ctx: &RecentContext<'_>) -> Assessment {
    use crate::lexicon::*;
    let normalized = crate::warning_signs::normalize(text);
    let mut f = Flags::default();
    let mut eligible = Vec::new();
    let serious = RISK_SERIOUS_RE.is_match(&normalized);
    let playful_turn = !serious && RISK_GAME_RE.is_match(&normalized);
    let returning = RISK_RETURN_RE.is_match(&normalized);
    let despair_recent = ctx.recent.iter().any(|t| !t.categories.is_empty());
    // Whether every sentence is about someone else (for turn-level cues).
    let mut others_only = true;
    for sentence in crate::text::split_sentences(&normalized) {
        let s = sentence.as_str();
        let mut excluded: Vec<(usize, usize)> =
            RISK_ACCIDENT_RE.find_iter(s).chain(RISK_OTHER_SENSE_RE.find_iter(s)).map(|m| (m.start(), m.end())).collect();
        // Design: hyperbole (a trivial cause and a laugh, "one more meeting
        // and I'll…") and a game's frame (respawn, checkpoint) take the
        // whole sentence out, unless the speaker says they mean it.
        if playful_turn || (!serious && RISK_HYPERBOLE_RE.is_match(s)) {
            excluded.push((0, s.len()));
        }
        // Someone else's words in quotes are theirs.
        if let Some(m) = RISK_QUOTED_OTHER_RE.find(s) {
            let open = m.end().saturating_sub(1);
            let close = s[m.end()..].find(['\'', '"', '’']).map(|i| m.end() + i + 1).unwrap_or(s.len());
            excluded.push((open, close));
        }
        let is_excluded = |st: usize, en: usize| excluded.iter().any(|&(a, b)| st < b && a < en);
        let is_history = RISK_HISTORY_RE.is_match(s) || RISK_HISTORY_MORE_RE.is_match(s) || (RISK_RESOLVED_RE.is_match(s) && !RISK_RELAPSE_RE.is_match(s));
        // A book or a game given away is a possession, not a story's frame.
        let is_fiction = RISK_FICTION_RE.is_match(s) && !RISK_GIVING_RE.is_match(s) && !RISK_PREP_CONTEXT_RE.is_match(s);
        let other_only = only_about_someone_else(s);
        others_only &= other_only;
        let mut negated_risk = false;
        let live = |re: &regex::Regex, check_subject: bool, negated_risk: &mut bool| -> bool {
            re.find_iter(s).any(|m| {
                if is_excluded(m.start(), m.end()) {
                    return false;
                }
                if negated_before(s, m.start(), 5) {
                    *negated_risk = true;
                    return false;
                }
                let word = m.as_str().to_lowercase();
                if word == "suicide" {
                    // The noun alone is often a topic ("a film about suicide");
                    // it counts only with a first-person verb of thinking or doing.
                    let before = tokens(clause_before(s, m.start()));
                    let after = tokens(&s[m.end()..ceil_char_boundary(s, m.end() + 40)]);
                    let verb = before.iter().rev().take(4).any(|w| {
                        matches!(w.as_str(), "thinking" | "thought" | "think" | "considering" | "considered" | "contemplating" | "commit" | "committing" | "attempt" | "attempted" | "attempting" | "planning" | "plan" | "want" | "wanna" | "tried" | "try" | "my")
                    }) || after.first().is_some_and(|w| matches!(w.as_str(), "note" | "plan" | "letter"));
                    if !verb {
                        return false;
                    }
                }
                let subject = subject_before(s, m.start());
                if other_only && subject == Subject::Other {
                    return false;
                }
                if is_fiction {
                    // In a story, a film or a class, only an explicit "I" is the speaker.
                    return subject == Subject::Speaker && !RISK_THIRD_PARTY_RE.is_match(s);
                }
                !check_subject || matches!(subject, Subject::Speaker | Subject::Unstated)
            })
        };
        let n = &mut negated_risk;
        let sentence_explicit = live(&RISK_EXPLICIT_RE, true, n) || live(&RISK_METHOD_THOUGHT_RE, true, n);
        let sentence_harm = live(&RISK_SELF_HARM_RE, false, n) || live(&RISK_INJURY_FORM_RE, false, n);
        let sentence_act = live(&RISK_ACT_RE, true, n);
        if (sentence_explicit || sentence_harm || sentence_act) && is_history {
            f.history = true;
        } else {
            f.explicit |= sentence_explicit;
            f.self_harm |= sentence_harm;
            f.act |= sentence_act;
        }
        let passive = live(&RISK_PASSIVE_RE, true, n) || live(&RISK_PASSIVE_EVENT_RE, true, n);
        let burden = live(&RISK_BURDEN_RE, false, n);
        let belonging = live(&RISK_BELONGING_RE, false, n);
        if is_history && (passive || burden || belonging) {
            f.history = true;
        } else {
            f.passive |= passive;
            f.burden |= burden;
            f.belonging |= belonging;
        }
        f.hopeless |= live(&RISK_HOPELESS_RE, true, n);
        f.entrapment |= live(&RISK_ENTRAPMENT_RE, true, n);
        f.calm |= live(&RISK_CALM_RE, true, n) || (!is_history && live(&RISK_CALM_DECISION_RE, true, n));
        // Method questions are often put with a generic "you" ("which floor
        // do you have to jump from"): no subject check, as for self-injury.
        let research = live(&RISK_METHOD_RESEARCH_RE, false, n);
        let stockpile = live(&RISK_STOCKPILE_RE, true, n);
        // A goodbye with a return ("bye forever… or until Monday", "going to
        // bed") is not a farewell.
        let bye_with_return = returning && RISK_BYE_WORD_RE.is_match(s);
        // A goodbye email to the team before a new job is a job ending.
        let everyday_ending = everyday_ending(s);
        let prepare = !bye_with_return && ((!everyday_ending && live(&RISK_PREPARATORY_RE, true, n)) || live(&RISK_GOODBYE_RE, false, n));
        if is_history && (research || stockpile || prepare) {
            f.history = true;
        } else {
            f.research |= research;
            f.stockpile |= stockpile;
            f.prepare |= prepare;
        }
        f.prep_ctx |= !returning && !everyday_ending && live(&RISK_PREP_CONTEXT_RE, true, n);
        if !is_history {
            round3_cues(s, &normalized, &mut f, despair_recent, returning, &mut |re: &regex::Regex, check_subject: bool| live(re, check_subject, n));
        }
        f.plan |= live(&RISK_PLAN_RE, true, n);
        let plan_method = live(&RISK_PLAN_METHOD_RE, true, n);
        if is_history && plan_method {
            f.history = true;
        } else {
            f.plan_method |= plan_method;
        }
        f.veiled |= live(&RISK_VEILED_RE, true, n);
        // The phrases carry their own "I" ("when I'm gone"): no subject check.
        f.veiled_death |= !is_history && live(&RISK_VEILED_DEATH_RE, false, n);
        f.means |= live(&RISK_MEANS_RE, true, n) || live(&RISK_MEANS_KEPT_RE, false, n);
        f.purpose |= !is_history && live(&RISK_PURPOSE_RE, false, n);
        f.rumination |= !is_history && live(&RISK_MEANS_RUMINATION_RE, false, n);
        f.farewell |= !is_history && live(&RISK_FAREWELL_DISCLOSURE_RE, false, n);
        f.at_hand |= live(&RISK_AT_HAND_RE, true, n);
        f.method_place |= !is_history && live(&RISK_METHOD_PLACE_RE, false, n);
        // Design: no subject check — "I'm on the roof thinking about
        // jumping" reads "the roof" as a third party; it only counts
        // together with being at a height, which is checked for subject.
        f.jump |= !is_history && live(&RISK_JUMP_URGE_RE, false, n);
        f.timeline |= live(&RISK_TIMELINE_RE, false, n);
        f.intent |= live(&RISK_INTENT_RE, false, n)
            || (!everyday_ending && live(&RISK_LAST_TIME_RE, false, n))
            || live(&RISK_CLAUSE_END_START_RE, false, n) || (!is_history && live(&RISK_JOIN_RE, false, n) && DEATH_CONTEXT_RE.is_match(&normalized));
        // The semantic layer reads only sentences the lexical layer cannot
        // rule out: a negated risk phrase, someone else, fiction, the past or
        // an idiom keep it from raising.
        let negated_stem = RISK_STEM_RE.find_iter(s).any(|m| negated_before(s, m.start(), 5));
        let blocked = negated_risk
            || negated_stem
            || bye_with_return
            || other_only
            || is_history
            || is_fiction
            || !excluded.is_empty()
            || RISK_THIRD_PARTY_RE.is_match(s)
            || DENIAL_RE.is_match(s)
            || about_someone_else(s)
            || crate::lexicon::ordinary_medicine_question(s);
        if !blocked && s.chars().any(char::is_alphabetic) {
            eligible.push(sentence.clone());
        }
    }
    // Purpose and concealment can span sentences ("Told him it's for
    // hunting. It's not.").
    f.purpose |= (RISK_PURPOSE_RE.is_match(&normalized) || RISK_CLAUSE_END_PURPOSE_RE.is_match(&normalized)) && !RISK_HISTORY_RE.is_match(&normalized);
    // Design: a past that the speaker says is over ("glad I stuck around",
    // "3 years self-harm free", "haven't done that since I was 12") is
    // past-and-resolved, not history to ask about — unless they relapsed or
    // something current sits beside it.
    if (RISK_RESOLVED_RE.is_match(&normalized) || RISK_RESOLVED_MORE_RE.is_match(&normalized)) && !RISK_RELAPSE_RE.is_match(&normalized) {
        let current = f.explicit || f.self_harm || f.act || f.passive || f.intent || f.burden || f.belonging || f.research || f.stockpile || f.prepare || f.plan_method || f.at_hand || f.method_place;
        // A past attempt stays history (the direct check-in question):
        // it is the strongest single predictor of a later one.
        if f.history && !current && !RISK_PAST_ATTEMPT_RE.is_match(&normalized) {
            f.history = false;
            f.resolved = true;
            eligible.clear();
        }
    }
    if !RISK_HISTORY_RE.is_match(&normalized)
        && !RISK_FICTION_RE.is_match(&normalized)
        && !others_only
        && stockpiling(&normalized, despair_recent || f.veiled_death || f.purpose)
    {
        f.stockpile = true;
    }
    let mut a = grade(&f, ctx);
    // Design: a veiled purpose ("for when I decide", "I think you know why")
    // beside a means named in the same turn is means acquired with a purpose
    // (AAS: seeking means); on its own it earns the direct check-in question.
    if f.purpose && !f.resolved {
        if MEANS_NOUN_RE.is_match(&normalized) {
            a.add(Category::MeansAcquiring, Category::MeansAcquiring.grade());
        } else {
            a.risk = a.risk.max(Risk::Low);
        }
        a.signals.push("veiled_purpose");
    }
    a.semantic_eligible = eligible;
    if f.resolved {
        a.signals.push("past_resolved");
    }
    if RISK_THIRD_PARTY_RE.is_match(&normalized) {
        a.signals.push("other_person_at_risk");
    }
    a.denial = a.risk == Risk::None && DENIAL_RE.is_match(&normalized);
    if a.denial {
        a.signals.push("denial");
    }
    a
}

/// The third round of composed cues (see `lexicon.rs`, "composed cues,
/// round 3"), read from one sentence that is not about the past. `live`
/// is the caller's matcher: it skips negated, excluded and other people's
/// matches.
fn round3_cues(s: &str, normalized: &str, f: &mut Flags, despair_recent: bool, returning: bool, live: &mut dyn FnMut(&regex::Regex, bool) -> bool) {
    use crate::lexicon::*;
    let means_here = MEANS_OR_PLACE_RE.is_match(normalized);
    let for_me = RISK_FOR_ME_RE.is_match(normalized);
    // A method chosen ("that's how I'd do it") beside a means or a place.
    if (means_here && live(&RISK_METHOD_CHOICE_RE, false)) || live(&RISK_THOUGHT_HOW_RE, false) {
        f.explicit = true;
    }
    // Generic "you" that the speaker says is about them.
    if for_me && live(&RISK_GENERIC_YOU_RE, false) {
        f.explicit = true;
    }
    // Whether a means or a height would suffice: research with a large
    // dose, a height, "for me", or a means after despair.
    if live(&RISK_SUFFICIENCY_RE, false)
        && (LARGE_DOSE_RE.is_match(normalized) || for_me || RISK_HEIGHT_WORD_RE.is_match(normalized) || (means_here && despair_recent))
    {
        f.research = true;
    }
    f.research |= live(&RISK_CLAUSE_RESEARCH_RE, false);
    f.stockpile |= live(&RISK_LETHAL_AGENT_RE, false);
    f.on_body |= live(&RISK_MEANS_ON_BODY_RE, false);
    // "…and not coming back until Sunday" is a trip.
    f.plan_method |= live(&RISK_PLAN_PARTS_RE, false) || (!returning && live(&RISK_ONE_WAY_RE, false));
    if live(&RISK_REHEARSAL_RE, false) {
        f.rehearsal = true;
        // A practice run with a ligature named is preparation on its own.
        f.prepare |= RISK_LIGATURE_RE.is_match(normalized);
    }
    if live(&RISK_GONE_BY_RE, false) {
        let certain = RISK_FINALITY_RE.is_match(normalized)
            || RISK_GONE_BY_RE.find_iter(s).any(|m| ["alive", "breathing", "dead"].iter().any(|w| m.as_str().to_lowercase().contains(w)));
        if certain {
            f.intent = true;
            f.timeline = true;
        } else {
            f.veiled = true;
        }
    }
    f.timeline |= live(&RISK_DATE_RE, false);
    f.veiled_death |= live(&RISK_FUTURE_ABSENCE_RE, false);
    f.prep_ctx |= live(&RISK_GIVING_RE, false);
    if live(&RISK_FAREWELL_LETTER_RE, false) {
        if s.to_lowercase().contains("sorry") {
            f.prepare = true;
        } else {
            f.prep_ctx = true;
        }
    }
    if live(&RISK_CONCEAL_RE, false) {
        f.purpose = true;
        f.conceal = true;
    }
    f.self_harm |= live(&RISK_INJURY_PURPOSE_RE, false) || live(&RISK_INJURY_HIDDEN_RE, false) || RISK_INJURY_ASKED_RE.is_match(normalized);
    if RISK_NEW_CALM_RE.is_match(normalized) {
        f.calm |= live(&RISK_DECISION_ACT_RE, false);
        f.calm_ctx |= live(&RISK_DECISION_GO_RE, false) || live(&RISK_SORTED_RE, false);
    }
    f.passive |= live(&RISK_WELCOME_DEATH_RE, false);
    f.explicit |= live(&RISK_WITHHOLD_RE, false) || live(&RISK_EASY_HERE_RE, false);
    f.burden |= live(&RISK_BURDEN_COMPOSED_RE, false);
    f.belonging |= live(&RISK_UNNOTICED_RE, false);
    f.hopeless |= live(&RISK_SAME_FOREVER_RE, true);
    if live(&RISK_MEANS_GAZE_RE, false) {
        f.means = true;
        f.rumination = true;
    }
    f.farewell |= live(&RISK_DISCLOSURE_RE, false);
}

/// Stockpiling composed from a verb of saving or hiding, a means and a sign
/// of accumulation, read over the whole turn.
fn stockpiling(normalized: &str, despair_recent: bool) -> bool {
    use crate::lexicon::*;
    let live = |re: &regex::Regex| re.find_iter(normalized).any(|m| !negated_before(normalized, m.start(), 5));
    let means = MEANS_NOUN_RE.is_match(normalized);
    let accum = live(&RISK_STOCK_ACCUM_RE);
    // "a stash of snacks": the stash names something that is not a means.
    let strong = live(&RISK_STOCK_VERB_STRONG_RE) && !(RISK_STASH_OF_RE.is_match(normalized) && !means);
    let weak = live(&RISK_STOCK_VERB_WEAK_RE);
    (strong && (means || accum)) || (weak && accum && (means || (despair_recent && normalized.contains("worth"))))
}

/// Whether a sentence is only about someone else: a third party comes first
/// and the speaker appears only as an onlooker ("I think", "I saw", "should
/// I worry"), never as the one at risk.
fn only_about_someone_else(s: &str) -> bool {
    use crate::lexicon::tokens;
    let toks: Vec<String> = tokens(s).into_iter().map(|w| w.strip_suffix("'s").map(str::to_string).unwrap_or(w)).collect();
    let onlooker = |i: usize| {
        toks.get(i + 1).is_some_and(|n| {
            matches!(
                n.as_str(),
                "think" | "thought" | "saw" | "see" | "noticed" | "notice" | "worry" | "worried" | "found" | "heard" | "guess"
                    | "suspect" | "suspected" | "wonder" | "scared" | "afraid" | "concerned" | "reckon" | "believe" | "do" | "help" | "tell" | "told"
            )
        })
    };
    let speaker = |i: usize| matches!(toks[i].as_str(), "i" | "i'm" | "im" | "i've" | "ive" | "i'd" | "i'll" | "me" | "myself" | "mine") && !onlooker(i);
    let Some(first) = toks.iter().position(|w| is_third_party_word(w) || matches!(w.as_str(), "i" | "i'm" | "im" | "i've" | "ive" | "i'd" | "i'll" | "me" | "myself" | "my")) else {
        return false;
    };
    // An object pronoun first ("took them") is not a subject.
    // "they" is as often the thoughts or the pills as people.
    let subject_word = |w: &str| is_third_party_word(w) && !matches!(w, "him" | "her" | "them" | "their" | "his" | "they" | "they're");
    // A possessive ("my dad's codeine") names an owner, not who acts.
    let raw = tokens(s);
    let possessive = |i: usize| raw.get(i).is_some_and(|w| w.ends_with("'s") && !matches!(w.as_str(), "he's" | "she's"));
    let third_first = (subject_word(&toks[first]) && !possessive(first))
        || (toks[first] == "my" && toks.get(first + 1).is_some_and(|n| is_third_party_word(n)) && !possessive(first + 1));
    if !third_first {
        return false;
    }
    let my_own = |i: usize| toks[i] == "my" && toks.get(i + 1).is_some_and(|n| !is_third_party_word(n));
    !(first..toks.len()).any(|i| speaker(i) || (i > first + 1 && my_own(i)))
}

fn is_third_party_word(w: &str) -> bool {
    matches!(
        w,
        "he" | "she" | "they" | "he's" | "she's" | "they're" | "his" | "her" | "their" | "him" | "them" | "friend" | "brother" | "sister"
            | "mom" | "mum" | "dad" | "father" | "mother" | "son" | "daughter" | "cousin" | "uncle" | "aunt" | "grandma" | "grandpa"
            | "grandmother" | "grandfather" | "colleague" | "coworker" | "boss" | "roommate" | "neighbor" | "neighbour" | "patient"
            | "client" | "student" | "character" | "mate" | "bestie" | "bff" | "bf" | "gf"
            | "boyfriend" | "girlfriend" | "partner" | "husband" | "wife" | "flatmate" | "housemate" | "classmate" | "teammate"
            | "kid" | "child" | "nephew" | "niece" | "ex" | "stepdad" | "stepmom" | "stepmum" | "sibling"
    )
}

/// Whether a sentence is about someone else: its first person word is a
/// third party and the speaker never appears ("my sister says she wants to
/// disappear").
fn about_someone_else(s: &str) -> bool {
    use crate::lexicon::tokens;
    let toks: Vec<String> = tokens(s).into_iter().map(|w| w.strip_suffix("'s").map(str::to_string).unwrap_or(w)).collect();
    let first_person = |w: &str| matches!(w, "i" | "i'm" | "im" | "i've" | "ive" | "i'd" | "i'll" | "me" | "myself" | "my" | "mine");
    let third = |w: &str| {
        matches!(
            w,
            "he" | "she" | "they" | "he's" | "she's" | "they're" | "his" | "her" | "their" | "him" | "them" | "friend" | "brother" | "sister"
                | "mom" | "mum" | "dad" | "father" | "mother" | "son" | "daughter" | "cousin" | "uncle" | "aunt" | "grandma" | "grandpa"
                | "grandmother" | "grandfather" | "colleague" | "coworker" | "boss" | "roommate" | "neighbor" | "neighbour" | "patient"
                | "client" | "student" | "someone" | "somebody" | "people" | "character" | "mate" | "bestie" | "bff" | "bf" | "gf"
                | "boyfriend" | "girlfriend" | "partner" | "husband" | "wife" | "flatmate" | "housemate" | "classmate" | "teammate"
                | "kid" | "child" | "nephew" | "niece" | "friends" | "ex" | "stepdad" | "stepmom" | "stepmum" | "sibling"
        )
    };
    match toks.iter().position(|w| first_person(w) || third(w)) {
        None => false,
        Some(i) => {
            let w = toks[i].as_str();
            // "my friend ..." starts with "my" but is about the friend.
            if w == "my" && toks.get(i + 1).is_some_and(|n| third(n)) {
                return !toks[i + 2..].iter().any(|w| matches!(w.as_str(), "i" | "i'm" | "im" | "i've" | "ive" | "i'd" | "i'll" | "myself"));
            }
            third(w) && !toks[i..].iter().any(|w| matches!(w.as_str(), "i" | "i'm" | "im" | "i've" | "ive" | "i'd" | "i'll" | "myself"))
        }
    }
}

/// Cue flags of one text.
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    /// A means in a place where people act on it (a beam or a rope in the
    /// shed, a gun in the garage, fumes in a shut garage, pills hidden in
    /// the loft).
    method_place: bool,
    explicit: bool,
    passive: bool,
    self_harm: bool,
    act: bool,
    history: bool,
    hopeless: bool,
    burden: bool,
    belonging: bool,
    entrapment: bool,
    calm: bool,
    research: bool,
    stockpile: bool,
    prepare: bool,
    prep_ctx: bool,
    plan: bool,
    means: bool,
    at_hand: bool,
    timeline: bool,
    intent: bool,
    /// An urge to jump, step off, let go.
    jump: bool,
    /// A plan that names its method.
    plan_method: bool,
    /// Veiled talk of an act ("do it", "haven't picked a day").
    veiled: bool,
    /// Veiled talk of one's own death ("when I'm gone").
    veiled_death: bool,
    /// What an act is for, said without naming it, or concealment ("you
    /// know what it's for", "for when I decide").
    purpose: bool,
    /// Rumination on a means or a place ("I look at it every night").
    rumination: bool,
    /// A farewell disclosure or waiting to be alone ("I just wanted someone
    /// to know", "while my flatmates are away").
    farewell: bool,
    /// A past the speaker says is over (no grade).
    resolved: bool,
    /// A weapon or a ligature against the body or in the lap right now.
    on_body: bool,
    /// A practice run (tying a knot, testing a beam).
    rehearsal: bool,
    /// Calm beside a decision to go, or things sorted: calm after a
    /// decision only with despair near.
    calm_ctx: bool,
    /// An act hidden from others ("without them realising").
    conceal: bool,
}

fn grade(f: &Flags, ctx: &RecentContext<'_>) -> Assessment {
    let mut a = Assessment {
        risk: Risk::None,
        signals: Vec::new(),
        denial: false,
        categories: Vec::new(),
        ambiguous: Vec::new(),
        semantic_eligible: Vec::new(),
        semantic_signals: Vec::new(),
        context_cue: f.purpose || f.rumination || f.veiled_death || f.farewell || f.veiled,
        purpose_cue: f.purpose || f.rumination,
    };
    // At a height or a platform, an urge to jump is active ideation.
    let explicit = f.explicit || (f.at_hand && f.jump);
    let f = &Flags { explicit, ..*f };
    let ideation = f.explicit || f.self_harm || f.passive || f.intent || f.act;
    let despair_now = ideation
        || f.hopeless
        || f.burden
        || f.belonging
        || f.entrapment
        || f.calm
        || f.research
        || f.stockpile
        || f.prepare
        || f.plan_method
        || f.veiled_death
        || f.purpose
        || f.method_place;
    let despair_before = ctx.recent.iter().any(|t| !t.categories.is_empty());
    let context = despair_now || despair_before || ctx.in_crisis;
    for (on, c) in [
        (f.passive, Category::PassiveIdeation),
        (f.explicit, Category::ActiveIdeation),
        (f.self_harm, Category::SelfInjury),
        (f.act, Category::ActInProgress),
        (f.research, Category::MethodResearch),
        (f.stockpile, Category::MeansAcquiring),
        (f.prepare, Category::PreparatoryActs),
        (f.burden, Category::Burdensomeness),
        (f.belonging, Category::ThwartedBelongingness),
        (f.hopeless, Category::Hopelessness),
        (f.entrapment, Category::Entrapment),
        (f.calm, Category::CalmAfterDecision),
        (f.plan_method, Category::Plan),
    ] {
        if on {
            a.add(c, c.grade());
        }
    }
    // Design: a means where people act on it is the protocol's business
    // without despair beside it ("Had a look at the big beam in the hay
    // shed. Reckon it'd hold me."). Until this rule these were caught only
    // by accident — "shed" read as texting for "self-harmed" — which also
    // gave the protocol to "Found the old man's hat in the shed".
    if f.method_place {
        a.add(Category::MeansAtHand, Risk::High);
        a.signals.push("method_place");
    }
    // Acts that mean risk only where there is despair to give them meaning:
    // a "plan for the weekend" or a kitchen knife is not a risk cue.
    let contextual = [
        (f.prep_ctx, Category::PreparatoryActs),
        (f.means, Category::MeansAcquiring),
        (f.at_hand, Category::MeansAtHand),
        (f.plan, Category::Plan),
        (f.rehearsal, Category::PreparatoryActs),
    ];
    for (on, c) in contextual {
        if !on {
            continue;
        }
        if context {
            a.add(c, c.grade());
            if !despair_now {
                a.signals.push("accumulation");
            }
        } else {
            if !a.ambiguous.contains(&c) {
                a.ambiguous.push(c);
            }
            // Design: an ordinary-sounding act beside veiled talk of doing
            // "it" ("I know how I'd do it, I just haven't picked a day"), or
            // being at a height or holding a means right now, is indirect
            // disclosure: it gets the direct check-in question, whose answer
            // decides the rest.
            if (f.veiled || f.rumination) && c != Category::PreparatoryActs {
                // A plan, a means or a place together with veiled talk of
                // the act is the plan itself (C-SSRS 5 without a date).
                a.add(c, c.grade().min(Risk::High));
                a.signals.push("veiled");
            } else if f.veiled || (c == Category::MeansAtHand && f.timeline) {
                a.risk = a.risk.max(Risk::Low);
                if !a.signals.contains(&"veiled") {
                    a.signals.push("veiled");
                }
            }
        }
    }
    // After a turn graded high or worse, a time frame or a veiled "it"
    // continues that disclosure ("probably tonight", "heading there now").
    let severe_before = ctx.recent.iter().any(|t| {
        t.categories.iter().any(|c| c.grade() >= Risk::High && !matches!(c, Category::SelfInjury | Category::ActInProgress))
    });
    // Veiled talk of doing "it" with a time, beside a farewell disclosure or
    // waiting to be alone ("I'll do it in an hour, I just wanted someone to
    // know"; "doing it this weekend while my flatmates are away") is a plan
    // with a time (C-SSRS 5 with a date).
    if f.veiled && f.farewell && (f.timeline || f.intent) {
        a.add(Category::PlanWithTime, Risk::Imminent);
        a.signals.push("farewell");
    }
    // A weapon or a ligature on the body is means at hand whatever else is
    // said; a rehearsal beside a plan is the plan itself.
    if f.on_body {
        a.add(Category::MeansAtHand, Category::MeansAtHand.grade());
    }
    if f.rehearsal && f.plan {
        a.add(Category::Plan, Risk::High);
    }
    // After a severe turn, a farewell disclosure ("I don't know why I'm
    // telling you this") is the last step before acting.
    // Calm beside a decision to go or things sorted counts with despair
    // that is more than a veiled purpose (which "it's all sorted now" is
    // itself), or with concealment ("they don't know it's because…").
    let despair_real = ideation || f.hopeless || f.burden || f.belonging || f.entrapment || f.research || f.stockpile || f.prepare || f.plan_method;
    if f.calm_ctx && (despair_real || f.conceal || despair_before || ctx.in_crisis) {
        a.add(Category::CalmAfterDecision, Risk::High);
    }
    let means_before = ctx.recent.iter().any(|t| t.ambiguous.iter().any(|c| matches!(c, Category::MeansAtHand | Category::MeansAcquiring | Category::Plan)));
    let prep_before = ctx.recent.iter().any(|t| t.ambiguous.contains(&Category::PreparatoryActs) || t.categories.contains(&Category::PreparatoryActs));
    // Things given away or letters written earlier, and now everything
    // sorted and a new calm: the preparation is finished.
    if f.calm_ctx && prep_before {
        a.add(Category::CalmAfterDecision, Risk::High);
        a.signals.push("accumulation");
    }
    if (severe_before || means_before) && f.farewell {
        a.add(Category::PreparatoryActs, Risk::Imminent);
        a.signals.push("accumulation");
    }
    if severe_before && f.timeline {
        a.add(Category::PlanWithTime, Risk::Imminent);
        a.signals.push("accumulation");
    } else if severe_before && f.veiled {
        a.add(Category::Plan, Risk::High);
        a.signals.push("accumulation");
    }
    let plan = (f.plan && context) || f.plan_method;
    let means = ((f.means || f.at_hand) && context) || f.on_body;
    let timeline = f.timeline && (f.explicit || f.intent || f.self_harm || plan);
    if f.history {
        a.risk = a.risk.max(Risk::Low);
    }
    // The C-SSRS ladder: ideation with intent, a plan, means, a time or a
    // goodbye is the top of the scale.
    if ideation && (f.intent || plan || means || timeline || f.prepare) {
        a.risk = Risk::Imminent;
    }
    if (plan || f.intent) && timeline {
        a.add(Category::PlanWithTime, Risk::Imminent);
    }
    if ctx.in_crisis && (plan || means || f.prepare || f.intent) {
        a.risk = Risk::Imminent;
    }
    for (on, name) in [(f.history, "history"), (f.intent, "intent"), (timeline, "timeline")] {
        if on {
            a.signals.push(name);
        }
    }
    a
}

/// Reads the current turn together with the last few: the session's risk
/// accumulates.
///
/// Design: two rules, both after Joiner's interpersonal theory and the
/// warning-sign lists, where signs that are each common on their own
/// together mark risk: (1) an ambiguous act from an earlier turn (giving
/// things away, a rope, "I have a plan") gets its meaning from despair now;
/// (2) a wish to be dead, burdensomeness or not belonging, together with a
/// second, different low-grade sign within the window, is `high`.
/// Hopelessness and entrapment alone, however often repeated, stay `low`:
/// they are the everyday language of distress.
fn accumulate(a: &mut Assessment, ctx: &RecentContext<'_>) {
    let despair_now = !a.categories.is_empty();
    if despair_now {
        for t in ctx.recent {
            for &c in &t.ambiguous {
                a.add(c, c.grade());
                if !a.signals.contains(&"accumulation") {
                    a.signals.push("accumulation");
                }
            }
        }
    }
    let low: Vec<Category> = {
        let mut v: Vec<Category> = ctx
            .recent
            .iter()
            .flat_map(|t| t.categories.iter().copied())
            .chain(a.categories.iter().copied())
            .filter(|c| c.grade() == Risk::Low)
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let interpersonal = low.iter().any(|c| matches!(c, Category::PassiveIdeation | Category::Burdensomeness | Category::ThwartedBelongingness));
    let now_low = a.categories.iter().any(|c| c.grade() == Risk::Low);
    let before_any = ctx.recent.iter().any(|t| !t.categories.is_empty());
    if now_low && before_any && interpersonal && low.len() >= 2 && a.risk < Risk::High {
        a.risk = Risk::High;
        a.signals.push("accumulation");
    }
    let mut names: Vec<&'static str> = a.categories.iter().map(|c| c.as_str()).collect();
    for s in a.signals.iter().copied() {
        if !names.contains(&s) {
            names.push(s);
        }
    }
    a.signals = names;
}

/// Renders the protocol reply for the configured resource.
pub fn protocol_reply(cfg: &CrisisConfig) -> String {
    cfg.reply_template
        .replace("{resource_name}", &cfg.resource_name)
        .replace("{resource_contact}", &cfg.resource_contact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_thresholds_outside_zero_to_one_are_refused_naming_the_field() {
        assert_eq!(CrisisConfig::default().validate_semantic(), Ok(()));
        let fields: [(&str, fn(&mut CrisisConfig) -> &mut f32); 8] = [
            ("crisis.semantic_strong", |c| &mut c.semantic_strong),
            ("crisis.semantic_weak", |c| &mut c.semantic_weak),
            ("crisis.semantic_margin", |c| &mut c.semantic_margin),
            ("crisis.semantic_decisive", |c| &mut c.semantic_decisive),
            ("crisis.semantic_decisive_margin", |c| &mut c.semantic_decisive_margin),
            ("crisis.semantic_act_check_in", |c| &mut c.semantic_act_check_in),
            ("crisis.reader_protocol", |c| &mut c.reader_protocol),
            ("crisis.reader_check_in", |c| &mut c.reader_check_in),
        ];
        for (name, field) in fields {
            for bad in [-0.1, 1.5, f32::NAN] {
                let mut c = CrisisConfig::default();
                *field(&mut c) = bad;
                let e = c.validate_semantic().expect_err(name);
                assert!(e.contains(&format!("`{name}`")), "{name} = {bad}: {e}");
            }
        }
        let c = CrisisConfig { semantic_weak: 0.7, semantic_strong: 0.65, ..CrisisConfig::default() };
        assert!(c.validate_semantic().unwrap_err().contains("crisis.semantic_weak"));
        let c = CrisisConfig { semantic_act_check_in: 0.5, semantic_weak: 0.57, ..CrisisConfig::default() };
        assert!(c.validate_semantic().unwrap_err().contains("`crisis.semantic_act_check_in`"));
        // Above the strong tier it is off (only a strong match asks): allowed.
        let c = CrisisConfig { semantic_act_check_in: 1.0, ..CrisisConfig::default() };
        assert_eq!(c.validate_semantic(), Ok(()));
    }

    fn risk(text: &str) -> Risk {
        assess(text, false).risk
    }

    fn run(turns: &[&str]) -> Vec<CrisisDecision> {
        let cfg = CrisisConfig::default();
        let mut t = CrisisTracker::default();
        turns.iter().map(|x| t.on_turn(x, &cfg)).collect()
    }

    #[test]
    fn idiom_about_an_exam_is_not_risk() {
        assert_eq!(risk("This exam is killing me"), Risk::None);
        assert_eq!(risk("my feet are killing me after that hike"), Risk::None);
    }

    #[test]
    fn idioms_about_coffee_and_dying_to_see_are_not_risk() {
        for t in [
            "I could kill for a coffee right now",
            "I'm dying to see the new film",
            "I nearly died laughing",
            "I could die of embarrassment",
            "I'd rather die than sing in public",
            "I'm killing myself at the gym lately",
            "I could have killed myself for forgetting her birthday",
        ] {
            assert_eq!(risk(t), Risk::None, "{t}");
        }
    }

    #[test]
    fn deaths_not_about_the_speaker_are_not_risk() {
        for t in [
            "My grandma died last year",
            "The character kills himself in the book",
            "we watched a documentary about suicide prevention",
            "I read a novel about suicide",
            "my friend committed suicide two years ago and I miss him",
            "I'm worried my brother is suicidal",
            "He wants to die at home, not in hospital",
        ] {
            assert_eq!(risk(t), Risk::None, "{t}");
        }
    }

    #[test]
    fn explicit_ideation_is_high() {
        for t in ["I want to kill myself", "I just want to die", "I've been feeling suicidal", "I keep thinking about suicide", "I want to end my life", "I'd be better off dead", "I don't want to live anymore"] {
            assert_eq!(risk(t), Risk::High, "{t}");
        }
    }

    #[test]
    fn negated_ideation_is_not_risk() {
        for t in ["I'm not suicidal, just tired", "I would never kill myself", "I don't want to die, I'm just scared of the surgery"] {
            assert_eq!(risk(t), Risk::None, "{t}");
        }
    }

    #[test]
    fn not_sure_i_want_to_live_is_not_a_negation() {
        assert!(risk("I'm not sure I want to live anymore") >= Risk::Low);
        assert!(risk("I don't know if I want to be alive") >= Risk::Low);
    }

    #[test]
    fn cannot_stop_thinking_about_it_is_still_ideation() {
        assert_eq!(risk("I can't stop thinking about killing myself"), Risk::High);
    }

    #[test]
    fn passive_ideation_is_low() {
        for t in ["Sometimes I wish I could go to sleep and never wake up", "Everyone would be better off without me", "I wish I'd never been born", "There's no point in living"] {
            assert_eq!(risk(t), Risk::Low, "{t}");
        }
    }

    #[test]
    fn hopelessness_alone_is_low() {
        assert_eq!(risk("I feel completely hopeless about my job"), Risk::Low);
    }

    #[test]
    fn current_self_harm_is_high_but_accidents_are_not() {
        assert_eq!(risk("I cut myself last night"), Risk::High);
        assert_eq!(risk("I've been hurting myself again"), Risk::High);
        assert_eq!(risk("I cut myself shaving this morning"), Risk::None);
        assert_eq!(risk("I hurt myself playing football"), Risk::None);
    }

    #[test]
    fn past_self_harm_is_history_and_low() {
        let a = assess("I used to cut myself when I was a teenager", false);
        assert_eq!(a.risk, Risk::Low);
        assert!(a.signals.contains(&"history"));
    }

    #[test]
    fn ideation_with_a_plan_or_means_or_time_is_imminent() {
        for t in [
            "I want to kill myself and I have a plan",
            "I want to die. I've been saving up my pills.",
            "I'm going to kill myself tonight",
            "I want to end my life, I bought a rope",
            "I don't want to live anymore. This is goodbye.",
        ] {
            assert_eq!(risk(t), Risk::Imminent, "{t}");
        }
    }

    #[test]
    fn a_plan_for_the_weekend_is_not_a_plan_to_die() {
        assert_eq!(risk("I have a plan for the weekend, I bought a knife for the kitchen"), Risk::None);
    }

    #[test]
    fn goodbye_behaviour_alone_is_high() {
        assert_eq!(risk("I've been giving away my things. You won't hear from me again."), Risk::High);
        assert_eq!(risk("Goodbye, see you tomorrow!"), Risk::None);
    }

    #[test]
    fn means_after_earlier_ideation_escalates_to_imminent() {
        let d = run(&["I want to die", "I have the pills next to me"]);
        assert_eq!(d[0].risk, Risk::High);
        assert_eq!(d[1].risk, Risk::Imminent);
    }

    #[test]
    fn a_plan_with_veiled_talk_of_the_act_is_high_without_the_word_suicide() {
        assert_eq!(risk("I know exactly how I'd do it, I just haven't picked a day"), Risk::High);
        assert_eq!(risk("the plan is to drive my car off the coast road"), Risk::High);
        // A plan with neither despair nor a veiled act stays ambiguous.
        assert_eq!(risk("I have a plan for the weekend, we're going camping"), Risk::None);
    }

    #[test]
    fn a_height_or_means_right_now_gets_at_least_the_check_in_question() {
        assert!(risk("i'm on the roof of the car park right now") >= Risk::Low);
        assert!(risk("the knife is next to me and i can't stop looking at it") >= Risk::High);
        assert_eq!(risk("I'm at the station waiting for my sister"), Risk::None);
    }

    #[test]
    fn acts_given_meaning_by_veiled_talk_of_being_gone_are_high() {
        assert_eq!(risk("gave my records to my cousin, won't need them where i'm going"), Risk::High);
        assert_eq!(risk("I passed my old bike on to my cousin since I bought a new one"), Risk::None);
    }

    #[test]
    fn a_time_frame_after_a_severe_turn_is_imminent_but_not_after_self_injury() {
        let d = run(&["I keep thinking about killing myself", "probably tonight once everyone's asleep"]);
        assert_eq!(d[1].risk, Risk::Imminent);
        let d = run(&["I cut myself last night", "I have an exam today"]);
        assert!(d[1].risk < Risk::Imminent, "{:?}", d[1]);
    }

    #[test]
    fn lethal_dose_questions_are_method_research_in_any_phrasing() {
        assert_eq!(risk("quick question what amount of paracetamol is deadly"), Risk::High);
        assert_eq!(risk("would forty of my tablets be enough to not wake up"), Risk::High);
        assert_eq!(risk("how many ibuprofen can I take for a headache"), Risk::None);
    }

    #[test]
    fn past_attempts_dated_by_age_or_years_are_history_and_a_cheerful_goodbye_is_not_a_farewell() {
        assert_eq!(risk("I tried to kill myself when I was 17, I'm doing well now"), Risk::Low);
        assert_eq!(risk("this is goodbye for now, off to Spain next week!"), Risk::None);
    }

    #[test]
    fn threatening_someone_else_in_jest_is_not_intent() {
        assert_eq!(risk("I'm going to kill my brother if he eats my cake again"), Risk::None);
    }

    #[test]
    fn an_overdose_is_at_least_high() {
        assert!(risk("I took too many pills last night") >= Risk::High);
    }

    #[test]
    fn not_wanting_to_be_here_anymore_or_wake_up_is_at_least_low() {
        for t in ["i dont want to be here anymore", "Honestly I'd rather not wake up tomorrow", "I want to disappear", "I feel like giving up"] {
            assert!(risk(t) >= Risk::Low, "{t}");
        }
        assert_eq!(risk("I don't want to be here at this party"), Risk::None);
    }

    #[test]
    fn someone_else_at_risk_is_a_signal_but_not_the_speakers_risk() {
        let a = assess("She said she wants to kill herself and I don't know what to do", false);
        assert_eq!(a.risk, Risk::None);
        assert!(a.signals.contains(&"other_person_at_risk"));
    }

    #[test]
    fn high_risk_uses_the_protocol_reply_and_alerts() {
        let d = run(&["I want to kill myself"]);
        assert!(d[0].use_protocol_reply && d[0].alert && d[0].crisis_active);
        assert!(d[0].signals.iter().any(|s| s == "active_ideation"));
    }

    #[test]
    fn low_risk_neither_alerts_nor_enters_crisis() {
        let d = run(&["I wish I could disappear forever"]);
        assert_eq!(d[0].risk, Risk::Low);
        assert!(!d[0].use_protocol_reply && !d[0].alert && !d[0].crisis_active);
    }

    #[test]
    fn single_denial_does_not_clear_crisis() {
        let d = run(&["I want to kill myself", "never mind, I'm fine"]);
        assert!(d[1].crisis_active);
        assert_eq!(d[1].risk, Risk::None);
        let d = run(&["I want to die", "just kidding", "just kidding", "just kidding", "just kidding"]);
        assert!(d.iter().all(|x| x.crisis_active));
    }

    #[test]
    fn crisis_clears_only_after_the_configured_calm_turns() {
        let d = run(&["I want to kill myself", "I talked to my sister", "we had dinner", "then I watched a film"]);
        assert!(d[1].crisis_active && d[2].crisis_active);
        assert!(!d[3].crisis_active);
    }

    #[test]
    fn a_low_turn_restarts_the_calm_count() {
        let d = run(&["I want to kill myself", "ok", "ok", "I still feel hopeless", "ok", "ok", "ok"]);
        assert!(d[5].crisis_active);
        assert!(!d[6].crisis_active);
    }

    #[test]
    fn empty_turns_do_not_count_as_calm() {
        let d = run(&["I want to kill myself", "", "   ", "...", "ok"]);
        assert!(d[4].crisis_active);
    }

    #[test]
    fn calm_turns_zero_in_config_still_needs_one_real_calm_turn() {
        let cfg = CrisisConfig { calm_turns_to_clear: 0, ..CrisisConfig::default() };
        let mut t = CrisisTracker::default();
        t.on_turn("I want to die", &cfg);
        assert!(t.on_turn("never mind", &cfg).crisis_active);
        assert!(!t.on_turn("I went for a walk", &cfg).crisis_active);
    }

    #[test]
    fn peak_remembers_the_highest_risk() {
        let cfg = CrisisConfig::default();
        let mut t = CrisisTracker::default();
        t.on_turn("hello", &cfg);
        t.on_turn("I'm going to kill myself tonight", &cfg);
        t.on_turn("ok", &cfg);
        assert_eq!(t.peak, Some(Risk::Imminent));
    }

    #[test]
    fn internet_slang_for_suicide_is_recognised() {
        assert_eq!(risk("honestly i just want to kms"), Risk::High);
        assert_eq!(risk("I want to unalive myself"), Risk::High);
    }

    #[test]
    fn curly_apostrophes_and_caps_are_read_like_plain_text() {
        assert_eq!(risk("I DON’T WANT TO LIVE ANYMORE"), Risk::High);
    }

    #[test]
    fn a_veiled_purpose_beside_a_means_is_means_acquired_and_alone_gets_the_check_in() {
        assert!(risk("been putting my sleeping tablets aside in a tin. it's my way out") >= Risk::High);
        assert!(risk("bought a length of rope at the hardware shop. you know what it's for") >= Risk::High);
        assert_eq!(risk("I think you know why."), Risk::Low);
        assert_eq!(risk("bought a new planner today, it's for work"), Risk::None);
        assert_eq!(risk("do you know what it is? I've never heard of it"), Risk::None);
    }

    #[test]
    fn thoughts_of_a_method_are_active_ideation_but_hyperbole_is_not() {
        assert!(risk("i keep picturing driving my car off the motorway bridge") >= Risk::High);
        assert!(risk("reckon i'd just walk into the sea and keep going") >= Risk::High);
        assert_eq!(risk("this queue makes me want to jump off a bridge lol"), Risk::None);
        assert_eq!(risk("I keep thinking about going over my notes again"), Risk::None);
    }

    #[test]
    fn self_injury_is_heard_in_its_forms_without_the_word_cutting() {
        assert!(risk("pressed a hot lighter against my forearm again last night") >= Risk::High);
        assert!(risk("i scratch words into my thighs with a pin") >= Risk::High);
        assert!(risk("c*tting again tonight") >= Risk::High);
        assert_eq!(risk("burned my hand on the oven while cooking"), Risk::None);
    }

    #[test]
    fn a_past_the_speaker_says_is_over_is_not_graded_but_a_relapse_is() {
        assert_eq!(risk("I self harmed in school. two years clean now and proud of how far I've come"), Risk::None);
        assert_eq!(risk("back when i was 15 i wanted to die. glad i stuck around"), Risk::None);
        assert!(risk("relapsed and cut myself after two years clean") >= Risk::High);
        assert_eq!(risk("I used to cut myself when I was younger."), Risk::Low);
        assert_eq!(risk("I tried to kill myself when I was 17, I'm doing well now"), Risk::Low);
    }

    #[test]
    fn veiled_talk_of_doing_it_with_a_time_and_a_farewell_is_a_plan_with_a_time() {
        assert_eq!(risk("thanks for being there these past months. i'm doing it tonight while my parents are at work"), Risk::Imminent);
        assert_eq!(risk("i'll do it tonight, the essay is due friday"), Risk::None);
    }

    #[test]
    fn joining_someone_who_died_is_intent_only_beside_a_death() {
        assert!(risk("Mum passed in March. I'm going to join her soon.") >= Risk::High);
        assert_eq!(risk("I'm going to join them for dinner."), Risk::None);
    }

    #[test]
    fn a_welcome_death_put_as_an_event_is_passive_ideation() {
        assert_eq!(risk("I wouldn't be upset if I just stopped existing"), Risk::Low);
        assert_eq!(risk("part of me hopes I get something terminal"), Risk::Low);
    }

    // Round 3 of composed cues: every wording below is new (in no eval file).

    #[test]
    fn a_question_whether_a_means_or_a_height_would_suffice_is_method_research() {
        assert!(risk("if a person swallowed 30 of their sertraline would it be enough") >= Risk::High);
        assert!(risk("is the top of the multi-storey on king street high enough? asking for myself") >= Risk::High);
        assert_eq!(risk("would 2 paracetamol be enough for this headache"), Risk::None);
    }

    #[test]
    fn a_method_chosen_as_how_i_would_do_it_beside_a_means_is_active_ideation() {
        assert!(risk("every time I pass the railway line I think that's how I'd do it") >= Risk::High);
        assert!(risk("nothing feels worth it and i've already thought about how.") >= Risk::High);
        assert_eq!(risk("if I were you, that's how I'd do it: ask your boss first"), Risk::None);
    }

    #[test]
    fn stockpiling_is_a_verb_of_saving_a_means_and_accumulation() {
        assert!(risk("been squirrelling away my dad's codeine a couple at a time") >= Risk::High);
        assert!(risk("each refill I hide a few of the tablets in my old pencil case") >= Risk::High);
        assert_eq!(risk("I've been saving up for a new bike every month"), Risk::None);
        assert_eq!(risk("I keep a stash of chocolate in my desk, it makes me feel better"), Risk::None);
        assert_eq!(risk("my stash of biscuits makes me feel safer during revision"), Risk::None);
        assert!(risk("been nicking one of gran's oxycodone each visit") >= Risk::High);
        assert_eq!(risk("the villain keeps a stash of pills in the film"), Risk::None);
    }

    #[test]
    fn a_weapon_or_a_ligature_on_the_body_is_means_at_hand() {
        assert_eq!(risk("the rifle is resting on my knees"), Risk::Imminent);
        assert_eq!(risk("the knife is in my hand, I'm chopping onions"), Risk::None);
        assert_eq!(risk("the cable is wrapped around my neck"), Risk::Imminent);
        assert_eq!(risk("my new scarf is lovely and warm around my neck"), Risk::None);
    }

    #[test]
    fn a_plan_given_as_where_and_how_or_rehearsed_or_one_way_is_a_plan() {
        assert!(risk("i've decided where, and how.") >= Risk::High);
        assert!(risk("I got everything planned and I tested whether the beam holds") >= Risk::High);
        assert!(risk("my plan is to floor it and not brake at the junction") >= Risk::High);
        assert_eq!(risk("tomorrow I'll drive out to the quarry and I'm not coming back"), Risk::Imminent);
        assert!(risk("i know which tree, i know what day.") >= Risk::High);
        assert!(risk("tested the rope on the loft hatch to check it would take my weight") >= Risk::High);
        assert_eq!(risk("we practised tying knots at scouts"), Risk::None);
        assert_eq!(risk("going to the lake this weekend and not coming back until sunday"), Risk::None);
    }

    #[test]
    fn a_future_without_oneself_gives_ordinary_acts_their_meaning() {
        assert!(risk("handed my camera and lenses to my nephew, won't be using any of it after next week") >= Risk::High);
        assert_eq!(risk("I'll be gone before sunrise, it's decided"), Risk::Imminent);
        assert_eq!(risk("passed my old bike on to my cousin since I bought a new one"), Risk::None);
        assert_eq!(risk("I'll be gone by morning, my flight is at 6"), Risk::None);
    }

    #[test]
    fn self_injury_is_heard_by_its_purpose_and_its_hiding_place() {
        assert!(risk("I dig my nails into my forearms on purpose until it bleeds") >= Risk::High);
        assert!(risk("locked myself in the bathroom at work and cut") >= Risk::High);
        assert!(risk("snuck off to the shed after tea and cut again") >= Risk::High);
        assert_eq!(risk("I was in the kitchen cutting onions"), Risk::None);
        assert_eq!(risk("I burned the toast on purpose lol"), Risk::None);
    }

    #[test]
    fn a_decision_beside_a_new_calm_is_calm_after_a_decision() {
        assert!(risk("made my decision yesterday about not being here, and I feel weirdly at peace") >= Risk::High);
        assert_eq!(risk("I decided to leave my job and I feel so relieved"), Risk::None);
    }

    #[test]
    fn a_welcome_death_as_a_diagnosis_or_a_waking_is_passive_ideation() {
        assert_eq!(risk("honestly if I were diagnosed with something incurable I'd feel relieved"), Risk::Low);
        assert_eq!(risk("another morning, gutted that I'm still here"), Risk::Low);
        assert_eq!(risk("gutted I woke up late for the match"), Risk::None);
    }

    #[test]
    fn burdensomeness_and_not_belonging_are_heard_in_new_wordings() {
        assert_eq!(risk("my parents would be freer without me around"), Risk::Low);
        assert_eq!(risk("if I died in my flat it'd be weeks before anyone knocked"), Risk::Low);
    }

    #[test]
    fn self_directed_hyperbole_games_and_sport_are_not_risk_unless_meant() {
        assert_eq!(risk("I want to kill myself for forgetting my keys lol"), Risk::None);
        assert_eq!(risk("one more sprint review meeting and I'm going to drown myself"), Risk::None);
        assert_eq!(risk("if the ref gives one more dodgy penalty I will actually hang myself"), Risk::None);
        assert_eq!(risk("fell off the map again, guess I'll respawn and jump off the cliff again"), Risk::None);
        assert_eq!(risk("we lost the derby 4-0, kms 😭"), Risk::None);
        assert_eq!(risk("if my roommate leaves her laundry on my bed again I'll hang myself"), Risk::None);
        assert_eq!(risk("haha i'm going to shoot myself, my train got cancelled"), Risk::None);
        assert_eq!(risk("I'm ending it with my boyfriend tonight, it's not working"), Risk::None);
        assert!(risk("lol my team lost again but honestly I want to kill myself, not joking") >= Risk::High);
        assert!(risk("one more day like this and I'm going to kill myself") >= Risk::High);
        assert!(risk("if I fail this resit again I'll kill myself") >= Risk::High);
    }

    #[test]
    fn a_goodbye_with_a_return_or_an_ordinary_leaving_is_not_a_farewell() {
        assert_eq!(risk("that's my final goodbye for today, off to bed"), Risk::None);
        assert_eq!(risk("farewell drinks tonight, said goodbye to everyone at the office"), Risk::None);
        assert!(risk("this is goodbye forever") >= Risk::High);
    }

    #[test]
    fn someone_elses_quoted_words_and_worries_about_them_are_not_the_speakers_risk() {
        assert_eq!(risk("my cousin texted 'i want to die' after her exam. should I be worried?"), Risk::None);
        assert_eq!(risk("my sister has started cutting again, I noticed scars on her wrist"), Risk::None);
        assert!(risk("my sister said I'm a burden and I want to die") >= Risk::High);
    }

    #[test]
    fn a_past_put_as_therapy_helping_or_an_old_self_is_resolved() {
        assert_eq!(risk("I struggled with suicidal thoughts at uni, therapy helped and they're gone now"), Risk::None);
        assert_eq!(risk("the old me would've hurt myself after a day like this; the new me called a friend"), Risk::None);
        assert_eq!(risk("been clean for over two years and I still wear long sleeves out of habit"), Risk::None);
    }

    #[test]
    fn finished_preparation_and_a_disclosure_after_means_accumulate() {
        let d = run(&["gave my watch to my brother", "wrote my mum a long letter", "it's all done now, I feel calm"]);
        assert!(d[2].risk >= Risk::High, "{:?}", d[2]);
        let d = run(&["the tablets are out on the desk", "I don't know why I'm writing all this"]);
        assert_eq!(d[1].risk, Risk::Imminent, "{:?}", d[1]);
        // Without anything given away before, "it's all done now" is only the
        // veiled purpose it always was (the check-in question at most).
        assert!(run(&["had a nice walk", "it's all done now, I feel calm"])[1].risk < Risk::High);
    }

    #[test]
    fn protocol_reply_fills_in_the_resource() {
        let r = protocol_reply(&CrisisConfig::default());
        assert!(r.contains("988") && !r.contains('{'));
    }
}
