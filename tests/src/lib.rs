//! Shared helpers for attune's end-to-end tests (the tests live in `tests/tests/`).
//!
//! # Layout
//! - [`sse_server`] — a real HTTP server speaking the OpenAI streaming API, scripted per request.
//! - [`mosquitto`] — a real mosquitto broker on a free port, and an MQTT subscriber.
//! - [`bus_schema`] — checks bus messages against docs/bus-schema.json.
//! - [`bus_session`] — attune sessions, staff tools and `attune bus monitor` against a test broker.
//! - [`webdriver`] — a small WebDriver client for headless chromium (the web front's tests).
//! - [`workspace_root`], [`attune_bin`] — locating the built binaries.

pub mod bus_schema;
pub mod bus_session;
pub mod mosquitto;
pub mod sse_server;
pub mod webdriver;
pub mod weblab;

use std::path::PathBuf;

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Path of a workspace binary in the target dir of the running test profile
/// (`target/debug/NAME`). `scripts/test.sh` builds all binaries before the
/// suite; the error says so if one is missing.
pub fn bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    // Test executables live in target/<profile>/deps; binaries one level up.
    let profile_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(|d| d.parent()).map(PathBuf::from))
        .unwrap_or_else(|| target.join("debug"));
    let p = profile_dir.join(name);
    assert!(p.is_file(), "{} is missing: build it first with `cargo build --workspace --bins`", p.display());
    p
}

/// Path of the `attune` binary.
pub fn attune_bin() -> PathBuf {
    bin("attune")
}

/// Kills a head simulator process and removes its link, as unplugging a USB
/// serial adapter removes its device node.
///
/// Design: a SIGKILLed simulator cannot remove its own symlink, and the
/// kernel soon gives its pseudo-terminal's number to another test's
/// simulator; a controller still reconnecting to the stale link (the
/// reconnect tests) then opened *that* simulator's pty, and two tests'
/// frames met on one head (CRC errors, a move that never arrived, a lock
/// refused). Tests run in parallel, so every kill goes through here.
pub fn kill_sim(child: &mut std::process::Child, link: &std::path::Path) {
    let _ = child.kill();
    let _ = child.wait();
    if std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) {
        let _ = std::fs::remove_file(link);
    }
}

/// A head simulator (`attune head sim --link LINK`) run as its own process
/// on a real pseudo-terminal. Dropping it, or [`SimProcess::kill`], kills it
/// through [`kill_sim`], so its link never outlives it.
pub struct SimProcess {
    child: std::process::Child,
    link: PathBuf,
}

impl SimProcess {
    /// Starts the simulator (`extra` are more `attune head sim` flags) and
    /// waits up to 10 s for its link to lead to a pseudo-terminal.
    pub fn start(link: &std::path::Path, extra: &[&str]) -> SimProcess {
        let sim = SimProcess::spawn(link, extra);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !link.exists() {
            assert!(std::time::Instant::now() < deadline, "the head simulator did not create {}", link.display());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        sim
    }

    /// Starts the simulator without waiting for its link (a test of what
    /// waits for the head).
    pub fn spawn(link: &std::path::Path, extra: &[&str]) -> SimProcess {
        let child = std::process::Command::new(attune_bin())
            .args(["head", "sim", "--link"])
            .arg(link)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawning the head simulator (attune head sim)");
        SimProcess { child, link: link.to_path_buf() }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills it and removes its link (a pulled cable). Idempotent.
    pub fn kill(&mut self) {
        kill_sim(&mut self.child, &self.link);
    }

    /// Asks it to stop (SIGTERM, as a service manager does) and waits; a
    /// simulator stopped this way removes its own link.
    pub fn terminate(&mut self) {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
