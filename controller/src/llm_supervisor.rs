//! Starts, health-checks and restarts the embedded `attune-llm` server when
//! config says the LLM is local; `attune llm serve` runs it in the foreground.
//!
//! Design: the server is a separate process (llama.cpp and whisper.cpp bundle
//! different ggml builds that cannot link into one binary), so this module
//! only ever talks to it over its command line, stdout line and HTTP.

use anyhow::{bail, Context};
use attune_dialogue::config::{LlmConfig, LocalLlmConfig};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// File name of the default model, in `<data dir>/models/`.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// First wait before restarting a dead server; doubles per quick failure.
const RESTART_BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest wait between restart attempts.
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A server that ran this long before dying restarts at the minimum backoff.
const STABLE_RUN: Duration = Duration::from_secs(30);

#[derive(Debug, Subcommand)]
pub enum LlmCmd {
    /// Serve the configured GGUF on the OpenAI-compatible API (runs `attune-llm`).
    Serve {
        /// Arguments passed through to `attune-llm` (see `attune llm serve --help`
        /// of attune-llm: --model, --host, --port, --threads, --ctx-size,
        /// --model-name). Without --model the default model is served.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub fn run(cmd: LlmCmd) -> anyhow::Result<()> {
    match cmd {
        LlmCmd::Serve { mut args } => {
            let bin = find_llm_binary()?;
            let asks_help = args.iter().any(|a| a == "--help" || a == "-h" || a == "--version" || a == "-V");
            if !asks_help && !args.iter().any(|a| a == "--model" || a.starts_with("--model=")) {
                let model = default_model_path();
                check_model(&model)?;
                args.push("--model".into());
                args.push(model.display().to_string());
            }
            let mut command = std::process::Command::new(&bin);
            command.args(&args);
            // Design: on Unix attune becomes attune-llm (exec), so signals
            // sent to this pid reach the server and no orphan is left behind.
            #[cfg(unix)]
            {
                use std::os::unix::process::CommandExt;
                let err = command.exec();
                Err(err).with_context(|| format!("running {}", bin.display()))
            }
            #[cfg(not(unix))]
            {
                let status = command.status().with_context(|| format!("running {}", bin.display()))?;
                if !status.success() {
                    bail!("attune-llm exited with {status}");
                }
                Ok(())
            }
        }
    }
}

/// `<data dir>/models/SmolLM2-135M-Instruct.Q4_1.gguf`, where scripts/setup.sh puts it.
pub fn default_model_path() -> PathBuf {
    crate::config::data_dir().join("models").join(DEFAULT_MODEL_FILE)
}

/// The GGUF the local server will load: `llm.local.model_path` or the default.
pub fn model_path(local: &LocalLlmConfig) -> PathBuf {
    local.model_path.clone().unwrap_or_else(default_model_path)
}

fn check_model(path: &Path) -> anyhow::Result<()> {
    if !path.is_file() {
        bail!(
            "local LLM model not found at {} (field `llm.local.model_path`); run scripts/setup.sh to fetch \
             the default model, or point llm.local.model_path at a GGUF file",
            path.display()
        );
    }
    Ok(())
}

/// Finds `attune-llm`: `$ATTUNE_LLM_BIN`, next to this executable (or one
/// level up, for test binaries in `target/<profile>/deps`), then on PATH.
pub fn find_llm_binary() -> anyhow::Result<PathBuf> {
    let name = format!("attune-llm{}", std::env::consts::EXE_SUFFIX);
    if let Some(p) = std::env::var_os("ATTUNE_LLM_BIN") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("ATTUNE_LLM_BIN points at {}, which is not a file", p.display());
    }
    let mut tried = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            tried.push(dir.join(&name));
            if dir.file_name().is_some_and(|n| n == "deps") {
                if let Some(up) = dir.parent() {
                    tried.push(up.join(&name));
                }
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        tried.extend(std::env::split_paths(&path).map(|d| d.join(&name)));
    }
    if let Some(found) = tried.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    bail!(
        "cannot find the `attune-llm` binary next to the attune executable or on PATH; \
         build it with `cargo build -p attune-llm` (or `cargo build --workspace --bins`)"
    )
}

