#!/usr/bin/env python3
"""`outpost log append|cat|stat|verify` driven as a user would, on a scratch data dir."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

OUTPOST = os.environ["OUTPOST_BIN"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def run(*args, stdin=None):
    return subprocess.run([OUTPOST, *args], input=stdin, capture_output=True, timeout=120)


def cat(data, stream, *extra):
    r = run("log", "cat", "--data-dir", data, "--stream", stream, *extra)
    return r, [json.loads(l) for l in r.stdout.decode().splitlines()]


def test_round_trip(tmp):
    data = os.path.join(tmp, "d1")
    lines = []
    for i in range(1, 501):
        lines.append(json.dumps({"device": f"dev-{i % 7}", "ts": 1_700_000_000_000 + i * 1000, "temp": i / 10}))
    lines.insert(10, "not json at all \u00e9")  # a raw, non-JSON payload is kept as a string
    lines.insert(20, "")                          # blank lines carry no record
    feed = ("\n".join(lines) + "\n").encode()
    r = run("log", "append", "--data-dir", data, "--stream", "readings", "--key-field", "device",
            "--time-field", "ts", stdin=feed)
    check(r.returncode == 0, f"append exit 0 (got {r.returncode}: {r.stderr.decode()})")
    check(r.stdout.decode().strip().splitlines()[-1] == "501", f"append prints the last sequence 501: {r.stdout!r}")

    r, recs = cat(data, "readings")
    check(r.returncode == 0, "cat exit 0")
    check([x["seq"] for x in recs] == list(range(1, 502)), "cat returns every sequence once, in order")
    raw = recs[10]
    check(raw["payload"] == "not json at all \u00e9" and raw["key"] is None, f"non-JSON payload is a string: {raw}")
    first = recs[0]
    check(first["key"] == "dev-1" and first["payload"]["temp"] == 0.1, f"key and JSON payload: {first}")
    check(first["event_time"] == "2023-11-14T22:13:21.000Z", f"event time from the ts field: {first['event_time']}")

    r, recs = cat(data, "readings", "--from-seq", "100", "--to-seq", "102")
    check([x["seq"] for x in recs] == [100, 101, 102], "seq range is inclusive")
    # Event-time range [since, until): ts of payload i is 1_700_000_000_000 + i*1000.
    r, recs = cat(data, "readings", "--since", "2023-11-14T22:13:25Z", "--until", "1700000008000", "--ms")
    check([x["payload"]["ts"] for x in recs] == [1_700_000_005_000, 1_700_000_006_000, 1_700_000_007_000],
          f"event-time range is half-open: {[x.get('payload') for x in recs]}")

    # A second append continues the sequence densely.
    r = run("log", "append", "--data-dir", data, "--stream", "readings", stdin=b"one\ntwo\n")
    check(r.stdout.decode().strip().splitlines()[-1] == "503", "sequences continue across runs")

    r = run("log", "stat", "--data-dir", data, "--json")
    stats = json.loads(r.stdout)
    check(stats[0]["stream"] == "readings" and stats[0]["records"] == 503 and stats[0]["last_seq"] == 503,
          f"stat --json: {stats}")
    check(stats[0]["stored_bytes"] > 0 and stats[0]["raw_bytes"] > stats[0]["stored_bytes"], "stat shows compression")
    r = run("log", "stat", "--data-dir", data)
    check(b"readings" in r.stdout and b"ratio" in r.stdout, "stat prints a table")

    r = run("log", "verify", "--data-dir", data)
    check(r.returncode == 0, f"verify exit 0 on a clean log: {r.stdout}")
    return data


def test_verify_finds_damage(tmp, data):
    broken = os.path.join(tmp, "broken")
    shutil.copytree(data, broken)
    segs = []
    for root, _, files in os.walk(os.path.join(broken, "streams")):
        segs += [os.path.join(root, f) for f in files if f.endswith(".seg")]
    check(len(segs) >= 1, "a segment file exists")
    seg = sorted(segs)[0]
    with open(seg, "r+b") as f:
        size = os.path.getsize(seg)
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0x5A]))
    r = run("log", "verify", "--data-dir", broken)
    check(r.returncode == 1, f"verify exit 1 on damage (got {r.returncode})")
    check(os.path.basename(seg).encode() in r.stdout, f"verify names the segment: {r.stdout!r}")
    r, recs = cat(broken, "readings")
    check(r.returncode == 1, "cat exits 1 when it skipped damage")
    check(b"skipped damaged data" in r.stderr, "cat reports the damage on stderr")
    good = {x["seq"] for x in recs}
    check(len(good) < 503 and all(1 <= s <= 503 for s in good), "cat returns only undamaged records")


def test_follow(tmp):
    data = os.path.join(tmp, "follow")
    run("log", "append", "--data-dir", data, "--stream", "s", stdin=b"first\n")
    follower = subprocess.Popen([OUTPOST, "log", "cat", "--data-dir", data, "--stream", "s", "--follow"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = [json.loads(follower.stdout.readline())["payload"]]
        r = run("log", "append", "--data-dir", data, "--stream", "s", stdin=b"second\nthird\n")
        check(r.returncode == 0, "append beside a follower")
        deadline = time.monotonic() + 30
        while len(seen) < 3 and time.monotonic() < deadline:
            line = follower.stdout.readline()
            if not line:
                break
            seen.append(json.loads(line)["payload"])
        check(seen == ["first", "second", "third"], f"a follower in another process sees new records: {seen}")
    finally:
        follower.terminate()
        try:
            follower.wait(timeout=10)
        except subprocess.TimeoutExpired:
            follower.kill()
    check(follower.returncode == 0, f"follower exits 0 on SIGTERM (got {follower.returncode})")


def test_errors(tmp):
    r = run("log", "cat", "--data-dir", os.path.join(tmp, "missing"), "--stream", "x")
    check(r.returncode == 2 and b"does not exist" in r.stderr, f"missing data dir is named: {r.stderr!r}")
    data = os.path.join(tmp, "d1")
    r = run("log", "cat", "--data-dir", data, "--stream", "nope")
    check(r.returncode == 2 and b"no stream 'nope'" in r.stderr and b"readings" in r.stderr,
          f"unknown stream lists the known ones: {r.stderr!r}")
    r = run("log", "cat", "--data-dir", data, "--stream", "readings", "--since", "yesterday")
    check(r.returncode == 2 and b"--since 'yesterday'" in r.stderr, f"bad time is named: {r.stderr!r}")
    r = run("log", "append", "--data-dir", data, "--stream", "bad name!", stdin=b"x\n")
    check(r.returncode != 0 and b"bad name!" in r.stderr, f"bad stream name is named: {r.stderr!r}")
    r = run("log", "frobnicate")
    check(r.returncode == 2, "unknown subcommand is a usage error")
    # Append while another writer holds the data dir.
    holder = subprocess.Popen([OUTPOST, "log", "append", "--data-dir", data, "--stream", "readings", "--progress"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Once the holder reports a flush it holds the lock (the log is open).
        holder.stdin.write(b"held\n")
        holder.stdin.flush()
        line = holder.stdout.readline()
        check(line.startswith(b"flushed "), f"the first writer runs: {line!r}")
        r = run("log", "append", "--data-dir", data, "--stream", "readings", stdin=b"x\n")
        check(r.returncode == 3 and b"locked" in r.stderr, f"a second writer is refused, naming the lock: {r.stderr!r}")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_history_query_counts_every_reading(tmp):
    """The user's path without a config: append readings with --time-field ts, 1% of them
    arriving minutes after their window, then ask per-minute counts. table() counts all of them
    (by `ts`, which the catalog now knows, and by _tp_time); the stream form replays the live
    rules and says on stderr how many it left out; table() refuses --follow."""
    import random
    rng = random.Random(14)
    t0 = 1_767_225_600_000
    readings = []
    for i in range(20000):
        ts = t0 + i * 300
        arrive = ts + (rng.randint(120_000, 900_000) if rng.random() < 0.01 else rng.randint(0, 500))
        readings.append((arrive, json.dumps({"device": f"dev-{i % 20}", "ts": ts, "temp": 20 + i % 7})))
    readings.sort()
    data = os.path.join(tmp, "history")
    r = run("log", "append", "--data-dir", data, "--stream", "readings", "--time-field", "ts",
            "--key-field", "device", stdin=("\n".join(line for _, line in readings) + "\n").encode())
    check(r.returncode == 0, f"history: append exit 0 ({r.stderr.decode()})")

    def total(sql, *extra):
        q = run("query", "--data-dir", data, *extra, sql)
        rows = [json.loads(l) for l in q.stdout.decode().splitlines()]
        return q, sum(row["n"] for row in rows)

    for time_col in ("ts", "_tp_time"):
        q, n = total("SELECT window_start, device, count() AS n FROM "
                     f"tumble(table(readings), {time_col}, 1m) GROUP BY window_start, device")
        check(q.returncode == 0, f"history by {time_col}: exit 0 without a config ({q.stderr.decode()})")
        check(n == 20000, f"history by {time_col}: every stored reading counted ({n} of 20000)")
        check(q.stderr == b"", f"history by {time_col}: nothing on stderr ({q.stderr.decode()})")
    q, n = total("SELECT window_start, device, count() AS n FROM tumble(readings, ts, 1m) "
                 "GROUP BY window_start, device")
    err = q.stderr.decode()
    check(q.returncode == 0 and 0 < n < 20000, f"live replay: drops the late readings ({n} of 20000)")
    check(f"{20000 - n} record(s) came after the watermark" in err,
          f"live replay: stderr names the {20000 - n} readings it left out ({err.strip()})")
    q = run("query", "--data-dir", data, "--follow", "SELECT count() AS n FROM table(readings)")
    check(q.returncode == 2 and b"cannot be followed" in q.stderr,
          f"table() with --follow: refused with a message (exit {q.returncode}: {q.stderr.decode().strip()})")


def main():
    tmp = tempfile.mkdtemp(prefix="outpost-log-cli-")
    try:
        data = test_round_trip(tmp)
        test_verify_finds_damage(tmp, data)
        test_follow(tmp)
        test_errors(tmp)
        test_history_query_counts_every_reading(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'FAILED' if failures else 'ok'}: {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


main()
