"""Runs a real twostepd on a loopback port with its own temporary database,
and speaks protocol v1 to it as a host (HMAC) and as devices
(tests/device/twostep_device.py). Used by the relay's protocol tests.

    with Relay(twostepd) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        cid = host.create("alice", [dev])
        dev.deny(cid)
"""

import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "device"))
import twostep_device as td  # noqa: E402

ORIGIN = "https://approve.test"


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def error(self):
        return self.json.get("error") if isinstance(self.json, dict) else None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.raw[:200])


class Relay:
    """One twostepd process, restartable on the same database."""

    def __init__(self, binary, config_lines=(), keep_dir=None):
        self.binary = binary
        self.dir = keep_dir or tempfile.mkdtemp(prefix="twostepd-test-")
        self.db = os.path.join(self.dir, "relay.db")
        if os.environ.get("TWOSTEP_PG_URL"):  # under with_postgres.py: the same tests on PostgreSQL
            import pg_database
            self.db = pg_database.fresh_database(os.environ["TWOSTEP_PG_URL"])
        self.config = os.path.join(self.dir, "twostepd.conf")
        with open(self.config, "w") as f:
            f.write("approver_origin = %s\n" % ORIGIN)
            for line in config_lines:
                f.write(line + "\n")
        self.proc = None
        self.port = None
        self.log = os.path.join(self.dir, "twostepd.log")

    # -- process --

    def start(self, port=0):
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(
            [self.binary, "--config", self.config, "--db", self.db, "serve",
             "--listen", "127.0.0.1:%d" % port],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open(self.log) as f:
                found = re.findall(r"listening on 127\.0\.0\.1:(\d+)", f.read())
            if found and self.proc.poll() is None:
                # The newest line is this process's (restarts append).
                self.port = int(found[-1])
                if self._ready():
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError("twostepd exited: %s" % self.read_log())
            time.sleep(0.02)
        raise RuntimeError("twostepd did not start: %s" % self.read_log())

    def _ready(self):
        try:
            return self.request("GET", "/v1/nothing").status == 404
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode if self.proc else None
        self.proc = None
        return code

    def restart(self):
        port = self.port
        self.stop()
        return self.start(port)

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def sql(self, statement):
        """Runs one SQL statement on the relay's database, whichever store."""
        if self.db.startswith("postgresql://"):
            import pg_database
            pg_database.execute(self.db, statement)
            return
        import sqlite3
        db = sqlite3.connect(self.db)
        db.execute(statement)
        db.commit()
        db.close()

    def cli(self, *args, check=True):
        r = subprocess.run([self.binary, "--config", self.config, "--db", self.db] + list(args),
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError("twostepd %s: %d %s" % (args, r.returncode, r.stderr))
        return r

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- HTTP --

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, target, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, dict(r.getheaders()), r.read())
        finally:
            conn.close()

    # -- parties --

    def add_host(self, name):
        out = self.cli("host", "add", name).stdout
        values = dict(re.findall(r"^(\w+) = (\S+)$", out, re.M))
        return Host(self, values["host_id"], td.b64u_decode(values["host_secret"]), name)

    def new_device(self, name="test phone"):
        path = os.path.join(self.dir, "device-%s.json" % secrets.token_hex(4))
        return td.Device.create(path, origin=ORIGIN, relay=self.url, name=name)

    def open_pairing(self, host, user):
        secret_s = secrets.token_bytes(32)
        token_k = secrets.token_bytes(32)
        r = self.request("POST", "/v1/pairings", json.dumps({
            "host_id": host.host_id, "user": user,
            "confirm_hash": td.b64u(hashlib.sha256(token_k).digest())}).encode(),
            {"Content-Type": "application/json"})
        assert r.status == 201, r
        url = "%s/#pair=%s.%s" % (ORIGIN, r.json["id"], td.b64u(secret_s))
        return r.json["id"], url, token_k

    def confirm_pairing(self, pairing_id, token_k):
        return self.request("POST", "/v1/pairings/%s/confirm" % pairing_id,
                            json.dumps({"confirm_token": td.b64u(token_k)}).encode(),
                            {"Content-Type": "application/json"})

    def paired_device(self, host, user, device=None):
        device = device or self.new_device()
        device.state["relay"] = self.url
        pid, url, token = self.open_pairing(host, user)
        device.pair(url)
        r = self.confirm_pairing(pid, token)
        assert r.status == 200, r
        return device


class Host:
    """A host (what pam_twostep does through libtwostep-push)."""

    def __init__(self, relay, host_id, secret, name):
        self.relay = relay
        self.host_id = host_id
        self.secret = secret
        self.name = name

    def headers(self, method, path, query="", body=b"", timestamp=None, nonce=None, secret=None):
        timestamp = int(time.time()) if timestamp is None else timestamp
        nonce = nonce or td.b64u(secrets.token_bytes(16))
        sig = td.host_signature(secret or self.secret, method, path, query, body, timestamp, nonce,
                                self.host_id)
        return {"X-Twostep-Host": self.host_id, "X-Twostep-Timestamp": str(timestamp),
                "X-Twostep-Nonce": nonce, "X-Twostep-Signature": sig}

    def call(self, method, path, query="", body=None, timeout=90, **bend):
        raw = b"" if body is None else (body if isinstance(body, bytes) else
                                        json.dumps(body).encode())
        headers = self.headers(method, path, query, raw, **bend)
        if body is not None:
            headers["Content-Type"] = "application/json"
        target = path + ("?" + query if query else "")
        return self.relay.request(method, target, raw if body is not None else None, headers,
                                  timeout=timeout)

    def challenge_body(self, user, devices, ttl=90, **fields):
        body = {"user": user, "service": "sshd", "rhost": "203.0.113.5", "tty": "ssh",
                "devices": [d.state["credential_id"] if hasattr(d, "state") else d for d in devices],
                "nonce": td.b64u(secrets.token_bytes(32)), "expires": int(time.time()) + ttl}
        body.update(fields)
        return body

    def create(self, user, devices, ttl=90, expect=201, **fields):
        r = self.call("POST", "/v1/challenges", body=self.challenge_body(user, devices, ttl, **fields))
        assert r.status == expect, r
        return r.json["id"] if expect == 201 else r

    def wait(self, cid, wait=0, timeout=90):
        return self.call("GET", "/v1/challenges/" + cid, "wait=%d" % wait if wait else "",
                         timeout=timeout)

    def cancel(self, cid):
        return self.call("DELETE", "/v1/challenges/" + cid)


# -- a tiny test runner: each test a function, PASS/FAIL lines, exit status --

def run(tests, binary):
    failed = 0
    for test in tests:
        start = time.monotonic()
        try:
            test(binary)
            print("PASS %s (%.2f s)" % (test.__name__, time.monotonic() - start), flush=True)
        except Exception:  # noqa: BLE001 - report every failure, keep going
            failed += 1
            print("FAIL %s" % test.__name__, flush=True)
            traceback.print_exc()
    print("%d of %d passed" % (len(tests) - failed, len(tests)))
    return 1 if failed else 0


def expect(response, status, error=None):
    assert response.status == status, "expected %d %s, got %r" % (status, error, response)
    if error is not None:
        assert response.error == error, "expected %s, got %r" % (error, response)
    return response