/// How to launch the server; the same on every restart.
#[derive(Debug, Clone)]
struct Launch {
    /// The `attune-llm` executable.
    bin: PathBuf,
    /// The GGUF.
    model: PathBuf,
    /// `--threads`.
    threads: u32,
    /// `--ctx-size`.
    ctx_size: u32,
    /// `--model-name`, so responses name the configured model.
    model_name: String,
    /// Secret the child proves on `/health` and requires as bearer token
    /// (passed in its environment, never on its command line).
    token: String,
}

impl Launch {
    /// Spawns the server on `port` (0 = any) and reads the port it bound.
    async fn spawn(&self, port: u16, timeout: Duration) -> anyhow::Result<(Child, u16)> {
        let mut child = Command::new(&self.bin)
            .arg("--model")
            .arg(&self.model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--threads", &self.threads.to_string(), "--ctx-size", &self.ctx_size.to_string()])
            .args(["--model-name", &self.model_name])
            // Design: the child exits when its stdin closes, so it never
            // outlives attune, even if attune is killed with SIGKILL. The
            // pipe's write end stays inside `Child` for the child's life.
            .arg("--exit-on-stdin-eof")
            .env(attune_dialogue::identity::TOKEN_ENV, &self.token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let stdout = child.stdout.take().context("attune-llm stdout was not captured")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = match tokio::time::timeout(timeout, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child.wait().await.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                bail!("attune-llm exited before listening ({status}); see its message above");
            }
            Err(_) => bail!("attune-llm printed no `listening on` line within {} ms", timeout.as_millis()),
        };
        let bound = parse_listening_line(&line)
            .with_context(|| format!("unexpected first line from attune-llm: {line:?}"))?;
        // Keep draining stdout so a stray print can never block the child.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok((child, bound))
    }
}

/// `listening on http://127.0.0.1:40123` → 40123.
fn parse_listening_line(line: &str) -> Option<u16> {
    let url = line.trim().strip_prefix("listening on http://")?;
    url.rsplit_once(':')?.1.trim_end_matches('/').parse().ok()
}

/// What answered `/health` on the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// Our child, ready: it proved the shared secret.
    Ours,
    /// Nothing usable yet (no listener, loading, no answer).
    NotReady,
    /// Something answered 200 without a valid proof: not our child.
    Stranger,
}

/// One `GET /health?challenge=...` over a fresh connection, checking the
/// proof of `token` (see `attune_dialogue::identity`).
async fn health(port: u16, token: &str) -> Health {
    let Ok(challenge) = attune_dialogue::identity::random_hex(16) else { return Health::NotReady };
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let req = format!("GET /health?challenge={challenge} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        // A health answer is small; a stranger streaming forever is cut off.
        s.take(64 * 1024).read_to_end(&mut raw).await.ok()?;
        Some(raw)
    };
    let Ok(Some(raw)) = tokio::time::timeout(Duration::from_secs(2), probe).await else { return Health::NotReady };
    if !raw.starts_with(b"HTTP/1.1 200") {
        return Health::NotReady;
    }
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let proof = serde_json::from_str::<serde_json::Value>(body).ok().and_then(|v| v["proof"].as_str().map(str::to_owned)).unwrap_or_default();
    let want = attune_dialogue::identity::health_proof(token, &challenge);
    if attune_dialogue::identity::constant_time_eq(proof.as_bytes(), want.as_bytes()) {
        Health::Ours
    } else {
        Health::Stranger
    }
}

