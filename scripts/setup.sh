#!/usr/bin/env bash
# attune set-up: system packages, the firmware target, and the models.
# Idempotent: re-running skips what is already in place. Used by both README
# commands and by CI, so a fresh Debian/Ubuntu machine needs nothing else.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# --- System packages ---------------------------------------------------------
# cmake/clang/libclang: whisper-rs and llama-cpp-2 build ggml and bindgen.
# espeak-ng, sox: text-to-speech (run as a program) and audio checks.
# pulseaudio + alsa plugins: a userspace null sink so cpal has a real device.
# libudev-dev: serialport's port enumeration. mosquitto: the study bus.
# python3-pandas: the study export test reads the CSV back; fonts-dejavu-core:
# the TTF that `attune behaviors plot` and the study plots draw labels with
# (plotters' ab_glyph text, so no fontconfig/freetype development files).
# chromium + chromium-driver: the web front's end-to-end tests drive a real
# headless browser over WebDriver (tests/tests/web_browser.rs).
PKGS=(build-essential pkg-config cmake clang libclang-dev espeak-ng sox
      pulseaudio pulseaudio-utils libasound2-dev libasound2-plugins
      libudev-dev mosquitto unzip python3 python3-pip
      python3-pandas fonts-dejavu-core chromium chromium-driver
      dpkg-dev file systemd curl)
# Design: the Raspberry Pi cross toolchain (aarch64 compilers, qemu-user,
# arm64 ALSA via multiarch, the aarch64 Rust target) is installed by
# scripts/build-pi.sh itself, not here: the suite's Pi check
# (scripts/checks.d/30-pi-emulated.sh) runs it, and so does a by-hand
# scripts/pi-check.sh, each installing what is missing before it builds.
# Design: asked per architecture, not with `dpkg -s NAME`: once the Pi
# check's build-pi.sh has added libasound2-dev:arm64 beside the host's,
# `dpkg -s libasound2-dev` fails as ambiguous, and every run then called
# apt-get to install a package that was there.
NATIVE_ARCH="$(dpkg --print-architecture)"
installed() {
    dpkg-query -W -f='${Architecture} ${Status}\n' "$1" 2>/dev/null | grep -Eqx "($NATIVE_ARCH|all) install ok installed"
}
missing=()
for p in "${PKGS[@]}"; do
    installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "setup: system packages present"
fi

# --- Rust --------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust from rustup first" >&2
    exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -q '^thumbv6m-none-eabi$'; then
    echo "setup: adding Rust target thumbv6m-none-eabi (Pico firmware)"
    rustup target add thumbv6m-none-eabi || echo "setup: WARNING: could not add thumbv6m-none-eabi; the Pico board binary cannot be built" >&2
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "setup: installing cargo-nextest"
    cargo install --locked cargo-nextest
fi

# --- Models --------------------------------------------------------------------
"$ROOT/scripts/fetch-models.sh"
