//! Scoring of the validator's coherence flags on a labelled set
//! (`dialogue/eval/coherence-*.jsonl`) and their false-flag rate on human
//! supporter turns (ESConv). Used by the regression test and the
//! `coherence_eval` example; decides no reply.
//!
//! A line of the labelled set: `{"class": ..., "user": ..., "reply": ...,
//! "expect": ["flag", ...], "earlier_user": [...], "recent_replies": [...]}`;
//! `expect: []` marks a good reply.

use crate::reasoner::{analyze, ReasonerContext};
use crate::validator::{topic_texts, validate, Flag, ValidationInput, ValidatorConfig};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One labelled reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// The class it was written for ("good" or a flag name).
    pub class: String,
    /// The participant's turn.
    pub user: String,
    /// The reply to judge.
    pub reply: String,
    /// Flags it must get (empty: none of the coherence flags).
    pub expect: Vec<Flag>,
    /// Earlier participant turns.
    #[serde(default)]
    pub earlier_user: Vec<String>,
    /// The robot's recent replies.
    #[serde(default)]
    pub recent_replies: Vec<String>,
    /// Replay sets: the turn's id (set, script, turn).
    #[serde(default)]
    pub id: String,
    /// Replay sets: where the engine's reply came from ("llm", "reflect",
    /// "rule"); only LLM replies go through the validator.
    #[serde(default)]
    pub source: String,
    /// Replay sets: every problem the labeller saw (`expect` holds those
    /// that are validator flags; "ignores_question" and "other_bad" are
    /// not), or `["good"]`.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Replay sets: the labeller's reason.
    #[serde(default)]
    pub note: String,
    /// Replay sets run twice: which validator setting released the reply
    /// ("off" or "strict" grounding).
    #[serde(default)]
    pub run: String,
}

/// Parses a JSONL set; errors name the line.
pub fn parse(text: &str) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    Ok(out)
}

/// The coherence flags the validator raises on a reply.
pub fn coherence_flags(user: &str, reply: &str, earlier_user: &[String], recent_replies: &[String]) -> Vec<Flag> {
    coherence_flags_with(None, user, reply, earlier_user, recent_replies)
}

/// The same, with the sentence embedder deciding `off_topic` when given (as
/// the engine does when the semantic layer is loaded).
pub fn coherence_flags_with(embedder: Option<&crate::embed::Embedder>, user: &str, reply: &str, earlier_user: &[String], recent_replies: &[String]) -> Vec<Flag> {
    let topic_similarity = embedder.and_then(|e| crate::coherence::topic_similarity(e, reply, &topic_texts(user, earlier_user)));
    let mut flags: Vec<Flag> = flags_of(&ValidatorConfig::default(), topic_similarity, user, reply, earlier_user, recent_replies)
        .into_iter()
        .filter(|f| Flag::COHERENCE.contains(f))
        .collect();
    flags.dedup();
    flags
}

/// The validator run on one labelled turn (the reasoner's reading of the
/// participant's turn, no suggestions allowed, no secrets): every flag.
fn flags_of(cfg: &ValidatorConfig, topic_similarity: Option<f32>, user: &str, reply: &str, earlier_user: &[String], recent_replies: &[String]) -> Vec<Flag> {
    let analysis = analyze(user, &ReasonerContext::default());
    let input = ValidationInput {
        reply,
        user_text: user,
        analysis: &analysis,
        earlier_user_texts: earlier_user,
        suggestions_allowed: false,
        secret_phrases: &[],
        recent_replies,
        topic_similarity,
    };
    validate(&input, cfg).into_iter().map(|f| f.flag).collect()
}

/// Counts for one flag.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Flagged and expected.
    pub tp: u32,
    /// Flagged, not expected.
    pub fp: u32,
    /// Expected, not flagged.
    pub fn_: u32,
}

impl Counts {
    /// tp / (tp + fp); 1 when nothing was flagged.
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            f64::from(self.tp) / f64::from(self.tp + self.fp)
        }
    }
    /// tp / (tp + fn); 1 when nothing was expected.
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            f64::from(self.tp) / f64::from(self.tp + self.fn_)
        }
    }
}

/// The scores of a labelled set.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per flag.
    pub per_flag: BTreeMap<&'static str, Counts>,
    /// Bad replies (some flag expected) that got at least one coherence flag.
    pub bad_caught: u32,
    /// Bad replies.
    pub bad: u32,
    /// Good replies that got any coherence flag.
    pub good_flagged: u32,
    /// Good replies.
    pub good: u32,
    /// Misses and false flags, for reading.
    pub errors: Vec<String>,
}

/// Scores `items`.
pub fn score(items: &[Item]) -> Report {
    score_with(None, items)
}

