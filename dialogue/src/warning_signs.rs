//! The warning-sign categories the crisis layer grades by, each with the
//! grade it gets on its own and the published instrument or list it comes
//! from; plus the text normalisation the risk patterns run on (leetspeak,
//! common misspellings, texting slang).
//!
//! Sources named below:
//! - **C-SSRS** — Columbia Suicide Severity Rating Scale (Posner et al., 2011):
//!   the ideation ladder (1 wish to be dead, 2 non-specific active thoughts,
//!   3 with method, 4 with intent, 5 with plan and intent), the behaviour
//!   items (preparatory acts, aborted/interrupted/actual attempts) and
//!   non-suicidal self-injury.
//! - **AAS IS PATH WARM** — American Association of Suicidology warning signs:
//!   Ideation, Substance use, Purposelessness, Anxiety, Trapped,
//!   Hopelessness, Withdrawal, Anger, Recklessness, Mood change; and "looking
//!   for ways to kill oneself" (seeking access to pills, weapons, researching
//!   methods).
//! - **Joiner's interpersonal theory** (Joiner, 2005; Van Orden et al., 2010):
//!   perceived burdensomeness and thwarted belongingness form the desire for
//!   suicide; acquired capability turns it into risk.
//! - **IMV** — O'Connor's integrated motivational-volitional model (2011/2018):
//!   entrapment as the bridge from defeat to ideation.
//! - **Beck Hopelessness Scale** (Beck et al., 1974).
//! - **NIMH / 988 warning signs**: giving away possessions, saying goodbye,
//!   putting affairs in order, a sudden calm after a period of despair.

use crate::crisis::Risk;
use serde::{Deserialize, Serialize};

/// One warning-sign category. Names match the evaluation files' `category`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Wish to be dead, not to wake up, no reason to live (C-SSRS 1).
    PassiveIdeation,
    /// Current thoughts of killing oneself (C-SSRS 2, and 3 with a method named).
    ActiveIdeation,
    /// Looking up methods, doses, heights (AAS: looking for ways to kill oneself).
    MethodResearch,
    /// Buying, collecting or stockpiling means (AAS; C-SSRS preparatory behaviour).
    MeansAcquiring,
    /// Means within reach now, or being at a height / on a platform (C-SSRS; imminence).
    MeansAtHand,
    /// A plan without a date (C-SSRS 5 without a time).
    Plan,
    /// A plan or stated intent with a time (C-SSRS 5 with a date: imminent).
    PlanWithTime,
    /// Goodbye letters, farewells, giving things away, affairs in order
    /// (C-SSRS preparatory acts; NIMH/988 warning signs).
    PreparatoryActs,
    /// Non-suicidal self-injury in its forms (C-SSRS NSSI item).
    SelfInjury,
    /// "I'm a burden", "they'd be better off without me" (Joiner).
    Burdensomeness,
    /// "Nobody would notice if I was gone" (Joiner).
    ThwartedBelongingness,
    /// No future, nothing will change (Beck Hopelessness Scale; AAS "H").
    Hopelessness,
    /// Trapped, no way out (AAS "T"; IMV entrapment).
    Entrapment,
    /// Calm acceptance of not being around after a decision (NIMH/988 warning sign).
    CalmAfterDecision,
    /// An overdose or injury already taken or under way (C-SSRS actual / interrupted attempt).
    ActInProgress,
}

impl Category {
    /// Every category, in a fixed order.
    pub const ALL: [Category; 15] = [
        Category::PassiveIdeation,
        Category::ActiveIdeation,
        Category::MethodResearch,
        Category::MeansAcquiring,
        Category::MeansAtHand,
        Category::Plan,
        Category::PlanWithTime,
        Category::PreparatoryActs,
        Category::SelfInjury,
        Category::Burdensomeness,
        Category::ThwartedBelongingness,
        Category::Hopelessness,
        Category::Entrapment,
        Category::CalmAfterDecision,
        Category::ActInProgress,
    ];

