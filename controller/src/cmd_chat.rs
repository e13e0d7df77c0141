//! `attune chat` (the chatbot arm) and `attune fingerprint`.

use crate::engine_args::EngineArgs;
use crate::runner::{self, Ctx, EngineCmd, Transport};
use crate::session::{engine_config, resolve, ChatSession};
use anyhow::Context;
use attune_speech::voice_loop::{ReplyEvent, Utterance};
use clap::Args;
use futures_util::future::LocalBoxFuture;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use tokio::sync::mpsc;

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// One participant turn per line (`-` = stdin); prints one JSON object per turn.
    #[arg(long)]
    pub script: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct FingerprintArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Also print the canonical description that is hashed (JSON).
    #[arg(long)]
    pub explain: bool,
}

/// Longest input line read, in bytes; the rest of a longer line is discarded
/// (the engine then caps it further at `dialogue.max_input_chars`).
const MAX_LINE_BYTES: usize = 1 << 20;

/// One line read from the participant.
enum Line {
    /// A line (lossily decoded if it was not UTF-8).
    Text(String),
    /// End of input.
    Eof,
    /// Reading failed.
    Error(std::io::Error),
}

/// Reads bounded lines on a plain thread (stdin and files block) and hands
/// them over a small bounded channel; when it is full the reader waits.
fn spawn_reader(input: Box<dyn Read + Send>) -> mpsc::Receiver<Line> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(input);
        loop {
            let line = match read_bounded_line(&mut r) {
                Ok(None) => Line::Eof,
                Ok(Some(bytes)) => Line::Text(String::from_utf8_lossy(&bytes).into_owned()),
                Err(e) => Line::Error(e),
            };
            let end = !matches!(line, Line::Text(_));
            if tx.blocking_send(line).is_err() || end {
                break;
            }
        }
    });
    rx
}

/// Reads up to a newline, keeping at most `MAX_LINE_BYTES`. `None` at EOF.
fn read_bounded_line(r: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut saw_any = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(if saw_any { Some(out) } else { None });
        }
        saw_any = true;
        let (chunk, found) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        let room = MAX_LINE_BYTES.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = found.map(|i| i + 1).unwrap_or(buf.len());
        r.consume(used);
        if found.is_some() {
            if out.last() == Some(&b'\r') {
                out.pop();
            }
            return Ok(Some(out));
        }
    }
}

pub fn run_chat(a: ChatArgs) -> anyhow::Result<()> {
    run_chat_matched(a, None)
}

/// `attune chat` with a study's latency matching (the study's chatbot arm).
pub fn run_chat_matched(a: ChatArgs, latency_matching: Option<crate::pacing::LatencyMatching>) -> anyhow::Result<()> {
    let input: Box<dyn Read + Send> = match &a.script {
        None => Box::new(std::io::stdin()),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin()),
        Some(p) => Box::new(std::fs::File::open(p).with_context(|| format!("cannot open script {}", p.display()))?),
    };
    let mut resolved = resolve(&a.engine)?;
    resolved.latency_matching = latency_matching;
    let transport = TextTransport { input: Some(input), scripted: a.script.is_some(), name: String::new() };
    runner::run(resolved, "chatbot", Box::new(transport))
}

/// The chatbot arm's transport: lines in, sentences (interactive) or one
/// JSON object per turn (scripted) out.
struct TextTransport {
    /// The participant's lines (taken when the transport starts).
    input: Option<Box<dyn Read + Send>>,
    /// `--script`: JSON per turn, no prompts.
    scripted: bool,
    /// The robot's name, for the interactive prompt.
    name: String,
}

impl Transport for TextTransport {
    fn opened(&mut self, session: &ChatSession) -> anyhow::Result<()> {
        self.name = session.config().dialogue.robot_name.clone();
        if !self.scripted {
            eprintln!("attune: chatting with {} (engine {}). Type your message; Ctrl-D or Ctrl-C to end.", self.name, session.fingerprint());
        }
        Ok(())
    }

