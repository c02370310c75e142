#!/usr/bin/env python3
"""bench/mqtt_ingest: how fast `outpost run` makes MQTT messages durable, against how fast
`mosquitto_sub` receives the same messages from the same broker (the broker's delivery limit),
in one run. QoS 0 and QoS 1; ~100-byte JSON readings published by `mosquitto_pub -l`.

Method (changed 2026-11-29, bench/REPORT-notes.md says why):
- Both receivers are subscribed during the SAME publish: one publisher, one broker, the same
  messages at the same moment. (Before, `mosquitto_sub` and Outpost each got their own publish,
  one after the other; on a shared 2-core machine the load changed between the two halves and
  the ratio swung by 2x.)
- Each QoS is measured --runs times (default 3) against one daemon; the JSON line reports the
  median run and every run's ratio.
- The clock starts when the publisher starts. `mosquitto_sub` stops it when it exits after N
  messages (`-C N`, as before). Outpost stops it when `/v1/streams` reports durable_seq >= N,
  polled every 20 ms while messages arrive (as before) and every 2 ms once all are appended (a
  poll costs the daemon ~0.2 ms of CPU, so fine polling during ingest would slow it). The
  durable figure still includes the group-commit wait for the last messages (up to storage.flush.interval, 200 ms by default, plus the fsync):
  that is what durable means. It is reported separately as durable_tail_ms, next to the rate at
  which Outpost appended the messages, and N defaults to 200,000 so the tail is a few percent
  of a run, not 10-20% as it was with 50,000.
- The feed is published in chunks of --chunk lines, one `mosquitto_pub -l` each (one
  `mosquitto_pub -l` given 200,000 lines at QoS 1 did not deliver them all).
- Loss is counted at QoS 0 too, for both receivers: a run ends when both have everything or
  neither advanced for --stall-s seconds after the publisher finished.

Prints one JSON line per QoS with rates, ratios, loss, CPU per message (daemon, mosquitto_sub,
broker) and the daemon's RSS idle and under load.

  python3 bench/mqtt_ingest/run.py [--outpost build/default/agent/outpost] [--messages 200000]
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "pylib"))
import outpost_testlib as tl  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """(cpu seconds, current RSS KiB, peak RSS KiB) of a process."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu_seconds(pid), rss, hwm


