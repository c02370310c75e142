"""Shared by bench/window_tumble and bench/window_cardinality: run a process and measure it
(wall, user+sys CPU and peak RSS from wait4, so child and measurement agree), load JSON lines
into a fresh Outpost data dir, and run a statement with DuckDB (threads=1) the same way."""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


# Runs argv[2:] as a grandchild and writes its rusage to argv[1]. Why not wait4() on our own
# child: Linux carries a process's peak RSS across exec (and a forked child starts with the
# parent's RSS), so a child of this script would report at least this script's RSS (hundreds of
# MB after generating data). Forking from a fresh, small interpreter keeps that floor at ~10 MB,
# the same for every command measured (baselines included).
_SPAWN = r"""
import json, os, sys, time
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"wall_s": time.monotonic() - t0, "cpu_s": ru.ru_utime + ru.ru_stime,
               "peak_rss_bytes": ru.ru_maxrss * 1024, "rc": os.waitstatus_to_exitcode(status)}, f)
"""


def measured(args, stdout_path=None, env=None, stdin_path=None):
    """Runs args to completion; returns wall_s, cpu_s (user+sys of the process), peak_rss_bytes,
    rc, stdout (bytes; empty when redirected to stdout_path) and stderr. Output goes to files, so
    a chatty child never blocks on a pipe and nothing is buffered in this process."""
    import tempfile
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as tmp_out, \
            tempfile.NamedTemporaryFile("r", suffix=".json") as usage:
        out = open(stdout_path, "wb") if stdout_path else tmp_out
        inp = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            subprocess.run([sys.executable, "-c", _SPAWN, usage.name, *args], stdin=inp, stdout=out, stderr=err,
                           env=env, check=False)
        finally:
            if stdout_path:
                out.close()
            if stdin_path:
                inp.close()
        err.seek(0)
        tmp_out.seek(0)
        with open(usage.name) as f:
            text = f.read()
        m = json.loads(text) if text else {"wall_s": 0, "cpu_s": 0, "peak_rss_bytes": 0, "rc": -1}
        m.update(stdout=tmp_out.read(), stderr=err.read().decode(errors="replace"))
        return m


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return n
            n += b.count(b"\n")


def npm_dir():
    return os.environ.get("OUTPOST_NPM_DIR", os.path.join(SRC, "build", "npm"))


def ensure_duckdb():
    env = dict(os.environ, OUTPOST_NPM_DIR=npm_dir())
    r = subprocess.run([os.path.join(SRC, "tools", "install-duckdb.sh")], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        log("DuckDB is not available, its side is skipped:\n" + r.stderr)
        return False
    return True


def duckdb(sql, threads=1, setup=()):
    """Runs `sql` in a fresh node+DuckDB process; returns measured() plus the query's own
    timings printed by duckdb_run.mjs."""
    args = ["node", os.path.join(HERE, "duckdb_run.mjs"), "--threads", str(threads)]
    for s in setup:
        args += ["--setup", s]
    args += ["--sql", sql]
    m = measured(args, env=dict(os.environ, OUTPOST_NPM_DIR=npm_dir()))
    if m["rc"] == 0:
        m.update(json.loads(m["stdout"].decode().strip().splitlines()[-1]))
    return m


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def outpost_append(outpost, data_dir, jsonl, stream, key_field, time_field):
    with open(jsonl, "rb") as f:
        t0 = time.monotonic()
        r = subprocess.run([outpost, "log", "append", "--data-dir", data_dir, "--stream", stream,
                            "--key-field", key_field, "--time-field", time_field],
                           stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise SystemExit(f"outpost log append failed: {r.stderr.decode()[:500]}")
    return time.monotonic() - t0


def outpost_has_query(outpost):
    r = subprocess.run([outpost, "query", "--help"], capture_output=True)
    return r.returncode == 0 and b"--data-dir" in r.stdout


def emit(obj):
    print(json.dumps(obj), flush=True)
