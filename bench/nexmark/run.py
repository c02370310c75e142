#!/usr/bin/env python3
"""bench/nexmark (issue 7, part 2): Nexmark over an Outpost stream.

1. generator.py writes N events (persons : auctions : bids = 1 : 3 : 46, event time 10,000
   events/s) as JSON lines; `outpost log append --time-field date_time` stores them in a fresh
   data dir (stream `nexmark`).
2. Each query runs with `outpost query` over the stored stream (historical; the watermark is
   event time - 4 s: EMIT AFTER WATERMARK AND DELAY 4s). Measured with wait4(): CPU seconds
   (user+sys) of the outpost process; events/s per core = N / CPU seconds (every event is read
   and evaluated, as in Nexmark's figures, which count all events).
3. DuckDB (threads=1, duckdb_ref.mjs) computes the same queries over the same events; the rows
   are compared as multisets (floats to 1e-9 relative).

Queries (Outpost SQL; the engine has no joins or subqueries):
  q0  pass-through of bids       q1  price in euros (0.908 * price)     q2  auction % 123 = 0
  q5  hot items: bids per auction per hop(2s, 10s) window in Outpost; the "auctions with the
      most bids per window" stage (Flink: a join with a max subquery) runs here, outside.
  q7  highest bid: max(price) per tumble(10s) window in Outpost; Flink's q7 also joins back to
      the bid(s) with that price, which Outpost cannot express; that join is not done.
  q11 user sessions: bids per bidder per session(10s).
Prints JSON lines; a summary line with Flink's published per-core rates (nexmark GUIDE_V1.md)
and the ratio. Not a test: never in ctest.

  python3 bench/nexmark/run.py --outpost build/default/agent/outpost [--events 1000000]
      [--dir bench/out/nexmark] [--keep]
"""
import argparse
import collections
import datetime
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "window_tumble"))
import windowbench as wb  # noqa: E402

EMIT = "EMIT AFTER WATERMARK AND DELAY 4s"
QUERIES = {
    "q0": "SELECT auction, bidder, price, date_time, extra FROM table(nexmark) WHERE event_type = 2",
    "q1": "SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM table(nexmark) WHERE event_type = 2",
    "q2": "SELECT auction, price FROM table(nexmark) WHERE event_type = 2 AND auction % 123 = 0",
    "q5": ("SELECT window_start, window_end, auction, count() AS num FROM hop(table(nexmark), _tp_time, 2s, 10s) "
           f"WHERE event_type = 2 GROUP BY window_start, window_end, auction {EMIT}"),
    "q7": ("SELECT window_start, window_end, max(price) AS maxprice FROM tumble(table(nexmark), _tp_time, 10s) "
           f"WHERE event_type = 2 GROUP BY window_start, window_end {EMIT}"),
    "q11": ("SELECT bidder, count() AS bid_count, window_start, window_end FROM session(table(nexmark), _tp_time, 10s) "
            f"WHERE event_type = 2 GROUP BY bidder {EMIT}"),
}
# Flink's events/s per core from nexmark/nexmark GUIDE_V1.md (the figures).
FLINK_PER_CORE = {"q0": 155_000, "q5": 22_100, "q7": 12_300, "q11": 39_700}
TARGET_X = {"q5": 10, "q7": 10, "q11": 10}
COLUMNS = {
    "q0": ["auction", "bidder", "price", "date_time", "extra"],
    "q1": ["auction", "bidder", "price", "date_time", "extra"],
    "q2": ["auction", "price"],
    "q5": ["window_start", "window_end", "auction", "num"],
    "q5_counts": ["window_start", "window_end", "auction", "num"],
    "q7": ["window_start", "window_end", "maxprice"],
    "q11": ["bidder", "bid_count", "window_start", "window_end"],
}


def epoch_ms(v):
    if isinstance(v, str):
        return int(datetime.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp() * 1000)
    return v


def norm(v):
    if isinstance(v, float):
        return float(f"{v:.12g}")  # compare floats to ~1e-12 relative
    return v


def rows(path, cols):
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                out.append(tuple(norm(epoch_ms(o[c]) if c.startswith("window_") else o[c]) for c in cols))
    return out


def hot_items(count_rows):
    """q5's last stage: per window, the auctions whose count is the window's maximum."""
    best = collections.defaultdict(int)
    for ws, we, auction, num in count_rows:
        best[ws] = max(best[ws], num)
    return [r for r in count_rows if r[3] == best[r[0]]]


