//! Speech in and out for attune.

use serde::{Deserialize, Serialize};

/// `[speech]` section of the attune config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SpeechConfig {}
