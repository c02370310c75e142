# Shared helpers for the sync end-to-end tests. Source it; $1 of the test is the driver.
# Starts `outpost dev-central` on ephemeral loopback ports, kills every process it started
# (by PID) on exit, also on failure.
set -euo pipefail

DRIVER=${1:?usage: $0 path/to/outpost_sync_driver}
OUTPOST_BIN=${OUTPOST_BIN:?OUTPOST_BIN must point at the outpost binary}
WORK=$(mktemp -d /tmp/outpost-sync-e2e.XXXXXX)
PIDS=()

cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ $rc -ne 0 ]; then
    echo "--- test failed (rc=$rc); work dir $WORK kept" >&2
    for f in "$WORK"/*.status "$WORK"/*.err; do [ -f "$f" ] && { echo "== $f" >&2; tail -5 "$f" >&2; }; done
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# wait_for DESCRIPTION TIMEOUT_S COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local end=$(( $(date +%s) + timeout ))
  until "$@"; do
    [ "$(date +%s)" -lt $end ] || fail "timed out after ${timeout}s waiting for: $what"
    sleep 0.1
  done
}

start_central() {
  local brokers=${1:-1}
  mkfifo "$WORK/ctl"
  "$OUTPOST_BIN" dev-central --brokers "$brokers" --no-stdin --control-fifo "$WORK/ctl" \
    --bootstrap-file "$WORK/bootstrap" >"$WORK/central.out" 2>"$WORK/central.err" &
  PIDS+=($!)
  wait_for "dev-central bootstrap file" 10 test -s "$WORK/bootstrap"
  BOOTSTRAP=$(cat "$WORK/bootstrap")
  head -1 "$WORK/central.out" | grep -q "^bootstrap=$BOOTSTRAP\$" || fail "first stdout line is not bootstrap="
}

# ctl COMMAND...: sends one command to dev-central and waits for its answer line.
ctl() {
  local before
  before=$(wc -l <"$WORK/central.out")
  echo "$*" >"$WORK/ctl"
  wait_for "dev-central answer to '$*'" 5 bash -c "[ \$(wc -l <'$WORK/central.out') -gt $before ]"
  tail -1 "$WORK/central.out" | grep -q '^ok' || fail "dev-central refused '$*': $(tail -1 "$WORK/central.out")"
}

# status_field NAME FIELD: a mirror's metric from the driver's status file.
status_field() {
  jq -r --arg n "$1" ".mirrors[] | select(.name == \$n) | .$2" "$WORK/sync.status" 2>/dev/null || echo ""
}

# consume TOPIC FILE: the whole topic as "key<TAB>headers<TAB>value" lines, read committed.
consume() {
  kcat -b "$BOOTSTRAP" -C -t "$1" -e -q -X isolation.level=read_committed \
    -f '%k\t%h\t%p\t%s\n' >"$2"
}
