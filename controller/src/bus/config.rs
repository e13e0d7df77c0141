//! `[bus]`: where the MQTT broker is and who this robot is on it.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[bus]` in the site config. Absent = no bus: sessions behave exactly as
/// before. Present = every session publishes on `attune/<site>/<robot>/...`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `mqtt://host:port` (plain TCP) or `mqtts://host:port` (TLS, needs `ca_file`).
    pub url: String,
    /// MQTT client id of the robot's session client (unique per robot on the broker).
    pub client_id: String,
    /// Broker user name; empty = connect without credentials.
    pub username: String,
    /// Name of the environment variable holding the password (never the password).
    pub password_env: String,
    /// Site name, the second topic level.
    pub site: String,
    /// Robot name, the third topic level.
    pub robot: String,
    /// Put participant and reply text on the bus (default false: pseudonym,
    /// risk, turn index and time only).
    pub publish_text: bool,
    /// PEM file of the CA that signed the broker's certificate (`mqtts://` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// An unacknowledged crisis alert is published again after this long.
    pub alert_repeat_ms: u64,
    /// MQTT keep-alive; a dead broker is noticed within about 1.5 × this.
    pub keep_alive_s: u64,
    /// At `close`, how long a session waits for its backlog to reach the
    /// broker before leaving the rest in the outbox for the next run.
    pub drain_timeout_ms: u64,
    /// Staff commands older than this (by their `t`) are refused as stale
    /// (the robot's session on the broker is persistent, so commands sent
    /// while it was away are delivered when it returns).
    pub cmd_max_age_s: u64,
    /// Head telemetry is published at most this often.
    pub telemetry_interval_ms: u64,
    /// At session start, wait this long for the broker before the first turn.
    pub connect_wait_ms: u64,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "attune-robot".into(),
            username: String::new(),
            password_env: "ATTUNE_BUS_PASSWORD".into(),
            site: "lab".into(),
            robot: "robot1".into(),
            publish_text: false,
            ca_file: None,
            alert_repeat_ms: 30_000,
            keep_alive_s: 5,
            drain_timeout_ms: 5_000,
            cmd_max_age_s: 300,
            telemetry_interval_ms: 1_000,
            connect_wait_ms: 1_000,
        }
    }
}

/// Transport named by the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `mqtt://`: plain TCP.
    Tcp,
    /// `mqtts://`: TLS.
    Tls,
}

/// A parsed `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    /// TCP or TLS.
    pub scheme: Scheme,
    /// Host name or address.
    pub host: String,
    /// TCP port (1883 / 8883 when omitted).
    pub port: u16,
}

/// A topic level must be non-empty and free of MQTT wildcards and separators.
fn topic_level_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && !s.contains(['/', '+', '#', '\0']) && !s.chars().any(char::is_control)
}

