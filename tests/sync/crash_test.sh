#!/usr/bin/env bash
# (d) kill -9 of the syncing process, many times during the drain.
#   at_least_once: no record missing; duplicates are copies with the same outpost-seq.
#   exactly_once: after what the cluster must abort, each (agent, stream, seq) exactly once.
source "$(dirname "$0")/lib.sh"
start_central 1
N=30000
"$DRIVER" append --data "$WORK/data" --stream raw --count $N
"$DRIVER" append --data "$WORK/data" --stream res --count $N
run_sync() {
  exec "$DRIVER" sync --data "$WORK/data" --bootstrap "$BOOTSTRAP" \
    --mirror raw=raw:site.raw:at_least_once --mirror res=res:site.res:exactly_once \
    --status-file "$WORK/sync.status" --max-rate 6000 "$@" 2>>"$WORK/sync.err"
}
rm -f "$WORK/sync.status"
for i in $(seq 1 8); do
  [ "$(jq -r '[.mirrors[].cursor]|add' "$WORK/sync.status" 2>/dev/null || echo 0)" -lt $((2 * N)) ] || break
  before=$(jq -r '[.mirrors[].cursor]|add' "$WORK/sync.status" 2>/dev/null || echo 0)
  run_sync & DRV=$!; PIDS+=($DRV)
  # Kill once this run made progress on both mirrors (mid-drain), at a varying moment.
  wait_for "progress in run $i" 30 bash -c "s=\$(jq -r '[.mirrors[].cursor]|add' '$WORK/sync.status' 2>/dev/null || echo 0); [ \"\$s\" -gt $before ]"
  sleep "0.$(( RANDOM % 4 ))"
  echo "run $i: killing at raw=$(status_field raw cursor) res=$(status_field res cursor)"; kill -9 $DRV; wait $DRV 2>/dev/null || true
done
( run_sync --until-synced ) & DRV=$!; PIDS+=($DRV)
wait $DRV || fail "final run failed"
consume site.raw "$WORK/raw.txt"
consume site.res "$WORK/res.txt"
/usr/bin/python3 "$(dirname "$0")/verify.py" at_least_once "$WORK/raw.txt" $N
/usr/bin/python3 "$(dirname "$0")/verify.py" exactly_once "$WORK/res.txt" $N
# The committed cursors only move forward.
kcat -b "$BOOTSTRAP" -C -t outpost.cursors -e -q -f '%k\t%s\n' | grep '^agent-1/res/res' |
  /usr/bin/python3 -c '
import json,sys
last=0
for l in sys.stdin:
    s=json.loads(l.split("\t",1)[1])["last_seq"]
    if s < last: sys.exit(f"cursor went back from {last} to {s}")
    last=s
print("cursor topic ends at", last)
sys.exit(0 if last == '$N' else "last cursor is not N")'
echo PASS
