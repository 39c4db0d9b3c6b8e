#!/usr/bin/python3
"""The test device over HTTP, against a stub relay that records every request
exactly as it arrived (path, query, headers, body). The recorded requests are
then checked by the C++ core (push_crosscheck): every device signature must
verify over what went over the wire, the registration's proof with the
pairing secret, and the approval's assertion against a digest the core
computes itself from the challenge view and the number typed. The CLI is
driven the same way (exit codes, JSON on stdout).

    test_device_http.py PATH/TO/push_crosscheck
"""

import http.server
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from twostep_harness import expect as check  # noqa: E402 (each check stops the run)

try:
    import twostep_device as td
except ImportError as e:  # python3-cryptography missing
    print("SKIP: %s (install python3-cryptography)" % e)
    sys.exit(77)

ORIGIN = "https://approve.example.test"
PAIRING_ID = td.b64u(secrets.token_bytes(16))
# A base64url id begins with "-" once in 64; this one always does, so the
# CLI calls below must pass ids after "--" (else it reads as an option).
VIEW = {"id": "-" + td.b64u(secrets.token_bytes(16))[1:], "host": "web1", "user": "alice", "service": "sshd",
        "rhost": "203.0.113.5", "tty": "ssh", "nonce": td.b64u(secrets.token_bytes(32)),
        "created": 1764300000, "expires": 1764300090, "status": "pending", "credential_ids": [],
        "decided_at": None, "decided_by": None}
DECIDED_ID = "already-decided"


