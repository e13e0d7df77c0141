//! Strategy coder: labels a reply's sentences with the eight ESConv helping
//! strategies (Liu et al., ACL 2021).

use serde::{Deserialize, Serialize};

/// The eight ESConv strategies; serialised with their ESConv names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Strategy {
    #[serde(rename = "Questions")]
    Questions,
    #[serde(rename = "Restatement or Paraphrasing")]
    Restatement,
    #[serde(rename = "Reflection of feelings")]
    Reflection,
    #[serde(rename = "Self-disclosure")]
    SelfDisclosure,
    #[serde(rename = "Affirmation and Reassurance")]
    Affirmation,
    #[serde(rename = "Providing Suggestions")]
    Suggestions,
    #[serde(rename = "Information")]
    Information,
    #[serde(rename = "Other")]
    Other,
}

impl Strategy {
    /// The ESConv label.
    pub fn label(self) -> &'static str {
        match self {
            Strategy::Questions => "Questions",
            Strategy::Restatement => "Restatement or Paraphrasing",
            Strategy::Reflection => "Reflection of feelings",
            Strategy::SelfDisclosure => "Self-disclosure",
            Strategy::Affirmation => "Affirmation and Reassurance",
            Strategy::Suggestions => "Providing Suggestions",
            Strategy::Information => "Information",
            Strategy::Other => "Other",
        }
    }
}

/// Codes a reply: the distinct strategies its sentences use, in order of
/// first appearance.
pub fn code_reply(reply: &str) -> Vec<Strategy> {
    let _ = reply;
    todo!("strategy coder")
}
