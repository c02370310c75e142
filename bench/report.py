#!/usr/bin/env python3
"""Writes bench/REPORT.md from the JSON lines bench/run-all collected.

  python3 bench/report.py bench/results/<date>.jsonl [more.jsonl ...] bench/REPORT.md

Several results files are read in the order given, as one: for each suite the newest run wins,
so a partial rerun (OUTPOST_BENCH_ONLY) keeps the other suites' figures from earlier files.

The hand-written analysis (why a target is missed, what was not run) lives in
bench/REPORT-notes.md and is appended verbatim."""
import json
import os
import statistics
import sys

MIB = 1024 * 1024


def load(path):
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
    return out


def fmt(v, digits=3):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1000):
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


class Table:
    def __init__(self):
        self.rows = []
        self.gaps = []

    def add(self, figure, outpost, reference=None, ratio=None, target=None, met=None, gap=None):
        mark = "—" if met is None else ("yes" if met else "**no**")
        self.rows.append(f"| {figure} | {fmt(outpost)} | {fmt(reference)} | {fmt(ratio)} | {target or '—'} | {mark} |")
        if met is False:
            self.gaps.append(f"- {figure}: measured {fmt(outpost)}"
                             + (f" (ratio {fmt(ratio)})" if ratio is not None else "")
                             + f", target {target}" + (f"; {gap}" if gap else ""))

    def text(self):
        head = "| figure | Outpost | reference | ratio | target | met? |\n| --- | ---: | ---: | ---: | --- | --- |\n"
        return head + "\n".join(self.rows) + "\n"


def pick(res, bench, **kw):
    return [r for r in res if r.get("bench") == bench and all(r.get(k) == v for k, v in kw.items())]


def pick_newest_run(res, bench):
    """The rows of `bench` from the newest run (meta line) that ran it: for figures whose earlier
    runs measured code since changed (the earlier runs stay in the results file)."""
    runs, cur = [], None
    for r in res:
        if r.get("bench") == "meta":
            cur = []
            runs.append(cur)
        elif r.get("bench") == bench and cur is not None:
            cur.append(r)
    with_rows = [rows for rows in runs if rows]
    return with_rows[-1] if with_rows else pick(res, bench)


def newest_run_per_suite(res):
    """Drops each suite's rows from runs older than the newest run (meta line) that ran it, so
    a figure never pairs one run's Outpost with another run's reference."""
    run_of, runs, cur = [], -1, -1
    newest = {}
    for r in res:
        if r.get("bench") == "meta":
            runs += 1
            cur = runs
        run_of.append(cur)
        if r.get("bench") != "meta" and r.get("bench"):
            newest[r["bench"]] = cur
    return [r for r, run in zip(res, run_of)
            if r.get("bench") == "meta" or not r.get("bench") or newest.get(r["bench"]) == run]


