#!/usr/bin/env python3
"""Convert a CTranslate2 Whisper model (model.bin, format version 6) into the
GGML file that whisper.cpp (and so whisper-rs) loads.

Standard library only (no numpy, no torch), so a fresh machine can run it.

Usage:
    ct2-whisper-to-ggml.py convert MODEL.bin MEL_FILTERS.npz VOCAB.tiktoken OUT.bin
    ct2-whisper-to-ggml.py verify OUT.bin        # parse the whole GGML file, print hparams

Facts this relies on:
- CT2 model.bin v6: u32 version, string name, u32 revision, u32 variable count,
  then per variable: string name, u8 rank, u32 dims[rank], u8 dtype, u32 byte
  size, raw data; then u32 alias count and (alias, target) string pairs.
  Strings are u16 length (including a trailing NUL) + bytes. dtype ids:
  0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16.
- Layout of whisper.cpp's GGML file (as written by its convert-pt-to-ggml.py):
  magic 0x67676d6c, eleven i32 hparams (n_vocab, n_audio_ctx, n_audio_state,
  n_audio_head, n_audio_layer, n_text_ctx, n_text_state, n_text_head,
  n_text_layer, n_mels, ftype), the mel filter bank (i32 rows, i32 cols, f32
  data), the byte-level vocabulary (i32 count, then i32 length + bytes each),
  then tensors: i32 n_dims, i32 name length, i32 type (0 f32, 1 f16), dims
  innermost first, name, data.
- Tensors of rank >= 2 are f16, 1-D tensors, the conv biases (stored as
  [n, 1]) and both positional embeddings are f32: that is what whisper.cpp
  allocates, and it rejects a tensor whose byte size does not match.
- CT2 fuses self-attention Q|K|V into `self_attention/linear_0` (rows in that
  order); Whisper's key projection has no bias (CT2 stores zeros there, which
  are dropped). Decoder `attention/linear_0` is the cross-attention query,
  `linear_1` the fused cross K|V, `linear_2` the output projection.
"""

import base64
import io
import struct
import sys
import zipfile

GGML_MAGIC = 0x67676D6C
DT_F32, DT_I8, DT_I16, DT_I32, DT_F16 = 0, 1, 2, 3, 4


class ConvertError(Exception):
    pass


# --------------------------------------------------------------------------- CT2


def read_ct2(path):
    """Returns ({name: (dims, dtype, bytes)}, {alias: target})."""
    try:
        data = open(path, "rb").read()
    except OSError as e:
        raise ConvertError(f"cannot read {path}: {e}")
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(data):
            raise ConvertError(f"{path}: truncated at byte {pos} (wanted {n} more)")
        b = data[pos : pos + n]
        pos += n
        return b

    def u32():
        return struct.unpack("<I", take(4))[0]

    def string():
        n = struct.unpack("<H", take(2))[0]
        raw = take(n)
        return raw.rstrip(b"\0").decode("utf-8")

    version = u32()
    if version != 6:
        raise ConvertError(f"{path}: CTranslate2 model version {version}, expected 6")
    name = string()
    if name != "WhisperSpec":
        raise ConvertError(f"{path}: model spec is {name!r}, expected 'WhisperSpec'")
    u32()  # revision
    count = u32()
    variables = {}
    for _ in range(count):
        vname = string()
        rank = take(1)[0]
        dims = [u32() for _ in range(rank)]
        dtype = take(1)[0]
        nbytes = u32()
        variables[vname] = (dims, dtype, take(nbytes))
    aliases = {}
    for _ in range(u32()):
        a = string()
        aliases[a] = string()
    return variables, aliases


def scalar_int(variables, name):
    dims, dtype, raw = variables[name]
    fmt = {DT_I8: "<b", DT_I16: "<h", DT_I32: "<i"}.get(dtype)
    if fmt is None or dims:
        raise ConvertError(f"variable {name} is not an integer scalar")
    return struct.unpack(fmt, raw)[0]


# ------------------------------------------------------------------ mel / vocab


def read_npz_array(path, key):
    """Reads one float32 array from an .npz without numpy: (shape, floats)."""
    try:
        with zipfile.ZipFile(path) as z:
            raw = z.read(key + ".npy")
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        raise ConvertError(f"cannot read {key} from {path}: {e}")
    if raw[:6] != b"\x93NUMPY":
        raise ConvertError(f"{path}:{key} is not a .npy array")
    major = raw[6]
    if major == 1:
        hlen = struct.unpack("<H", raw[8:10])[0]
        start = 10
    else:
        hlen = struct.unpack("<I", raw[8:12])[0]
        start = 12
    header = raw[start : start + hlen].decode("latin1")
    body = raw[start + hlen :]
    # The header is a Python dict literal with only literals in it.
    import ast

    meta = ast.literal_eval(header)
    if meta.get("descr") != "<f4" or meta.get("fortran_order"):
        raise ConvertError(f"{path}:{key}: unsupported array {meta}")
    shape = tuple(meta["shape"])
    n = 1
    for d in shape:
        n *= d
    if len(body) != 4 * n:
        raise ConvertError(f"{path}:{key}: {len(body)} data bytes for shape {shape}")
    return shape, body


