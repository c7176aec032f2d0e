#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== a phone call with the local speech engines (baresip → Whisper → knowledge base → Kokoro)"
models="${TONGHUA_MODELS:-$HOME/.cache/tonghua/models}"
scripts/install-voice-models.sh
ct2="$models/ctranslate2-4.8.5"
LIBRARY_PATH="$ct2:$ct2/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}" LD_LIBRARY_PATH="$ct2${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  cargo test --locked -p tonghua --features kokoro,whisper --test voicecall
echo "== browser tests (headless Chromium)"
scripts/e2e.sh
