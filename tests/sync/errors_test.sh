#!/usr/bin/env bash
# (c) Errors injected on produce (retried by librdkafka) and transaction aborts (abortable
# errors: abort, rewind to the last committed cursor, retry): no loss; exactly-once holds.
source "$(dirname "$0")/lib.sh"
start_central 1
N=15000
"$DRIVER" append --data "$WORK/data" --stream raw --count $N
"$DRIVER" append --data "$WORK/data" --stream res --count $N
ctl error produce NOT_LEADER_FOR_PARTITION 5
ctl error produce REQUEST_TIMED_OUT 5
timeout 90 "$DRIVER" sync --data "$WORK/data" --bootstrap "$BOOTSTRAP" --mirror raw=raw:site.raw \
  --status-file "$WORK/sync.status" --until-synced 2>"$WORK/sync.err" || fail "at_least_once driver failed"
consume site.raw "$WORK/raw.txt"
/usr/bin/python3 "$(dirname "$0")/verify.py" at_least_once "$WORK/raw.txt" $N
# Abortable transaction errors: AddPartitionsToTxn refused, then EndTxn fails.
ctl error addpartitionstotxn TOPIC_AUTHORIZATION_FAILED 1
ctl error produce INVALID_RECORD 1
timeout 90 "$DRIVER" sync --data "$WORK/data" --bootstrap "$BOOTSTRAP" --mirror res=res:site.res:exactly_once \
  --status-file "$WORK/sync.status" --until-synced 2>"$WORK/sync.err" || fail "exactly_once driver failed"
aborts=$(status_field res aborts)
[ "$aborts" -ge 1 ] || fail "expected transaction aborts, got $aborts"
consume site.res "$WORK/res.txt"
/usr/bin/python3 "$(dirname "$0")/verify.py" exactly_once "$WORK/res.txt" $N
echo "aborts=$aborts PASS"
