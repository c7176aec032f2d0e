#!/usr/bin/env bash
# Browser tests: starts a real tonghua with the demo tenant on a free port,
# runs e2e/*.test.mjs in headless Chromium, stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/debug/tonghua
[ -x "$bin" ] || cargo build -q -p tonghua
(cd e2e && npm ci --silent --no-audit --no-fund)

data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TONGHUA_ADMIN_PASSWORD="e2e-admin-password" "$bin" serve --data-dir "$data" --http "127.0.0.1:$port" --log-level warn >"$data/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
TONGHUA_URL="http://127.0.0.1:$port" TONGHUA_ADMIN_PASSWORD="e2e-admin-password" TONGHUA_SHOTS="$PWD/target/e2e-screenshots" node --test e2e/