impl BusConfig {
    /// Parses `url`; the error names the field.
    pub fn broker(&self) -> Result<BrokerAddr, String> {
        let bad = |why: &str| format!("field `bus.url`: {why} (expected mqtt://host:port or mqtts://host:port), got {:?}", self.url);
        let (scheme, rest) = if let Some(r) = self.url.strip_prefix("mqtt://") {
            (Scheme::Tcp, r)
        } else if let Some(r) = self.url.strip_prefix("mqtts://") {
            (Scheme::Tls, r)
        } else {
            return Err(bad("unknown scheme"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('@') {
            return Err(bad("no path or user part allowed"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad("port is not a number 1-65535"))?),
            None => (rest, if scheme == Scheme::Tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad("host and port are required"));
        }
        Ok(BrokerAddr { scheme, host: host.to_string(), port })
    }

    /// Checks values that types alone cannot; errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        let addr = self.broker()?;
        if addr.scheme == Scheme::Tls && self.ca_file.is_none() {
            return Err("field `bus.ca_file`: mqtts:// needs the PEM file of the broker's CA".into());
        }
        if addr.scheme == Scheme::Tcp && self.ca_file.is_some() {
            return Err("field `bus.ca_file`: only used with mqtts:// (the url is mqtt://)".into());
        }
        if self.client_id.is_empty() || self.client_id.len() > 64 || self.client_id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!("field `bus.client_id`: 1-64 printable characters without spaces, got {:?}", self.client_id));
        }
        for (name, v) in [("site", &self.site), ("robot", &self.robot)] {
            if !topic_level_ok(v) {
                return Err(format!("field `bus.{name}`: 1-64 characters without '/', '+', '#' or control characters (it is a topic level), got {v:?}"));
            }
        }
        if !self.password_env.is_empty() && !self.password_env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("field `bus.password_env`: the NAME of an environment variable (letters, digits, '_'), not the password; got {} characters", self.password_env.len()));
        }
        if self.alert_repeat_ms < 100 {
            return Err("field `bus.alert_repeat_ms`: must be at least 100".into());
        }
        if self.keep_alive_s == 0 || self.keep_alive_s > 3600 {
            return Err("field `bus.keep_alive_s`: must be 1-3600".into());
        }
        if self.cmd_max_age_s == 0 {
            return Err("field `bus.cmd_max_age_s`: must be at least 1".into());
        }
        Ok(())
    }

    /// The password from the environment variable named by `password_env`
    /// (`None` when no user name is configured).
    pub fn password(&self) -> Result<Option<String>, String> {
        if self.username.is_empty() {
            return Ok(None);
        }
        if self.password_env.is_empty() {
            return Ok(Some(String::new()));
        }
        match std::env::var(&self.password_env) {
            Ok(p) => Ok(Some(p)),
            Err(_) => Err(format!(
                "bus: user {:?} is configured but the environment variable {} (bus.password_env) is not set",
                self.username, self.password_env
            )),
        }
    }

    /// `attune/<site>/<robot>/<leaf>`.
    pub fn topic(&self, leaf: &str) -> String {
        format!("attune/{}/{}/{leaf}", self.site, self.robot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports_and_bad_ones_name_the_field() {
        let mut c = BusConfig { url: "mqtt://broker.lab:1884".into(), ..Default::default() };
        assert_eq!(c.broker().unwrap(), BrokerAddr { scheme: Scheme::Tcp, host: "broker.lab".into(), port: 1884 });
        c.url = "mqtts://broker.lab".into();
        assert_eq!(c.broker().unwrap().port, 8883);
        for bad in ["http://x:1", "mqtt://:1883", "mqtt://x:notaport", "mqtt://x:0", "mqtt://u@x:1", "mqtt://x:1/path"] {
            c.url = bad.into();
            assert!(c.broker().unwrap_err().contains("bus.url"), "{bad}");
        }
    }

    #[test]
    fn tls_needs_a_ca_file_and_plain_tcp_refuses_one() {
        let c = BusConfig { url: "mqtts://x:8883".into(), ..Default::default() };
        assert!(c.validate().unwrap_err().contains("bus.ca_file"));
        let c = BusConfig { ca_file: Some("/etc/ca.pem".into()), ..Default::default() };
        assert!(c.validate().unwrap_err().contains("bus.ca_file"));
    }

    #[test]
    fn wildcards_in_site_or_robot_are_rejected_by_name() {
        let c = BusConfig { site: "lab/+".into(), ..Default::default() };
        assert!(c.validate().unwrap_err().contains("bus.site"));
        let c = BusConfig { robot: "#".into(), ..Default::default() };
        assert!(c.validate().unwrap_err().contains("bus.robot"));
    }

    #[test]
    fn a_password_in_password_env_is_refused_without_echoing_it() {
        let c = BusConfig { password_env: "hunter2!secret".into(), ..Default::default() };
        let e = c.validate().unwrap_err();
        assert!(e.contains("bus.password_env") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn a_missing_password_variable_is_named() {
        let c = BusConfig { username: "robot".into(), password_env: "ATTUNE_TEST_SURELY_UNSET_VAR".into(), ..Default::default() };
        let e = c.password().unwrap_err();
        assert!(e.contains("ATTUNE_TEST_SURELY_UNSET_VAR"), "{e}");
    }
}
