#!/usr/bin/env bash
# Runs the standard scenario of bench/RESULTS.md on a 2-core Linux machine:
# the server (and the floor server) pinned to one core, the load driver to
# the other.
#
#   go build -o tailor ./cmd/tailor && bash bench/standard.sh
#   go build -o tailor ./cmd/tailor && bash bench/standard.sh steady
#   go build -o tailor ./cmd/tailor && bash bench/standard.sh cores
#
# The second form runs, after the same load and settling, only the steady
# state: the mix at RATE for STEADY (default 10m), the server's resident
# memory and Go heap sampled every 5 s (report.html plots them), and Go heap
# profiles taken halfway and at the end (heap-half.pprof, heap-end.pprof).
#
# The third form sweeps the mix up to saturation (p99 bound CORES_SLO,
# default 1s, so that the curve goes on past SLO) twice: the server pinned to
# one core and the driver to the other, then the server on both cores with
# GOMAXPROCS left to Go and the driver unpinned at the lowest priority
# (nice 19). During a run at CORES_RATE (default 4000) on both cores it
# records the server's CPU, mutex and block profiles (cpu.pprof, mutex.pprof,
# block.pprof). Each sweep follows 30 s of the mix at RATE, to warm the
# caches and let the compactions of the load drain; the server's metrics are
# saved after each (metrics-1core.txt, metrics-2cores.txt).
#
# Environment: TAILOR (binary, default ./tailor), BENCH (the binary whose
# bench commands drive the load, default TAILOR: set it to compare server
# builds under one driver), WORK (scratch directory,
# default /tmp/tailor-bench, deleted first), SERVER_CPU and DRIVER_CPU (core
# numbers, default 0 and 1), REPEAT (runs per figure, default 3), DURATION
# (measured window of a run, default 20s), RATE (default 2000), SLO (the sweep's
# p99 bound, default 5ms), SERVER_FLAGS (more flags for tailor serve, such as
# --memory-limit 2GiB). Results land in $WORK/out.
set -euo pipefail

TAILOR=$(realpath "${TAILOR:-./tailor}")
BENCH=$(realpath "${BENCH:-$TAILOR}")
WORK=${WORK:-/tmp/tailor-bench}
SERVER_CPU=${SERVER_CPU:-0}
DRIVER_CPU=${DRIVER_CPU:-1}
REPEAT=${REPEAT:-3}
DURATION=${DURATION:-20s}
RATE=${RATE:-2000}
SLO=${SLO:-5ms}
SERVER_FLAGS=${SERVER_FLAGS:-}
SERVER=127.0.0.1:18080
FLOOR=127.0.0.1:18081
ADMIN=127.0.0.1:18082
METRICS=http://$ADMIN/metrics

rm -rf "$WORK"
mkdir -p "$WORK/out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

driver() { taskset -c "$DRIVER_CPU" "$BENCH" bench "$@"; }

