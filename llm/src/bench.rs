//! `attune-llm bench`: time to first token and tokens/s through the server
//! over HTTP + SSE, side by side with direct in-process generation on the same
//! model in the same run, and the ratio between them.
//!
//! Design: both sides run the same [`Session::generate`] code with greedy
//! sampling and the same prompt, so they generate the same tokens; runs are
//! interleaved (direct, HTTP, direct, ...) so drift in machine load hits both.
//! The server is this same binary started as a child process, as in
//! deployment.

use crate::api::{GenParams, Message, Role};
use crate::engine::{GenEvent, LoadedModel, ModelSpec, Outcome, Session};
use anyhow::{bail, Context};
use clap::Parser;
use futures_util::StreamExt;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `attune-llm bench` arguments.
#[derive(Debug, Parser)]
#[command(about = "Tokens/s and time to first token: server over HTTP vs in-process llama.cpp")]
pub struct BenchArgs {
    /// GGUF model file.
    #[arg(long)]
    pub model: PathBuf,
    /// CPU threads (both sides).
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// Context window (both sides).
    #[arg(long, default_value_t = 2048)]
    pub ctx_size: u32,
    /// Tokens generated per run.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: u32,
    /// Measured runs per side (after one warm-up each).
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
}

/// One measured generation.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// Request sent → first text received.
    ttft: Duration,
    /// Request sent → reply complete.
    total: Duration,
    /// Tokens generated.
    tokens: u32,
    /// Templated prompt length.
    prompt_tokens: u32,
}

impl Run {
    /// Tokens/s after the first token (decode speed as the client sees it).
    fn decode_rate(&self) -> f64 {
        let span = self.total.saturating_sub(self.ttft).as_secs_f64();
        if self.tokens <= 1 || span <= 0.0 {
            return 0.0;
        }
        f64::from(self.tokens - 1) / span
    }
    /// Tokens/s from request to last token.
    fn overall_rate(&self) -> f64 {
        f64::from(self.tokens) / self.total.as_secs_f64().max(1e-9)
    }
}

fn bench_messages() -> Vec<Message> {
    vec![
        Message { role: Role::System, content: "You are a storyteller.".into() },
        Message { role: Role::User, content: "Tell me a long story about a lighthouse keeper and a robot.".into() },
    ]
}

fn direct_run(session: &mut Session<'_>, params: &GenParams) -> anyhow::Result<Run> {
    let t0 = Instant::now();
    let mut first: Option<Duration> = None;
    let mut sink = |ev: GenEvent| {
        if matches!(ev, GenEvent::Text(_)) && first.is_none() {
            first = Some(t0.elapsed());
        }
        true
    };
    let outcome = session.generate(&bench_messages(), params, &mut sink).map_err(|e| anyhow::anyhow!("{e}"))?;
    let total = t0.elapsed();
    let usage = match outcome {
        Outcome::Finished { usage, .. } => usage,
        Outcome::Cancelled { .. } => bail!("direct generation was cancelled"),
    };
    Ok(Run { ttft: first.unwrap_or(total), total, tokens: usage.completion_tokens, prompt_tokens: usage.prompt_tokens })
}

async fn http_run(client: &reqwest::Client, base: &str, max_tokens: u32) -> anyhow::Result<Run> {
    let body = serde_json::json!({
        "model": "bench",
        "stream": true,
        "temperature": 0.0,
        "max_tokens": max_tokens,
        "ignore_eos": true,
        "cache_prompt": false,
        "messages": bench_messages().iter().map(|m| serde_json::json!({"role": m.role.as_str(), "content": m.content})).collect::<Vec<_>>(),
    });
    let t0 = Instant::now();
    let resp = client.post(format!("{base}/v1/chat/completions")).json(&body).send().await?;
    if !resp.status().is_success() {
        bail!("server answered {}: {}", resp.status(), resp.text().await.unwrap_or_default());
    }
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut first: Option<Duration> = None;
    let mut tokens: Option<u32> = None;
    let mut prompt_tokens = 0;
    while let Some(chunk) = stream.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let Some(data) = event.trim().strip_prefix("data: ") else { continue };
            if data == "[DONE]" {
                let total = t0.elapsed();
                let tokens = tokens.context("stream ended without a usage figure")?;
                return Ok(Run { ttft: first.unwrap_or(total), total, tokens, prompt_tokens });
            }
            let v: serde_json::Value = serde_json::from_str(data).context("bad SSE data")?;
            let text = v["choices"][0]["delta"]["content"].as_str().unwrap_or("");
            if !text.is_empty() && first.is_none() {
                first = Some(t0.elapsed());
            }
            if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
                tokens = Some(n as u32);
                prompt_tokens = v["usage"]["prompt_tokens"].as_u64().unwrap_or(0) as u32;
            }
        }
    }
    bail!("stream ended without [DONE]")
}

