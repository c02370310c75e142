#!/usr/bin/env python3
"""Crash test (issue 14, part 3): a data dir is valid after `kill -9` at any instant of its life,
the very first milliseconds included.

`kill -9` of `outpost log append` and of `outpost run` on a fresh data dir, the kill delays spread
evenly over the first 50 ms of the data dir's life: from the moment the process takes the data
dir's LOCK (the first file it makes) while the catalog, the stream and its first segment are
being created and the first records written. Measuring from LOCK rather than from the process
start keeps the kills on the same work whatever the start-up costs: this binary takes 30-100 ms
to get there on a loaded 2-core machine, more under ASan. After each kill, with no writer left:
  - `outpost log cat --stream S` exits 0 and prints records 1..N, dense, each exactly as sent,
    N at least the last sequence the killed append acknowledged (its final line, or a
    `flushed SEQ` line); or it exits 2 saying the stream (or the data dir) does not exist yet,
    which is allowed only when nothing was acknowledged;
  - `outpost log verify` exits 0 (exit 2 only when the data dir does not exist);
  - `outpost query "SELECT count() FROM table(S)"` exits 0 with the count N, or exits 2 with
    "unknown stream 'S'" when cat said there is none (exit 3 'does not exist' when the data
    dir does not);
  - a new `outpost log append` exits 0 printing N + k, and `log cat` then shows all N + k records.
Half of the runs start with an empty data dir made beforehand (as systemd's StateDirectory=
does), half with none at all. Every process started is killed by its PID; waits have deadlines.

Kill counts: OUTPOST_APPEND_KILLS (default 200) and OUTPOST_RUN_KILLS (default 100): ~70-130 s
on a shared 2-core machine. Under ASan/UBSan (OUTPOST_SANITIZE=ON, the debug preset) each of the
six processes an iteration starts takes ~0.5 s (150 kills took 450 s), so the defaults there are
40 and 20: the same 0-50 ms spread, sampled five times less densely (~3 min).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import check, finish  # noqa: E402

OUTPOST = os.environ["OUTPOST_BIN"]
SANITIZED = os.environ.get("OUTPOST_SANITIZE", "").upper() in ("ON", "1", "TRUE", "YES")
APPEND_KILLS = int(os.environ.get("OUTPOST_APPEND_KILLS", "40" if SANITIZED else "200"))
RUN_KILLS = int(os.environ.get("OUTPOST_RUN_KILLS", "20" if SANITIZED else "100"))
WINDOW_S = 0.050
STEP_TIMEOUT_S = 60  # per reader or appender run; generous for ASan on a loaded 2-core box
STREAM = "feed"
LINES_PER_APPEND = 40

# A daemon with one declared stream and no sources: it opens the log, creates the stream and
# its dead-letter stream, and waits. No broker, no serial device, no HTTP listener.
RUN_YAML = """agent:
  id: first-start
  data_dir: {data}
  http:
    listen: ""
storage:
  flush:
    interval: 20ms
streams:
  - name: readings
    format: json