    fn run(mut self: Box<Self>, ctx: Ctx) -> LocalBoxFuture<'static, anyhow::Result<()>> {
        let input = self.input.take();
        Box::pin(async move {
            let Some(input) = input else { return Ok(()) };
            let Ctx { cmds, mut replies, shutdown, done, .. } = ctx;
            let _done = done;
            let scripted = self.scripted;
            let name = self.name.to_lowercase();
            let mut lines = spawn_reader(input);
            let mut id = 0u64;
            loop {
                if !scripted {
                    print!("you> ");
                    std::io::stdout().flush().ok();
                }
                let line = tokio::select! {
                    l = lines.recv() => l.unwrap_or(Line::Eof),
                    _ = shutdown.cancelled() => { if !scripted { println!(); } Line::Eof }
                };
                let text = match line {
                    Line::Eof => break,
                    Line::Error(e) => anyhow::bail!("reading input: {e}"),
                    Line::Text(t) => t,
                };
                if !scripted && text.trim().is_empty() {
                    continue;
                }
                id += 1;
                cmds.send(EngineCmd::Turn(Utterance { id, text })).await.map_err(|_| anyhow::anyhow!("the dialogue engine stopped"))?;
                // Print sentences as they are released, like speech would.
                let mut first = true;
                loop {
                    match replies.recv().await {
                        Some(ReplyEvent::Sentence { text: s, .. }) if !scripted => {
                            if first {
                                print!("{name}> {s}");
                                first = false;
                            } else {
                                print!(" {s}");
                            }
                            std::io::stdout().flush().ok();
                        }
                        Some(ReplyEvent::Sentence { .. }) => {}
                        Some(ReplyEvent::Done { report, .. }) => {
                            if scripted {
                                let mut out = std::io::stdout().lock();
                                serde_json::to_writer(&mut out, &report)?;
                                out.write_all(b"\n")?;
                                out.flush()?;
                            } else if !first {
                                println!();
                            }
                            break;
                        }
                        Some(ReplyEvent::Failed { error, .. }) => {
                            if !first {
                                println!();
                            }
                            // Staff ended the session (bus `stop`): the line
                            // is not answered and the session ends normally.
                            if error == runner::STOPPED_BY_STAFF {
                                return Ok(());
                            }
                            anyhow::bail!("{error}");
                        }
                        None => anyhow::bail!("the dialogue engine stopped"),
                    }
                }
            }
            Ok(())
        })
    }
}

pub fn run_fingerprint(a: FingerprintArgs) -> anyhow::Result<()> {
    let r = resolve(&a.engine)?;
    let ec = engine_config(&r.cfg);
    // The same semantic layer a session would load, so the fingerprints agree.
    let layer = crate::risk_model::load(&r.cfg.crisis);
    println!("{}", attune_dialogue::fingerprint::fingerprint_with(&ec, &layer));
    if a.explain {
        println!("{}", serde_json::to_string_pretty(&attune_dialogue::fingerprint::canonical_with(&ec, &layer))?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reader_caps_a_huge_line_and_keeps_the_next_one() {
        let mut data = vec![b'a'; MAX_LINE_BYTES + 5000];
        data.extend_from_slice(b"\nsecond\r\nthird");
        let mut r = std::io::BufReader::with_capacity(1000, &data[..]);
        assert_eq!(read_bounded_line(&mut r).unwrap().unwrap().len(), MAX_LINE_BYTES);
        assert_eq!(read_bounded_line(&mut r).unwrap().unwrap(), b"second");
        assert_eq!(read_bounded_line(&mut r).unwrap().unwrap(), b"third");
        assert!(read_bounded_line(&mut r).unwrap().is_none());
    }

    #[test]
    fn bounded_reader_keeps_empty_lines_as_turns() {
        let mut r = std::io::BufReader::new(&b"\n\nx\n"[..]);
        assert_eq!(read_bounded_line(&mut r).unwrap().unwrap(), b"");
        assert_eq!(read_bounded_line(&mut r).unwrap().unwrap(), b"");
        assert_eq!(read_bounded_line(&mut r).unwrap().unwrap(), b"x");
        assert!(read_bounded_line(&mut r).unwrap().is_none());
    }
}
