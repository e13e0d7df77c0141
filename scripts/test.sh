#!/usr/bin/env bash
# The second README command: the same set-up as quickstart, then the whole
# test suite. CI (.ci/run) calls exactly this.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

# Services some tests need (audio server, broker, ...): each script in
# services.d is sourced, starts its service if absent, and may export
# variables for the tests.
for s in "$ROOT"/scripts/services.d/*.sh; do
    [ -e "$s" ] || continue
    echo "test: service $(basename "$s")"
    # shellcheck disable=SC1090
    source "$s"
done

# Design: --all-targets resolves features with dev-dependencies, exactly as
# the test run does, so the suite reuses these artefacts instead of
# rebuilding shared crates with other features. The end-to-end tests run the
# built `attune` and `attune-llm` binaries.
# Design: CI builds from a fresh clone, where incremental compilation only
# costs (it writes query caches nobody reads again and splits each workspace
# crate into more codegen units). Off unless the caller set it; the cross
# build in checks.d inherits it.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "test: building all binaries and tests"
cargo build --workspace --all-targets --locked
# Design: the crisis layer embeds its ~1,700 exemplar sentences once and
# caches the vectors beside the model; nextest runs every test in its own
# process, and a cold cache would have each of the first ones embed them all
# at once on a 2-core machine. One run of the built binary fills the cache.
echo "test: warming the crisis layer's exemplar vectors"
./target/debug/attune fingerprint >/dev/null
echo "test: running the suite"
cargo nextest run --workspace --locked --no-fail-fast

# Extra checks that are not cargo tests of the host workspace (cross builds,
# fuzz smoke runs): each script in checks.d must exit non-zero on failure.
for c in "$ROOT"/scripts/checks.d/*.sh; do
    [ -e "$c" ] || continue
    echo "test: check $(basename "$c")"
    bash "$c"
done
echo "test: all green"