/// Polls `/health` until our child answers with its proof, the child exits,
/// or `deadline`. A stranger holding the port is refused and logged.
async fn wait_healthy(child: &mut Child, port: u16, token: &str, deadline: Instant) -> anyhow::Result<()> {
    loop {
        match health(port, token).await {
            Health::Ours => return Ok(()),
            Health::Stranger => {
                tracing::error!("port {port} is held by a process that is not the attune-llm this session started (no proof of the shared secret); refusing it");
                bail!("port {port} is held by another process that is not attune-llm; refusing it (set llm.local.port to a free port, or 0)");
            }
            Health::NotReady => {}
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("attune-llm exited during start-up ({status}); see its message above");
        }
        if Instant::now() >= deadline {
            bail!("attune-llm did not report healthy on port {port} within the start-up timeout (llm.local.startup_timeout_ms)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Handle on a supervised local `attune-llm`. Dropping it (or [`shutdown`])
/// stops the server.
///
/// [`shutdown`]: LocalLlm::shutdown
pub struct LocalLlm {
    /// `http://127.0.0.1:PORT/v1`; the port is kept across restarts.
    base_url: String,
    /// Cancelled to make the watchdog kill the child and end.
    stop: CancellationToken,
    /// The watchdog task that owns the child and restarts it.
    watchdog: Option<JoinHandle<()>>,
    /// Pid of the running child, 0 while it is being restarted.
    #[allow(dead_code)] // read through pid(): tests and status displays
    pid: Arc<AtomicU32>,
    /// Restarts so far (for logs and tests).
    #[allow(dead_code)] // read through restarts()
    restarts: Arc<AtomicU32>,
    /// The secret the child proves; clients send it (see [`LocalLlm::token`]).
    token: String,
}

impl LocalLlm {
    /// Starts attune-llm, waits for /health within `llm.local.startup_timeout_ms`,
    /// and spawns a task that restarts it (with backoff, on the same port) if
    /// it dies. Errors clearly if the model file or the binary is missing.
    pub async fn start(cfg: &LlmConfig) -> anyhow::Result<LocalLlm> {
        let local = &cfg.local;
        let model = model_path(local);
        check_model(&model)?;
        let launch = Launch {
            bin: find_llm_binary()?,
            model,
            threads: local.effective_threads(),
            ctx_size: local.ctx_size,
            model_name: cfg.model.clone(),
            token: attune_dialogue::identity::new_secret().context("making the local LLM's secret")?,
        };
        let token = launch.token.clone();
        let startup = Duration::from_millis(local.startup_timeout_ms.max(1));
        let deadline = Instant::now() + startup;
        let (mut child, port) = launch.spawn(local.port, startup).await?;
        if let Err(e) = wait_healthy(&mut child, port, &launch.token, deadline).await {
            let _ = child.kill().await;
            return Err(e);
        }
        let pid = Arc::new(AtomicU32::new(child.id().unwrap_or(0)));
        let restarts = Arc::new(AtomicU32::new(0));
        let stop = CancellationToken::new();
        tracing::info!("local LLM ready on port {port} (pid {})", pid.load(Ordering::Relaxed));
        let watchdog = tokio::spawn(watchdog(child, launch, port, startup, stop.clone(), pid.clone(), restarts.clone()));
        Ok(LocalLlm {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            stop,
            watchdog: Some(watchdog),
            pid,
            restarts,
            token,
        })
    }

    /// The secret a client must see proven before sending anything
    /// (`LlmClient::with_server_token`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// e.g. `http://127.0.0.1:40123/v1`; the same across restarts.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Pid of the running server, `None` while it is being restarted.
    #[allow(dead_code)] // used by tests; part of the handle's API
    pub fn pid(&self) -> Option<u32> {
        match self.pid.load(Ordering::Relaxed) {
            0 => None,
            p => Some(p),
        }
    }

    /// How many times the server has been restarted.
    #[allow(dead_code)] // used by tests; part of the handle's API
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Stops the server and waits until it is gone.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.watchdog.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LocalLlm {
    fn drop(&mut self) {
        // The watchdog kills the child; if the runtime is going away instead,
        // `kill_on_drop` does, and the child's stdin closes either way.
        self.stop.cancel();
    }
}

async fn watchdog(
    mut child: Child,
    launch: Launch,
    port: u16,
    startup: Duration,
    stop: CancellationToken,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
) {
    // Design: tokio's `Child::wait` closes the child's stdin before waiting,
    // which would make a `--exit-on-stdin-eof` server exit at once; the pipe's
    // write end is held here instead, for exactly the child's lifetime.
    let mut _stdin = child.stdin.take();
    let mut backoff = RESTART_BACKOFF_MIN;
    let mut started_at = Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                let _ = child.kill().await;
                pid.store(0, Ordering::Relaxed);
                return;
            }
            status = child.wait() => {
                pid.store(0, Ordering::Relaxed);
                let how = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                if started_at.elapsed() >= STABLE_RUN {
                    backoff = RESTART_BACKOFF_MIN;
                }
                tracing::warn!("local LLM server exited ({how}); restarting on port {port}");
            }
        }
        // Restart until it comes up healthy or we are told to stop.
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(RESTART_BACKOFF_MAX);
            let attempt = async {
                let (mut c, _) = launch.spawn(port, startup).await?;
                if let Err(e) = wait_healthy(&mut c, port, &launch.token, Instant::now() + startup).await {
                    let _ = c.kill().await;
                    return Err(e);
                }
                anyhow::Ok(c)
            };
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = attempt => r,
            };
            match result {
                Ok(c) => {
                    child = c;
                    _stdin = child.stdin.take();
                    started_at = Instant::now();
                    pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
                    restarts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("local LLM server restarted on port {port}");
                    break;
                }
                Err(e) => {
                    if health(port, &launch.token).await == Health::Stranger {
                        tracing::error!(
                            "port {port} is now held by a process that is not our attune-llm; it is refused and gets no participant text"
                        );
                    }
                    tracing::warn!("restarting the local LLM server failed: {e:#}; retrying in {} ms", backoff.as_millis())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_yields_the_port() {
        assert_eq!(parse_listening_line("listening on http://127.0.0.1:40123\n"), Some(40123));
        assert_eq!(parse_listening_line("listening on http://[::1]:8080"), Some(8080));
        assert_eq!(parse_listening_line("hello"), None);
        assert_eq!(parse_listening_line("listening on http://127.0.0.1:notaport"), None);
    }

    #[test]
    fn the_default_model_lives_under_the_data_dir() {
        let local = LocalLlmConfig::default();
        assert!(model_path(&local).ends_with("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
        let set = LocalLlmConfig { model_path: Some("/x/y.gguf".into()), ..LocalLlmConfig::default() };
        assert_eq!(model_path(&set), PathBuf::from("/x/y.gguf"));
    }

    #[tokio::test]
    async fn a_missing_model_file_is_an_error_naming_the_path_and_setup_script() {
        let mut cfg = LlmConfig::default();
        cfg.local.model_path = Some("/nonexistent/attune/model.gguf".into());
        let err = match LocalLlm::start(&cfg).await {
            Ok(_) => panic!("start succeeded without a model"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains("/nonexistent/attune/model.gguf"), "{err}");
        assert!(err.contains("scripts/setup.sh"), "{err}");
    }

    /// The real default model, or a failure that says how to get it.
    fn real_model() -> PathBuf {
        let p = default_model_path();
        assert!(p.is_file(), "the SmolLM2 GGUF is missing at {}: run scripts/setup.sh", p.display());
        p
    }

    /// One HTTP/1.1 request over a fresh connection; (status, body).
    async fn http(port: u16, method: &str, path: &str, body: &str, token: &str) -> std::io::Result<(u16, String)> {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Authorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        Ok((status, body))
    }

    fn port_of(base_url: &str) -> u16 {
        base_url
            .trim_end_matches("/v1")
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {base_url}"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_supervisor_restarts_a_killed_server_on_the_same_base_url() {
        let mut cfg = LlmConfig::default();
        cfg.local.model_path = Some(real_model());
        cfg.local.ctx_size = 512;
        cfg.local.threads = 1;
        cfg.local.startup_timeout_ms = 30_000;
        let llm = LocalLlm::start(&cfg).await.expect("local LLM starts");
        let base = llm.base_url();
        assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/v1"), "{base}");
        let port = port_of(&base);
        let first_pid = llm.pid().expect("a running child");
        // A healthy server stays up on its own (no restart loop).
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!((llm.restarts(), llm.pid()), (0, Some(first_pid)), "the server did not stay up before the kill");

        let status = std::process::Command::new("kill").args(["-9", &first_pid.to_string()]).status().expect("kill runs");
        assert!(status.success());

        let deadline = Instant::now() + Duration::from_secs(30);
        while llm.restarts() == 0 {
            assert!(Instant::now() < deadline, "the server was not restarted within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(llm.base_url(), base);
        let second_pid = llm.pid().unwrap_or_else(|| panic!("no running child after {} restart(s)", llm.restarts()));
        assert_ne!(second_pid, first_pid);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!((llm.restarts(), llm.pid()), (1, Some(second_pid)), "the restarted server did not stay up");

        let body = r#"{"messages":[{"role":"user","content":"Say hi."}],"max_tokens":4,"temperature":0}"#;
        let (status, _) = http(port, "POST", "/v1/chat/completions", body, "wrong-token").await.expect("request without the secret");
        assert_eq!(status, 401, "a request without the supervisor's secret is refused");
        let token = llm.token().to_string();
        let (status, reply) = http(port, "POST", "/v1/chat/completions", body, &token).await.expect("request after restart");
        assert_eq!(status, 200, "{reply}");
        let v: serde_json::Value = serde_json::from_str(&reply).expect("JSON reply");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], cfg.model);

        llm.shutdown().await;
        let gone = Instant::now() + Duration::from_secs(5);
        while health(port, &token).await != Health::NotReady {
            assert!(Instant::now() < gone, "server still answering after shutdown");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stranger_holding_the_port_after_the_child_died_is_refused_and_hears_nothing() {
        use attune_dialogue::llm::{ChatMessage, Flow, LlmClient, LlmError};
        use std::io::{Read, Write};
        let mut cfg = LlmConfig::default();
        cfg.local.model_path = Some(real_model());
        cfg.local.ctx_size = 512;
        cfg.local.threads = 1;
        cfg.local.startup_timeout_ms = 30_000;
        cfg.first_token_timeout_ms = 20_000;
        cfg.total_timeout_ms = 30_000;
        let llm = LocalLlm::start(&cfg).await.expect("local LLM starts");
        let port = port_of(&llm.base_url());
        let client = LlmClient::new(&cfg, &llm.base_url()).unwrap().with_server_token(llm.token());
        let params = attune_dialogue::config::SamplingParams { max_tokens: 4, temperature: 0.0, ..Default::default() };
        let cancel = tokio_util::sync::CancellationToken::new();
        let hello = [ChatMessage::new("user", "Say hi.")];
        client.stream_chat(&hello, &params, &cancel, &mut |_| Flow::Continue).await.expect("the real child proves itself and answers");

        // The child dies; another local process takes its port first.
        let pid = llm.pid().expect("a running child");
        assert!(std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
        let bind_deadline = Instant::now() + Duration::from_secs(5);
        let stranger = loop {
            match std::net::TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) => {
                    assert!(Instant::now() < bind_deadline, "could not take the port: {e}");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        let heard = Arc::new(std::sync::Mutex::new(String::new()));
        let heard2 = heard.clone();
        std::thread::spawn(move || {
            // Answers 200 {"status":"ok"} to everything, as a naive server would.
            for conn in stranger.incoming() {
                let Ok(mut c) = conn else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_millis(300)));
                let mut buf = [0u8; 65536];
                let n = c.read(&mut buf).unwrap_or(0);
                heard2.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                let body = r#"{"status":"ok"}"#;
                let _ = write!(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });

        let secret_words = [ChatMessage::new("system", "PERSONA-PROMPT"), ChatMessage::new("user", "my private words")];
        match client.stream_chat(&secret_words, &params, &cancel, &mut |_| Flow::Continue).await {
            Err(LlmError::Untrusted { reason, .. }) => assert!(reason.contains("not the attune-llm"), "{reason}"),
            other => panic!("expected the stranger to be refused, got {other:?}"),
        }
        assert_eq!(health(port, llm.token()).await, Health::Stranger);
        let heard = heard.lock().unwrap().clone();
        assert!(heard.contains("GET /health?challenge="), "the stranger was only asked for a proof: {heard}");
        assert!(!heard.contains("private words") && !heard.contains("PERSONA-PROMPT"), "participant text reached the stranger: {heard}");
        assert!(!heard.contains(llm.token()) && !heard.contains("POST"), "the stranger got a request or the secret: {heard}");
        llm.shutdown().await;
    }
}