def compare(name, mine, ref):
    a, b = collections.Counter(mine), collections.Counter(ref)
    if a == b:
        return {"query": name, "rows": len(mine), "duckdb_rows": len(ref), "equal_to_duckdb": True}
    only_a, only_b = a - b, b - a
    return {"query": name, "rows": len(mine), "duckdb_rows": len(ref), "equal_to_duckdb": False,
            "only_outpost": sum(only_a.values()), "only_duckdb": sum(only_b.values()),
            "example_outpost": repr(next(iter(only_a), None))[:200],
            "example_duckdb": repr(next(iter(only_b), None))[:200]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outpost", default=os.path.join(wb.SRC, "build", "default", "agent", "outpost"))
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--dir", default=os.path.join(wb.SRC, "bench", "out", "nexmark"))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    outpost = os.path.abspath(a.outpost)
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    n = a.events
    events = os.path.join(a.dir, "events.jsonl")
    data = os.path.join(a.dir, "data")
    common = {"bench": "nexmark", "events": n}
    try:
        wb.log(f"generating {n} Nexmark events")
        with open(events, "w") as f:
            subprocess.run([sys.executable, os.path.join(HERE, "generator.py"), "--events", str(n)], stdout=f, check=True)
        m = wb.measured([outpost, "log", "append", "--data-dir", data, "--stream", "nexmark",
                         "--time-field", "date_time", "--time-format", "unix_ms"], stdout_path=os.devnull,
                        stdin_path=events)
        if m["rc"] != 0:
            raise SystemExit("outpost log append failed: " + m["stderr"][:500])
        wb.emit(dict(common, step="log append", cpu_s=round(m["cpu_s"], 3), wall_s=round(m["wall_s"], 3),
                     events_per_core_s=round(n / m["cpu_s"]) if m["cpu_s"] else None,
                     input_bytes=os.path.getsize(events), peak_rss_bytes=m["peak_rss_bytes"]))

        mine = {}
        for q, sql in QUERIES.items():
            wb.log(f"outpost query {q}")
            out = os.path.join(a.dir, f"outpost_{q}.jsonl")
            m = wb.measured([outpost, "query", "--data-dir", data, sql], stdout_path=out)
            if m["rc"] != 0:
                wb.emit(dict(common, query=q, engine="outpost", error=m["stderr"][:500]))
                continue
            rate = n / m["cpu_s"] if m["cpu_s"] else None
            rec = dict(common, query=q, engine="outpost", sql=sql, rows=wb.count_lines(out),
                       cpu_s=round(m["cpu_s"], 3), wall_s=round(m["wall_s"], 3),
                       events_per_core_s=round(rate) if rate else None, peak_rss_bytes=m["peak_rss_bytes"])
            if q in FLINK_PER_CORE:
                rec["flink_events_per_core_s"] = FLINK_PER_CORE[q]
                rec["vs_flink_per_core"] = round(rate / FLINK_PER_CORE[q], 2) if rate else None
            if q in TARGET_X:
                rec["target_vs_flink"] = TARGET_X[q]
            wb.emit(rec)
            key = "q5_counts" if q == "q5" else q
            mine[key] = rows(out, COLUMNS[key])
        if "q5_counts" in mine:
            mine["q5"] = hot_items(mine["q5_counts"])

        if wb.ensure_duckdb():
            ref_dir = os.path.join(a.dir, "duckdb")
            os.makedirs(ref_dir)
            wb.log("DuckDB reference (threads=1)")
            m = wb.measured(["node", os.path.join(HERE, "duckdb_ref.mjs"), "--events", events, "--out", ref_dir],
                            env=dict(os.environ, OUTPOST_NPM_DIR=wb.npm_dir()))
            if m["rc"] != 0:
                wb.emit(dict(common, engine="duckdb", error=m["stderr"][:500]))
            else:
                for line in m["stdout"].decode().splitlines():
                    t = json.loads(line)
                    if "query" in t:
                        wb.emit(dict(common, engine="duckdb", query=t["query"], threads=1,
                                     cpu_s=round(t["cpu_s"], 3), wall_s=round(t["wall_s"], 3),
                                     note="over a table of the bids already loaded; load timed separately"))
                    else:
                        wb.emit(dict(common, engine="duckdb", step="load JSON lines (bids)",
                                     cpu_s=round(t["load_cpu_s"], 3), wall_s=round(t["load_wall_s"], 3)))
                for q in ("q0", "q1", "q2", "q5_counts", "q5", "q7", "q11"):
                    if q in mine:
                        wb.emit(dict(common, check=True, **compare(q, mine[q], rows(os.path.join(ref_dir, f"{q}.jsonl"),
                                                                                    COLUMNS[q]))))
    finally:
        if not a.keep:
            shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
