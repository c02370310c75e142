#!/usr/bin/env python3
"""bench/soak (issue 7 item 5): the whole pipeline at a steady rate for a long time, watching
the daemon for slow leaks.

  mosquitto  <-  two `outpost simulate` fleets (sensors/# and machines/#; 1% late readings,
     |           0.1% garbage)
  outpost run: MQTT -> streams readings and machines -> local log; a tumble query (temp_10s)
     |         and a session query (machine_runs); every stream and both result streams mirrored
  outpost dev-central (stand-in central Kafka), read back by kcat at the end

Every --interval seconds it samples the daemon's RSS (/proc/PID/status VmRSS), open file
descriptors (/proc/PID/fd) and CPU time and prints a JSON line ("bench": "soak_sample"). At the
end it prints one summary line ("bench": "soak") and judges:
  - RSS and fd count flat: after the warm-up (the first --warmup-fraction of the run), the
    median of the last window (--window-fraction of the run) is under 5% above the median of
    the first post-warm-up window, and so is the window's maximum (for fds, whose counts are
    small, at least one descriptor of slack: 5% of 30 is not a whole descriptor);
  - no error-level line in the daemon's log (agent/runtime/logging.cpp: "<ISO time>Z error ");
  - no loss: every message the simulators had acknowledged by the broker (QoS 1) is in the
    local log (stream or dead letters), and central holds every record of every mirrored
    stream (distinct outpost sequence numbers, read back with kcat);
  - CPU per event is reported (daemon user+sys seconds / events ingested), not judged.
With --stall-at S the daemon is frozen (SIGSTOP) S seconds in for --stall-seconds, as a box
too loaded to schedule it would: it then catches up on the broker's queue and the mirrors'
backlog at once. Put S after the first window: the flatness verdict then says whether the
memory of that burst comes back.
The daemon runs with the allocator settings that systemd/outpost.service gives it
(Environment=GLIBC_TUNABLES=...; --no-unit-env leaves them out, for an A/B).
Exit status 1 when a criterion fails, 2 when the pipeline could not be brought up.

  python3 bench/soak/run.py [--outpost build/default/agent/outpost] [--seconds 3600] [--rate 800]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "pylib"))
import outpost_testlib as tl  # noqa: E402

ERROR_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+Z error ")
UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "systemd", "outpost.service")
MIRRORS = [  # (stream, topic, delivery)
    ("readings", "soak.readings", "at_least_once"),
    ("readings.dead", "soak.dead", "at_least_once"),
    ("machines", "soak.machines", "at_least_once"),
    ("temp_10s", "soak.temp_10s", "exactly_once"),
    ("machine_runs", "soak.machine_runs", "exactly_once"),
]


def unit_malloc_environment():
    """The allocator settings the shipped systemd unit gives the daemon (Environment=GLIBC_TUNABLES=...),
    so that the soak measures the daemon as it is deployed."""
    env = {}
    for ln in open(UNIT):
        m = re.match(r"^Environment=(GLIBC_TUNABLES)=(\S+)\s*$", ln)
        if m:
            env[m.group(1)] = m.group(2)
    return env


def log(msg):
    print(f"soak: {time.strftime('%H:%M:%S', time.gmtime())} {msg}", file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj), flush=True)


def proc_sample(pid):
    """(RSS KiB, open fds, cpu seconds, {RssAnon, RssFile} KiB) of a process. RssFile is mapped
    file pages (the binary, libraries, mapped log segments), RssAnon the heap and stacks: a leak
    shows in RssAnon."""
    rss = 0
    parts = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith(("RssAnon:", "RssFile:")):
                parts[line.split(":")[0]] = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, fds, cpu, parts


def status(http_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1/status", timeout=10) as r:
        return json.load(r)


def last_seqs(st):
    """Last sequence number of each stream, dead-letter streams included."""
    out = {}
    for s in st["streams"]:
        out[s["name"]] = s["last_seq"]
        if s.get("dead_letter_stream"):
            out[s["dead_letter_stream"]] = s.get("dead_letter_records", 0)
    return out


def local_total(seqs):
    return sum(seqs.get(n, 0) for n in ("readings", "machines", "readings.dead", "machines.dead"))


SEQ_HEADER = re.compile(r"outpost-seq=(\d+)")


class CentralReader:
    """An independent consumer (kcat) following one central topic for the whole run and marking
    the distinct outpost sequence numbers it sees (a resend after an outage carries the same one).
    It reads while the run goes on because the stand-in central (librdkafka's mock cluster)
    keeps only the last 100,000 message sets or 5 MiB per partition: read at the end, an hour's
    topic looks like loss."""

    def __init__(self, kafka, topic, committed):
        cmd = ["kcat", "-b", kafka, "-C", "-t", topic, "-o", "beginning", "-q", "-u", "-f", "%h\n"]
        if committed:
            cmd += ["-X", "isolation.level=read_committed"]
        self.proc = tl.start(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.seen = bytearray(1 << 16)
        self.count = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            m = SEQ_HEADER.search(line)
            if not m:
                continue
            seq = int(m.group(1))
            if seq >= len(self.seen):
                self.seen.extend(bytearray(max(seq + 1 - len(self.seen), len(self.seen))))
            if not self.seen[seq]:
                self.seen[seq] = 1
                self.count += 1

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def growth(values_first, values_last):
    a, b = statistics.median(values_first), statistics.median(values_last)
    return a, b, (b - a) / a if a else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outpost", default="build/default/agent/outpost")
    ap.add_argument("--seconds", type=float, default=3600, help="how long the simulators publish")
    ap.add_argument("--rate", type=float, default=800, help="messages per second, both fleets together")
    ap.add_argument("--interval", type=float, default=5, help="seconds between samples")
    ap.add_argument("--warmup-fraction", type=float, default=0.1)
    ap.add_argument("--window-fraction", type=float, default=0.1)
    ap.add_argument("--max-growth", type=float, default=0.05)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--stall-at", type=float, default=None,
                    help="freeze the daemon (SIGSTOP) this many seconds into the run: a burst to catch up on")
    ap.add_argument("--stall-seconds", type=float, default=20, help="how long the freeze lasts")
    ap.add_argument("--no-unit-env", action="store_true",
                    help="run the daemon without the allocator settings of systemd/outpost.service (GLIBC_TUNABLES)")
    args = ap.parse_args()
    outpost = os.path.abspath(args.outpost)
    for tool in ("mosquitto", "kcat"):
        if not shutil.which(tool):
            emit({"bench": "soak", "error": f"{tool} not found (apt-get install mosquitto kcat)"})
            return 2
    tmp = tempfile.mkdtemp(prefix="outpost-soak-")
    log(f"work directory {tmp}")
    try:
        return run(args, outpost, tmp)
    finally:
        tl.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, outpost, tmp):
    def fail_setup(what):
        emit({"bench": "soak", "error": what})
        return 2

    # Broker.
    mqtt_port = tl.free_port()
    with open(os.path.join(tmp, "mosquitto.conf"), "w") as f:
        f.write(f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 0\n")
    tl.start(["mosquitto", "-c", os.path.join(tmp, "mosquitto.conf")],
             stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "mosquitto.log"), "w"))
    if not tl.wait_until("mosquitto", 20, lambda: socket.create_connection(("127.0.0.1", mqtt_port), 1).close() or True):
        return fail_setup("mosquitto did not start")

    # Stand-in central.
    bootstrap = os.path.join(tmp, "bootstrap")
    tl.start([outpost, "dev-central", "--no-stdin", "--bootstrap-file", bootstrap],
             stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "central.log"), "w"))
    if not tl.wait_until("dev-central", 20, lambda: os.path.getsize(bootstrap) > 0):
        return fail_setup("outpost dev-central did not start")
    kafka = open(bootstrap).read().strip()

    # The daemon: two MQTT streams, a tumble and a session query, everything mirrored.
    http_port = tl.free_port()
    data = os.path.join(tmp, "data")
    stream_yaml = tl.READINGS_STREAM_YAML.split("\n", 1)[1]  # without the "streams:" line
    mirrors = "".join(f"    - {{name: m{i}, stream: {s}, topic: {t}, delivery: {d}}}\n"
                      for i, (s, t, d) in enumerate(MIRRORS))
    config = os.path.join(tmp, "outpost.yaml")
    with open(config, "w") as f:
        f.write(f"""agent:
  id: soak
  data_dir: {data}
  http: {{listen: "127.0.0.1:{http_port}"}}
storage:
  flush: {{interval: 200ms}}
  quota: 2GiB
sources:
  - name: site-broker
    type: mqtt
    broker: tcp://127.0.0.1:{mqtt_port}
    client_id: outpost-soak
    subscriptions:
      - {{topic: "sensors/#", qos: 1, stream: readings}}
      - {{topic: "machines/#", qos: 1, stream: machines}}
streams:
{stream_yaml}{stream_yaml.replace("name: readings", "name: machines")}
queries:
  - name: temp_10s
    sql: >
      SELECT window_start, window_end, device, count() AS n, avg(temp) AS avg_temp,
             max(temp) AS max_temp, p99(temp) AS p99_temp
      FROM tumble(readings, ts, 10s)
      GROUP BY window_start, window_end, device
      EMIT AFTER WATERMARK AND DELAY 2s
    start: earliest
    idle_timeout: 5s
  - name: machine_runs
    sql: >
      SELECT window_start, window_end, device, count() AS n, avg(temp) AS avg_temp
      FROM session(machines, ts, 1s)
      GROUP BY window_start, window_end, device
    start: earliest
    idle_timeout: 5s
central:
  brokers: {kafka}
  compression: zstd
  mirrors:
{mirrors}""")
    readers = {stream: CentralReader(kafka, topic, delivery == "exactly_once") for stream, topic, delivery in MIRRORS}
    daemon_log = os.path.join(tmp, "outpost.log")
    daemon_env = {} if args.no_unit_env else unit_malloc_environment()
    log(f"daemon environment from systemd/outpost.service: {daemon_env or 'none'}")
    daemon = tl.start([outpost, "run", "--config", config], stdout=subprocess.DEVNULL,
                      stderr=open(daemon_log, "w"), env={**os.environ, **daemon_env})
    if not tl.wait_until("outpost run connected", 60,
                         lambda: status(http_port)["sources"][0]["state"] == "connected"):
        return fail_setup("outpost run did not connect; see " + daemon_log)

    # Two fleets at a steady rate whose event time keeps pace with the wall clock:
    #  sensors: 40 devices, no pauses; a 10% share of late readings would be noise, 1% is a
    #           flaky radio; the tumble query sees them as late (15 s back, past its 2 s delay).
    #  machines: 10 devices that run and pause (3 s of event time) like pumps: one session per
    #           run in the session query (gap 1 s).
    r_sensors, r_machines = args.rate * 0.8, args.rate * 0.2
    d_sensors, d_machines, pause = 40, 10, 3000
    period_sensors = max(1, round(d_sensors * 1000 / r_sensors))
    run_len = max(20, -(-2 * r_machines * pause // (d_machines * 1000)))
    x = r_machines * pause / (d_machines * run_len)
    period_machines = max(1, round((1000 - x) * d_machines / r_machines))
    sims = []
    for prefix, rate, devices, period, extra, seed in (
            ("sensors", r_sensors, d_sensors, period_sensors,
             ["--pause-ms", "0", "--late-fraction", "0.01", "--late-ms", "15000", "--garbage-fraction", "0.001"], 1),
            ("machines", r_machines, d_machines, period_machines,
             ["--run-length", str(int(run_len)), "--pause-ms", str(pause), "--late-fraction", "0.01",
              "--late-ms", "5000"], 2)):
        out = open(os.path.join(tmp, f"sim-{prefix}.json"), "w")
        sims.append((prefix, tl.start(
            [outpost, "simulate", "--broker", f"tcp://127.0.0.1:{mqtt_port}", "--topic-prefix", prefix,
             "--client-id", f"soak-{prefix}", "--devices", str(devices), "--rate", str(rate), "--count", "0",
             "--qos", "1", "--period-ms", str(period), "--seed", str(seed)] + extra,
            stdout=out, stderr=open(os.path.join(tmp, f"sim-{prefix}.log"), "w"))))
    log(f"publishing {args.rate:g} msgs/s for {args.seconds:g} s (sensors every {period_sensors} ms per device; "
        f"machines {int(run_len)} readings every {period_machines} ms, then {pause} ms pause)")

    # Sampling.
    samples = []
    t0 = time.monotonic()
    end = t0 + args.seconds
    next_at = t0
    reported = set()
    stall_state = "before"
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if daemon.poll() is not None:
            break
        for prefix, p in sims:
            if p.poll() is not None and prefix not in reported:
                reported.add(prefix)
                log(f"simulator {prefix} exited {p.returncode} early: "
                    + open(os.path.join(tmp, f"sim-{prefix}.log")).read().strip()[-300:])
        if args.stall_at is not None and stall_state == "before" and now - t0 >= args.stall_at:
            os.kill(daemon.pid, signal.SIGSTOP)  # MQTT and the mirrors back up meanwhile
            stall_state = "frozen"
            log(f"daemon frozen for {args.stall_seconds:g} s")
        if stall_state == "frozen" and now - t0 >= args.stall_at + args.stall_seconds:
            os.kill(daemon.pid, signal.SIGCONT)
            stall_state = "after"
            log("daemon thawed: catching up")
        if now >= next_at and stall_state != "frozen":
            try:
                rss, fds, cpu, parts = proc_sample(daemon.pid)
                st = status(http_port)
                seqs = last_seqs(st)
                ingested = local_total(seqs)
                backlog = sum(m["backlog_records"] for m in st["mirrors"])
                s = {"bench": "soak_sample", "t_s": round(now - t0, 1), "rss_kib": rss,
                     "rss_anon_kib": parts.get("RssAnon"), "rss_file_kib": parts.get("RssFile"), "fds": fds,
                     "cpu_s": round(cpu, 2), "ingested": ingested, "mirror_backlog": backlog,
                     "query_lag": sum(q["lag_records"] for q in st["queries"]),
                     "late_events": sum(q["late_events"] for q in st["queries"]),
                     "loadavg": float(open("/proc/loadavg").read().split()[0])}
                samples.append(s)
                emit(s)
            except Exception as e:  # a sample missed (the status call timed out on a loaded box)
                log(f"sample missed: {e}")
            next_at += args.interval
        time.sleep(min(0.5, max(0.0, min(end, next_at) - time.monotonic())))

    daemon_died = daemon.poll() is not None
    # Stop the fleets: each waits for its in-flight acknowledgements and prints what it sent.
    sent = 0
    late_sent = 0
    for prefix, p in sims:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
        try:
            summary = json.loads(open(os.path.join(tmp, f"sim-{prefix}.json")).read().strip().splitlines()[-1])
            sent += summary["sent"]
            late_sent += summary["late"]
        except (ValueError, IndexError, KeyError):
            log(f"simulator {prefix} printed no summary (exit {p.returncode})")
            sent = None
            break
    elapsed = time.monotonic() - t0
    log(f"published for {elapsed:.0f} s; {sent} acknowledged messages; draining")

    verdicts = {}
    failures = []

    def judge(name, ok, detail):
        verdicts[name] = {"ok": bool(ok), **detail}
        if not ok:
            failures.append(name)

    commit = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    summary = {"bench": "soak", "commit": commit or None, "seconds": round(elapsed), "rate_target": args.rate, "sent": sent,
               "late_sent": late_sent, "samples": len(samples), "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "loadavg_end": open("/proc/loadavg").read().split()[:3], "daemon_env": daemon_env}
    if args.stall_at is not None:
        summary["stall"] = {"at_s": args.stall_at, "seconds": args.stall_seconds}
    if daemon_died:
        judge("daemon_alive", False, {"exit": daemon.returncode})
    else:
        # Drain: the local log holds everything acknowledged, the mirrors have no backlog.
        def local_complete():
            return sent is not None and local_total(last_seqs(status(http_port))) >= sent
        if sent is not None:
            tl.wait_until("the local log to hold every acknowledged message", 120, local_complete, interval=1)

        def drained():
            st = status(http_port)
            return all(m["backlog_records"] == 0 and m["in_flight"] == 0 for m in st["mirrors"]) and \
                all(q["lag_records"] == 0 for q in st["queries"])
        tl.wait_until("the mirrors and queries to drain", 600, drained, interval=1)
        st = status(http_port)
        seqs = last_seqs(st)
        local = local_total(seqs)
        judge("no_local_loss", sent is not None and local == sent,
              {"acknowledged": sent, "in_local_log": local, "dead_letters": seqs.get("readings.dead", 0)})
        tl.wait_until("the central readers to see every record", 120,
                      lambda: all(readers[n].count >= seqs.get(n, 0) for n in readers), interval=1)
        central = {n: {"local": seqs.get(n, 0), "central": r.count} for n, r in readers.items()}
        judge("no_central_loss", all(c["local"] == c["central"] for c in central.values()), {"streams": central})
        summary["query_rows"] = {q["name"]: q["rows_emitted"] for q in st["queries"]}
        summary["late_events"] = {q["name"]: q["late_events"] for q in st["queries"]}
        summary["source_reconnects"] = sum(s["reconnects"] for s in st["sources"])

    # Flatness after the warm-up.
    post = [s for s in samples if s["t_s"] >= args.warmup_fraction * args.seconds]
    win = max(1, int(len(samples) * args.window_fraction))
    if len(post) >= 2 * win and len(post) >= 4:
        first, last = post[:win], post[-win:]
        for key, slack in (("rss_kib", 0), ("fds", 1)):
            a, b, g = growth([s[key] for s in first], [s[key] for s in last])
            ma, mb = max(s[key] for s in first), max(s[key] for s in last)
            gmax = (mb - ma) / ma if ma else 0.0
            ok = g < args.max_growth and (gmax < args.max_growth or mb - ma <= slack)
            judge(f"{key}_flat", ok, {"first_window_median": a, "last_window_median": b, "median_growth": round(g, 4),
                                      "first_window_max": ma, "last_window_max": mb, "max_growth": round(gmax, 4),
                                      "overall_max": max(s[key] for s in post), "window_samples": win})
        cpu = post[-1]["cpu_s"] - post[0]["cpu_s"]
        events = post[-1]["ingested"] - post[0]["ingested"]
        summary["cpu_us_per_event"] = round(cpu * 1e6 / events, 2) if events > 0 else None
        summary["events_per_s"] = round(events / (post[-1]["t_s"] - post[0]["t_s"]), 1)
    else:
        judge("enough_samples", False, {"post_warmup": len(post), "window": win})

    # Error-level lines in the daemon's log (stopped first, so its shutdown is included).
    if not daemon_died:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        judge("clean_exit", daemon.wait() == 0, {"exit": daemon.returncode})
    lines = open(daemon_log, errors="replace").read().splitlines()
    errors = [ln for ln in lines if ERROR_LINE.match(ln)]
    warnings = [ln.rstrip() for ln in lines if " warning " in ln]
    judge("no_error_logs", not errors, {"error_lines": len(errors), "first": errors[:5],
                                        "warn_lines": len(warnings), "first_warnings": warnings[:5]})
    summary["verdicts"] = verdicts
    summary["failed"] = failures
    summary["pass"] = not failures
    emit(summary)
    log("PASS" if not failures else "FAIL: " + ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
