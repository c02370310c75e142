#!/usr/bin/env python3
"""bench/window_cardinality (issue 4, benchmark 2): K distinct keys in one window with
count/avg/p99, by `outpost query` over the local log: peak RSS per key (target: under 400 bytes
per key), and beside it DuckDB's peak memory for the exact equivalent (quantile_disc) over the
same records exported as JSON lines and Parquet, threads=1.

  python3 bench/window_cardinality/run.py [--outpost build/default/agent/outpost]

Environment (or flags): OUTPOST_BENCH_KEYS (default 1000000), OUTPOST_BENCH_PER_KEY (readings per
key, default 3), OUTPOST_BENCH_DIR (default bench/out/window_cardinality, removed afterwards
unless --keep), OUTPOST_NPM_DIR.

Per key memory = (peak RSS - peak RSS of the same command over a 1-key input) / keys, so the
binary, libraries and I/O buffers are not charged to the keys; both numbers are printed. All
readings fall in one 1-hour tumbling window, in random order (no reading is late: the window
closes only at the end of the bounded input). Prints JSON lines. Not a test: never in ctest.
"""
import argparse
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "window_tumble"))
import windowbench as wb  # noqa: E402

QUERY = ("SELECT window_start, sensor, count() AS n, avg(temp) AS avg_t, p99(temp) AS p99_t "
         "FROM tumble(table(readings), _tp_time, 1h) GROUP BY window_start, window_end, sensor")


def generate(path, keys, per_key, seed=5):
    rng = random.Random(seed)
    t0 = 1_767_225_600_000
    order = list(range(keys * per_key))
    rng.shuffle(order)
    chunk = []
    with open(path, "w") as f:
        for i in order:
            k = i % keys
            chunk.append(f'{{"sensor":"s-{k:07d}","ts":{t0 + rng.randrange(3_600_000)},'
                         f'"temp":{10 + rng.random() * 30:.3f}}}\n')
            if len(chunk) >= 100_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))


def run_outpost(outpost, data, out):
    return wb.measured([outpost, "query", "--data-dir", data, QUERY], stdout_path=out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outpost", default=os.path.join(wb.SRC, "build", "default", "agent", "outpost"))
    ap.add_argument("--keys", type=int, default=int(os.environ.get("OUTPOST_BENCH_KEYS", 1_000_000)))
    ap.add_argument("--per-key", type=int, default=int(os.environ.get("OUTPOST_BENCH_PER_KEY", 3)))
    ap.add_argument("--dir", default=os.environ.get("OUTPOST_BENCH_DIR",
                                                   os.path.join(wb.SRC, "bench", "out", "window_cardinality")))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()

    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    common = {"bench": "window_cardinality", "keys": a.keys, "readings_per_key": a.per_key}
    jsonl = os.path.join(a.dir, "readings.jsonl")
    small = os.path.join(a.dir, "one_key.jsonl")
    parquet = os.path.join(a.dir, "readings.parquet")
    try:
        wb.log(f"generating {a.keys} keys x {a.per_key} readings")
        generate(jsonl, a.keys, a.per_key)
        generate(small, 1, a.per_key)
        if not os.access(a.outpost, os.X_OK):
            wb.emit(dict(common, engine="outpost", error=f"no executable at {a.outpost}"))
        elif not wb.outpost_has_query(a.outpost):
            wb.emit(dict(common, engine="outpost", error="this outpost has no `query` command yet"))
        else:
            data = os.path.join(a.dir, "data")
            data1 = os.path.join(a.dir, "data_one_key")
            wb.log("storing them with outpost log append")
            wb.outpost_append(a.outpost, data, jsonl, "readings", "sensor", "ts")
            wb.outpost_append(a.outpost, data1, small, "readings", "sensor", "ts")
            base = run_outpost(a.outpost, data1, os.path.join(a.dir, "outpost_one.jsonl"))
            out = os.path.join(a.dir, "outpost_rows.jsonl")
            wb.log("outpost query")
            m = run_outpost(a.outpost, data, out)
            if m["rc"] != 0 or base["rc"] != 0:
                wb.emit(dict(common, engine="outpost", error=(m["stderr"] or base["stderr"])[:500]))
            else:
                net = m["peak_rss_bytes"] - base["peak_rss_bytes"]
                wb.emit(dict(common, engine="outpost", input="local log", rows=wb.count_lines(out),
                             wall_s=round(m["wall_s"], 3), cpu_s=round(m["cpu_s"], 3),
                             peak_rss_bytes=m["peak_rss_bytes"], baseline_rss_bytes=base["peak_rss_bytes"],
                             rss_per_key_bytes=round(net / a.keys, 1), target_per_key_bytes=400))
        if wb.ensure_duckdb():
            cols = "columns = {'sensor': 'VARCHAR', 'ts': 'BIGINT', 'temp': 'DOUBLE'}"

            def src_json(p):
                return f"read_json({wb.sql_str(p)}, format = 'newline_delimited', {cols})"

            conv = wb.duckdb(f"COPY (SELECT * FROM {src_json(jsonl)}) TO {wb.sql_str(parquet)} (FORMAT parquet)",
                             threads=2)
            base = wb.duckdb("SELECT 1", threads=1)
            for name, src in (("jsonl", src_json(jsonl)), ("parquet", f"read_parquet({wb.sql_str(parquet)})")):
                if name == "parquet" and conv["rc"] != 0:
                    continue
                out = os.path.join(a.dir, f"duckdb_rows_{name}.jsonl")
                sql = (f"COPY (SELECT (ts // 3600000) * 3600000 AS window_start, sensor, count(*) AS n, "
                       f"avg(temp) AS avg_t, quantile_disc(temp, 0.99) AS p99_t FROM {src} GROUP BY ALL) "
                       f"TO {wb.sql_str(out)} (FORMAT json)")
                wb.log(f"duckdb over {name}")
                m = wb.duckdb(sql, threads=1)
                if m["rc"] != 0:
                    wb.emit(dict(common, engine="duckdb", input=name, error=m["stderr"][:500]))
                    continue
                net = m["peak_rss_bytes"] - base["peak_rss_bytes"]
                wb.emit(dict(common, engine="duckdb", input=name, threads=1, rows=wb.count_lines(out),
                             query_wall_s=round(m["query_wall_s"], 3), cpu_s=round(m["query_cpu_s"], 3),
                             peak_rss_bytes=m["peak_rss_bytes"], baseline_rss_bytes=base["peak_rss_bytes"],
                             rss_per_key_bytes=round(net / a.keys, 1)))
    finally:
        if not a.keep:
            shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