class StubRelay(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    recorded = []  # (method, raw path, query, headers dict, body bytes)

    def log_message(self, *args):
        pass

    def _send(self, status, document):
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        StubRelay.recorded.append((self.command, parts.path, parts.query, dict(self.headers), body))
        route = (self.command, parts.path)
        if route == ("GET", "/v1/pairings/" + PAIRING_ID):
            return self._send(200, {"host": "web1", "user": "alice", "expires": 1764300600, "status": "open"})
        if route == ("POST", "/v1/pairings/%s/device" % PAIRING_ID):
            return self._send(201, {"status": "registered"})
        if route == ("GET", "/v1/device/challenges"):
            return self._send(200, {"challenges": [VIEW]})
        if route == ("GET", "/v1/device/challenges/" + VIEW["id"]):
            return self._send(200, VIEW)
        if route == ("GET", "/v1/device/challenges/" + DECIDED_ID):
            return self._send(200, dict(VIEW, id=DECIDED_ID))
        if route == ("POST", "/v1/device/challenges/%s/decision" % VIEW["id"]):
            decision = json.loads(body)["decision"]
            return self._send(200, dict(VIEW, status={"approve": "approved", "deny": "denied",
                                                       "report": "reported"}[decision]))
        if route == ("POST", "/v1/device/challenges/%s/decision" % DECIDED_ID):
            return self._send(409, {"error": "already_decided", "message": "no longer pending"})
        if route == ("GET", "/v1/device/self"):
            return self._send(200, {"devices": [{"device_id": "d1", "host": "web1", "user": "alice",
                                                 "name": "n", "created": 1, "last_used": 2}]})
        if route == ("PATCH", "/v1/device/self/d1"):
            return self._send(200, {"device_id": "d1", "name": json.loads(body)["name"]})
        if route == ("DELETE", "/v1/device/self/d1"):
            return self._send(200, {"device_id": "d1", "revoked": True})
        if route == ("GET", "/v1/device/activity"):
            return self._send(200, {"activity": [VIEW]})
        if route == ("GET", "/v1/device/events"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b": connected\n\n")
            self.wfile.write(b"event: challenge\ndata: " + json.dumps(VIEW).encode() + b"\n\n")
            self.wfile.write(b"event: update\ndata: {\"id\": \"x\",\n")
            self.wfile.write(b"data: \"status\": \"denied\"}\n\n")
            self.wfile.flush()
            time.sleep(0.5)
            self.close_connection = True
            return None
        return self._send(404, {"error": "not_found", "message": "stub"})

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


def main():
    binary = sys.argv[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StubRelay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    relay = "http://127.0.0.1:%d" % server.server_address[1]
    try:
        with tempfile.TemporaryDirectory(prefix="twostep-device-http-") as tmp:
            state = os.path.join(tmp, "device.json")
            device = td.Device.create(state, ORIGIN, relay=relay, name="Pixel 8")
            check(os.stat(state).st_mode & 0o077 == 0, "state file is private")

            # Pairing (7).
            secret = secrets.token_bytes(32)
            paired = device.pair("%s/#pair=%s.%s" % (ORIGIN, PAIRING_ID, td.b64u(secret)))
            check(paired["comparison_code"] == td.comparison_code(secret, device.credential_spki, device.api_spki),
                  "comparison code")
            registration = json.loads(StubRelay.recorded[-1][4])
            check(sorted(registration) == ["api_public_key", "api_signature", "credential_id",
                                           "credential_public_key", "name", "proof"], "registration fields")
            message = td.registration_key_message(PAIRING_ID, registration["name"],
                                                  td.b64u_decode(registration["credential_id"]),
                                                  device.credential_spki, device.api_spki)
            r_s = td.b64u_decode(registration["api_signature"])
            device.api_key.public_key().verify(
                td.utils.encode_dss_signature(int.from_bytes(r_s[:32], "big"), int.from_bytes(r_s[32:], "big")),
                message, td.ec.ECDSA(td.hashes.SHA256()))  # raises if it does not verify
            check(True, "the registration is signed with its API key")
            check("X-Twostep-Signature" not in StubRelay.recorded[-1][3], "pairing requests are not signed")
            try:
                device.pair("https://other.example.test/#pair=%s.%s" % (PAIRING_ID, td.b64u(secret)))
                check(False, "a pairing URL for another origin is refused")
            except ValueError:
                pass

            # Challenges (8.2).
            check([v["id"] for v in device.list_challenges()] == [VIEW["id"]], "list")
            approved = device.approve(VIEW["id"], 42)
            check(approved["status"] == "approved", "approve answer")
            decision = json.loads(StubRelay.recorded[-1][4])
            check(decision["decision"] == "approve" and set(decision["assertion"]) ==
                  {"credential_id", "authenticator_data", "client_data_json", "signature"}, "approve body")
            check(device.deny(VIEW["id"])["status"] == "denied", "deny")
            check(json.loads(StubRelay.recorded[-1][4]) == {"decision": "deny"}, "deny body")
            check(device.report(VIEW["id"])["status"] == "reported", "report")
            check(json.loads(StubRelay.recorded[-1][4]) == {"decision": "report"}, "report body")
            try:
                device.deny(DECIDED_ID)
                check(False, "a 409 raises")
            except td.HttpError as e:
                check(e.status == 409 and e.body["error"] == "already_decided", "409 body")

            events = device.events(count=2, timeout=5)
            check([e["event"] for e in events] == ["challenge", "update"], "SSE events: %r" % events)
            check(events[0]["data"]["id"] == VIEW["id"] and events[1]["data"]["status"] == "denied", "SSE data")
            check(device.devices()[0]["device_id"] == "d1", "self")
            check(device.rename("d1", "Phone")["name"] == "Phone", "rename")
            device.remove("d1")
            check(device.activity(5)[0]["id"] == VIEW["id"], "activity")
            check(StubRelay.recorded[-1][2] == "limit=5", "activity query")

            # CLI: JSON out, exit 0; an HTTP refusal exits 1 with status and body.
            cli = [sys.executable, os.path.join(HERE, "twostep_device.py"), "--state", state]
            run = subprocess.run(cli + ["list"], capture_output=True, text=True, timeout=60)
            check(run.returncode == 0 and json.loads(run.stdout)[0]["id"] == VIEW["id"], "cli list: %r" % (run,))
            run = subprocess.run(cli + ["approve", "--", VIEW["id"], "7"], capture_output=True, text=True, timeout=60)
            check(run.returncode == 0 and json.loads(run.stdout)["status"] == "approved", "cli approve")
            cli_assertion = json.loads(StubRelay.recorded[-1][4])["assertion"]
            run = subprocess.run(cli + ["deny", DECIDED_ID], capture_output=True, text=True, timeout=60)
            check(run.returncode == 1 and json.loads(run.stdout)["status"] == 409, "cli refusal")
            run = subprocess.run(cli + ["pair", "https://approve.example.test/#pair=x." + td.b64u(b"x" * 16)], capture_output=True,
                                 text=True, timeout=60)
            check(run.returncode == 3 and "pairing secret" in run.stderr, "cli local error: %r" % (run,))
            run = subprocess.run(cli + ["approve", "--flags", "up", "--", VIEW["id"], "7"], capture_output=True,
                                 text=True, timeout=60)
            check(run.returncode == 0, "cli approve without UV")
            no_uv_assertion = json.loads(StubRelay.recorded[-1][4])["assertion"]

            # Everything that went over the wire, checked by the core.
            cases, expected = [], []
            device = td.Device.load(state)
            for method, path, query, headers, body in StubRelay.recorded:
                if "X-Twostep-Signature" not in headers:
                    continue
                check(headers["X-Twostep-Device"] == device.key_id, "key id header")
                cases.append({"kind": "device_request", "spki": td.b64u(device.api_spki), "method": method,
                              "path": path, "query": query, "body": body.decode(),
                              "timestamp": headers["X-Twostep-Timestamp"], "nonce": headers["X-Twostep-Nonce"],
                              "key_id": headers["X-Twostep-Device"], "signature": headers["X-Twostep-Signature"]})
                expected.append({"verdict": "valid"})
            signed_requests = len(cases)
            nonces = [c["nonce"] for c in cases]
            check(len(set(nonces)) == len(nonces), "fresh nonce per request")
            cases.append({"kind": "pairing", "secret": td.b64u(secret), "pairing_id": PAIRING_ID,
                          "registration": registration})
            expected.append({"verdict": "valid", "comparison_code": paired["comparison_code"]})
            spki = td.b64u(device.credential_spki)
            for assertion, number, pinned, failure in [
                    (decision["assertion"], 42, 0, "none"),
                    (decision["assertion"], 24, 0, "wrong_challenge"),
                    (cli_assertion, 7, 1, "none"),
                    (cli_assertion, 7, 2, "counter_regressed"),
                    (no_uv_assertion, 7, 0, "no_user_verification")]:
                cases.append({"kind": "assertion", "spki": spki, "origin": ORIGIN, "view": VIEW, "number": number,
                              "challenge_hex": None, "pinned_counter": pinned, "assertion": assertion})
                expected.append({"failure": failure})
            cases_path = os.path.join(tmp, "cases.json")
            with open(cases_path, "w", encoding="utf-8") as f:
                json.dump(cases, f)
            run = subprocess.run([binary, cases_path], capture_output=True, text=True, timeout=60)
            check(run.returncode == 0, "push_crosscheck: " + run.stderr)
            results = json.loads(run.stdout)
            for case, want, got in zip(cases, expected, results):
                for key, value in want.items():
                    check(got.get(key) == value, "%s: %s is %r, expected %r" % (case["kind"], key, got.get(key),
                                                                                 value))
    finally:
        server.shutdown()
        server.server_close()
    print("PASS: pairing, list, approve, deny, report, 409, SSE, self, rename, remove, activity, CLI; "
          "%d signed requests and 5 assertions verified by the core" % signed_requests)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print("FAIL: %s" % e)
        sys.exit(1)
