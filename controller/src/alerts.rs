//! Staff-alert delivery besides the session store: an append-only JSONL file
//! and/or a site command (pager script). The study bus (MQTT) joins here later.
//!
//! Design: an alert must never fail silently, and delivery must never hold
//! up the conversation for long.
//! - Channels are checked before anything starts ([`check`]): `attune config
//!   check` and session start (the file can be written, the program exists
//!   and is executable). With `alerts.required = true` a session refuses to
//!   start without a working channel.
//! - Each alert is delivered once inline ([`Dispatcher::send`]): the file
//!   write is tiny and fsynced; the command is waited for (killed after
//!   10 s), so "delivered" means the program exited 0. The caller reports
//!   the outcome in the turn (`alert_delivered`), on stderr and in the store.
//! - A channel that failed is handed to a retry thread owned by the session,
//!   which retries with exponential backoff until it is delivered or the
//!   session ends ([`Dispatcher::finish`] makes one last attempt); every
//!   final outcome comes back as an [`Outcome`] for the store.

use crate::config::AlertsConfig;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest a site command may run before it is killed and counted as failed.
const COMMAND_LIMIT: Duration = Duration::from_secs(10);

/// One configured delivery channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Channel {
    /// `alerts.file`: one JSON line per alert, fsynced.
    File(PathBuf),
    /// `alerts.command`: argv; the alert JSON is written to its stdin.
    Command(Vec<String>),
}

impl Channel {
    /// Short name for messages and events, naming the config field.
    pub fn name(&self) -> String {
        match self {
            Channel::File(p) => format!("alerts.file {}", p.display()),
            Channel::Command(argv) => format!("alerts.command {}", argv.first().map(String::as_str).unwrap_or("")),
        }
    }

    /// Whether this channel can work now, without delivering anything.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Channel::File(p) => check_file(p).map_err(|e| format!("{}: {e}", self.name())),
            Channel::Command(argv) => {
                let prog = argv.first().map(String::as_str).unwrap_or("");
                find_program(prog).map(|_| ()).map_err(|e| format!("{}: {e}", self.name()))
            }
        }
    }

    /// Delivers one alert line; `Err` says why it did not arrive.
    pub fn deliver(&self, line: &str) -> Result<(), String> {
        let r = match self {
            Channel::File(p) => append_line(p, line).map_err(|e| e.to_string()),
            Channel::Command(argv) => run_command(argv, line),
        };
        r.map_err(|e| format!("{}: {e}", self.name()))
    }
}

/// The channels `cfg` configures, file first.
pub fn channels(cfg: &AlertsConfig) -> Vec<Channel> {
    let mut v = Vec::new();
    if let Some(p) = &cfg.file {
        v.push(Channel::File(p.clone()));
    }
    if !cfg.command.is_empty() {
        v.push(Channel::Command(cfg.command.clone()));
    }
    v
}

/// Problems with the configured channels (empty when every one can work).
pub fn check(cfg: &AlertsConfig) -> Vec<String> {
    channels(cfg).iter().filter_map(|c| c.check().err()).collect()
}

/// The start-up verdict on `cfg`: `Err` when alerts are required and no
/// channel works; otherwise the warnings to show (and log) before the session.
pub fn startup_check(cfg: &AlertsConfig) -> Result<Vec<String>, String> {
    let chans = channels(cfg);
    let problems = check(cfg);
    let working = chans.len() - problems.len();
    if cfg.required && working == 0 {
        let why = if chans.is_empty() { "no channel is configured".to_string() } else { problems.join("; ") };
        return Err(format!(
            "alerts.required is true but no staff-alert channel works ({why}); fix [alerts] before running a session"
        ));
    }
    let mut warnings = problems;
    if chans.is_empty() {
        warnings.push("no staff-alert channel is configured ([alerts] file or command): alerts reach only the session store".into());
    }
    Ok(warnings)
}

