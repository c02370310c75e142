#!/usr/bin/env bash
# (a) Steady state: every record arrives once, with key and headers, in order per key.
source "$(dirname "$0")/lib.sh"
start_central 1
N=20000
"$DRIVER" append --data "$WORK/data" --stream raw --count $N
timeout 60 "$DRIVER" sync --data "$WORK/data" --bootstrap "$BOOTSTRAP" --mirror raw-central=raw:site.raw \
  --status-file "$WORK/sync.status" --until-synced 2>"$WORK/sync.err" || fail "driver failed"
[ "$(status_field raw-central cursor)" = $N ] || fail "cursor $(status_field raw-central cursor) != $N"
consume site.raw "$WORK/raw.txt"
/usr/bin/python3 "$(dirname "$0")/verify.py" exact "$WORK/raw.txt" $N
grep -q "outpost-agent=agent-1,outpost-stream=raw,outpost-seq=1," "$WORK/raw.txt" || fail "headers"
echo PASS
