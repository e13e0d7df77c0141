#!/usr/bin/env bash
# The cargo-fuzz target for the head-link decoder needs nightly to run; on
# stable CI we type-check it so it cannot rot. The fuzz body itself runs on
# stable as a proptest in attune-protocol (part of the nextest suite).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT/fuzz"
cargo check --locked --bins
echo "fuzz-check: fuzz/decode compiles (run it with: cargo +nightly fuzz run decode)"
