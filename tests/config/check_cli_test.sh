#!/usr/bin/env bash
# `outpost check` as a user runs it: a valid file exits 0 with a one-line summary on stdout and
# nothing on stderr; a broken file exits 2 with every problem as FILE:LINE:COL: message on
# stderr and a count; a missing file or a missing --config exits 2 too.
set -u
: "${OUTPOST_BIN:?}" "${OUTPOST_SOURCE_DIR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# 1. The packaged default is valid.
"$OUTPOST_BIN" check --config "$OUTPOST_SOURCE_DIR/systemd/outpost.yaml" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 0 ] || fail "packaged default: exit $rc, stderr: $(cat "$work/err")"
[ -s "$work/err" ] && fail "packaged default: unexpected stderr: $(cat "$work/err")"
grep -qE '^.*/systemd/outpost.yaml: ok: agent .*, data dir /var/lib/outpost; 1 source \(1 MQTT with 1 subscription, 0 serial\), 1 stream, 0 queries, 0 mirrors$' "$work/out" \
  || fail "packaged default: summary not as expected: $(cat "$work/out")"

# 2. The demo is valid with its environment.
OUTPOST_DEMO_DATA="$work/data" OUTPOST_DEMO_MQTT_PORT=1883 OUTPOST_DEMO_KAFKA=127.0.0.1:9092 \
  "$OUTPOST_BIN" check --config "$OUTPOST_SOURCE_DIR/examples/demo.yaml" >"$work/out" 2>"$work/err" \
  || fail "demo: exit $?, stderr: $(cat "$work/err")"

# 3. A file with three problems: all three reported, in file order, then a count; exit 2.
cat >"$work/bad.yaml" <<'YAML'
agent: {data_dir: /tmp/x}
storage:
  fsync: alwyas
  flush: {interval: 10 s}
sources:
  - name: site
    type: mqtt
    broker: tcp://127.0.0.1:1883
    subscriptions:
      - topic: sensors/#
        qso: 1
        stream: readings
streams: [{name: readings}]
YAML
"$OUTPOST_BIN" check --config "$work/bad.yaml" >"$work/out" 2>"$work/err"
rc=$?
[ $rc -eq 2 ] || fail "bad file: exit $rc, want 2"
[ -s "$work/out" ] && fail "bad file: stdout should be empty: $(cat "$work/out")"
cat >"$work/want" <<WANT
$work/bad.yaml:3:10: storage.fsync must be always or never (did you mean 'always'?)
$work/bad.yaml:4:21: storage.flush.interval: '10 s' is not a duration; write e.g. 200ms, 10s, 5m, 1h or 7d (no space)
$work/bad.yaml:11:9: unknown key 'qso' in sources[0].subscriptions[0] (did you mean 'qos'?)
$work/bad.yaml: 3 errors
WANT
diff -u "$work/want" "$work/err" || fail "bad file: stderr differs from the expected diagnostics"

# 4. Unset variables and missing files are config errors too.
printf 'agent: {data_dir: "${OUTPOST_CHECK_TEST_UNSET}"}\n' >"$work/env.yaml"
env -u OUTPOST_CHECK_TEST_UNSET "$OUTPOST_BIN" check --config "$work/env.yaml" >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 2 ] || fail "unset variable: exit $rc, want 2"
grep -qxF "$work/env.yaml:1:19: environment variable OUTPOST_CHECK_TEST_UNSET is not set" "$work/err" \
  || fail "unset variable: got $(cat "$work/err")"
"$OUTPOST_BIN" check --config "$work/missing.yaml" >/dev/null 2>"$work/err"
rc=$?
[ $rc -eq 2 ] || fail "missing file: exit $rc, want 2"
grep -q "^$work/missing.yaml: cannot read the config file" "$work/err" || fail "missing file: got $(cat "$work/err")"
"$OUTPOST_BIN" check >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || fail "no --config: exit $rc, want 2"

# 5. The reference the binary prints is the checked-in docs/CONFIG.md.
"$OUTPOST_BIN" check --print-reference >"$work/ref.md" || fail "--print-reference: exit $?"
cmp -s "$work/ref.md" "$OUTPOST_SOURCE_DIR/docs/CONFIG.md" || fail "docs/CONFIG.md differs from --print-reference"

if [ $failures -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "outpost check: ok"
