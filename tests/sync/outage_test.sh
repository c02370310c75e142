#!/usr/bin/env bash
# (b) All brokers down during ingest, for longer than message.timeout.ms: the mirror re-drives
# the timed-out records from the local log; nothing is lost, order per key holds.
source "$(dirname "$0")/lib.sh"
start_central 3
N=12000
"$DRIVER" sync --data "$WORK/data" --bootstrap "$BOOTSTRAP" --mirror m=raw:site.raw \
  --ingest-stream raw --ingest-count $N --ingest-rate 2000 --prop message.timeout.ms=1500 \
  --status-file "$WORK/sync.status" --until-synced 2>"$WORK/sync.err" &
DRV=$!; PIDS+=($DRV)
wait_for "first records confirmed" 20 bash -c "[ \"\$(jq -r '.mirrors[0].cursor' '$WORK/sync.status' 2>/dev/null || echo 0)\" -ge 1000 ]"
# Slow responses first (rtt > message.timeout.ms) so records are surely in flight when the
# brokers go: those time out in librdkafka and must be re-driven from the log.
ctl rtt all 3000
wait_for "records in flight" 10 bash -c "[ \"\$(jq -r '.mirrors[0].in_flight' '$WORK/sync.status')\" -gt 0 ]"
ctl down all
# The outage lasts until librdkafka gave up on records (message.timeout.ms) and they were re-driven.
wait_for "a re-drive" 30 bash -c "[ \"\$(jq -r '.mirrors[0].redrives' '$WORK/sync.status')\" -ge 1 ]"
state=$(status_field m state)
[ "$state" != online ] || fail "state is online during the outage"
ctl rtt all 0
ctl up all
wait $DRV || fail "driver exited with $?"
consume site.raw "$WORK/raw.txt"
/usr/bin/python3 "$(dirname "$0")/verify.py" at_least_once "$WORK/raw.txt" $N
echo "redrives=$(status_field m redrives) PASS"