def private_dirty_kib(pid):
    """Memory the process alone dirtied (heap, stacks, buffers), without shared library code."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    return 0


def stream_seqs(http_port):
    """(last_seq, durable_seq) of the readings stream: appended, and durable."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1/streams", timeout=5) as r:
        for s in json.load(r):
            if s["name"] == "readings":
                return s["last_seq"], s["durable_seq"]
    return 0, 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outpost", default="build/default/agent/outpost")
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--chunk", type=int, default=50_000, help="lines per mosquitto_pub process")
    ap.add_argument("--runs", type=int, default=3, help="runs per QoS; the median run is reported")
    ap.add_argument("--ingest-poll-ms", type=float, default=20.0,
                    help="how often Outpost's /v1/streams is read while messages are still arriving")
    ap.add_argument("--poll-ms", type=float, default=2.0,
                    help="how often it is read once all are appended (waiting for the group commit)")
    ap.add_argument("--stall-s", type=float, default=10.0, help="no progress this long after publishing = loss")
    args = ap.parse_args()
    outpost = os.path.abspath(args.outpost)
    n = args.messages
    tmp = tempfile.mkdtemp(prefix="outpost-bench-mqtt-")
    try:
        rng = random.Random(3)
        feeds = []
        ts = 1_700_000_000_000
        for c in range(0, n, args.chunk):
            path = os.path.join(tmp, f"feed-{c // args.chunk}.txt")
            with open(path, "w") as f:
                for _ in range(min(args.chunk, n - c)):
                    ts += rng.randint(1, 20)
                    d = rng.randrange(3000)
                    f.write(json.dumps({"device": f"dev-{d:05d}", "site": "north", "ts": ts,
                                        "temp": round(rng.gauss(21, 4), 2), "hum": round(rng.uniform(20, 80), 1)},
                                       separators=(",", ":")) + "\n")
            feeds.append(path)
        mq = tl.Broker(tmp, max_queued=0, max_inflight=1000, persistence=False)
        if not mq.start():
            raise SystemExit("mqtt_ingest: mosquitto did not start")
        port, broker = mq.port, mq.proc

        def publish(qos):
            for path in feeds:
                with open(path, "rb") as f:
                    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", str(qos),
                                    "-t", "bench/readings", "-l"], stdin=f, check=True)

        for qos in (0, 1):
            http_port = tl.free_port()
            data = os.path.join(tmp, f"data-q{qos}")
            config = os.path.join(tmp, f"outpost-q{qos}.yaml")
            with open(config, "w") as f:
                f.write(tl.agent_yaml("bench", data, http_port) +
                        tl.mqtt_source_yaml("broker", port, "bench/#", f"outpost-bench-{qos}", qos=qos, max_inflight=1000) +
                        tl.READINGS_UNTYPED_STREAM_YAML)
            daemon = tl.start([outpost, "run", "--config", config], stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(tmp, f"run-q{qos}.log"), "w"))
            tl.wait_or_exit("outpost", 30, lambda: json.load(urllib.request.urlopen(
                f"http://127.0.0.1:{http_port}/v1/status", timeout=5))["sources"][0]["state"] == "connected", 0.02)
            time.sleep(1.0)  # settle to an idle reading (not a test wait)
            _, idle_rss, _ = proc_stat(daemon.pid)
            idle_private = private_dirty_kib(daemon.pid)

            runs = []
            for run in range(args.runs):
                base_last, base_durable = stream_seqs(http_port)
                target = base_durable + n
                sub_out = os.path.join(tmp, f"sub-q{qos}-{run}.txt")
                with open(sub_out, "w") as out:
                    sub = tl.start(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", str(qos),
                                    "-t", "bench/#", "-C", str(n), "-i", f"ref-{qos}-{run}"], stdout=out)
                time.sleep(0.5)  # let the subscription settle before the clock starts (not a test wait)
                cpu_d0, cpu_b0 = cpu_seconds(daemon.pid), cpu_seconds(broker.pid)
                done = {}
                published = threading.Event()

                def sub_waiter():
                    _, status, ru = os.wait4(sub.pid, 0)
                    sub.returncode = os.waitstatus_to_exitcode(status)
                    done["sub_t"] = time.monotonic()
                    done["sub_cpu"] = ru.ru_utime + ru.ru_stime

                def poller():
                    last_progress, seen = time.monotonic(), (base_last, base_durable)
                    while True:
                        now = time.monotonic()
                        try:
                            last, durable = stream_seqs(http_port)
                        except Exception:
                            last, durable = seen
                        if last >= base_last + n and "appended_t" not in done:
                            done["appended_t"] = now
                        if durable >= target:
                            done["durable_t"] = now
                            done["durable"] = durable
                            return
                        if (last, durable) != seen:
                            seen, last_progress = (last, durable), now
                        elif published.is_set() and now - last_progress > args.stall_s:
                            done["durable"] = durable
                            return
                        # Each /v1/streams costs the daemon ~0.2 ms of CPU (a full status snapshot):
                        # poll gently while it is still receiving, finely once it only waits for
                        # the group commit.
                        time.sleep((args.poll_ms if "appended_t" in done else args.ingest_poll_ms) / 1000)

                waiter = threading.Thread(target=sub_waiter)
                waiter.start()
                t0 = time.monotonic()
                poll = threading.Thread(target=poller)
                poll.start()
                publish(qos)
                published.set()
                pub_s = time.monotonic() - t0
                poll.join()
                # mosquitto_sub exits only with all N; give it the same grace as the daemon.
                waiter.join(timeout=max(0.0, args.stall_s - (time.monotonic() - t0 - pub_s)) + 1)
                if waiter.is_alive():
                    sub.kill()
                    waiter.join()
                cpu_d1, cpu_b1 = cpu_seconds(daemon.pid), cpu_seconds(broker.pid)
                with open(sub_out, "rb") as f:
                    sub_got = sum(1 for _ in f)
                os.remove(sub_out)
                got = done["durable"] - base_durable
                ref_s = done["sub_t"] - t0 if sub_got >= n and "sub_t" in done else None
                out_s = done["durable_t"] - t0 if "durable_t" in done else None
                app_s = done["appended_t"] - t0 if "appended_t" in done else None
                r = {
                    "publish_s": round(pub_s, 3),
                    "mosquitto_sub_s": ref_s and round(ref_s, 3),
                    "outpost_appended_s": app_s and round(app_s, 3),
                    "outpost_durable_s": out_s and round(out_s, 3),
                    "ratio": round(ref_s / out_s, 3) if ref_s and out_s else None,
                    "ratio_appended": round(ref_s / app_s, 3) if ref_s and app_s else None,
                    "durable_tail_ms": round((out_s - app_s) * 1000) if out_s and app_s else None,
                    "outpost_stored": got, "lost": n - got, "mosquitto_sub_received": sub_got,
                    "cpu_us_per_event": round((cpu_d1 - cpu_d0) * 1e6 / n, 3),
                    "mosquitto_sub_cpu_us_per_msg": round(done.get("sub_cpu", 0) * 1e6 / n, 3),
                    "broker_cpu_us_per_msg": round((cpu_b1 - cpu_b0) * 1e6 / n, 3),
                }
                runs.append(r)
            _, _, peak_rss = proc_stat(daemon.pid)
            loaded_private = private_dirty_kib(daemon.pid)
            daemon.terminate()
            daemon.wait(timeout=60)

            # The median run by ratio (runs with loss sort last); its figures are the headline.
            ranked = sorted(runs, key=lambda r: (r["ratio"] is None, r["ratio"] or 0))
            med = ranked[(len(ranked) - 1) // 2] if all(r["ratio"] is not None for r in runs) else ranked[-1]
            ratios = [r["ratio"] for r in runs if r["ratio"] is not None]
            print(json.dumps({
                "bench": "mqtt_ingest", "qos": qos, "messages": n, "runs": len(runs),
                "method": "both receivers subscribed to the same publish; median of the runs",
                "mosquitto_sub_msgs_per_s": round(n / med["mosquitto_sub_s"]) if med["mosquitto_sub_s"] else None,
                "outpost_durable_msgs_per_s": round(n / med["outpost_durable_s"]) if med["outpost_durable_s"] else None,
                "outpost_appended_msgs_per_s": round(n / med["outpost_appended_s"]) if med["outpost_appended_s"] else None,
                "ratio_vs_mosquitto_sub": med["ratio"],
                "ratio_appended_vs_mosquitto_sub": med["ratio_appended"],
                "ratios": [r["ratio"] for r in runs],
                "ratio_min": min(ratios) if ratios else None, "ratio_max": max(ratios) if ratios else None,
                "durable_tail_ms": med["durable_tail_ms"],
                "outpost_stored": med["outpost_stored"], "lost": max(r["lost"] for r in runs),
                "mosquitto_sub_lost": max(n - r["mosquitto_sub_received"] for r in runs),
                "cpu_us_per_event": med["cpu_us_per_event"],
                "mosquitto_sub_cpu_us_per_msg": med["mosquitto_sub_cpu_us_per_msg"],
                "broker_cpu_us_per_msg": med["broker_cpu_us_per_msg"],
                "idle_rss_kib": idle_rss, "peak_rss_kib": peak_rss,
                "idle_private_dirty_kib": idle_private, "loaded_private_dirty_kib": loaded_private,
                "per_run": runs,
                "targets": {"ratio_vs_mosquitto_sub": 0.9, "lost_qos1": 0, "peak_rss_kib": 30 * 1024, "idle_rss_kib": 10 * 1024},
            }), flush=True)
    finally:
        tl.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


main()
