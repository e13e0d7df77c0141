//! Engine overhead per turn, excluding model time.
//!
//! Runs the same scripted reply through (a) the bare streaming client and (b)
//! the full attuned engine (crisis layer, reasoner, policy, per-sentence
//! validation, strategy coding), against the same real loopback HTTP server,
//! and prints both side by side. Also the reflect path (no LLM at all).
//! Run: `cargo bench -p attune-tests --bench engine_overhead`.

use attune_dialogue::config::{LlmMode, PolicyKind};
use attune_dialogue::engine::{Engine, EngineConfig, SessionState};
use attune_dialogue::llm::{Flow, LlmClient};
use attune_tests::sse_server::{Reply, SseServer};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

const TURNS: usize = 200;
const REPLY: &str = "It sounds like the move has left you feeling lonely. What has that been like for you?";
const USER: &str = "I feel so lonely since I moved to this city, and work has been a lot.";

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = SseServer::start(vec![Reply::text(REPLY)]).expect("server");
    let mut cfg = EngineConfig::default();
    cfg.llm.mode = LlmMode::Openai;
    cfg.dialogue.policy = PolicyKind::Attuned;
    cfg.model_id = "bench".into();
    let client = LlmClient::new(&cfg.llm, &server.base_url()).expect("client");
    let engine = Engine::new(cfg.clone(), Some(client.clone()));

    rt.block_on(async {
        // (a) bare client: the time the model path alone takes here.
        let mut bare = Vec::new();
        let msgs = engine.messages(&SessionState::default(), USER, attune_dialogue::policy::Intent::Reflect);
        for _ in 0..TURNS {
            let t = Instant::now();
            let mut cb = |_d: &str| Flow::Continue;
            client.stream_chat(&msgs, &cfg.dialogue.sampling, &CancellationToken::new(), &mut cb).await.expect("bare stream");
            bare.push(t.elapsed().as_secs_f64() * 1e3);
        }
        // (b) full engine, same server and reply.
        let mut full = Vec::new();
        let mut overhead = Vec::new();
        let mut st = SessionState::default();
        for _ in 0..TURNS {
            let t = Instant::now();
            let r = engine.turn(&mut st, USER, None, &CancellationToken::new()).await;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert!(!r.fallback, "bench reply was rejected: {:?}", r.findings);
            full.push(ms);
            overhead.push(ms - r.llm_ms as f64);
            st.history.clear();
        }
        // (c) reflect engine: the whole turn without any LLM.
        let mut rcfg = cfg.clone();
        rcfg.llm.mode = LlmMode::Reflect;
        let reflect = Engine::new(rcfg, None);
        let mut refl = Vec::new();
        let mut st = SessionState::default();
        for _ in 0..TURNS {
            let t = Instant::now();
            reflect.turn(&mut st, USER, None, &CancellationToken::new()).await;
            refl.push(t.elapsed().as_secs_f64() * 1e3);
            st.history.clear();
        }
        println!("engine overhead per turn ({TURNS} turns, loopback SSE server, {} deltas per reply)", attune_tests::sse_server::words(REPLY).len());
        println!("{:<44} {:>10} {:>10}", "", "p50 ms", "p95 ms");
        println!("{:<44} {:>10.3} {:>10.3}", "reference: bare streaming client", pct(&mut bare, 0.5), pct(&mut bare, 0.95));
        println!("{:<44} {:>10.3} {:>10.3}", "attuned engine turn (same server)", pct(&mut full.clone(), 0.5), pct(&mut full, 0.95));
        println!("{:<44} {:>10.3} {:>10.3}", "engine overhead (turn - time in LLM)", pct(&mut overhead.clone(), 0.5), pct(&mut overhead, 0.95));
        println!("{:<44} {:>10.3} {:>10.3}", "reflect engine turn (no LLM)", pct(&mut refl.clone(), 0.5), pct(&mut refl, 0.95));
    });
}
