#!/usr/bin/env bash
# The README's first command: sets everything up and runs Outpost's main job on a built-in demo.
#
#   mosquitto (local broker)  <-  outpost simulate (sensors, some garbage payloads)
#        |
#   outpost run (examples/demo.yaml): MQTT -> decode -> local log, dead letters, sync
#        |
#   outpost dev-central (local stand-in for the central Kafka cluster)  ->  read back with kcat
#
# Then it cuts the uplink (all central brokers down) while sensors keep publishing, shows the
# backlog growing in `outpost status`, brings the uplink back and shows central catching up with
# nothing lost. Every process it starts is stopped at the end, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
outpost=$(bash tools/build.sh)
work=$(mktemp -d /tmp/outpost-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds or the deadline passes.
wait_for() {
  local what=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "demo: timed out waiting for $what" >&2
      exit 1
    fi
    sleep 0.2
  done
}
say() { printf '\n== %s\n' "$*"; }

mqtt_port=$(free_port)
http_port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mqtt_port" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
wait_for "mosquitto" 20 bash -c "echo > /dev/tcp/127.0.0.1/$mqtt_port"

"$outpost" dev-central --no-stdin --bootstrap-file "$work/bootstrap" --control-fifo "$work/central.ctl" \
  >"$work/central.log" 2>&1 &
pids+=($!)
wait_for "the stand-in central cluster" 20 test -s "$work/bootstrap"
kafka=$(cat "$work/bootstrap")

export OUTPOST_DEMO_DATA="$work/data" OUTPOST_DEMO_MQTT_PORT=$mqtt_port OUTPOST_DEMO_KAFKA=$kafka \
  OUTPOST_DEMO_HTTP_PORT=$http_port
say "outpost check --config examples/demo.yaml"
"$outpost" check --config examples/demo.yaml
say "starting outpost run (log: $work/outpost.log)"
"$outpost" run --config examples/demo.yaml >"$work/outpost.log" 2>&1 &
outpost_pid=$!
pids+=($outpost_pid)
wait_for "outpost to be healthy" 30 "$outpost" status --http "127.0.0.1:$http_port"

status() { "$outpost" status --http "127.0.0.1:$http_port" || true; }
log_records() {
  "$outpost" log stat --data-dir "$work/data" --json |
    python3 -c 'import json,sys; print(sum(s["records"] for s in json.load(sys.stdin) if s["stream"] in ("readings","readings.dead")))'
}
central_count() {
  # Distinct outpost-seq values on the topic: duplicates after a resend carry the same seq.
  kcat -b "$kafka" -C -t "$1" -e -q -f '%h\n' 2>/dev/null |
    python3 -c 'import sys; print(len({h for h in (l.strip() for l in sys.stdin) if h}))'
}
mirrored_all() {
  local want
  want=$("$outpost" log stat --data-dir "$work/data" --json |
    python3 -c 'import json,sys; print(next(s["last_seq"] for s in json.load(sys.stdin) if s["stream"]=="readings"))')
  [[ "$(central_count demo.readings)" == "$want" ]]
}

export outpost work kafka
export -f log_records central_count mirrored_all

say "simulated sensors publish 3000 readings (1% garbage) at 500/s"
"$outpost" simulate --broker "tcp://127.0.0.1:$mqtt_port" --devices 20 --rate 500 --count 3000 \
  --garbage-fraction 0.01 --seed 7 \
  --period-ms 40 --pause-ms 0 --late-fraction 0.01 --late-ms 15000
wait_for "all 3000 messages in the log" 30 bash -c '[[ $(log_records) -ge 3000 ]]'
wait_for "central to receive every reading" 60 bash -c mirrored_all
status

say "what landed: the last two readings, and one dead letter"
last=$("$outpost" log stat --data-dir "$work/data" --json |
  python3 -c 'import json,sys; print(next(s["last_seq"] for s in json.load(sys.stdin) if s["stream"]=="readings"))')
"$outpost" log cat --data-dir "$work/data" --stream readings --from-seq $((last - 1))
"$outpost" log cat --data-dir "$work/data" --stream readings.dead --to-seq 1

say "continuous queries: per device and 10 s (result stream temp_10s, first rows), and hot alerts"
wait_for "the first closed windows" 30 bash -c '"$outpost" log stat --data-dir "$work/data" --json |
  python3 -c "import json,sys; sys.exit(0 if any(s[\"stream\"]==\"temp_10s\" and s[\"records\"]>0 for s in json.load(sys.stdin)) else 1)"'
"$outpost" log cat --data-dir "$work/data" --stream temp_10s --to-seq 3
"$outpost" log cat --data-dir "$work/data" --stream hot_alerts --to-seq 2

say "a historical query over the local log (outpost query --format table)"
"$outpost" query --config examples/demo.yaml --format table \
  "SELECT device, count() AS n, min(temp) AS min_t, avg(temp) AS avg_t, p99(temp) AS p99_t
   FROM table(readings) WHERE site = 'north' GROUP BY device" | head -n 12

say "central (read back with kcat): first three records of demo.readings"
kcat -b "$kafka" -C -t demo.readings -c 3 -e -q -f 'key=%k seq=%h value=%s\n' 2>/dev/null | cut -c1-200

say "uplink outage: all central brokers down, sensors keep publishing 2000 more"
echo "down all" >"$work/central.ctl"
"$outpost" simulate --broker "tcp://127.0.0.1:$mqtt_port" --devices 20 --rate 500 --count 2000 --seed 8 --quiet \
  --period-ms 40 --pause-ms 0 --late-fraction 0.01 --late-ms 15000
wait_for "all 5000 messages in the log" 30 bash -c '[[ $(log_records) -ge 5000 ]]'
status

say "uplink back: central catches up from the local log"
echo "up all" >"$work/central.ctl"
wait_for "central to catch up" 120 bash -c mirrored_all
status
echo
echo "central holds $(central_count demo.readings) distinct readings, $(central_count demo.dead) dead letters"
echo "and $(central_count demo.temp_10s) window rows of the temp_10s query (read_committed:"
echo "$(kcat -b "$kafka" -C -t demo.temp_10s -e -q -X isolation.level=read_committed 2>/dev/null | wc -l) visible);"
echo "the local log holds $(log_records) records. Nothing was lost across the outage."

say "stopping (SIGTERM: sources stop, the log is flushed, cursors saved)"
kill -TERM "$outpost_pid"
wait "$outpost_pid" && echo "outpost exited 0"
tail -n 3 "$work/outpost.log"
echo "demo files: $work"
