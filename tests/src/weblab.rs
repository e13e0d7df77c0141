//! A study folder served by a real `attune web` process: the fixture of the
//! web front's end-to-end tests and bench.

use crate::attune_bin;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A sandboxed study (its own ATTUNE_HOME and allocation keys) and, once
/// [`WebLab::serve`] ran, the web server on a free port (killed on drop).
pub struct WebLab {
    /// Temp folder holding everything.
    pub dir: tempfile::TempDir,
    /// The study folder.
    pub study: PathBuf,
    /// Base URL of the server.
    pub base: String,
    server: Option<Child>,
    /// The server's stderr lines (after the ready line).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl WebLab {
    /// A new study from the shipped example protocol (15 days, 4 arms) with
    /// this site config (e.g. `[llm]\nmode = "reflect"\n`).
    pub fn new(site_toml: &str) -> WebLab {
        Self::with_protocol(site_toml, None)
    }

    /// Like [`WebLab::new`] with this protocol text (`study init --protocol`)
    /// instead of the shipped example.
    pub fn with_protocol(site_toml: &str, protocol: Option<&str>) -> WebLab {
        let dir = tempfile::tempdir().expect("tempdir");
        let site = dir.path().join("site.toml");
        std::fs::write(&site, site_toml).expect("site.toml");
        let study = dir.path().join("study");
        let port = crate::webdriver::free_port();
        let lab = WebLab { dir, study, base: format!("http://127.0.0.1:{port}"), server: None, log: Default::default() };
        let mut args = vec!["study", "init", "--study", lab.study_str(), "--config", site.to_str().expect("utf-8 path")];
        let pfile = lab.dir.path().join("protocol.toml");
        if let Some(text) = protocol {
            std::fs::write(&pfile, text).expect("protocol.toml");
            args.extend(["--protocol", pfile.to_str().expect("utf-8 path")]);
        }
        lab.ok(&args);
        lab
    }

    /// The shipped example protocol with `[latency_matching]` enabled at
    /// these values (ms, ms per character, ms).
    pub fn matched_protocol(first_sentence_min_ms: u64, ms_per_char: u64, max_hold_ms: u64) -> String {
        let example = std::fs::read_to_string(crate::workspace_root().join("config").join("study.example.toml")).expect("config/study.example.toml");
        let (head, tail) = example.split_once("[latency_matching]").expect("the example protocol has a [latency_matching] table");
        // The table's own lines end at the next blank line.
        let rest = tail.split_once("\n\n").map(|(_, r)| r).unwrap_or("");
        format!(
            "{head}[latency_matching]\nenabled = true\nfirst_sentence_min_ms = {first_sentence_min_ms}\nms_per_char = {ms_per_char}\nmax_hold_ms = {max_hold_ms}\n\n{rest}"
        )
    }

    /// The study folder as a string.
    pub fn study_str(&self) -> &str {
        self.study.to_str().expect("utf-8 path")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(attune_bin());
        c.args(args).env("ATTUNE_HOME", self.dir.path().join("home")).env("ATTUNE_STUDY_KEYS", self.dir.path().join("keys")).env_remove("ATTUNE_LOG");
        c
    }

    /// Runs attune; the output whatever the exit.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("running attune")
    }

    /// Runs attune, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "attune {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Enrols participants `PREFIX0..` until one lands in `arm`; returns its id.
    pub fn enroll_into(&self, arm: &str, prefix: &str) -> String {
        // Two blocks: eight in a row can straddle a block boundary without its slot.
        for i in 0..16 {
            let p = format!("{prefix}{i}");
            let out = self.ok(&["study", "enroll", "--study", self.study_str(), "--participant", &p]);
            let v: serde_json::Value = serde_json::from_str(out.trim()).expect("enroll JSON");
            if v["arm"] == arm {
                return p;
            }
        }
        panic!("no {arm} slot in two blocks of 8");
    }

    /// A participant's link for a day (printed by `attune study link`).
    pub fn link(&self, participant: &str, day: u32) -> String {
        let d = day.to_string();
        self.ok(&["study", "link", "--study", self.study_str(), "--participant", participant, "--day", &d, "--base", &self.base]).trim().to_string()
    }

    /// Adds a staff account with `attune web user add ... --password-stdin`.
    pub fn add_user(&self, name: &str, role: &str, password: &str) {
        let mut c = self.cmd(&["web", "user", "add", "--study", self.study_str(), "--name", name, "--role", role, "--password-stdin"]);
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("attune web user add");
        child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("writing the password");
        let o = child.wait_with_output().expect("attune web user add");
        assert!(o.status.success(), "web user add failed: {}", String::from_utf8_lossy(&o.stderr));
    }

    /// Starts `attune web` (with `extra` flags) and waits until it listens.
    pub fn serve(&mut self, extra: &[&str]) {
        let bind = self.base.trim_start_matches("http://").to_string();
        let mut args = vec!["web", "--study", self.study_str(), "--bind", &bind];
        args.extend_from_slice(extra);
        let mut child = self.cmd(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("starting attune web");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            let mut ready = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("web front for") {
                    if let Some(t) = ready.take() {
                        let _ = t.send(());
                    }
                }
                if let Ok(mut l) = log.lock() {
                    l.push(line);
                }
            }
        });
        self.server = Some(child);
        let t0 = Instant::now();
        while rx.recv_timeout(Duration::from_millis(200)).is_err() {
            if let Some(Ok(Some(st))) = self.server.as_mut().map(|c| c.try_wait()) {
                panic!("attune web exited ({st}): {:?}", self.log.lock().map(|l| l.clone()).unwrap_or_default());
            }
            assert!(t0.elapsed() < Duration::from_secs(120), "attune web did not start listening in 120 s");
        }
    }

    /// Signs a staff member in over plain HTTP; returns the `attune_staff` cookie (`name=value`).
    pub async fn staff_cookie(&self, user: &str, password: &str) -> String {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("http client");
        let r = http.get(format!("{}/staff/login", self.base)).send().await.expect("GET /staff/login");
        let login = r.headers()["set-cookie"].to_str().expect("cookie").split(';').next().unwrap_or_default().to_string();
        let page = r.text().await.expect("login page");
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|x| x.split('"').next()).expect("csrf field").to_string();
        let r = http
            .post(format!("{}/staff/login", self.base))
            .header("Cookie", login)
            .form(&[("username", user), ("password", password), ("csrf", &csrf)])
            .send()
            .await
            .expect("POST /staff/login");
        assert_eq!(r.status().as_u16(), 303, "sign-in of {user} failed");
        r.headers()["set-cookie"].to_str().expect("cookie").split(';').next().unwrap_or_default().to_string()
    }

    /// Where test artefacts (screenshots) go: `target/web-artefacts/`.
    pub fn artefacts() -> PathBuf {
        let p = crate::workspace_root().join("target").join("web-artefacts");
        let _ = std::fs::create_dir_all(&p);
        p
    }
}

impl WebLab {
    /// Stops the server with SIGTERM (it closes its chats like Ctrl-C) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.server.take() {
            // SIGTERM: the server closes its chats like Ctrl-C.
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for WebLab {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Saves a PNG under the artefacts folder.
pub fn save_png(name: &str, png: &[u8]) -> PathBuf {
    let p = WebLab::artefacts().join(format!("{name}.png"));
    std::fs::write(&p, png).expect("writing a screenshot");
    p
}

/// Whether `p` exists and is a PNG.
pub fn is_png(p: &Path) -> bool {
    std::fs::read(p).map(|b| b.starts_with(b"\x89PNG")).unwrap_or(false)
}
