//! The study protocol file (TOML): study and site ids, arms, the day plan,
//! session limits, questionnaires, crisis resource, data retention.
//!
//! Parsed with `deny_unknown_fields` everywhere; [`Protocol::validate`] checks
//! what types cannot (an impossible schedule, a scale whose labels do not
//! match its range, a behaviour profile on an arm without a head) and every
//! error names the field.

pub use crate::pacing::LatencyMatching;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The protocol format this build reads and writes.
pub const PROTOCOL_FORMAT: u32 = 1;

/// The shipped example protocol (`study init` without `--protocol`).
pub const EXAMPLE: &str = include_str!("../../../config/study.example.toml");

/// A whole protocol.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// Protocol format version; a newer one is refused.
    pub format: u32,
    /// Who and where.
    pub study: StudyInfo,
    /// Block randomisation.
    pub allocation: Allocation,
    /// The arms (conditions).
    pub arms: Vec<Arm>,
    /// Session length limits.
    pub session: SessionLimits,
    /// The exercises the day plan refers to.
    pub exercises: Vec<Exercise>,
    /// Exercise id for each day, `study.days` entries.
    pub plan: Plan,
    /// The instruments.
    pub questionnaires: Vec<Questionnaire>,
    /// The crisis resource every arm gives (also written into the engine's `[crisis]`).
    pub crisis: CrisisResource,
    /// What is kept and for how long.
    #[serde(default)]
    pub retention: Retention,
    /// The text arms' reply timing matched to the spoken arms' (off by default).
    #[serde(default)]
    pub latency_matching: LatencyMatching,
}

/// `[study]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StudyInfo {
    /// Study id, shared by every site and robot of the study.
    pub id: String,
    /// Site id (one folder per site and robot).
    pub site: String,
    /// Robot (or workstation) id at the site.
    pub robot: String,
    /// Ethics approval / protocol number.
    pub ethics_protocol: String,
    /// Consent form version participants sign.
    pub consent_version: String,
    /// Days each participant takes part.
    pub days: u32,
}

/// `[allocation]`: seeded block randomisation, optionally stratified.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// Participants per block; a multiple of the number of arms.
    pub block_size: u32,
    /// Slots in the allocation table per stratum; a multiple of `block_size`.
    pub table_size: u32,
    /// Strata names (enrol with `--stratum`); empty = one stratum.
    #[serde(default)]
    pub strata: Vec<String>,
}

/// The medium an arm uses.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Medium {
    /// Servo head + voice.
    Robot,
    /// Voice only.
    Voice,
    /// Text chat.
    Chatbot,
    /// A printable worksheet, no conversation (control).
    Worksheet,
}

impl Medium {
    /// The name as written in the protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Medium::Robot => "robot",
            Medium::Voice => "voice",
            Medium::Chatbot => "chatbot",
            Medium::Worksheet => "worksheet",
        }
    }
    /// Whether the arm runs the dialogue engine.
    pub fn converses(self) -> bool {
        !matches!(self, Medium::Worksheet)
    }
}

/// Engine policy of an arm.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ArmPolicy {
    /// Attunement-first.
    Attuned,
    /// Plain helpful assistant.
    Assistant,
}

/// Behaviour profile of the robot arm's head.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BehaviorProfile {
    /// Full gaze, nods and posture.
    Expressive,
    /// Small movements.
    Subtle,
    /// The head holds still (embodiment without movement).
    Still,
}

/// `[[arms]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    /// Arm name (what `enroll` prints).
    pub name: String,
    /// robot | voice | chatbot | worksheet.
    pub medium: Medium,
    /// Engine group: arms naming the same group must have the same engine
    /// fingerprint. Empty for the worksheet arm.
    #[serde(default)]
    pub engine: String,
    /// Engine policy (conversational arms).
    #[serde(default)]
    pub policy: Option<ArmPolicy>,
    /// Head behaviour profile (robot arm only).
    #[serde(default)]
    pub behavior_profile: Option<BehaviorProfile>,
    /// Behaviour switches (robot arm only).
    #[serde(default)]
    pub switches: Option<Switches>,
}

/// `[arms.switches]`: which head behaviours run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Switches {
    /// Gaze toward the participant.
    pub gaze: bool,
    /// Backchannel nods.
    pub nods: bool,
    /// Posture (lean) shifts.
    pub posture: bool,
}

/// `[session]` limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionLimits {
    /// Participant turns below which a session counts as incomplete for adherence.
    pub min_turns: u32,
    /// Participant turns above which a session is flagged (`over_max_turns` in the export).
    pub max_turns: u32,
    /// Planned length in minutes (reported; staff end the session).
    pub max_minutes: u32,
}

