#!/usr/bin/env bash
# Load and soak: Locust drives realistic traffic at idp under gunicorn on loopback, against
# Postgres and Redis, for a bounded time; worker memory is sampled before and after.
#   bench/run_soak.sh [duration=5m] [locust_users=20] [workers=3]   (WARMUP=60 seconds)
# Needs Locust in its own virtualenv (it pins its own Flask): LOCUST=/path/to/bin/locust.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-5m}; USERS=${2:-20}; WORKERS=${3:-3}; WARMUP=${WARMUP:-60}
LOCUST=${LOCUST:-locust}
PY=.venv/bin/python
OUT=bench/results/soak-$(date +%Y%m%d-%H%M%S); mkdir -p "$OUT"
DB=idp_soak_$RANDOM$RANDOM
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
KEYS=$(mktemp -d)
export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$DB
export REDIS_URL=redis://127.0.0.1:6379/13 IDP_REDIS_PREFIX=idp-soak-$DB:
export IDP_ISSUER=http://127.0.0.1:$PORT IDP_KEYS_DIR=$KEYS IDP_LOG_LEVEL=WARNING
# All traffic comes from one address: lift the per-IP limits for the measurement.
export IDP_RATE_LIMIT_ENABLED=false
GUNICORN_PID=""
cleanup() {
  [ -n "$GUNICORN_PID" ] && kill "$GUNICORN_PID" 2>/dev/null && wait "$GUNICORN_PID" 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists --force "$DB" || true
  redis-cli -n 13 --scan --pattern "idp-soak-$DB:*" | xargs -r redis-cli -n 13 del >/dev/null
  redis-cli -n 13 --scan --pattern "LIMITS:LIMITER/idp-soak-$DB:*" | xargs -r redis-cli -n 13 del >/dev/null
  rm -rf "$KEYS"
}
trap cleanup EXIT
createdb -h 127.0.0.1 -U postgres "$DB"
.venv/bin/idp db upgrade >/dev/null
.venv/bin/idp keys generate >/dev/null
$PY bench/seed_soak.py 400 > "$OUT/seed.json"
IDP_BIND=127.0.0.1:$PORT IDP_WORKERS=$WORKERS IDP_ACCESS_LOG=/dev/null \
  .venv/bin/gunicorn -c gunicorn.conf.py wsgi:app > "$OUT/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

rss() {  # resident memory (KiB) of each gunicorn worker
  for pid in $(pgrep -P "$GUNICORN_PID"); do echo "$pid $(awk '/VmRSS/{print $2}' /proc/$pid/status)"; done
}
# Warm up one minute so imports, pools and caches are loaded before the first sample.
IDP_SOAK_SEED=$OUT/seed.json timeout $((WARMUP + 30)) "$LOCUST" -f bench/locustfile.py --headless \
  -u "$USERS" -r 10 --run-time "${WARMUP}s" --host "$IDP_ISSUER" --only-summary > "$OUT/warmup.txt" 2>&1 || true
rss > "$OUT/rss-before.txt"
IDP_SOAK_SEED=$OUT/seed.json timeout 3600 "$LOCUST" -f bench/locustfile.py \
  --headless -u "$USERS" -r 10 --run-time "${MINUTES}" --host "$IDP_ISSUER" \
  --csv "$OUT/soak" --only-summary > "$OUT/soak.txt" 2>&1 || true
rss > "$OUT/rss-after.txt"
$PY - "$OUT" <<'PY'
import csv, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/soak_stats.csv")))
print("| endpoint | requests | failures | req/s | p50 ms | p99 ms |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    print(f"| {r['Name']} | {r['Request Count']} | {r['Failure Count']} | {float(r['Requests/s']):.1f} "
          f"| {r['50%']} | {r['99%']} |")
before = dict(line.split() for line in open(f"{out}/rss-before.txt"))
after = dict(line.split() for line in open(f"{out}/rss-after.txt"))
print()
print("| worker | RSS before (MiB) | RSS after (MiB) | change |")
print("| --- | ---: | ---: | ---: |")
for pid in before:
    b, a = int(before[pid]) / 1024, int(after.get(pid, 0)) / 1024
    print(f"| {pid} | {b:.1f} | {a:.1f} | {a - b:+.1f} |")
PY
echo "raw results: $OUT"
