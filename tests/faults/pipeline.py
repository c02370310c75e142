"""The whole Outpost pipeline as processes a fault test can break: a real mosquitto, `outpost run`
(MQTT QoS 1 ingest, a tumble window query, sync mirrors), `outpost dev-central` (the librdkafka
mock cluster) read back by kcat, and a QoS 1 publisher that knows which of its messages the
broker acknowledged.

The publisher speaks MQTT 3.1.1 over a plain socket (paho-mqtt is not a test dependency and
mosquitto_pub does not say which messages got a PUBACK). It is deliberately independent of
Outpost's own MQTT code.
"""
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import (READINGS_STREAM_YAML, Broker, agent_yaml, central_yaml, check, check_rows_equal,  # noqa: E402
                             free_port, http_get, mqtt_source_yaml, queries_yaml, start, wait_until)

OUTPOST = os.environ["OUTPOST_BIN"]
VERIFY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sync", "verify.py")
LONG = os.environ.get("OUTPOST_LONG", "") not in ("", "0")

DEVICES = 8
BASE_MS = 1_700_000_000_000
STEP_MS = 5  # event-time spacing of consecutive readings (all devices together)

# The window query under test: 2 s tumbling windows per device. No idle_timeout: with one, the
# rows would depend on wall-clock gaps in the input, and a crashed run could not be compared.
QUERY = "per_2s"
QUERY_SQL = ("SELECT window_start, window_end, device, count() AS n, sum(temp) AS s, min(temp) AS lo, "
             "max(temp) AS hi, p99(temp) AS p99 FROM tumble(readings, ts, 2s) "
             "GROUP BY window_start, window_end, device EMIT AFTER WATERMARK AND DELAY 1s")
RAW_TOPIC = "faults.readings"
RESULT_TOPIC = "faults.per_2s"
MESSAGE_TIMEOUT_MS = 5000


def reading(i):
    """Reading number i (0-based), the same for every run: up to 200 ms out of order, and every
    499th one 30 s late (late for every window it belongs to: the query's late stream)."""
    rnd = random.Random(i * 7919 + 17)
    ts = BASE_MS + i * STEP_MS - rnd.randint(0, 200)
    if i % 499 == 498:
        ts -= 30_000
    return f"d{i % DEVICES}", json.dumps(
        {"device": f"d{i % DEVICES}", "temp": round(rnd.uniform(-10, 40), 2), "ts": ts, "n": i},
        separators=(",", ":")).encode()


# ---- MQTT 3.1.1 QoS 1 publisher ------------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


PUBLISHERS = []  # every publisher started, so a failed scenario can still stop them


