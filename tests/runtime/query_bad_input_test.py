#!/usr/bin/env python3
"""Wrong input to the query features gets a clear answer, never a crash or a silent drop:

- `outpost query` with bad SQL exits 2 and names the line and column (with a caret under the
  place), prints no rows; an unknown stream, an unsupported clause and a bad --format are named
  the same way; a data dir that does not exist is named and not created; records the query
  cannot evaluate are counted on stderr, not dropped silently.
- /v1/query with bad SQL answers 400 with the position, and the daemon keeps running.
- A query checkpoint damaged on disk (the window state after a valid header, or the header
  itself) does not stop the daemon or the query: it is logged, counted
  (checkpoint_state_discarded in /v1/status and outpost_query_checkpoint_state_discarded_total
  in /metrics), shown as the query's last error, and the query continues from the checkpoint's
  input position and consumes records appended later.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import (READINGS_STREAM_YAML, agent_yaml, check, free_port, http_get, queries_yaml,  # noqa: E402
                             run_in_tmpdir, start, wait_until)

OUTPOST = os.environ["OUTPOST_BIN"]
BASE_MS = 1_700_000_000_000
WINDOW_SQL = ("SELECT window_start, window_end, device, count() AS n, avg(temp) AS a "
              "FROM tumble(readings, ts, 1m) GROUP BY window_start, window_end, device")


def append(data, first, count):
    """Readings first..first+count-1, one per second of event time, 4 devices."""
    lines = "".join(json.dumps({"device": f"d{i % 4}", "temp": 20 + i % 7, "ts": BASE_MS + i * 1000}) + "\n"
                    for i in range(first, first + count))
    r = subprocess.run([OUTPOST, "log", "append", "--data-dir", data, "--stream", "readings", "--key-field", "device",
                        "--time-field", "ts", "--time-format", "unix_ms"], input=lines.encode(), capture_output=True)
    check(r.returncode == 0, f"{count} readings appended ({r.stderr.decode().strip()[:200]})")


def query(data, sql, *extra):
    r = subprocess.run([OUTPOST, "query", "--data-dir", data, *extra, sql], capture_output=True)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def cli_checks(data, tmp):
    rc, out, err = query(data, "SELEC device FROM table(readings)")
    check(rc == 2 and out == "" and "line 1, column 1" in err and "SELEC" in err and "\n  ^" in err,
          f"bad SQL: exit 2, no rows, line/column and a caret: rc {rc} {err.strip()[:200]!r}")
    rc, out, err = query(data, "SELECT device\nFROM table(readings)\nWHERE temp >")
    check(rc == 2 and out == "" and "line 3" in err,
          f"an error on line 3 is placed on line 3: rc {rc} {err.strip()[:200]!r}")
    rc, out, err = query(data, "SELECT device FROM table(nosuch)")
    check(rc == 2 and out == "" and "unknown stream 'nosuch'" in err and "column 26" in err,
          f"unknown stream named with its position: rc {rc} {err.strip()[:200]!r}")
    rc, out, err = query(data, "SELECT device FROM table(readings) ORDER BY device")
    check(rc == 2 and out == "" and "ORDER BY is not supported" in err,
          f"an unsupported clause says so: rc {rc} {err.strip()[:200]!r}")
    rc, out, err = query(data, "SELECT device FROM table(readings)", "--format", "xml")
    check(rc == 2 and "--format" in err and "xml" in err, f"bad --format named: rc {rc} {err.strip()[:200]!r}")
    missing = os.path.join(tmp, "no-such-dir")
    rc, out, err = query(missing, "SELECT device FROM table(readings)")
    check(rc != 0 and missing in err and not os.path.exists(missing),
          f"a missing data dir is named and not created: rc {rc} {err.strip()[:200]!r}")
    rc, out, err = query(data, "SELECT device, upper(temp) AS u FROM table(readings) WHERE device = 'd1'")
    check("could not be evaluated" in err and any(ch.isdigit() for ch in err),
          f"records the query cannot evaluate are counted on stderr: rc {rc} {err.strip()[:200]!r}")
    rc, out, err = query(data, "SELECT count() AS n FROM table(readings)")
    check(rc == 0 and json.loads(out.splitlines()[0])["n"] == 600, f"the good query still works: {out.strip()[:100]}")


def write_config(path, data, port):
    with open(path, "w") as f:
        f.write(agent_yaml("bad-input-test", data, port, "50ms") + READINGS_STREAM_YAML +
                queries_yaml({"name": "per_minute", "sql": WINDOW_SQL, "checkpoint_interval": "100ms"}))


def status(port):
    code, body = http_get(port, "/v1/status")
    return {q["name"]: q for q in json.loads(body)["queries"]}["per_minute"] if code == 200 else None


def run_daemon(config, port, log):
    p = start([OUTPOST, "run", "--config", config], stdout=subprocess.DEVNULL, stderr=open(log, "a"))
    wait_until("the daemon's HTTP status", 30, lambda: status(port) is not None, 0.05)
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    check(rc == 0, f"SIGTERM: clean exit (rc {rc})")


def damage_checkpoint(data, keep_header):
    db = sqlite3.connect(os.path.join(data, "catalog.db"))
    (state,) = db.execute("SELECT state FROM checkpoints WHERE query = 'per_minute'").fetchone()
    state = bytes(state)
    nl = state.index(b"\n")
    bad = state[:nl + 1] + b"\xff\x00garbage window state" if keep_header else b"oq1 not a header" + state[nl:]
    db.execute("UPDATE checkpoints SET state = ? WHERE query = 'per_minute'", (bad,))
    db.commit()
    db.close()
    check(nl > 0, f"the checkpoint had a state header ({state[:nl]!r}) and was damaged")


def daemon_checks(data, tmp):
    port = free_port()
    config = os.path.join(tmp, "bad-input.yaml")
    write_config(config, data, port)
    log = config + ".log"
    total = 600

    p = run_daemon(config, port, log)
    wait_until("the query to consume the stored readings", 60,
               lambda: (s := status(port)) and s["input_seq"] >= total and s["lag_records"] == 0)
    code, body = http_get(port, "/v1/query?sql=" + urllib.parse.quote("SELECT device FROM table(readings) WHERE"))
    check(code == 400 and "column" in body, f"/v1/query with bad SQL: 400 with the position: {code} {body[:200]}")
    code, _ = http_get(port, "/healthz")
    check(p.poll() is None and code == 200, f"the daemon is still up and healthy after the bad query ({code})")
    stop(p)
    if not os.path.exists(os.path.join(data, "catalog.db")):
        check(False, "catalog.db in the data dir (where the checkpoint lives)")
        return

    for keep_header, what in ((True, "window state"), (False, "state header")):
        damage_checkpoint(data, keep_header)
        append(data, total, 120)
        total += 120
        p = run_daemon(config, port, log)
        s = wait_until(f"the query to go on past the damaged {what}", 60,
                       lambda: (s := status(port)) and s["input_seq"] >= total and s["lag_records"] == 0 and s)
        if s:
            check(s["state"] in ("running", "backfilling") and s["checkpoint_state_discarded"] == 1 and s["last_error"],
                  f"damaged {what}: query {s['state']}, counted and shown: discarded "
                  f"{s['checkpoint_state_discarded']}, last_error {s['last_error'][:150]!r}")
        code, body = http_get(port, "/metrics")
        check('outpost_query_checkpoint_state_discarded_total{query="per_minute"} 1' in body,
              f"damaged {what}: counted in /metrics")
        check(p.poll() is None, f"damaged {what}: the daemon is up")
        stop(p)
    with open(log) as f:
        text = f.read()
    check(text.count("per_minute: ") > 0 and "starting with empty windows" in text,
          "the log names the query and what happened to its windows")


def main(tmp):
    data = os.path.join(tmp, "data")
    append(data, 0, 600)
    cli_checks(data, tmp)
    daemon_checks(data, tmp)


if __name__ == "__main__":
    sys.exit(run_in_tmpdir("outpost-query-bad-", main))
