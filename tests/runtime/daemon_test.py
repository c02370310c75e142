#!/usr/bin/env python3
"""`outpost run` end to end, with real servers on loopback ports this test picks:
mosquitto (MQTT) -> outpost run -> the local log -> outpost dev-central (Kafka protocol),
read back with kcat. Covers systemd notification, QoS 1 delivery, dead letters, metrics
(promtool), health transitions (broker down -> 503 naming mqtt), kill -9 with acknowledged
messages, SIGHUP reload, config errors, and a clean SIGTERM shutdown.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import (Broker, READINGS_UNTYPED_STREAM_YAML, agent_yaml, central_yaml, check,  # noqa: E402
                             free_port, http_get, mqtt_source_yaml, run_in_tmpdir, start, wait_until)

OUTPOST = os.environ["OUTPOST_BIN"]


def log_count(data, stream):
    r = subprocess.run([OUTPOST, "log", "stat", "--data-dir", data, "--json"], capture_output=True)
    for s in json.loads(r.stdout or b"[]"):
        if s["stream"] == stream:
            return s["records"]
    return 0


def log_payloads(data, stream):
    r = subprocess.run([OUTPOST, "log", "cat", "--data-dir", data, "--stream", stream], capture_output=True)
    return [json.loads(l)["payload"] for l in r.stdout.decode().splitlines()]


def central_seqs(kafka, topic):
    r = subprocess.run(["kcat", "-b", kafka, "-C", "-t", topic, "-e", "-q", "-f", "%h\n"], capture_output=True, timeout=60)
    seqs = set()
    for line in r.stdout.decode().splitlines():
        for h in line.split(","):
            if h.startswith("outpost-seq="):
                seqs.add(int(h.split("=")[1]))
    return seqs


def write_config(path, tmp, broker, kafka, http_port, topic="it.readings"):
    with open(path, "w") as f:
        f.write(agent_yaml("it-gateway", f"{tmp}/data", http_port, "100ms") +
                mqtt_source_yaml("plant", broker.port, "plant/+/temp", "outpost-it", reconnect=("200ms", "1s")) +
                READINGS_UNTYPED_STREAM_YAML + central_yaml(kafka, [("raw", "readings", topic)]))


class Notify:
    """A NOTIFY_SOCKET the test owns and, like systemd, keeps reading (a full datagram queue
    would block the daemon's sd_notify)."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.stop:
            try:
                m = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            with self.lock:
                self.messages.append(m)

    def seen(self, prefix):
        with self.lock:
            return any(line.startswith(prefix) for m in self.messages for line in m.split("\n"))


def publish(broker, topic, payloads, qos=1):
    data = "\n".join(payloads) + "\n"
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", str(qos), "-t", topic, "-l"],
                       input=data.encode(), capture_output=True, timeout=120)
    return r.returncode == 0


def reading(i, device="dev-1"):
    return json.dumps({"device": device, "ts": 1_700_000_000_000 + i, "temp": 20 + i % 10, "n": i})


