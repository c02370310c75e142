#!/usr/bin/env python3
"""Continuous queries inside `outpost run` (docs/SEMANTICS.md 15-17):

- A window query and a filter query backfill a stored stream from `earliest`; their result
  streams hold exactly the rows `outpost query` computes over the same data.
- Crash equivalence: the same queries under repeated `kill -9` at different points of their
  progress (and restarts) produce result streams identical, row for row (payload, event time,
  key, sequence), to an uninterrupted run: no duplicate row, no missing window.
- Late events under the drop policy land in the query's late stream, with the reason.
- /v1/query answers a historical query as JSON; `outpost check` rejects bad SQL with its
  position.
"""
import json
import os
import random
import signal
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import (READINGS_STREAM_YAML, agent_yaml, check, check_rows_equal, free_port, http_get,  # noqa: E402
                             queries_yaml, run_in_tmpdir, start, wait_until)

OUTPOST = os.environ["OUTPOST_BIN"]
N = int(os.environ.get("OUTPOST_QUERY_CRASH_RECORDS", "400000"))
DEVICES = 40

WINDOW_SQL = ("SELECT window_start, window_end, device, count() AS n, sum(temp) AS s, min(temp) AS lo, "
              "max(temp) AS hi, p99(temp) AS p99 FROM tumble(readings, ts, 1m) "
              "GROUP BY window_start, window_end, device")
ALERT_SQL = "SELECT device, temp, ts FROM readings WHERE temp > 99.5"


def make_input(path, n, seed=7):
    """Readings of DEVICES devices, one every 10 ms of event time, up to 3 s out of order,
    plus a few far-late ones (late for every window they belong to)."""
    rnd = random.Random(seed)
    base = 1_700_000_000_000
    with open(path, "w") as f:
        for i in range(n):
            ts = base + i * 10 - rnd.randint(0, 3000)
            if i % 50_000 == 49_999:
                ts -= 600_000  # ten minutes behind: late
            temp = round(rnd.uniform(-10, 100), 2)
            f.write(json.dumps({"device": f"d{rnd.randrange(DEVICES)}", "temp": temp, "ts": ts}) + "\n")


def write_config(path, data, http_port, late_policy="drop"):
    with open(path, "w") as f:
        f.write(agent_yaml("query-test", data, http_port, "50ms") + READINGS_STREAM_YAML + queries_yaml(
            {"name": "per_minute", "sql": WINDOW_SQL, "late_policy": late_policy, "checkpoint_interval": "100ms"},
            {"name": "alerts", "sql": ALERT_SQL, "checkpoint_interval": "100ms"}))


def log_rows(data, stream):
    r = subprocess.run([OUTPOST, "log", "cat", "--data-dir", data, "--stream", stream, "--ms"], capture_output=True)
    rows = []
    for line in r.stdout.decode().splitlines():
        j = json.loads(line)
        rows.append((j["seq"], j.get("event_time"), j.get("key"), json.dumps(j["payload"], sort_keys=True)))
    return rows


def query_status(port):
    code, body = http_get(port, "/v1/status")
    if code != 200:
        return None
    return {q["name"]: q for q in json.loads(body)["queries"]}


class Daemon:
    def __init__(self, config, port):
        self.config, self.port, self.proc = config, port, None

    def start(self):
        self.proc = start([OUTPOST, "run", "--config", self.config], stdout=subprocess.DEVNULL,
                          stderr=open(self.config + ".log", "a"))
        return wait_until("the daemon's HTTP status", 30, lambda: query_status(self.port) is not None, 0.02)

    def progress(self):
        s = query_status(self.port)
        return min(q["input_seq"] for q in s.values()) if s else 0

    def done(self):
        s = query_status(self.port)
        return s and all(q["input_seq"] >= N and q["lag_records"] == 0 for q in s.values())

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        check(rc == 0, f"SIGTERM: clean exit (rc {rc})")