    /// snake_case name (as in the evaluation files and the turn's signals).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::PassiveIdeation => "passive_ideation",
            Category::ActiveIdeation => "active_ideation",
            Category::MethodResearch => "method_research",
            Category::MeansAcquiring => "means_acquiring",
            Category::MeansAtHand => "means_at_hand",
            Category::Plan => "plan",
            Category::PlanWithTime => "plan_with_time",
            Category::PreparatoryActs => "preparatory_acts",
            Category::SelfInjury => "self_injury",
            Category::Burdensomeness => "burdensomeness",
            Category::ThwartedBelongingness => "thwarted_belongingness",
            Category::Hopelessness => "hopelessness",
            Category::Entrapment => "entrapment",
            Category::CalmAfterDecision => "calm_after_decision",
            Category::ActInProgress => "act_in_progress",
        }
    }

    /// Parses a snake_case name.
    pub fn from_name(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The category of a label in the evaluation files, which also use
    /// shorter names written by their authors (`nssi`, `method`,
    /// `means_stockpile`, `plan_time`, …); `None` for a control or an
    /// unknown label.
    pub fn from_eval_label(s: &str) -> Option<Category> {
        Category::from_name(s).or(match s {
            "belongingness" => Some(Category::ThwartedBelongingness),
            // C-SSRS ideation with a method is active ideation.
            "method" => Some(Category::ActiveIdeation),
            "means_acquire" | "means_stockpile" => Some(Category::MeansAcquiring),
            "plan_time" => Some(Category::PlanWithTime),
            "preparatory" => Some(Category::PreparatoryActs),
            "nssi" => Some(Category::SelfInjury),
            "calm_decision" => Some(Category::CalmAfterDecision),
            _ => None,
        })
    }

    /// The grade this category gets on its own.
    ///
    /// Design: passive ideation, burdensomeness, belongingness, hopelessness
    /// and entrapment get the direct check-in question (`low`): on their own
    /// they are common in ordinary distress, and asking directly is what
    /// safe-messaging guidance recommends. Method, means, preparation,
    /// self-injury, active ideation, a plan and calm after a decision get the
    /// crisis protocol (`high`). A plan with a time, means at hand and an act
    /// under way are `imminent`.
    pub fn grade(self) -> Risk {
        match self {
            Category::PassiveIdeation
            | Category::Burdensomeness
            | Category::ThwartedBelongingness
            | Category::Hopelessness
            | Category::Entrapment => Risk::Low,
            Category::ActiveIdeation
            | Category::MethodResearch
            | Category::MeansAcquiring
            | Category::Plan
            | Category::PreparatoryActs
            | Category::SelfInjury
            | Category::CalmAfterDecision => Risk::High,
            Category::MeansAtHand | Category::PlanWithTime | Category::ActInProgress => Risk::Imminent,
        }
    }

    /// The instrument or warning-sign list the category is drawn from.
    pub fn source(self) -> &'static str {
        match self {
            Category::PassiveIdeation => "C-SSRS ideation 1 (wish to be dead)",
            Category::ActiveIdeation => "C-SSRS ideation 2-3 (active thoughts, with method)",
            Category::MethodResearch => "AAS IS PATH WARM: looking for ways to kill oneself",
            Category::MeansAcquiring => "AAS IS PATH WARM: seeking access to means; C-SSRS preparatory behaviour",
            Category::MeansAtHand => "C-SSRS preparatory behaviour / interrupted attempt",
            Category::Plan => "C-SSRS ideation 5 (plan)",
            Category::PlanWithTime => "C-SSRS ideation 4-5 (intent, plan with a time)",
            Category::PreparatoryActs => "C-SSRS preparatory acts; NIMH/988 warning signs",
            Category::SelfInjury => "C-SSRS non-suicidal self-injurious behaviour",
            Category::Burdensomeness => "Joiner interpersonal theory: perceived burdensomeness",
            Category::ThwartedBelongingness => "Joiner interpersonal theory: thwarted belongingness",
            Category::Hopelessness => "Beck Hopelessness Scale; AAS IS PATH WARM (H)",
            Category::Entrapment => "AAS IS PATH WARM (T); O'Connor IMV entrapment",
            Category::CalmAfterDecision => "NIMH/988 warning signs: sudden calm after despair",
            Category::ActInProgress => "C-SSRS actual / interrupted attempt",
        }
    }
}