/// The server child; killed when dropped.
struct ServerChild(Child);

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(args: &BenchArgs) -> anyhow::Result<(ServerChild, String)> {
    let exe = std::env::current_exe().context("locating this binary")?;
    let mut child = Command::new(exe)
        .arg("--model")
        .arg(&args.model)
        .args(["--port", "0", "--threads", &args.threads.to_string(), "--ctx-size", &args.ctx_size.to_string()])
        .arg("--exit-on-stdin-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the server child")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let child = ServerChild(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).context("reading the server's listening line")?;
    let base = line.trim().strip_prefix("listening on ").context("server did not print its address")?.to_string();
    Ok((child, base))
}

/// Runs the benchmark and prints the table.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let spec = ModelSpec { path: args.model.clone(), threads: args.threads, ctx_size: args.ctx_size };
    // The same prompt every run: the prompt cache is off on both sides so
    // each run decodes the whole prompt (prefix reuse has its own bench).
    let params = GenParams { temperature: 0.0, max_tokens: Some(args.max_tokens), ignore_eos: true, cache_prompt: false, ..GenParams::default() };
    let model = LoadedModel::load(&spec)?;
    let mut session = model.session()?;

    let (_server, base) = start_server(&args)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = reqwest::Client::new();
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = client.get(format!("{base}/health")).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("server at {base} not healthy within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })?;

    // Warm-up: page in weights and caches on both sides.
    direct_run(&mut session, &params)?;
    rt.block_on(http_run(&client, &base, args.max_tokens))?;
    let mut direct = Vec::new();
    let mut http = Vec::new();
    for _ in 0..args.runs.max(1) {
        direct.push(direct_run(&mut session, &params)?);
        http.push(rt.block_on(http_run(&client, &base, args.max_tokens))?);
    }

    let med = |runs: &[Run], f: &dyn Fn(&Run) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        v[v.len() / 2]
    };
    let ttft = |r: &Run| r.ttft.as_secs_f64() * 1000.0;
    let dec = |r: &Run| r.decode_rate();
    let all = |r: &Run| r.overall_rate();
    let toks = |r: &Run| f64::from(r.tokens);
    println!(
        "attune-llm bench: {} | threads {} | ctx {} | max_tokens {} | {} runs each (median) | prompt {} tokens",
        args.model.display(),
        args.threads,
        args.ctx_size,
        args.max_tokens,
        direct.len(),
        direct[0].prompt_tokens
    );
    if direct[0].prompt_tokens != http[0].prompt_tokens {
        println!("warning: prompt lengths differ (direct {}, server {})", direct[0].prompt_tokens, http[0].prompt_tokens);
    }
    println!("{:<26}{:>12}{:>16}{:>16}{:>10}", "", "TTFT ms", "decode tok/s", "overall tok/s", "tokens");
    for (name, runs) in [("direct (in-process)", &direct), ("server (HTTP + SSE)", &http)] {
        println!(
            "{:<26}{:>12.1}{:>16.1}{:>16.1}{:>10.0}",
            name,
            med(runs, &ttft),
            med(runs, &dec),
            med(runs, &all),
            med(runs, &toks)
        );
    }
    println!(
        "{:<26}{:>11.2}x{:>15.3}x{:>15.3}x",
        "ratio server/direct",
        med(&http, &ttft) / med(&direct, &ttft).max(1e-9),
        med(&http, &dec) / med(&direct, &dec).max(1e-9),
        med(&http, &all) / med(&direct, &all).max(1e-9)
    );
    println!(
        "server overhead: TTFT +{:.1} ms",
        med(&http, &ttft) - med(&direct, &ttft)
    );
    Ok(())
}

/// System prompt of the scripted 12-turn session that the session bench
/// and the prefix-reuse test run (the engine's kind of prompt).
pub const SESSION_SYSTEM: &str = "Robin is a small robot that listens. Robin is not a person, not a doctor and not a therapist. \
Write Robin's next reply to the user. Rules for the reply: Use one to three short sentences. \
Repeat back what the user said, in other words. Ask one open question about what the user said.";

/// The participant's turns of that session.
pub const SESSION_TURNS: [&str; 12] = [
    "I have been feeling really lonely since I moved here for school.",
    "My parents keep fighting on the phone and I feel stuck in the middle.",
    "I got a really disappointing grade on my first essay.",
    "I studied for two weeks and still got a D.",
    "Nobody in my dorm talks to me.",
    "I tried joining a club but I felt awkward.",
    "My roommate is never around.",
    "I keep thinking I should just go home.",
    "My mum says I should give it more time.",
    "I don't know if I can.",
    "Maybe I will call my old friend tonight.",
    "Thanks for listening.",
];