def main():
    srcs, dst = sys.argv[1:-1], sys.argv[-1]
    res = newest_run_per_suite([r for src in srcs for r in load(src)])
    metas = [r for r in res if r.get("bench") == "meta"]
    meta = metas[-1] if metas else {}
    t = Table()
    errors = [r for r in res if "error" in r]
    sizes = []

    # Issue 2: store append.
    for r in pick(res, "store_append"):
        if "error" in r:
            continue
        k = " (device id as key)" if r.get("keys") else ""
        sizes.append(f"store_append{k}: {r['records']:,} records")
        if not r.get("keys"):
            t.add("store: append rate, records/s (wall)", r["records_per_s"], None, None, ">= 1,000,000",
                  r["records_per_s"] >= 1e6, "wall time on a shared, loaded machine; see the CPU rate")
            cpu_rate = 1e6 / r["cpu_us_per_event"]
            t.add("store: append rate by CPU, records per CPU-second", round(cpu_rate), None, None, ">= 1,000,000",
                  cpu_rate >= 1e6)
            t.add("store: CPU per record, µs", r["cpu_us_per_event"])
        t.add(f"store: stored bytes vs `zstd -3`{k}", r["stored_bytes"], r["zstd_bytes"], r["size_vs_zstd"],
              "<= 1.10" if not k else "— (keys are extra input)", r["size_vs_zstd"] <= 1.10 if not k else None)
        if not r.get("keys"):
            t.add("store: append time vs `zstd -3 -T1` (wall s)", r["append_s"], r["zstd_s"], r["time_vs_zstd"],
                  "<= 1.5", r["time_vs_zstd"] <= 1.5)
            if "cpu_vs_zstd" in r:
                t.add("store: append CPU vs `zstd -3 -T1` CPU (s)", r["append_cpu_s"], r["zstd_cpu_s"], r["cpu_vs_zstd"],
                      "<= 1.5", r["cpu_vs_zstd"] <= 1.5)
            t.add("store: peak RSS of the benchmark process, MiB (holds the whole feed)", round(r["peak_rss_kib"] / 1024, 1))

    # Issue 3: MQTT ingest, RSS.
    idle, peak = [], []
    for r in pick(res, "mqtt_ingest"):
        if "error" in r:
            continue
        q = r["qos"]
        runs = r.get("runs", 1)
        sizes.append(f"mqtt_ingest QoS {q}: {r['messages']:,} messages" + (f", {runs} runs (median shown)" if runs > 1 else ""))
        spread = ""
        if r.get("ratio_min") is not None and runs > 1:
            spread = f" (median of {runs}; runs {r['ratio_min']}-{r['ratio_max']})"
        t.add(f"MQTT QoS {q}: durable msgs/s vs `mosquitto_sub` msgs/s{spread}", r["outpost_durable_msgs_per_s"],
              r["mosquitto_sub_msgs_per_s"], r["ratio_vs_mosquitto_sub"], ">= 0.9",
              r["ratio_vs_mosquitto_sub"] is not None and r["ratio_vs_mosquitto_sub"] >= 0.9,
              "wall-clock rates on a shared 2-core machine")
        if r.get("outpost_appended_msgs_per_s") is not None:
            t.add(f"MQTT QoS {q}: appended msgs/s vs `mosquitto_sub` (before the last group commit); "
                  f"durable tail {r['durable_tail_ms']} ms", r["outpost_appended_msgs_per_s"],
                  r["mosquitto_sub_msgs_per_s"], r["ratio_appended_vs_mosquitto_sub"])
        cpu_ref = r.get("mosquitto_sub_cpu_us_per_msg")
        t.add(f"MQTT QoS {q}: daemon CPU per message, µs (reference: `mosquitto_sub`'s)", r["cpu_us_per_event"],
              cpu_ref, round(r["cpu_us_per_event"] / cpu_ref, 2) if cpu_ref else None)
        if q == 1:
            t.add("MQTT QoS 1: messages lost", r["lost"], None, None, "0", r["lost"] == 0)
        elif "mosquitto_sub_lost" in r:
            t.add("MQTT QoS 0: messages lost (reference: lost by `mosquitto_sub`)", r["lost"], r["mosquitto_sub_lost"])
        idle.append(r["idle_rss_kib"])
        peak.append(r["peak_rss_kib"])
    if idle:
        t.add("`outpost run` idle RSS, MiB (max of the runs)", round(max(idle) / 1024, 1), None, None, "< 10", max(idle) < 10 * 1024)
        t.add("`outpost run` peak RSS under MQTT load, MiB", round(max(peak) / 1024, 1), None, None, "< 30", max(peak) < 30 * 1024)

    # Issue 5: sync drain.
    kcat = next(iter(pick(res, "sync_drain", mode="kcat")), None)
    for r in pick(res, "sync_drain"):
        if r.get("mode") in ("at_least_once", "exactly_once"):
            sizes.append(f"sync_drain {r['mode']}: {r['records']:,} records")
            alo = r["mode"] == "at_least_once"
            t.add(f"sync drain {r['mode']}: records/s vs `kcat -P`", r["records_per_s"],
                  kcat and kcat["records_per_s"], r["vs_kcat"], ">= 0.8" if alo else "— (reported)",
                  r["vs_kcat"] >= 0.8 if alo else None)
            t.add(f"sync drain {r['mode']}: CPU per record, µs; peak RSS {r['peak_rss_kb'] / 1024:.0f} MiB",
                  r["cpu_us_per_record"])

    # Issue 4: windows.
    wt = pick(res, "window_tumble")
    o = next((r for r in wt if r.get("engine") == "outpost" and "cpu_s" in r), None)
    if o:
        sizes.append(f"window_tumble: {o['records']:,} records, {o['devices']:,} devices")
        t.add("tumble 1m GROUP BY device (count/avg/max/p99): Outpost CPU per event, µs", o["cpu_s_per_event"] * 1e6)
        for d in (r for r in wt if r.get("engine") == "duckdb" and "cpu_s" in r):
            ratio = d["query_wall_s"] / o["wall_s"]
            t.add(f"tumble query: Outpost vs DuckDB (threads=1, {d['input']}), wall s; ratio = DuckDB/Outpost",
                  o["wall_s"], d["query_wall_s"], round(ratio, 3), ">= 1", ratio >= 1)
            cratio = d["cpu_s"] / o["cpu_s"]
            t.add(f"tumble query: Outpost vs DuckDB ({d['input']}), CPU s; ratio = DuckDB/Outpost",
                  o["cpu_s"], d["cpu_s"], round(cratio, 3), ">= 1", cratio >= 1)
    wc = pick(res, "window_cardinality")
    o = next((r for r in wc if r.get("engine") == "outpost" and "rss_per_key_bytes" in r), None)
    if o:
        sizes.append(f"window_cardinality: {o['keys']:,} keys x {o['readings_per_key']}")
        for d in (r for r in wc if r.get("engine") == "duckdb" and "rss_per_key_bytes" in r):
            t.add(f"1 window, many keys (count/avg/p99): RSS per key, bytes, vs DuckDB ({d['input']})",
                  o["rss_per_key_bytes"], d["rss_per_key_bytes"], round(o["rss_per_key_bytes"] / d["rss_per_key_bytes"], 3),
                  "< 400", o["rss_per_key_bytes"] < 400)
        if not any(r.get("engine") == "duckdb" and "rss_per_key_bytes" in r for r in wc):
            t.add("1 window, many keys: RSS per key, bytes", o["rss_per_key_bytes"], None, None, "< 400",
                  o["rss_per_key_bytes"] < 400)

    # Issue 6: binary size, start-up.
    for r in pick(res, "binary_size"):
        t.add(f"binary size, stripped, {r['arch']}, MiB", round(r["stripped_bytes"] / MIB, 2))
    su = pick(res, "startup_to_ready")
    for case in dict.fromkeys(r["case"] for r in su):
        rs = [r for r in su if r["case"] == case]
        sizes.append(f"startup {case}: {len(rs)} runs, log {rs[0]['log_stored_bytes'] / MIB:,.0f} MiB stored")
        t.add(f"start-up to READY=1, {case}: median wall s (CPU s {statistics.median(r['cpu_s'] for r in rs):.3f},"
              f" RSS {statistics.median(r['peak_rss_bytes'] for r in rs) / MIB:.1f} MiB)",
              statistics.median(r["wall_s"] for r in rs))

    # Issue 7: instructions, flash wear.
    for r in pick(res, "callgrind"):
        if "error" in r:
            continue
        sizes.append(f"callgrind {r['path']}: {r['records']:,} records")
        t.add(f"instructions per event (callgrind): {r['path']}", r["instructions_per_event"])
    for r in pick_newest_run(res, "flash_wear"):
        if "error" in r:
            continue
        rate = r.get("publish_rate", "burst")
        how = "as fast as published" if rate == "burst" else f"{rate:g} msgs/s"
        flush = r.get("flush_interval", "200ms (default)")
        w = f"flash wear ({r['messages']:,} QoS 1 msgs, {how}, group commit {flush})"
        sizes.append(f"flash_wear: {r['messages']:,} MQTT QoS 1 messages, {how}, group commit {flush}")
        net = r.get("net_write_bytes", r["write_bytes"])
        t.add(f"{w}: bytes written to disk (write_bytes - cancelled) per compressed byte stored", net,
              r["stored_bytes"], r["written_per_stored_byte"], "<= 1.2", r["written_per_stored_byte"] <= 1.2)
        t.add(f"{w}: bytes written to disk per payload byte ingested", net, r["payload_bytes"],
              r["written_per_ingested_byte"])
        if "cancelled_write_bytes" in r:
            t.add(f"{w}: gross write_bytes (incl. intake journals deleted before writeback) per stored byte",
                  r["write_bytes"], r["stored_bytes"], r["gross_written_per_stored_byte"])
        t.add(f"{w}: fsync+fdatasync per second ({r['fsyncs']:,} calls, {r['records_per_fsync']} records each)",
              r["fsyncs_per_s"])

    # Issue 7: soak (bench/soak/run.py; run-all runs it only when OUTPOST_BENCH_ONLY names it).
    # Only the newest complete run is judged: earlier runs are of code since fixed, and their
    # story (what grew and why) is told in README.md's Soak section.
    soaks = [r for r in pick(res, "soak") if "error" not in r]
    for r in soaks[-1:]:
        v = r["verdicts"]
        at = f", `{r['commit']}`" if r.get("commit") else ""
        w = f"soak ({r['seconds']:,} s at {r['rate_target']:g} msgs/s, {r['sent']:,} msgs; {r['date_utc'][:16]}Z{at})"
        sizes.append(f"soak: {r['seconds']:,} s, {r['sent']:,} MQTT QoS 1 messages, two streams, a tumble and a "
                     "session query, 5 mirrors")
        for key, what in (("rss_kib_flat", "RSS"), ("fds_flat", "open fds")):
            if key in v:
                x = v[key]
                unit = " (KiB)" if key == "rss_kib_flat" else ""
                t.add(f"{w}: {what}{unit} after warm-up, median of the last window vs the first",
                      x["last_window_median"], x["first_window_median"], round(1 + x["median_growth"], 3),
                      "< 1.05", x["median_growth"] < 0.05)
                t.add(f"{w}: {what}{unit} after warm-up, max of the last window vs the first",
                      x["last_window_max"], x["first_window_max"], round(1 + x["max_growth"], 3), "< 1.05",
                      None if key == "fds_flat" else x["max_growth"] < 0.05)
        if "no_error_logs" in v:
            t.add(f"{w}: error-level lines in the daemon's log", v["no_error_logs"]["error_lines"], None, None, "0",
                  v["no_error_logs"]["error_lines"] == 0)
        if "no_local_loss" in v:
            x = v["no_local_loss"]
            t.add(f"{w}: messages missing from the local log", (x["acknowledged"] or 0) - x["in_local_log"], None, None,
                  "0", x["ok"])
        if "no_central_loss" in v:
            miss = sum(c["local"] - c["central"] for c in v["no_central_loss"]["streams"].values())
            t.add(f"{w}: records of the 5 mirrored streams missing at central", miss, None, None, "0",
                  v["no_central_loss"]["ok"])
        if r.get("cpu_us_per_event") is not None:
            t.add(f"{w}: daemon CPU per event (ingest, 2 queries, 5 mirrors), µs", r["cpu_us_per_event"])

    # Nexmark.
    nx = pick(res, "nexmark")
    nt = Table()
    checks = {r["query"]: r for r in nx if r.get("check")}
    duck = {r["query"]: r for r in nx if r.get("engine") == "duckdb" and "query" in r}
    dload = next((r for r in nx if r.get("engine") == "duckdb" and r.get("step")), None)
    for r in nx:
        if r.get("engine") != "outpost" or "events_per_core_s" not in r:
            continue
        q = r["query"]
        c = checks.get(q)
        chk = "—" if c is None else ("equal" if c["equal_to_duckdb"] else f"DIFFERENT ({c})")
        if q == "q5" and "q5_counts" in checks:
            c2 = checks["q5_counts"]
            chk = f"counts {'equal' if c2['equal_to_duckdb'] else 'DIFFERENT'}, hot items " + chk
        target = f">= {r['target_vs_flink']}x Flink" if "target_vs_flink" in r else "—"
        met = r["vs_flink_per_core"] >= r["target_vs_flink"] if "target_vs_flink" in r else None
        nt.add(f"Nexmark {q}: events/s per core (rows {r['rows']:,}; peak RSS {r['peak_rss_bytes'] / MIB:.0f} MiB;"
               f" output vs DuckDB's: {chk})", r["events_per_core_s"],
               r.get("flink_events_per_core_s"), r.get("vs_flink_per_core"), target, met)
        d = duck.get("q5_counts" if q == "q5" else q)
        if d and d["cpu_s"] > 0 and dload:
            nt.rows.append(f"| &nbsp;&nbsp;DuckDB threads=1, same JSON lines: events / (load + query CPU s) per core "
                           f"(query alone on the loaded table: {fmt(round(r['events'] / d['cpu_s']))}) | "
                           f"{fmt(round(r['events'] / (d['cpu_s'] + dload['cpu_s'])))} | | | | |")
    app = next((r for r in nx if r.get("step") == "log append" and r.get("cpu_s")), None)
    if app:
        for r in nx:
            if r.get("engine") == "outpost" and r.get("query") in ("q5", "q7", "q11") and r.get("cpu_s"):
                rate = r["events"] / (r["cpu_s"] + app["cpu_s"])
                flink = r["flink_events_per_core_s"]
                nt.add(f"Nexmark {r['query']} including storing the events (`log append` + query CPU), events/s per core"
                       " (context, not the target's figure)", round(rate), flink, round(rate / flink, 2))
    for r in nx:
        if r.get("step") == "log append":
            nt.add("Nexmark: `outpost log append` of the events, events/s per core", r["events_per_core_s"])
            sizes.append(f"nexmark: {r['events']:,} events ({r['input_bytes'] / MIB:.0f} MiB of JSON lines)")
    t.gaps += nt.gaps

    lines = [
        "# Outpost benchmark report",
        "",
        f"Generated by `bench/run-all` (scale `{meta.get('scale', '?')}`) on {meta.get('date_utc', '?')} from commit "
        f"`{meta.get('commit', '?')}`; raw results: " +
        ", ".join(f"`{os.path.relpath(src, os.path.dirname(os.path.abspath(dst)))}`" for src in srcs) + ".",
        "",
        *([f"Runs collected in this file: " + "; ".join(
            f"{m.get('date_utc', '?')} commit `{m.get('commit', '?')}` ({', '.join(m.get('suites', ['all']))})"
            for m in metas), ""] if len(metas) > 1 else []),
        f"Machine: {meta.get('nproc', '?')} cores ({meta.get('cpu', '?')}), {meta.get('mem_gib', '?')} GiB memory, "
        f"Linux {meta.get('kernel', '?')}; load average at the start {' / '.join(' '.join(m['loadavg_at_start']) for m in metas if m.get('loadavg_at_start'))} "
        "(the machine is shared with other jobs: judge rates by CPU seconds per event, and wall-clock ratios as noisy).",
        "",
        "Ratios are Outpost / reference unless the figure says otherwise. Targets are the ones the issues set.",
        "",
        "## Figures",
        "",
        t.text(),
        "## Nexmark",
        "",
        "Events/s per core = all events of the stream (persons, auctions and bids) / CPU seconds (user+sys) of the "
        "`outpost query` process over the stored stream, start-up included. Flink's per-core figures are nexmark "
        "GUIDE_V1.md's. Every query's output is compared row for row with DuckDB's on the same events.",
        "",
        nt.text(),
        "## Sizes used",
        "",
        *[f"- {s}" for s in sizes],
        "",
        "## Targets not met",
        "",
        *(t.gaps or ["- none"]),
        "",
    ]
    if errors:
        lines += ["## Benchmarks that failed in this run", ""]
        lines += [f"- {e.get('suite', e.get('bench'))}: {str(e['error'])[:300]}" for e in errors]
        lines += [""]
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "REPORT-notes.md")
    if os.path.exists(notes):
        lines += [open(notes).read()]
    with open(dst, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
