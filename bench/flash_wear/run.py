#!/usr/bin/env python3
"""bench/flash_wear (issue 7): what an SD card pays for ingest. `outpost run` ingests N
~100-byte JSON readings over MQTT (QoS 1, default storage settings: fsync always) from a local
mosquitto; the daemon runs under `strace -f --seccomp-bpf -ttt -y -e trace=fsync,fdatasync,...`,
which stops the daemon only on those calls, to log them with time and file. Prints one JSON line:

  write_bytes          /proc/PID/io write_bytes of the daemon from just before the first
                       message until all N are durable (bytes it caused to be written to the
                       block device: segments, index, intake journals, SQLite catalog), and
  net_write_bytes      that minus cancelled_write_bytes (dirty pages of files deleted or
                       truncated before writeback never reach the device). Page granular: a
                       4 KiB page re-dirtied after each fdatasync counts 4 KiB each time.
  payload_bytes        bytes of the messages ingested (MQTT payloads)
  stored_bytes         compressed bytes the log holds for them (/v1/streams stored_bytes)
  written_per_ingested_byte, written_per_stored_byte (net; target <= 1.2)
  fsyncs, fsyncs_per_s (fsync + fdatasync + sync_file_range + msync calls / ingest seconds),
                       counted in the same window as write_bytes; sync_calls_by_file splits them
                       by file (segment, catalog WAL, catalog db, journal, directory) and
                       sync_calls_whole_run also counts start-up (catalog creation, streams,
                       segments) and shut-down, which are not in the window

The rate of this run is not a throughput figure (strace is attached): see bench/mqtt_ingest.

  python3 bench/flash_wear/run.py --outpost build/default/agent/outpost [--messages 200000]
      [--rate 0]  (messages/s the publisher is paced to; 0 = as fast as it can)
      [--flush-interval 5s]  (storage.flush.interval; default the daemon's 200ms)
      [--ack durable]  (the source's ack mode; default the daemon's `written`)
Every process it starts is killed by PID at the end. Not a test: never in ctest.
"""
import argparse
import json
import os
import random
import shutil
import signal
import sys
import subprocess
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "pylib"))
import outpost_testlib as tl  # noqa: E402

SYNC_CALLS = "fsync,fdatasync,sync_file_range,msync,syncfs"


def io_write_bytes(pid):
    """(write_bytes, cancelled_write_bytes): bytes the process caused to be written to storage,
    and of those, bytes of dirty pages dropped before writeback (a file truncated or deleted
    first, such as an intake journal removed after its commit)."""
    got = {}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, _, v = line.partition(":")
            got[k] = int(v)
    return got.get("write_bytes", 0), got.get("cancelled_write_bytes", 0)


