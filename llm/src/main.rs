//! `attune-llm`: serves a GGUF model through llama.cpp on the OpenAI-compatible
//! chat-completions API. `attune-llm bench ...` prints server-vs-direct figures.

use anyhow::Context;
use attune_llm::engine::{spawn_engine, EngineState, LoadError, ModelSpec};
use attune_llm::server::{serve, AppState};
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "attune-llm",
    version,
    about = "Serve a GGUF model on the OpenAI-compatible chat-completions API (SSE streaming)",
    after_help = "Benchmark: attune-llm bench --model PATH (see `attune-llm bench --help`)"
)]
struct ServeArgs {
    /// GGUF model file.
    #[arg(long)]
    model: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port; 0 picks a free one (printed as `listening on http://HOST:PORT`).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// CPU threads for generation.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: u32,
    /// Context window in tokens (prompt + reply).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(64..=1_048_576))]
    ctx_size: u32,
    /// Model name reported by the API (default: the file name without .gguf).
    #[arg(long)]
    model_name: Option<String>,
    /// Requests that may wait while one generates; more get 503 at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    queue: u32,
    /// Exit when stdin closes (set by a supervisor so the server never
    /// outlives it, even after `kill -9` of the supervisor).
    #[arg(long)]
    exit_on_stdin_eof: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ATTUNE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // llama.cpp's own chatter goes through tracing (quiet unless ATTUNE_LOG asks).
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());

    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let result = if argv.get(1).is_some_and(|a| a == "bench") {
        let rest = std::iter::once(std::ffi::OsString::from("attune-llm bench")).chain(argv.into_iter().skip(2));
        attune_llm::bench::run(attune_llm::bench::BenchArgs::parse_from(rest))
    } else {
        run_server(ServeArgs::parse())
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("attune-llm: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_server(args: ServeArgs) -> anyhow::Result<()> {
    if !args.model.is_file() {
        return Err(LoadError::Missing(args.model).into());
    }
    let model_name = args.model_name.clone().unwrap_or_else(|| {
        args.model.file_name().map(|n| n.to_string_lossy().trim_end_matches(".gguf").to_string()).unwrap_or_default()
    });
    let spec = ModelSpec { path: args.model.clone(), threads: args.threads, ctx_size: args.ctx_size };
    // Set by a supervisor (attune) only: the secret this server proves on
    // /health and requires as the bearer token (attune_dialogue::identity).
    let token = std::env::var(attune_dialogue::identity::TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        // Design: this exact line is how a supervisor learns the port (with --port 0).
        let mut out = std::io::stdout();
        writeln!(out, "listening on http://{addr}").context("writing to stdout")?;
        out.flush().context("writing to stdout")?;

        // Design: requests wait for their turn in the server (AppState), which
        // frees a disconnected client's slot at once; the engine's own queue
        // only ever holds the job whose turn it is (plus one whose client
        // left), so it gets room to spare.
        let engine = spawn_engine(spec, args.queue as usize + 2).context("starting the engine thread")?;
        let state = AppState::new(engine.clone(), model_name).with_queue(args.queue as usize).with_token(token);
        let server = tokio::spawn(serve(listener, state, shutdown_signal(args.exit_on_stdin_eof)));
        match engine.loaded().await {
            EngineState::Failed(why) => anyhow::bail!("{why}"),
            _ => tracing::info!("model loaded; serving on http://{addr}"),
        }
        server.await.context("server task")?.context("serving HTTP")
    })
}

/// Resolves on Ctrl-C, SIGTERM, or (if asked) stdin reaching EOF.
async fn shutdown_signal(watch_stdin: bool) {
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
    if watch_stdin {
        // A plain thread: a blocking stdin read must not hold the runtime open.
        let spawned = std::thread::Builder::new().name("stdin-watch".into()).spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
            let _ = eof_tx.send(());
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot watch stdin: {e}");
        }
    }
    let stdin_closed = async {
        if watch_stdin {
            let _ = eof_rx.await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
        _ = stdin_closed => {}
    }
}