class Publisher(threading.Thread):
    """Publishes reading(0), reading(1), ... with QoS 1 at `rate` per second until stop().
    `acked` holds the numbers the broker answered with a PUBACK. On a lost connection it
    reconnects (clean session) and publishes every unacknowledged message again (so the broker
    may get one twice: QoS 1 is at least once)."""

    def __init__(self, port, rate, max_inflight=200):
        super().__init__(daemon=True)
        self.port, self.rate, self.max_inflight = port, rate, max_inflight
        self.lock = threading.Lock()
        self.acked = set()
        self.next_i = 0
        self.pending = {}  # packet id -> reading number, sent on the current connection
        self.unsent = []   # reading numbers to send again after a reconnect
        self.connects = 0
        self.errors = []
        self._stop_new = threading.Event()
        self._quit = threading.Event()
        self._pid = 0
        PUBLISHERS.append(self)

    def published(self):
        with self.lock:
            return self.next_i

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def acked_set(self):
        with self.lock:
            return set(self.acked)

    def stop_publishing(self):
        self._stop_new.set()

    def all_acked(self):
        with self.lock:
            return self._stop_new.is_set() and len(self.acked) == self.next_i

    def quit(self):
        self._quit.set()
        self.join(timeout=10)

    def _connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        try:
            return self._handshake(s)
        except OSError:
            s.close()
            raise

    def _handshake(self, s):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        var = _str("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0)  # clean session, no keepalive
        body = var + _str("faults-publisher")
        s.sendall(bytes([0x10]) + _varint(len(body)) + body)
        buf = b""
        while len(buf) < 4:
            chunk = s.recv(4 - len(buf))
            if not chunk:
                raise OSError("connection closed before CONNACK")
            buf += chunk
        if buf[0] != 0x20 or buf[3] != 0:
            raise OSError(f"CONNACK refused: {buf!r}")
        s.setblocking(False)
        return s

    def _next_pid(self):
        while True:
            self._pid = self._pid % 65535 + 1
            if self._pid not in self.pending:
                return self._pid

    def _publish(self, s, i, dup):
        # Registered before sending: a send that fails midway leaves i in pending, so the
        # error path below moves it to `unsent` and it goes again after the reconnect.
        device, payload = reading(i)
        pid = self._next_pid()
        self.pending[pid] = i
        body = _str(f"sensors/{device}") + struct.pack("!H", pid) + payload
        s.setblocking(True)
        try:
            s.sendall(bytes([0x32 | (0x08 if dup else 0)]) + _varint(len(body)) + body)
        finally:
            s.setblocking(False)

    def run(self):
        # Invariant: every published number is in exactly one of acked, pending (sent on this
        # connection, no PUBACK yet) and unsent (to send again on the next connection).
        s = None
        buf = b""
        t0 = time.monotonic()
        while not self._quit.is_set():
            if s is None:
                try:
                    s = self._connect()
                except OSError:
                    s = None
                    self._quit.wait(0.05)  # reconnect pacing
                    continue
                buf = b""
                self.connects += 1
            try:
                while self.unsent:
                    self._publish(s, self.unsent[0], True)
                    self.unsent.pop(0)
                now = time.monotonic()
                while (not self._stop_new.is_set() and len(self.pending) < self.max_inflight
                       and self.next_i < (now - t0) * self.rate):
                    with self.lock:
                        i = self.next_i
                        self.next_i += 1
                    self._publish(s, i, False)
                r, _, _ = select.select([s], [], [], 0.01)
                if r:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise OSError("broker closed the connection")
                    buf += chunk
                    while len(buf) >= 4 and buf[0] == 0x40:
                        pid = struct.unpack("!H", buf[2:4])[0]
                        buf = buf[4:]
                        with self.lock:
                            i = self.pending.pop(pid, None)
                            if i is not None:
                                self.acked.add(i)
                    if buf and buf[0] != 0x40:
                        raise OSError(f"unexpected packet 0x{buf[0]:02x} from the broker")
            except OSError:
                s.close()
                s = None
                with self.lock:
                    self.unsent = sorted(set(self.unsent) | set(self.pending.values()))
                    self.pending = {}
        if s is not None:
            s.close()


# ---- processes -----------------------------------------------------------------------------

def make_broker(tmp):
    """mosquitto with persistence, so a restart keeps Outpost's persistent session and the QoS 1
    messages queued for it; restarted on the same port. The queue for the persistent session is
    unbounded: the default 1000 would make the broker drop acknowledged messages while Outpost is
    down for a while."""
    return Broker(tmp, max_queued=0, log=os.path.join(tmp, "mosquitto.log"))


class Central:
    def __init__(self, tmp):
        self.tmp = tmp
        self.fifo = os.path.join(tmp, "central.ctl")
        self.out = os.path.join(tmp, "central.out")
        boot = os.path.join(tmp, "bootstrap")
        os.mkfifo(self.fifo)
        self.proc = start([OUTPOST, "dev-central", "--no-stdin", "--bootstrap-file", boot,
                           "--control-fifo", self.fifo],
                          stdout=open(self.out, "w"), stderr=open(os.path.join(tmp, "central.err"), "w"))
        self.bootstrap = wait_until("dev-central's bootstrap file", 20, lambda: open(boot).read().strip())

    def ctl(self, cmd):
        with open(self.out) as f:
            before = len(f.read().splitlines())
        with open(self.fifo, "w") as f:
            f.write(cmd + "\n")

        def answered():
            with open(self.out) as f:
                lines = f.read().splitlines()
            return len(lines) > before and lines[-1]
        ans = wait_until(f"dev-central to answer '{cmd}'", 10, answered, 0.05)
        check(bool(ans) and ans.startswith("ok"), f"dev-central: {cmd} -> {ans}")

    def read(self, topic, path):
        """The whole topic, read committed, as 'key<TAB>headers<TAB>partition<TAB>value' lines
        (the format tests/sync/verify.py reads)."""
        with open(path, "w") as f:
            r = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-e", "-q",
                                "-X", "isolation.level=read_committed", "-f", "%k\t%h\t%p\t%s\n"],
                               stdout=f, stderr=subprocess.PIPE, timeout=120)
        check(r.returncode == 0, f"kcat read {topic} ({r.stderr.decode().strip()[:200]})")