/// Scores `items`, with the embedder deciding `off_topic` when given.
pub fn score_with(embedder: Option<&crate::embed::Embedder>, items: &[Item]) -> Report {
    let mut r = Report::default();
    for f in Flag::COHERENCE {
        r.per_flag.insert(f.as_str(), Counts::default());
    }
    for it in items {
        let got = coherence_flags_with(embedder, &it.user, &it.reply, &it.earlier_user, &it.recent_replies);
        if it.expect.is_empty() {
            r.good += 1;
            if !got.is_empty() {
                r.good_flagged += 1;
            }
        } else {
            r.bad += 1;
            if !got.is_empty() {
                r.bad_caught += 1;
            }
        }
        for f in Flag::COHERENCE {
            let c = r.per_flag.entry(f.as_str()).or_default();
            match (got.contains(&f), it.expect.contains(&f)) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, true) => c.fn_ += 1,
                (false, false) => {}
            }
        }
        let missed: Vec<&str> = it.expect.iter().filter(|f| !got.contains(f)).map(|f| f.as_str()).collect();
        let extra: Vec<&str> = got.iter().filter(|f| !it.expect.contains(f)).map(|f| f.as_str()).collect();
        if !missed.is_empty() || !extra.is_empty() {
            r.errors.push(format!("missed {missed:?} extra {extra:?}: {:?} -> {:?}", it.user, it.reply));
        }
    }
    r
}

impl Report {
    /// A printable table.
    pub fn table(&self, title: &str) -> String {
        let mut s = format!("{title}\n{:<22}{:>5}{:>5}{:>5}{:>11}{:>8}\n", "flag", "tp", "fp", "fn", "precision", "recall");
        for (name, c) in &self.per_flag {
            s.push_str(&format!("{:<22}{:>5}{:>5}{:>5}{:>11.2}{:>8.2}\n", name, c.tp, c.fp, c.fn_, c.precision(), c.recall()));
        }
        s.push_str(&format!(
            "bad replies caught (any coherence flag): {}/{} = {:.2}; good replies flagged: {}/{} = {:.2}\n",
            self.bad_caught,
            self.bad,
            f64::from(self.bad_caught) / f64::from(self.bad.max(1)),
            self.good_flagged,
            self.good,
            f64::from(self.good_flagged) / f64::from(self.good.max(1))
        ));
        s
    }
}

/// One ESConv dev row (`context`: up to three earlier turns, `response`:
/// the human supporter's turn).
#[derive(Debug, Deserialize)]
struct EsconvRow {
    context: Vec<String>,
    response: String,
    strategy: String,
}

/// The rows of ESConv dev JSONL (blank lines skipped); errors name the line.
fn esconv_rows(text: &str) -> Result<Vec<EsconvRow>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if !line.trim().is_empty() {
            rows.push(serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?);
        }
    }
    Ok(rows)
}

/// False flags on human supporter turns.
#[derive(Debug, Default)]
pub struct EsconvReport {
    /// Rows read.
    pub rows: u32,
    /// Rows with any coherence flag.
    pub flagged: u32,
    /// Rows with a coherence flag other than human_claim on a turn coded
    /// Self-disclosure: the false flags.
    pub false_flagged: u32,
    /// Per flag: rows flagged.
    pub per_flag: BTreeMap<&'static str, u32>,
    /// Human-claim flags on rows the annotators coded Self-disclosure (a
    /// human may share their own life; a robot may not).
    pub human_claim_on_self_disclosure: u32,
    /// Examples per flag (first few), for reading.
    pub examples: BTreeMap<&'static str, Vec<String>>,
}

/// Runs the coherence flags over ESConv dev JSONL: the participant's turn
/// is the last context turn, the earlier context turns are earlier turns,
/// and the context turn before it (the supporter's last turn) is the
/// recent reply.
pub fn esconv(text: &str) -> Result<EsconvReport, String> {
    esconv_with(None, text)
}

/// The same, with the embedder deciding `off_topic` when given.
pub fn esconv_with(embedder: Option<&crate::embed::Embedder>, text: &str) -> Result<EsconvReport, String> {
    let mut r = EsconvReport::default();
    for row in esconv_rows(text)? {
        let Some((user, earlier)) = row.context.split_last() else { continue };
        let recent: Vec<String> = earlier.last().cloned().into_iter().collect();
        let flags = coherence_flags_with(embedder, user, &row.response, earlier, &recent);
        r.rows += 1;
        if !flags.is_empty() {
            r.flagged += 1;
        }
        if flags.iter().any(|f| !(*f == Flag::HumanClaim && row.strategy == "Self-disclosure")) {
            r.false_flagged += 1;
        }
        for f in flags {
            *r.per_flag.entry(f.as_str()).or_default() += 1;
            if f == Flag::HumanClaim && row.strategy == "Self-disclosure" {
                r.human_claim_on_self_disclosure += 1;
            }
            let ex = r.examples.entry(f.as_str()).or_default();
            if ex.len() < 5 {
                ex.push(row.response.clone());
            }
        }
    }
    Ok(r)
}

