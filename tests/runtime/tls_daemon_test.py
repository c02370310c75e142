#!/usr/bin/env python3
"""`outpost run` against a mosquitto that requires mutual TLS, with certificates this test
makes with openssl: QoS 2 readings arrive exactly once; a config with the wrong CA is reported
unhealthy with the TLS problem named."""
import json
import os
import signal
import subprocess
import sys
import socket
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import check, free_port, run_in_tmpdir, start, wait_until  # noqa: E402

OUTPOST = os.environ["OUTPOST_BIN"]


def sh(*args):
    subprocess.run(args, check=True, capture_output=True)


def make_certs(d):
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=outpost-test-ca",
       "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem")
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other-ca",
       "-keyout", f"{d}/other.key", "-out", f"{d}/other.pem")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
           "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr")
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(ext + "\n")
        sh("openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
           "-CAcreateserial", "-days", "2", "-extfile", f"{d}/{name}.ext", "-out", f"{d}/{name}.pem")


def http_json(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def count(data, stream):
    r = subprocess.run([OUTPOST, "log", "stat", "--data-dir", data, "--json"], capture_output=True)
    return next((s["records"] for s in json.loads(r.stdout or b"[]") if s["stream"] == stream), 0)


def config(path, tmp, port, http_port, ca, data):
    with open(path, "w") as f:
        f.write(f"""agent: {{id: tls-it, data_dir: {data}, http: {{listen: "127.0.0.1:{http_port}"}}}}
sources:
  - name: secure
    type: mqtt
    broker: ssl://127.0.0.1:{port}
    client_id: outpost-tls-it
    reconnect: {{min: 200ms, max: 1s}}
    tls: {{ca_file: {ca}, cert_file: {tmp}/client.pem, key_file: {tmp}/client.key}}
    subscriptions: [{{topic: "secure/#", qos: 2, stream: readings}}]
streams: [{{name: readings, format: json, key_field: device}}]
""")


def main(tmp):
    make_certs(tmp)
    port = free_port()
    with open(f"{tmp}/mosquitto.conf", "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\ncafile {tmp}/ca.pem\ncertfile {tmp}/server.pem\n"
                f"keyfile {tmp}/server.key\nrequire_certificate true\nmax_inflight_messages 100\n"
                # As root, mosquitto drops to its own user, which cannot read the test's files.
                + ("user root\n" if os.geteuid() == 0 else ""))
    start(["mosquitto", "-c", f"{tmp}/mosquitto.conf"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until("mosquitto (TLS)", 20, lambda: socket.create_connection(("127.0.0.1", port), 1).close() or True)

    http_port = free_port()
    config(f"{tmp}/good.yaml", tmp, port, http_port, f"{tmp}/ca.pem", f"{tmp}/data")
    daemon = start([OUTPOST, "run", "--config", f"{tmp}/good.yaml"], stdout=subprocess.DEVNULL,
                   stderr=open(f"{tmp}/run.log", "w"))
    ok = wait_until("a TLS connection", 30, lambda: http_json(http_port, "/v1/status")[1]["sources"][0]["state"] == "connected")
    check(bool(ok), "outpost connects to a broker that requires a client certificate")
    lines = "\n".join(json.dumps({"device": "d", "n": i}) for i in range(300)) + "\n"
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "--cafile", f"{tmp}/ca.pem",
                        "--cert", f"{tmp}/client.pem", "--key", f"{tmp}/client.key", "-q", "2", "-t", "secure/a", "-l"],
                       input=lines.encode(), capture_output=True, timeout=60)
    check(r.returncode == 0, "published 300 QoS 2 readings over TLS: " + r.stderr.decode())
    wait_until("300 readings", 30, lambda: count(f"{tmp}/data", "readings") >= 300)
    check(count(f"{tmp}/data", "readings") == 300, "QoS 2 over mutual TLS: every reading exactly once")
    daemon.send_signal(signal.SIGTERM)
    check(daemon.wait(timeout=60) == 0, "clean shutdown")

    http_port = free_port()
    config(f"{tmp}/bad.yaml", tmp, port, http_port, f"{tmp}/other.pem", f"{tmp}/data2")
    start([OUTPOST, "run", "--config", f"{tmp}/bad.yaml"], stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/run2.log", "w"))
    def tls_problem():
        code, body = http_json(http_port, "/healthz")
        text = json.dumps(body)
        return code == 503 and ("certificate" in text or "SSL" in text or "TLS" in text) and text
    detail = wait_until("503 naming the TLS problem", 60, tls_problem) or ""
    if not detail:
        print("daemon log:\n" + open(f"{tmp}/run2.log").read()[-3000:], flush=True)
    check("mqtt:secure" in detail and ("certificate" in detail or "SSL" in detail or "TLS" in detail),
          "the wrong CA makes /healthz 503, naming the source and the TLS problem: " + detail[:300])


sys.exit(run_in_tmpdir("outpost-tls-it-", main))
