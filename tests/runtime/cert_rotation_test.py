#!/usr/bin/env python3
"""SIGHUP picks up a client certificate replaced in place (same paths, new content), as certbot,
step-ca and AWS IoT rotation do it, against a mosquitto that requires mutual TLS:

- the MQTT source reconnects with the new certificate (the broker sees the new identity), the
  daemon logs that the content of tls.cert_file and tls.key_file changed, and no reading is lost;
- central's mirrors, configured with the same files, restart for the same reason;
- a rotation that cannot work (garbage certificate, key that does not match, missing key file)
  is reported naming the file and the source (or central), and the running connection is kept:
  readings keep arriving over it;
- files restored to the content the source runs with reconnect nothing;
- a password_file rotated in place reconnects its source, and only that one;
- once the broker trusts only the new CA (the old certificate refused), the source reconnects
  with the new files.

Paho reads the certificate files on every connect, so a reconnect of its own (after a broker
restart) would pick up new files without any reload. This test therefore never drops the
connection before the reload it checks: the only way the broker can see the new identity is the
daemon reconnecting because the content changed."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from outpost_testlib import check, failures, free_port, http_get, run_in_tmpdir, start, wait_until  # noqa: E402

OUTPOST = os.environ["OUTPOST_BIN"]
CLIENT_ID = "outpost-certs-it"


def sh(*args):
    subprocess.run(args, check=True, capture_output=True)


def make_ca(d, name):
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
       "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.pem")


def make_cert(d, name, ca, ext):
    """A key pair and a certificate with CN=name signed by ca: {d}/{name}.pem and .key."""
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
       "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr")
    with open(f"{d}/{name}.ext", "w") as f:
        f.write(ext + "\n")
    sh("openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{ca}.pem", "-CAkey", f"{d}/{ca}.key",
       "-CAcreateserial", "-days", "2", "-extfile", f"{d}/{name}.ext", "-out", f"{d}/{name}.pem")


def make_certs(d):
    make_ca(d, "ca1")
    make_ca(d, "ca2")
    make_cert(d, "server", "ca1", "subjectAltName=IP:127.0.0.1")
    # The daemon's certificate before (A, from CA1) and after (B, from CA2) the rotation.
    make_cert(d, "outpost-a", "ca1", "extendedKeyUsage=clientAuth")
    make_cert(d, "outpost-b", "ca2", "extendedKeyUsage=clientAuth")
    make_cert(d, "publisher", "ca2", "extendedKeyUsage=clientAuth")
    with open(f"{d}/both-cas.pem", "w") as f:
        f.write(open(f"{d}/ca1.pem").read() + open(f"{d}/ca2.pem").read())


def replace_in_place(path, content):
    """Rewrites the file at path (same inode, same path), as a renewal hook copying over it does."""
    with open(path, "w") as f:
        f.write(content)


class TlsBroker:
    """mosquitto requiring a client certificate from the CAs in cafile; use_identity_as_username
    makes its log name the certificate a client connected with (u'<CN>')."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.port = free_port()
        self.log = f"{tmp}/mosquitto.log"
        self.proc = None
        os.makedirs(f"{tmp}/mq", exist_ok=True)

    def start(self, cafile):
        with open(f"{self.tmp}/mosquitto.conf", "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\ncafile {cafile}\ncertfile {self.tmp}/server.pem\n"
                    f"keyfile {self.tmp}/server.key\nrequire_certificate true\nuse_identity_as_username true\n"
                    f"persistence true\npersistence_location {self.tmp}/mq/\nmax_inflight_messages 100\n"
                    f"log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
                    # As root, mosquitto drops to its own user, which cannot read the test's files.
                    + ("user root\n" if os.geteuid() == 0 else ""))
        self.proc = start(["mosquitto", "-c", f"{self.tmp}/mosquitto.conf"], stdout=subprocess.DEVNULL,
                          stderr=open(self.log, "a"))
        return wait_until("mosquitto (mTLS) to listen", 20,
                          lambda: socket.create_connection(("127.0.0.1", self.port), 1).close() or True)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def connections_as(self, identity):
        """How many times the daemon's client connected with the certificate whose CN is identity."""
        text = open(self.log, errors="replace").read()
        return len(re.findall(rf"New client connected from \S+ as {CLIENT_ID} \([^)]*u'{identity}'", text))