/// `[[exercises]]`: one CBT-style exercise that gives a day its structure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// Id the plan refers to.
    pub id: String,
    /// Title shown on the worksheet.
    pub title: String,
    /// Short explanation.
    pub intro: String,
    /// Steps / prompts of the exercise.
    pub steps: Vec<String>,
}

/// `[plan]`: which exercise each day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Exercise ids, one per day.
    pub days: Vec<String>,
}

/// When an instrument is given.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Timing {
    /// Before the first session.
    Baseline,
    /// Before every session.
    Pre,
    /// After every session.
    Post,
    /// After the session on days 7, 14, ...
    Weekly,
    /// After the last day's session.
    Final,
}

impl Timing {
    /// Name as written in the protocol and in answers files.
    pub fn as_str(self) -> &'static str {
        match self {
            Timing::Baseline => "baseline",
            Timing::Pre => "pre",
            Timing::Post => "post",
            Timing::Weekly => "weekly",
            Timing::Final => "final",
        }
    }
    /// Whether it is due on `day` of a `days`-day study.
    pub fn due(self, day: u32, days: u32) -> bool {
        match self {
            Timing::Baseline => day == 1,
            Timing::Pre | Timing::Post => true,
            Timing::Weekly => day % 7 == 0 && day != days,
            Timing::Final => day == days,
        }
    }
}

/// What an instrument measures, for the summary (never folded together).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The primary distress outcome (baseline → final change).
    Distress,
    /// Working alliance / bond.
    Bond,
    /// Momentary mood before / after a session.
    Mood,
    /// Anything else.
    Other,
}

/// `[[questionnaires]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Questionnaire {
    /// Id used in answers files and exports.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Citation of the instrument.
    pub source: String,
    /// Licence / terms of use.
    pub terms: String,
    /// The item wording is a placeholder (the instrument may not be reproduced here).
    #[serde(default)]
    pub placeholder: bool,
    /// What it measures in the summary.
    pub role: Role,
    /// When it is given.
    pub when: Vec<Timing>,
    /// Instruction shown before the items.
    pub instruction: String,
    /// Response scale.
    pub scale: Scale,
    /// Item texts.
    pub items: Vec<String>,
}

/// An integer response scale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// Lowest answer.
    pub min: i64,
    /// Highest answer.
    pub max: i64,
    /// One label per value from min to max (or empty).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// `[crisis]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CrisisResource {
    /// Name of the crisis resource.
    pub resource_name: String,
    /// How to reach it.
    pub resource_contact: String,
}

/// `[retention]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Keep the participant's raw audio in the study folder (off by default).
    pub raw_audio: bool,
    /// Days the study data is kept after the study ends (reported in status).
    pub keep_days: u32,
    /// Staff accounts with the `researcher` role may read transcript text
    /// (the web front's session pages and export download); off by default.
    pub researcher_transcripts: bool,
}

impl Default for Retention {
    fn default() -> Self {
        Self { raw_audio: false, keep_days: 1825, researcher_transcripts: false }
    }
}

fn err(field: &str, msg: impl std::fmt::Display) -> String {
    format!("field `{field}`: {msg}")
}