fn check_file(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("empty path".into());
    }
    if path.exists() {
        if path.is_dir() {
            return Err("is a folder, not a file".into());
        }
        // Opening for append changes nothing in the file.
        return std::fs::OpenOptions::new().append(true).open(path).map(|_| ()).map_err(|e| format!("cannot be written: {e}"));
    }
    // The file will be created: the nearest existing folder must take a new file.
    let mut dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    while !dir.as_os_str().is_empty() && !dir.exists() {
        dir = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    }
    if dir.as_os_str().is_empty() {
        dir = PathBuf::from(".");
    }
    if !dir.is_dir() {
        return Err(format!("cannot be created: {} is not a folder", dir.display()));
    }
    let probe = dir.join(format!(".attune-alerts-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("cannot be created in {}: {e}", dir.display())),
    }
}

/// Resolves `prog` like the shell would; it must be an executable file.
fn find_program(prog: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if prog.trim().is_empty() {
        return Err("no program named".into());
    }
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        if !p.exists() {
            return Err("no such program".into());
        }
        if !executable(&p) {
            return Err("is not an executable file".into());
        }
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| executable(p))
        .ok_or_else(|| "not found on PATH (or not executable)".into())
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(line.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// Runs the site command with `line` on stdin and waits (at most
/// [`COMMAND_LIMIT`]) for it to exit 0.
fn run_command(argv: &[String], line: &str) -> Result<(), String> {
    let (prog, args) = argv.split_first().ok_or("no program named")?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that ignores its input may close stdin early; its exit
        // status is what counts.
        let _ = stdin.write_all(line.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    let deadline = Instant::now() + COMMAND_LIMIT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("exited with {status}")),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {} s; killed", COMMAND_LIMIT.as_secs()));
            }
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    }
}

/// The final word on a channel that failed at first.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The turn that raised the alert.
    pub turn: u64,
    /// Which channel ([`Channel::name`]).
    pub channel: String,
    /// Whether a retry got it through.
    pub delivered: bool,
    /// Deliveries tried, the first inline one included.
    pub attempts: u32,
    /// The last failure, if it was never delivered.
    pub error: Option<String>,
}

/// What [`Dispatcher::send`] did with one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Every configured channel took it (false when none is configured).
    pub delivered: bool,
    /// Why each failed channel failed.
    pub failures: Vec<String>,
    /// Whether failed channels are being retried (false when none is configured).
    pub retrying: bool,
}

/// A failed channel waiting for its next try.
struct Pending {
    turn: u64,
    channel: Channel,
    line: String,
    attempts: u32,
    backoff: Duration,
    next_at: Instant,
    last_error: String,
}

/// Messages to the retry thread.
enum ToRetry {
    /// A channel to retry.
    Retry(Pending),
}

/// Delivers alerts for one session and owns its retry thread.
pub struct Dispatcher {
    /// The channels and retry timing.
    cfg: AlertsConfig,
    /// Failed channels go here; dropping it tells the thread to finish.
    tx: Option<Sender<ToRetry>>,
    /// Final outcomes come back here.
    outcomes: Receiver<Outcome>,
    /// The retry thread; it returns when `tx` is dropped.
    thread: Option<JoinHandle<()>>,
}

impl Dispatcher {
    /// A dispatcher for `cfg`'s channels; the retry thread starts at once.
    pub fn new(cfg: &AlertsConfig) -> std::io::Result<Dispatcher> {
        let (tx, rx) = mpsc::channel::<ToRetry>();
        let (otx, orx) = mpsc::channel::<Outcome>();
        let max = Duration::from_millis(cfg.retry_max_ms.max(1));
        let thread = std::thread::Builder::new().name("attune-alert-retry".into()).spawn(move || retry_loop(rx, otx, max))?;
        Ok(Dispatcher { cfg: cfg.clone(), tx: Some(tx), outcomes: orx, thread: Some(thread) })
    }

