#!/usr/bin/env python3
"""Wall-clock jumps, end to end: mosquitto -> outpost run (MQTT ingest, a tumbling-window query
over payload time, mirrors of the readings and of the query's results) -> dev-central, with the
daemon under libfaketime (LD_PRELOAD) and FAKETIME_DONT_FAKE_MONOTONIC="1", so only the wall clock
moves, as when NTP corrects a board's clock. While readings flow the clock jumps a day forward,
then an hour back.

Asserts: every reading is stored once with the event time of its payload; ingest time never
goes back in sequence order (FORMAT.md: max(wall now, previous ingest time)) and did follow
the forward jump; the window results equal an independent computation over the published
events; central receives every reading and every result row; health still measures silence
and central outages in elapsed time after the clock went back (a wall-clock comparison would
be blind for the hour the clock was set back); no crash, clean exit.

Needs Debian's libfaketime (tools/install-deps.sh); exits 77 (skipped) without it.
OUTPOST_LONG=1 publishes more and jumps more often."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from envfault_common import (LONG, OUTPOST, Central, Publisher, health,  # noqa: E402
                             log_stat, status)
from outpost_testlib import (READINGS_UNTYPED_STREAM_YAML, Broker, agent_yaml, central_yaml, check, finish,  # noqa: E402
                             free_port, mqtt_source_yaml, queries_yaml, start, stop_all, wait_until)

FAKETIME_LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/arm-linux-gnueabihf/faketime/libfaketimeMT.so.1",
                 "/usr/lib/faketime/libfaketimeMT.so.1"]
BASE = 1_700_000_000_000
DEVICES = 4
WINDOW_MS = 1000
DAY_S = 86400

WINDOW_SQL = ("SELECT window_start, window_end, device, count() AS n, sum(v) AS s "
              "FROM tumble(readings, ts, 1s) GROUP BY window_start, window_end, device")


def write_config(path, data, broker, kafka, http_port):
    with open(path, "w") as f:
        f.write(agent_yaml("clock-it", data, http_port, "100ms") +
                mqtt_source_yaml("plant", broker.port, "plant/+/v", "outpost-clock", reconnect=("200ms", "1s")) +
                READINGS_UNTYPED_STREAM_YAML +
                queries_yaml({"name": "per_second", "sql": WINDOW_SQL, "idle_timeout": "2s",
                              "checkpoint_interval": "200ms"}) +
                central_yaml(kafka, [("raw", "readings", "clock.readings"), ("windows", "per_second", "clock.windows")]) +
                "health:\n  source_silence: 3s\n  sync_offline: 3s\n")


def reading(i):
    return {"device": f"d{i % DEVICES}", "ts": BASE + i * 10, "v": i % 97}


class Feeder(threading.Thread):
    """Publishes readings at a steady rate until told to stop; remembers what it sent."""

    def __init__(self, broker, first, rate):
        super().__init__(daemon=True)
        self.pub = Publisher(broker, "plant/line/v")
        self.next = first
        self.rate = rate
        self.halt = threading.Event()

    def run(self):
        t0 = time.monotonic()
        sent = 0
        while not self.halt.is_set():
            due = int((time.monotonic() - t0) * self.rate) - sent
            if due > 0:
                self.pub.send([json.dumps(reading(i)) for i in range(self.next, self.next + due)])
                self.next += due
                sent += due
            self.halt.wait(0.02)

    def stop(self):
        self.halt.set()
        self.join()
        return self.pub.close()


def log_rows(data, stream):
    r = subprocess.run([OUTPOST, "log", "cat", "--data-dir", data, "--stream", stream, "--ms"],
                       capture_output=True, timeout=300)
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def expected_windows(n):
    """Per (window start, device): (count, sum) of every window: the idle timeout closes every
    open window, the one holding the newest event included (docs/SEMANTICS.md 8)."""
    out = {}
    for i in range(n):
        r = reading(i)
        ws = r["ts"] - r["ts"] % WINDOW_MS
        k = (ws, r["device"])
        c, s = out.get(k, (0, 0))
        out[k] = (c + 1, s + r["v"])
    return out


def main():
    lib = next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)
    if lib is None:
        print("SKIP: libfaketime is not installed (apt-get install faketime; tools/install-deps.sh)")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="outpost-clock-")
    try:
        broker = Broker(tmp, max_queued=1_000_000)
        broker.start()
        central = Central(tmp)
        data = os.path.join(tmp, "data")
        http_port = free_port()
        config = os.path.join(tmp, "outpost.yaml")
        write_config(config, data, broker, central.bootstrap, http_port)
        clock_file = os.path.join(tmp, "faketime")

        def set_offset(seconds):
            with open(clock_file + ".new", "w") as f:
                f.write(f"{seconds:+d}\n")
            os.replace(clock_file + ".new", clock_file)

        set_offset(0)
        env = dict(os.environ, LD_PRELOAD=lib, FAKETIME_TIMESTAMP_FILE=clock_file, FAKETIME_DONT_FAKE_MONOTONIC="1",
                   FAKETIME_CACHE_DURATION="1")
        daemon = start([OUTPOST, "run", "--config", config], env=env, stdout=subprocess.DEVNULL,
                       stderr=open(os.path.join(tmp, "run.log"), "w"))
        wait_until("the MQTT subscription", 30, lambda: status(http_port)["sources"][0]["state"] == "connected")

        def daemon_offset_s():
            return (status(http_port)["now_ms"] / 1000.0) - time.time()

        def stored():
            return log_stat(data).get("readings", {}).get("last_seq", 0)

        rate = 400
        per_phase = 4000 if LONG else 1200
        feeder = Feeder(broker, 0, rate)
        feeder.start()
        wait_until("phase 1 readings", 60, lambda: stored() >= per_phase)
        # A day forward, an hour back, then (still while readings flow) back to the true time:
        # see README "Clock jumps" for why the test ends its forward offsets while data flows.
        offsets = [DAY_S, DAY_S - 3600] + ([2 * DAY_S, DAY_S, 3 * DAY_S - 60] if LONG else []) + [0]
        jump_marks = []  # (first seq stored after the daemon saw the jump, offset)
        for off in offsets:
            set_offset(off)
            seen = wait_until(f"the daemon to see the clock at {off:+d} s", 30,
                              lambda: abs(daemon_offset_s() - off) < 30)
            check(bool(seen), f"the daemon's wall clock moved to {off:+d} s")
            jump_marks.append((stored() + 1, off, time.time()))
            target = stored() + per_phase
            wait_until(f"readings after the jump to {off:+d} s", 60, lambda: stored() >= target)
            check(daemon.poll() is None, f"the daemon runs after the clock jumped to {off:+d} s")
        code, h = health(http_port)
        check(code == 200, f"healthy while readings flow after the jumps: {h}")
        check(feeder.stop() == 0, "the publisher finished")
        n = feeder.next

        # Every reading once, with its payload's event time; ingest time never goes back.
        rows = wait_until("every reading stored", 60, lambda: len(r := log_rows(data, "readings")) >= n and r)
        rows = rows or []
        tss = [r["payload"]["ts"] for r in rows]
        check(sorted(tss) == [reading(i)["ts"] for i in range(n)], f"every one of {n} readings stored exactly once")
        check(all(r["event_time"] == r["payload"]["ts"] for r in rows), "event time is the payload's, whatever the clock did")
        ingest = [r["ingest_time"] for r in rows]
        backs = [i for i in range(1, len(ingest)) if ingest[i] < ingest[i - 1]]
        check(not backs, f"ingest time never goes back in sequence order ({len(backs)} steps back)")
        first_jump_seq, _, jumped_at = jump_marks[0]
        # Records appended within a second or so of the jump may predate it (libfaketime's cache).
        after = [r["ingest_time"] for r in rows if r["seq"] >= first_jump_seq + 2 * rate]
        check(bool(after) and min(after) >= (jumped_at + DAY_S - 60) * 1000,
              "ingest time followed the clock forward (the jump really happened) and stayed there when it went back")

        # The window results equal an independent computation: the jumps changed nothing. The
        # idle timeout (2 s, monotonic) moves the watermark past every open window, so all of
        # them close, the one holding the newest event included.
        want = expected_windows(n)

        def results():
            got = {}
            for r in log_rows(data, "per_second"):
                p = r["payload"]
                got[(r["event_time"], p["device"])] = (p["n"], p["s"])  # event time = window start
            return got

        got = wait_until("the windows to close (idle timeout on the monotonic clock)", 60,
                         lambda: len(g := results()) >= len(want) and g)
        check(got == want, f"window results over payload time are unchanged by the jumps ({len(want)} windows)"
              + ("" if got == want else f": {sorted(set((got or {}).items()) ^ set(want.items()))[:4]}"))

        # Central: every reading and every window row, exactly once.
        def central_has_all():
            raw = central.seqs("clock.readings")
            win = central.seqs("clock.windows")
            last_win = log_stat(data).get("per_second", {}).get("last_seq", 0)
            return set(raw) >= set(range(1, n + 1)) and set(win) >= set(range(1, last_win + 1)) and (raw, win)
        res = wait_until("central to receive everything", 120, central_has_all)
        check(bool(res), "sync kept flowing through the jumps: central has every reading and window row")
        if res:
            check(all(c == 1 for c in res[0].values()) and all(c == 1 for c in res[1].values()),
                  "nothing reached central twice")

        # The clock goes back while the source is silent: health measures silence in elapsed
        # time (a wall-clock difference would be negative for the next hour).
        off = -3600
        set_offset(off)
        wait_until(f"the daemon to see the clock at {off:+d} s", 30, lambda: abs(daemon_offset_s() - off) < 30)
        bad = wait_until("/healthz to notice the silent source", 20,
                         lambda: (x := health(http_port))[0] == 503 and "mqtt:plant" in x[1]["unhealthy"] and x)
        check(bool(bad), "a source silent across a backward jump is noticed (health.source_silence 3s)")

        # Same for central: unreachable, then the clock goes back; still noticed after 3 s.
        central.command("down all")
        extra = Publisher(broker, "plant/line/v")
        extra.send([json.dumps(reading(i)) for i in range(n, n + 50)])
        check(extra.close() == 0, "50 more readings published while central is down")
        wait_until("the mirror to notice central is down", 30,
                   lambda: [m for m in status(http_port)["mirrors"] if m["name"] == "raw"][0]["state"] != "online")
        off -= 3600
        set_offset(off)
        wait_until(f"the daemon to see the clock at {off:+d} s", 30, lambda: abs(daemon_offset_s() - off) < 30)
        bad = wait_until("/healthz to notice central is down", 30,
                         lambda: (x := health(http_port))[0] == 503 and "sync:raw" in x[1]["unhealthy"] and x)
        check(bool(bad), "an unreachable central is noticed across a backward jump (health.sync_offline 3s)")
        # Back to the true time: central returns and receives what was published meanwhile.
        set_offset(0)
        wait_until("the daemon to see the true time", 30, lambda: abs(daemon_offset_s()) < 30)
        central.command("up all")
        res = wait_until("central to receive the readings published while it was down", 60,
                         lambda: set(central.seqs("clock.readings")) >= set(range(1, n + 51)))
        check(bool(res), "central has every reading after the outage")
        daemon.send_signal(signal.SIGTERM)
        try:
            check(daemon.wait(timeout=60) == 0, "clean shutdown")
        except subprocess.TimeoutExpired:
            check(False, "clean shutdown within 60 s of SIGTERM")
    finally:
        stop_all()
        if os.environ.get("OUTPOST_KEEP_TMP") == "1":
            print("kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(finish())


main()
