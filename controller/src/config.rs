//! The typed config tree: one TOML file, `deny_unknown_fields` everywhere,
//! defaults compiled in and printable (`attune config default`), validated
//! before anything starts, with errors that name the field and the file.

use anyhow::Context;
use attune_dialogue::config::{DialogueConfig, LlmConfig};
use attune_dialogue::crisis::CrisisConfig;
use attune_dialogue::validator::ValidatorConfig;
use attune_behaviors::BehaviorsConfig;
use attune_hardware::HeadConfig;
use attune_speech::SpeechConfig;
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The whole attune config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Which LLM, where, and its timeouts.
    pub llm: LlmConfig,
    /// Policy, persona, sampling, memory.
    pub dialogue: DialogueConfig,
    /// Crisis protocol text and resource (site-specific).
    pub crisis: CrisisConfig,
    /// Validator limits.
    pub validator: ValidatorConfig,
    /// Where sessions are stored.
    pub store: StoreConfig,
    /// Where staff alerts go besides the session store.
    pub alerts: AlertsConfig,
    /// Servo head backend.
    pub head: HeadConfig,
    /// Audio, VAD, STT, TTS.
    pub speech: SpeechConfig,
    /// The MQTT bus to staff; absent = no bus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bus: Option<crate::bus::BusConfig>,
    /// The robot arm's gaze / nod / posture planner.
    pub behaviors: BehaviorsConfig,
}

/// `[store]`: the session database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// SQLite file; `--db` overrides it.
    pub path: PathBuf,
    /// A session refuses to start while the file system holding `path` has
    /// less free space than this (MiB); `attune doctor` fails below it too.
    pub min_free_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { path: data_dir().join("attune.db"), min_free_mb: crate::diskspace::DEFAULT_MIN_FREE_MB }
    }
}

/// `[alerts]`: staff-alert delivery. Every alert is always written to the
/// session store's `events` table; these add channels staff actually watch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Append each alert as one JSON line to this file (fsynced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Run this program (argv list) with the alert JSON on stdin, e.g. a
    /// script that pages the on-call researcher. Killed after 10 s; a
    /// non-zero exit is a failed delivery.
    pub command: Vec<String>,
    /// Refuse to start a session unless at least one channel (file or
    /// command) passes the start-up check.
    pub required: bool,
    /// First wait before retrying a failed delivery; doubles per failure.
    pub retry_initial_ms: u64,
    /// Longest wait between retries (they go on until the session ends).
    pub retry_max_ms: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self { file: None, command: Vec::new(), required: false, retry_initial_ms: 1_000, retry_max_ms: 60_000 }
    }
}

/// Where attune keeps models and data unless config says otherwise:
/// `$ATTUNE_HOME`, else `$XDG_DATA_HOME/attune`, else `~/.local/share/attune`.
pub fn data_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("ATTUNE_HOME") {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(x).join("attune");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/attune")
}

