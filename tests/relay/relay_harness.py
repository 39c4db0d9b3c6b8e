"""Runs a real twostepd on a loopback port with its own temporary database,
and speaks protocol v1 to it as a host (HMAC) and as devices
(tests/device/twostep_device.py). Used by the relay's protocol tests.

    with Relay(twostepd) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        cid = host.create("alice", [dev])
        dev.deny(cid)
"""

import functools
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "device"))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import twostep_device as td  # noqa: E402
import twostep_harness as th  # noqa: E402

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
        logged_before = len(self.read_log())  # restarts append to the same log
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(
            [self.binary, "--config", self.config, "--db", self.db, "serve",
             "--listen", "127.0.0.1:%d" % port],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()

        def answering():
            if self.proc.poll() is not None:
                raise RuntimeError("twostepd exited: %s" % self.read_log())
            found = re.findall(r"listening on 127\.0\.0\.1:(\d+)", self.read_log()[logged_before:])
            if found:
                self.port = int(found[-1])
            return found and self._ready()
        try:
            th.wait_for(answering, 20, "twostepd to listen and answer")
        except th.WaitTimeout as timeout:
            raise RuntimeError("%s: %s" % (timeout, self.read_log())) from None
        return self

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

    def wait_held(self, cid, wait):
        """A long-poll of `cid` from a thread, returned once twostepd has read
        it. From then on a decision either wakes the held wait or is what its
        first look sees; both answer at once with the decided status."""
        path, query = "/v1/challenges/" + cid, "wait=%d" % wait
        poll = LongPoll(self.relay.port, "GET", path + "?" + query,
                        headers=self.headers("GET", path, query), timeout=wait + 30)
        poll.wait_read(10, "twostepd to read the long-poll of %s" % cid)
        return poll

    def cancel(self, cid):
        return self.call("DELETE", "/v1/challenges/" + cid)


class LongPoll(th.BackgroundRequest):
    def response(self, timeout=10):
        """The answer as a Response."""
        return Response(*self.result(timeout))


def run(tests, binary):
    """Each test a function of the twostepd path, run as a named case (its
    function name): twostep_harness.run_cases, `--case NAME` after TWOSTEPD."""
    return th.run_cases([th.Case(test.__name__, functools.partial(test, binary))
                         for test in tests], sys.argv[2:])


def expect(response, status, error=None):
    assert response.status == status, "expected %d %s, got %r" % (status, error, response)
    if error is not None:
        assert response.error == error, "expected %s, got %r" % (error, response)
    return response
