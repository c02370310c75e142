#!/usr/bin/env python3
"""`outpost run` with a serial source on a pseudo-terminal (outpost_testlib.PtyDevice): lines
become records, garbage and over-long lines become dead letters with reasons, and the device
being removed and recreated (a USB unplug) is survived without losing later lines."""
import base64
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import PtyDevice, check, procs, run_in_tmpdir, wait_until  # noqa: E402

OUTPOST = os.environ["OUTPOST_BIN"]


def payloads(data, stream):
    r = subprocess.run([OUTPOST, "log", "cat", "--data-dir", data, "--stream", stream], capture_output=True)
    return [json.loads(l)["payload"] for l in r.stdout.decode().splitlines()]


def main(tmp):
    dev = PtyDevice(tmp + "/ttyOUT")
    dev.plug()
    config = tmp + "/outpost.yaml"
    with open(config, "w") as f:
        f.write(f"""agent: {{id: serial-it, data_dir: {tmp}/data, http: {{listen: "127.0.0.1:0"}}}}
storage: {{flush: {{interval: 100ms}}}}
sources:
  - name: meter
    type: serial
    device: {tmp}/ttyOUT
    baud: 115200
    max_line: 64
    stream: flow
streams:
  - name: flow
    format: json
    key_field: meter
    time: {{field: t, format: unix_s}}
""")
    daemon = subprocess.Popen([OUTPOST, "run", "--config", config], stdout=subprocess.DEVNULL,
                              stderr=open(tmp + "/run.log", "w"))
    procs.append(daemon)
    wait_until("the device to be open", 30, lambda: "opened" in open(tmp + "/run.log").read() or "connected" in open(tmp + "/run.log").read())
    lines = [json.dumps({"meter": "m1", "t": 1700000000 + i, "flow": i}) for i in range(20)]
    dev.write(("\r\n".join(lines[:10]) + "\r\n").encode())
    dev.write(b"\x00\xffbinary noise\n")                      # garbage: not JSON
    dev.write(b'{"meter":"m1","t":1,"pad":"' + b"x" * 200 + b'"}\n')  # over max_line
    dev.write(("\n".join(lines[10:15]) + "\n").encode())
    got = wait_until("15 readings", 30, lambda: len(payloads(tmp + "/data", "flow")) >= 15 and payloads(tmp + "/data", "flow"))
    check(bool(got) and [p["flow"] for p in got] == list(range(15)), "serial lines (\\r\\n and \\n) become records in order")
    dead = wait_until("2 dead letters", 30, lambda: len(payloads(tmp + "/data", "flow.dead")) >= 2 and payloads(tmp + "/data", "flow.dead"))
    # Binary garbage is not UTF-8: the dead letter says where, and keeps every byte (base64).
    check(bool(dead) and any(d["reason"] == "payload is not valid UTF-8 at byte 1" and d["encoding"] == "base64"
                             and base64.b64decode(d["payload"]) == b"\x00\xffbinary noise"
                             and d["source"].endswith("/ttyOUT") for d in dead),
          f"garbage dead-lettered with its reason, device and bytes: {dead}")
    check(bool(dead) and any("64" in d["reason"] or "long" in d["reason"] for d in dead), "an over-long line is dead-lettered, naming the limit")

    # Unplug: the device disappears; plug back in under the same path.
    dev.unplug()
    wait_until("the source to notice", 30, lambda: "reopen" in open(tmp + "/run.log").read().lower() or
               "gone" in open(tmp + "/run.log").read().lower() or "hang" in open(tmp + "/run.log").read().lower())
    dev.plug()
    def replugged():
        dev.write((lines[15] + "\n").encode())
        return any(p.get("flow") == 15 for p in payloads(tmp + "/data", "flow"))
    check(wait_until("a line after replug", 60, replugged) is not None, "lines after the device came back are stored")
    dev.write(("\n".join(lines[16:20]) + "\n").encode())
    got = wait_until("all 20 flows", 30, lambda: {p["flow"] for p in payloads(tmp + "/data", "flow")} >= set(range(20)))
    check(bool(got), "nothing sent after the replug is lost")
    daemon.send_signal(signal.SIGTERM)
    check(daemon.wait(timeout=60) == 0, "clean shutdown")


sys.exit(run_in_tmpdir("outpost-serial-it-", main))