impl EsconvReport {
    /// A printable table.
    pub fn table(&self) -> String {
        let pct = |n: u32| 100.0 * f64::from(n) / f64::from(self.rows.max(1));
        let mut s = format!("ESConv dev supporter turns: {} rows; any coherence flag: {} ({:.1}%)\n", self.rows, self.flagged, pct(self.flagged));
        for (name, n) in &self.per_flag {
            s.push_str(&format!("  {:<22}{:>5} ({:.2}%)\n", name, n, pct(*n)));
        }
        s.push_str(&format!("  of which human_claim on Self-disclosure turns: {}\n", self.human_claim_on_self_disclosure));
        s.push_str(&format!("false flags (all but human_claim on Self-disclosure): {} ({:.1}%)\n", self.false_flagged, pct(self.false_flagged)));
        s
    }
}

/// Every flag the full validator raises on a reply (attunement and
/// coherence checks), with `cfg` as given (its grounding is not resolved).
pub fn validator_flags(cfg: &ValidatorConfig, user: &str, reply: &str, earlier_user: &[String], recent_replies: &[String]) -> Vec<Flag> {
    flags_of(cfg, None, user, reply, earlier_user, recent_replies)
}

/// A replay set scored with the whole validator: of the LLM's replies the
/// labeller judged bad, how many any flag stops; of those judged good, how
/// many a flag stops needlessly.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    /// LLM replies judged bad / stopped by a flag.
    pub bad: u32,
    /// See `bad`.
    pub bad_caught: u32,
    /// LLM replies judged good / stopped by a flag.
    pub good: u32,
    /// See `good`.
    pub good_flagged: u32,
    /// Per label: (LLM replies with it stopped, LLM replies with it).
    pub per_label: BTreeMap<String, (u32, u32)>,
    /// Per flag raised: LLM replies.
    pub flags_raised: BTreeMap<&'static str, u32>,
    /// Misses and needless stops, for reading.
    pub errors: Vec<String>,
}

/// Scores the LLM replies of a replay set (items with `source == "llm"`).
pub fn score_replay(items: &[Item], cfg: &ValidatorConfig) -> ReplayReport {
    let mut r = ReplayReport::default();
    for it in items.iter().filter(|i| i.source == "llm") {
        let got = validator_flags(cfg, &it.user, &it.reply, &it.earlier_user, &it.recent_replies);
        for f in &got {
            *r.flags_raised.entry(f.as_str()).or_default() += 1;
        }
        let good = it.labels.is_empty() || it.labels.iter().all(|l| l == "good");
        let stopped = !got.is_empty();
        if good {
            r.good += 1;
            if stopped {
                r.good_flagged += 1;
                r.errors.push(format!("needless {:?} ({}): {:?}", got.iter().map(|f| f.as_str()).collect::<Vec<_>>(), it.id, it.reply));
            }
        } else {
            r.bad += 1;
            if stopped {
                r.bad_caught += 1;
            } else {
                r.errors.push(format!("missed {:?} ({}): {:?}", it.labels, it.id, it.reply));
            }
            for l in &it.labels {
                let e = r.per_label.entry(l.clone()).or_default();
                e.1 += 1;
                if stopped {
                    e.0 += 1;
                }
            }
        }
    }
    r
}

impl ReplayReport {
    /// A printable table.
    pub fn table(&self, title: &str) -> String {
        let mut s = format!(
            "{title}\nLLM replies judged bad stopped by a flag: {}/{} = {:.2}; judged good stopped: {}/{} = {:.2}\n",
            self.bad_caught,
            self.bad,
            f64::from(self.bad_caught) / f64::from(self.bad.max(1)),
            self.good_flagged,
            self.good,
            f64::from(self.good_flagged) / f64::from(self.good.max(1))
        );
        s.push_str(&format!("  {:<24}{:>9}{:>7}\n", "label", "stopped", "of"));
        for (l, (c, n)) in &self.per_label {
            s.push_str(&format!("  {:<24}{:>9}{:>7}\n", l, c, n));
        }
        s.push_str("  flags raised: ");
        s.push_str(&self.flags_raised.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
        s.push('\n');
        s
    }
}

/// Share of ESConv human supporter turns that strict grounding alone would
/// stop: what the check costs a capable speaker. Returns (stopped, rows,
/// examples).
pub fn esconv_ungrounded(text: &str) -> Result<(u32, u32, Vec<String>), String> {
    let (mut n, mut stopped, mut ex) = (0u32, 0u32, Vec::new());
    for row in esconv_rows(text)? {
        let Some((user, earlier)) = row.context.split_last() else { continue };
        let mut said: Vec<&str> = earlier.iter().map(String::as_str).collect();
        said.push(user);
        n += 1;
        if let Some(ev) = crate::coherence::ungrounded_evidence(&row.response, &said) {
            stopped += 1;
            if ex.len() < 8 {
                ex.push(format!("{ev:?} in {:?}", row.response));
            }
        }
    }
    Ok((stopped, n, ex))
}
