//! Host side of the servo head: the `Head` trait and its serial / pca9685 /
//! sim / none backends.

use serde::{Deserialize, Serialize};

/// `[head]` section of the attune config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HeadConfig {
    /// Which backend drives the head: "serial" | "pca9685" | "sim" | "none".
    pub backend: String,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self { backend: "none".into() }
    }
}
