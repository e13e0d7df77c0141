//! Launching `attune` against a test broker: chat sessions (interactive over
//! stdin, or from a script file), the staff tools (`attune bus cmd | ack`)
//! and `attune bus monitor` as a running process whose lines are collected.
//! The robot connects as user `robot` (password in `ATTUNE_TEST_BUS_PW`, see
//! [`crate::mosquitto::write_config`]), staff as user `staff`.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variable the test config names in `bus.password_env`.
pub const ROBOT_PW_ENV: &str = "ATTUNE_TEST_BUS_PW";

/// Collects a child's pipe line by line on a thread.
fn collect(pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b2 = buf.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Ok(mut s) = b2.lock() {
                s.push_str(&l);
                s.push('\n');
            }
        }
    });
    buf
}

fn text(buf: &Arc<Mutex<String>>) -> String {
    buf.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Waits up to `limit` for a child to exit; kills it and returns `None` after that.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let end = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st.code().unwrap_or(-1));
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `attune chat --script - --llm reflect` with stdin kept open; each turn
/// report (a JSON line on stdout) arrives on a channel.
pub struct Chat {
    /// The attune process.
    pub child: Child,
    /// Its stdin (the participant's lines); `None` once closed.
    pub stdin: Option<ChildStdin>,
    /// Turn reports, in order.
    pub lines: mpsc::Receiver<Value>,
    stderr: Arc<Mutex<String>>,
}

impl Chat {
    /// Starts a chat session for `participant` with the robot's password `robot_pw`.
    pub fn start(config: &Path, participant: &str, robot_pw: &str) -> Chat {
        let mut child = Command::new(crate::attune_bin())
            .args(["chat", "--script", "-", "--llm", "reflect", "--participant", participant, "--config"])
            .arg(config)
            .env(ROBOT_PW_ENV, robot_pw)
            .env("ATTUNE_LOG", "warn,bus=info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("attune chat");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = collect(child.stderr.take().expect("stderr"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&l) {
                    let _ = tx.send(v);
                }
            }
        });
        Chat { stdin: child.stdin.take(), child, lines: rx, stderr }
    }

    /// Writes one participant line without waiting for its report.
    pub fn send(&mut self, text: &str) {
        let w = self.stdin.as_mut().expect("stdin open");
        writeln!(w, "{text}").expect("write turn");
        w.flush().expect("flush");
    }

    /// Waits for the next turn report.
    pub fn report(&mut self) -> Value {
        self.lines.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("no turn report; stderr:\n{}", self.stderr()))
    }

    /// Sends one participant line and waits for its turn report.
    pub fn turn(&mut self, text: &str) -> Value {
        self.send(text);
        self.report()
    }

    /// Everything attune wrote on stderr so far.
    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }

    /// Closes stdin and waits (30 s) for the exit code; returns it with stderr.
    pub fn finish(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let code = wait_exit(&mut self.child, Duration::from_secs(30)).unwrap_or_else(|| panic!("attune chat did not exit; stderr:\n{}", self.stderr()));
        std::thread::sleep(Duration::from_millis(100));
        (code, self.stderr())
    }
}

/// `attune chat --llm reflect --script SCRIPT --config CONFIG` as the robot
/// (right password), with `--participant` when given; waits for it.
pub fn chat_script(config: &Path, participant: Option<&str>, script: &Path) -> Output {
    let mut c = Command::new(crate::attune_bin());
    c.args(["chat", "--llm", "reflect", "--script"]).arg(script).arg("--config").arg(config).env(ROBOT_PW_ENV, "robot-pw").env("ATTUNE_LOG", "warn,bus=info");
    if let Some(p) = participant {
        c.args(["--participant", p]);
    }
    c.output().expect("attune chat")
}

/// `attune bus ARGS --username staff --password-env STAFF_PW --config CONFIG`
/// (ARGS include `--by` where the tool needs it); waits for it.
pub fn staff(config: &Path, args: &[&str]) -> Output {
    Command::new(crate::attune_bin())
        .arg("bus")
        .args(args)
        .args(["--username", "staff", "--password-env", "STAFF_PW", "--config"])
        .arg(config)
        .env("STAFF_PW", "staff-pw")
        .output()
        .expect("attune bus")
}

/// `attune bus monitor` as the staff user, running; its JSON lines are collected.
pub struct Monitor {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<String>>,
}

impl Monitor {
    /// Starts it with `extra` flags and waits (10 s) until it is subscribed.
    pub fn start(config: &Path, extra: &[&str]) -> Monitor {
        let mut child = Command::new(crate::attune_bin())
            .args(["bus", "monitor", "--username", "staff", "--password-env", "STAFF_PW", "--config"])
            .arg(config)
            .args(extra)
            .env("STAFF_PW", "staff-pw")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("attune bus monitor");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = collect(child.stderr.take().expect("stderr"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l2 = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                // A line that is not JSON is kept as a string (the tests check every line is an object).
                let v = serde_json::from_str(&l).unwrap_or(Value::String(l));
                if let Ok(mut all) = l2.lock() {
                    all.push(v);
                }
            }
        });
        let m = Monitor { child, lines, stderr };
        let end = Instant::now() + Duration::from_secs(10);
        while !m.stderr().contains("attune: monitoring") {
            assert!(Instant::now() < end, "bus monitor never subscribed: {}", m.stderr());
            std::thread::sleep(Duration::from_millis(10));
        }
        m
    }

    /// The lines printed so far (`{"topic", "retain", "payload"}`).
    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }

    /// Waits until `pred` holds on the lines (or `limit` passes); returns them.
    pub fn wait_for(&self, limit: Duration, pred: impl Fn(&[Value]) -> bool) -> Result<Vec<Value>, Vec<Value>> {
        let end = Instant::now() + limit;
        loop {
            let v = self.lines();
            if pred(&v) {
                return Ok(v);
            }
            if Instant::now() >= end {
                return Err(v);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Ends it with SIGINT (as Ctrl-C) and returns its exit code and stderr.
    pub fn interrupt(mut self) -> (Option<i32>, String) {
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        let code = wait_exit(&mut self.child, Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(100));
        (code, self.stderr())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
