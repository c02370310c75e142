#!/usr/bin/env python3
"""bench/window_tumble (issue 4, benchmark 1): a tumbling 1-minute GROUP BY device with
count/avg/max/p99 over N stored records of D devices, by `outpost query` over the local log, and
in the same run by DuckDB (threads=1) over the same records exported as JSON lines and as
Parquet. Target: Outpost at least as fast as DuckDB single-threaded.

  python3 bench/window_tumble/run.py [--outpost build/default/agent/outpost]

Environment (or flags): OUTPOST_BENCH_RECORDS (default 10000000), OUTPOST_BENCH_DEVICES (10000),
OUTPOST_BENCH_DIR (work dir; default bench/out/window_tumble, removed afterwards unless --keep),
OUTPOST_NPM_DIR (where tools/install-duckdb.sh put @duckdb/node-api).

Data: every device reports every 10 s (so 6 readings per device-minute), with up to 2 s of jitter
(event times go back a little); temperatures with two decimals. The query uses
EMIT AFTER WATERMARK AND DELAY 5s, so no reading is late and both engines aggregate everything.
Outpost's p99 is its 1% DDSketch, DuckDB's is the exact quantile_disc (the issue's "same
result"). Both write their result rows as JSON lines to a file.

Prints JSON lines: one per engine/input with wall_s, events_per_s, cpu_s, cpu_s_per_event,
peak_rss_bytes and rows, then a summary. Not a test: never registered in ctest.
"""
import argparse
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import windowbench as wb  # noqa: E402

QUERY = ("SELECT window_start, window_end, device, count() AS n, avg(temp) AS avg_t, "
         "max(temp) AS max_t, p99(temp) AS p99_t FROM tumble(table(readings), _tp_time, 1m) "
         "GROUP BY window_start, window_end, device EMIT AFTER WATERMARK AND DELAY 5s")


