#!/usr/bin/env bash
# (f) The re-send bound of at_least_once: kill -9 of the syncing process mid-drain re-sends at
# most max_in_flight records (sync/README.md, "at_least_once"). After each kill the records
# central already holds above the saved cursor are counted: the next run sends each of them
# again (a duplicate, same outpost-seq), so that count must be <= the mirror's max_in_flight.
#   fast: a drain at 20,000 records/s, window 1,000 (250 ms of it would be 5,000 records)
#   slow: 1,000 records/s over a 200 ms round trip, window 500
# At the end every record is there, and the duplicates are no more than the counts above.
source "$(dirname "$0")/lib.sh"
start_central 1
N=60000
"$DRIVER" append --data "$WORK/data" --stream raw --count $N

# above CURSOR FILE: distinct sequences in a consumed topic above CURSOR.
above() {
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import sys
cursor, path = int(sys.argv[1]), sys.argv[2]
seqs = set()
for line in open(path, encoding="utf-8", errors="replace"):
    hdrs = line.split("\t", 2)[1]
    h = dict(kv.split("=", 1) for kv in hdrs.split(",") if "=" in kv)
    seqs.add(int(h["outpost-seq"]))
print(sum(1 for s in seqs if s > cursor))
EOF
}

# settled TOPIC FILE: consumes the whole topic until two reads in a row agree (a request the
# killed process had already sent may still be written just after the kill). As `consume`,
# without kcat's 500 ms wait for more data at the end of each partition.
settled() {
  local prev=-1 n end=$(( $(date +%s) + 20 ))
  while :; do
    kcat -b "$BOOTSTRAP" -C -t "$1" -e -q -X fetch.wait.max.ms=20 -f '%k\t%h\t%p\t%s\n' >"$2"
    n=$(wc -l <"$2")
    [ "$n" -ne "$prev" ] || return 0
    [ "$(date +%s)" -lt $end ] || fail "topic $1 did not settle"
    prev=$n
  done
}

# scenario NAME TOPIC WINDOW RATE RTT_MS KILLS
scenario() {
  local name=$1 topic=$2 window=$3 rate=$4 rtt=$5 kills=$6 total=0
  local cursor before resent dups
  for i in $(seq 1 "$kills"); do
    ctl rtt all "$rtt"
    before=$("$DRIVER" cursor --data "$WORK/data" --stream raw --mirror "$name")
    [ "$before" = none ] && before=0
    rm -f "$WORK/sync.status"
    "$DRIVER" sync --data "$WORK/data" --bootstrap "$BOOTSTRAP" --mirror "$name=raw:$topic" \
      --status-file "$WORK/sync.status" --max-rate "$rate" --max-in-flight "$window" 2>>"$WORK/sync.err" &
    DRV=$!; PIDS+=($DRV)
    # Mid-drain: this run confirmed a few windows' worth beyond where it started.
    wait_for "$name run $i to make progress" 30 bash -c \
      "[ \"\$(jq -r '.mirrors[0].cursor' '$WORK/sync.status' 2>/dev/null || echo 0)\" -gt $(( before + 3 * window )) ]"
    kill -9 $DRV; wait $DRV 2>/dev/null || true
    ctl rtt all 0  # for the reads below; nothing is producing now
    cursor=$("$DRIVER" cursor --data "$WORK/data" --stream raw --mirror "$name")
    [ "$cursor" != none ] && [ "$cursor" -lt $N ] || fail "$name run $i: killed after the drain (cursor $cursor)"
    settled "$topic" "$WORK/$name.txt"
    resent=$(above "$cursor" "$WORK/$name.txt")
    echo "$name run $i: saved cursor $cursor; central holds $resent records above it (max_in_flight $window)"
    [ "$resent" -le "$window" ] || fail "$name: a crash re-sends $resent records, more than max_in_flight $window"
    total=$(( total + resent ))
  done
  # The rest at full speed (window and round trip as by default): the bound is checked above.
  "$DRIVER" sync --data "$WORK/data" --bootstrap "$BOOTSTRAP" --mirror "$name=raw:$topic" \
    --status-file "$WORK/sync.status" --until-synced 2>>"$WORK/sync.err" &
  DRV=$!; PIDS+=($DRV)
  wait $DRV || fail "$name: final run failed"
  consume "$topic" "$WORK/$name.txt"
  /usr/bin/python3 "$(dirname "$0")/verify.py" at_least_once "$WORK/$name.txt" $N
  dups=$(( $(wc -l <"$WORK/$name.txt") - N ))
  echo "$name: $dups duplicates in all after $kills kills (counted above the cursors: $total)"
  [ "$dups" -le "$total" ] || fail "$name: $dups duplicates, more than the $total counted after the kills"
}

scenario fast site.fast 1000 20000 0 3
scenario slow site.slow 500 1000 200 3
echo PASS
