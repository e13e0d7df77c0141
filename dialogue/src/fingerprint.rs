//! Engine fingerprint: one hash over everything that shapes a reply — prompts,
//! model id, sampling, policy, validator and crisis configuration, and the
//! rule sources of the deterministic layers. Recorded on every turn; a study
//! compares it between arms to prove they ran the same engine.

use crate::engine::{EngineConfig, SemanticLayer};
use sha2::{Digest, Sha256};

/// Source of the deterministic layers, compiled in so that any change to a
/// rule (a risk cue, an advice pattern) changes the fingerprint.
///
/// Design: every module under `src/` is either listed here or in
/// [`EXEMPT_SOURCES`] with the reason it cannot change a reply or a grade;
/// a test reads the directory and fails on a module that is in neither.
const RULE_SOURCES: &[(&str, &str)] = &[
    ("crisis", include_str!("crisis.rs")),
    ("lexicon", include_str!("lexicon.rs")),
    ("text", include_str!("text.rs")),
    ("warning_signs", include_str!("warning_signs.rs")),
    ("semantic", include_str!("semantic.rs")),
    ("embed", include_str!("embed.rs")),
    ("reader", include_str!("reader.rs")),
    ("prompts", include_str!("prompts.rs")),
    ("memory", include_str!("memory.rs")),
    ("llm", include_str!("llm.rs")),
    ("reasoner", include_str!("reasoner.rs")),
    ("validator", include_str!("validator.rs")),
    ("coherence", include_str!("coherence.rs")),
    ("reflect", include_str!("reflect.rs")),
    ("strategy", include_str!("strategy.rs")),
    ("policy", include_str!("policy.rs")),
    ("engine", include_str!("engine.rs")),
    ("template", include_str!("template.rs")),
];

/// Modules that decide neither a reply nor a grade, with the reason.
pub const EXEMPT_SOURCES: &[(&str, &str)] = &[
    ("lib", "module list and crate docs only"),
    ("fingerprint", "computes the fingerprint itself"),
    ("config", "config types; their values are hashed through the canonical description"),
    ("risk_eval", "scores the crisis layer on a labelled file; never runs in a session"),
    ("evalset", "scores the coherence flags on labelled sets; never runs in a session"),
    ("identity", "proves the local LLM server is the supervised child; decides whether to talk to it, never what is said"),
];

/// Data files that shape grades, compiled in.
const DATA_SOURCES: &[(&str, &str)] = &[
    ("risk_exemplars", crate::semantic::EXEMPLARS_TOML),
    ("risk_tune_exemplars", crate::semantic::TUNE_JSONL),
    ("risk_dev_exemplars", crate::semantic::DEV_JSONL),
    ("risk_author_exemplars", crate::semantic::AUTHORS_JSONL),
];

/// The fingerprint as 16 hex digits (64 bits of SHA-256), for an engine
/// without a loaded semantic layer (off in the config, or not loaded).
pub fn fingerprint(cfg: &EngineConfig) -> String {
    let layer = if cfg.crisis.semantic { SemanticLayer::Unavailable("not loaded".into()) } else { SemanticLayer::Off };
    fingerprint_with(cfg, &layer)
}

/// The fingerprint of an engine running `layer` as its semantic second opinion.
pub fn fingerprint_with(cfg: &EngineConfig, layer: &SemanticLayer) -> String {
    hex::encode(&full_digest(cfg, layer)[..8])
}

/// The semantic layer's part of the canonical description.
pub fn semantic_identity(layer: &SemanticLayer) -> serde_json::Value {
    match layer {
        SemanticLayer::Off => serde_json::json!({"state": "off"}),
        SemanticLayer::On(s) => s.identity(),
        // Design: the reason (a path, an I/O error) is left out so that two
        // machines missing the model agree; "unavailable" alone already
        // differs from every working arm.
        SemanticLayer::Unavailable(_) => serde_json::json!({"state": "unavailable"}),
    }
}

/// The canonical description that is hashed, for an engine without a loaded semantic layer.
pub fn canonical(cfg: &EngineConfig) -> serde_json::Value {
    let layer = if cfg.crisis.semantic { SemanticLayer::Unavailable("not loaded".into()) } else { SemanticLayer::Off };
    canonical_with(cfg, &layer)
}

