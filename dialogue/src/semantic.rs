//! The crisis layer's semantic second opinion: each sentence the lexical
//! layer may not rule out is embedded ([`crate::embed`]) and compared with
//! curated exemplars per warning-sign category and with hard negatives
//! (goodbyes, thanks, medication and sleep talk, negations, grief, idioms),
//! kept in `dialogue/data/risk-exemplars.toml` (compiled in, so the
//! fingerprint hashes exactly what runs).
//!
//! Design: it can only raise a grade, never lower one, and never to
//! `imminent` — imminence (a time, means at hand) stays with the lexical
//! layer, as do negation, who is speaking, fiction and the past: a sentence
//! the lexical layer marks as any of those is not read here at all. Two
//! tiers: a strong match (cosine ≥ `semantic_strong` and at least
//! `semantic_margin` above the closest hard negative) raises to the
//! category's grade, capped at `high` (crisis protocol); a weaker one
//! (≥ `semantic_weak`) raises to `low` (the check-in question).
//! Deterministic: the same text gives the same vectors and the same grade.

use crate::crisis::{Assessment, Risk};
use crate::embed::{cosine, EmbedError, Embedder};
use crate::reader::RiskReader;
use crate::warning_signs::Category;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The curated exemplars, compiled in.
pub const EXEMPLARS_TOML: &str = include_str!("../data/risk-exemplars.toml");

/// The tuning file of the risk evaluation, compiled in: its single-turn
/// statements serve as further exemplars (positives by their category, and
/// the everyday controls as hard negatives).
///
/// Design: nearest-exemplar matching generalises with the breadth of its
/// exemplars, and the labelled files are the broadest set of wordings this
/// project has (several authors, texting style, typos). Controls that the
/// lexical layer already keeps from the semantic layer (negation, third
/// person, fiction, the past) are not used as negatives: they are close in
/// meaning to genuine statements and would only mask them. The held-out
/// files (`risk-heldout4.jsonl`, `risk-heldout5.jsonl`) are never read here.
pub const TUNE_JSONL: &str = include_str!("../eval/risk-tune.jsonl");

/// The third held-out file, since made a development file (tuned on by kind
/// of cue; see the README): its statements are exemplars too.
pub const DEV_JSONL: &str = include_str!("../eval/risk-heldout.jsonl");

/// 1,614 statements by five authors, each writing in one voice (students
/// texting, formal adults, non-native English, speech-to-text transcripts,
/// veiled talk and dark humour), written for breadth and used only as
/// exemplars. Measured by leaving one author out at a time (README).
pub const AUTHORS_JSONL: &str = include_str!("../eval/risk-train5.jsonl");

/// Veiled acts told calmly, without a word of despair (means bought, saved
/// or in hand, doses looked up, farewells, a plan, a date, calm after a
/// decision), each beside an everyday errand with the same objects: the
/// sixth writer's tuning half (author "f"; its other half,
/// `risk-acts6-heldout.jsonl`, is never read here) and the whole of two
/// further writers (authors "g", adults in plain sentences, and "h", young
/// people texting). A third new writer's statements
/// (`risk-acts7-heldout.jsonl`) are never read here.
///
/// Design: such acts mostly scored under 0.55 from every exemplar of the
/// earlier writers, who wrote acts beside despair. Their acts are positives;
/// their errands are not negatives (see `TUNE_NEGATIVES`).
pub const ACTS6_JSONL: &str = include_str!("../eval/risk-acts6-tune.jsonl");
/// See [`ACTS6_JSONL`].
pub const ACTS7_JSONL: &str = include_str!("../eval/risk-acts7.jsonl");
/// Three more writers of the same design (authors "j", older adults; "k",
/// English as a second language; "l", shift and trade workers texting),
/// 200 statements each. A fourth writer's, written beside them
/// (`risk-acts8-heldout.jsonl`, author "m"), is never read here.
pub const ACTS8_JSONL: &str = include_str!("../eval/risk-acts8.jsonl");
/// And three more (authors "n", teenagers texting; "o", composed
/// professionals; "p", speech-to-text transcripts with fillers). A fourth
/// writer's (`risk-acts9-heldout.jsonl`, author "q") is never read here.
pub const ACTS9_JSONL: &str = include_str!("../eval/risk-acts9.jsonl");
/// 539 one-sentence statements across every category and control by three
/// more writers of the general design (authors "x", students talking to a
/// robot on their desk; "y", adults of many trades writing carefully; "z",
/// hurried flat texting from several English-speaking places). The
/// general held-out files (`risk-heldout6.jsonl`, `risk-heldout7.jsonl`)
/// are never read here.
pub const GENERAL14_JSONL: &str = include_str!("../eval/risk-train14.jsonl");
/// 540 one-sentence statements by three more writers of that brief, with
/// more of the categories the sixth and seventh files found weakest (plans,
/// preparation, calm after a decision, stockpiling, a plan with a time;
/// past-and-resolved, negation and third-person controls): authors "aa",
/// people over sixty in plain older English; "bb", English as a second
/// language; "cc", risk said lightly behind dark humour. The eighth general
/// held-out file (`risk-heldout8.jsonl`, authors "dd"/"ee"/"ff"), written
/// beside them, is never read here.
pub const GENERAL16_JSONL: &str = include_str!("../eval/risk-train16.jsonl");

