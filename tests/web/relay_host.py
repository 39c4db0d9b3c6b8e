#!/usr/bin/python3
"""The host side of push for the web tests, until the PAM module's push login
and `twostep-enroll --push` exist: a throw-away twostepd (SQLite, loopback,
approver origin http://localhost:PORT) and a host client that pairs, pins,
makes challenges and checks approvals, doing what the enroll tool and the
module will do. Its crypto is the test device's (tests/device), and the final
word on an assertion is the C++ core's (push_crosscheck), never this file's.

As a library (test_webpush.py) or as a CLI for the Node browser test:

    relay_host.py start  --dir D --twostepd BIN        -> {"origin", "pid", ...}
    relay_host.py stop   --dir D
    relay_host.py pair-start  --dir D --user alice     -> {"url", "pairing_id"}
    relay_host.py pair-finish --dir D --pairing ID     -> {"comparison_code", "device"}
    relay_host.py challenge   --dir D --user alice [--service sudo --rhost R --tty T --ttl S]
                                                       -> {"id", "number", "expires", ...}
    relay_host.py wait   --dir D --id ID [--wait 5]    -> the host view (section 4.2)
    relay_host.py verify --dir D --id ID --crosscheck BIN [--number N]
                                                       -> {"failure": "none" | ...}

State (host secret, pins, challenges) lives in D/host.json (mode 0600).
"""

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "device"))
import twostep_device as td  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Relay:
    """A twostepd in directory `d`, started by start(), stopped by stop()."""

    def __init__(self, d, twostepd=None):
        self.dir = d
        self.state_path = os.path.join(d, "host.json")
        self.state = {}
        if os.path.exists(self.state_path):
            with open(self.state_path) as f:
                self.state = json.load(f)
        self.twostepd = twostepd or self.state.get("twostepd")

    def save(self):
        fd = os.open(self.state_path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.state, f)
        os.replace(self.state_path + ".tmp", self.state_path)

    # ---- daemon ----
    def admin(self, *args):
        return subprocess.run([self.twostepd, "-c", self.state["config"]] + list(args),
                              check=True, capture_output=True, text=True, timeout=30).stdout

    def start(self):
        port = free_port()
        config = os.path.join(self.dir, "twostepd.conf")
        with open(config, "w") as f:
            f.write("listen = 127.0.0.1:%d\npublic_url = http://localhost:%d\ndatabase = %s\n"
                    % (port, port, os.path.join(self.dir, "twostepd.db")))
        self.state.update({"twostepd": self.twostepd, "config": config, "port": port,
                           "origin": "http://localhost:%d" % port,
                           "relay": "http://127.0.0.1:%d" % port, "pins": {}, "challenges": {},
                           "pairings": {}})
        out = self.admin("host", "add", "web1")
        fields = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
        self.state["host_id"] = fields["host_id"]
        self.state["host_secret"] = fields["host_secret"]
        self.state["host_name"] = "web1"
        log = open(os.path.join(self.dir, "twostepd.log"), "ab")
        proc = subprocess.Popen([self.twostepd, "-c", config, "serve"], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.state["pid"] = proc.pid
        self.save()
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return self.state
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("twostepd exited: see " + log.name)
                time.sleep(0.05)
        raise RuntimeError("twostepd did not start")

    def stop(self):
        pid = self.state.get("pid")
        if not pid:
            return
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                os.kill(pid, 0)
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        self.state["pid"] = None
        self.save()

    def log(self):
        with open(os.path.join(self.dir, "twostepd.log"), errors="replace") as f:
            return f.read()

    # ---- signed host requests (section 3) ----
    def request(self, method, path, body=None, query=""):
        raw = b"" if body is None else json.dumps(body).encode()
        ts = str(int(time.time()))
        nonce = td.b64u(secrets.token_bytes(16))
        secret = td.b64u_decode(self.state["host_secret"])
        headers = {"X-Twostep-Host": self.state["host_id"], "X-Twostep-Timestamp": ts,
                   "X-Twostep-Nonce": nonce,
                   "X-Twostep-Signature": td.host_signature(secret, method, path, query, raw, ts, nonce,
                                                            self.state["host_id"])}
        return self.plain(method, path + ("?" + query if query else ""), body, headers, raw=raw)

    def plain(self, method, target, body=None, headers=None, raw=None, timeout=70):
        conn = http.client.HTTPConnection("127.0.0.1", self.state["port"], timeout=timeout)
        try:
            h = dict(headers or {})
            if body is not None:
                h["Content-Type"] = "application/json"
                raw = raw if raw is not None else json.dumps(body).encode()
            conn.request(method, target, body=raw if body is not None else None, headers=h)
            r = conn.getresponse()
            data = r.read()
            try:
                return r.status, json.loads(data) if data else None
            except ValueError:
                return r.status, data.decode("utf-8", "replace")
        finally:
            conn.close()

    # ---- pairing, as twostep-enroll --push will do it (section 7) ----
    def pair_start(self, user):
        s, k = secrets.token_bytes(32), secrets.token_bytes(32)
        status, body = self.plain("POST", "/v1/pairings", {
            "host_id": self.state["host_id"], "user": user, "confirm_hash": td.b64u(td.sha256(k))})
        if status != 201:
            raise RuntimeError("create pairing: %s %s" % (status, body))
        pid = body["id"]
        self.state["pairings"][pid] = {"user": user, "S": td.b64u(s), "K": td.b64u(k)}
        self.save()
        return {"pairing_id": pid, "url": "%s/#pair=%s.%s" % (self.state["origin"], pid, td.b64u(s))}

    def pair_finish(self, pairing_id, wait=30):
        p = self.state["pairings"][pairing_id]
        s = td.b64u_decode(p["S"])
        status, reg = self.plain("GET", "/v1/pairings/%s?wait=%d" % (pairing_id, wait))
        if status != 200 or reg.get("status") != "registered":
            raise RuntimeError("pairing not registered: %s %s" % (status, reg))
        cred_id = td.b64u_decode(reg["credential_id"])
        cred_spki = td.b64u_decode(reg["credential_public_key"])
        api_spki = td.b64u_decode(reg["api_public_key"])
        proof = td.pairing_proof(s, pairing_id, reg["name"], cred_id, cred_spki, api_spki)
        if td.b64u(proof) != reg["proof"]:
            raise RuntimeError("pairing proof does not verify: the relay substituted a key")
        code = td.comparison_code(s, cred_spki, api_spki)
        status, body = self.plain("POST", "/v1/pairings/%s/confirm" % pairing_id,
                                  {"confirm_token": p["K"]})
        if status != 200:
            raise RuntimeError("confirm: %s %s" % (status, body))
        pin = {"user": p["user"], "name": reg["name"], "credential_id": reg["credential_id"],
               "credential_public_key": reg["credential_public_key"], "counter": 0}
        self.state["pins"].setdefault(p["user"], []).append(pin)
        self.save()
        return {"comparison_code": code, "device": pin}

    # ---- challenges, as the module will make them (section 4) ----
    def challenge(self, user, service="sshd", rhost="203.0.113.5", tty="ssh", ttl=120):
        pins = self.state["pins"].get(user, [])
        number = secrets.randbelow(100)
        nonce = td.b64u(secrets.token_bytes(32))
        expires = int(time.time()) + ttl
        status, body = self.request("POST", "/v1/challenges", {
            "user": user, "service": service, "rhost": rhost, "tty": tty,
            "devices": [p["credential_id"] for p in pins], "nonce": nonce, "expires": expires})
        if status != 201:
            return {"status": status, "error": body}
        self.state["challenges"][body["id"]] = {
            "user": user, "service": service, "rhost": rhost, "tty": tty, "nonce": nonce,
            "expires": expires, "number": number}
        self.save()
        return {"status": status, "id": body["id"], "number": number, "expires": expires}

    def wait(self, challenge_id, wait=5):
        return self.request("GET", "/v1/challenges/" + challenge_id, query="wait=%d" % wait)

    def verify(self, challenge_id, crosscheck, number=None):
        """The module's check of an approval, by the C++ core: the view is the
        module's own (its nonce, its host name), the number the one it showed
        unless `number` overrides it."""
        c = self.state["challenges"][challenge_id]
        status, view = self.wait(challenge_id, 0)
        if status != 200 or view.get("status") != "approved":
            return {"failure": "not approved", "status": view.get("status") if status == 200 else status}
        a = view["assertion"]
        pin = next((p for p in self.state["pins"][c["user"]] if p["credential_id"] == a["credential_id"]),
                   None)
        if pin is None:
            return {"failure": "credential not pinned"}
        case = {"kind": "assertion", "spki": pin["credential_public_key"],
                "view": {"id": challenge_id, "nonce": c["nonce"], "host": self.state["host_name"],
                         "user": c["user"], "service": c["service"], "rhost": c["rhost"],
                         "tty": c["tty"], "expires": c["expires"]},
                "number": c["number"] if number is None else int(number),
                "origin": self.state["origin"], "pinned_counter": pin["counter"],
                "assertion": a}
        cases = os.path.join(self.dir, "verify-case.json")
        with open(cases, "w") as f:
            json.dump([case], f)
        out = subprocess.run([crosscheck, cases], check=True, capture_output=True, text=True,
                             timeout=30).stdout
        result = json.loads(out)[0]
        if result.get("failure") == "none":  # the module records the counter (section 6.5)
            pin["counter"] = int.from_bytes(td.b64u_decode(a["authenticator_data"])[33:37], "big")
            self.save()
        return result


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["start", "stop", "pair-start", "pair-finish", "challenge",
                                        "wait", "verify"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--twostepd")
    ap.add_argument("--user", default="alice")
    ap.add_argument("--pairing")
    ap.add_argument("--id")
    ap.add_argument("--service", default="sshd")
    ap.add_argument("--rhost", default="203.0.113.5")
    ap.add_argument("--tty", default="ssh")
    ap.add_argument("--ttl", type=int, default=120)
    ap.add_argument("--wait", type=int, default=5)
    ap.add_argument("--crosscheck")
    ap.add_argument("--number", type=int)
    a = ap.parse_args(argv)
    relay = Relay(a.dir, a.twostepd)
    if a.command == "start":
        out = relay.start()
        out = {k: out[k] for k in ("origin", "relay", "port", "pid")}
    elif a.command == "stop":
        relay.stop()
        out = {"stopped": True}
    elif a.command == "pair-start":
        out = relay.pair_start(a.user)
    elif a.command == "pair-finish":
        out = relay.pair_finish(a.pairing)
    elif a.command == "challenge":
        out = relay.challenge(a.user, a.service, a.rhost, a.tty, a.ttl)
    elif a.command == "wait":
        status, view = relay.wait(a.id, a.wait)
        out = view if status == 200 else {"status": status, "error": view}
    else:
        out = relay.verify(a.id, a.crosscheck, a.number)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
