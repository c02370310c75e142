#!/usr/bin/env python3
"""Disk full, end to end: mosquitto -> outpost run (MQTT ingest, a mirror to dev-central) with
its data_dir on a small tmpfs this test mounts.

1. Quota, drop_oldest: central is down while more than the quota arrives; the store drops
   its oldest segments, records the ranges, and once central is back the gap record reaches
   it: central's records plus the gap ranges cover every sequence, nothing twice.
2. The file system itself is full below the quota (another program filled it): the daemon
   stays up, /healthz says the store refuses appends (ENOSPC) and the MQTT source is stalled
   (QoS 1), or, for QoS 0 records that wait in memory, that the group commits fail,
   the refusals are counted, nothing is acknowledged that is not written. When the filler goes,
   ingest resumes without a restart and every message published meanwhile lands exactly once.
3. Afterwards `outpost log verify` passes and a restart opens the log without repairs.

Needs root (mount); exits 77 (skipped) when mounting a tmpfs is not permitted.
OUTPOST_LONG=1 pushes more data through and fills the disk several times."""
import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from envfault_common import (LONG, OUTPOST, Central, Publisher, health, log_records,  # noqa: E402
                             log_stat, log_verify, metric, status)
from outpost_testlib import (READINGS_UNTYPED_STREAM_YAML, Broker, agent_yaml, central_yaml, check, finish,  # noqa: E402
                             free_port, mqtt_source_yaml, start, stop_all, wait_until)

FS_MB = 24
QUOTA = 3 << 20


def write_config(path, data, broker, kafka, http_port, quota):
    with open(path, "w") as f:
        f.write(agent_yaml("disk-full-it", data, http_port, "100ms", segment_size="1MiB", block_size="64KiB",
                           quota=quota, on_full="drop_oldest") +
                mqtt_source_yaml("plant", broker.port, "plant/+/temp", "outpost-disk-full", reconnect=("200ms", "1s")) +
                READINGS_UNTYPED_STREAM_YAML +
                central_yaml(kafka, [("raw", "readings", "fault.readings")], gap_topic="fault.gaps"))


def reading(i, rng):
    # Random padding so blocks barely compress and the quota fills with little traffic.
    return json.dumps({"device": f"d{i % 7}", "ts": 1_700_000_000_000 + i, "temp": 20.5, "n": i,
                       "pad": "%0300x" % rng.getrandbits(1200)})