/// Every labelled file whose statements are exemplars, with its name.
pub const EXEMPLAR_FILES: &[(&str, &str)] = &[
    ("risk-tune.jsonl", TUNE_JSONL),
    ("risk-heldout.jsonl", DEV_JSONL),
    ("risk-train5.jsonl", AUTHORS_JSONL),
    ("risk-acts6-tune.jsonl", ACTS6_JSONL),
    ("risk-acts7.jsonl", ACTS7_JSONL),
    ("risk-acts8.jsonl", ACTS8_JSONL),
    ("risk-acts9.jsonl", ACTS9_JSONL),
    ("risk-train14.jsonl", GENERAL14_JSONL),
    ("risk-train16.jsonl", GENERAL16_JSONL),
];

/// Control categories of the labelled files used as hard negatives.
const TUNE_NEGATIVES: &[&str] = &[
    "goodbye_normal",
    "goodbyes_normal",
    "giving_normal",
    "hyperbole_joke",
    "idiom",
    "medication_normal",
    "ordinary_distress",
    "everyday_distress",
    "sleep_talk",
    "sleep",
    "grief",
];
// Design: the acts files' everyday errands ("benign_act") are not negatives.
// With them, the new writers' acts raised nothing on other writers (strict
// recall with each writer left out: 0.315 -> 0.305 on the two new writers,
// 0.654 -> 0.638 on the five authors); without them, 0.375 and 0.695, for
// errand specificity 0.880 -> 0.850 and the same ESConv false alarms
// (README, history step 11). An errand that close to an act masks it.

/// Tuning statements longer than this are not exemplars.
const MAX_EXEMPLAR_WORDS: usize = 40;

/// The labelled files' single-turn statements as (category or negative, text).
fn tune_exemplars() -> Vec<(Option<Category>, String)> {
    let mut out = Vec::new();
    for (name, file) in EXEMPLAR_FILES {
        let mut ex = file_exemplars(file);
        // Design: the acts writers' calm-after-a-decision statements are
        // not exemplars. They hang the decision on an everyday anchor ("I
        // even enjoyed my tea tonight, knowing it's all decided"), and as
        // exemplars they gave "I made some tea." the crisis protocol (found
        // by the hard-negative test and the bus test's participant script);
        // the category does not wait for despair beside it, so such a match
        // is graded on its own. The earlier writers' calm statements stay.
        if name.starts_with("risk-acts") {
            ex.retain(|(c, _)| *c != Some(Category::CalmAfterDecision));
        }
        out.extend(ex);
    }
    out
}

