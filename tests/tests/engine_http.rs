//! The dialogue engine against a real HTTP server speaking the streaming API:
//! streaming, validation and rewrite, fallbacks, deadlines and retries.

use attune_dialogue::config::{LlmMode, PolicyKind};
use attune_dialogue::crisis::Risk;
use attune_dialogue::engine::{Engine, EngineConfig, EngineEvent, ReplySource, SessionState};
use attune_dialogue::llm::LlmClient;
use attune_dialogue::policy::Intent;
use attune_dialogue::validator::Flag;
use attune_tests::sse_server::{Reply, SseServer};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn engine(server_url: &str, policy: PolicyKind) -> Engine {
    engine_in(LlmMode::Openai, server_url, policy)
}

/// The engine with the LLM in `mode` (`Local` is the embedded model, with
/// strict grounding).
fn engine_in(mode: LlmMode, server_url: &str, policy: PolicyKind) -> Engine {
    let mut cfg = EngineConfig::default();
    cfg.llm.mode = mode;
    cfg.llm.base_url = server_url.to_string();
    cfg.llm.first_token_timeout_ms = 800;
    cfg.llm.total_timeout_ms = 3_000;
    cfg.llm.connect_timeout_ms = 500;
    cfg.dialogue.policy = policy;
    cfg.model_id = "test".into();
    let client = LlmClient::new(&cfg.llm, server_url).expect("client");
    Engine::new(cfg, Some(client))
}

async fn turn(e: &Engine, st: &mut SessionState, text: &str) -> attune_dialogue::engine::TurnResult {
    e.turn(st, text, None, &CancellationToken::new()).await
}

/// A turn with its events watched: the result and the sentences released.
async fn turn_released(e: &Engine, st: &mut SessionState, text: &str) -> (attune_dialogue::engine::TurnResult, Vec<String>) {
    let (tx, mut rx) = mpsc::channel(16);
    let r = e.turn(st, text, Some(&tx), &CancellationToken::new()).await;
    drop(tx);
    let mut released = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let EngineEvent::Sentence(s) = ev {
            released.push(s);
        }
    }
    (r, released)
}

#[tokio::test]
async fn exact_reuse_is_asked_of_the_embedded_server_only_when_configured() {
    let server = SseServer::start(vec![Reply::text("That sounds hard."), Reply::text("That sounds hard."), Reply::text("That sounds hard.")]).unwrap();
    let url = server.base_url();
    let mut sent = Vec::new();
    for (mode, exact) in [(LlmMode::Local, true), (LlmMode::Local, false), (LlmMode::Openai, true)] {
        let mut cfg = EngineConfig::default();
        cfg.llm.mode = mode;
        cfg.llm.local.exact_reuse = exact;
        cfg.llm.first_token_timeout_ms = 800;
        cfg.llm.total_timeout_ms = 3_000;
        cfg.model_id = "test".into();
        let e = Engine::new(cfg.clone(), Some(LlmClient::new(&cfg.llm, &url).expect("client")));
        let mut st = SessionState::default();
        let r = turn(&e, &mut st, "My week was long.").await;
        assert_eq!(r.source, ReplySource::Llm, "{r:?}");
        let req = server.requests.lock().unwrap().last().unwrap().clone();
        sent.push(req.get("exact_reuse").cloned());
    }
    assert_eq!(sent, vec![Some(serde_json::json!(true)), None, None]);
}

const DISCLOSURE: &str = "I feel so lonely since I moved to this city.";

