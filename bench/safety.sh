#!/usr/bin/env bash
# Measures what the README's "Running it in production" section reports, on a
# 2-core Linux machine, the server pinned to one core and the client to the
# other:
#
#   go build -o tailor ./cmd/tailor
#   bash bench/safety.sh overload RATE   # recommend only at RATE/s over 5,000 connections
#   bash bench/safety.sh bodies          # peak RSS while three 16 MB bodies arrive at once
#   bash bench/safety.sh fulldisk MODE   # MODE floor or full: a 400 MiB tmpfs filled, then freed (root)
#
# Environment: TAILOR (binary, default ./tailor), WORK (scratch directory,
# default /tmp/tailor-safety), SERVER_CPU and CLIENT_CPU (default 0 and 1),
# EXTRA (more serve flags). overload generates the 100,000-item world and
# loads it once into $WORK/data-loaded, then copies it for each run.
set -euo pipefail

TAILOR=$(realpath "${TAILOR:-./tailor}")
WORK=${WORK:-/tmp/tailor-safety}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ADDR=127.0.0.1:18080
mkdir -p "$WORK"

start_server() { # DATA-DIR [flags]: starts the server pinned, sets PID
  local data=$1; shift
  taskset -c "$SERVER_CPU" "$TAILOR" serve --addr "$ADDR" --data "$data" ${EXTRA:-} "$@" 2>>"$WORK/server.log" &
  PID=$!
  for _ in $(seq 240); do
    if curl -sf "http://$ADDR/healthz" >/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "the server did not come up: see $WORK/server.log" >&2
  exit 1
}

stop_server() { kill "$PID"; wait "$PID" 2>/dev/null || true; }

now() { date +%s.%N; }

overload() {
  local rate=${1:?RATE}
  if [ ! -d "$WORK/data-loaded" ]; then
    "$TAILOR" bench gen --out "$WORK/world" --items 100000 --users 100000 --campaigns 1000 --seed 1
    start_server "$WORK/data-loaded"
    taskset -c "$CLIENT_CPU" "$TAILOR" bench load --target "http://$ADDR" --world "$WORK/world"
    stop_server
  fi
  rm -rf "$WORK/data" && cp -r "$WORK/data-loaded" "$WORK/data"
  start_server "$WORK/data"
  taskset -c "$CLIENT_CPU" "$TAILOR" bench run --target "http://$ADDR" --world "$WORK/world" --mix recommend=1 \
    --rate "$rate" --conns 5000 --duration 15s --warmup 3s --timeout 5s --quiet --tolerance 0.2 \
    --server-pid "$PID" --out "$WORK/out-$rate" --label "overload-$rate"
  # Recovery: from the end of the load to the first lone request answered
  # 200 within 5 ms.
  local end t code took
  end=$(now)
  while true; do
    read -r code took < <(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{time_total}\n' \
      -d '{"user":"u1","n":10}' "http://$ADDR/v1/recommend")
    if [ "$code" = 200 ] && awk "BEGIN{exit !($took < 0.005)}"; then break; fi
    sleep 0.005
  done
  t=$(now)
  echo "recovery $(awk "BEGIN{printf \"%.3f\", $t-$end}") s"
  stop_server
}

bodies() {
  local f="$WORK/body-16mb.json"
  # 10,000 valid events, then tiny elements up to 16,000,000 bytes: the
  # costliest shape for a decoder that stops at the record limit.
  if [ ! -f "$f" ]; then
    local ev='{"user":"u1","type":"view","item":"i1"},'
    { printf '['; for _ in $(seq 10000); do printf '%s' "$ev"; done
      head -c $((16000000 - 1 - 10000 * ${#ev} - 2)) /dev/zero | tr '\0' '1' | sed 's/1/1,/g' | head -c $((16000000 - 1 - 10000 * ${#ev} - 2))
      printf '1]'; } >"$f"
  fi
  rm -rf "$WORK/data-bodies"
  start_server "$WORK/data-bodies"
  local before peak t0 t1 pids=()
  before=$(awk '/VmRSS/{print $2}' "/proc/$PID/status")
  t0=$(now)
  for i in 1 2 3; do
    taskset -c "$CLIENT_CPU" curl -s -o "$WORK/bodies-$i.out" -H 'Content-Type: application/json' \
      --data-binary @"$f" "http://$ADDR/v1/events" &
    pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(now)
  peak=$(awk '/VmHWM/{print $2}' "/proc/$PID/status")
  echo "rss before ${before} KiB, peak ${peak} KiB, three bodies answered in $(awk "BEGIN{printf \"%.3f\", $t1-$t0}") s: $(head -c 100 "$WORK/bodies-1.out")"
  stop_server
}

fulldisk() {
  local mode=${1:?floor or full} mnt="$WORK/small" log="$WORK/fulldisk-posts.txt"
  mkdir -p "$mnt"
  mountpoint -q "$mnt" || mount -t tmpfs -o size=400m tmpfs "$mnt"
  rm -rf "${mnt:?}"/*
  start_server "$mnt/data" --min-free-mb 64
  : >"$log"
  # One event every 5 ms, each line: sent, answered, status.
  ( i=0; while [ ! -f "$WORK/stop" ]; do i=$((i + 1)); s=$(now)
      c=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d "[{\"id\":\"e$i\",\"user\":\"u$((i % 50))\",\"type\":\"view\",\"item\":\"i$((i % 30))\"}]" "http://$ADDR/v1/events")
      echo "$s $(now) $c" >>"$log"; sleep 0.005; done ) &
  local poster=$! free t_fill t_filled t_free
  rm -f "$WORK/stop"
  sleep 2
  free=$(df -B1 --output=avail "$mnt" | tail -1)
  if [ "$mode" = floor ]; then free=$((free - 30 * 1024 * 1024)); fi
  t_fill=$(now)
  head -c "$free" /dev/zero >"$mnt/filler" 2>/dev/null || true
  t_filled=$(now)
  sleep 3
  t_free=$(now)
  rm -f "$mnt/filler"
  sleep 3
  touch "$WORK/stop"; wait "$poster" || true; rm -f "$WORK/stop"
  local alive=yes
  kill -0 "$PID" 2>/dev/null || alive=no
  stop_server
  awk -v fill="$t_filled" -v free="$t_free" -v mode="$mode" -v alive="$alive" '
    $1 >= fill && $1 < free { full[$3]++ ; if (!r && $3 == 507) r = $2 - fill }
    $1 >= free { after[$3]++ ; if (!w && $3 == 200) w = $2 - free }
    END {
      printf "%s: first 507 %.3f s after the disk filled; first 200 %.3f s after space was freed; alive %s\n", mode, r, w, alive
      printf "  answers while full:"; for (c in full) printf " %s x %d", c, full[c]; printf "\n"
      printf "  answers after:"; for (c in after) printf " %s x %d", c, after[c]; printf "\n"
    }' "$log"
  umount "$mnt" 2>/dev/null || true
}

case "${1:-}" in
overload) overload "${2:-}" ;;
bodies) bodies ;;
fulldisk) fulldisk "${2:-}" ;;
*) sed -n '2,16p' "$0"; exit 2 ;;
esac
