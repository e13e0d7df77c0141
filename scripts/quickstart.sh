#!/usr/bin/env bash
# The first README command: install everything, then chat with attune on its
# embedded defaults (local SmolLM2 through attune-llm, attuned policy).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
cargo build --release --workspace --bins --locked
exec "$ROOT/target/release/attune" chat "$@"
