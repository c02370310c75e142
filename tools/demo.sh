#!/usr/bin/env bash
# The README's first command: sets everything up and runs Outpost on a built-in demo.
# Stage 1 (the local log): generates a sensor feed, appends it, and shows stat, cat, verify.
set -euo pipefail
cd "$(dirname "$0")/.."
outpost=$(bash tools/build.sh)
work=$(mktemp -d /tmp/outpost-demo.XXXXXX)
echo "demo data dir: $work/data"

python3 - "$work/feed.jsonl" <<'PY'
import json, random, sys
random.seed(7)
t0 = 1_700_000_000_000
with open(sys.argv[1], "w") as f:
    for i in range(100_000):
        dev = f"dev-{random.randrange(2000):04d}"
        f.write(json.dumps({"device": dev, "site": random.choice(["north", "south"]),
                            "ts": t0 + i * 10, "temp": round(random.gauss(21, 3), 2),
                            "hum": round(random.uniform(30, 60), 1)}, separators=(",", ":")) + "\n")
PY
echo "== append 100000 readings =="
"$outpost" log append --data-dir "$work/data" --stream readings --key-field device --time-field ts <"$work/feed.jsonl" | tail -n 1
echo "== stat =="
"$outpost" log stat --data-dir "$work/data"
echo "== cat --from-seq 99998 =="
"$outpost" log cat --data-dir "$work/data" --stream readings --from-seq 99998
echo "== verify =="
"$outpost" log verify --data-dir "$work/data" && echo "log verifies clean"