class PasswordBroker:
    """mosquitto on plain TCP that wants a user name and password (mosquitto_passwd file);
    SIGHUP makes it re-read the password file."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.port = free_port()
        self.log = f"{tmp}/mosquitto-password.log"
        self.passwd = f"{tmp}/mosquitto.passwd"
        self.proc = None

    def set_password(self, user, password):
        sh("mosquitto_passwd", *([] if os.path.exists(self.passwd) else ["-c"]), "-b", self.passwd, user, password)

    def start(self):
        with open(f"{self.tmp}/mosquitto-password.conf", "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous false\npassword_file {self.passwd}\n"
                    f"log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
                    + ("user root\n" if os.geteuid() == 0 else ""))
        self.proc = start(["mosquitto", "-c", f"{self.tmp}/mosquitto-password.conf"], stdout=subprocess.DEVNULL,
                          stderr=open(self.log, "a"))
        return wait_until("mosquitto (passwords) to listen", 20,
                          lambda: socket.create_connection(("127.0.0.1", self.port), 1).close() or True)

    def connections(self):
        """How many times the daemon's second client connected (with a password it accepted)."""
        text = open(self.log, errors="replace").read()
        return len(re.findall(rf"New client connected from \S+ as {CLIENT_ID}-pw \([^)]*u'outpost'", text))


def publish(tmp, port, first, n, password_broker=False):
    lines = "\n".join(json.dumps({"device": "d", "n": i}) for i in range(first, first + n)) + "\n"
    if password_broker:
        how = ["-u", "publisher", "-P", "publisher-password", "-t", "plain/a"]
    else:
        how = ["--cafile", f"{tmp}/ca1.pem", "--cert", f"{tmp}/publisher.pem", "--key", f"{tmp}/publisher.key",
               "-t", "secure/a"]
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-l"] + how,
                       input=lines.encode(), capture_output=True, timeout=60)
    check(r.returncode == 0, f"published readings {first}..{first + n - 1} (QoS 1): " + r.stderr.decode())


def stored_ns(data):
    r = subprocess.run([OUTPOST, "log", "cat", "--data-dir", data, "--stream", "readings"], capture_output=True)
    ns = []
    for line in r.stdout.decode().splitlines():
        payload = json.loads(line)["payload"]
        ns.append((json.loads(payload) if isinstance(payload, str) else payload)["n"])
    return ns


def all_stored(data, upto):
    return set(range(upto)) <= set(stored_ns(data))


