//! Staff-alert delivery besides the session store: an append-only JSONL file
//! and/or a site command (pager script). The study bus (MQTT) joins here later.
//!
//! Design: delivery never blocks or fails the turn. The file write is
//! synchronous and fsynced (it is tiny); the command runs on its own thread
//! with a 10 s limit. Failures are returned so the caller logs them as events.

use crate::config::AlertsConfig;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Delivers `alert` to every configured channel; returns failure messages.
pub fn deliver(cfg: &AlertsConfig, alert: &serde_json::Value) -> Vec<String> {
    let mut failures = Vec::new();
    let line = alert.to_string();
    if let Some(path) = &cfg.file {
        let res = (|| -> std::io::Result<()> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
            f.write_all(line.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        })();
        if let Err(e) = res {
            failures.push(format!("alerts.file {}: {e}", path.display()));
        }
    }
    if let Some((prog, args)) = cfg.command.split_first() {
        match Command::new(prog).args(args).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn() {
            Err(e) => failures.push(format!("alerts.command {prog}: {e}")),
            Ok(mut child) => {
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = stdin.write_all(line.as_bytes());
                    let _ = stdin.write_all(b"\n");
                }
                let prog = prog.clone();
                std::thread::spawn(move || {
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    loop {
                        match child.try_wait() {
                            Ok(Some(status)) if !status.success() => {
                                tracing::error!("alert command {prog} exited with {status}");
                                return;
                            }
                            Ok(Some(_)) => return,
                            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                            _ => {
                                tracing::error!("alert command {prog} did not finish within 10 s; killed");
                                let _ = child.kill();
                                let _ = child.wait();
                                return;
                            }
                        }
                    }
                });
            }
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_appended_to_the_file_one_json_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/alerts.jsonl");
        let cfg = AlertsConfig { file: Some(path.clone()), command: vec![] };
        assert!(deliver(&cfg, &serde_json::json!({"n": 1})).is_empty());
        assert!(deliver(&cfg, &serde_json::json!({"n": 2})).is_empty());
        let text = std::fs::read_to_string(&path).unwrap();
        let ns: Vec<i64> = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["n"].as_i64().unwrap()).collect();
        assert_eq!(ns, vec![1, 2]);
    }

    #[test]
    fn the_command_receives_the_alert_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got.json");
        let cfg = AlertsConfig { file: None, command: vec!["sh".into(), "-c".into(), format!("cat > {}", out.display())] };
        assert!(deliver(&cfg, &serde_json::json!({"risk": "high"})).is_empty());
        for _ in 0..100 {
            if std::fs::read_to_string(&out).map(|t| t.contains("high")).unwrap_or(false) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("alert command never wrote its input");
    }

    #[test]
    fn an_unwritable_file_or_missing_program_is_reported_not_fatal() {
        let cfg = AlertsConfig { file: Some("/proc/attune-cannot-write/alerts.jsonl".into()), command: vec!["/nonexistent/pager".into()] };
        let f = deliver(&cfg, &serde_json::json!({}));
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].contains("alerts.file"));
        assert!(f[1].contains("/nonexistent/pager"));
    }
}
