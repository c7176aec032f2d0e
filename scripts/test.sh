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
echo "== browser tests (headless Chromium)"
scripts/e2e.sh