/// Normalises a participant's text for the risk patterns: leetspeak inside
/// words ("k1ll", "su1c1de", "d!e"), common misspellings and texting forms
/// of risk words ("sucide", "kil myself", "wanna", "ded"), runs of one letter
/// ("dieeee"), censoring ("s*icide", "k*ll"). Everything else is kept, so the
/// negation, subject and idiom rules read the same sentence structure.
///
/// Design: leetspeak is undone only inside a token that has letters too
/// ("k1ll", not "20" in "20 pills"), and only for the digits and symbols
/// that stand for letters.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            out.push_str(&normalize_token(token));
            token.clear();
        }
    };
    for ch in text.chars() {
        let ch = match ch {
            '’' | '‘' | '`' | '´' => '\'',
            c => c,
        };
        if ch.is_alphanumeric() || matches!(ch, '\'' | '@' | '$' | '!' | '*' | '|') {
            token.push(ch);
        } else {
            flush(&mut token, &mut out);
            out.push(ch);
        }
    }
    flush(&mut token, &mut out);
    out
}

fn normalize_token(tok: &str) -> String {
    // Split off trailing punctuation that is not leetspeak ("die!!" -> "die" + "!!").
    let trimmed_end = tok.trim_end_matches(['!', '\'', '*', '|']);
    let tail = &tok[trimmed_end.len()..];
    let core = trimmed_end.trim_start_matches(['\'', '*', '|', '!']);
    let head = &trimmed_end[..trimmed_end.len() - core.len()];
    let has_letter = core.chars().any(char::is_alphabetic);
    let has_leet = core.chars().any(|c| matches!(c, '0' | '1' | '3' | '4' | '5' | '7' | '@' | '$' | '!' | '|' | '*'));
    let mut w: String = if has_letter && has_leet && !is_ordinal_or_unit(core) {
        core.chars()
            .map(|c| match c {
                '0' => 'o',
                '1' | '!' | '|' => 'i',
                '3' => 'e',
                '4' | '@' => 'a',
                '5' | '$' => 's',
                '7' => 't',
                '*' => '\u{0}',
                c => c,
            })
            .collect()
    } else {
        core.to_string()
    };
    let lower = w.to_lowercase();
    // Censored letters ('*'): fill from the known risk words with that shape.
    if lower.contains('\u{0}') {
        let filled = ["suicide", "suicidal", "kill", "killing", "die", "dead", "death", "myself", "cutting", "cut"]
            .into_iter()
            .find(|cand| cand.len() == lower.chars().count() && cand.chars().zip(lower.chars()).all(|(a, b)| b == '\u{0}' || a == b));
        w = filled.map(str::to_string).unwrap_or_else(|| lower.replace('\u{0}', ""));
    }
    let lower = collapse_runs(&w.to_lowercase());
    let fixed = match lower.as_str() {
        "sucide" | "suicde" | "suiside" | "suicid" | "suiced" | "sucuide" | "suacide" | "suicie" | "sewerslide" | "suecide" | "suisside" | "sucidie" => Some("suicide"),
        "sucidal" | "suicdal" | "suisidal" | "suicidial" | "sucicidal" | "suicida" | "suacidal" => Some("suicidal"),
        "kil" | "kiil" => Some("kill"),
        "kiling" | "killin" => Some("killing"),
        "myslef" | "mysefl" | "myelf" | "myslf" | "meself" | "mysef" => Some("myself"),
        "wanna" | "wana" | "wnna" => Some("wanna"),
        "ded" => Some("dead"),
        "dont" => Some("don't"),
        "cant" => Some("can't"),
        "wont" => Some("won't"),
        "im" => Some("i'm"),
        "ive" => Some("i've"),
        "didnt" => Some("didn't"),
        "doesnt" => Some("doesn't"),
        "isnt" => Some("isn't"),
        "wouldnt" => Some("wouldn't"),
        "whats" => Some("what's"),
        "thats" => Some("that's"),
        "theres" => Some("there's"),
        "noone" => Some("no one"),
        "pils" | "pillz" => Some("pills"),
        "wen" => Some("when"),
        "parnts" | "parens" => Some("parents"),
        "mornin" => Some("morning"),
        "gonna" | "gona" => Some("gonna"),
        "tho" => Some("though"),
        "cuz" | "coz" | "bc" => Some("because"),
        "u" => Some("you"),
        "ur" => Some("your"),
        "rn" => Some("right now"),
        "2nite" | "tonite" | "2night" => Some("tonight"),
        _ => None,
    };
    let word = match fixed {
        Some(f) => f.to_string(),
        None if lower != tok.to_lowercase() && (has_leet || lower.len() != core.len()) => lower,
        None => core.to_string(),
    };
    format!("{head}{word}{tail}")
}