/// One labelled file's single-turn statements as exemplars.
fn file_exemplars(file: &str) -> Vec<(Option<Category>, String)> {
    let mut out = Vec::new();
    for line in file.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if v.get("context").is_some() {
            continue;
        }
        let (Some(text), Some(cat), Some(expect)) = (v["text"].as_str(), v["category"].as_str(), v["expect"].as_str()) else { continue };
        // Design: a long message (risk in the middle of ordinary talk) is
        // read sentence by sentence at run time; as one exemplar its vector
        // is mostly the ordinary talk, and "how are you today?" then came
        // out as active ideation on ESConv. Exemplars are short statements.
        if text.split_whitespace().count() > MAX_EXEMPLAR_WORDS {
            continue;
        }
        // Design: one sentence only. Turns are matched sentence by sentence,
        // and a several-sentence statement's vector is mostly its ordinary
        // talk: "Went to work, came home, made tea, and spent the whole
        // evening thinking I'd rather kill myself… Anyway the tea was nice"
        // put "I made some tea." at 0.64 from active ideation (the crisis
        // protocol, found by the bus test's participant script).
        if crate::text::split_sentences(text).len() > 1 {
            continue;
        }
        if expect == "none" {
            if TUNE_NEGATIVES.contains(&cat) {
                out.push((None, text.to_string()));
            }
        } else if let Some(c) = Category::from_eval_label(cat) {
            out.push((Some(c), text.to_string()));
        }
    }
    out
}

/// At most this many sentences of one turn are embedded (the first 4 and
/// the last 20 of those the lexical layer leaves open).
///
/// Design: a 64 KiB paste would otherwise cost seconds; the lexical layer
/// still reads every sentence, and a crisis statement at the end of a long
/// turn — the usual place — is within the last 20.
pub const MAX_SENTENCES: usize = 24;

/// The open sentences that are read: all of them, or the first 4 and the
/// last 20 when there are more than [`MAX_SENTENCES`].
pub fn sentences_read(open: &[String]) -> Vec<String> {
    if open.len() <= MAX_SENTENCES {
        open.to_vec()
    } else {
        open.iter().take(4).chain(open.iter().skip(open.len() - (MAX_SENTENCES - 4))).cloned().collect()
    }
}

/// Thresholds of the two tiers (part of the fingerprint).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Cosine for a strong match (raises to the category's grade, at most high).
    pub strong: f32,
    /// Cosine for a weak match (raises to low: the check-in question).
    pub weak: f32,
    /// A match must beat the closest hard negative by this much.
    pub margin: f32,
    /// Cosine at which a match to a contextual act earns its grade without
    /// despair beside it (1 = never).
    pub decisive: f32,
    /// How far a decisive match must beat the closest hard negative: an act
    /// named beside an everyday purpose sits close to the errand negatives
    /// ("bought rope for the camping trip this weekend": 0.82 to a rope
    /// statement, 0.71 to a tow rope for the snow) and stays undecided.
    pub decisive_margin: f32,
    /// Cosine at which a match to an act that is ordinary on its own (a
    /// plan, means, preparation), with no despair beside it and short of
    /// decisive, earns the direct check-in question.
    pub act_check_in: f32,
    /// The risk reader's probability of "protocol" at which a sentence gets
    /// the crisis protocol ([`crate::reader`]).
    pub reader_protocol: f32,
    /// The risk reader's probability of "check-in or protocol" at which a
    /// sentence gets the direct check-in question.
    pub reader_check_in: f32,
}

/// One curated sentence and its vector.
#[derive(Debug, Clone)]
struct Exemplar {
    /// Category, or `None` for a hard negative.
    category: Option<Category>,
    /// The sentence (kept for explanations).
    text: String,
    /// Its unit vector.
    vector: Vec<f32>,
}

/// The exemplar file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExemplarFile {
    /// Category name → sentences that express it.
    positive: BTreeMap<String, Vec<String>>,
    /// Kind of hard negative → sentences that must not raise.
    negative: BTreeMap<String, Vec<String>>,
}

/// Why the exemplar file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    /// The TOML does not parse or names an unknown category.
    #[error("risk exemplars: {0}")]
    Exemplars(String),
    /// The embedding model failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// Parses the exemplar TOML into (category or negative, sentence) pairs.
