#!/usr/bin/env python3
"""Each file in broken_configs/ starts with '# expect: LINE:COL: message'. `outpost check` must exit 2
and print exactly FILE:LINE:COL: message among its errors; `outpost run` must refuse it too.
The valid examples must pass."""
import glob
import os
import subprocess
import sys

OUTPOST = os.environ["OUTPOST_BIN"]
SRC = os.environ["OUTPOST_SOURCE_DIR"]
here = os.path.dirname(os.path.abspath(__file__))
failures = []
files = sorted(glob.glob(os.path.join(here, "broken_configs", "*.yaml")))
if len(files) < 30:
    failures.append(f"the corpus has {len(files)} broken configs; at least 30 expected")
for path in files:
    first = open(path).readline()
    assert first.startswith("# expect: "), path
    want = path + ":" + first[len("# expect: "):].rstrip("\n")
    r = subprocess.run([OUTPOST, "check", "--config", path], capture_output=True, timeout=30)
    lines = r.stderr.decode().splitlines()
    if r.returncode != 2 or want not in lines:
        failures.append(f"{os.path.basename(path)}: exit {r.returncode}, wanted line\n  {want}\ngot\n  " + "\n  ".join(lines))
for example in [os.path.join(SRC, "examples", "demo.yaml"), os.path.join(SRC, "systemd", "outpost.yaml")]:
    env = dict(os.environ, OUTPOST_DEMO_DATA="/tmp/outpost-check-demo", OUTPOST_DEMO_MQTT_PORT="1883",
               OUTPOST_DEMO_KAFKA="127.0.0.1:9092")
    r = subprocess.run([OUTPOST, "check", "--config", example], capture_output=True, env=env, timeout=30)
    if r.returncode != 0:
        failures.append(f"{example} should be valid: {r.stderr.decode()}")
for f in failures:
    print("FAIL:", f)
print(f"{len(files) - len([f for f in failures if f.endswith('.yaml')])} broken configs checked; {'FAILED' if failures else 'ok'}: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
