#!/usr/bin/env python3
"""Differential test of window queries against an independent engine (issue 4): a random event
set (fixed seed; devices, temperatures, event times out of order within a bounded disorder) is
appended to a fresh data dir with `outpost log append`, then the same tumble and hop aggregates
are computed by `outpost query --data-dir D "SQL"` and by DuckDB (tests/query/duckdb_reference.mjs,
@duckdb/node-api), and compared:
  - the same windows and groups (no missing, no extra row);
  - count, min, max equal; sum and avg within 1e-9 relative of DuckDB's (its fsum/avg may differ
    in the last bits), and bit for bit equal to the correctly rounded sum (math.fsum) and
    sum / n, as docs/SEMANTICS.md 12 asks;
  - p50/p90/p99 and quantile(temp, 0.01) within 1% relative of the exact order statistic at rank
    floor(q (n - 1)) (docs/SEMANTICS.md 13). DuckDB's quantile_disc uses rank ceil(q n) - 1 instead,
    so the reference takes that rank from DuckDB's sorted list of the window's values.
The disorder is bounded (30 s) and the queries say EMIT AFTER WATERMARK AND DELAY 1m, so no event
is late: both engines see every event.

Modes: no argument: the full test (needs OUTPOST_BIN). --duckdb-only: checks the DuckDB side alone
against a pure-Python computation (used before `outpost query` existed). Exit 77 = skipped (DuckDB
cannot be installed, e.g. offline)."""
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import check, finish  # noqa: E402

SRC = os.environ.get("OUTPOST_SOURCE_DIR",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("OUTPOST_BINARY_DIR", os.path.join(SRC, "build"))
OUTPOST = os.environ.get("OUTPOST_BIN", "")
SEED = int(os.environ.get("OUTPOST_DIFF_SEED", "20261129"))
N_EVENTS = int(os.environ.get("OUTPOST_DIFF_EVENTS", "6000"))
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DISORDER_MS = 30_000
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "q01": 0.01}
# (kind, outpost window clause, duckdb --window spec)
WINDOWS = [
    ("tumble", "tumble(table(readings), _tp_time, 1m)", "tumble:60000"),
    ("hop", "hop(table(readings), _tp_time, 20s, 1m)", "hop:20000:60000"),
    ("tumble", "tumble(table(readings), _tp_time, 7s)", "tumble:7000"),
]


def gen_events():
    """Devices with their own baselines, values with many decimals, some exact zeros and
    negative values, duplicate times; stored out of order within DISORDER_MS."""
    rng = random.Random(SEED)
    devices = [f"dev-{i:02d}" for i in range(17)]
    base = {d: rng.uniform(-15, 40) for d in devices}
    events = []
    for i in range(N_EVENTS):
        d = rng.choice(devices)
        t = T0 + int(rng.uniform(0, 25 * 60_000))
        if i % 37 == 0 and events:
            t = events[-1]["ts"]  # duplicate event times
        v = base[d] + rng.gauss(0, 4)
        if i % 53 == 0:
            v = 0.0
        if i % 71 == 0:
            v = -v * 3
        if i % 89 == 0:
            v = rng.lognormvariate(0, 3)  # a few outliers spanning decades
        events.append({"device": d, "ts": t, "temp": float(v)})
    # Arrival order: by time plus a random delay of up to DISORDER_MS, so event times go back.
    arrival = sorted(events, key=lambda e: (e["ts"] + rng.randint(0, DISORDER_MS), rng.random()))
    return arrival


def to_ms(v):
    if isinstance(v, (int, float)):
        return int(v)
    s = str(v)
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return int(round(datetime.fromisoformat(s).timestamp() * 1000))


