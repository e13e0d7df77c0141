#!/usr/bin/env bash
# Cross-compiles attune for a Raspberry Pi (aarch64-unknown-linux-gnu:
# Raspberry Pi OS 64-bit, Debian 12 based) on an x86-64 Debian/Ubuntu
# machine, builds the Pico head firmware image, and packages both arches.
#
#   scripts/build-pi.sh                 toolchain check (+ install), aarch64 attune + attune-llm,
#                                       Pico firmware ELF + UF2
#   scripts/build-pi.sh --deb           ... and attune_<v>_arm64.deb + attune_<v>_amd64.deb
#   scripts/build-pi.sh --check         only check the toolchain; list what is missing
#   scripts/build-pi.sh --no-install    never install; fail naming what is missing
#   scripts/build-pi.sh --release       release profile instead of dev (slower to build)
#   scripts/build-pi.sh --timings       also write cargo's build timing report (target/cargo-timings)
#   scripts/build-pi.sh --attune-only   cross-build `attune` alone (no attune-llm, so no llama.cpp:
#                                       the emulated check's build; --deb needs both)
#   scripts/build-pi.sh --quick         dev profile with Rust dependencies at opt-level 1 and
#                                       attune-dialogue and attune-speech unoptimised: quicker to build, slower to
#                                       run (CI's emulated check; not for a Pi in a study)
#
# Outputs: target/aarch64-unknown-linux-gnu/<profile>/{attune,attune-llm},
# target/pi/attune-head-pico.{elf,uf2}, target/pi/attune_<v>_<arch>.deb.
#
# Design: the cross build uses the workspace's own target dir (cargo puts
# aarch64 output under target/aarch64-unknown-linux-gnu/; ATTUNE_PI_TARGET_DIR
# moves it elsewhere): one target dir to keep and clean. It shares nothing
# with the host build: checked here, a host `cargo check` after the cross
# build compiled proc-macro2 and the other host-side units again. The
# default is cargo's dev profile, as the host build: every dependency
# (whisper.cpp and llama.cpp through CMake Release builds, candle's maths,
# the audio stack) optimised, attune's own crates not. README "Run it on a
# Raspberry Pi" has the measured times.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGET=aarch64-unknown-linux-gnu
MODE=build
INSTALL=auto
PROFILE=dev
DEB=0
QUICK=0
TIMINGS=()
BINS=(attune attune-llm)
for a in "$@"; do
    case "$a" in
        --check) MODE=check ;;
        --no-install) INSTALL=no ;;
        --deb) DEB=1 ;;
        --release) PROFILE=release ;;
        --timings) TIMINGS=(--timings) ;;
        --attune-only) BINS=(attune) ;;
        --quick) QUICK=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "build-pi: unknown argument $a (see --help)" >&2; exit 2 ;;
    esac
done

# --- Toolchain ----------------------------------------------------------------
# Debian packages (arm64 ones via multiarch: the Pi's own ALSA/udev, never
# this machine's x86 libraries).
APT_PKGS=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross
          qemu-user-static libasound2-dev:arm64 dpkg-dev file)
missing_pkgs() {
    local p
    for p in "${APT_PKGS[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || echo "$p"
    done
}
missing_bits() {
    missing_pkgs
    if ! dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64; then
        echo "dpkg-architecture:arm64"
    fi
    if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
        echo "rust-target:$TARGET"
    fi
    if ! rustup target list --installed 2>/dev/null | grep -qx thumbv6m-none-eabi; then
        echo "rust-target:thumbv6m-none-eabi"
    fi
}
explain_missing() {
    local m
    echo "build-pi: the aarch64 cross toolchain is incomplete; missing:" >&2
    for m in "$@"; do
        case "$m" in
            dpkg-architecture:arm64) echo "  - dpkg foreign architecture arm64   (fix: dpkg --add-architecture arm64 && apt-get update)" >&2 ;;
            rust-target:*) echo "  - Rust target ${m#rust-target:}   (fix: rustup target add ${m#rust-target:})" >&2 ;;
            *) echo "  - Debian package $m   (fix: apt-get install $m)" >&2 ;;
        esac
    done
}

mapfile -t MISSING < <(missing_bits)
if [ "${#MISSING[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO="none"; fi
    fi
    if [ "$MODE" = check ] || [ "$INSTALL" = no ] || [ "$SUDO" = none ]; then
        explain_missing "${MISSING[@]}"
        [ "$SUDO" = none ] && echo "build-pi: not root and no password-less sudo, so nothing was installed" >&2
        exit 1
    fi
    echo "build-pi: installing: ${MISSING[*]}"
    if printf '%s\n' "${MISSING[@]}" | grep -q '^dpkg-architecture:arm64$'; then
        $SUDO dpkg --add-architecture arm64
    fi
    mapfile -t PKGS < <(missing_pkgs)
    if [ "${#PKGS[@]}" -gt 0 ]; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
    fi
    for m in "${MISSING[@]}"; do
        case "$m" in rust-target:*) rustup target add "${m#rust-target:}" ;; esac
    done
    mapfile -t MISSING < <(missing_bits)
    if [ "${#MISSING[@]}" -gt 0 ]; then
        explain_missing "${MISSING[@]}"
        exit 1
    fi
fi
echo "build-pi: cross toolchain complete ($(aarch64-linux-gnu-gcc -dumpfullversion) aarch64-linux-gnu, $(qemu-aarch64-static --version | head -1))"
[ "$MODE" = check ] && exit 0