def write_config(path, data, http_port, broker=None, central=None):
    """The pipeline's config. Without broker/central: just the stream and the query (the
    uninterrupted reference run over a copy of the raw stream)."""
    text = agent_yaml("faults-gw", data, http_port, "50ms")
    if broker:
        text += mqtt_source_yaml("site", broker.port, "sensors/#", "outpost-faults", reconnect=("100ms", "1s"))
    text += READINGS_STREAM_YAML + queries_yaml({"name": QUERY, "sql": QUERY_SQL, "checkpoint_interval": "100ms"})
    if central:
        text += central_yaml(central.bootstrap, [("raw", "readings", RAW_TOPIC, "at_least_once"),
                                                 ("windows", QUERY, RESULT_TOPIC, "exactly_once")],
                             properties={"message.timeout.ms": MESSAGE_TIMEOUT_MS})
        text += "health:\n  sync_offline: 2s\n"
    with open(path, "w") as f:
        f.write(text)


class Daemon:
    def __init__(self, config, port):
        self.config, self.port, self.proc = config, port, None
        self.starts = 0

    def start(self):
        self.starts += 1
        self.proc = start([OUTPOST, "run", "--config", self.config], stdout=subprocess.DEVNULL,
                          stderr=open(self.config + ".log", "a"))
        return wait_until("the daemon's HTTP status", 30, lambda: self.status() is not None, 0.02)

    def status(self):
        code, body = http_get(self.port, "/v1/status", timeout=5)
        return json.loads(body) if code in (200, 503) else None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rc = "hung"
        check(rc == 0, f"SIGTERM: clean exit (rc {rc})")


def stream_last(status, name):
    return next((s["last_seq"] for s in status["streams"] if s["name"] == name), 0)


def settled(status):
    """Everything stored is consumed by the query and confirmed by central."""
    raw = stream_last(status, "readings")
    q = status["queries"][0]
    if q["input_seq"] < raw or q["lag_records"] != 0:
        return False
    return all(m["cursor"] >= stream_last(status, m["stream"]) and m["state"] == "online"
               for m in status.get("mirrors", []))


def log_rows(data, stream):
    """(seq, event_time, key, payload) of every record, payload as canonical JSON text."""
    r = subprocess.run([OUTPOST, "log", "cat", "--data-dir", data, "--stream", stream, "--ms"],
                       capture_output=True, timeout=300)
    rows = []
    for line in r.stdout.decode().splitlines():
        j = json.loads(line)
        rows.append((j["seq"], j.get("event_time"), j.get("key"), json.dumps(j["payload"], sort_keys=True)))
    return rows


def reference_rows(tmp, raw_rows):
    """The query's rows from one uninterrupted `outpost run` over the same raw stream (the
    crashed run's records, same order, appended with `outpost log append`)."""
    data = os.path.join(tmp, "reference")
    lines = "".join(json.dumps(json.loads(p), separators=(",", ":")) + "\n" for _, _, _, p in raw_rows)
    r = subprocess.run([OUTPOST, "log", "append", "--data-dir", data, "--stream", "readings",
                        "--key-field", "device", "--time-field", "ts", "--time-format", "unix_ms"],
                       input=lines.encode(), capture_output=True, timeout=300)
    check(r.returncode == 0, f"reference: {len(raw_rows)} raw records appended ({r.stderr.decode().strip()[:200]})")
    check(log_rows(data, "readings") == raw_rows,
          "reference: the copied raw stream is the crashed run's, record for record (seq, event time, key, payload)")
    port = free_port()
    config = os.path.join(tmp, "reference.yaml")
    write_config(config, data, port)
    d = Daemon(config, port)
    d.start()
    wait_until("the reference run to consume the raw stream", 300,
               lambda: (lambda s: s and s["queries"][0]["input_seq"] >= len(raw_rows)
                        and s["queries"][0]["lag_records"] == 0)(d.status()), 0.1)
    d.stop()
    return log_rows(data, QUERY), log_rows(data, QUERY + ".late")


