#!/usr/bin/env bash
# (e) While central is unreachable, the disk quota forces the store to drop the oldest
# records: a gap record names the exact lost ranges, and data + gaps cover every sequence.
source "$(dirname "$0")/lib.sh"
start_central 1
N=60000
ctl down all
"$DRIVER" sync --data "$WORK/data" --bootstrap "$BOOTSTRAP" --mirror m=raw:site.raw \
  --ingest-stream raw --ingest-count $N --ingest-rate 30000 --quota-bytes 100000 --segment-bytes 65536 \
  --gap-topic site.gaps --status-file "$WORK/sync.status" --until-synced 2>"$WORK/sync.err" &
DRV=$!; PIDS+=($DRV)
wait_for "ingest to finish" 60 bash -c "[ \"\$(jq -r '.ingest_done' '$WORK/sync.status' 2>/dev/null)\" = true ]"
wait_for "the quota to drop records" 30 bash -c "[ \"\$(jq -r '.dropped_ranges' '$WORK/sync.status')\" -gt 0 ]"
ctl up all
wait $DRV || fail "driver exited with $?"
[ "$(status_field m gaps)" -ge 1 ] || fail "no gap counted in metrics"
consume site.raw "$WORK/raw.txt"
consume site.gaps "$WORK/gaps.txt"
/usr/bin/python3 "$(dirname "$0")/verify.py" gaps "$WORK/raw.txt" $N "$WORK/gaps.txt"
grep -q '"reason":"quota"' "$WORK/gaps.txt" || fail "gap reason is not quota: $(head -1 "$WORK/gaps.txt")"
echo PASS
