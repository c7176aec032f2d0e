#!/usr/bin/env bash
# Telephony capacity benchmark: sipp places many concurrent uac_pcap calls
# (8 s of G.711 speech + an RFC 2833 key each) against `tonghua serve --sip`,
# then the script reads every call's tick-lateness histogram from the event
# log (call.ended) and samples the server's CPU and memory while it runs.
#
#   scripts/bench-telephony.sh [CALLS_PER_SECOND] [TOTAL_CALLS] [MODE]
#   MODE: media-only (default: no speech engines) or voice (the engines the binary has)
#   BIN=target/release/tonghua scripts/bench-telephony.sh 40 1200
set -euo pipefail
cd "$(dirname "$0")/.."
rate="${1:-40}"
total="${2:-1200}"
mode="${3:-media-only}"
bin="$(realpath "${BIN:-${CARGO_TARGET_DIR:-target}/release/tonghua}")"
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

sip_port=25060
http_port=28080
cat > "$work/tonghua.toml" <<TOML
[telephony]
rtp_timeout_secs = 30
record = false
media_only = $([ "$mode" = media-only ] && echo true || echo false)
TOML
(cd "$work" && TONGHUA_ADMIN_PASSWORD=bench-pass-123 "$bin" --data-dir "$work/data" serve \
  --http "127.0.0.1:$http_port" --sip "127.0.0.1:$sip_port" --log-level warn >"$work/server.log" 2>&1) &
server_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.1; done
server_pid=$(pgrep -f -n "serve --http 127.0.0.1:$http_port" || echo "$server_pid")

mkdir -p "$work/sipp/pcap" && ln -s /usr/share/sip-tester/*.pcap "$work/sipp/pcap/"
# One warm-up call: the first call compiles the script's bot (NLU models), which
# belongs to the process, not to each call.
(cd "$work/sipp" && sipp -sn uac_pcap "127.0.0.1:$sip_port" -i 127.0.0.1 -p 25080 -mp 26000 \
   -m 1 -s 4001 -nostdin -timeout 60s >/dev/null 2>&1) || true
ticks=$(getconf CLK_TCK)
sample() {  # utime+stime ticks and RSS kB of the server
  awk '{print $14+$15}' "/proc/$server_pid/stat"; awk '/VmRSS/{print $2}' "/proc/$server_pid/status"
}
read -r cpu0 rss0 < <(sample | paste -sd' ')
t0=$(date +%s.%N)
peak_rss=0
( while kill -0 "$server_pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/{print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0)
    echo "$rss" >> "$work/rss"; sleep 1; done ) &
sampler=$!
(cd "$work/sipp" && sipp -sn uac_pcap "127.0.0.1:$sip_port" -i 127.0.0.1 -p 25080 -mp 26000 \
   -r "$rate" -m "$total" -l $((rate * 20)) -s 4001 -nostdin -timeout 300s \
   -trace_stat -stf "$work/stat.csv" -fd 1 >"$work/sipp.out" 2>&1) || true
t1=$(date +%s.%N)
read -r cpu1 _ < <(sample | paste -sd' ')
kill "$sampler" 2>/dev/null || true
sleep 2
grep -E "Successful call|Failed call" "$work/sipp.out" | sed 's/  */ /g'
python3 - "$work/data/tonghua.db" "$cpu0" "$cpu1" "$t0" "$t1" "$ticks" "$work/rss" "$work/stat.csv" "$rss0" <<'PY'
import csv, json, sqlite3, sys
db, cpu0, cpu1, t0, t1, hz, rssf, statf, rss0 = sys.argv[1:]
c = sqlite3.connect(db)
rows = [json.loads(p) for (p,) in c.execute("select payload from conversation_events where kind='call.ended' order by at")][1:]  # minus the warm-up
hist = [0] * 100
late = 0
for r in rows:
    for i, n in enumerate(r.get("tick_lateness_ms", [])):
        hist[i] += n
    late += r.get("late_ticks", 0)
total = sum(hist)
def q(p):
    want, seen = total * p, 0
    for i, n in enumerate(hist):
        seen += n
        if seen >= want:
            return i
    return 99
secs = float(t1) - float(t0)
cpu = (int(cpu1) - int(cpu0)) / int(hz)
rss = [int(x) for x in open(rssf).read().split() if x.strip()] or [0]
calls = len(rows)
conc = 0
try:
    rows_csv = list(csv.reader(open(statf), delimiter=";"))
    col = rows_csv[0].index("CurrentCall")
    conc = max(int(r[col]) for r in rows_csv[1:] if len(r) > col and r[col].isdigit())
except Exception as e:
    print("no sipp statistics:", e)
print(f"calls logged: {calls}; ticks: {total}; ticks > 20 ms late: {late} ({100*late/max(total,1):.3f} %)")
print(f"tick lateness p50 {q(0.5)} ms, p99 {q(0.99)} ms, p99.9 {q(0.999)} ms")
print(f"peak concurrency {conc} calls; CPU {cpu:.1f} s over {secs:.1f} s = {100*cpu/secs:.0f} % of one core; "
      f"≈ {1000*cpu/secs/max(conc,1):.2f} ms CPU per call-second")
lat = sorted(json.loads(p).get("turn_latency_ms") for (p,) in c.execute("select payload from conversation_events where kind='call.say_started'") if "turn_latency_ms" in json.loads(p))
if lat:
    pick = lambda q: lat[min(len(lat) - 1, int(q * (len(lat) - 1) + 0.5))]
    print(f"reply latency (key press or end of speech → first reply RTP, n={len(lat)}): p50 {pick(0.5)} ms, p95 {pick(0.95)} ms")
print(f"RSS before calls {int(rss0)/1024:.0f} MiB, peak {max(rss)/1024:.0f} MiB; ≈ {(max(rss)-int(rss0))/max(conc,1):.0f} kB per concurrent call")
PY