impl Config {
    /// Loads `path` (or the compiled-in defaults when `None`) and validates it.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let cfg = match path {
            None => Config::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                Self::parse(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", p.display()))?
            }
        };
        if let Err(e) = cfg.validate() {
            let file = path.map(|p| p.display().to_string()).unwrap_or_else(|| "<defaults>".into());
            anyhow::bail!("config file {file}: {e}");
        }
        Ok(cfg)
    }

    /// Parses TOML text; the error names the offending field path.
    pub fn parse(text: &str) -> Result<Config, String> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = inner.message().to_string();
            let loc = inner
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            if path.is_empty() || path == "." {
                format!("{msg}{loc}")
            } else {
                format!("field `{path}`: {msg}{loc}")
            }
        })
    }

    /// Checks values that types alone cannot; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        self.llm.validate()?;
        self.dialogue.validate()?;
        self.speech.validate().map_err(|e| e.to_string())?;
        self.head.validate().map_err(|e| e.to_string())?;
        self.behaviors.validate().map_err(|e| format!("field `behaviors.{}`: {}", e.field, e.reason))?;
        if self.validator.max_words == 0 {
            return Err("field `validator.max_words`: must be at least 1".into());
        }
        if self.validator.max_sentences == 0 {
            return Err("field `validator.max_sentences`: must be at least 1".into());
        }
        if self.alerts.command.first().is_some_and(|c| c.trim().is_empty()) {
            return Err("field `alerts.command`: the first element must name a program".into());
        }
        if self.alerts.required && self.alerts.file.is_none() && self.alerts.command.is_empty() {
            return Err("field `alerts.required`: is true but neither `alerts.file` nor `alerts.command` is set".into());
        }
        if self.alerts.retry_initial_ms == 0 || self.alerts.retry_max_ms < self.alerts.retry_initial_ms {
            return Err("field `alerts.retry_initial_ms`: must be at least 1 and at most `alerts.retry_max_ms`".into());
        }
        if self.crisis.resource_contact.trim().is_empty() {
            return Err("field `crisis.resource_contact`: must name how to reach the crisis resource".into());
        }
        attune_dialogue::template::check_placeholders("crisis.reply_template", &self.crisis.reply_template, &["resource_name", "resource_contact"])?;
        self.crisis.validate_semantic()?;
        if let Some(b) = &self.bus {
            b.validate()?;
        }
        if self.crisis.calm_turns_to_clear == 0 {
            return Err("field `crisis.calm_turns_to_clear`: must be at least 1 (a single denial must not clear crisis state)".into());
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the compiled-in default config as TOML.
    Default,
    /// Load and validate a config file.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

pub fn run(cmd: ConfigCmd) -> anyhow::Result<()> {
    match cmd {
        ConfigCmd::Default => {
            let text = toml::to_string_pretty(&Config::default()).context("serialising defaults")?;
            print!("{text}");
            Ok(())
        }
        ConfigCmd::Check { file } => {
            let cfg = Config::load(Some(&file))?;
            // Delivery channels are checked here too, so a site finds a
            // broken pager before a participant needs it.
            let problems = crate::alerts::check(&cfg.alerts);
            if !problems.is_empty() {
                anyhow::bail!("config file {}: {}", file.display(), problems.join("; "));
            }
            println!("{}: ok", file.display());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let text = toml::to_string_pretty(&Config::default()).unwrap();
        let back = Config::parse(&text).unwrap();
        assert_eq!(back, Config::default());
        back.validate().unwrap();
    }

    #[test]
    fn the_shipped_example_config_is_valid_and_names_988() {
        let cfg = Config::parse(include_str!("../../config/attune.example.toml")).unwrap();
        cfg.validate().unwrap();
        assert!(cfg.crisis.resource_contact.contains("988"));
        assert!(cfg.alerts.file.is_some());
    }

    #[test]
    fn unknown_field_error_names_the_field() {
        let err = Config::parse("[llm]\nbase_urll = \"http://x\"\n").unwrap_err();
        assert!(err.contains("base_urll"), "{err}");
        assert!(err.contains("llm"), "{err}");
    }

    #[test]
    fn wrong_type_error_names_the_field_path() {
        let err = Config::parse("[validator]\nmax_words = \"many\"\n").unwrap_err();
        assert!(err.contains("validator.max_words"), "{err}");
    }

    #[test]
    fn head_and_speech_sections_are_validated_too() {
        let cfg = Config::parse("[head]\nbackend = \"usb\"\n").unwrap();
        assert!(cfg.validate().unwrap_err().contains("head.backend"));
        let cfg = Config::parse("[speech.vad]\nthreshold = 3.0\n").unwrap();
        assert!(cfg.validate().unwrap_err().contains("speech.vad.threshold"));
    }

    #[test]
    fn a_partial_head_joint_table_is_accepted_with_defaults() {
        let cfg = Config::parse("[head.yaw]\nmax_deg = 30.0\n").unwrap();
        cfg.validate().unwrap();
        let d = attune_hardware::HeadConfig::default();
        assert_eq!(cfg.head.yaw, attune_hardware::JointConfig { max_deg: 30.0, ..d.yaw });
        let err = Config::parse("[head.yaw]\nmax_degs = 30.0\n").unwrap_err();
        assert!(err.contains("head.yaw") && err.contains("max_degs"), "{err}");
    }

    #[test]
    fn required_alerts_without_any_channel_is_rejected_by_name() {
        let cfg = Config::parse("[alerts]\nrequired = true\n").unwrap();
        assert!(cfg.validate().unwrap_err().contains("alerts.required"));
        let cfg = Config::parse("[alerts]\nrequired = true\ncommand = [\"true\"]\n").unwrap();
        cfg.validate().unwrap();
    }

    #[test]
    fn a_bus_section_is_optional_and_validated_by_field() {
        assert!(Config::default().bus.is_none());
        let cfg = Config::parse("[bus]\nurl = \"mqtt://10.0.0.5:1883\"\nsite = \"oslo\"\nrobot = \"r2\"\n").unwrap();
        cfg.validate().unwrap();
        assert!(!cfg.bus.as_ref().unwrap().publish_text);
        let cfg = Config::parse("[bus]\nurl = \"tcp://x:1\"\n").unwrap();
        assert!(cfg.validate().unwrap_err().contains("bus.url"));
        let err = Config::parse("[bus]\npassword = \"x\"\n").unwrap_err();
        assert!(err.contains("password"), "{err}");
    }

    #[test]
    fn an_unknown_behaviour_profile_or_switch_is_refused_by_name() {
        let cfg = Config::parse("[behaviors]\nprofile = \"lively\"\n").unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(err.contains("behaviors.profile") && err.contains("lively"), "{err}");
        let err = Config::parse("[behaviors]\nnodding = false\n").unwrap_err();
        assert!(err.contains("behaviors") && err.contains("nodding"), "{err}");
        let cfg = Config::parse("[behaviors]\nprofile = \"subtle\"\nbackchannel_nod = false\n").unwrap();
        cfg.validate().unwrap();
        assert!(!cfg.behaviors.settings().unwrap().switches.backchannel_nod);
    }

    #[test]
    fn a_crisis_template_without_the_resource_or_with_unknown_placeholders_is_rejected_by_name() {
        let cfg = Config::parse("[crisis]\nreply_template = \"Take care, bye.\"\n").unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(err.contains("crisis.reply_template") && err.contains("{resource_name}"), "{err}");
        let cfg = Config::parse("[crisis]\nreply_template = \"Reach {resource_name}: {resource_contact}. {bogus}\"\n").unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(err.contains("crisis.reply_template") && err.contains("{bogus}"), "{err}");
    }

    #[test]
    fn zero_calm_turns_is_rejected_by_name() {
        let cfg = Config::parse("[crisis]\ncalm_turns_to_clear = 0\n").unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(err.contains("crisis.calm_turns_to_clear"), "{err}");
    }
}