def prepare(tmp, name, input_path):
    data = os.path.join(tmp, name)
    with open(input_path) as f:
        r = subprocess.run([OUTPOST, "log", "append", "--data-dir", data, "--stream", "readings",
                            "--key-field", "device", "--time-field", "ts", "--time-format", "unix_ms"],
                           stdin=f, capture_output=True)
    check(r.returncode == 0, f"{name}: {N} readings appended ({r.stderr.decode().strip()[:200]})")
    port = free_port()
    config = os.path.join(tmp, name + ".yaml")
    write_config(config, data, port)
    return data, config, port


def main(tmp):
    input_path = os.path.join(tmp, "input.jsonl")
    make_input(input_path, N)

    # `outpost check` names the position of an SQL error.
    bad = os.path.join(tmp, "bad.yaml")
    write_config(bad, os.path.join(tmp, "bad-data"), free_port())
    with open(bad) as f:
        text = f.read().replace("max(temp) AS hi", "max(tmp) AS hi")
    with open(bad, "w") as f:
        f.write(text)
    r = subprocess.run([OUTPOST, "check", "--config", bad], capture_output=True)
    err = r.stderr.decode()
    check(r.returncode == 2 and "tmp" in err and "column" in err,
          f"outpost check rejects an unknown column with its position: {err.strip()[:300]}")

    # Reference: one uninterrupted run.
    ref_data, ref_config, ref_port = prepare(tmp, "reference", input_path)
    ref = Daemon(ref_config, ref_port)
    ref.start()
    wait_until("the reference run to consume all input", 300, ref.done, 0.1)
    code, body = http_get(ref_port, "/v1/query?sql=" + urllib.parse.quote(
        "SELECT count() AS n FROM table(readings) WHERE temp > 99.5"))
    check(code == 200 and json.loads(body)["rows"] == [{"n": len([1 for l in open(input_path) if json.loads(l)["temp"] > 99.5])}],
          f"/v1/query answers a historical count: {body[:200]}")
    ref.stop()
    ref_windows = log_rows(ref_data, "per_minute")
    ref_alerts = log_rows(ref_data, "alerts")
    ref_late = log_rows(ref_data, "per_minute.late")
    check(len(ref_windows) > 100 and len(ref_alerts) > 100, f"the reference run produced rows "
          f"({len(ref_windows)} windows, {len(ref_alerts)} alerts)")
    check(len(ref_late) >= N // 50_000 - 1 and all('"reason"' in r[3] for r in ref_late),
          f"late readings are kept in per_minute.late with a reason ({len(ref_late)})")

    # The daemon's window rows are what `outpost query` computes over the same stored input
    # (minus the windows the daemon still holds open: its watermark has not passed them).
    r = subprocess.run([OUTPOST, "query", "--config", ref_config, WINDOW_SQL], capture_output=True)
    cli_rows = [json.dumps(json.loads(l), sort_keys=True) for l in r.stdout.decode().splitlines()]
    daemon_rows = [w[3] for w in ref_windows]
    check(r.returncode == 0 and cli_rows[:len(daemon_rows)] == daemon_rows and len(cli_rows) >= len(daemon_rows),
          f"outpost query over the stored input gives the daemon's rows ({len(cli_rows)} vs {len(daemon_rows)})")

    # Crash run: kill -9 at increasing progress points, restart, finish.
    data, config, port = prepare(tmp, "crashed", input_path)
    d = Daemon(config, port)
    kills = 0
    killed_at = []
    for frac in (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95):
        d.start()
        if wait_until(f"progress past {frac:.0%}", 300, lambda: d.progress() >= frac * N or d.done(), 0.005):
            at = d.progress()
            d.kill9()
            if at < N:
                kills += 1
                killed_at.append(at)
        if d.proc.poll() is None:
            d.kill9()
    print(f"  killed at input seqs {killed_at}")
    d.start()
    wait_until("the crashed run to consume all input", 300, d.done, 0.1)
    d.stop()
    check(kills >= 5, f"{kills} kill -9s landed mid-run")
    for stream, want in (("per_minute", ref_windows), ("alerts", ref_alerts), ("per_minute.late", ref_late)):
        got = log_rows(data, stream)
        check_rows_equal(stream, got, want,
                         f"{stream} after {kills} kill -9s equals the uninterrupted run row for row ({len(got)} rows)")


if __name__ == "__main__":
    sys.exit(run_in_tmpdir("outpost-query-", main))
