#!/usr/bin/env bash
# Runs the standard scenario of bench/RESULTS.md on a 2-core Linux machine:
# the server (and the floor server) pinned to one core, the load driver to
# the other.
#
#   go build -o tailor ./cmd/tailor && bash bench/standard.sh
#   go build -o tailor ./cmd/tailor && bash bench/standard.sh steady
#
# The second form runs, after the same load and settling, only the steady
# state: the mix at RATE for STEADY (default 10m), the server's resident
# memory and Go heap sampled every 5 s (report.html plots them).
#
# Environment: TAILOR (binary, default ./tailor), WORK (scratch directory,
# default /tmp/tailor-bench, deleted first), SERVER_CPU and DRIVER_CPU (core
# numbers, default 0 and 1), REPEAT (runs per figure, default 3), DURATION
# (measured window of a run, default 20s), RATE (default 2000), SLO (the sweep's
# p99 bound, default 5ms). Results land in $WORK/out.
set -euo pipefail

TAILOR=$(realpath "${TAILOR:-./tailor}")
WORK=${WORK:-/tmp/tailor-bench}
SERVER_CPU=${SERVER_CPU:-0}
DRIVER_CPU=${DRIVER_CPU:-1}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-20s}
RATE=${RATE:-2000}
SLO=${SLO:-5ms}
SERVER=127.0.0.1:18080
FLOOR=127.0.0.1:18081

rm -rf "$WORK"
mkdir -p "$WORK/out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

driver() { taskset -c "$DRIVER_CPU" "$TAILOR" bench "$@"; }

wait_up() {
  for _ in $(seq 120); do
    if curl -sf "http://$1/healthz" >/dev/null; then return 0; fi
    sleep 1
  done
  echo "server on $1 did not come up" >&2
  return 1
}

echo "== world: 100,000 items, 100,000 users, 1,000 campaigns"
driver gen --out "$WORK/world" --items 100000 --users 100000 --campaigns 1000 --seed 1

echo "== server on CPU $SERVER_CPU, floor server on CPU $SERVER_CPU, driver on CPU $DRIVER_CPU"
taskset -c "$SERVER_CPU" "$TAILOR" serve --addr "$SERVER" --data "$WORK/data" 2>"$WORK/server.log" &
server_pid=$!
pids+=("$server_pid")
taskset -c "$SERVER_CPU" "$TAILOR" bench floor --addr "$FLOOR" 2>"$WORK/floor.log" &
floor_pid=$!
pids+=("$floor_pid")
wait_up "$SERVER"

echo "== load"
driver load --target "http://$SERVER" --world "$WORK/world"

echo "== settle: 60 s for Pebble's compactions after the load"
sleep 60

if [ "${1:-}" = steady ]; then
  echo "== steady state: the mix at $RATE req/s for ${STEADY:-10m}, memory sampled every 5 s"
  driver run --target "http://$SERVER" --world "$WORK/world" --mix recommend=70,events=20,bid=10 --rate "$RATE" \
    --duration "${STEADY:-10m}" --server-pid "$server_pid" --memory-every 5s --label steady --quiet \
    --out "$WORK/out/steady" || echo "(the steady run was marked invalid: see above)"
  exit 0
fi

echo "== sweep of the mix, p99 under $SLO"
driver sweep --target "http://$SERVER" --world "$WORK/world" --from 100 --step 100 --slo "$SLO" \
  --duration "$DURATION" --server-pid "$server_pid" --quiet --out "$WORK/out/sweep" || true

# run NAME MIX: REPEAT runs at RATE with the floor measured beside each.
run() {
  echo "== $1 at $RATE req/s ($2)"
  driver run --target "http://$SERVER" --world "$WORK/world" --mix "$2" --rate "$RATE" \
    --duration "$DURATION" --repeat "$REPEAT" --server-pid "$server_pid" \
    --floor "http://$FLOOR" --floor-pid "$floor_pid" --label "$1" --quiet \
    --out "$WORK/out/$1" || echo "(run $1 marked invalid: see above)"
}
run mix recommend=70,events=20,bid=10
run recommend recommend=100
run bid bid=100
run events events=100 # last: it leaves the most compaction work behind
