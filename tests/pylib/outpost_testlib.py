"""Shared by the Python integration tests (and bench scripts): named checks that are all
reported, waits on conditions with a deadline (never fixed sleeps), free loopback ports, and
processes that are always cleaned up by PID."""
import fcntl
import os
import socket
import struct
import subprocess
import sys
import termios
import time
import tty
import urllib.error
import urllib.request

failures = []
procs = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check_rows_equal(name, got, want, what):
    """check(got == want, what) for two lists of rows; on a mismatch it first prints the row
    counts and the first row where they differ."""
    same = got == want
    if not same:
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        print(f"  {name}: {len(got)} rows vs {len(want)}; first difference at row {first}: "
              f"{got[first] if first < len(got) else None} vs {want[first] if first < len(want) else None}")
    check(same, what)


def wait_until(what, secs, fn, interval=0.1):
    """Polls fn until it returns something truthy (returned) or the deadline passes (a failed
    check, returns None). Exceptions inside fn count as 'not yet'."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(interval)
    check(False, "timed out waiting for " + what)
    return None


def wait_or_exit(what, secs, fn, interval=0.1):
    """wait_until for a script that cannot go on without fn (a bench's set-up): exits on timeout,
    naming the script by its folder (bench/flash_wear/run.py: flash_wear)."""
    v = wait_until(what, secs, fn, interval)
    if not v:
        script = os.path.basename(os.path.dirname(os.path.abspath(sys.argv[0])))
        raise SystemExit(f"{script}: timed out waiting for {what}")
    return v


def http_get(port, path, timeout=10):
    """GET http://127.0.0.1:port/path -> (status, body text), also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# The stream most tests declare: JSON readings with a device key and a unix-ms event time.
READINGS_STREAM_YAML = """streams:
  - name: readings
    format: json
    fields:
      - {name: device, type: string, required: true}
      - {name: temp, type: double, required: true}
      - {name: ts, type: timestamp, required: true}
    key_field: device
    time: {field: ts, format: unix_ms}
"""

# The same stream without declared fields: any JSON object with a device and a unix-ms ts.
READINGS_UNTYPED_STREAM_YAML = """streams:
  - name: readings
    format: json
    key_field: device
    time: {field: ts, format: unix_ms}
"""


# Pieces of an outpost.yaml that tests and benches put together (concatenated in any order; the
# parts a test owns alone, such as health:, stay in the test).

def agent_yaml(agent_id, data_dir, http_port, flush_interval=None, **storage):
    """agent: (id, data dir, HTTP listener on loopback) and, when a flush interval or other
    storage keys (segment_size="1MiB", quota=..., ...) are given, storage:."""
    text = f"""agent:
  id: {agent_id}
  data_dir: {data_dir}
  http:
    listen: 127.0.0.1:{http_port}
"""
    if flush_interval or storage:
        text += "storage:\n"
        if flush_interval:
            text += f"  flush:\n    interval: {flush_interval}\n"
        text += "".join(f"  {k}: {v}\n" for k, v in storage.items())
    return text


def mqtt_source_yaml(name, port, topic, client_id=None, qos=1, stream="readings", reconnect=None, **extra):
    """sources: with one MQTT source on the loopback broker at port, subscribed to one topic
    filter; reconnect is (min, max) backoff; extra keys (max_inflight=1000, ...) as given."""
    text = f"""sources:
  - name: {name}
    type: mqtt
    broker: tcp://127.0.0.1:{port}
"""
    if client_id:
        text += f"    client_id: {client_id}\n"
    if reconnect:
        text += f"    reconnect: {{min: {reconnect[0]}, max: {reconnect[1]}}}\n"
    text += "".join(f"    {k}: {v}\n" for k, v in extra.items())
    return text + f"""    subscriptions:
      - {{topic: "{topic}", qos: {qos}, stream: {stream}}}
"""


def queries_yaml(*queries):
    """queries: with each query given as a dict of its keys (name, sql, ...); start: earliest
    unless the dict says otherwise."""
    text = "queries:\n"
    for q in queries:
        q = dict(q)
        name, sql = q.pop("name"), q.pop("sql")
        q = {"start": "earliest", **q}
        text += f'  - name: {name}\n    sql: "{sql}"\n' + "".join(f"    {k}: {v}\n" for k, v in q.items())
    return text


def central_yaml(brokers, mirrors, properties=None, **extra):
    """central: with mirrors given as (name, stream, topic) or (name, stream, topic, delivery)
    tuples, librdkafka properties (a dict) and other keys (gap_topic=...) as given."""
    text = f"central:\n  brokers: {brokers}\n"
    text += "".join(f"  {k}: {v}\n" for k, v in extra.items())
    if properties:
        text += "  properties:\n" + "".join(f'    {k}: "{v}"\n' for k, v in properties.items())
    text += "  mirrors:\n"
    for m in mirrors:
        text += f"    - {{name: {m[0]}, stream: {m[1]}, topic: {m[2]}" + (f", delivery: {m[3]}" if len(m) > 3 else "") + "}\n"
    return text


def start(args, **kw):
    p = subprocess.Popen(args, **kw)
    procs.append(p)
    return p


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def listening(port):
    """True once something accepts TCP connections on 127.0.0.1:port (raises until then)."""
    socket.create_connection(("127.0.0.1", port), 1).close()
    return True


class Broker:
    """mosquitto on a free loopback port, started with start() (which returns whether it listens
    in time) and stopped by PID; start() again brings it back on the same port.

    persistence: keep sessions and queued QoS 1 messages in tmp/mq/ (written on SIGTERM), so a
    restart keeps Outpost's persistent session. max_queued: messages the broker queues per
    session (0: unbounded, mosquitto's default is 1000). log: a file for mosquitto's stderr."""

    def __init__(self, tmp, max_queued=1000, max_inflight=100, persistence=True, log=None):
        """max_inflight None: mosquitto's default (20)."""
        self.port = free_port()
        self.conf = os.path.join(tmp, "mosquitto.conf")
        self.log = log
        self.proc = None
        self.restarts = 0  # start() calls after the first
        conf = f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        if persistence:
            os.makedirs(os.path.join(tmp, "mq"), exist_ok=True)
            conf += f"persistence true\npersistence_location {tmp}/mq/\n"
        conf += f"max_queued_messages {max_queued}\n"
        if max_inflight is not None:
            conf += f"max_inflight_messages {max_inflight}\n"
        # As root, mosquitto drops to its own user, which cannot write the test's dir.
        if os.geteuid() == 0:
            conf += "user root\n"
        with open(self.conf, "w") as f:
            f.write(conf)

    def start(self, interval=0.02):
        if self.proc is not None:
            self.restarts += 1
        self.proc = start(["mosquitto", "-c", self.conf], stdout=subprocess.DEVNULL,
                          stderr=open(self.log, "a") if self.log else subprocess.DEVNULL)
        return wait_until("mosquitto to listen", 20, lambda: listening(self.port), interval)

    def stop(self):
        """SIGTERM (a service restart): mosquitto writes its persistence file on the way out."""
        self.proc.terminate()
        self.proc.wait(timeout=30)


class PtyDevice:
    """A serial device played by a pty: its slave is reachable under a fixed symlink (like
    /dev/serial/by-id/...) while it is plugged in. plug() makes a fresh pty (raw: no echo, no
    line editing) and points the link at it; unplug() removes the link and closes the pty, which
    the daemon sees as a hang-up. write() goes to the master, as the device's output."""

    def __init__(self, link):
        self.link = link
        self.master = self.slave = None

    def plug(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no line editing: bytes pass as written
        fl = fcntl.fcntl(self.master, fcntl.F_GETFL)
        fcntl.fcntl(self.master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        tmp_link = self.link + ".new"
        if os.path.lexists(tmp_link):
            os.unlink(tmp_link)
        os.symlink(os.ttyname(self.slave), tmp_link)
        os.replace(tmp_link, self.link)

    def unplug(self):
        os.unlink(self.link)
        os.close(self.master)
        os.close(self.slave)
        self.master = self.slave = None

    def unread(self):
        """Bytes written that the daemon has not read yet."""
        buf = fcntl.ioctl(self.slave, termios.FIONREAD, struct.pack("i", 0))
        return struct.unpack("i", buf)[0]

    def write(self, data, deadline_s=30):
        end = time.monotonic() + deadline_s
        while data:
            try:
                n = os.write(self.master, data)
                data = data[n:]
            except BlockingIOError:
                if time.monotonic() > end:
                    raise TimeoutError("the daemon stopped reading the pty")
                time.sleep(0.002)


def finish():
    """Prints the summary line and returns the exit code."""
    print(f"{'FAILED' if failures else 'ok'}: {len(failures)} failure(s)")
    return 1 if failures else 0


def run_in_tmpdir(prefix, body):
    """Runs body(tmp) with a fresh temporary directory, then always stops every process started
    with start() and removes the directory; returns finish()'s exit code."""
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        body(tmp)
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()