def main(tmp):
    broker = Broker(tmp, max_queued=100000)
    broker.start()
    central = start([OUTPOST, "dev-central", "--no-stdin", "--bootstrap-file", f"{tmp}/boot"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kafka = wait_until("dev-central", 20, lambda: open(f"{tmp}/boot").read().strip())
    http_port = free_port()
    config = f"{tmp}/outpost.yaml"
    write_config(config, tmp, broker, kafka, http_port)

    # Bad config: every problem named with FILE:LINE:COL, exit 2, nothing started.
    bad = f"{tmp}/bad.yaml"
    with open(bad, "w") as f:
        f.write("agent:\n  data_dir: /tmp/x\nstorage:\n  flush:\n    interval: 10 s\nstreams:\n  - name: r\n    formt: json\n")
    r = subprocess.run([OUTPOST, "check", "--config", bad], capture_output=True)
    err = r.stderr.decode()
    check(r.returncode == 2, "outpost check exits 2 on a bad config")
    check(f"{bad}:5:15: storage.flush.interval: '10 s' is not a duration" in err, "bad duration named with line:col: " + err)
    check(f"{bad}:8:5: unknown key 'formt' in streams[0] (did you mean 'format'?)" in err, "unknown key with did-you-mean")
    r = subprocess.run([OUTPOST, "run", "--config", bad], capture_output=True, timeout=30)
    check(r.returncode == 2 and not os.path.exists("/tmp/x/catalog.db"), "outpost run refuses a bad config and starts nothing")
    r = subprocess.run([OUTPOST, "check", "--config", config], capture_output=True)
    check(r.returncode == 0, "outpost check accepts the test config: " + r.stderr.decode())

    notify = Notify(tmp)
    env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="1000000")
    daemon = start([OUTPOST, "run", "--config", config], env=env, stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/run.log", "w"))
    check(wait_until("READY=1", 30, lambda: notify.seen("READY=1")) is not None, "READY=1 sent once sources are up")
    check(wait_until("WATCHDOG=1", 10, lambda: notify.seen("WATCHDOG=1")) is not None, "WATCHDOG=1 pings with WATCHDOG_USEC set")
    check(wait_until("STATUS=", 15, lambda: notify.seen("STATUS=ingest")) is not None, "STATUS= text with rates")
    wait_until("the MQTT subscription", 20, lambda: json.loads(http_get(http_port, "/v1/status")[1])["sources"][0]["state"] == "connected")

    # QoS 1 readings on a wildcard subscription, plus garbage that must be dead-lettered.
    check(publish(broker, "plant/boiler/temp", [reading(i) for i in range(1, 501)]), "published 500 QoS 1 readings")
    check(publish(broker, "plant/boiler/temp", ["{not json", "\xff\xfe garbage"]), "published 2 garbage payloads")
    check(publish(broker, "plant/other/humidity", [reading(9999)]), "published to a topic nobody subscribed")
    wait_until("500 readings in the log", 30, lambda: log_count(f"{tmp}/data", "readings") >= 500)
    check(log_count(f"{tmp}/data", "readings") == 500, "every QoS 1 reading is in the log exactly once")
    dead = wait_until("2 dead letters", 20, lambda: len(log_payloads(f"{tmp}/data", "readings.dead")) == 2 and log_payloads(f"{tmp}/data", "readings.dead"))
    # agent/decode's dead-letter record: reason, class, where from (broker URI + topic), the bytes.
    check(bool(dead) and all("invalid JSON" in d["reason"] and d["class"] == "syntax" and d["stream"] == "readings"
                             and d["source"] == f"tcp://127.0.0.1:{broker.port}/plant/boiler/temp" for d in dead),
          f"garbage is kept in the dead-letter stream with reason and topic: {dead}")
    check(bool(dead) and sorted(d["payload"] for d in dead) == sorted(["{not json", "\xff\xfe garbage"]),
          f"a dead letter keeps the original payload: {dead}")
    check(wait_until("central to have all 500", 60, lambda: central_seqs(kafka, "it.readings") == set(range(1, 501))) is not None,
          "central received every reading (kcat)")

    code, metrics = http_get(http_port, "/metrics")
    check(code == 200 and 'outpost_ingest_records_total{stream="readings"} 500' in metrics, "metrics count ingested records")
    check('outpost_ingest_decode_errors_total{stream="readings"} 2' in metrics, "metrics count decode errors")
    check('outpost_ingest_decode_errors_by_class_total{stream="readings",class="syntax"} 2' in metrics and
          'outpost_ingest_decode_errors_by_class_total{stream="readings",class="field_type"} 0' in metrics,
          "metrics count decode errors by class (syntax 2, the other classes 0)")
    code, body = http_get(http_port, "/v1/status")
    by_class = [s.get("decode_errors_by_class") for s in json.loads(body)["streams"] if s["name"] == "readings"]
    check(by_class == [{"syntax": 2}], f"/v1/status shows decode errors by class: {by_class}")
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=metrics.encode(), capture_output=True)
        check(r.returncode == 0, "promtool accepts /metrics: " + r.stdout.decode() + r.stderr.decode())
    code, body = http_get(http_port, "/healthz")
    check(code == 200, "healthz 200 while everything runs")

    # Broker down: health says so, naming the MQTT source; back up: healthy again.
    broker.stop()
    code = wait_until("healthz 503", 30, lambda: http_get(http_port, "/healthz")[0] == 503 and http_get(http_port, "/healthz"))
    check(bool(code) and "mqtt:plant" in code[1], f"broker down -> 503 naming mqtt:plant: {code}")
    r = subprocess.run([OUTPOST, "status", "--http", f"127.0.0.1:{http_port}"], capture_output=True)
    check(r.returncode == 1 and b"UNHEALTHY" in r.stdout and b"mqtt:plant" in r.stdout, "outpost status says what is wrong")
    broker.start()
    check(wait_until("healthz 200 again", 60, lambda: http_get(http_port, "/healthz")[0] == 200) is not None, "healthy again after the broker returns")

    # SIGHUP: a changed mirror topic is applied without a restart, and said so in the log.
    write_config(config, tmp, broker, kafka, http_port, topic="it.readings2")
    daemon.send_signal(signal.SIGHUP)
    check(wait_until("reload log line", 20, lambda: "applied central mirrors" in open(f"{tmp}/run.log").read()) is not None,
          "SIGHUP reloads mirrors and logs what changed")

    # kill -9 while readings flow: every message the broker got a PUBACK for is in the log.
    pub = start(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-t", "plant/pump/temp", "-l"],
                stdin=subprocess.PIPE)
    for i in range(1000, 1300):
        pub.stdin.write((reading(i, "pump") + "\n").encode())
    pub.stdin.flush()
    wait_until("some pump readings stored", 30, lambda: log_count(f"{tmp}/data", "readings") > 520)
    daemon.kill()
    daemon.wait()
    for i in range(1300, 1400):
        pub.stdin.write((reading(i, "pump") + "\n").encode())
    pub.stdin.close()
    pub.wait(timeout=60)
    # The persistent session keeps what arrived while Outpost was down; all 400 must land.
    daemon = start([OUTPOST, "run", "--config", config], env=env, stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/run2.log", "w"))
    def pump_ns():
        return {p["n"] for p in log_payloads(f"{tmp}/data", "readings") if isinstance(p, dict) and p.get("device") == "pump"}
    got = wait_until("all 400 pump readings after kill -9 and restart", 60, lambda: pump_ns() >= set(range(1000, 1400)) and pump_ns())
    check(bool(got), "kill -9 lost no acknowledged message (persistent session + intake journal)")
    v = subprocess.run([OUTPOST, "log", "verify", "--data-dir", f"{tmp}/data"], capture_output=True)
    check(v.returncode == 0, "the log verifies after kill -9")

    daemon.send_signal(signal.SIGTERM)
    try:
        rc = daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        if shutil.which("gdb"):
            subprocess.run(["gdb", "-p", str(daemon.pid), "-batch", "-ex", "thread apply all bt 12"], timeout=120)
        rc = "hung"
    check(rc == 0, f"SIGTERM: clean shutdown, exit 0 (got {rc})")
    check(notify.seen("STOPPING=1"), "STOPPING=1 sent on shutdown")


sys.exit(run_in_tmpdir("outpost-daemon-it-", main))
