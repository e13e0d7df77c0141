#!/usr/bin/env bash
# Builds the Raspberry Pi Pico head firmware (firmware/pico, its own cargo
# workspace) for thumbv6m-none-eabi. Fails loudly when the target is missing
# instead of skipping: a green CI must mean the board binary builds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if ! rustup target list --installed 2>/dev/null | grep -q '^thumbv6m-none-eabi$'; then
    echo "firmware-pico: Rust target thumbv6m-none-eabi is not installed; trying rustup target add" >&2
    if ! rustup target add thumbv6m-none-eabi; then
        echo "firmware-pico: FAILED: cannot add thumbv6m-none-eabi, the Pico board binary was NOT built" >&2
        exit 1
    fi
fi
cd "$ROOT/firmware/pico"
cargo build --release --locked
ELF="target/thumbv6m-none-eabi/release/attune-head-pico"
if [ ! -s "$ELF" ]; then
    echo "firmware-pico: FAILED: $ELF missing after the build" >&2
    exit 1
fi
# boot2 must sit at the start of flash (0x10000000) and the vector table
# right after it, or the RP2040 boot ROM will not start the binary.
if command -v readelf >/dev/null 2>&1; then
    SECTIONS="$(readelf -SW "$ELF")"
    echo "$SECTIONS" | grep -Eq '\.boot2 +PROGBITS +10000000 ' \
        || { echo "firmware-pico: FAILED: .boot2 not at 0x10000000" >&2; exit 1; }
    echo "$SECTIONS" | grep -Eq '\.vector_table +PROGBITS +10000100 ' \
        || { echo "firmware-pico: FAILED: .vector_table not at 0x10000100" >&2; exit 1; }
fi
echo "firmware-pico: built $(stat -c %s "$ELF") byte ELF"