def python_reference(events, spec):
    """Window rows computed in plain Python, to validate the DuckDB side."""
    parts = spec.split(":")
    if parts[0] == "tumble":
        slide = size = int(parts[1])
    else:
        slide, size = int(parts[1]), int(parts[2])
    groups = {}
    for e in events:
        t = e["ts"]
        k = (t - size) // slide + 1
        while k * slide <= t:
            if k * slide + size > t:
                groups.setdefault((k * slide, e["device"]), []).append(e["temp"])
            k += 1
    rows = {}
    for (ws, dev), vals in groups.items():
        s = sorted(vals)
        n = len(s)
        rows[(ws, ws + size, dev)] = {
            "n": n, "sum": math.fsum(s), "min": s[0], "max": s[-1], "avg": math.fsum(s) / n,
            "q": {q: s[int(math.floor(q * (n - 1)))] for q in QUANTILES.values()}}
    return rows


def rel_close(a, b, tol):
    if a is None or b is None:
        return False
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-300) or a == b


def npm_dir():
    return os.environ.get("OUTPOST_NPM_DIR", os.path.join(BIN, "npm"))


def ensure_duckdb():
    env = dict(os.environ, OUTPOST_NPM_DIR=npm_dir())
    r = subprocess.run([os.path.join(SRC, "tools", "install-duckdb.sh")], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("skip: DuckDB (npm @duckdb/node-api) is not available:\n" + r.stderr, flush=True)
        sys.exit(77)


def duckdb_rows(events_file, spec):
    env = dict(os.environ, OUTPOST_NPM_DIR=npm_dir())
    qs = ",".join(str(q) for q in QUANTILES.values())
    r = subprocess.run(["node", os.path.join(SRC, "tests", "query", "duckdb_reference.mjs"),
                        "--events", events_file, "--window", spec, "--quantiles", qs],
                       env=env, capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"duckdb reference for {spec} exit 0 ({r.stderr.strip()[:500]})")
    rows = {}
    for line in r.stdout.splitlines():
        o = json.loads(line)
        rows[(o["window_start"], o["window_end"], o["key"])] = {
            "n": o["n"], "sum": o["sum"], "min": o["min"], "max": o["max"], "avg": o["avg"],
            "q": {float(q): v for q, v in o["q"].items()}, "qd": o["qd"]}
    return rows


def compare_exact(name, got, ref, quantiles_too):
    """Both dicts keyed (window_start, window_end, device). Reports every mismatch kind once."""
    check(set(got) == set(ref),
          f"{name}: same windows and groups ({len(got)} vs {len(ref)}; "
          f"missing {sorted(set(ref) - set(got))[:3]}, extra {sorted(set(got) - set(ref))[:3]})")
    bad = {"n": [], "min": [], "max": [], "sum": [], "avg": [], "q": []}
    for k in sorted(set(got) & set(ref)):
        g, r = got[k], ref[k]
        if g["n"] != r["n"]:
            bad["n"].append((k, g["n"], r["n"]))
        for f in ("min", "max"):
            if g[f] != r[f]:
                bad[f].append((k, g[f], r[f]))
        for f in ("sum", "avg"):
            if not rel_close(g[f], r[f], 1e-9):
                bad[f].append((k, g[f], r[f]))
        if quantiles_too:
            for q in QUANTILES.values():
                x, est = r["q"][q], g["q"][q]
                if est is None or abs(est - x) > 0.01 * abs(x) * (1 + 1e-9):
                    bad["q"].append((k, q, est, x))
    for f, lst in bad.items():
        if f == "q" and not quantiles_too:
            continue
        what = {"q": "sketch quantiles within 1% of the exact order statistic",
                "sum": "sum within 1e-9 relative", "avg": "avg within 1e-9 relative"}.get(f, f + " equal")
        check(not lst, f"{name}: {what} ({len(lst)} bad, first: {lst[:2]})")


def duckdb_only(tmp):
    events = gen_events()
    ev_file = os.path.join(tmp, "events.jsonl")
    with open(ev_file, "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    for kind, _, spec in WINDOWS:
        ref = python_reference(events, spec)
        got = duckdb_rows(ev_file, spec)
        check(len(ref) > 50, f"{spec}: enough groups to be meaningful ({len(ref)})")
        # DuckDB's exact order statistics (list rank) must equal Python's exactly.
        for k in got:
            got[k]["q"] = {q: got[k]["q"][q] for q in QUANTILES.values()}
        compare_exact(f"duckdb vs python {spec}", got, {
            k: dict(v, q=v["q"]) for k, v in ref.items()}, quantiles_too=False)
        mism = [k for k in set(got) & set(ref) if got[k]["q"] != ref[k]["q"]]
        check(not mism, f"duckdb vs python {spec}: exact order statistics equal ({len(mism)} differ)")


def run_outpost(*args, stdin=None, timeout=300):
    return subprocess.run([OUTPOST, *args], input=stdin, capture_output=True, timeout=timeout)


def outpost_rows(data, clause):
    sql = (f"SELECT window_start, window_end, device, count() AS n, sum(temp) AS s, min(temp) AS mn, "
           f"max(temp) AS mx, avg(temp) AS a, p50(temp) AS p50, p90(temp) AS p90, p99(temp) AS p99, "
           f"quantile(temp, 0.01) AS q01 FROM {clause} GROUP BY window_start, window_end, device "
           f"EMIT AFTER WATERMARK AND DELAY 1m")
    r = run_outpost("query", "--data-dir", data, sql)
    check(r.returncode == 0, f"outpost query exit 0 for {clause} (stderr: {r.stderr.decode()[:500]})")
    if r.returncode != 0:
        return None
    rows = {}
    dup = 0
    for line in r.stdout.decode().splitlines():
        if not line.strip():
            continue
        o = json.loads(line)
        k = (to_ms(o["window_start"]), to_ms(o["window_end"]), o["device"])
        dup += k in rows
        rows[k] = {"n": o["n"], "sum": o["s"], "min": o["mn"], "max": o["mx"], "avg": o["a"],
                   "q": {q: o[name] for name, q in QUANTILES.items()}}
    check(dup == 0, f"{clause}: every window/group emitted once ({dup} duplicates)")
    return rows


def full(tmp):
    check(bool(OUTPOST) and os.access(OUTPOST, os.X_OK), f"OUTPOST_BIN is an executable ({OUTPOST!r})")
    if not OUTPOST:
        return
    events = gen_events()
    ev_file = os.path.join(tmp, "events.jsonl")
    with open(ev_file, "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    data = os.path.join(tmp, "data")
    with open(ev_file, "rb") as f:
        r = run_outpost("log", "append", "--data-dir", data, "--stream", "readings",
                        "--key-field", "device", "--time-field", "ts", stdin=f.read())
    check(r.returncode == 0, f"log append exit 0 ({r.stderr.decode()[:300]})")
    last = r.stdout.decode().strip().splitlines()[-1] if r.stdout.strip() else ""
    check(last == str(len(events)), f"log append stored {len(events)} records (last seq {last!r})")
    for kind, clause, spec in WINDOWS:
        ref = duckdb_rows(ev_file, spec)
        check(len(ref) > 50, f"{spec}: enough groups to be meaningful ({len(ref)})")
        got = outpost_rows(data, clause)
        if got is None:
            continue
        compare_exact(f"outpost vs duckdb {clause}", got, ref, quantiles_too=True)
        # docs/SEMANTICS.md 12, stricter than the comparison with DuckDB: sum is the exact sum
        # rounded once (what math.fsum computes), avg that divided by n, bit for bit.
        py = python_reference(events, spec)
        inexact = [(k, got[k]["sum"], py[k]["sum"]) for k in set(got) & set(py)
                   if got[k]["sum"] != py[k]["sum"] or got[k]["avg"] != py[k]["avg"]]
        check(not inexact, f"{clause}: sum and avg are correctly rounded, bit for bit "
                           f"({len(inexact)} differ, first: {inexact[:2]})")


def main():
    ensure_duckdb()
    tmp = tempfile.mkdtemp(prefix="outpost-diff-")
    try:
        if "--duckdb-only" in sys.argv:
            duckdb_only(tmp)
        else:
            full(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