fn id_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Protocol {
    /// Parses TOML; the error names the offending field.
    pub fn parse(text: &str) -> Result<Protocol, String> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = inner.message().trim().to_string();
            if path.is_empty() || path == "." {
                msg
            } else {
                format!("field `{path}`: {msg}")
            }
        })
    }

    /// Parses and validates.
    pub fn load_str(text: &str) -> Result<Protocol, String> {
        let p = Self::parse(text)?;
        p.validate()?;
        Ok(p)
    }

    /// The arm with this name.
    pub fn arm(&self, name: &str) -> Option<&Arm> {
        self.arms.iter().find(|a| a.name == name)
    }

    /// The exercise planned for `day` (1-based).
    pub fn exercise_for(&self, day: u32) -> Option<&Exercise> {
        let id = self.plan.days.get(day.checked_sub(1)? as usize)?;
        self.exercises.iter().find(|e| &e.id == id)
    }

    /// The instrument used as the distress outcome.
    pub fn distress(&self) -> Option<&Questionnaire> {
        self.questionnaires.iter().find(|q| q.role == Role::Distress)
    }

    /// Checks what types cannot; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.format > PROTOCOL_FORMAT {
            return Err(err("format", format!("{} is newer than this attune understands ({PROTOCOL_FORMAT}); upgrade attune", self.format)));
        }
        if self.format == 0 {
            return Err(err("format", "must be 1"));
        }
        let s = &self.study;
        for (f, v) in [("study.id", &s.id), ("study.site", &s.site), ("study.robot", &s.robot)] {
            if !id_ok(v) {
                return Err(err(f, format!("must be 1-64 letters, digits, '-', '_' or '.', got {v:?}")));
            }
        }
        if s.ethics_protocol.trim().is_empty() {
            return Err(err("study.ethics_protocol", "must name the ethics approval"));
        }
        if s.consent_version.trim().is_empty() {
            return Err(err("study.consent_version", "must name the consent form version"));
        }
        if s.days == 0 || s.days > 366 {
            return Err(err("study.days", format!("must be 1-366, got {}", s.days)));
        }
        // Arms.
        if self.arms.len() < 2 {
            return Err(err("arms", "a study needs at least two arms"));
        }
        let mut names = BTreeSet::new();
        for (i, a) in self.arms.iter().enumerate() {
            let f = |k: &str| format!("arms[{i}].{k}");
            if !id_ok(&a.name) {
                return Err(err(&f("name"), format!("must be 1-64 letters, digits, '-', '_' or '.', got {:?}", a.name)));
            }
            if !names.insert(a.name.as_str()) {
                return Err(err(&f("name"), format!("arm {:?} is declared twice", a.name)));
            }
            if a.medium.converses() {
                if !id_ok(&a.engine) {
                    return Err(err(&f("engine"), "a conversational arm must name its engine group (arms naming the same group must run the same engine)"));
                }
                if a.policy.is_none() {
                    return Err(err(&f("policy"), "a conversational arm must set its policy (attuned | assistant)"));
                }
            } else {
                if !a.engine.is_empty() || a.policy.is_some() {
                    return Err(err(&f("engine"), "the worksheet arm runs no engine; leave `engine` and `policy` out"));
                }
            }
            if a.medium != Medium::Robot && (a.behavior_profile.is_some() || a.switches.is_some()) {
                return Err(err(&f("behavior_profile"), format!("only a robot arm has head behaviours; this arm's medium is {}", a.medium.as_str())));
            }
            if a.medium == Medium::Robot && a.behavior_profile.is_none() {
                return Err(err(&f("behavior_profile"), "a robot arm must set expressive | subtle | still"));
            }
        }
        // Allocation.
        let al = &self.allocation;
        let k = self.arms.len() as u32;
        if al.block_size == 0 || al.block_size % k != 0 {
            return Err(err("allocation.block_size", format!("must be a positive multiple of the number of arms ({k}), got {}", al.block_size)));
        }
        if al.table_size == 0 || al.table_size % al.block_size != 0 {
            return Err(err("allocation.table_size", format!("must be a positive multiple of block_size ({}), got {}", al.block_size, al.table_size)));
        }
        if al.table_size > 100_000 {
            return Err(err("allocation.table_size", "at most 100000 slots per stratum"));
        }
        let mut strata = BTreeSet::new();
        for (i, st) in al.strata.iter().enumerate() {
            if !id_ok(st) || !strata.insert(st) {
                return Err(err(&format!("allocation.strata[{i}]"), format!("{st:?} is not a valid, unique stratum name")));
            }
        }
        // Session.
        let se = &self.session;
        if se.max_turns == 0 || se.min_turns > se.max_turns {
            return Err(err("session.max_turns", format!("must be at least 1 and at least session.min_turns ({}), got {}", se.min_turns, se.max_turns)));
        }
        if se.max_minutes == 0 || se.max_minutes > 240 {
            return Err(err("session.max_minutes", format!("must be 1-240, got {}", se.max_minutes)));
        }
        // Exercises and plan.
        let mut ex = BTreeSet::new();
        for (i, e) in self.exercises.iter().enumerate() {
            if !id_ok(&e.id) || !ex.insert(e.id.as_str()) {
                return Err(err(&format!("exercises[{i}].id"), format!("{:?} is not a valid, unique exercise id", e.id)));
            }
            if e.steps.is_empty() {
                return Err(err(&format!("exercises[{i}].steps"), "an exercise needs at least one step"));
            }
        }
        if self.plan.days.len() != s.days as usize {
            return Err(err("plan.days", format!("lists {} days but study.days is {}: every day needs exactly one exercise", self.plan.days.len(), s.days)));
        }
        for (i, d) in self.plan.days.iter().enumerate() {
            if !ex.contains(d.as_str()) {
                return Err(err(&format!("plan.days[{i}]"), format!("day {} names exercise {d:?}, which is not in [[exercises]]", i + 1)));
            }
        }
        // Questionnaires.
        let mut qs = BTreeSet::new();
        for (i, q) in self.questionnaires.iter().enumerate() {
            let f = |k: &str| format!("questionnaires[{i}].{k}");
            if !id_ok(&q.id) || !qs.insert(q.id.as_str()) {
                return Err(err(&f("id"), format!("{:?} is not a valid, unique questionnaire id", q.id)));
            }
            if q.source.trim().is_empty() || q.terms.trim().is_empty() {
                return Err(err(&f("terms"), "every instrument names its source and its terms of use"));
            }
            if q.items.is_empty() {
                return Err(err(&f("items"), "needs at least one item"));
            }
            if q.when.is_empty() {
                return Err(err(&f("when"), "say when it is given: baseline | pre | post | weekly | final"));
            }
            if q.when.contains(&Timing::Weekly) && s.days < 8 {
                return Err(err(&f("when"), format!("weekly in a {}-day study never falls before the final day", s.days)));
            }
            let sc = &q.scale;
            if sc.min >= sc.max {
                return Err(err(&f("scale.max"), format!("must be greater than scale.min ({}), got {}", sc.min, sc.max)));
            }
            if sc.max - sc.min > 100 {
                return Err(err(&f("scale"), "at most 101 points"));
            }
            if !sc.labels.is_empty() && sc.labels.len() as i64 != sc.max - sc.min + 1 {
                return Err(err(&f("scale.labels"), format!("has {} labels for {} values ({}..={})", sc.labels.len(), sc.max - sc.min + 1, sc.min, sc.max)));
            }
        }
        let Some(d) = self.distress() else {
            return Err(err("questionnaires", "one instrument must have role = \"distress\" (the primary outcome)"));
        };
        if !d.when.contains(&Timing::Baseline) || !d.when.contains(&Timing::Final) {
            return Err(err("questionnaires", format!("the distress instrument {:?} must be given at baseline and final", d.id)));
        }
        if self.questionnaires.iter().filter(|q| q.role == Role::Distress).count() > 1 {
            return Err(err("questionnaires", "only one instrument can be the distress outcome"));
        }
        if self.crisis.resource_name.trim().is_empty() || self.crisis.resource_contact.trim().is_empty() {
            return Err(err("crisis.resource_contact", "name the crisis resource and how to reach it"));
        }
        let lm = &self.latency_matching;
        lm.check().map_err(|(k, m)| err(&format!("latency_matching.{k}"), m))?;
        if lm.enabled && !self.arms.iter().any(|a| a.medium == Medium::Chatbot) {
            return Err(err("latency_matching.enabled", "no arm has medium = \"chatbot\": there is no text arm to match; set enabled = false"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Protocol {
        Protocol::load_str(EXAMPLE).unwrap()
    }

    fn with(edit: impl Fn(&mut toml::Value)) -> Result<Protocol, String> {
        let mut v: toml::Value = toml::from_str(EXAMPLE).unwrap();
        edit(&mut v);
        Protocol::load_str(&toml::to_string(&v).unwrap())
    }

    #[test]
    fn the_example_protocol_is_valid_with_fifteen_days_and_four_media() {
        let p = example();
        assert_eq!(p.study.days, 15);
        let media: BTreeSet<_> = p.arms.iter().map(|a| a.medium.as_str()).collect();
        assert_eq!(media.len(), 4);
        assert!(!p.retention.raw_audio);
        for q in &p.questionnaires {
            assert!(!q.source.is_empty() && !q.terms.is_empty());
        }
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let e = Protocol::load_str(&EXAMPLE.replace("[study]\n", "[study]\ncolour = \"red\"\n")).unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn a_plan_shorter_than_the_study_is_an_impossible_schedule() {
        let e = with(|v| {
            v["study"]["days"] = toml::Value::Integer(16);
        })
        .unwrap_err();
        assert!(e.contains("plan.days") && e.contains("16"), "{e}");
    }

    #[test]
    fn a_block_that_does_not_fit_the_arms_is_refused() {
        let e = with(|v| v["allocation"]["block_size"] = toml::Value::Integer(6)).unwrap_err();
        assert!(e.contains("allocation.block_size"), "{e}");
    }

    #[test]
    fn scale_labels_must_match_the_range() {
        let e = with(|v| v["questionnaires"][0]["scale"]["max"] = toml::Value::Integer(9)).unwrap_err();
        assert!(e.contains("questionnaires[0].scale.labels"), "{e}");
    }

    #[test]
    fn a_behaviour_profile_on_a_chatbot_arm_is_refused() {
        let e = with(|v| {
            let arms = v["arms"].as_array_mut().unwrap();
            let chat = arms.iter_mut().find(|a| a["medium"].as_str() == Some("chatbot")).unwrap();
            chat.as_table_mut().unwrap().insert("behavior_profile".into(), toml::Value::String("subtle".into()));
        })
        .unwrap_err();
        assert!(e.contains("behavior_profile"), "{e}");
    }

    #[test]
    fn an_unknown_medium_names_the_arm_field() {
        let e = with(|v| v["arms"][0]["medium"] = toml::Value::String("hologram".into())).unwrap_err();
        assert!(e.contains("arms[0].medium") || e.contains("arms.0.medium") || e.contains("medium"), "{e}");
    }

    #[test]
    fn latency_matching_is_off_by_default_and_an_old_protocol_without_it_still_loads() {
        let p = example();
        assert!(!p.latency_matching.enabled);
        let old = with(|v| {
            v.as_table_mut().unwrap().remove("latency_matching");
        })
        .unwrap();
        assert_eq!(old.latency_matching, LatencyMatching::default());
    }

    #[test]
    fn latency_matching_reads_its_keys() {
        let p = with(|v| {
            let t = v["latency_matching"].as_table_mut().unwrap();
            t.insert("enabled".into(), toml::Value::Boolean(true));
            t.insert("first_sentence_min_ms".into(), toml::Value::Integer(3500));
            t.insert("ms_per_char".into(), toml::Value::Integer(55));
        })
        .unwrap();
        let m = p.latency_matching;
        assert!(m.enabled && m.first_sentence_min_ms == 3500 && m.ms_per_char == 55 && m.max_hold_ms == 10_000, "{m:?}");
    }

    #[test]
    fn a_negative_latency_is_an_error_naming_the_key() {
        let e = with(|v| v["latency_matching"]["first_sentence_min_ms"] = toml::Value::Integer(-500)).unwrap_err();
        assert!(e.contains("latency_matching.first_sentence_min_ms"), "{e}");
        let e = with(|v| v["latency_matching"]["ms_per_char"] = toml::Value::Integer(-1)).unwrap_err();
        assert!(e.contains("latency_matching.ms_per_char"), "{e}");
    }

    #[test]
    fn an_absurd_latency_is_an_error_naming_the_key() {
        let e = with(|v| v["latency_matching"]["first_sentence_min_ms"] = toml::Value::Integer(3_600_000)).unwrap_err();
        assert!(e.contains("latency_matching.first_sentence_min_ms") && e.contains("3600000"), "{e}");
        let e = with(|v| v["latency_matching"]["ms_per_char"] = toml::Value::Integer(2000)).unwrap_err();
        assert!(e.contains("latency_matching.ms_per_char"), "{e}");
        let e = with(|v| v["latency_matching"]["max_hold_ms"] = toml::Value::Integer(0)).unwrap_err();
        assert!(e.contains("latency_matching.max_hold_ms"), "{e}");
        let e = with(|v| v["latency_matching"]["max_hold_ms"] = toml::Value::Integer(1000)).unwrap_err();
        assert!(e.contains("latency_matching.max_hold_ms") && e.contains("first_sentence_min_ms"), "{e}");
        let e = with(|v| v["latency_matching"]["first_sentence_min_ms"] = toml::Value::String("2s".into())).unwrap_err();
        assert!(e.contains("latency_matching.first_sentence_min_ms"), "{e}");
    }

    #[test]
    fn an_unknown_latency_matching_key_is_an_error_naming_it() {
        let e = with(|v| {
            v["latency_matching"].as_table_mut().unwrap().insert("delay_ms".into(), toml::Value::Integer(5));
        })
        .unwrap_err();
        assert!(e.contains("delay_ms"), "{e}");
    }

    #[test]
    fn latency_matching_without_a_chatbot_arm_is_refused() {
        let e = with(|v| {
            v["latency_matching"]["enabled"] = toml::Value::Boolean(true);
            let arms = v["arms"].as_array_mut().unwrap();
            arms.retain(|a| a["medium"].as_str() != Some("chatbot"));
            v["allocation"]["block_size"] = toml::Value::Integer(6);
            v["allocation"]["table_size"] = toml::Value::Integer(48);
        })
        .unwrap_err();
        assert!(e.contains("latency_matching.enabled"), "{e}");
    }

    #[test]
    fn timings_fall_on_the_right_days() {
        assert!(Timing::Baseline.due(1, 15) && !Timing::Baseline.due(2, 15));
        assert!(Timing::Weekly.due(7, 15) && Timing::Weekly.due(14, 15) && !Timing::Weekly.due(15, 15));
        assert!(Timing::Final.due(15, 15) && !Timing::Final.due(14, 15));
    }
}
