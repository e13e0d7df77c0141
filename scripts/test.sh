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

# Design: the Pi check's cross build (checks.d/30-pi-emulated.sh: ~9.5 min
# of a 42-minute cold run when it ran after the suite) starts here, beside
# the host build and the suite, at the lowest CPU priority (SCHED_IDLE and
# nice 19), in its own target dir (a second cargo in target/ would wait on
# the host build's lock). It takes only the CPU the rest leaves idle:
# measured here, the suite kept the 2 cores 74 % busy (5 s samples over its
# 677 s: a third of them under 60 %, while tests wait on paced audio, a
# serial link or a broker), and a cold build has stretches where one crate
# compiles alone. Anything that wants a core gets it first, so the host
# build and the suite's timings are not the cross build's to slow. The Pi
# check then waits for it (or builds itself when run alone);
# ATTUNE_PI_PREBUILD=0 turns this off.
PI_PREBUILD_PID=""
if [ "${ATTUNE_PI_PREBUILD:-1}" = 1 ] && [ -e "$ROOT/scripts/checks.d/30-pi-emulated.sh" ]; then
    export ATTUNE_PI_TARGET_DIR="${ATTUNE_PI_TARGET_DIR:-$ROOT/target/pi-cross}"
    export ATTUNE_PI_PREBUILD_STATE="$ROOT/target/pi-prebuild"
    rm -rf "$ATTUNE_PI_PREBUILD_STATE"
    mkdir -p "$ATTUNE_PI_PREBUILD_STATE"
    LOWEST=(nice -n 19)
    command -v chrt >/dev/null 2>&1 && chrt --idle 0 true 2>/dev/null && LOWEST=(chrt --idle 0 nice -n 19)
    echo "test: starting the Pi cross build in the background (${LOWEST[*]}; log $ATTUNE_PI_PREBUILD_STATE/log)"
    # Its own process group (setsid), so a failing run stops all of it.
    # Design: a new session is also a new scheduler autogroup where the
    # kernel has them (/proc/sys/kernel/sched_autogroup_enabled), and
    # autogroups share the CPU as equals whatever their tasks' nice or
    # policy: the first try, without the next line, gave the cross build half
    # of the machine and the host build took minutes longer. So its
    # autogroup gets nice 19 as well.
    setsid "${LOWEST[@]}" bash -c '{ echo 19 > /proc/self/autogroup; } 2>/dev/null; date +%s > "$1/started"; "$2/scripts/build-pi.sh" --attune-only --quick > "$1/log" 2>&1; rc=$?; date +%s > "$1/finished"; echo "$rc" > "$1/rc"' \
        pi-prebuild "$ATTUNE_PI_PREBUILD_STATE" "$ROOT" &
    PI_PREBUILD_PID=$!
    # Design: an `a && kill` list whose kill fails (the group has already
    # finished, as on every green run) trips set -e inside the trap and
    # turns a passing run's exit status into 1; an if with `|| true` cannot.
    trap 'if [ -n "$PI_PREBUILD_PID" ]; then kill -- -"$PI_PREBUILD_PID" 2>/dev/null || true; fi' EXIT
fi
echo "test: building all binaries and tests"
cargo build --workspace --all-targets --locked
# Design: the crisis layer embeds its ~1,700 exemplar sentences once and
# caches the vectors beside the model; nextest runs every test in its own
# process, and a cold cache would have each of the first ones embed them all
# at once on a 2-core machine. One run of the built binary fills the cache.
echo "test: warming the crisis layer's exemplar vectors"
./target/debug/attune fingerprint >/dev/null 2>&1
# The risk reader trains on ESConv seeker turns as ordinary talk (CC BY-NC,
# read from ATTUNE_ESCONV, never committed); without them there is no reader
# and its tests say so and skip, like the other ESConv checks.
if [ -n "${ATTUNE_ESCONV:-}" ]; then
    echo "test: training the crisis layer's risk reader (once per change to its data; about 7 minutes on 2 cores)"
    ./target/debug/attune risk-reader train
else
    echo "test: ATTUNE_ESCONV not set: no risk reader is trained and its tests skip"
fi
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