#[tokio::test]
async fn a_streamed_attuned_reply_is_released_sentence_by_sentence() {
    let server = SseServer::start(vec![Reply::text("It sounds like the move has left you feeling lonely. What has that been like for you?")]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let (tx, mut rx) = mpsc::channel(8);
    let r = e.turn(&mut st, DISCLOSURE, Some(&tx), &CancellationToken::new()).await;
    drop(tx);
    let mut events = Vec::new();
    while let Some(ev) = rx.recv().await {
        events.push(ev);
    }
    assert_eq!(r.source, ReplySource::Llm, "{r:?}");
    assert!(!r.fallback);
    assert_eq!(r.rewrites, 0);
    assert!(matches!(events[0], EngineEvent::Analysed { .. }));
    let sentences: Vec<_> = events.iter().filter_map(|e| if let EngineEvent::Sentence(s) = e { Some(s.clone()) } else { None }).collect();
    assert_eq!(sentences, vec!["It sounds like the move has left you feeling lonely.", "What has that been like for you?"]);
    assert_eq!(r.reply, sentences.join(" "));
    // The request carried the persona, the intent and the participant's words.
    let req = server.requests.lock().unwrap()[0].clone();
    let msgs = req["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    assert!(msgs[0]["content"].as_str().unwrap().contains("robot"));
    assert_eq!(msgs.last().unwrap()["content"], DISCLOSURE);
    assert_eq!(req["stream"], true);
}

#[tokio::test]
async fn unsolicited_advice_is_caught_and_rewritten_once() {
    let server = SseServer::start(vec![
        Reply::text("You should join a club to meet new people."),
        Reply::text("Moving somewhere new and feeling lonely sounds hard. What do you miss most?"),
    ])
    .unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let r = turn(&e, &mut st, DISCLOSURE).await;
    assert_eq!(r.rewrites, 1, "{r:?}");
    assert!(r.flags().contains(&Flag::UnsolicitedAdvice), "{:?}", r.flags());
    assert_eq!(r.source, ReplySource::Llm);
    assert!(!r.reply.to_lowercase().contains("you should"), "{}", r.reply);
    assert_eq!(server.request_count(), 2);
    // The rewrite request told the model what was wrong.
    let req = server.requests.lock().unwrap()[1].clone();
    let last = req["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_string();
    assert!(last.contains("You should join a club"), "{last}");
}

#[tokio::test]
async fn a_draft_still_flagged_after_the_rewrite_falls_back_to_reflection() {
    let server = SseServer::start(vec![Reply::text("Don't worry, you should just go out more.")]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let r = turn(&e, &mut st, DISCLOSURE).await;
    assert_eq!(r.rewrites, 1);
    assert!(r.fallback);
    assert_eq!(r.source, ReplySource::Reflect);
    assert!(!r.reply.is_empty());
    assert!(!r.reply.to_lowercase().contains("don't worry"));
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn the_assistant_policy_passes_advice_through_unvalidated() {
    let server = SseServer::start(vec![Reply::text("You should join a club to meet new people. Don't worry, it gets better.")]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Assistant);
    let mut st = SessionState::default();
    let r = turn(&e, &mut st, DISCLOSURE).await;
    assert_eq!(r.rewrites, 0);
    assert!(r.findings.is_empty());
    assert_eq!(r.reply, "You should join a club to meet new people. Don't worry, it gets better.");
    let req = server.requests.lock().unwrap()[0].clone();
    assert_eq!(req["messages"][0]["content"], "You are a helpful assistant.");
}

#[tokio::test]
async fn a_crisis_turn_never_reaches_the_llm_under_either_policy() {
    for policy in [PolicyKind::Attuned, PolicyKind::Assistant] {
        let server = SseServer::start(vec![Reply::text("You should sleep on it.")]).unwrap();
        let e = engine(&server.base_url(), policy);
        let mut st = SessionState::default();
        let r = turn(&e, &mut st, "I want to kill myself tonight, I have the pills ready.").await;
        assert!(r.crisis.risk >= Risk::High, "{:?}", r.crisis);
        assert_eq!(r.decision.intent, Intent::Crisis);
        assert_eq!(r.source, ReplySource::Protocol);
        assert!(r.reply.contains("988"), "{}", r.reply);
        assert_eq!(server.request_count(), 0);
        // A single denial does not clear it, and still no LLM.
        let r2 = turn(&e, &mut st, "never mind, I'm fine").await;
        assert!(r2.crisis.crisis_active);
        assert_eq!(server.request_count(), 0);
        assert!(r2.reply.contains("988"), "{}", r2.reply);
    }
}

#[tokio::test]
async fn a_server_that_never_answers_is_cut_off_at_the_first_token_deadline() {
    let server = SseServer::start(vec![Reply::Stall(Duration::from_secs(20))]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let t0 = std::time::Instant::now();
    let r = turn(&e, &mut st, DISCLOSURE).await;
    // Deadline is 800 ms (one retry shares it); allow generous scheduling slack.
    assert!(t0.elapsed() < Duration::from_secs(5), "took {:?}", t0.elapsed());
    assert!(r.fallback);
    assert_eq!(r.source, ReplySource::Reflect);
    assert!(r.llm_error.as_deref().unwrap_or("").contains("first_token_timeout"), "{:?}", r.llm_error);
}

#[tokio::test]
async fn a_dropped_connection_before_the_first_token_is_retried() {
    let server = SseServer::start(vec![Reply::Drop, Reply::text("That sounds lonely. What has the move been like?")]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let r = turn(&e, &mut st, DISCLOSURE).await;
    assert_eq!(server.request_count(), 2);
    assert!(!r.fallback, "{r:?}");
    assert_eq!(r.source, ReplySource::Llm);
}

#[tokio::test]
async fn a_stream_cut_after_a_sentence_keeps_what_was_released_and_is_not_retried() {
    let server = SseServer::start(vec![Reply::Cut(attune_tests::sse_server::words("That sounds really lonely. What do you"))]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let r = turn(&e, &mut st, DISCLOSURE).await;
    assert_eq!(server.request_count(), 1, "no retry after the first token");
    assert!(r.reply.starts_with("That sounds really lonely."), "{}", r.reply);
    assert!(!r.fallback);
}

#[tokio::test]
async fn a_draft_cut_by_the_total_deadline_is_never_shown_as_if_finished() {
    // "I am a" arrives at once, then the server stalls past the 3 s total deadline.
    let server = SseServer::start(vec![Reply::StreamThenStall(attune_tests::sse_server::words("I am a"), Duration::from_secs(8))]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let (r, released) = turn_released(&e, &mut st, DISCLOSURE).await;
    assert!(r.fallback, "{r:?}");
    assert_eq!(r.source, ReplySource::Reflect);
    assert!(!r.reply.contains("I am a"), "{}", r.reply);
    assert!(released.iter().all(|s| !s.contains("I am a")), "{released:?}");
    assert!(r.llm_error.as_deref().is_some_and(|e| e.starts_with("total_timeout")), "{:?}", r.llm_error);
}

#[tokio::test]
async fn a_sentence_repeated_from_the_last_reply_is_rewritten() {
    let same = "It sounds like the move has been lonely. What has it been like?";
    let server = SseServer::start(vec![Reply::text(same), Reply::text(same), Reply::text("Which part of the day feels emptiest?")]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let r1 = turn(&e, &mut st, DISCLOSURE).await;
    assert_eq!(r1.reply, same);
    let r2 = turn(&e, &mut st, "Yeah, it is really lonely here in the evenings.").await;
    assert!(r2.flags().contains(&Flag::Repetition), "{:?}", r2.findings);
    assert_eq!(r2.rewrites, 1);
    assert_eq!(r2.reply, "Which part of the day feels emptiest?");
}

#[tokio::test]
async fn an_unreachable_server_gives_a_reflective_fallback() {
    // Bind then drop a listener: the port is closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = engine(&format!("http://127.0.0.1:{port}/v1"), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let r = turn(&e, &mut st, DISCLOSURE).await;
    assert!(r.fallback);
    assert!(r.llm_error.as_deref().unwrap_or("").starts_with("connect"), "{:?}", r.llm_error);
    assert!(!r.reply.is_empty());
}

#[tokio::test]
async fn a_server_error_status_gives_a_fallback_with_the_status_logged() {
    let server = SseServer::start(vec![Reply::Status(503)]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let r = turn(&e, &mut st, DISCLOSURE).await;
    assert!(r.fallback);
    assert!(r.llm_error.as_deref().unwrap_or("").contains("503"), "{:?}", r.llm_error);
}

#[tokio::test]
async fn long_replies_are_stopped_at_the_sentence_cap() {
    let long = "That sounds hard. Moving is a lot. New places take time. You named loneliness. That matters. What stands out most?";
    let server = SseServer::start(vec![Reply::text(long)]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let r = turn(&e, &mut st, DISCLOSURE).await;
    assert!(r.sentences.len() <= e.config().validator.max_sentences as usize, "{:?}", r.sentences);
    assert!(r.truncated);
}

#[tokio::test]
async fn history_is_sent_with_later_turns() {
    let server = SseServer::start(vec![Reply::text("That sounds lonely. What is the city like?")]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    turn(&e, &mut st, DISCLOSURE).await;
    turn(&e, &mut st, "It's big and loud and I don't know anyone.").await;
    let req = server.requests.lock().unwrap()[1].clone();
    let msgs = req["messages"].as_array().unwrap();
    assert!(msgs.iter().any(|m| m["content"] == DISCLOSURE), "{msgs:?}");
}

/// A caller that cancels the turn while the LLM is writing (the participant
/// went on before hearing the reply) ends the writing: the server sees the
/// stream closed, the sentence released before stands, nothing is written in
/// place of the rest, and the cancellation is not an LLM error. The same
/// stall without the cancel ends in the fallback (the control).
#[tokio::test]
async fn a_turn_cancelled_while_the_llm_writes_keeps_what_was_released_and_writes_nothing_more() {
    let stall = Duration::from_secs(20);
    let script = || Reply::StreamThenStall(vec!["A double shift is a lot of hours. ".into(), "It".into(), " seems".into()], stall);
    let server = SseServer::start(vec![script(), script()]).unwrap();
    let with_deadline = |ms: u64| {
        let mut cfg = EngineConfig::default();
        cfg.llm.mode = LlmMode::Openai;
        cfg.llm.base_url = server.base_url();
        cfg.llm.first_token_timeout_ms = 5_000;
        cfg.llm.total_timeout_ms = ms;
        cfg.llm.retries = 0;
        cfg.dialogue.policy = PolicyKind::Attuned;
        cfg.model_id = "test".into();
        let client = LlmClient::new(&cfg.llm, &server.base_url()).expect("client");
        Engine::new(cfg, Some(client))
    };
    let deadline = Duration::from_secs(12);
    let e = with_deadline(deadline.as_millis() as u64);
    let (tx, mut rx) = mpsc::channel::<EngineEvent>(16);
    let cancel = CancellationToken::new();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if matches!(ev, EngineEvent::Sentence(_)) {
                    cancel.cancel();
                }
            }
        })
    };
    let mut st = SessionState::default();
    let t0 = std::time::Instant::now();
    let r = e.turn(&mut st, "I worked a double shift again.", Some(&tx), &cancel).await;
    drop(tx);
    watcher.await.unwrap();
    assert!(r.stopped, "{r:?}");
    assert_eq!(r.sentences, vec!["A double shift is a lot of hours.".to_string()], "{r:?}");
    assert_eq!(r.reply, "A double shift is a lot of hours.");
    assert!(!r.fallback && r.llm_error.is_none(), "{r:?}");
    assert_eq!(r.source, ReplySource::Llm);
    // Not a speed goal: ended by the cancel, not by the 12 s deadline.
    assert!(t0.elapsed() < deadline / 2, "the turn waited for the deadline: {:?}", t0.elapsed());
    // The server notices the closed stream within its 50 ms polling.
    for _ in 0..100 {
        if !server.hangups.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*server.hangups.lock().unwrap(), vec![0]);

    // Control: nobody cancels; a total deadline (1.5 s) ends the stream.
    let mut st = SessionState::default();
    let r = turn(&with_deadline(1_500), &mut st, "I worked a double shift again.").await;
    assert!(!r.stopped, "{r:?}");
    assert!(r.llm_error.is_some(), "{r:?}");
}

/// A connection that closes mid-sentence without [DONE] (a server that
/// died, a proxy that dropped it) is a cut reply, not a finished one: its
/// unfinished words are never shown, the fallback answers and the error is
/// logged. A last sentence that did end before the cut stands.
#[tokio::test]
async fn a_stream_cut_without_done_mid_sentence_is_never_shown_as_if_finished() {
    let server = SseServer::start(vec![Reply::Cut(attune_tests::sse_server::words("It sounds"))]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let r = turn(&e, &mut st, DISCLOSURE).await;
    assert!(r.fallback, "{r:?}");
    assert_eq!(r.source, ReplySource::Reflect);
    assert!(!r.reply.starts_with("It sounds.") && r.reply != "It sounds", "{}", r.reply);
    assert!(r.llm_error.as_deref().is_some_and(|e| e.starts_with("stream") && e.contains("[DONE]")), "{:?}", r.llm_error);

    let server = SseServer::start(vec![Reply::Cut(attune_tests::sse_server::words("That sounds really lonely."))]).unwrap();
    let e = engine(&server.base_url(), PolicyKind::Attuned);
    let r = turn(&e, &mut SessionState::default(), DISCLOSURE).await;
    assert_eq!(r.reply, "That sounds really lonely.", "{r:?}");
    assert!(!r.fallback && r.llm_error.is_none(), "{r:?}");
}

const LONG_TIME: &str = "My wife died four years ago. It feels like forever.";

#[tokio::test]
async fn a_first_sentence_that_only_sets_the_scene_is_held_until_the_reply_acts() {
    let server = SseServer::start(vec![Reply::text("Four years feels like forever. How have you been since?")]).unwrap();
    let e = engine_in(LlmMode::Local, &server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let (r, sentences) = turn_released(&e, &mut st, LONG_TIME).await;
    assert_eq!(r.source, ReplySource::Llm, "{r:?}");
    assert!(!r.fallback && r.rewrites == 0, "{r:?}");
    assert_eq!(sentences, vec!["Four years feels like forever.", "How have you been since?"]);
}

#[tokio::test]
async fn a_reply_that_never_acts_is_not_released_and_the_fallback_answers() {
    let server = SseServer::start(vec![Reply::text("Four years feels like forever."), Reply::text("Four years feels like forever.")]).unwrap();
    let e = engine_in(LlmMode::Local, &server.base_url(), PolicyKind::Attuned);
    let mut st = SessionState::default();
    let (r, sentences) = turn_released(&e, &mut st, LONG_TIME).await;
    assert!(r.fallback, "{r:?}");
    assert_eq!(r.source, ReplySource::Reflect);
    assert!(r.flags().contains(&Flag::Ungrounded), "{:?}", r.flags());
    assert!(!sentences.iter().any(|s| s == "Four years feels like forever."), "the held sentence was spoken: {sentences:?}");
}