def fill(path, leave):
    """Writes a filler file until the file system says ENOSPC, then gives `leave` bytes back (so
    some appends still fit and the failure comes mid-way: in a journal write, a block write,
    a segment roll or the catalog). Returns the filler's size."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        while True:
            try:
                n += f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[:len(chunk) // 2]
        if leave:
            n = max(0, n - leave)
            f.truncate(n)
    return n


def payload_ns(data):
    ns = [r["payload"]["n"] for r in log_records(data, "readings") if isinstance(r["payload"], dict)]
    return ns


def main():
    tmp = tempfile.mkdtemp(prefix="outpost-disk-full-")
    mnt = os.path.join(tmp, "fs")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_MB}m", "tmpfs", mnt], capture_output=True)
    if r.returncode != 0:
        print("SKIP: cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): " + r.stderr.decode().strip())
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(77)
    data = os.path.join(mnt, "data")
    rng = random.Random(11)
    daemon = None
    try:
        broker = Broker(tmp, max_queued=1_000_000)
        broker.start()
        central = Central(tmp)
        http_port = free_port()
        config = os.path.join(tmp, "outpost.yaml")
        write_config(config, data, broker, central.bootstrap, http_port, QUOTA)

        def run_daemon(log_name):
            p = start([OUTPOST, "run", "--config", config], stdout=subprocess.DEVNULL,
                      stderr=open(os.path.join(tmp, log_name), "w"))
            wait_until("the MQTT subscription", 30,
                       lambda: status(http_port)["sources"][0]["state"] == "connected")
            return p

        daemon = run_daemon("run1.log")

        # ---- 1. quota with drop_oldest while central is down --------------------------------
        central.command("down all")
        n1 = 60000 if LONG else 30000
        pub = Publisher(broker, "plant/boiler/temp")
        for k in range(0, n1, 1000):
            pub.send([reading(i, rng) for i in range(k + 1, min(k + 1000, n1) + 1)])
        check(pub.close() == 0, f"published {n1} QoS 1 readings")
        wait_until(f"{n1} readings appended", 120,
                   lambda: log_stat(data).get("readings", {}).get("last_seq", 0) >= n1)
        # Retention runs about once a second: wait for it to have brought the log under the quota.
        def under_quota():
            s = log_stat(data)
            return sum(x["stored_bytes"] for x in s.values()) <= QUOTA + (1 << 20) and s["readings"]["dropped"] and s
        st = wait_until("the quota to be enforced", 30, under_quota)
        dropped = (st or {}).get("readings", {}).get("dropped", [])
        check(bool(dropped) and all(d["reason"] == "quota" for d in dropped),
              f"the quota dropped the oldest ranges and recorded why: {dropped}")
        total = sum(s["stored_bytes"] for s in (st or {}).values())
        check(total <= QUOTA + (1 << 20), f"stored bytes {total} stay within the quota (+ one segment)")
        check(daemon.poll() is None, "the daemon is up after the quota dropped data")
        code, h = health(http_port)
        check(code is not None, f"/healthz answers after drops: {code} {h}")
        gauge = metric(http_port, 'outpost_log_dropped_records{stream="readings"}')
        check(gauge is not None and gauge > 0, f"metrics count dropped records: {gauge}")

        central.command("up all")
        first_kept = (st or {}).get("readings", {}).get("first_seq", 0)

        def covered():
            got = central.seqs("fault.readings")
            gaps = [json.loads(v) for _, v in central.messages("fault.gaps")]
            lost = set()
            for g in gaps:
                lost.update(range(g["first_seq"], g["last_seq"] + 1))
            return (set(got) | lost) >= set(range(1, n1 + 1)) and (got, gaps, lost)

        res = wait_until("central to have every record or its gap", 120, covered)
        if res:
            got, gaps, lost = res
            check(all(g["reason"] == "quota" and g["stream"] == "readings" and g["agent"] == "disk-full-it" for g in gaps),
                  f"gap records name agent, stream and reason quota: {gaps[:3]}")
            check(not (set(got) & lost), "no sequence is both delivered and reported lost")
            check(all(c == 1 for c in got.values()), "no record reached central twice")
            check(first_kept > 1 and set(range(1, first_kept)) <= lost,
                  f"the gaps cover exactly what the quota dropped (1..{first_kept - 1})")

        # ---- 2. the file system fills up below the quota -------------------------------------
        daemon.send_signal(signal.SIGTERM)
        check(daemon.wait(timeout=60) == 0, "clean shutdown after the quota phase")
        write_config(config, data, broker, central.bootstrap, http_port, 1 << 30)  # quota > the fs
        daemon = run_daemon("run2.log")
        # Free space left after filling: none (the next journal write fails), then a little
        # (the failure lands later: in a block write, a segment roll, the catalog).
        # Last, QoS 0: appends need no journal and succeed, only the group commits fail; the
        # records wait in memory and health must still say the disk is the problem.
        rounds = [(0, 1), (64 << 10, 1), (300 << 10, 1), (0, 0)]
        if LONG:
            rounds += [(rng.randrange(0, 400 << 10), 1) for _ in range(7)]
        n = n1
        for rnd, (leave, qos) in enumerate(rounds):
            filler = os.path.join(mnt, "filler")
            filled = fill(filler, leave)
            print(f"round {rnd + 1}: filler of {filled} bytes, {leave} bytes left free, QoS {qos}", flush=True)
            errors_before = metric(http_port, 'outpost_ingest_append_errors_total{stream="readings"}') or 0
            n2 = 3000
            pub = Publisher(broker, "plant/pump/temp", qos=qos)
            pub.send([reading(i, rng) for i in range(n + 1, n + n2 + 1)])
            check(pub.close() == 0, f"published {n2} more while the disk is full")
            bad = wait_until("/healthz to report the store", 60,
                             lambda: (x := health(http_port))[0] == 503 and "store" in x[1]["unhealthy"] and x)
            if bad:
                detail = bad[1]["checks"]["store"]["detail"]
                check("No space left" in detail or "full" in detail, f"health names the disk problem: {detail}")
            check(daemon.poll() is None, "the daemon stays up with the disk full")
            if qos == 1:
                errs = metric(http_port, 'outpost_ingest_append_errors_total{stream="readings"}') or 0
                check(errs > errors_before, f"refused appends are counted ({errors_before} -> {errs})")
                src = status(http_port)["sources"][0]
                check(src["state"] == "stalled", f"the MQTT source says it is stalled by the sink: {src['state']}")
            else:
                check(bool(bad) and "cannot write to disk" in bad[1]["checks"]["store"]["detail"],
                      "with appends still accepted, health says the group commits fail")
                check(wait_until("the daemon to log the failing commits", 20,
                                 lambda: "group commit failed" in open(os.path.join(tmp, "run2.log")).read()) is not None,
                      "the daemon logs that group commits fail")
            code, out = log_verify(data)
            check(code == 0, "the log verifies while the disk is full: " + out[-500:])

            os.unlink(filler)
            want = set(range(n + 1, n + n2 + 1))
            got = wait_until("the backlog to land once space returns", 120,
                             lambda: set(ns := payload_ns(data)) >= want and ns)
            check(bool(got), "every message published while the disk was full is stored, without a restart")
            if got:
                check(len(got) == len(set(got)), "nothing stored twice")
            check(wait_until("healthy again", 60, lambda: health(http_port)[0] == 200) is not None,
                  "/healthz is 200 again once space returned")
            if qos == 0:
                check(wait_until("the daemon to log the recovery", 20,  # logged on its next 1 s tick
                                 lambda: "group commits succeed again" in open(os.path.join(tmp, "run2.log")).read())
                      is not None, "the daemon logs that group commits work again")
            n += n2

        def central_complete():
            got = central.seqs("fault.readings")
            last = log_stat(data)["readings"]["last_seq"]
            return set(range(n1 + 1, last + 1)) <= set(got) and got
        got = wait_until("central to receive the post-full records", 120, central_complete)
        check(bool(got) and all(c == 1 for c in got.values()), "sync delivered everything after the disk-full phase once")

        # What the daemon said while the disk was full (one line per distinct message).
        seen = set()
        for line in open(os.path.join(tmp, "run2.log")):
            msg = line.split(" ", 1)[-1].strip()
            key = msg[:60]
            if ("warn" in msg or "error" in msg) and key not in seen:
                seen.add(key)
                print("  daemon: " + msg[:300])

        # ---- 3. verify and restart -----------------------------------------------------------
        daemon.send_signal(signal.SIGTERM)
        check(daemon.wait(timeout=60) == 0, "clean shutdown after the disk was full")
        code, out = log_verify(data)
        check(code == 0, "outpost log verify passes: " + out[-500:])
        before = log_stat(data)["readings"]
        daemon = run_daemon("run3.log")
        after = log_stat(data)["readings"]
        check(after["last_seq"] == before["last_seq"] and after["records"] == before["records"],
              f"a restart opens the log with every record: {before['records']} -> {after['records']}")
        text = open(os.path.join(tmp, "run3.log")).read()
        check("torn tail" not in text and "damaged" not in text and "catalog repaired" not in text,
              "the restart found nothing to repair: " + text[-800:])
        daemon.send_signal(signal.SIGTERM)
        check(daemon.wait(timeout=60) == 0, "clean final shutdown")
    finally:
        stop_all()
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        if os.path.ismount(mnt):
            print("FAIL: could not unmount " + mnt)
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(finish())


main()