fn parse_exemplars(text: &str) -> Result<Vec<(Option<Category>, String)>, SemanticError> {
    let file: ExemplarFile = toml::from_str(text).map_err(|e| SemanticError::Exemplars(e.to_string()))?;
    let mut out = Vec::new();
    for (name, list) in file.positive {
        let c = Category::from_name(&name).ok_or_else(|| SemanticError::Exemplars(format!("unknown category `{name}` in [positive]")))?;
        out.extend(list.into_iter().map(|t| (Some(c), t)));
    }
    for (_, list) in file.negative {
        out.extend(list.into_iter().map(|t| (None, t)));
    }
    if !out.iter().any(|(c, _)| c.is_none()) || !out.iter().any(|(c, _)| c.is_some()) {
        return Err(SemanticError::Exemplars("needs both [positive] and [negative] sentences".into()));
    }
    Ok(out)
}

/// The best match of one sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticHit {
    /// Category of the closest positive exemplar.
    pub category: Category,
    /// Its cosine similarity.
    pub cosine: f32,
    /// Cosine of the closest hard negative.
    pub negative_cosine: f32,
    /// The closest positive exemplar.
    pub exemplar: String,
}

/// The semantic second opinion, ready to use. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct SemanticRisk {
    /// The sentence embedder (also reusable by the validator).
    embedder: Arc<Embedder>,
    /// Embedded exemplars.
    exemplars: Vec<Exemplar>,
    /// Tier thresholds.
    thresholds: Thresholds,
    /// Hits already computed, by sentence (off unless [`Self::with_memo`]):
    /// a hit does not depend on the thresholds, so a threshold sweep shares it.
    memo: Option<Arc<std::sync::Mutex<std::collections::HashMap<String, SemanticHit>>>>,
    /// The fine-tuned risk reader, when trained and loaded.
    reader: Option<Arc<RiskReader>>,
}

impl SemanticRisk {
    /// Embeds the compiled-in exemplars with `embedder`.
    ///
    /// Design: embedding ~200 exemplars costs seconds on 2 cores, at every
    /// start of every session. The vectors are a pure function of the weights
    /// and the exemplar file, so they are cached beside the model under a
    /// key of both hashes (written atomically; an unreadable or mismatched
    /// cache is recomputed). The cached floats are the ones `embed` returned,
    /// bit for bit, so grades do not depend on whether the cache was used.
    pub fn new(embedder: Arc<Embedder>, thresholds: Thresholds) -> Result<Self, SemanticError> {
        let mut pairs = parse_exemplars(EXEMPLARS_TOML)?;
        pairs.extend(tune_exemplars());
        let cache = exemplar_cache_path(&embedder);
        let vectors = match read_vector_cache(&cache, pairs.len()) {
            Some(v) => v,
            None => {
                let mut v = Vec::with_capacity(pairs.len());
                for (_, text) in &pairs {
                    v.push(embedder.embed(text)?);
                }
                if let Err(e) = write_vector_cache(&cache, &v) {
                    tracing::debug!(path = %cache.display(), "exemplar vector cache not written: {e}");
                }
                v
            }
        };
        let exemplars = pairs.into_iter().zip(vectors).map(|((category, text), vector)| Exemplar { category, text, vector }).collect();
        Ok(Self { embedder, exemplars, thresholds, memo: None, reader: None })
    }

    /// The same layer without the exemplars whose text `exclude` picks (to
    /// score a writer's statements with that writer left out). Its memo, if
    /// any, starts empty: hits depend on the exemplars.
    pub fn without(&self, exclude: impl Fn(&str) -> bool) -> Self {
        let exemplars = self.exemplars.iter().filter(|e| !exclude(&e.text)).cloned().collect();
        Self { embedder: self.embedder.clone(), exemplars, thresholds: self.thresholds, memo: self.memo.as_ref().map(|_| Arc::default()), reader: self.reader.clone() }
    }