    /// Delivers `alert` (raised on `turn`) to every channel once; failed
    /// channels are retried in the background.
    pub fn send(&self, turn: u64, alert: &serde_json::Value) -> Sent {
        let line = alert.to_string();
        let chans = channels(&self.cfg);
        let mut failures = Vec::new();
        for c in chans.iter() {
            if let Err(e) = c.deliver(&line) {
                failures.push(e.clone());
                let backoff = Duration::from_millis(self.cfg.retry_initial_ms.max(1));
                let p = Pending { turn, channel: c.clone(), line: line.clone(), attempts: 1, backoff, next_at: Instant::now() + backoff, last_error: e };
                if let Some(tx) = &self.tx {
                    let _ = tx.send(ToRetry::Retry(p));
                }
            }
        }
        if chans.is_empty() {
            failures.push("no staff-alert channel is configured ([alerts] file or command)".into());
        }
        Sent { delivered: failures.is_empty(), retrying: !chans.is_empty() && !failures.is_empty(), failures }
    }

    /// Outcomes of retries that ended since the last call (never blocks).
    pub fn drain(&self) -> Vec<Outcome> {
        self.outcomes.try_iter().collect()
    }

    /// Ends retrying: every channel still failing gets one last attempt,
    /// then the remaining outcomes are returned.
    pub fn finish(&mut self) -> Vec<Outcome> {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.outcomes.try_iter().collect()
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        // Without finish() (an error path), the thread still ends: its
        // sender is gone. Nothing waits for it here.
        self.tx.take();
    }
}