def generate(path, records, devices, seed=4):
    """Writes the readings as JSON lines in arrival order (time order with jitter)."""
    rng = random.Random(seed)
    t0 = 1_767_225_600_000
    base = [15 + 10 * ((d * 7919) % 100) / 100 for d in range(devices)]
    names = [f"dev-{d:05d}" for d in range(devices)]
    chunk = []
    with open(path, "w") as f:
        for i in range(records):
            r, d = divmod(i, devices)
            ts = t0 + r * 10_000 + rng.randint(-2000, 2000)
            chunk.append(f'{{"device":"{names[d]}","ts":{ts},"temp":{base[d] + rng.random() * 4:.2f}}}\n')
            if len(chunk) >= 100_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outpost", default=os.path.join(wb.SRC, "build", "default", "agent", "outpost"))
    ap.add_argument("--records", type=int, default=int(os.environ.get("OUTPOST_BENCH_RECORDS", 10_000_000)))
    ap.add_argument("--devices", type=int, default=int(os.environ.get("OUTPOST_BENCH_DEVICES", 10_000)))
    ap.add_argument("--dir", default=os.environ.get("OUTPOST_BENCH_DIR",
                                                   os.path.join(wb.SRC, "bench", "out", "window_tumble")))
    ap.add_argument("--keep", action="store_true", help="keep the work dir (data dir, exports, results)")
    a = ap.parse_args()

    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    jsonl = os.path.join(a.dir, "readings.jsonl")
    parquet = os.path.join(a.dir, "readings.parquet")
    data = os.path.join(a.dir, "data")
    common = {"bench": "window_tumble", "records": a.records, "devices": a.devices}
    try:
        wb.log(f"generating {a.records} readings of {a.devices} devices")
        generate(jsonl, a.records, a.devices)
        results = {}

        if os.access(a.outpost, os.X_OK):
            wb.log("storing them with outpost log append")
            append_s = wb.outpost_append(a.outpost, data, jsonl, "readings", "device", "ts")
            wb.emit(dict(common, engine="outpost", step="log append (setup, not compared)",
                         wall_s=round(append_s, 3), events_per_s=round(a.records / append_s)))
            if wb.outpost_has_query(a.outpost):
                wb.log("outpost query")
                out = os.path.join(a.dir, "outpost_rows.jsonl")
                m = wb.measured([a.outpost, "query", "--data-dir", data, QUERY], stdout_path=out)
                if m["rc"] != 0:
                    wb.emit(dict(common, engine="outpost", error=m["stderr"][:500]))
                else:
                    results["outpost"] = m
                    wb.emit(dict(common, engine="outpost", input="local log", rows=wb.count_lines(out),
                                 wall_s=round(m["wall_s"], 3), events_per_s=round(a.records / m["wall_s"]),
                                 cpu_s=round(m["cpu_s"], 3), cpu_s_per_event=m["cpu_s"] / a.records,
                                 peak_rss_bytes=m["peak_rss_bytes"]))
            else:
                wb.emit(dict(common, engine="outpost", error="this outpost has no `query` command yet"))
        else:
            wb.emit(dict(common, engine="outpost", error=f"no executable at {a.outpost}"))

        if wb.ensure_duckdb():
            cols = "columns = {'device': 'VARCHAR', 'ts': 'BIGINT', 'temp': 'DOUBLE'}"
            src_json = f"read_json({wb.sql_str(jsonl)}, format = 'newline_delimited', {cols})"
            wb.log("exporting to Parquet for DuckDB (not timed)")
            conv = wb.duckdb(f"COPY (SELECT * FROM {src_json}) TO {wb.sql_str(parquet)} (FORMAT parquet)",
                             threads=2)
            if conv["rc"] != 0:
                wb.log("parquet export failed: " + conv["stderr"][:300])
            base = wb.duckdb("SELECT 1", threads=1)  # node + DuckDB alone
            for name, src in (("jsonl", src_json), ("parquet", f"read_parquet({wb.sql_str(parquet)})")):
                if name == "parquet" and conv["rc"] != 0:
                    continue
                out = os.path.join(a.dir, f"duckdb_rows_{name}.jsonl")
                sql = (f"COPY (SELECT (ts // 60000) * 60000 AS window_start, (ts // 60000) * 60000 + 60000 AS window_end, "
                       f"device, count(*) AS n, avg(temp) AS avg_t, max(temp) AS max_t, "
                       f"quantile_disc(temp, 0.99) AS p99_t FROM {src} GROUP BY ALL) "
                       f"TO {wb.sql_str(out)} (FORMAT json)")
                wb.log(f"duckdb over {name}")
                m = wb.duckdb(sql, threads=1)
                if m["rc"] != 0:
                    wb.emit(dict(common, engine="duckdb", input=name, error=m["stderr"][:500]))
                    continue
                results[name] = m
                wb.emit(dict(common, engine="duckdb", input=name, threads=1, rows=wb.count_lines(out),
                             wall_s=round(m["wall_s"], 3), query_wall_s=round(m["query_wall_s"], 3),
                             events_per_s=round(a.records / m["query_wall_s"]),
                             cpu_s=round(m["query_cpu_s"], 3), cpu_s_per_event=m["query_cpu_s"] / a.records,
                             peak_rss_bytes=m["peak_rss_bytes"], baseline_rss_bytes=base["peak_rss_bytes"]))
        if "outpost" in results:
            o = results["outpost"]["wall_s"]
            summary = dict(common, summary=True)
            oc = results["outpost"]["cpu_s"]
            for name in ("jsonl", "parquet"):
                if name in results:
                    summary[f"outpost_speed_vs_duckdb_{name}"] = round(results[name]["query_wall_s"] / o, 3)
                    # CPU time is the fairer clock on a shared machine (wall time includes waiting).
                    summary[f"outpost_cpu_efficiency_vs_duckdb_{name}"] = round(results[name]["query_cpu_s"] / oc, 3)
            summary["target"] = "outpost_speed_vs_duckdb_* >= 1 (also check the CPU ratio on a busy machine)"
            wb.emit(summary)
    finally:
        if not a.keep:
            shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
