#!/usr/bin/python3
"""twostepd's Web Push sender against independent implementations.

A local capture endpoint stands in for the browser vendor's push service.
The host side is real (tests/push/pushtest.py: twostepd on loopback, the test
device paired through `twostep-enroll --push`, logins through the built
pam_twostep.so under pam_wrapper with pamtester); the device subscribes with
keys the test made. Each login makes twostepd push; webpush_check.mjs (npm
http_ece + jose) decrypts the payload and verifies the VAPID JWT. Also: the
payload holds only the type and the challenge id; a slow push service does
not slow the login; an endpoint answering 410 is pruned; bad subscriptions
are refused.

    test_webpush.py TWOSTEP-ENROLL PAM_TWOSTEP.SO TWOSTEPD NODE_MODULES_DIR
"""
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import http.server
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "push"))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import twostep_harness as th  # noqa: E402
from twostep_harness import expect as check  # noqa: E402 (each check stops the run)
try:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization
    from pushtest import Setup, outcome, pending, PUSH_PROMPT
    import twostep_device as td
except ImportError as e:
    print("SKIP: %s (install python3-cryptography)" % e)
    sys.exit(77)


class Capture(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = []
    answered_slow = threading.Event()

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Capture.received.append({"path": self.path, "headers": dict(self.headers),
                                 "body": td.b64u(body), "time": time.time()})
        if self.path.startswith("/slow"):
            time.sleep(3)
            Capture.answered_slow.set()
        status = 410 if self.path.startswith("/gone") else 201
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def subscription_keys():
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    d = key.private_numbers().private_value.to_bytes(32, "big")
    return td.b64u(point), td.b64u(d), td.b64u(os.urandom(16))


def push_login(setup):
    """A sudo-style login up to its number: (the login, how long the push took)."""
    child = setup.login("sudo")
    child.expect_exact(PUSH_PROMPT)
    started = time.time()
    child.sendline("")
    child.expect(r"approve with the number (\d\d)")
    return child, time.time() - started


def deny(setup, device, child):
    """Ends a login from push_login with Deny; the login must fail."""
    device.deny(pending(device)["id"])
    ok, _ = outcome(child)
    check(not ok, "the login ends (denied)")


def main():
    enroll, module, twostepd, modules = (os.path.abspath(p) for p in sys.argv[1:5])
    if os.geteuid() != 0:
        print("SKIP: needs root (the host secret must be a root-owned file)")
        return 77
    if not os.path.isdir(os.path.join(modules, "jose")):
        print("SKIP: npm packages missing in %s (run scripts/npm-setup)" % modules)
        return 77
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    capture = "http://127.0.0.1:%d" % server.server_address[1]
    setup = Setup(enroll, module, twostepd, origin="http://localhost:{port}")
    relay = setup.relay
    try:
        vapid = relay.admin("vapid", "show").strip()
        check(len(td.b64u_decode(vapid)) == 65, "twostepd vapid show prints a P-256 point")
        with urllib.request.urlopen(relay.url + "/v1/push/key", timeout=10) as res:
            key = json.load(res)
        check(key["vapid_public_key"] == vapid, "GET /v1/push/key gives the same key (kept in the store)")

        check(setup.enroll_totp() == 0, "TOTP enrollment written")
        dev = setup.new_device("Pixel 8")
        status, shown, on_phone, _ = setup.pair(dev)
        check(status == 0 and shown == on_phone, "the test device paired through twostep-enroll --push")
        setup.service("sudo", "push_timeout=20")

        point, d, auth = subscription_keys()
        for bad, what in [({"endpoint": "http://push.example.net/x", "p256dh": point, "auth": auth},
                           "plain http off loopback"),
                          ({"endpoint": capture + "/ok", "p256dh": point[:-2], "auth": auth},
                           "a p256dh that is not a point"),
                          ({"endpoint": capture + "/ok", "p256dh": point, "auth": auth + "AA"},
                           "an auth secret that is not 16 bytes"),
                          ({"endpoint": capture + "/ok", "p256dh": point, "auth": auth, "x": 1},
                           "an unknown field")]:
            status, body = dev.request("POST", "/v1/device/push", body=bad)
            check(status == 400 and body["error"] == "bad_request", "subscription refused: " + what)
        status, body = dev.request("POST", "/v1/device/push", signed=False,
                                   body={"endpoint": capture + "/ok", "p256dh": point, "auth": auth})
        check(status == 401, "an unsigned subscription is refused")

        status, _ = dev.request("POST", "/v1/device/push",
                                body={"endpoint": capture + "/ok/abc", "p256dh": point, "auth": auth})
        check(status == 200, "the device subscribes")
        child, _ = push_login(setup)
        challenge = pending(dev)["id"]
        got = th.eventually(lambda: [r for r in Capture.received if r["path"] == "/ok/abc"], 10,
                            "the login made twostepd push to the subscription")
        deny(setup, dev, child)
        case = {"headers": got[0]["headers"], "body": got[0]["body"], "ua_private": d, "auth": auth,
                "vapid_public_key": vapid, "audience": capture}
        case_path = os.path.join(setup.tmp, "push.json")
        with open(case_path, "w") as f:
            json.dump(case, f)
        out = subprocess.run(["node", os.path.join(HERE, "webpush_check.mjs"), case_path],
                             capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, NODE_PATH=modules))
        print(out.stdout.strip(), out.stderr.strip())
        result = json.loads(out.stdout)
        check(result["ok"], "http_ece decrypts the payload and jose verifies the VAPID JWT (ES256)")
        check(result["payload"] == {"type": "challenge", "id": challenge},
              "the payload is only the type and the challenge id (no number, nonce or context)")
        check(result["header"]["alg"] == "ES256" and result["claims"]["aud"] == capture,
              "JWT: alg ES256, aud = the push service's origin")

        # A slow push service (3 s) does not hold up the login.
        status, _ = dev.request("POST", "/v1/device/push",
                                body={"endpoint": capture + "/slow", "p256dh": point, "auth": auth})
        child, took = push_login(setup)
        check(took < 2.0, "the login shows its number without waiting for a slow push service "
                          "(%.3f s)" % took)
        deny(setup, dev, child)
        th.eventually(lambda: [r for r in Capture.received if r["path"] == "/slow"], 10,
                      "the slow push service still got its push")

        # 410 Gone prunes the subscription.
        status, _ = dev.request("POST", "/v1/device/push",
                                body={"endpoint": capture + "/gone", "p256dh": point, "auth": auth})
        check(status == 200, "re-subscribed (replaces the previous endpoint)")

        def count():
            con = sqlite3.connect("file:%s?mode=ro" % relay.db, uri=True)
            try:
                return con.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0]
            finally:
                con.close()
        check(count() == 1, "one subscription stored per phone")
        check(Capture.answered_slow.wait(10), "the slow push service answered")
        child, _ = push_login(setup)
        th.eventually(lambda: [r for r in Capture.received if r["path"] == "/gone"], 10,
                      "pushed to the endpoint that is gone")
        deny(setup, dev, child)
        th.eventually(lambda: count() == 0, 10, "the subscription answering 410 is deleted")
        th.eventually(lambda: "HTTP 410, subscription gone, removed" in relay.log(), 10,
                      "and the relay logged it")
        check("/gone" not in relay.log() and "/ok/abc" not in relay.log(),
              "the log names the push service's origin only, never the endpoint (a capability)")

        status, body = dev.request("DELETE", "/v1/device/push")
        check(status == 200, "unsubscribe answers 200")
    except Exception:
        print(relay.log()[-3000:])
        raise
    finally:
        setup.cleanup()
        server.shutdown()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