/// "20mg", "2nd", "10pm": digits that are quantities, not letters.
fn is_ordinal_or_unit(tok: &str) -> bool {
    let lower = tok.to_lowercase();
    let digits_first = lower.chars().next().is_some_and(|c| c.is_ascii_digit());
    let rest: String = lower.chars().skip_while(|c| c.is_ascii_digit() || *c == '.').collect();
    digits_first
        && matches!(rest.as_str(), "st" | "nd" | "rd" | "th" | "mg" | "g" | "kg" | "ml" | "am" | "pm" | "x" | "s" | "h" | "hrs" | "mins" | "k" | "yo" | "ish" | "")
}

/// Collapses runs of three or more of one letter to one ("dieeee" -> "die",
/// "sooo" -> "so"), keeping double letters ("kill", "sleep").
fn collapse_runs(w: &str) -> String {
    let chars: Vec<char> = w.chars().collect();
    let mut out = String::with_capacity(w.len());
    let mut i = 0;
    while i < chars.len() {
        let mut j = i;
        while j < chars.len() && chars[j] == chars[i] {
            j += 1;
        }
        let run = j - i;
        let keep = if run >= 3 && chars[i].is_alphabetic() { 1 } else { run };
        for _ in 0..keep {
            out.push(chars[i]);
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leetspeak_inside_words_is_undone_but_numbers_stay() {
        assert_eq!(normalize("I want to k1ll myself"), "I want to kill myself");
        assert_eq!(normalize("su1c1de"), "suicide");
        assert_eq!(normalize("I took 20 pills at 10pm"), "I took 20 pills at 10pm");
    }

    #[test]
    fn misspellings_and_texting_forms_are_mapped_to_the_risk_words() {
        assert_eq!(normalize("thinking about sucide"), "thinking about suicide");
        assert_eq!(normalize("i wana kil myslef"), "i wanna kill myself");
        assert_eq!(normalize("im so done"), "i'm so done");
    }

    #[test]
    fn censored_and_stretched_words_are_read() {
        assert_eq!(normalize("s*icide"), "suicide");
        assert_eq!(normalize("i want to dieeee"), "i want to die");
        assert_eq!(normalize("I'm sooo tired!!"), "I'm so tired!!");
    }

    #[test]
    fn every_category_has_a_name_a_source_and_round_trips() {
        for c in Category::ALL {
            assert_eq!(Category::from_name(c.as_str()), Some(c));
            assert!(!c.source().is_empty());
        }
    }

    #[test]
    fn grades_follow_the_brief() {
        assert_eq!(Category::PassiveIdeation.grade(), Risk::Low);
        assert_eq!(Category::Burdensomeness.grade(), Risk::Low);
        for c in [Category::MethodResearch, Category::MeansAcquiring, Category::PreparatoryActs, Category::SelfInjury, Category::ActiveIdeation] {
            assert_eq!(c.grade(), Risk::High, "{c:?}");
        }
        for c in [Category::PlanWithTime, Category::MeansAtHand, Category::ActInProgress] {
            assert_eq!(c.grade(), Risk::Imminent, "{c:?}");
        }
    }
}
