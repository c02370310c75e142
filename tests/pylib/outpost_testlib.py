"""Shared by the Python integration tests (and bench scripts): named checks that are all
reported, waits on conditions with a deadline (never fixed sleeps), free loopback ports, and
processes that are always cleaned up by PID."""
import socket
import subprocess
import time
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


def start(args, **kw):
    p = subprocess.Popen(args, **kw)
    procs.append(p)
    return p


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


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
