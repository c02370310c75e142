#!/usr/bin/env python3
"""bench/mqtt_ingest: how fast `outpost run` makes MQTT messages durable, against how fast
`mosquitto_sub` receives the same messages from the same broker (the broker's delivery limit),
in one run. QoS 0 and QoS 1; ~100-byte JSON readings; the same publisher (`mosquitto_pub -l`)
for both. Prints JSON lines with rates, loss, the daemon's CPU time per message and its RSS
idle and under load.

  python3 bench/mqtt_ingest/run.py [--outpost build/default/agent/outpost] [--messages 200000]
"""
import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_until(secs, fn, what):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.02)
    raise SystemExit(f"mqtt_ingest: timed out waiting for {what}")


def proc_stat(pid):
    """(cpu seconds, current RSS KiB, peak RSS KiB) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, rss, hwm


def private_dirty_kib(pid):
    """Memory the process alone dirtied (heap, stacks, buffers), without shared library code."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1])
    return 0


def durable(http_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1/streams", timeout=5) as r:
        for s in json.load(r):
            if s["name"] == "readings":
                return s["durable_seq"]
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outpost", default="build/default/agent/outpost")
    ap.add_argument("--messages", type=int, default=200_000)
    args = ap.parse_args()
    outpost = os.path.abspath(args.outpost)
    n = args.messages
    tmp = tempfile.mkdtemp(prefix="outpost-bench-mqtt-")
    procs = []
    try:
        rng = random.Random(3)
        feed = os.path.join(tmp, "feed.txt")
        with open(feed, "w") as f:
            ts = 1_700_000_000_000
            for i in range(n):
                ts += rng.randint(1, 20)
                d = rng.randrange(3000)
                f.write(json.dumps({"device": f"dev-{d:05d}", "site": "north", "ts": ts,
                                    "temp": round(rng.gauss(21, 4), 2), "hum": round(rng.uniform(20, 80), 1)},
                                   separators=(",", ":")) + "\n")
        port = free_port()
        with open(os.path.join(tmp, "mosquitto.conf"), "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                    "max_inflight_messages 1000\n")
        broker = subprocess.Popen(["mosquitto", "-c", os.path.join(tmp, "mosquitto.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(broker)
        wait_until(20, lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True, "mosquitto")

        def publish(qos):
            with open(feed, "rb") as f:
                subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", str(qos),
                                "-t", "bench/readings", "-l"], stdin=f, check=True)

        for qos in (0, 1):
            # Reference: mosquitto_sub on the same broker, same publisher.
            sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", str(qos),
                                    "-t", "bench/#", "-C", str(n), "-i", f"ref-{qos}"],
                                   stdout=subprocess.DEVNULL)
            procs.append(sub)
            time.sleep(0.5)  # let the subscription settle before the clock starts (not a test wait)
            t0 = time.monotonic()
            publish(qos)
            try:
                sub.wait(timeout=300)
                ref_s = time.monotonic() - t0
                ref_received = n if sub.returncode == 0 else None
            except subprocess.TimeoutExpired:
                sub.kill()
                ref_s, ref_received = None, None

            # Outpost: the same messages, timed until they are durable in the local log.
            http_port = free_port()
            data = os.path.join(tmp, f"data-q{qos}")
            config = os.path.join(tmp, f"outpost-q{qos}.yaml")
            with open(config, "w") as f:
                f.write(f"""agent: {{id: bench, data_dir: {data}, http: {{listen: "127.0.0.1:{http_port}"}}}}
sources:
  - name: broker
    type: mqtt
    broker: tcp://127.0.0.1:{port}
    client_id: outpost-bench-{qos}
    max_inflight: 1000
    subscriptions: [{{topic: "bench/#", qos: {qos}, stream: readings}}]
streams:
  - name: readings
    format: json
    key_field: device
    time: {{field: ts, format: unix_ms}}
""")
            daemon = subprocess.Popen([outpost, "run", "--config", config], stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(tmp, f"run-q{qos}.log"), "w"))
            procs.append(daemon)
            wait_until(30, lambda: json.load(urllib.request.urlopen(
                f"http://127.0.0.1:{http_port}/v1/status", timeout=5))["sources"][0]["state"] == "connected", "outpost")
            time.sleep(1.0)  # settle to an idle reading (not a test wait)
            cpu0, idle_rss, _ = proc_stat(daemon.pid)
            idle_private = private_dirty_kib(daemon.pid)
            t0 = time.monotonic()
            publish(qos)
            wait_until(600, lambda: durable(http_port) >= n or (time.monotonic() - t0 > 590 and 0), "outpost durable")
            outpost_s = time.monotonic() - t0
            cpu1, _, peak_rss = proc_stat(daemon.pid)
            loaded_private = private_dirty_kib(daemon.pid)
            got = durable(http_port)
            daemon.terminate()
            daemon.wait(timeout=60)
            ref_rate = n / ref_s if ref_s else None
            rate = n / outpost_s
            print(json.dumps({
                "bench": "mqtt_ingest", "qos": qos, "messages": n,
                "mosquitto_sub_msgs_per_s": round(ref_rate) if ref_rate else None,
                "outpost_durable_msgs_per_s": round(rate),
                "ratio_vs_mosquitto_sub": round(rate / ref_rate, 3) if ref_rate else None,
                "outpost_stored": got, "lost": n - got,
                "cpu_us_per_event": round((cpu1 - cpu0) * 1e6 / n, 3),
                "idle_rss_kib": idle_rss, "peak_rss_kib": peak_rss,
                "idle_private_dirty_kib": idle_private, "loaded_private_dirty_kib": loaded_private,
                "targets": {"ratio_vs_mosquitto_sub": 0.9, "lost_qos1": 0, "peak_rss_kib": 30 * 1024, "idle_rss_kib": 10 * 1024},
            }), flush=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


main()