    /// Remembers every sentence's hit (for threshold sweeps over a fixed
    /// set: `examples/risk_sweep.rs`). Unbounded; not for sessions.
    pub fn with_memo(mut self) -> Self {
        self.memo = Some(Arc::default());
        self
    }

    /// The same exemplars (and memo) with other thresholds.
    pub fn with_thresholds(&self, thresholds: Thresholds) -> Self {
        Self { embedder: self.embedder.clone(), exemplars: self.exemplars.clone(), thresholds, memo: self.memo.clone(), reader: self.reader.clone() }
    }

    /// The same layer with the fine-tuned risk reader as a further opinion
    /// (`None`: without it).
    pub fn with_reader(mut self, reader: Option<Arc<RiskReader>>) -> Self {
        self.reader = reader;
        self
    }

    /// The risk reader, when one is loaded.
    pub fn reader(&self) -> Option<&Arc<RiskReader>> {
        self.reader.as_ref()
    }

    /// The shared embedder.
    pub fn embedder(&self) -> &Arc<Embedder> {
        &self.embedder
    }

    /// How many exemplars (positives and hard negatives) it compares against.
    pub fn exemplar_count(&self) -> usize {
        self.exemplars.len()
    }

    /// Exemplar `i`'s text and vector (in the order they are embedded and
    /// cached), or `None` past the end.
    pub fn exemplar(&self, i: usize) -> Option<(&str, &[f32])> {
        self.exemplars.get(i).map(|e| (e.text.as_str(), e.vector.as_slice()))
    }

    /// The thresholds in use.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// The closest positive and negative exemplars of one sentence.
    pub fn score(&self, sentence: &str) -> Result<SemanticHit, EmbedError> {
        if let Some(hit) = self.memo.as_ref().and_then(|m| m.lock().ok()?.get(sentence).cloned()) {
            return Ok(hit);
        }
        let v = self.embedder.embed(sentence)?;
        let hit = self.score_vector(&v);
        if let Some(m) = &self.memo {
            if let Ok(mut m) = m.lock() {
                m.insert(sentence.to_string(), hit.clone());
            }
        }
        Ok(hit)
    }

    fn score_vector(&self, v: &[f32]) -> SemanticHit {
        let mut best: Option<(&Exemplar, f32)> = None;
        let mut neg = f32::MIN;
        for e in &self.exemplars {
            let c = cosine(v, &e.vector);
            match e.category {
                None => neg = neg.max(c),
                Some(_) => {
                    if best.is_none_or(|(_, b)| c > b) {
                        best = Some((e, c));
                    }
                }
            }
        }
        match best {
            Some((e, c)) => SemanticHit { category: e.category.unwrap_or(Category::PassiveIdeation), cosine: c, negative_cosine: neg, exemplar: e.text.clone() },
            None => SemanticHit { category: Category::PassiveIdeation, cosine: 0.0, negative_cosine: neg, exemplar: String::new() },
        }
    }

    /// The grade a hit earns (`None` below both tiers).
    pub fn tier(&self, hit: &SemanticHit) -> Option<(Risk, &'static str)> {
        let t = self.thresholds;
        if hit.cosine - hit.negative_cosine < t.margin {
            return None;
        }
        if hit.cosine >= t.strong {
            Some((hit.category.grade().min(Risk::High), "semantic_strong"))
        } else if hit.cosine >= t.weak {
            Some((Risk::Low, "semantic_weak"))
        } else {
            None
        }
    }

