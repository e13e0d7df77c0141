//! Time to first token over a 12-turn session on the local model, with and
//! without prefix reuse of the KV cache (prints figures side by side).
//!
//! Each turn sends the whole conversation so far (system prompt, every
//! earlier user turn and the model's own earlier replies), as the dialogue
//! engine does. Without reuse every turn decodes the whole prompt; with
//! reuse only the part after the prefix shared with the previous request.
//! Both again with `exact_reuse` (fixed aligned prompt chunks), whose
//! replies cannot depend on what the cache held.
//!
//!     cargo bench -p attune-llm --bench session_ttft [-- MODEL.gguf]
//!
//! The model defaults to `$ATTUNE_HOME/models` or
//! `~/.local/share/attune/models/SmolLM2-135M-Instruct.Q4_1.gguf`.

use attune_llm::api::{GenParams, Message, Role};
use attune_llm::bench::{SESSION_SYSTEM as SYSTEM, SESSION_TURNS as TURNS};
use attune_llm::engine::{GenEvent, LoadedModel, ModelSpec, Session};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn model_path() -> PathBuf {
    if let Some(p) = std::env::args().skip(1).find(|a| a.ends_with(".gguf")) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("ATTUNE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share/attune"));
    home.join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// One session; returns (time to first token, prompt tokens) per turn and the replies.
fn session(s: &mut Session<'_>, reuse: bool, exact: bool) -> (Vec<(Duration, u32)>, Vec<String>) {
    let params = GenParams { temperature: 0.0, max_tokens: Some(40), cache_prompt: reuse, exact_reuse: exact, repeat_penalty: 1.15, ..GenParams::default() };
    s.clear_cache();
    let mut msgs = vec![Message { role: Role::System, content: SYSTEM.into() }];
    let mut out = Vec::new();
    let mut replies = Vec::new();
    for t in TURNS {
        msgs.push(Message { role: Role::User, content: t.into() });
        let t0 = Instant::now();
        let mut first = None;
        let mut prompt = 0;
        let mut text = String::new();
        let mut sink = |ev: GenEvent| {
            match ev {
                GenEvent::Started { prompt_tokens } => prompt = prompt_tokens,
                GenEvent::Text(x) => {
                    first.get_or_insert_with(|| t0.elapsed());
                    text.push_str(&x);
                }
            }
            true
        };
        if let Err(e) = s.generate(&msgs, &params, &mut sink) {
            eprintln!("generation failed: {e:?}");
            std::process::exit(1);
        }
        out.push((first.unwrap_or_else(|| t0.elapsed()), prompt));
        msgs.push(Message { role: Role::Assistant, content: text.trim().to_string() });
        replies.push(text);
    }
    (out, replies)
}

fn main() {
    let path = model_path();
    let spec = ModelSpec { path: path.clone(), threads: 1, ctx_size: 4096 };
    let model = match LoadedModel::load(&spec) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("session_ttft: {e} (scripts/setup.sh fetches the default model)");
            return;
        }
    };
    let mut s = match model.session() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("session_ttft: {e}");
            return;
        }
    };
    // Warm-up: page the weights in.
    let _ = session(&mut s, false, false);
    let (without, replies_a) = session(&mut s, false, false);
    let (with, replies_b) = session(&mut s, true, false);
    // `exact_reuse`: prompts decoded in fixed aligned chunks, whole chunks
    // reused, so the reply cannot depend on what the cache held.
    let (without_x, replies_c) = session(&mut s, false, true);
    let (with_x, replies_d) = session(&mut s, true, true);
    println!("attune-llm session TTFT: {} | 1 thread | 12 turns, full history, greedy, 40 tokens per reply", path.display());
    println!("{:>5}{:>9}{:>16}{:>14}{:>22}{:>20}", "turn", "prompt", "no reuse (ms)", "reuse (ms)", "exact, no reuse (ms)", "exact reuse (ms)");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for i in 0..TURNS.len() {
        println!("{:>5}{:>9}{:>16.1}{:>14.1}{:>22.1}{:>20.1}", i + 1, with[i].1, ms(without[i].0), ms(with[i].0), ms(without_x[i].0), ms(with_x[i].0));
    }
    let p50 = |v: &[(Duration, u32)]| {
        let mut x: Vec<f64> = v[1..].iter().map(|(d, _)| ms(*d)).collect();
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    };
    println!(
        "turns 2-12 median: no reuse {:.1} ms, reuse {:.1} ms, exact no reuse {:.1} ms, exact reuse {:.1} ms",
        p50(&without),
        p50(&with),
        p50(&without_x),
        p50(&with_x)
    );
    println!("same replies, reuse vs no reuse (greedy): {}", if replies_a == replies_b { "yes" } else { "NO" });
    println!("same replies, exact reuse vs exact no reuse (greedy): {}", if replies_c == replies_d { "yes" } else { "NO" });
    println!("same replies, exact vs plain decoding without reuse: {}", if replies_a == replies_c { "yes" } else { "NO" });
}
