#!/usr/bin/env python3
"""Backfill then live, with no gap and no overlap at the switch (docs/SEMANTICS.md 15).

A stream holds stored readings; `outpost run` starts a filter query from `earliest` while a real
mosquitto delivers live readings into the same stream during the backfill. When the query has
caught up, its result stream must hold exactly one row per matching input record, stored or
live, in sequence order: the rows `outpost query` computes over the whole stream afterwards, and
the count a Python filter computes over the inputs.
"""
import json
import os
import random
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import (Broker, READINGS_STREAM_YAML, agent_yaml, check, free_port, http_get,  # noqa: E402
                             mqtt_source_yaml, queries_yaml, run_in_tmpdir, start, wait_until)

OUTPOST = os.environ["OUTPOST_BIN"]
STORED = 1_000_000
LIVE = 20_000
ALERT_SQL = "SELECT device, temp, ts FROM readings WHERE temp > 95"


def reading(rnd, i):
    return {"device": f"d{rnd.randrange(30)}", "temp": round(rnd.uniform(0, 100), 2), "ts": 1_700_000_000_000 + i * 10}


def status(port):
    code, body = http_get(port, "/v1/status")
    if code != 200:
        raise RuntimeError(f"/v1/status answered {code}")
    return json.loads(body)


def stream_last(s, name):
    for st in s["streams"]:
        if st["name"] == name:
            return st.get("last_seq", 0)
    return 0


def main(tmp):
    rnd = random.Random(11)
    stored = [reading(rnd, i) for i in range(STORED)]
    live = [reading(rnd, STORED + i) for i in range(LIVE)]
    data = os.path.join(tmp, "data")
    r = subprocess.run([OUTPOST, "log", "append", "--data-dir", data, "--stream", "readings",
                        "--key-field", "device", "--time-field", "ts", "--time-format", "unix_ms"],
                       input="".join(json.dumps(x) + "\n" for x in stored).encode(), capture_output=True)
    check(r.returncode == 0, f"{STORED} readings stored before the daemon starts")

    broker = Broker(tmp, max_queued=100000, max_inflight=None, persistence=False)
    broker.start()
    mq_port = broker.port

    http_port = free_port()
    config = os.path.join(tmp, "outpost.yaml")
    with open(config, "w") as f:
        f.write(agent_yaml("backfill-test", data, http_port, "20ms") +
                mqtt_source_yaml("broker", mq_port, "live/#", "outpost-backfill-test") + READINGS_STREAM_YAML +
                queries_yaml({"name": "alerts", "sql": ALERT_SQL, "checkpoint_interval": "200ms"}))
    daemon = start([OUTPOST, "run", "--config", config], stdout=subprocess.DEVNULL, stderr=open(config + ".log", "w"))
    wait_until("the daemon's sources to connect", 30,
               lambda: all(s["state"] == "connected" for s in status(http_port)["sources"]), 0.02)
    s = status(http_port)
    q = s["queries"][0]
    print(f"  at the first live publish: query {q['state']} at input seq {q['input_seq']} of {STORED}")
    backfilling = q["input_seq"] < STORED
    pub = subprocess.run(["mosquitto_pub", "-p", str(mq_port), "-q", "1", "-t", "live/site", "-l"],
                         input="".join(json.dumps(x) + "\n" for x in live).encode(), capture_output=True, timeout=120)
    check(pub.returncode == 0, "mosquitto_pub delivered the live readings")
    wait_until("all live readings in the log", 60, lambda: stream_last(status(http_port), "readings") >= STORED + LIVE)
    s = status(http_port)
    check(backfilling, "live readings arrived while the query was still backfilling stored ones")
    wait_until("the query to catch up", 120,
               lambda: status(http_port)["queries"][0]["input_seq"] >= STORED + LIVE)
    daemon.send_signal(signal.SIGTERM)
    check(daemon.wait(timeout=60) == 0, "SIGTERM: clean exit")

    got = subprocess.run([OUTPOST, "log", "cat", "--data-dir", data, "--stream", "alerts"], capture_output=True)
    rows = [json.dumps(json.loads(l)["payload"], sort_keys=True) for l in got.stdout.decode().splitlines()]
    want_n = sum(1 for x in stored + live if x["temp"] > 95)
    check(len(rows) == want_n, f"one alert row per matching input record, stored or live ({len(rows)} vs {want_n})")
    hist = subprocess.run([OUTPOST, "query", "--config", config, ALERT_SQL], capture_output=True)
    want = [json.dumps(json.loads(l), sort_keys=True) for l in hist.stdout.decode().splitlines()]
    check(hist.returncode == 0 and rows == want,
          "the continuous result equals the historical query over the whole stream, row for row "
          f"(no gap, no overlap at the switch; {len(rows)} vs {len(want)})")


if __name__ == "__main__":
    sys.exit(run_in_tmpdir("outpost-backfill-", main))
