#!/usr/bin/env python3
"""Deployment figures, as JSON lines on stdout (progress on stderr). Not a test.

1. Stripped size of the outpost binary per architecture: amd64 always (the native build), arm64
   and armhf when build/aarch64 and build/armhf exist (the cross presets). Each is stripped with
   its own architecture's strip into a scratch file; the unstripped size is printed beside it.
2. Start-up of `outpost run` until READY=1 (on a NOTIFY_SOCKET this script owns, as systemd
   would see it) with a data dir holding a 1 GiB log (stored bytes on disk), against the same
   start-up with an empty data dir (the same-run reference): wall seconds, CPU seconds and
   peak RSS of the daemon at the moment it said READY. The log is written once with
   `outpost log append` (sensor readings with a random 96-byte blob each, so that zstd cannot
   shrink the 1 GiB to little) and kept in --work for the next run.

  python3 bench/deploy_size_startup/run.py [--outpost build/default/agent/outpost]
      [--work /var/tmp/outpost-bench-startup] [--log-gib 1] [--runs 3]

Every process it starts (outpost append/run) is waited for or killed by PID."""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "pylib"))
import outpost_testlib as tl  # noqa: E402

ARCHES = [("amd64", None, "strip"),
          ("arm64", "build/aarch64/agent/outpost", "aarch64-linux-gnu-strip"),
          ("armhf", "build/armhf/agent/outpost", "arm-linux-gnueabihf-strip")]


def emit(obj):
    print(json.dumps(obj), flush=True)


def note(msg):
    print(msg, file=sys.stderr, flush=True)


def sizes(native):
    for arch, rel, strip in ARCHES:
        path = native if arch == "amd64" else os.path.join(ROOT, rel)
        if not os.path.isfile(path):
            note(f"size: no {arch} binary at {path}; skipped")
            continue
        if not shutil.which(strip):
            note(f"size: {strip} not installed; {arch} skipped")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "outpost")
            subprocess.run([strip, "-o", out, path], check=True)
            emit({"bench": "binary_size", "arch": arch, "binary": os.path.relpath(path, ROOT),
                  "stripped_bytes": os.path.getsize(out), "unstripped_bytes": os.path.getsize(path)})


def stored_bytes(outpost, data_dir):
    if not os.path.exists(os.path.join(data_dir, "catalog.db")):
        return 0
    r = subprocess.run([outpost, "log", "stat", "--data-dir", data_dir, "--json"], capture_output=True, text=True, check=True)
    return sum(s.get("stored_bytes", 0) for s in json.loads(r.stdout))


def make_log(outpost, data_dir, target_bytes):
    """Appends batches of readings until the log holds target_bytes on disk."""
    batch = 2_000_000
    n = 0
    while True:
        have = stored_bytes(outpost, data_dir)
        if have >= target_bytes:
            return have
        note(f"log: {have / 2**20:.0f} MiB of {target_bytes / 2**20:.0f} MiB stored; appending {batch} readings")
        # Readings with a random blob (base64 of /dev/urandom) made by coreutils and awk, piped
        # straight into `outpost log append`.
        gen = (f"head -c {batch * 72} /dev/urandom | base64 -w 96 | "
               f"awk -v base={n} '{{i=base+NR; printf \"{{\\\"device\\\":\\\"dev-%d\\\",\\\"ts\\\":%d,\\\"temp\\\":%.1f,\\\"blob\\\":\\\"%s\\\"}}\\n\", "
               f"i%3000, 1700000000000+i, 20+(i%100)/10, $0}}'")
        p = subprocess.Popen(["bash", "-o", "pipefail", "-c",
                              gen + f" | '{outpost}' log append --data-dir '{data_dir}' --stream readings "
                              "--key-field device --time-field ts --time-format unix_ms"],
                             stdout=subprocess.DEVNULL)
        if p.wait() != 0:
            raise SystemExit(f"outpost log append failed (exit {p.returncode})")
        n += batch


def write_config(path, data_dir, port):
    with open(path, "w") as f:
        f.write(tl.agent_yaml("bench-startup", data_dir, port) + tl.mqtt_source_yaml("site", port, "sensors/#") +
                tl.READINGS_UNTYPED_STREAM_YAML)


def proc_cpu_rss(pid):
    """CPU seconds of all the process's threads (schedstat: nanoseconds, unlike the 10 ms ticks
    of /proc/PID/stat) and its peak RSS (VmHWM)."""
    cpu_ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                cpu_ns += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return cpu_ns / 1e9, hwm


def startup(outpost, data_dir, tmp):
    """One start of `outpost run` until READY=1; returns (wall s, cpu s, peak RSS bytes)."""
    sock_path = os.path.join(tmp, "notify.sock")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    cfg = os.path.join(tmp, "outpost.yaml")
    # The MQTT broker port is one nobody listens on: start-up must not wait for the broker.
    write_config(cfg, data_dir, tl.free_port())
    env = dict(os.environ, NOTIFY_SOCKET=sock_path)
    t0 = time.monotonic()
    p = subprocess.Popen([outpost, "run", "--config", cfg], env=env, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(tmp, "run.log"), "w"))
    try:
        deadline = t0 + 600
        while True:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                msg = sock.recv(4096).decode()
            except socket.timeout:
                raise SystemExit(f"no READY=1 within 600 s; see {tmp}/run.log")
            if "READY=1" in msg.split("\n"):
                wall = time.monotonic() - t0
                cpu, rss = proc_cpu_rss(p.pid)
                return wall, cpu, rss
            if p.poll() is not None:
                raise SystemExit(f"outpost run exited {p.returncode} before READY; see {tmp}/run.log")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outpost", default=os.path.join(ROOT, "build/default/agent/outpost"))
    ap.add_argument("--work", default="/var/tmp/outpost-bench-startup")
    ap.add_argument("--log-gib", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    outpost = os.path.abspath(a.outpost)
    sizes(outpost)

    big = os.path.join(a.work, f"data-{a.log_gib:g}gib")
    os.makedirs(big, exist_ok=True)
    have = make_log(outpost, big, int(a.log_gib * 2**30))
    with tempfile.TemporaryDirectory(prefix="outpost-bench-") as tmp:
        for label, data_dir in (("empty_data_dir", os.path.join(tmp, "empty")), (f"{a.log_gib:g}GiB_log", big)):
            for run in range(a.runs):
                wall, cpu, rss = startup(outpost, data_dir, tmp)
                emit({"bench": "startup_to_ready", "case": label, "run": run + 1,
                      "log_stored_bytes": stored_bytes(outpost, data_dir), "wall_s": round(wall, 3),
                      "cpu_s": round(cpu, 3), "peak_rss_bytes": rss})
    note(f"log kept in {big} ({have} bytes stored); remove it when done")


if __name__ == "__main__":
    main()
