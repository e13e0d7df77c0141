#!/usr/bin/env bash
# The first README command: install everything, then chat with attune on its
# embedded defaults (local SmolLM2 through attune-llm, attuned policy).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
cargo build --release --workspace --bins --locked
# The crisis layer's risk reader is trained here, once (about 7 minutes on
# 2 cores; nothing to do when it is up to date). It needs ESConv (CC BY-NC)
# beside the repository or at ATTUNE_ESCONV; without it attune runs on the
# lexical layer and exemplars and says so at start-up.
source "$ROOT/scripts/services.d/10-esconv.sh"
"$ROOT/target/release/attune" risk-reader train || echo "quickstart: no risk reader (see above); continuing without it" >&2
exec "$ROOT/target/release/attune" chat "$@"