def main(tmp):
    make_certs(tmp)
    broker = TlsBroker(tmp)
    broker.start(f"{tmp}/both-cas.pem")
    pw_broker = PasswordBroker(tmp)
    pw_broker.set_password("outpost", "first-password")
    pw_broker.set_password("publisher", "publisher-password")
    pw_broker.start()
    replace_in_place(f"{tmp}/mqtt-password", "first-password\n")

    # The daemon's certificate and key: fixed paths whose content the test rotates.
    shutil.copy(f"{tmp}/outpost-a.pem", f"{tmp}/client.pem")
    shutil.copy(f"{tmp}/outpost-a.key", f"{tmp}/client.key")
    http_port = free_port()
    data = f"{tmp}/data"
    with open(f"{tmp}/outpost.yaml", "w") as f:
        f.write(f"""agent: {{id: certs-it, data_dir: {data}, http: {{listen: "127.0.0.1:{http_port}"}}}}
sources:
  - name: secure
    type: mqtt
    broker: ssl://127.0.0.1:{broker.port}
    client_id: {CLIENT_ID}
    reconnect: {{min: 200ms, max: 1s}}
    tls: {{ca_file: {tmp}/ca1.pem, cert_file: {tmp}/client.pem, key_file: {tmp}/client.key}}
    subscriptions: [{{topic: "secure/#", qos: 1, stream: readings}}]
  - name: plain
    type: mqtt
    broker: tcp://127.0.0.1:{pw_broker.port}
    client_id: {CLIENT_ID}-pw
    username: outpost
    password_file: {tmp}/mqtt-password
    reconnect: {{min: 200ms, max: 1s}}
    subscriptions: [{{topic: "plain/#", qos: 1, stream: readings}}]
streams: [{{name: readings, format: json, key_field: device}}]
# Central over TLS with the same client files. Nothing listens there: the mirror stays offline,
# which is enough to see what a reload does with central's credentials.
central:
  brokers: 127.0.0.1:{free_port()}
  security_protocol: ssl
  tls: {{ca_file: {tmp}/ca1.pem, cert_file: {tmp}/client.pem, key_file: {tmp}/client.key}}
  mirrors: [{{stream: readings, topic: readings}}]
""")
    run_log = f"{tmp}/run.log"
    daemon = start([OUTPOST, "run", "--config", f"{tmp}/outpost.yaml"], stdout=subprocess.DEVNULL,
                   stderr=open(run_log, "w"))

    def log_text():
        return open(run_log, errors="replace").read()

    def reloads_done():
        return log_text().count("reloaded: applied") + log_text().count("reload rejected")

    def reload(what):
        """SIGHUP, then waits until the daemon has logged the outcome of this reload."""
        before = reloads_done()
        daemon.send_signal(signal.SIGHUP)
        return wait_until(f"the reload ({what}) to finish", 30, lambda: reloads_done() > before)

    def connected(source=0):
        status = json.loads(http_get(http_port, "/v1/status")[1])
        return status["sources"][source]["state"] == "connected"

    published = 0

    def publish_and_wait(n, what, password_broker=False):
        nonlocal published
        publish(tmp, pw_broker.port if password_broker else broker.port, published, n, password_broker)
        published += n
        ok = wait_until(f"{what}: readings 0..{published - 1} stored", 60, lambda: all_stored(data, published))
        check(bool(ok), f"{what}: every reading published so far is stored")

    # 1. Certificate A.
    check(bool(wait_until("the first TLS connection", 30,
                          lambda: connected() and broker.connections_as("outpost-a") == 1)),
          "outpost connects with certificate A (CA1)")
    publish_and_wait(100, "with certificate A")

    # 2. Rotation in place: same paths, certificate B from CA2. Nothing drops the connection, so
    # only the reload can make the daemon present B.
    replace_in_place(f"{tmp}/client.pem", open(f"{tmp}/outpost-b.pem").read())
    replace_in_place(f"{tmp}/client.key", open(f"{tmp}/outpost-b.key").read())
    reload("rotated certificate")
    check(f"mqtt source 'secure' reconnects: the content of tls.cert_file {tmp}/client.pem, tls.key_file "
          f"{tmp}/client.key changed" in log_text(),
          "the daemon logs that the source reconnects because the certificate and key content changed")
    check(f"central mirrors reconnect: the content of tls.cert_file {tmp}/client.pem, tls.key_file "
          f"{tmp}/client.key changed" in log_text() and
          "reloaded: applied mqtt source 'secure' (new certificate or credentials), central mirrors" in log_text(),
          "... and so do central's mirrors, which use the same files")
    check(bool(wait_until("a connection with certificate B", 30, lambda: broker.connections_as("outpost-b") == 1)),
          "after SIGHUP the broker sees the daemon connect with certificate B")
    wait_until("the source connected again", 30, connected)
    publish_and_wait(100, "with certificate B")

    # 3. Rotations that cannot work keep the running connection.
    connections_b = broker.connections_as("outpost-b")
    replace_in_place(f"{tmp}/client.pem", "this is not a certificate\n")
    reload("garbage certificate")
    text = log_text()
    check(f"reload: mqtt source 'secure': tls.cert_file {tmp}/client.pem: holds no PEM certificate" in text,
          "a garbage certificate is reported, naming the source and the file")
    check("mqtt source 'secure' keeps its running connection; fix the file and reload again" in text,
          "... and the source is said to keep its running connection")
    check(f"reload: central: tls.cert_file {tmp}/client.pem: holds no PEM certificate" in text and
          "central mirrors keep running with the files they loaded; fix the file and reload again" in text,
          "... and central's mirrors keep theirs, saying so")
    publish_and_wait(50, "after a reload with a garbage certificate")

    replace_in_place(f"{tmp}/client.pem", open(f"{tmp}/outpost-b.pem").read())
    replace_in_place(f"{tmp}/client.key", open(f"{tmp}/outpost-a.key").read())
    reload("key of another certificate")
    check(f"reload: mqtt source 'secure': tls.key_file {tmp}/client.key: does not match the certificate in "
          f"tls.cert_file {tmp}/client.pem" in log_text(),
          "a key that does not match the certificate is reported, naming the source and both files")
    publish_and_wait(50, "after a reload with a mismatched key")

    os.unlink(f"{tmp}/client.key")
    reload("missing key file")
    text = log_text()
    check("reload rejected, keeping the running config" in text and
          f"sources[0].tls.key_file: cannot read {tmp}/client.key" in text,
          "a missing key file rejects the reload, naming the file and the source's key")
    publish_and_wait(50, "after a reload with a missing key file")
    check(broker.connections_as("outpost-b") == connections_b and broker.connections_as("outpost-a") == 1,
          "none of the unusable rotations made the daemon reconnect")

    # 4. The files back to what the source runs with: nothing to reconnect.
    replace_in_place(f"{tmp}/client.key", open(f"{tmp}/outpost-b.key").read())
    reloaded_nothing = log_text().count("reloaded: applied nothing")
    reload("files restored")
    check(log_text().count("reloaded: applied nothing") == reloaded_nothing + 1,
          "content equal to the running one reconnects nothing")

    # 5. A password rotated in place (the broker's and the daemon's password_file): only that
    # source reconnects.
    check(bool(wait_until("the password source connected", 30, lambda: connected(1) and pw_broker.connections() == 1)),
          "the second source connects with its first password")
    publish_and_wait(50, "with the first password", password_broker=True)
    pw_broker.set_password("outpost", "second-password")
    pw_broker.proc.send_signal(signal.SIGHUP)
    replace_in_place(f"{tmp}/mqtt-password", "second-password\n")
    reload("rotated password")
    check(f"mqtt source 'plain' reconnects: the content of password (file {tmp}/mqtt-password) changed" in log_text(),
          "the daemon logs that the second source reconnects because its password file changed")
    check(bool(wait_until("a connection with the second password", 30,
                          lambda: pw_broker.connections() == 2 and connected(1))),
          "the second source reconnects with the new password")
    check(broker.connections_as("outpost-b") == connections_b, "the TLS source is left alone")
    publish_and_wait(50, "with the second password", password_broker=True)

    # 6. The broker stops trusting CA1: certificate A is refused, the daemon comes back with B.
    broker.stop()
    broker.start(f"{tmp}/ca2.pem")
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "--cafile", f"{tmp}/ca1.pem",
                        "--cert", f"{tmp}/outpost-a.pem", "--key", f"{tmp}/outpost-a.key", "-q", "1",
                        "-t", "secure/a", "-m", "{}"], capture_output=True, timeout=30)
    check(r.returncode != 0, "the broker now refuses certificate A")
    check(bool(wait_until("a reconnection with certificate B", 30,
                          lambda: broker.connections_as("outpost-b") == connections_b + 1)),
          "the daemon reconnects with certificate B once CA1 is no longer trusted")
    wait_until("the source connected again", 30, connected)
    publish_and_wait(100, "after the broker dropped CA1")

    ns = stored_ns(data)
    check(set(ns) == set(range(published)) and len(ns) >= published,
          f"QoS 1 across the rotation: all {published} readings stored at least once ({len(ns)} records, "
          f"{len(ns) - len(set(ns))} duplicates)")

    daemon.send_signal(signal.SIGTERM)
    check(daemon.wait(timeout=60) == 0, "clean shutdown")
    if failures:
        print("daemon log (end):\n" + log_text()[-4000:], flush=True)
        print("mosquitto log (end):\n" + open(broker.log, errors="replace").read()[-3000:], flush=True)
        print("password mosquitto log (end):\n" + open(pw_broker.log, errors="replace").read()[-2000:], flush=True)


sys.exit(run_in_tmpdir("outpost-certs-it-", main))
