#!/usr/bin/env bash
# The README's first command: sets everything up and runs Outpost's main job on a built-in demo.
#
#   mosquitto (local broker)  <-  outpost simulate (sensors that run and pause, some readings
#        |                        late and out of order, some garbage payloads)
#   outpost run (examples/demo.yaml): MQTT -> decode -> local log, dead letters, continuous
#        |        queries (a 10 s tumbling window, per-device sessions, a filter), sync
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
  # Distinct outpost-seq values on the topic: duplicates after a resend carry the same seq. The
  # query results go out in Kafka transactions: those are read as a read_committed consumer would.
  kcat -b "$kafka" -C -t "$1" -e -q -X isolation.level=read_committed -f '%h\n' 2>/dev/null |
    python3 -c 'import sys; print(len({h for h in (l.strip() for l in sys.stdin) if h}))'
}
last_seq() {
  "$outpost" log stat --data-dir "$work/data" --json |
    python3 -c "import json,sys; print(next((s['last_seq'] for s in json.load(sys.stdin) if s['stream']=='$1'), 0))"
}
mirrored_all() { [[ "$(central_count demo.readings)" == "$(last_seq readings)" ]]; }
# Every mirrored stream, the query results included, is at central up to its last record.
caught_up() {
  local pair
  for pair in readings:demo.readings readings.dead:demo.dead temp_10s:demo.temp_10s sessions:demo.sessions; do
    [[ "$(central_count "${pair#*:}")" == "$(last_seq "${pair%%:*}")" ]] || return 1
  done
}
export outpost work kafka
export -f log_records central_count last_seq mirrored_all caught_up

# Each device sends a reading every 20 ms of event time for a run of 50, then pauses 1 s (a
# session each run); at 500/s for 20 devices event time keeps pace with the wall clock. 2% of
# readings are sent late and out of order (event time up to 15 s back).
sim_shape=(--devices 20 --rate 500 --period-ms 20 --run-length 50 --pause-ms 1000 --late-fraction 0.02 --late-ms 15000)
# The first reading's event time is 3 s before a 10 s boundary (and at most 10 s ago): the 6 s of
# readings then cross it by more than temp_10s's 2 s delay, so a window closes whatever the
# clock says (the idle timeout closes only windows that end before the last reading).
now_ms=$(date +%s%3N)
start_ms=$(((now_ms + 3000) / 10000 * 10000 - 3000))
say "simulated sensors publish 3000 readings at 500/s (2% late and out of order, 1% garbage)"
"$outpost" simulate --broker "tcp://127.0.0.1:$mqtt_port" "${sim_shape[@]}" --count 3000 \
  --garbage-fraction 0.01 --seed 7 --start-ms "$start_ms"
wait_for "all 3000 messages in the log" 30 bash -c '[[ $(log_records) -ge 3000 ]]'
wait_for "central to receive every reading" 60 bash -c mirrored_all
status

say "what landed: the last two readings, and one dead letter"
last=$("$outpost" log stat --data-dir "$work/data" --json |
  python3 -c 'import json,sys; print(next(s["last_seq"] for s in json.load(sys.stdin) if s["stream"]=="readings"))')
"$outpost" log cat --data-dir "$work/data" --stream readings --from-seq $((last - 1))
"$outpost" log cat --data-dir "$work/data" --stream readings.dead --to-seq 1

has_rows() {
  "$outpost" log stat --data-dir "$work/data" --json |
    python3 -c "import json,sys; sys.exit(0 if any(s['stream']=='$1' and s['records']>0 for s in json.load(sys.stdin)) else 1)"
}
export -f has_rows
say "continuous queries: per device and 10 s (result stream temp_10s, first rows), and hot alerts"
wait_for "the first closed windows" 30 bash -c 'has_rows temp_10s'
"$outpost" log cat --data-dir "$work/data" --stream temp_10s --to-seq 3
"$outpost" log cat --data-dir "$work/data" --stream hot_alerts --to-seq 2

say "session query: one row per device run (result stream sessions, first rows)"
wait_for "the first closed sessions" 30 bash -c 'has_rows sessions'
"$outpost" log cat --data-dir "$work/data" --stream sessions --to-seq 3

say "late and out-of-order readings: counted per query ('late' in outpost status), kept in temp_10s.late"
wait_for "the late stream" 30 bash -c 'has_rows temp_10s.late'
"$outpost" log cat --data-dir "$work/data" --stream temp_10s.late --to-seq 2
"$outpost" status --http "127.0.0.1:$http_port" --json |
  python3 -c 'import json,sys
for q in json.load(sys.stdin)["queries"]:
    print("  %-11s late events %3d (dropped %d)" % (q["name"], q["late_events"], q["late_dropped"]))'

say "a historical query over the local log (outpost query --format table)"
"$outpost" query --config examples/demo.yaml --format table \
  "SELECT device, count() AS n, min(temp) AS min_t, avg(temp) AS avg_t, p99(temp) AS p99_t
   FROM table(readings) WHERE site = 'north' GROUP BY device" | head -n 12

say "central (read back with kcat): first three records of demo.readings, and of demo.sessions"
kcat -b "$kafka" -C -t demo.readings -c 3 -e -q -f 'key=%k seq=%h value=%s\n' 2>/dev/null | cut -c1-200
wait_for "session rows at central" 30 bash -c '[[ $(central_count demo.sessions) -gt 0 ]]'
kcat -b "$kafka" -C -t demo.sessions -c 3 -e -q -X isolation.level=read_committed \
  -f 'key=%k seq=%h value=%s\n' 2>/dev/null | cut -c1-200

say "uplink outage: all central brokers down, sensors keep publishing 2000 more"
echo "down all" >"$work/central.ctl"
"$outpost" simulate --broker "tcp://127.0.0.1:$mqtt_port" "${sim_shape[@]}" --count 2000 --seed 8 --quiet
wait_for "all 5000 messages in the log" 30 bash -c '[[ $(log_records) -ge 5000 ]]'
status

say "uplink back: central catches up from the local log"
echo "up all" >"$work/central.ctl"
wait_for "central to catch up" 120 bash -c caught_up
status
echo
echo "central holds $(central_count demo.readings) distinct readings and $(central_count demo.dead) dead letters,"
echo "$(central_count demo.temp_10s) window rows of temp_10s and $(central_count demo.sessions) session rows of sessions"
echo "(each the same as the local result stream; read as a read_committed consumer);"
echo "the local log holds $(log_records) records. Nothing was lost across the outage."

say "stopping (SIGTERM: sources stop, the log is flushed, cursors saved)"
kill -TERM "$outpost_pid"
wait "$outpost_pid" && echo "outpost exited 0"
tail -n 3 "$work/outpost.log"
echo "demo files: $work"