# --- Cross environment ----------------------------------------------------------
# Rust: link with the cross gcc. cc/cmake crates (whisper.cpp, llama.cpp,
# SQLite): the cross compilers by target-specific variable, so the host build
# is untouched. pkg-config: the arm64 .pc files only.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# The runner (cargo run/test --target) names the aarch64 loader rather than
# using qemu's -L prefix, under which threaded programs hung here (see
# scripts/pi-emulated.sh).
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 --library-path /usr/aarch64-linux-gnu/lib:/usr/lib/aarch64-linux-gnu:/lib/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export PKG_CONFIG_aarch64_unknown_linux_gnu=pkg-config
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=/
# Portable ggml: no -march=native (the build machine is x86 anyway, but an
# aarch64 build host must not leak its CPU either). armv8-a is what a Pi 4
# (Cortex-A72) runs; a Pi 5 (Cortex-A76) runs the same code. whisper-rs-sys
# passes GGML_* to whisper.cpp's CMake; llama-cpp-sys-2 sets GGML_NATIVE=OFF
# and GGML_CPU_ARM_ARCH=armv8-a itself for non-native aarch64 Linux.
export GGML_NATIVE=OFF
export GGML_CPU_ARM_ARCH=armv8-a
# bindgen parses whisper.h / llama.h for the target with the cross libc headers.
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=/usr/aarch64-linux-gnu"

PROFILE_DIR=debug
# Design: candle-transformers holds the model definitions of dozens of
# architectures, of which attune runs one (BERT, for MiniLM); its maths runs
# in candle-core and gemm, which stay optimised. Compiling it unoptimised
# for the Pi takes minutes off the cross build (README has the figures).
PROFILE_ARGS=(--config 'profile.dev.package.candle-transformers.opt-level=0')
# Design (--quick): the emulated check only has to show that the aarch64
# build runs and behaves like the host's; optimisation changes no result
# (no fast-math anywhere), so its Rust dependencies build at opt-level 1 and
# attune-dialogue and attune-speech (opt-level 2 in the workspace profile,
# for the host's crisis-layer and voice-loop tests) unoptimised. whisper.cpp stays optimised either way:
# whisper-rs-sys sets its CMake build type itself (RelWithDebInfo in dev
# builds).
if [ "$QUICK" = 1 ]; then
    PROFILE_ARGS+=(--config 'profile.dev.package."*".opt-level=1' --config 'profile.dev.package.attune-dialogue.opt-level=0' --config 'profile.dev.package.attune-speech.opt-level=0')
fi
HOST_ARGS=()
if [ "$PROFILE" = release ]; then
    [ "$QUICK" = 1 ] && { echo "build-pi: --quick and --release do not go together" >&2; exit 2; }
    PROFILE_DIR=release; PROFILE_ARGS=(--release); HOST_ARGS=(--release)
fi
CROSS_DIR="${ATTUNE_PI_TARGET_DIR:-target}"
OUT="$CROSS_DIR/$TARGET/$PROFILE_DIR"

t0=$(date +%s)
PKG_ARGS=()
for b in "${BINS[@]}"; do PKG_ARGS+=(-p "$b"); done
if [ "$DEB" = 1 ] && [ "${#BINS[@]}" -lt 2 ]; then
    echo "build-pi: --deb needs attune-llm too; drop --attune-only" >&2
    exit 2
fi
echo "build-pi: cargo build --target $TARGET ${PKG_ARGS[*]} (profile $PROFILE)"
CARGO_TARGET_DIR="$CROSS_DIR" cargo build --locked --target "$TARGET" "${PROFILE_ARGS[@]}" "${TIMINGS[@]}" "${PKG_ARGS[@]}"
t1=$(date +%s)
for b in "${BINS[@]}"; do
    if ! file -b "$OUT/$b" 2>/dev/null | grep -q 'ARM aarch64'; then
        echo "build-pi: FAILED: $OUT/$b is not an aarch64 executable: $(file -b "$OUT/$b" 2>&1)" >&2
        exit 1
    fi
done
echo "build-pi: aarch64 binaries in $OUT ($((t1 - t0)) s)"

# --- Pico head firmware -----------------------------------------------------------
# The board binary (its own workspace, thumbv6m-none-eabi) and its UF2 image,
# the file a Pico in BOOTSEL mode takes by drag and drop.
mkdir -p target/pi
(cd firmware/pico && cargo build --release --locked)
ELF=firmware/pico/target/thumbv6m-none-eabi/release/attune-head-pico
cp "$ELF" target/pi/attune-head-pico.elf
python3 "$ROOT/scripts/elf2uf2.py" "$ELF" target/pi/attune-head-pico.uf2
t2=$(date +%s)
echo "build-pi: Pico firmware target/pi/attune-head-pico.uf2 ($((t2 - t1)) s)"

# --- Packages ---------------------------------------------------------------------
if [ "$DEB" = 1 ]; then
    "$ROOT/scripts/make-deb.sh" arm64 "$OUT"
    HOST_OUT="target/$PROFILE_DIR"
    echo "build-pi: host build for the amd64 package"
    cargo build --locked "${HOST_ARGS[@]}" -p attune -p attune-llm
    "$ROOT/scripts/make-deb.sh" amd64 "$HOST_OUT"
fi
echo "build-pi: done in $(( $(date +%s) - t0 )) s"
