//! Engine fingerprint: one hash over everything that shapes a reply — prompts,
//! model id, sampling, policy, validator and crisis configuration, and the
//! rule sources of the deterministic layers. Recorded on every turn; a study
//! compares it between arms to prove they ran the same engine.

use crate::engine::EngineConfig;
use sha2::{Digest, Sha256};

/// Source of the deterministic layers, compiled in so that any change to a
/// rule (a risk cue, an advice pattern) changes the fingerprint.
const RULE_SOURCES: &[(&str, &str)] = &[
    ("crisis", include_str!("crisis.rs")),
    ("reasoner", include_str!("reasoner.rs")),
    ("validator", include_str!("validator.rs")),
    ("coherence", include_str!("coherence.rs")),
    ("reflect", include_str!("reflect.rs")),
    ("strategy", include_str!("strategy.rs")),
    ("policy", include_str!("policy.rs")),
    ("engine", include_str!("engine.rs")),
];

/// The fingerprint as 16 hex digits (64 bits of SHA-256).
pub fn fingerprint(cfg: &EngineConfig) -> String {
    hex::encode(&full_digest(cfg)[..8])
}

/// The canonical description that is hashed (also useful to diff two arms).
pub fn canonical(cfg: &EngineConfig) -> serde_json::Value {
    let prompts: serde_json::Map<String, serde_json::Value> = crate::prompts::all_prompt_texts()
        .into_iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    let mut rules = serde_json::Map::new();
    for (name, src) in RULE_SOURCES {
        let d = Sha256::digest(src.as_bytes());
        rules.insert(name.to_string(), serde_json::Value::String(hex::encode(&d[..8])));
    }
    serde_json::json!({
        "engine_version": env!("CARGO_PKG_VERSION"),
        "backend": cfg.llm.mode.as_str(),
        "model_id": cfg.model_id,
        "sampling": cfg.dialogue.sampling,
        "policy": cfg.dialogue.policy.as_str(),
        "robot_name": cfg.dialogue.robot_name,
        "max_input_chars": cfg.dialogue.max_input_chars,
        "history_turns": cfg.dialogue.history_turns,
        "memory": [cfg.dialogue.memory_sessions, cfg.dialogue.memory_summary_chars],
        "validator": cfg.validator,
        "crisis": cfg.crisis,
        "prompts": prompts,
        "rules": rules,
    })
}

fn full_digest(cfg: &EngineConfig) -> [u8; 32] {
    // serde_json::Value maps are ordered (BTreeMap), so this is canonical.
    let text = serde_json::to_string(&canonical(cfg)).unwrap_or_default();
    Sha256::digest(text.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PolicyKind};

    fn base() -> EngineConfig {
        EngineConfig { model_id: "SmolLM2-135M-Instruct".into(), ..EngineConfig::default() }
    }

    #[test]
    fn same_config_gives_same_fingerprint() {
        assert_eq!(fingerprint(&base()), fingerprint(&base()));
        assert_eq!(fingerprint(&base()).len(), 16);
    }

    #[test]
    fn policy_sampling_model_and_crisis_text_each_change_the_fingerprint() {
        let a = fingerprint(&base());
        let mut c = base();
        c.dialogue.policy = PolicyKind::Assistant;
        assert_ne!(fingerprint(&c), a);
        let mut c = base();
        c.dialogue.sampling.temperature = 0.9;
        assert_ne!(fingerprint(&c), a);
        let mut c = base();
        c.model_id = "other-model".into();
        assert_ne!(fingerprint(&c), a);
        let mut c = base();
        c.crisis.resource_contact = "call 116 123".into();
        assert_ne!(fingerprint(&c), a);
        let mut c = base();
        c.validator.max_words += 1;
        assert_ne!(fingerprint(&c), a);
    }

    #[test]
    fn timeouts_do_not_change_the_fingerprint() {
        // Deadlines differ between a Pi and a laptop; they do not shape replies.
        let a = fingerprint(&base());
        let mut c = base();
        c.llm.total_timeout_ms *= 2;
        c.llm.base_url = "http://10.0.0.5:8000/v1".into();
        assert_eq!(fingerprint(&c), a);
    }
}