def read_central(central, tmp, topic):
    path = os.path.join(tmp, topic + ".txt")
    central.read(topic, path)
    recs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, hdrs, part, value = line.rstrip("\n").split("\t", 3)
            h = dict(kv.split("=", 1) for kv in hdrs.split(",") if "=" in kv)
            recs.append((int(h.get("outpost-seq", 0)), value))
    return path, recs


def verify_central(central, tmp, topic, mode, local_rows):
    """tests/sync/verify.py on what kcat read (coverage 1..N, duplicates, order per key, and for
    exactly_once the mock's aborted-transaction records dropped first), then every central value
    compared with the local record of the same sequence."""
    path, recs = read_central(central, tmp, topic)
    n = len(local_rows)
    r = subprocess.run(["/usr/bin/python3", VERIFY, mode, path, str(n)], capture_output=True, timeout=300)
    out = r.stdout.decode().strip().replace("\n", "; ")
    check(r.returncode == 0 and local_rows and local_rows[-1][0] == n,
          f"central {topic} ({mode}): {out[:600]}")
    local = {seq: p for seq, _, _, p in local_rows}
    wrong = [seq for seq, v in recs if json.dumps(json.loads(v), sort_keys=True) != local.get(seq)]
    check(not wrong, f"central {topic}: every value equals the local record of its seq "
                     f"({len(recs)} read, {len(wrong)} differ, first {wrong[:5]})")


def final_checks(tmp, daemon, pub, central):
    """What every scenario ends with. The publisher has stopped and every message it published
    has a PUBACK; the daemon is still running."""
    acked = pub.acked_set()
    data = os.path.join(tmp, "data")

    def ingested():
        # The raw stream holds every acknowledged reading, the query and central caught up.
        s = daemon.status()
        if not s or not settled(s):
            return False
        ns = {json.loads(p)["n"] for _, _, _, p in log_rows(data, "readings")}
        return acked <= ns and settled(daemon.status())
    wait_until("the log to hold every acknowledged reading, the query and central to catch up",
               180 if LONG else 90, ingested, 0.5)
    s = daemon.status()
    print("  final status: " + json.dumps({"streams": {x["name"]: x["last_seq"] for x in s["streams"]},
                                           "query": {k: s["queries"][0][k] for k in ("input_seq", "output_seq", "late_events")},
                                           "mirrors": {m["name"]: {k: m[k] for k in ("cursor", "state", "redrives", "errors")}
                                                       for m in s["mirrors"]},
                                           "source": {k: s["sources"][0][k] for k in ("received", "duplicates", "reconnects")}}),
          flush=True)
    daemon.stop()

    raw = log_rows(data, "readings")
    ns = [json.loads(p)["n"] for _, _, _, p in raw]
    missing = sorted(acked - set(ns))
    check(not missing, f"every reading the broker acknowledged ({len(acked)}) is in the local log "
                       f"({len(raw)} records, {len(raw) - len(set(ns))} QoS 1 redeliveries); missing {missing[:10]}")
    check(all(p == json.dumps(json.loads(reading(n)[1]), sort_keys=True) for n, (_, _, _, p) in zip(ns, raw)),
          "every stored reading is byte-for-byte what was published")
    v = subprocess.run([OUTPOST, "log", "verify", "--data-dir", data], capture_output=True, timeout=300)
    check(v.returncode == 0, f"outpost log verify: clean ({v.stdout.decode().strip()[-200:]}{v.stderr.decode().strip()[-200:]})")

    windows = log_rows(data, QUERY)
    late = log_rows(data, QUERY + ".late")
    ref_windows, ref_late = reference_rows(tmp, raw)
    for name, got, want in ((QUERY, windows, ref_windows), (QUERY + ".late", late, ref_late)):
        check_rows_equal(name, got, want,
                         f"{name} equals an uninterrupted run over the same raw stream, row for row ({len(got)} rows)")
    check(len(windows) > 10, f"the window query produced rows ({len(windows)})")

    verify_central(central, tmp, RAW_TOPIC, "at_least_once", raw)
    verify_central(central, tmp, RESULT_TOPIC, "exactly_once", windows)
