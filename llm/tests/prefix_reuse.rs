//! Prefix reuse of the KV cache against the real SmolLM2 model in process:
//! a multi-turn conversation gives the same greedy replies with and without
//! reuse, and with reuse each turn decodes only what is new.

use attune_llm::api::{GenParams, Message, Role};
use attune_llm::bench::{SESSION_SYSTEM, SESSION_TURNS};
use attune_llm::engine::{GenEvent, LoadedModel, ModelSpec, Session, PROMPT_CHUNK};
use std::path::PathBuf;

fn model_path() -> PathBuf {
    let home = if let Some(h) = std::env::var_os("ATTUNE_HOME") {
        PathBuf::from(h)
    } else if let Some(x) = std::env::var_os("XDG_DATA_HOME") {
        PathBuf::from(x).join("attune")
    } else {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".local/share/attune")
    };
    let p = home.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(p.is_file(), "the SmolLM2 GGUF is missing at {}: run scripts/setup.sh", p.display());
    p
}

const TURNS: [&str; 4] = [
    "I have been feeling lonely since I moved here for school.",
    "My roommate is never around.",
    "I got a bad grade on my essay too.",
    "Thanks for listening.",
];

/// Runs the conversation; returns each reply and the prompt tokens reused.
fn conversation(s: &mut Session<'_>, reuse: bool) -> Vec<(String, usize, u32)> {
    // Short replies: any real reuse bug (stale or missing cells) changes the
    // first tokens. Long sessions are the next test's.
    let params = GenParams { temperature: 0.0, max_tokens: Some(16), cache_prompt: reuse, ..GenParams::default() };
    let mut msgs = vec![Message { role: Role::System, content: "You are a robot that listens. Reply in one short sentence.".into() }];
    let mut out = Vec::new();
    for t in TURNS {
        msgs.push(Message { role: Role::User, content: t.into() });
        let mut text = String::new();
        let mut prompt = 0;
        let mut sink = |ev: GenEvent| {
            match ev {
                GenEvent::Started { prompt_tokens } => prompt = prompt_tokens,
                GenEvent::Text(x) => text.push_str(&x),
            }
            true
        };
        s.generate(&msgs, &params, &mut sink).expect("generation");
        out.push((text.clone(), s.last_reused_tokens(), prompt));
        msgs.push(Message { role: Role::Assistant, content: text });
    }
    out
}

#[test]
fn prefix_reuse_gives_the_same_greedy_replies_and_decodes_only_the_new_suffix() {
    let model = LoadedModel::load(&ModelSpec { path: model_path(), threads: 1, ctx_size: 2048 }).expect("model loads");
    let mut s = model.session().expect("session");
    let without = conversation(&mut s, false);
    s.clear_cache();
    let with = conversation(&mut s, true);
    for (i, (a, b)) in without.iter().zip(&with).enumerate() {
        assert_eq!(a.0, b.0, "turn {}: replies differ with reuse", i + 1);
        assert_eq!(a.1, 0, "turn {}: nothing is reused when cache_prompt is off", i + 1);
        assert_eq!(a.2, b.2, "same prompt length");
    }
    assert_eq!(with[0].1, 0, "a cleared cache has nothing to reuse");
    for (i, w) in with.iter().enumerate().skip(1) {
        // Everything up to the previous reply is shared; the new part is the
        // reply's end-of-turn marker and the new user turn.
        let prev_prompt = with[i - 1].2 as usize;
        assert!(w.1 >= prev_prompt, "turn {}: reused {} of a {}-token prompt (previous prompt {prev_prompt})", i + 1, w.1, w.2);
        assert!(w.1 < w.2 as usize);
    }
}

fn reply(s: &mut Session<'_>, m: &[Message], params: &GenParams) -> String {
    let mut text = String::new();
    s.generate(m, params, &mut |ev| {
        if let GenEvent::Text(x) = ev {
            text.push_str(&x);
        }
        true
    })
    .expect("generation");
    text
}