# duration_s 10m: the seconds of a duration written as Ns, Nm or Nh.
duration_s() {
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

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

# start_server [taskset -c CPU]: tailor serve on the world's data directory,
# the admin routes, /metrics and the profiler on a listener of their own;
# PROFILE_FLAGS turns the contention profiles on.
PROFILE_FLAGS=
start_server() {
  # shellcheck disable=SC2086 # SERVER_FLAGS and PROFILE_FLAGS hold several flags
  "$@" "$TAILOR" serve --addr "$SERVER" --admin-addr "$ADMIN" --data "$WORK/data" \
    $PROFILE_FLAGS $SERVER_FLAGS 2>>"$WORK/server.log" &
  server_pid=$!
  pids+=("$server_pid")
}

echo "== server on CPU $SERVER_CPU, floor server on CPU $SERVER_CPU, driver on CPU $DRIVER_CPU"
start_server taskset -c "$SERVER_CPU"
taskset -c "$SERVER_CPU" "$BENCH" bench floor --addr "$FLOOR" 2>"$WORK/floor.log" &
floor_pid=$!
pids+=("$floor_pid")
wait_up "$SERVER"

echo "== load"
driver load --target "http://$SERVER" --admin-target "http://$ADMIN" --world "$WORK/world"

echo "== settle: 60 s for Pebble's compactions after the load"
sleep 60

if [ "${1:-}" = steady ]; then
  echo "== steady state: the mix at $RATE req/s for ${STEADY:-10m}, memory sampled every 5 s"
  driver run --target "http://$SERVER" --world "$WORK/world" --mix recommend=70,events=20,bid=10 --rate "$RATE" \
    --duration "${STEADY:-10m}" --server-pid "$server_pid" --metrics "$METRICS" --memory-every 5s --label steady --quiet \
    --out "$WORK/out/steady" || echo "(the steady run was marked invalid: see above)" &
  run_pid=$!
  half=$(( $(duration_s "${STEADY:-10m}") / 2 + 5 ))
  sleep "$half"
  # As of the last collection, not a forced one: a collection forced here
  # would hand memory back and dent the resident memory the second half's
  # growth is read from. The end's profile, after the run, forces one.
  curl -sf -o "$WORK/out/heap-half.pprof" "http://$ADMIN/debug/pprof/heap"
  wait "$run_pid"
  curl -sf -o "$WORK/out/heap-end.pprof" "http://$ADMIN/debug/pprof/heap?gc=1"
  curl -sf -o "$WORK/out/metrics.txt" "$METRICS"
  exit 0
fi

if [ "${1:-}" = cores ]; then
  bound=${CORES_SLO:-1s}
  echo "== the mix up to saturation, server on CPU $SERVER_CPU, driver on CPU $DRIVER_CPU"
  driver run --target "http://$SERVER" --world "$WORK/world" --rate "$RATE" --duration 30s \
    --metrics "$METRICS" --quiet --out "$WORK/out/warm-1core" >/dev/null || true
  driver sweep --target "http://$SERVER" --world "$WORK/world" --from 1000 --step 1000 --slo "$bound" \
    --duration "$DURATION" --server-pid "$server_pid" --metrics "$METRICS" --quiet --out "$WORK/out/sweep-1core" || true
  echo "== the same on both cores: server unpinned, driver unpinned at nice 19"
  curl -sf -o "$WORK/out/metrics-1core.txt" "$METRICS"
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  PROFILE_FLAGS="--mutex-profile-fraction 100 --block-profile-rate 100us"
  start_server
  wait_up "$SERVER"
  nice -n 19 "$BENCH" bench run --target "http://$SERVER" --world "$WORK/world" --rate "$RATE" --duration 30s \
    --metrics "$METRICS" --quiet --out "$WORK/out/rewarm" >/dev/null || true
  nice -n 19 "$BENCH" bench sweep --target "http://$SERVER" --world "$WORK/world" --from 1000 --step 1000 --slo "$bound" \
    --duration "$DURATION" --server-pid "$server_pid" --metrics "$METRICS" --quiet --out "$WORK/out/sweep-2cores" || true
  echo "== profiles of the server on both cores at ${CORES_RATE:-4000} req/s"
  nice -n 19 "$BENCH" bench run --target "http://$SERVER" --world "$WORK/world" --rate "${CORES_RATE:-4000}" --duration 40s \
    --server-pid "$server_pid" --metrics "$METRICS" --label profiled --quiet --out "$WORK/out/profiled" &
  run_pid=$!
  sleep 10
  curl -sf -o "$WORK/out/mutex.pprof" "http://$ADMIN/debug/pprof/mutex?seconds=20" &
  mutex_pid=$!
  curl -sf -o "$WORK/out/block.pprof" "http://$ADMIN/debug/pprof/block?seconds=20" &
  block_pid=$!
  curl -sf -o "$WORK/out/cpu.pprof" "http://$ADMIN/debug/pprof/profile?seconds=20"
  wait "$mutex_pid" "$block_pid" "$run_pid" || true
  curl -sf -o "$WORK/out/metrics-2cores.txt" "$METRICS"
  exit 0
fi

echo "== sweep of the mix, p99 under $SLO"
driver sweep --target "http://$SERVER" --world "$WORK/world" --from 100 --step 100 --slo "$SLO" --confirm 2 \
  --duration "$DURATION" --server-pid "$server_pid" --metrics "$METRICS" --quiet --out "$WORK/out/sweep" || true
# The events' p99 waits on the disk's syncs, whose stalls do not grow with
# the rate: this sweep judges recommend and bid alone (events still sent and
# recorded), for the rate the serving core holds.
echo "== sweep of the mix, recommend and bid p99 under $SLO, events not judged"
driver sweep --target "http://$SERVER" --world "$WORK/world" --from 1000 --step 100 --slo "$SLO,events=off" --confirm 2 \
  --duration "$DURATION" --server-pid "$server_pid" --metrics "$METRICS" --quiet --out "$WORK/out/sweep-reads" || true

# run NAME MIX: REPEAT runs at RATE with the floor measured beside each.
run() {
  echo "== $1 at $RATE req/s ($2)"
  driver run --target "http://$SERVER" --world "$WORK/world" --mix "$2" --rate "$RATE" \
    --duration "$DURATION" --repeat "$REPEAT" --server-pid "$server_pid" --metrics "$METRICS" \
    --floor "http://$FLOOR" --floor-pid "$floor_pid" --label "$1" --quiet \
    --out "$WORK/out/$1" || echo "(run $1 marked invalid: see above)"
}
run mix recommend=70,events=20,bid=10
run recommend recommend=100
run bid bid=100
run events events=100 # last: it leaves the most compaction work behind
curl -sf -o "$WORK/out/metrics.txt" "$METRICS"
