#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The local speech engines link the libctranslate2 that
# scripts/install-voice-models.sh installed (install-deps.sh runs it first).
# The `tonghua` binary carries its folder as an rpath (crates/tonghua/build.rs);
# test binaries of the other crates that link it under the workspace's
# features find it through the loader path.
models="${TONGHUA_MODELS:-$HOME/.cache/tonghua/models}"
ct2="$models/ctranslate2-4.8.5"
export LD_LIBRARY_PATH="$ct2${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test (includes a phone call with the local engines: baresip → Whisper → knowledge base → Kokoro)"
cargo test --workspace --locked
echo "== browser tests (headless Chromium)"
scripts/e2e.sh