#[test]
fn a_different_system_prompt_reuses_nothing_past_the_difference() {
    let model = LoadedModel::load(&ModelSpec { path: model_path(), threads: 1, ctx_size: 2048 }).expect("model loads");
    let mut s = model.session().expect("session");
    let params = GenParams { temperature: 0.0, max_tokens: Some(8), ..GenParams::default() };
    let a = vec![Message { role: Role::System, content: "Alpha rules.".into() }, Message { role: Role::User, content: "Hi.".into() }];
    let b = vec![Message { role: Role::System, content: "Beta rules.".into() }, Message { role: Role::User, content: "Hi.".into() }];
    let b_fresh = reply(&mut s, &b, &params);
    s.clear_cache();
    reply(&mut s, &a, &params);
    let b_after_a = reply(&mut s, &b, &params);
    assert!(s.last_reused_tokens() < 8, "only the template's opening is shared: {}", s.last_reused_tokens());
    assert_eq!(b_fresh, b_after_a, "stale cells after the shared prefix must not leak into the reply");
}

/// Turns of the long session that are run.
const LONG_TURNS: usize = 8;

/// How the cache is treated in a long session.
#[derive(Clone, Copy, PartialEq)]
enum Cache {
    /// `cache_prompt: false`: every turn decodes the whole prompt.
    Off,
    /// Reuse, the cache untouched between turns.
    Reuse,
    /// Reuse, but before turn 7 another conversation (as on a server shared
    /// by several robots) takes the cache.
    ReuseEvicted,
}

fn long_session(s: &mut Session<'_>, cache: Cache) -> (Vec<String>, usize) {
    let params = GenParams {
        temperature: 0.0,
        max_tokens: Some(40),
        cache_prompt: cache != Cache::Off,
        exact_reuse: true,
        repeat_penalty: 1.15,
        ..GenParams::default()
    };
    s.clear_cache();
    let mut msgs = vec![Message { role: Role::System, content: SESSION_SYSTEM.into() }];
    let mut replies = Vec::new();
    let mut reused = 0;
    // Eight of the twelve turns: the plain decoding already differs at
    // turn 3, and each further turn costs seconds without reuse.
    for (i, t) in SESSION_TURNS.iter().take(LONG_TURNS).enumerate() {
        if cache == Cache::ReuseEvicted && i == 6 {
            let other = [Message { role: Role::System, content: "You are a cheerful assistant.".into() }, Message { role: Role::User, content: "Name three colours.".into() }];
            reply(s, &other, &params);
        }
        msgs.push(Message { role: Role::User, content: (*t).into() });
        let text = reply(s, &msgs, &params);
        reused += s.last_reused_tokens();
        assert_eq!(s.last_reused_tokens() % PROMPT_CHUNK, 0, "turn {}: exact reuse ends inside a chunk", i + 1);
        msgs.push(Message { role: Role::Assistant, content: text.trim().to_string() });
        replies.push(text);
    }
    (replies, reused)
}

#[test]
fn with_exact_reuse_a_long_session_gets_the_same_replies_whatever_the_cache_held() {
    // Without `exact_reuse` (the default, as before it existed) this
    // session's replies differ from turn 3 on between decoding whole prompts
    // and reusing the cache ("…your work isn't good enough, especially…" vs
    // "…isn't going well, especially…"): the cells of a token depended on
    // the batch it was decoded in, and a greedy choice at a near-tie flipped.
    let model = LoadedModel::load(&ModelSpec { path: model_path(), threads: 1, ctx_size: 2048 }).expect("model loads");
    let mut s = model.session().expect("session");
    let (off, reused_off) = long_session(&mut s, Cache::Off);
    let (on, reused_on) = long_session(&mut s, Cache::Reuse);
    let (evicted, reused_evicted) = long_session(&mut s, Cache::ReuseEvicted);
    assert_eq!(reused_off, 0);
    assert!(reused_on > 1000, "reuse took only {reused_on} tokens over {LONG_TURNS} turns");
    assert!(reused_evicted < reused_on, "the other conversation took the cache: {reused_evicted} vs {reused_on}");
    assert_eq!(off.len(), LONG_TURNS);
    for i in 0..LONG_TURNS {
        assert_eq!(off[i], on[i], "turn {}: the reply differs with reuse", i + 1);
        assert_eq!(off[i], evicted[i], "turn {}: the reply differs after the cache was taken", i + 1);
    }
    assert!(off.iter().all(|r| !r.trim().is_empty()));
}