def read_tiktoken(path):
    try:
        text = open(path, "rb").read().decode("ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise ConvertError(f"cannot read vocabulary {path}: {e}")
    tokens = []
    for line in text.splitlines():
        if not line.strip():
            continue
        tok, rank = line.split()
        if int(rank) != len(tokens):
            raise ConvertError(f"{path}: token ranks are not consecutive at {rank}")
        tokens.append(base64.b64decode(tok))
    return tokens


# ------------------------------------------------------------------- tensors


def f16_to_f32(raw):
    n = len(raw) // 2
    return struct.pack(f"<{n}f", *struct.unpack(f"<{n}e", raw))


def rows(dims, dtype, raw, start, count):
    """Byte slice of `count` leading-dimension rows starting at row `start`."""
    per_row = len(raw) // dims[0]
    return raw[start * per_row : (start + count) * per_row]


def convert(model_path, mel_path, vocab_path, out_path):
    variables, aliases = read_ct2(model_path)
    for name, (dims, dtype, _) in variables.items():
        if len(dims) >= 1 and dtype not in (DT_F16, DT_F32):
            raise ConvertError(
                f"{model_path}: tensor {name} has dtype id {dtype}; only float16/float32 "
                "models are supported (not a quantized CTranslate2 export)"
            )

    def var(name):
        if name not in variables:
            target = aliases.get(name)
            if target is None or target not in variables:
                raise ConvertError(f"{model_path}: missing variable {name}")
            name = target
        return variables[name]

    def n_layers(prefix):
        n = 0
        while f"{prefix}/layer_{n}/ffn/linear_0/weight" in variables:
            n += 1
        return n

    emb_dims = var("decoder/embeddings/weight")[0]
    enc_pos = var("encoder/position_encodings/encodings")[0]
    dec_pos = var("decoder/position_encodings/encodings")[0]
    conv1 = var("encoder/conv1/weight")[0]
    hp = {
        "n_vocab": emb_dims[0],
        "n_audio_ctx": enc_pos[0],
        "n_audio_state": enc_pos[1],
        "n_audio_head": scalar_int(variables, "encoder/num_heads"),
        "n_audio_layer": n_layers("encoder"),
        "n_text_ctx": dec_pos[0],
        "n_text_state": dec_pos[1],
        "n_text_head": scalar_int(variables, "decoder/num_heads"),
        "n_text_layer": n_layers("decoder"),
        "n_mels": conv1[1],
    }
    mel_shape, mel_body = read_npz_array(mel_path, f"mel_{hp['n_mels']}")
    tokens = read_tiktoken(vocab_path)

    out = io.BytesIO()
    w = out.write
    w(struct.pack("<i", GGML_MAGIC))
    for key in (
        "n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
        "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels",
    ):
        w(struct.pack("<i", hp[key]))
    w(struct.pack("<i", 1))  # ftype: f16 weights
    w(struct.pack("<ii", mel_shape[0], mel_shape[1]))
    w(mel_body)
    w(struct.pack("<i", len(tokens)))
    for t in tokens:
        w(struct.pack("<i", len(t)))
        w(t)

    def emit(name, dims, dtype, raw, force_f32=False):
        """Writes one tensor; dims are PyTorch order (outermost first)."""
        as_f32 = force_f32 or len(dims) < 2
        if as_f32:
            data = f16_to_f32(raw) if dtype == DT_F16 else raw
            ttype = 0
        else:
            if dtype == DT_F32:
                n = len(raw) // 4
                data = struct.pack(f"<{n}e", *struct.unpack(f"<{n}f", raw))
            else:
                data = raw
            ttype = 1
        bname = name.encode("utf-8")
        w(struct.pack("<iii", len(dims), len(bname), ttype))
        for d in reversed(dims):
            w(struct.pack("<i", d))
        w(bname)
        w(data)

    def copy(gname, cname, force_f32=False, dims_override=None):
        dims, dtype, raw = var(cname)
        emit(gname, dims_override or dims, dtype, raw, force_f32)

    def split(gnames, cname, parts):
        """Splits a fused tensor into `parts` equal row blocks; a None name drops one."""
        dims, dtype, raw = var(cname)
        n = dims[0] // parts
        for i, g in enumerate(gnames):
            if g is None:
                continue
            emit(g, [n] + dims[1:], dtype, rows(dims, dtype, raw, i * n, n))

    def linear(gprefix, cprefix):
        copy(f"{gprefix}.weight", f"{cprefix}/weight")
        copy(f"{gprefix}.bias", f"{cprefix}/bias")

    def norm(gprefix, cprefix):
        copy(f"{gprefix}.weight", f"{cprefix}/gamma")
        copy(f"{gprefix}.bias", f"{cprefix}/beta")

    def self_attn(g, c):
        norm(f"{g}.attn_ln", f"{c}/self_attention/layer_norm")
        split([f"{g}.attn.query.weight", f"{g}.attn.key.weight", f"{g}.attn.value.weight"],
              f"{c}/self_attention/linear_0/weight", 3)
        split([f"{g}.attn.query.bias", None, f"{g}.attn.value.bias"],
              f"{c}/self_attention/linear_0/bias", 3)
        linear(f"{g}.attn.out", f"{c}/self_attention/linear_1")

    def mlp(g, c):
        norm(f"{g}.mlp_ln", f"{c}/ffn/layer_norm")
        linear(f"{g}.mlp.0", f"{c}/ffn/linear_0")
        linear(f"{g}.mlp.2", f"{c}/ffn/linear_1")

    copy("encoder.positional_embedding", "encoder/position_encodings/encodings", force_f32=True)
    copy("encoder.conv1.weight", "encoder/conv1/weight")
    state = hp["n_audio_state"]
    copy("encoder.conv1.bias", "encoder/conv1/bias", force_f32=True, dims_override=[state, 1])
    copy("encoder.conv2.weight", "encoder/conv2/weight")
    copy("encoder.conv2.bias", "encoder/conv2/bias", force_f32=True, dims_override=[state, 1])
    for i in range(hp["n_audio_layer"]):
        g, c = f"encoder.blocks.{i}", f"encoder/layer_{i}"
        self_attn(g, c)
        mlp(g, c)
    norm("encoder.ln_post", "encoder/layer_norm")

    copy("decoder.positional_embedding", "decoder/position_encodings/encodings", force_f32=True)
    copy("decoder.token_embedding.weight", "decoder/embeddings/weight")
    for i in range(hp["n_text_layer"]):
        g, c = f"decoder.blocks.{i}", f"decoder/layer_{i}"
        self_attn(g, c)
        norm(f"{g}.cross_attn_ln", f"{c}/attention/layer_norm")
        linear(f"{g}.cross_attn.query", f"{c}/attention/linear_0")
        split([f"{g}.cross_attn.key.weight", f"{g}.cross_attn.value.weight"],
              f"{c}/attention/linear_1/weight", 2)
        split([None, f"{g}.cross_attn.value.bias"], f"{c}/attention/linear_1/bias", 2)
        linear(f"{g}.cross_attn.out", f"{c}/attention/linear_2")
        mlp(g, c)
    norm("decoder.ln", "decoder/layer_norm")

    tmp = out_path + ".part"
    try:
        with open(tmp, "wb") as f:
            f.write(out.getbuffer())
        import os

        os.replace(tmp, out_path)
    except OSError as e:
        raise ConvertError(f"cannot write {out_path}: {e}")
    return hp


# -------------------------------------------------------------------- verify


def verify(path):
    """Parses a whole GGML whisper file; returns (hparams, tensor count)."""
    try:
        data = open(path, "rb").read()
    except OSError as e:
        raise ConvertError(f"cannot read {path}: {e}")
    pos = 0

    def i32s(n):
        nonlocal pos
        if pos + 4 * n > len(data):
            raise ConvertError(f"{path}: truncated at byte {pos}")
        v = struct.unpack(f"<{n}i", data[pos : pos + 4 * n])
        pos += 4 * n
        return v

    def skip(n):
        nonlocal pos
        if n < 0 or pos + n > len(data):
            raise ConvertError(f"{path}: truncated at byte {pos}")
        pos += n

    (magic,) = i32s(1)
    if magic != GGML_MAGIC:
        raise ConvertError(f"{path}: bad magic {magic:#x}, not a GGML whisper model")
    keys = ["n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
            "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels", "ftype"]
    hp = dict(zip(keys, i32s(11)))
    r, c = i32s(2)
    skip(4 * r * c)
    (n_tok,) = i32s(1)
    for _ in range(n_tok):
        (ln,) = i32s(1)
        skip(ln)
    n_tensors = 0
    while pos < len(data):
        n_dims, name_len, ttype = i32s(3)
        if not 1 <= n_dims <= 4 or ttype not in (0, 1):
            raise ConvertError(f"{path}: bad tensor header at byte {pos}")
        dims = i32s(n_dims)
        skip(name_len)
        n = 1
        for d in dims:
            n *= d
        skip(n * (4 if ttype == 0 else 2))
        n_tensors += 1
    hp["n_mel_rows"], hp["n_mel_cols"], hp["n_tokens"] = r, c, n_tok
    return hp, n_tensors


def main(argv):
    try:
        if len(argv) == 6 and argv[1] == "convert":
            hp = convert(argv[2], argv[3], argv[4], argv[5])
            print(f"converted {argv[2]} -> {argv[5]}: {hp}")
        elif len(argv) == 3 and argv[1] == "verify":
            hp, n = verify(argv[2])
            print(" ".join(f"{k}={v}" for k, v in hp.items()) + f" tensors={n}")
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except ConvertError as e:
        print(f"ct2-whisper-to-ggml: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