def stream(http_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1/streams", timeout=5) as r:
        for s in json.load(r):
            if s["name"] == "readings":
                return s
    return None


def file_kind(path):
    if path.endswith(".seg"):
        return "segment"
    if path.endswith(".jnl"):
        return "journal"
    if path.endswith("catalog.db-wal"):
        return "catalog_wal"
    if path.endswith("catalog.db") or path.endswith("catalog.db-journal"):
        return "catalog_db"
    return "directory" if os.path.isdir(path) or "." not in os.path.basename(path) else "other"


def parse_strace(path, t0, t1):
    """From `strace -f -ttt -y` lines ("PID SECONDS fdatasync(13</path/x.seg>) = 0", or the
    same with "<unfinished ...>"; "<... resumed>" lines are not new calls): calls per syscall in
    [t0, t1] (wall seconds), per file kind in that window, and per syscall over the whole run."""
    window, by_file, whole = {}, {}, {}
    names = SYNC_CALLS.split(",")
    with open(path) as f:
        for line in f:
            parts = line.split(None, 2)
            if len(parts) < 3:
                continue
            call = parts[2]
            name = call.split("(", 1)[0]
            if name not in names:
                continue
            whole[name] = whole.get(name, 0) + 1
            try:
                ts = float(parts[1])
            except ValueError:
                continue
            if t0 <= ts <= t1:
                window[name] = window.get(name, 0) + 1
                fpath = call.split("<", 1)[1].split(">", 1)[0] if "<" in call else ""
                k = file_kind(fpath)
                by_file[k] = by_file.get(k, 0) + 1
    return window, by_file, whole


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outpost", default="build/default/agent/outpost")
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=0,
                    help="messages/s to pace the publisher to (a sensor trickle); 0 = as fast as it can")
    ap.add_argument("--flush-interval", default=None, help="storage.flush.interval for the daemon (default: its own)")
    ap.add_argument("--ack", choices=["written", "durable"], default=None,
                    help="the MQTT source's ack mode (default: the daemon's, written)")
    a = ap.parse_args()
    outpost = os.path.abspath(a.outpost)
    n = a.messages
    tmp = tempfile.mkdtemp(prefix="outpost-bench-wear-", dir="/var/tmp")  # a real disk, not tmpfs
    pid = None
    try:
        rng = random.Random(3)
        feed = os.path.join(tmp, "feed.txt")
        payload_bytes = 0
        with open(feed, "w") as f:
            ts = 1_700_000_000_000
            for _ in range(n):
                ts += rng.randint(1, 20)
                d = rng.randrange(3000)
                line = json.dumps({"device": f"dev-{d:05d}", "site": "north", "ts": ts,
                                   "temp": round(rng.gauss(21, 4), 2), "hum": round(rng.uniform(20, 80), 1)},
                                  separators=(",", ":"))
                payload_bytes += len(line)
                f.write(line + "\n")
        broker = tl.Broker(tmp, max_queued=0, max_inflight=1000, persistence=False)
        if not broker.start():
            raise SystemExit("flash_wear: mosquitto did not start")
        port, http_port = broker.port, tl.free_port()
        data = os.path.join(tmp, "data")
        config = os.path.join(tmp, "outpost.yaml")
        with open(config, "w") as f:
            extra = {"ack": a.ack} if a.ack else {}
            f.write(tl.agent_yaml("wear", data, http_port, a.flush_interval) +
                    tl.mqtt_source_yaml("broker", port, "bench/#", "outpost-wear", max_inflight=1000, **extra) +
                    tl.READINGS_UNTYPED_STREAM_YAML)
        counts = os.path.join(tmp, "strace.txt")
        tracer = tl.start(["strace", "-f", "--seccomp-bpf", "-qq", "-ttt", "-y", "-e", f"trace={SYNC_CALLS}",
                           "-o", counts, "--", outpost, "run", "--config", config],
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "run.log"), "w"))

        def daemon_pid():
            # strace forks short-lived children of its own (a seccomp probe): pick the one
            # running the outpost binary.
            with open(f"/proc/{tracer.pid}/task/{tracer.pid}/children") as f:
                for kid in f.read().split():
                    if os.path.realpath(f"/proc/{kid}/exe") == os.path.realpath(outpost):
                        return int(kid)
            return None

        tl.wait_or_exit("outpost", 60, lambda: json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{http_port}/v1/status", timeout=5))["sources"][0]["state"] == "connected", 0.05)
        pid = tl.wait_or_exit("outpost under strace", 30, daemon_pid, 0.05)
        s0 = stream(http_port) or {"stored_bytes": 0, "raw_bytes": 0}
        w0 = io_write_bytes(pid)
        wall0 = time.time()
        t0 = time.monotonic()
        with open(feed, "rb") as f:
            lines = f.readlines()
        pub = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", "bench/readings", "-l"]
        if a.rate > 0:
            # Paced: one publisher fed line by line at the given rate.
            p = tl.start(pub, stdin=subprocess.PIPE)
            for i, line in enumerate(lines):
                delay = t0 + i / a.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                p.stdin.write(line)
                p.stdin.flush()
            p.stdin.close()
            p.wait(timeout=60)
        else:
            # In chunks: one `mosquitto_pub -l` given 200,000 lines at once ends (and drops what
            # it had queued) long before the broker has them all; 10,000 at a time it delivers all.
            for i in range(0, len(lines), 10_000):
                subprocess.run(pub, input=b"".join(lines[i:i + 10_000]), check=True)
        # Until all N are durable, or nothing new arrived for 20 s (the publisher or the broker
        # lost some: reported as `lost`, not a hang).
        last, last_change = -1, time.monotonic()
        while True:
            cur = stream(http_port)["durable_seq"]
            if cur >= n:
                break
            if cur != last:
                last, last_change = cur, time.monotonic()
            elif time.monotonic() - last_change > 20:
                break
            time.sleep(0.05)
        secs = (last_change if cur < n else time.monotonic()) - t0
        w1 = io_write_bytes(pid)
        wall1 = time.time()
        s1 = stream(http_port)
        os.kill(pid, signal.SIGTERM)
        tracer.wait(timeout=120)
        calls, calls_by_file, calls_whole = parse_strace(counts, wall0, wall1)
        fsyncs = sum(calls.values())
        stored = s1["stored_bytes"] - s0["stored_bytes"]
        written = w1[0] - w0[0]
        cancelled = w1[1] - w0[1]
        net = written - cancelled
        print(json.dumps({
            "bench": "flash_wear", "messages": n, "qos": 1, "durable": s1["durable_seq"], "lost": n - s1["durable_seq"], "storage_fsync": "always (default)",
            "publish_rate": a.rate or "burst", "flush_interval": a.flush_interval or "200ms (default)",
            "ack": a.ack or "written (default)",
            "payload_bytes": payload_bytes, "log_raw_bytes": s1["raw_bytes"] - s0["raw_bytes"],
            "stored_bytes": stored, "write_bytes": written, "cancelled_write_bytes": cancelled,
            "net_write_bytes": net,
            "written_per_ingested_byte": round(net / payload_bytes, 4),
            "written_per_stored_byte": round(net / stored, 3) if stored else None,
            "gross_written_per_stored_byte": round(written / stored, 3) if stored else None,
            "ingest_s_under_strace": round(secs, 3), "sync_calls": calls, "sync_calls_by_file": calls_by_file,
            "sync_calls_whole_run": calls_whole, "fsyncs": fsyncs,
            "fsyncs_per_s": round(fsyncs / secs, 1), "records_per_fsync": round(n / fsyncs, 1) if fsyncs else None,
            "targets": {"written_per_stored_byte": 1.2},
        }), flush=True)
    except BaseException:
        try:
            with open(os.path.join(tmp, "run.log")) as f:
                print("flash_wear: daemon log (last lines):\n" + "".join(f.readlines()[-15:]), file=sys.stderr)
        except OSError:
            pass
        raise
    finally:
        # Killing strace detaches the daemon rather than ending it: end the daemon by its PID first.
        if pid and os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)
        tl.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


main()