fn retry_loop(rx: Receiver<ToRetry>, out: Sender<Outcome>, max: Duration) {
    let mut pending: Vec<Pending> = Vec::new();
    let mut open = true;
    while open || !pending.is_empty() {
        if open {
            let wait = pending.iter().map(|p| p.next_at).min().map(|t| t.saturating_duration_since(Instant::now()));
            let got = match wait {
                Some(w) => rx.recv_timeout(w),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(ToRetry::Retry(p)) => pending.push(p),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        let now = Instant::now();
        let mut still = Vec::new();
        for mut p in pending.drain(..) {
            // Once the session ends every pending channel gets its last try now.
            if open && p.next_at > now {
                still.push(p);
                continue;
            }
            p.attempts += 1;
            match p.channel.deliver(&p.line) {
                Ok(()) => {
                    tracing::warn!("staff alert of turn {} delivered to {} after {} attempts", p.turn, p.channel.name(), p.attempts);
                    let _ = out.send(Outcome { turn: p.turn, channel: p.channel.name(), delivered: true, attempts: p.attempts, error: None });
                }
                Err(e) if open => {
                    p.last_error = e;
                    p.backoff = (p.backoff * 2).min(max);
                    p.next_at = Instant::now() + p.backoff;
                    still.push(p);
                }
                Err(e) => {
                    p.last_error = e;
                    let _ = out.send(Outcome {
                        turn: p.turn,
                        channel: p.channel.name(),
                        delivered: false,
                        attempts: p.attempts,
                        error: Some(p.last_error.clone()),
                    });
                }
            }
        }
        pending = still;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delivers `alert` to every configured channel once; failure messages.
    fn deliver(cfg: &AlertsConfig, alert: &serde_json::Value) -> Vec<String> {
        let line = alert.to_string();
        channels(cfg).iter().filter_map(|c| c.deliver(&line).err()).collect()
    }

    fn cfg(file: Option<PathBuf>, command: Vec<String>) -> AlertsConfig {
        AlertsConfig { file, command, retry_initial_ms: 20, retry_max_ms: 100, ..AlertsConfig::default() }
    }

    #[test]
    fn alerts_are_appended_to_the_file_one_json_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/alerts.jsonl");
        let cfg = cfg(Some(path.clone()), vec![]);
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
        let cfg = cfg(None, vec!["sh".into(), "-c".into(), format!("cat > {}", out.display())]);
        assert!(deliver(&cfg, &serde_json::json!({"risk": "high"})).is_empty());
        // Delivery waits for the command, so the file is there now.
        assert!(std::fs::read_to_string(&out).unwrap().contains("high"));
    }

    #[test]
    fn an_unwritable_file_or_missing_program_is_reported_not_fatal() {
        let cfg = cfg(Some("/proc/attune-cannot-write/alerts.jsonl".into()), vec!["/nonexistent/pager".into()]);
        let f = deliver(&cfg, &serde_json::json!({}));
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].contains("alerts.file"));
        assert!(f[1].contains("/nonexistent/pager"));
    }

    #[test]
    fn a_command_that_exits_non_zero_is_a_failed_delivery() {
        let cfg = cfg(None, vec!["sh".into(), "-c".into(), "cat >/dev/null; exit 3".into()]);
        let f = deliver(&cfg, &serde_json::json!({}));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains("exit status: 3"), "{f:?}");
    }

    #[test]
    fn the_startup_check_finds_unwritable_files_and_missing_or_non_executable_programs() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "a file where a folder should be").unwrap();
        let script = dir.path().join("pager.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let ok = check(&cfg(Some(dir.path().join("new/alerts.jsonl")), vec!["sh".into()]));
        assert!(ok.is_empty(), "{ok:?}");
        let bad = check(&cfg(Some(blocker.join("alerts.jsonl")), vec![script.display().to_string()]));
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].starts_with("alerts.file") && bad[0].contains("not a folder"), "{bad:?}");
        assert!(bad[1].starts_with("alerts.command") && bad[1].contains("not an executable"), "{bad:?}");
        let missing = check(&cfg(None, vec!["attune-no-such-pager-xyz".into()]));
        assert!(missing[0].contains("not found on PATH"), "{missing:?}");
        // Nothing was created by checking.
        assert!(!dir.path().join("new").exists());
    }

    #[test]
    fn required_alerts_refuse_a_start_without_a_working_channel() {
        let mut c = cfg(Some("/proc/attune-cannot-write/a.jsonl".into()), vec![]);
        c.required = true;
        let err = startup_check(&c).unwrap_err();
        assert!(err.contains("alerts.required") && err.contains("alerts.file"), "{err}");
        c.command = vec!["true".into()];
        let warnings = startup_check(&c).unwrap();
        assert_eq!(warnings.len(), 1, "the broken file is still reported: {warnings:?}");
        c.required = false;
        c.file = None;
        c.command.clear();
        assert!(startup_check(&c).unwrap()[0].contains("no staff-alert channel"));
    }

    #[test]
    fn a_failed_channel_is_retried_until_it_works_and_the_outcome_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "x").unwrap();
        let path = blocker.join("alerts.jsonl");
        let d = Dispatcher::new(&cfg(Some(path.clone()), vec![])).unwrap();
        let sent = d.send(4, &serde_json::json!({"turn": 4}));
        assert!(!sent.delivered);
        assert_eq!(sent.failures.len(), 1);
        std::thread::sleep(Duration::from_millis(60));
        std::fs::remove_file(&blocker).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let outcome = loop {
            if let Some(o) = d.drain().pop() {
                break o;
            }
            assert!(Instant::now() < deadline, "no retry outcome");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(outcome.delivered && outcome.turn == 4 && outcome.attempts >= 2, "{outcome:?}");
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"turn\":4"));
        let mut d = d;
        assert!(d.finish().is_empty());
    }

    #[test]
    fn an_alert_still_failing_when_the_session_ends_is_reported_undelivered() {
        let mut d = Dispatcher::new(&cfg(None, vec!["/nonexistent/pager".into()])).unwrap();
        assert!(!d.send(2, &serde_json::json!({})).delivered);
        let out = d.finish();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(!out[0].delivered && out[0].attempts >= 2 && out[0].error.is_some(), "{out:?}");
    }
}
