#!/usr/bin/env bash
# Campaign originate rate: `tonghua serve` dials a campaign of CONTACTS numbers on LINES lines
# through the SIP trunk to one sipp playing the callees (crates/server/tests/sipp/uas_callees.xml:
# answer, 2.5 s of G.711, BYE), media-only. Baseline, side by side: a sipp caller
# (scripts/sipp/uac_until_bye.xml) placing the same number of calls on the same number of lines
# to the same callees. Prints calls per second for both (CONTACTS / wall time from start to the
# last call's end) and tonghua's originate rate from the attempts' claim times.
#
#   scripts/bench-campaign.sh [CONTACTS] [LINES]
#   BIN=target/release/tonghua scripts/bench-campaign.sh 1000 200
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
lines="${2:-200}"
bin="$(realpath "${BIN:-${CARGO_TARGET_DIR:-target}/debug/tonghua}")"
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" "${callee_pid:-0}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
trunk=35060 sip=35070 http=38080

callees() {
  sipp -sf crates/server/tests/sipp/uas_callees.xml -i 127.0.0.1 -p "$trunk" -mp 36000 \
    -nostdin -timeout 900s >/dev/null 2>&1 &
  callee_pid=$!
  sleep 0.5
}

# Baseline: sipp calls sipp.
callees
start=$(date +%s.%N)
sipp -sf scripts/sipp/uac_until_bye.xml "127.0.0.1:$trunk" -s 13910000001 -i 127.0.0.1 -p 35080 \
  -mp 37000 -l "$lines" -r 1000 -m "$n" -nostdin -timeout 900s >/dev/null 2>&1 || true
end=$(date +%s.%N)
kill "$callee_pid"; wait "$callee_pid" 2>/dev/null || true
baseline=$(echo "$n / ($end - $start)" | bc -l)

# tonghua: a campaign through the trunk.
callees
cat > "$work/tonghua.toml" <<TOML
[telephony]
media_only = true
record = false
max_calls = 1000
[telephony.trunk]
host = "trunk.test"
proxy = "127.0.0.1:$trunk"
user = "robot"
ring_timeout_secs = 10
TOML
th() { "$bin" --data-dir "$work/data" --config "$work/tonghua.toml" "$@"; }
TONGHUA_ADMIN_PASSWORD=bench-pass-123 "$bin" --data-dir "$work/data" --config "$work/tonghua.toml" \
  serve --http "127.0.0.1:$http" --sip "127.0.0.1:$sip" --log-level warn >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$http/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$http/healthz" >/dev/null || { echo "tonghua did not start:"; cat "$work/server.log"; exit 1; }
{ echo "手机号,姓名"; for i in $(seq 1 "$n"); do printf '1391%07d,客户%d\n' $((i * 10 + 1)) "$i"; done; } >"$work/contacts.csv"
th contacts import --tenant demo --list bench "$work/contacts.csv" >/dev/null
echo '{"windows":{"mon":["00:00-24:00"],"tue":["00:00-24:00"],"wed":["00:00-24:00"],"thu":["00:00-24:00"],"fri":["00:00-24:00"],"sat":["00:00-24:00"],"sun":["00:00-24:00"]},"calls_per_second":1000}' >"$work/settings.json"
th campaign create --tenant demo --name bench --script renovation --list bench --trunk default \
  --lines "$lines" --settings "$work/settings.json" >/dev/null
start=$(date +%s.%N)
th campaign start --tenant demo bench >/dev/null
until th campaign status --tenant demo bench | grep -q "^bench completed"; do sleep 0.2; done
end=$(date +%s.%N)
status=$(th campaign status --tenant demo bench)
rate=$(echo "$n / ($end - $start)" | bc -l)
originate=$(python3 - "$work/data/tonghua.db" <<'PY'
import sqlite3, sys
lo, hi, c = sqlite3.connect(sys.argv[1]).execute("SELECT min(claimed_at), max(claimed_at), count(*) FROM campaign_attempts").fetchone()
print(f"{(c - 1) / max((hi - lo) / 1000, 0.001):.1f}")
PY
)
printf 'contacts %s, lines %s, binary %s\n' "$n" "$lines" "$bin"
printf '%s\n' "$status"
printf 'sipp -> sipp (baseline): %.1f calls/s\n' "$baseline"
printf 'tonghua campaign:        %.1f calls/s (ratio %.2f), originated %s calls/s (claim times)\n' \
  "$rate" "$(echo "$rate / $baseline" | bc -l)" "$originate"
