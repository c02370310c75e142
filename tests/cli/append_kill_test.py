#!/usr/bin/env python3
"""Crash test (c): kill -9 `outpost log append` mid-stream again and again.

Every sequence the process printed as flushed must be present afterwards with exactly the
payload sent for it, the log must stay dense (1..N, no gap, no repeat) and `log verify` clean.
Payloads carry their own line number, so a record can be matched with what was sent.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

OUTPOST = os.environ["OUTPOST_BIN"]
KILLS = int(os.environ.get("OUTPOST_KILLS", "60"))


def main():
    rng = random.Random(1234)
    tmp = tempfile.mkdtemp(prefix="outpost-append-kill-")
    data = os.path.join(tmp, "data")
    promised = {}  # seq -> payload, for every seq printed as flushed
    line_no = 0
    try:
        for round_ in range(KILLS):
            proc = subprocess.Popen([OUTPOST, "log", "append", "--data-dir", data, "--stream", "feed", "--progress"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            # The log assigns sequences in order, so the k-th line accepted in this run gets
            # seq = first_seq_of_run + k. Learn first_seq from the log itself.
            r = subprocess.run([OUTPOST, "log", "stat", "--data-dir", data, "--json"], capture_output=True)
            base = 0
            if r.returncode == 0:
                for s in json.loads(r.stdout or b"[]"):
                    if s["stream"] == "feed":
                        base = s["last_seq"]
            sent = []
            flushes_wanted = rng.randint(1, 3)
            flushes_seen = 0
            deadline = time.monotonic() + 30
            # Feed lines until the process has reported some durable progress, then kill it at a
            # random moment: sometimes right after a flush, sometimes mid-batch.
            while flushes_seen < flushes_wanted and time.monotonic() < deadline:
                batch = []
                for _ in range(rng.randint(50, 400)):
                    line_no += 1
                    payload = json.dumps({"n": line_no, "round": round_, "pad": "x" * rng.randint(0, 80)})
                    batch.append(payload)
                proc.stdin.write(("\n".join(batch) + "\n").encode())
                proc.stdin.flush()
                sent += batch
                # Wait (with a deadline) for the next flushed line: the flusher runs every 200 ms.
                line = proc.stdout.readline().decode().strip()
                if line.startswith("flushed "):
                    seq = int(line.split()[1])
                    for s in range(base + 1, seq + 1):
                        promised.setdefault(s, sent[s - base - 1])
                    flushes_seen += 1
            if rng.random() < 0.5:
                # Records in flight at the kill: written to the pipe, maybe appended, never promised.
                proc.stdin.write(("\n".join(json.dumps({"n": -1, "tail": i}) for i in range(rng.randint(1, 300))) + "\n").encode())
            proc.kill()
            proc.wait()
            proc.stdout.close()
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass  # the buffered tail had nowhere to go: the process is dead

        r = subprocess.run([OUTPOST, "log", "cat", "--data-dir", data, "--stream", "feed"], capture_output=True)
        assert r.returncode == 0, f"cat failed: {r.stderr!r}"
        recs = [json.loads(l) for l in r.stdout.decode().splitlines()]
        seqs = [x["seq"] for x in recs]
        assert seqs == list(range(1, len(seqs) + 1)), "the log is dense: 1..N with no gap or repeat"
        by_seq = {x["seq"]: x["payload"] for x in recs}
        lost = [s for s in promised if s not in by_seq]
        assert not lost, f"{len(lost)} sequences printed as flushed are missing, e.g. {lost[:5]}"
        wrong = [s for s, p in promised.items() if json.dumps(by_seq[s]) != json.dumps(json.loads(p))]
        assert not wrong, f"{len(wrong)} flushed records changed, e.g. seq {wrong[:3]}"
        v = subprocess.run([OUTPOST, "log", "verify", "--data-dir", data], capture_output=True)
        assert v.returncode == 0, f"verify after the kills: {v.stdout!r}"
        print(f"ok: {KILLS} kills, {len(promised)} flushed records all present, log dense ({len(seqs)} records) and verified")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


try:
    main()
except AssertionError as e:
    print("FAIL:", e)
    sys.exit(1)
