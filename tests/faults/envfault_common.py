"""Shared by the environment fault tests (disk full, clock jumps, serial unplug): the stand-in
central cluster (outpost dev-central) read back with kcat, and `outpost log` views (mosquitto
is outpost_testlib.Broker). Every process goes through outpost_testlib.start, so stop_all() ends it by PID."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import http_get, start, wait_until  # noqa: E402

OUTPOST = os.environ["OUTPOST_BIN"]
LONG = os.environ.get("OUTPOST_LONG") == "1"


class Central:
    """outpost dev-central; commands ("down all", "up all") go to its stdin."""

    def __init__(self, tmp):
        self.proc = start([OUTPOST, "dev-central", "--bootstrap-file", f"{tmp}/boot"],
                          stdin=subprocess.PIPE, stdout=open(f"{tmp}/central.out", "w"), stderr=subprocess.STDOUT)
        self.bootstrap = wait_until("dev-central", 20, lambda: open(f"{tmp}/boot").read().strip())

    def command(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def messages(self, topic, fmt="%h\t%s\n"):
        """Every message of the topic as (headers, value) text pairs."""
        r = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-e", "-q", "-f", fmt],
                           capture_output=True, timeout=120)
        out = []
        for line in r.stdout.decode(errors="replace").splitlines():
            h, _, v = line.partition("\t")
            out.append((h, v))
        return out

    def seqs(self, topic):
        """outpost-seq header values, with how many times each arrived."""
        counts = {}
        for h, _ in self.messages(topic, "%h\t\n"):
            for part in h.split(","):
                if part.startswith("outpost-seq="):
                    s = int(part.split("=", 1)[1])
                    counts[s] = counts.get(s, 0) + 1
        return counts


def log_stat(data):
    r = subprocess.run([OUTPOST, "log", "stat", "--data-dir", data, "--json"], capture_output=True, timeout=120)
    return {s["stream"]: s for s in json.loads(r.stdout or b"[]")}


def log_records(data, stream):
    """Records of a stream as dicts (seq, ingest_time, event_time, key, payload)."""
    r = subprocess.run([OUTPOST, "log", "cat", "--data-dir", data, "--stream", stream], capture_output=True, timeout=300)
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def log_verify(data):
    r = subprocess.run([OUTPOST, "log", "verify", "--data-dir", data], capture_output=True, timeout=300)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def health(port):
    """(/healthz status code, parsed body) or (None, None) when it does not answer."""
    try:
        code, body = http_get(port, "/healthz", timeout=5)
        return code, json.loads(body)
    except Exception:
        return None, None


def status(port):
    code, body = http_get(port, "/v1/status", timeout=5)
    return json.loads(body) if code == 200 else None


def metric(port, name_and_labels):
    """The value of one /metrics sample (exact name{labels}), or None."""
    code, body = http_get(port, "/metrics", timeout=5)
    for line in body.splitlines():
        if line.startswith(name_and_labels + " "):
            return float(line.split()[-1])
    return None


class Publisher:
    """A long-lived mosquitto_pub -l at QoS 1: one line = one message."""

    def __init__(self, broker, topic, qos=1):
        self.proc = start(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", str(qos), "-t", topic,
                           "-l"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def send(self, lines):
        self.proc.stdin.write(("\n".join(lines) + "\n").encode())
        self.proc.stdin.flush()

    def close(self, timeout=120):
        self.proc.stdin.close()
        return self.proc.wait(timeout=timeout)
