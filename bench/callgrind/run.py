#!/usr/bin/env python3
"""bench/callgrind (issue 7): instructions per event on the hot paths, counted by
`valgrind --tool=callgrind` (the same on a busy or an idle machine, and a basis for estimating
slower boards: instructions / (IPC x clock)). Prints JSON lines:

  store_append   the store's append loop alone (bench/store_append instruments only that loop
                 with CALLGRIND_START/STOP_INSTRUMENTATION; records with keys, default settings,
                 compression and the final flush included): Ir / records.
  log_append     `outpost log append` (read stdin, find key and event time in the JSON, append):
                 (Ir(N records) - Ir(1,000 records)) / (N - 1,000), so start-up is not charged.
  window_query   `outpost query` of bench/window_tumble's query (tumble 1m, GROUP BY device,
                 count/avg/max/p99) over those N stored records, differenced the same way.

  python3 bench/callgrind/run.py --outpost build/default/agent/outpost
      --store-append build/default/bench/store_append/store_append [--records 200000]
Not a test: never in ctest.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

QUERY = ("SELECT window_start, window_end, device, count() AS n, avg(temp) AS avg_t, "
         "max(temp) AS max_t, p99(temp) AS p99_t FROM tumble(table(readings), _tp_time, 1m) "
         "GROUP BY window_start, window_end, device EMIT AFTER WATERMARK AND DELAY 5s")
SMALL = 1000


def note(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def total_ir(out_file):
    found = {}
    with open(out_file) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                found[line.split(":")[0]] = int(line.split()[1])
    if not found:
        raise SystemExit(f"callgrind: no totals in {out_file}")
    # `summary:` (the header) is 0 when instrumentation started off; `totals:` is the real sum.
    return found.get("totals", found.get("summary"))


def callgrind(args, out_file, stdin_path=None, extra=()):
    cmd = ["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out_file}", *extra, *args]
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as inp:
        r = subprocess.run(cmd, stdin=inp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise SystemExit(f"callgrind: {' '.join(args[:3])} failed: {r.stderr.decode()[-500:]}")
    return total_ir(out_file)


def feed(path, records, devices=3000, seed=4):
    rng = random.Random(seed)
    t0 = 1_767_225_600_000
    with open(path, "w") as f:
        for i in range(records):
            d = rng.randrange(devices)
            f.write(f'{{"device":"dev-{d:05d}","site":"north","ts":{t0 + i * 7 + rng.randint(-2000, 2000)},'
                    f'"temp":{15 + rng.random() * 20:.2f},"hum":{rng.uniform(20, 80):.1f},"status":"ok"}}\n')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outpost", default="build/default/agent/outpost")
    ap.add_argument("--store-append", default="build/default/bench/store_append/store_append")
    ap.add_argument("--records", type=int, default=200_000)
    a = ap.parse_args()
    n = a.records
    tmp = tempfile.mkdtemp(prefix="outpost-bench-callgrind-")
    try:
        note(f"store_append under callgrind, {n} records")
        ir = callgrind([os.path.abspath(a.store_append), "--records", str(n), "--keys", "1",
                        "--dir", os.path.join(tmp, "sa")], os.path.join(tmp, "cg.sa"),
                       extra=["--instr-atstart=no"])
        print(json.dumps({"bench": "callgrind", "path": "store_append", "records": n, "instructions": ir,
                          "instructions_per_event": round(ir / n, 1)}), flush=True)

        big, small = os.path.join(tmp, "big.jsonl"), os.path.join(tmp, "small.jsonl")
        feed(big, n)
        feed(small, SMALL)
        ir_n = {}
        for name, path, count in (("big", big, n), ("small", small, SMALL)):
            note(f"outpost log append under callgrind, {count} records")
            ir_n[name] = callgrind([a.outpost, "log", "append", "--data-dir", os.path.join(tmp, f"d-{name}"),
                                    "--stream", "readings", "--key-field", "device", "--time-field", "ts",
                                    "--time-format", "unix_ms"], os.path.join(tmp, f"cg.la.{name}"), stdin_path=path)
        print(json.dumps({"bench": "callgrind", "path": "log_append", "records": n,
                          "instructions": ir_n["big"], "instructions_small": ir_n["small"],
                          "instructions_per_event": round((ir_n["big"] - ir_n["small"]) / (n - SMALL), 1)}), flush=True)
        q = {}
        for name, count in (("big", n), ("small", SMALL)):
            note(f"outpost query under callgrind, {count} stored records")
            q[name] = callgrind([a.outpost, "query", "--data-dir", os.path.join(tmp, f"d-{name}"), QUERY],
                                os.path.join(tmp, f"cg.q.{name}"))
        print(json.dumps({"bench": "callgrind", "path": "window_query", "records": n, "query": QUERY,
                          "instructions": q["big"], "instructions_small": q["small"],
                          "instructions_per_event": round((q["big"] - q["small"]) / (n - SMALL), 1)}), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