"""

failed_iterations = []


def payload(n):
    return json.dumps({"n": n, "pad": "p" * (n % 17)})


def run(args, stdin=None, timeout=STEP_TIMEOUT_S):
    return subprocess.run(args, input=stdin, capture_output=True, timeout=timeout)


def killed_after(args, lock_file, delay_s, stdin_data=None, close_stdin=True):
    """Starts args, kill -9s it delay_s after lock_file appeared (if it is still running) and
    returns what it printed on stdout before it died, and a problem if it ended on its own with
    an error (a sanitizer report, a failed open) rather than by the kill or a clean exit."""
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if stdin_data is not None:
            try:
                proc.stdin.write(stdin_data)
                if close_stdin:
                    proc.stdin.close()
                else:
                    proc.stdin.flush()
            except BrokenPipeError:
                pass
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while not os.path.exists(lock_file) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        t0 = time.monotonic()
        left = t0 + delay_s - time.monotonic()
        if left > 0:
            time.sleep(left)  # the kill schedule itself, not a wait for a condition
    finally:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=STEP_TIMEOUT_S)
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    if proc.stdin and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    problem = None
    if proc.returncode not in (0, -signal.SIGKILL):
        problem = f"{' '.join(args[1:3])} ended by itself with exit {proc.returncode}: {err.strip()[-2000:]}"
    return out, problem


def acknowledged(out):
    """The highest sequence `log append --progress` printed as durable: a 'flushed SEQ' line or
    the final line (the last sequence, printed after the final flush)."""
    best = 0
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("flushed "):
            best = max(best, int(line.split()[1]))
        elif line.isdigit():
            best = max(best, int(line))
    return best


def state_at_kill(data, stream):
    """What the kill left, for the tally that shows which moments the kills hit."""
    if not os.path.isdir(data):
        return "no data dir"
    if not os.path.exists(os.path.join(data, "catalog.db")):
        return "catalog being built" if os.path.exists(os.path.join(data, "catalog.db.tmp")) else "no catalog"
    sdir = os.path.join(data, "streams", stream)
    if not os.path.isdir(sdir):
        return "catalog, no stream dir"
    segs = [f for f in os.listdir(sdir) if f.endswith(".seg")]
    if not segs:
        return "stream dir, no segment"
    size = sum(os.path.getsize(os.path.join(sdir, f)) for f in segs)
    if size < 32:
        return "segment torn at creation"
    if any(f.endswith(".jnl") for f in os.listdir(sdir)):
        return "segment + journal"
    return "segment with header only" if size == 32 else "segment with blocks"


def tally_text(tally):
    return ", ".join(f"{k}: {v}" for k, v in sorted(tally.items(), key=lambda kv: -kv[1]))


def cat_records(data, stream):
    """(exit code, records or None, stderr) of `log cat`."""
    r = run([OUTPOST, "log", "cat", "--data-dir", data, "--stream", stream])
    recs = None
    if r.returncode == 0:
        recs = [json.loads(l) for l in r.stdout.decode().splitlines()]
    return r.returncode, recs, r.stderr.decode()


def check_dir(data, stream, acked, sent_payloads):
    """The readers after a kill, then a new append. Returns the problems found (empty = ok)."""
    problems = []
    exists = os.path.isdir(data)
    rc, recs, err = cat_records(data, stream)
    missing = False
    if rc == 0:
        seqs = [x["seq"] for x in recs]
        if seqs != list(range(1, len(seqs) + 1)):
            problems.append(f"cat: sequences not dense 1..N: {seqs[:10]}...")
        for x in recs:
            if x["seq"] <= len(sent_payloads) and json.dumps(x["payload"]) != json.dumps(json.loads(sent_payloads[x["seq"] - 1])):
                problems.append(f"cat: seq {x['seq']} holds {x['payload']!r}, not what was sent")
                break
        if len(recs) < acked:
            problems.append(f"cat: {len(recs)} records but {acked} were acknowledged before the kill")
        if len(recs) > len(sent_payloads):
            problems.append(f"cat: {len(recs)} records but only {len(sent_payloads)} were sent")
    elif rc == 2 and (f"no stream '{stream}'" in err or (not exists and "does not exist" in err)):
        missing = True
        if acked:
            problems.append(f"cat: stream missing although {acked} records were acknowledged: {err.strip()}")
    else:
        problems.append(f"cat: exit {rc}: {err.strip()}")
    n = len(recs) if recs else 0

    v = run([OUTPOST, "log", "verify", "--data-dir", data])
    if not (v.returncode == 0 or (not exists and v.returncode == 2 and b"does not exist" in v.stderr)):
        problems.append(f"verify: exit {v.returncode}: {(v.stdout + v.stderr).decode().strip()}")

    q = run([OUTPOST, "query", "--data-dir", data, f"SELECT count() AS n FROM table({stream})"])
    qerr = q.stderr.decode().strip()
    if q.returncode == 0:
        rows = [json.loads(l) for l in q.stdout.decode().splitlines() if l.strip()]
        got = rows[0]["n"] if rows else None
        if missing or got != n:
            problems.append(f"query: count {got}, cat printed {n} records (cat missing: {missing})")
    elif q.returncode == 2 and f"unknown stream '{stream}'" in qerr:
        if not missing:
            problems.append(f"query: says no stream but cat read it: {qerr}")
    elif q.returncode == 3 and not exists and "does not exist" in qerr:
        pass
    else:
        problems.append(f"query: exit {q.returncode}: {qerr}")

    more = [payload(n + 1 + i) for i in range(5)]
    a = run([OUTPOST, "log", "append", "--data-dir", data, "--stream", stream], stdin=("\n".join(more) + "\n").encode())
    if a.returncode != 0 or a.stdout.decode().strip() != str(n + 5):
        problems.append(f"new append: exit {a.returncode}, printed {a.stdout.decode().strip()!r} "
                        f"(want {n + 5}): {a.stderr.decode().strip()}")
        return problems
    rc, recs2, err = cat_records(data, stream)
    if rc != 0 or [x["seq"] for x in recs2] != list(range(1, n + 6)) or \
            [json.dumps(x["payload"]) for x in recs2[n:]] != [json.dumps(json.loads(p)) for p in more]:
        problems.append(f"cat after the new append: exit {rc}, {len(recs2 or [])} records, want {n + 5}: {err.strip()}")
    return problems


def delays(count):
    return [WINDOW_S * i / max(count - 1, 1) for i in range(count)]


def main(tmp):
    started = time.monotonic()
    acked_runs = 0
    tallies = {"append": {}, "run": {}}
    for i, delay in enumerate(delays(APPEND_KILLS)):
        data = os.path.join(tmp, f"a{i}", "data")
        os.makedirs(os.path.dirname(data))
        if i % 2 == 0:
            os.makedirs(data)
        sent = [payload(n) for n in range(1, LINES_PER_APPEND + 1)]
        # Most runs get their whole input at once and may finish inside the window; every
        # fourth keeps stdin open, so it is killed while waiting for more.
        out, ended = killed_after([OUTPOST, "log", "append", "--data-dir", data, "--stream", STREAM, "--progress"],
                                  os.path.join(data, "LOCK"), delay, ("\n".join(sent) + "\n").encode(),
                                  close_stdin=i % 4 != 3)
        acked = acknowledged(out)
        acked_runs += acked > 0
        state = state_at_kill(data, STREAM)
        tallies["append"][state] = tallies["append"].get(state, 0) + 1
        problems = ([ended] if ended else []) + check_dir(data, STREAM, acked, sent)
        if problems:
            failed_iterations.append((f"append kill at {delay * 1000:.2f} ms (dir {'made' if i % 2 == 0 else 'absent'})", problems))
        shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    check(not failed_iterations,
          f"{APPEND_KILLS} kill -9s of `log append` over 0-50 ms: cat, verify, query and a new append all worked "
          f"({acked_runs} had acknowledged records, all kept)")
    print(f"  states the kills left: {tally_text(tallies['append'])}")
    append_failures = len(failed_iterations)

    for i, delay in enumerate(delays(RUN_KILLS)):
        base = os.path.join(tmp, f"r{i}")
        data = os.path.join(base, "data")
        os.makedirs(base)
        if i % 2 == 0:
            os.makedirs(data)
        config = os.path.join(base, "outpost.yaml")
        with open(config, "w") as f:
            f.write(RUN_YAML.format(data=data))
        _, ended = killed_after([OUTPOST, "run", "--config", config], os.path.join(data, "LOCK"), delay)
        state = state_at_kill(data, "readings")
        tallies["run"][state] = tallies["run"].get(state, 0) + 1
        problems = ([ended] if ended else []) + check_dir(data, "readings", 0, [])
        if problems:
            failed_iterations.append((f"run kill at {delay * 1000:.2f} ms (dir {'made' if i % 2 == 0 else 'absent'})", problems))
        shutil.rmtree(base, ignore_errors=True)
    check(len(failed_iterations) == append_failures,
          f"{RUN_KILLS} kill -9s of `outpost run` over 0-50 ms: cat, verify, query and a new append all worked")
    print(f"  states the kills left: {tally_text(tallies['run'])}")
    for where, problems in failed_iterations[:20]:
        print(f"  {where}:")
        for p in problems:
            print(f"    {p}")
    print(f"{APPEND_KILLS + RUN_KILLS} kills in {time.monotonic() - started:.1f} s"
          f"{' (sanitized build: fewer kills)' if SANITIZED else ''}")


def body():
    tmp = tempfile.mkdtemp(prefix="outpost-first-start-kill-")
    try:
        main(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(body())