    /// Raises `a` where a sentence the lexical layer left open matches a
    /// category. Never lowers; an embedding failure leaves the lexical grade.
    ///
    /// Design: acts that are ordinary on their own (preparation, means, a
    /// plan, a place) raise only with despair in this turn or, when
    /// `despair_before`, in the last few turns — as in the lexical layer;
    /// otherwise they are kept as ambiguous cues for later turns.
    pub fn raise(&self, a: &mut Assessment, despair_before: bool) {
        let picked = sentences_read(&a.semantic_eligible);
        let mut raises: Vec<(Category, Risk, &'static str, f32, bool)> = Vec::new();
        for s in &picked {
            match self.score(s) {
                Ok(hit) => {
                    if let Some((grade, tier)) = self.tier(&hit) {
                        // Design: only a one-sentence exemplar can be decisive. A
                        // longer one often turns on a twist the vector does not
                        // hold ("bought a rope today. told the guy it was for
                        // camping. it's not for camping" is 0.93 from "bought
                        // rope for the camping trip this weekend").
                        let decisive = hit.cosine >= self.thresholds.decisive
                            && hit.cosine - hit.negative_cosine >= self.thresholds.decisive_margin
                            && crate::text::split_sentences(&hit.exemplar).len() <= 1;
                        let tier = if tier == "semantic_strong" && decisive { "semantic_decisive" } else { tier };
                        raises.push((hit.category, grade, tier, hit.cosine, crate::lexicon::everyday_ending(s)));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "semantic risk layer: embedding failed; lexical grade stands"),
            }
        }
        if let Some(r) = &self.reader {
            self.read(r, &picked, a);
        }
        let despair = despair_before
            || a.context_cue
            || !a.categories.is_empty()
            || raises.iter().any(|(c, _, _, _, _)| !is_contextual(*c));
        for (c, grade, tier, cosine, everyday) in raises {
            // Design: an act beside an everyday reason for it in the same
            // sentence ("emptying my locker because I'm transferring",
            // "Friday is my last day at the bakery, so I'm bringing in
            // cake"), with no despair in this turn or the ones before, is
            // an ending, not a preparation: not raised at all, not even
            // when decisive (measured on everyday sentences, README).
            if is_contextual(c) && !despair && everyday {
                continue;
            }
            if is_contextual(c) && !despair && tier != "semantic_decisive" {
                if !a.ambiguous.contains(&c) {
                    a.ambiguous.push(c);
                }
                // Design: a match to an act with no despair beside it at
                // `act_check_in` or better (a strong one always) still earns
                // the direct check-in question — asking costs a moment,
                // missing a plan or means costs far more. Being at a
                // height or holding a means right now (a strong match) gets
                // the protocol: there is no time to wait for the answer.
                if tier == "semantic_strong" || cosine >= self.thresholds.act_check_in {
                    let g = if c == Category::MeansAtHand && tier == "semantic_strong" { Risk::High } else { Risk::Low };
                    a.risk = a.risk.max(g);
                    let sig = format!("{tier}_no_context:{}", c.as_str());
                    if !a.semantic_signals.contains(&sig) {
                        a.semantic_signals.push(sig);
                    }
                }
                continue;
            }
            // A weak match to an act beside a stated purpose or rumination
            // ("I count them sometimes") is the act itself.
            let grade = if a.purpose_cue && is_contextual(c) { c.grade().min(Risk::High) } else { grade };
            let was = a.risk;
            a.add(c, grade);
            if a.risk > was || grade >= was {
                let sig = format!("{tier}:{}", c.as_str());
                if !a.semantic_signals.contains(&sig) {
                    a.semantic_signals.push(sig);
                }
            }
        }
    }

    /// The risk reader's opinion of the sentences the lexical layer left
    /// open: a raise to the protocol or the check-in question.
    ///
    /// Design: unlike an exemplar match, a reader raise is not held back for
    /// want of despair beside an act: the reader was trained on acts beside
    /// everyday errands (the acts writers' "none" statements) and reads the
    /// stated reason itself; its thresholds were chosen on ESConv false alarms
    /// alone (README, step 19). It never grants `imminent`.
    fn read(&self, r: &RiskReader, sentences: &[String], a: &mut Assessment) {
        let t = self.thresholds;
        for s in sentences {
            match r.read(s) {
                Ok(p) => {
                    let (grade, sig) = if p[2] >= t.reader_protocol {
                        (Risk::High, "reader:protocol")
                    } else if p[1] + p[2] >= t.reader_check_in {
                        (Risk::Low, "reader:check_in")
                    } else {
                        continue;
                    };
                    if grade > a.risk {
                        a.risk = grade;
                    }
                    if !a.semantic_signals.iter().any(|x| x == sig) {
                        a.semantic_signals.push(sig.to_string());
                    }
                }
                Err(e) => tracing::warn!(error = %e, "risk reader failed; the other layers' grade stands"),
            }
        }
    }

    /// What identifies this layer in the fingerprint: model weights, the
    /// exemplars, the thresholds and the risk reader (or its absence).
    pub fn identity(&self) -> serde_json::Value {
        let reader = match &self.reader {
            Some(r) => serde_json::json!({ "state": "on", "weights_sha256": r.weights_sha256(), "training_sha256": r.meta().training_sha256 }),
            None => serde_json::json!({ "state": "absent" }),
        };
        serde_json::json!({
            "state": "on",
            "model_sha256": self.embedder.weights_sha256(),
            "exemplars_sha256": exemplars_sha256(),
            "thresholds": self.thresholds,
            "reader": reader,
        })
    }
}

/// Categories that mean risk only in a context of despair.
fn is_contextual(c: Category) -> bool {
    matches!(c, Category::PreparatoryActs | Category::MeansAcquiring | Category::MeansAtHand | Category::Plan | Category::PlanWithTime)
}

/// sha256 (hex) of the compiled-in exemplar file.
pub fn exemplars_sha256() -> String {
    let mut h = Sha256::new();
    h.update(EXEMPLARS_TOML.as_bytes());
    for (_, file) in EXEMPLAR_FILES {
        h.update(file.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_exemplars_parse_and_cover_every_graded_category() {
        let pairs = parse_exemplars(EXEMPLARS_TOML).unwrap();
        for c in [
            Category::PassiveIdeation,
            Category::ActiveIdeation,
            Category::MethodResearch,
            Category::MeansAcquiring,
            Category::PreparatoryActs,
            Category::SelfInjury,
            Category::Burdensomeness,
            Category::ThwartedBelongingness,
            Category::Hopelessness,
            Category::Entrapment,
            Category::CalmAfterDecision,
        ] {
            assert!(pairs.iter().any(|(k, _)| *k == Some(c)), "no exemplar for {c:?}");
        }
        assert!(pairs.iter().filter(|(k, _)| k.is_none()).count() >= 20);
    }

    #[test]
    fn the_labelled_files_add_positives_by_category_and_only_everyday_controls_as_negatives() {
        let t = tune_exemplars();
        assert!(t.iter().filter(|(c, _)| c.is_some()).count() >= 700, "{} positives", t.iter().filter(|(c, _)| c.is_some()).count());
        assert!(t.iter().filter(|(c, _)| c.is_none()).count() >= 400, "{} negatives", t.iter().filter(|(c, _)| c.is_none()).count());
        assert!(t.iter().all(|(_, s)| crate::text::split_sentences(s).len() <= 1), "a several-sentence exemplar");
        // Negated, third-person, fiction and past controls are not negatives.
        let negatives: Vec<&str> = t.iter().filter(|(c, _)| c.is_none()).map(|(_, s)| s.as_str()).collect();
        for (name, file) in EXEMPLAR_FILES {
            for line in file.lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: {e}"));
                if matches!(v["category"].as_str(), Some("negation" | "third_person" | "fiction" | "fiction_media" | "past_resolved")) {
                    assert!(!negatives.contains(&v["text"].as_str().unwrap()), "{name}: {line}");
                }
            }
        }
    }

    #[test]
    fn every_risk_label_in_the_exemplar_files_names_a_category() {
        // A label the parser did not know used to drop its statements silently.
        for (name, file) in EXEMPLAR_FILES {
            for line in file.lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let (cat, expect) = (v["category"].as_str().unwrap(), v["expect"].as_str().unwrap());
                if expect != "none" && cat != "accumulation" && cat != "past_resolved" {
                    assert!(Category::from_eval_label(cat).is_some(), "{name}: label `{cat}` names no category");
                }
            }
        }
    }

    #[test]
    fn no_held_out_statement_is_an_exemplar() {
        let held: Vec<String> = [
            include_str!("../eval/risk-heldout4.jsonl"),
            include_str!("../eval/risk-heldout5.jsonl"),
            include_str!("../eval/risk-acts6-heldout.jsonl"),
            include_str!("../eval/risk-acts7-heldout.jsonl"),
            include_str!("../eval/risk-acts8-heldout.jsonl"),
            include_str!("../eval/risk-acts9-heldout.jsonl"),
            include_str!("../eval/risk-heldout6.jsonl"),
            include_str!("../eval/risk-heldout7.jsonl"),
            include_str!("../eval/risk-heldout8.jsonl"),
        ]
            .iter()
            .flat_map(|f| f.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap().to_lowercase()))
            .collect();
        assert!(held.len() >= 2400);
        for (_, text) in tune_exemplars() {
            assert!(!held.contains(&text.to_lowercase()), "held-out statement used as an exemplar: {text}");
        }
    }

    #[test]
    fn a_cache_that_does_not_fit_is_not_trusted_and_an_intact_one_reads_back_bit_for_bit() {
        let dir = std::env::temp_dir().join(format!("attune-vector-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("exemplar-vectors-test.bin");
        let vectors = vec![vec![0.1f32, -0.2, 0.3], vec![1.0e-7, 0.5, -0.75], vec![0.0, 0.0, 1.0]];
        write_vector_cache(&path, &vectors).unwrap();
        assert_eq!(read_vector_cache(&path, 3), Some(vectors.clone()));
        assert_eq!(read_vector_cache(&path, 4), None, "another exemplar count");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        assert_eq!(read_vector_cache(&path, 3), None, "truncated");
        let mut nan = bytes.clone();
        nan[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::write(&path, &nan).unwrap();
        assert_eq!(read_vector_cache(&path, 3), None, "not finite");
        assert_eq!(read_vector_cache(&dir.join("absent.bin"), 3), None);
        assert!(write_vector_cache(&path, &[vec![1.0], vec![1.0, 2.0]]).is_err(), "ragged vectors");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_unknown_category_in_the_exemplars_is_an_error_naming_it() {
        let err = parse_exemplars("[positive]\nsadness = [\"x\"]\n[negative]\nx = [\"y\"]\n").unwrap_err();
        assert!(err.to_string().contains("sadness"), "{err}");
    }
}

/// Where the exemplar vectors for this model and exemplar file are cached.
fn exemplar_cache_path(embedder: &Embedder) -> std::path::PathBuf {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(embedder.weights_sha256().as_bytes());
    h.update(exemplars_sha256().as_bytes());
    embedder.dir().join(format!("exemplar-vectors-{}.bin", hex::encode(&h.finalize()[..8])))
}

/// Reads `n` cached vectors (`u32` count, `u32` dimension, then the floats,
/// little-endian), or `None` when the file is absent or does not fit.
fn read_vector_cache(path: &std::path::Path, n: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    let word = |i: usize| bytes.get(i * 4..i * 4 + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (count, dim) = (word(0)? as usize, word(1)? as usize);
    if count != n || dim == 0 || bytes.len() != 8 + count * dim * 4 {
        return None;
    }
    let floats: Vec<f32> = bytes[8..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if floats.iter().any(|x| !x.is_finite()) {
        return None;
    }
    Some(floats.chunks(dim).map(|c| c.to_vec()).collect())
}

/// Writes the cache atomically (temporary file, then rename).
fn write_vector_cache(path: &std::path::Path, vectors: &[Vec<f32>]) -> std::io::Result<()> {
    let dim = vectors.first().map_or(0, |v| v.len());
    if vectors.iter().any(|v| v.len() != dim) {
        return Err(std::io::Error::other("vectors of different lengths"));
    }
    let mut out = Vec::with_capacity(8 + vectors.len() * dim * 4);
    out.extend_from_slice(&(vectors.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    for x in vectors.iter().flatten() {
        out.extend_from_slice(&x.to_le_bytes());
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &out)?;
    std::fs::rename(&tmp, path)
}
