#!/usr/bin/env python3
"""End-to-end faults of the whole pipeline (issue 7, item 3), one scenario per run:

  pipeline_fault_test.py power_cut | uplink_outage | broker_restart | outage_and_broker_restart

mosquitto -> `outpost run` (MQTT QoS 1 ingest, a 2 s tumble window query, sync: raw stream
at_least_once, the query's result stream exactly_once) -> `outpost dev-central`, read back by
kcat. A QoS 1 publisher in this process keeps publishing deterministic readings through the
fault and knows which ones the broker acknowledged. Every scenario ends with the same checks
(pipeline.final_checks): every acknowledged reading is in the local log, the log verifies, the
query's result and late streams equal an uninterrupted run over the same raw stream row for row,
central holds every raw record (at least once) and every result row exactly once.

OUTPOST_LONG=1: >= 100 kills, a 3-minute outage, more broker restarts. OUTPOST_FAULTS_SEED fixes
the kill points of power_cut (the seed is printed either way).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipeline import (LONG, MESSAGE_TIMEOUT_MS, OUTPOST, PUBLISHERS, Central, Daemon,  # noqa: E402
                      Publisher, final_checks, make_broker, stream_last, write_config)
from outpost_testlib import check, finish, free_port, http_get, stop_all, wait_until  # noqa: E402

RATE = 400  # readings per second


def setup(tmp, with_central=True):
    broker = make_broker(tmp)
    broker.start()
    central = Central(tmp) if with_central else None
    port = free_port()
    config = os.path.join(tmp, "outpost.yaml")
    write_config(config, os.path.join(tmp, "data"), port, broker, central)
    r = subprocess.run([OUTPOST, "check", "--config", config], capture_output=True)
    check(r.returncode == 0, "outpost check accepts the pipeline config: " + r.stderr.decode().strip())
    return broker, central, Daemon(config, port)


def source_state(daemon):
    s = daemon.status()
    return s["sources"][0]["state"] if s else None


def raw_last(daemon):
    s = daemon.status()
    return stream_last(s, "readings") if s else 0


def mirror(daemon, name):
    s = daemon.status()
    return next(m for m in s["mirrors"] if m["name"] == name) if s else None


def running_pipeline(daemon, pub, min_raw=200):
    """Starts the daemon, then (once its subscription exists in the broker) the publisher, and
    waits until readings flow end to end: stored, and confirmed by central."""
    daemon.start()
    wait_until("the MQTT subscription", 30, lambda: source_state(daemon) == "connected", 0.05)
    pub.start()
    wait_until("readings stored and mirrored", 60,
               lambda: raw_last(daemon) >= min_raw and mirror(daemon, "raw")["cursor"] >= min_raw // 2, 0.1)


def finish_publishing(pub):
    pub.stop_publishing()
    done = wait_until("the broker to acknowledge every published reading", 120, pub.all_acked, 0.1)
    print(f"  publisher: {pub.published()} readings published, {pub.acked_count()} acknowledged"
          f"{' (all)' if done else ''}, {pub.connects} connection(s)", flush=True)


def power_cut(tmp):
    """kill -9 at seeded random points while ingesting, querying and syncing; restart each time."""
    seed = int(os.environ.get("OUTPOST_FAULTS_SEED", random.randrange(1 << 31)))
    kills = 110 if LONG else 6
    print(f"  seed {seed} (OUTPOST_FAULTS_SEED={seed} repeats these kill points), {kills} kills", flush=True)
    rnd = random.Random(seed)
    broker, central, daemon = setup(tmp)
    pub = Publisher(broker.port, RATE)
    running_pipeline(daemon, pub)
    daemon.kill9()
    landed = 0
    for k in range(kills):
        daemon.start()
        before = raw_last(daemon)
        # A fifth of the kills land during start-up (recovery, query backfill, sync resuming);
        # the rest once this life has ingested something, after a random delay.
        if rnd.random() >= 0.2:
            wait_until("ingest after a restart", 30,
                       lambda: source_state(daemon) == "connected" and raw_last(daemon) > before, 0.02)
        time.sleep(rnd.uniform(0.0, 3.0))  # the random kill point (fault injection, not a wait)
        s = daemon.status()
        daemon.kill9()
        if s:
            landed += 1
            if not LONG or k % 10 == 0:
                print(f"  kill {k + 1}: raw {stream_last(s, 'readings')}, query input {s['queries'][0]['input_seq']}"
                      f" output {s['queries'][0]['output_seq']}, central raw {s['mirrors'][0]['cursor']}"
                      f" windows {s['mirrors'][1]['cursor']}", flush=True)
    check(landed == kills, f"{kills} kill -9s, each while the daemon was running ({landed})")
    daemon.start()
    finish_publishing(pub)
    final_checks(tmp, daemon, pub, central)
    pub.quit()


def outage(daemon, central, secs, broker=None):
    """All central brokers down for `secs` while readings keep arriving; asserts the stall is
    reported (state, /healthz, `outpost status`) and nothing is confirmed meanwhile. With
    `broker`, mosquitto is also restarted in the middle of the outage."""
    # Slow answers first, so records are surely in flight when the brokers go: they stay queued in
    # librdkafka past message.timeout.ms, fail there, and must be re-driven from the local log.
    central.ctl(f"rtt all {MESSAGE_TIMEOUT_MS + 1000}")
    wait_until("records in flight", 20, lambda: mirror(daemon, "raw")["in_flight"] >= 200, 0.05)
    redrives = mirror(daemon, "raw")["redrives"]
    central.ctl("down all")
    t_end = time.monotonic() + secs
    wait_until("both mirrors to leave 'online'", 30,
               lambda: all(m["state"] != "online" for m in daemon.status()["mirrors"]), 0.1)
    s = daemon.status()
    print("  uplink down: mirrors " + ", ".join(f"{m['name']} {m['state']}" for m in s["mirrors"]), flush=True)
    stalled_cursor = mirror(daemon, "raw")["cursor"]
    backlog = mirror(daemon, "raw")["backlog_records"]
    def both_unhealthy():
        code, body = http_get(daemon.port, "/healthz")
        return code == 503 and {"sync:raw", "sync:windows"} <= set(json.loads(body)["unhealthy"]) and body
    health = wait_until("/healthz 503 naming both stalled mirrors", 30, both_unhealthy, 0.2)
    check(bool(health), f"/healthz says 503 and names sync:raw and sync:windows while central is down: "
                        f"{str(health)[:300]}")
    r = subprocess.run([OUTPOST, "status", "--http", f"127.0.0.1:{daemon.port}"], capture_output=True, timeout=30)
    out = r.stdout.decode()
    check(r.returncode == 1 and "UNHEALTHY" in out and "sync:raw: central unreachable" in out
          and "sync:windows: central unreachable" in out,
          f"`outpost status` exits 1 and says central is unreachable for both mirrors: {out.strip()[:400]}")
    code, metrics = http_get(daemon.port, "/metrics")
    offline = [l for l in metrics.splitlines() if l.startswith("outpost_sync_online{") and l.endswith(" 0")]
    check(code == 200 and len(offline) == 2, f"/metrics: outpost_sync_online is 0 for both mirrors ({offline})")
    check(wait_until("the raw backlog to grow", 30, lambda: mirror(daemon, "raw")["backlog_records"] > backlog + 200, 0.2)
          is not None, "ingest goes on while the uplink is down (the backlog grows)")
    if broker:
        broker_restart(daemon, broker)
    while time.monotonic() < t_end:  # the outage lasts `secs` (fault duration, not a wait to pass)
        m = mirror(daemon, "raw")
        if m["cursor"] != stalled_cursor:
            check(False, f"no record confirmed while central is down (cursor {stalled_cursor} -> {m['cursor']})")
            break
        time.sleep(0.5)
    m = mirror(daemon, "raw")
    print(f"  after {secs} s down: raw backlog {m['backlog_records']} records, state {m['state']}, "
          f"errors {m['errors']}", flush=True)
    central.ctl("rtt all 0")
    central.ctl("up all")
    check(wait_until("healthy again after the uplink returns", 120,
                     lambda: http_get(daemon.port, "/healthz")[0] == 200, 0.2) is not None,
          "/healthz 200 again once central is back")
    m = wait_until("a re-drive", 30, lambda: (lambda m: m["redrives"] > redrives and m)(mirror(daemon, "raw")), 0.2) \
        or mirror(daemon, "raw")
    check(m["redrives"] > redrives, f"records that timed out in librdkafka during the outage were re-driven from the "
                                    f"local log (redrives {redrives} -> {m['redrives']})")
    # The journal says so too, once each way per mirror (a site nobody watches reads the log).
    def journal_lines():
        with open(daemon.config + ".log", errors="replace") as f:
            lines = f.read().splitlines()
        lost = [l for l in lines if " warning " in l and "mirror 'raw'" in l and "central unreachable" in l]
        back = [l for l in lines if "mirror 'raw'" in l and "central reachable again" in l]
        return len(lost) >= 1 and len(back) >= 1 and (lost, back)
    lines = wait_until("the journal to say central was lost and is back", 30, journal_lines, 0.2)
    check(bool(lines), f"the daemon logged losing central and getting it back for mirror raw: {str(lines)[:400]}")


def broker_restart(daemon, broker):
    """mosquitto stopped by PID and started again on the same port (persistence on) while the
    publisher keeps publishing; waits until ingest flows again."""
    broker.stop()
    wait_until("the MQTT source to notice the broker is gone", 30, lambda: source_state(daemon) != "connected", 0.05)
    broker.start()
    before = raw_last(daemon)
    check(wait_until("ingest to resume after the broker restart", 60,
                     lambda: source_state(daemon) == "connected" and raw_last(daemon) > before + 100, 0.1) is not None,
          f"broker restart {broker.restarts}: Outpost reconnected and ingest resumed")


def uplink_outage(tmp):
    secs = 180 if LONG else 20
    print(f"  outage of {secs} s, message.timeout.ms {MESSAGE_TIMEOUT_MS}", flush=True)
    broker, central, daemon = setup(tmp)
    pub = Publisher(broker.port, RATE)
    running_pipeline(daemon, pub)
    outage(daemon, central, secs)
    finish_publishing(pub)
    final_checks(tmp, daemon, pub, central)
    pub.quit()


def broker_restart_scenario(tmp):
    restarts = 20 if LONG else 3
    broker, central, daemon = setup(tmp)
    pub = Publisher(broker.port, RATE)
    running_pipeline(daemon, pub)
    for _ in range(restarts):
        broker_restart(daemon, broker)
    check(pub.connects > restarts, f"the publisher reconnected after each restart ({pub.connects} connections)")
    finish_publishing(pub)
    final_checks(tmp, daemon, pub, central)
    pub.quit()


def outage_and_broker_restart(tmp):
    secs = 120 if LONG else 20
    rounds = 3 if LONG else 1
    broker, central, daemon = setup(tmp)
    pub = Publisher(broker.port, RATE)
    running_pipeline(daemon, pub)
    for _ in range(rounds):
        outage(daemon, central, secs, broker=broker)
        broker_restart(daemon, broker)  # and one more right after the uplink returned
    finish_publishing(pub)
    final_checks(tmp, daemon, pub, central)
    pub.quit()


SCENARIOS = {
    "power_cut": power_cut,
    "uplink_outage": uplink_outage,
    "broker_restart": broker_restart_scenario,
    "outage_and_broker_restart": outage_and_broker_restart,
}


def main():
    names = sys.argv[1:] or list(SCENARIOS)
    for n in names:
        if n not in SCENARIOS:
            sys.exit(f"unknown scenario {n}; one of {', '.join(SCENARIOS)}")
    for n in names:
        tmp = tempfile.mkdtemp(prefix=f"outpost-faults-{n}-")
        t0 = time.monotonic()
        print(f"== {n}{' (long)' if LONG else ''}: {tmp}", flush=True)
        failed_before = len(__import__("outpost_testlib").failures)
        try:
            SCENARIOS[n](tmp)
        finally:
            for p in PUBLISHERS:
                p.quit()
            stop_all()
        print(f"== {n}: {time.monotonic() - t0:.1f} s", flush=True)
        if len(__import__("outpost_testlib").failures) == failed_before:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"  work dir kept: {tmp}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