/// The canonical description that is hashed (also useful to diff two arms).
pub fn canonical_with(cfg: &EngineConfig, layer: &SemanticLayer) -> serde_json::Value {
    let prompts: serde_json::Map<String, serde_json::Value> = crate::prompts::all_prompt_texts()
        .into_iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    let mut rules = serde_json::Map::new();
    for (name, src) in RULE_SOURCES {
        let d = Sha256::digest(src.as_bytes());
        rules.insert(name.to_string(), serde_json::Value::String(hex::encode(&d[..8])));
    }
    let mut data = serde_json::Map::new();
    for (name, src) in DATA_SOURCES {
        let d = Sha256::digest(src.as_bytes());
        data.insert(name.to_string(), serde_json::Value::String(hex::encode(&d[..8])));
    }
    let mut crisis = serde_json::to_value(&cfg.crisis).unwrap_or_default();
    if let Some(m) = crisis.as_object_mut() {
        // Where the model lives differs between machines; its sha256 is hashed instead.
        m.remove("semantic_model_dir");
        m.remove("reader_dir");
    }
    serde_json::json!({
        "engine_version": env!("CARGO_PKG_VERSION"),
        "backend": cfg.llm.mode.as_str(),
        "model_id": cfg.model_id,
        "sampling": cfg.dialogue.sampling,
        "exact_reuse": cfg.llm.sends_exact_reuse(),
        "policy": cfg.dialogue.policy.as_str(),
        "robot_name": cfg.dialogue.robot_name,
        "max_input_chars": cfg.dialogue.max_input_chars,
        "history_turns": cfg.dialogue.history_turns,
        "memory": [cfg.dialogue.memory_sessions, cfg.dialogue.memory_summary_chars],
        "validator": cfg.validator,
        "crisis": crisis,
        "semantic": semantic_identity(layer),
        "prompts": prompts,
        "rules": rules,
        "data": data,
    })
}

fn full_digest(cfg: &EngineConfig, layer: &SemanticLayer) -> [u8; 32] {
    // serde_json::Value maps are ordered (BTreeMap), so this is canonical.
    let text = serde_json::to_string(&canonical_with(cfg, layer)).unwrap_or_default();
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
    fn every_module_in_src_is_hashed_or_explicitly_exempt() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            let hashed = RULE_SOURCES.iter().any(|(n, _)| *n == stem);
            let exempt = EXEMPT_SOURCES.iter().any(|(n, _)| *n == stem);
            assert!(hashed || exempt, "dialogue/src/{stem}.rs is neither hashed in RULE_SOURCES nor listed in EXEMPT_SOURCES");
            assert!(!(hashed && exempt), "{stem} is both hashed and exempt");
            seen += 1;
        }
        assert!(seen >= RULE_SOURCES.len());
        for (n, _) in RULE_SOURCES.iter().chain(EXEMPT_SOURCES) {
            assert!(dir.join(format!("{n}.rs")).exists(), "{n}.rs is listed but does not exist");
        }
    }

    #[test]
    fn lexicon_and_text_and_the_exemplars_are_part_of_the_fingerprint() {
        let c = canonical(&base());
        for n in ["lexicon", "text", "crisis", "warning_signs", "semantic", "embed"] {
            assert!(c["rules"].get(n).is_some(), "{n} not hashed");
        }
        assert!(c["data"].get("risk_exemplars").is_some());
    }

    #[test]
    fn semantic_on_off_or_unavailable_and_its_thresholds_change_the_fingerprint() {
        let on = base();
        let mut off = base();
        off.crisis.semantic = false;
        assert_ne!(fingerprint(&on), fingerprint(&off));
        assert_ne!(fingerprint_with(&on, &SemanticLayer::Unavailable("x".into())), fingerprint_with(&on, &SemanticLayer::Off));
        let mut t = base();
        t.crisis.semantic_strong += 0.01;
        assert_ne!(fingerprint(&t), fingerprint(&on));
        let mut dm = base();
        dm.crisis.semantic_decisive_margin += 0.01;
        assert_ne!(fingerprint(&dm), fingerprint(&on));
        let mut ac = base();
        ac.crisis.semantic_act_check_in -= 0.01;
        assert_ne!(fingerprint(&ac), fingerprint(&on));
        let mut rp = base();
        rp.crisis.reader_protocol -= 0.01;
        assert_ne!(fingerprint(&rp), fingerprint(&on));
        let mut ro = base();
        ro.crisis.reader = false;
        assert_ne!(fingerprint(&ro), fingerprint(&on));
        // The models' locations are not part of it.
        let mut d = base();
        d.crisis.semantic_model_dir = Some("/elsewhere".into());
        d.crisis.reader_dir = Some("/elsewhere/too".into());
        assert_eq!(fingerprint(&d), fingerprint(&on));
    }

    #[test]
    fn exact_reuse_changes_the_fingerprint_only_where_it_is_sent() {
        use crate::config::LlmMode;
        let a = fingerprint(&base());
        let mut c = base();
        c.llm.local.exact_reuse = true;
        assert_ne!(fingerprint(&c), a, "the embedded server is asked for it");
        let (mut o, mut o2) = (base(), base());
        o.llm.mode = LlmMode::Openai;
        o2.llm.mode = LlmMode::Openai;
        o2.llm.local.exact_reuse = true;
        assert_eq!(fingerprint(&o), fingerprint(&o2), "another server never gets the field");
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
