#!/usr/bin/python3
"""twostepd's Web Push sender against independent implementations.

A local capture endpoint stands in for the browser vendor's push service.
The test device (tests/device) pairs and subscribes with keys the test made;
a new challenge makes twostepd push; webpush_check.mjs (npm http_ece + jose)
decrypts the payload and verifies the VAPID JWT. Also: the payload holds only
the type and the challenge id; a slow push service does not slow challenge
creation (the login); an endpoint answering 410 is pruned; bad subscriptions
are refused.

    test_webpush.py TWOSTEPD NODE_MODULES_DIR
"""
import base64
import http.server
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "device"))
try:
    import twostep_device as td
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization
except ImportError as e:
    print("SKIP: %s (install python3-cryptography)" % e)
    sys.exit(77)
import relay_host  # noqa: E402


class Capture(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Capture.received.append({"path": self.path, "headers": dict(self.headers),
                                 "body": td.b64u(body), "time": time.time()})
        if self.path.startswith("/slow"):
            time.sleep(3)
        status = 410 if self.path.startswith("/gone") else 201
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what)


def wait_for(pred, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return None


def subscription_keys():
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    d = key.private_numbers().private_value.to_bytes(32, "big")
    return td.b64u(point), td.b64u(d), td.b64u(os.urandom(16))


def main():
    twostepd, modules = sys.argv[1], sys.argv[2]
    if not os.path.isdir(os.path.join(modules, "jose")):
        print("SKIP: npm packages missing in %s (run scripts/npm-setup)" % modules)
        return 77
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    capture = "http://127.0.0.1:%d" % server.server_address[1]
    with tempfile.TemporaryDirectory(prefix="twostep-webpush-") as tmp:
        relay = relay_host.Relay(tmp, twostepd)
        try:
            relay.start()
            vapid = relay.admin("vapid", "show").strip()
            check(len(td.b64u_decode(vapid)) == 65, "twostepd vapid show prints a P-256 point")
            status, key = relay.plain("GET", "/v1/push/key")
            check(status == 200 and key["vapid_public_key"] == vapid,
                  "GET /v1/push/key gives the same key (kept in the store)")

            dev = td.Device.create(os.path.join(tmp, "device.json"), relay.state["origin"],
                                   relay=relay.state["relay"], name="Pixel 8")
            started = relay.pair_start("alice")
            dev.pair(started["url"])
            relay.pair_finish(started["pairing_id"])

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
            made = relay.challenge("alice", service="sudo", rhost="", tty="/dev/pts/3")
            check(made["status"] == 201, "challenge created")
            got = wait_for(lambda: [r for r in Capture.received if r["path"] == "/ok/abc"])
            check(got, "twostepd pushed to the subscription")
            case = {"headers": got[0]["headers"], "body": got[0]["body"], "ua_private": d, "auth": auth,
                    "vapid_public_key": vapid, "audience": capture}
            case_path = os.path.join(tmp, "push.json")
            with open(case_path, "w") as f:
                json.dump(case, f)
            out = subprocess.run(["node", os.path.join(HERE, "webpush_check.mjs"), case_path],
                                 capture_output=True, text=True, timeout=60,
                                 env=dict(os.environ, NODE_PATH=modules))
            print(out.stdout.strip(), out.stderr.strip())
            result = json.loads(out.stdout)
            check(result["ok"], "http_ece decrypts the payload and jose verifies the VAPID JWT (ES256)")
            check(result["payload"] == {"type": "challenge", "id": made["id"]},
                  "the payload is only the type and the challenge id (no number, nonce or context)")
            check(result["header"]["alg"] == "ES256" and result["claims"]["aud"] == capture,
                  "JWT: alg ES256, aud = the push service's origin")

            # A slow push service does not hold up the host (the login).
            status, _ = dev.request("POST", "/v1/device/push",
                                    body={"endpoint": capture + "/slow", "p256dh": point, "auth": auth})
            t0 = time.time()
            made = relay.challenge("alice")
            elapsed = time.time() - t0
            check(made["status"] == 201 and elapsed < 1.0,
                  "challenge creation does not wait for a slow push service (%.3f s)" % elapsed)
            check(wait_for(lambda: [r for r in Capture.received if r["path"] == "/slow"]),
                  "the slow push service still got its push")

            # 410 Gone prunes the subscription.
            status, _ = dev.request("POST", "/v1/device/push",
                                    body={"endpoint": capture + "/gone", "p256dh": point, "auth": auth})
            check(status == 200, "re-subscribed (replaces the previous endpoint)")
            db = os.path.join(tmp, "twostepd.db")

            def count():
                con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
                try:
                    return con.execute("SELECT count(*) FROM push_subscriptions").fetchone()[0]
                finally:
                    con.close()
            check(count() == 1, "one subscription stored per phone")
            time.sleep(3.2)  # let the /slow push finish first
            relay.challenge("alice")
            check(wait_for(lambda: [r for r in Capture.received if r["path"] == "/gone"]),
                  "pushed to the endpoint that is gone")
            check(wait_for(lambda: count() == 0), "the subscription answering 410 is deleted")
            check("HTTP 410, subscription gone, removed" in relay.log(), "and the relay logged it")
            check("/gone" not in relay.log() and "/ok/abc" not in relay.log(),
                  "the log names the push service's origin only, never the endpoint (a capability)")

            status, body = dev.request("DELETE", "/v1/device/push")
            check(status == 200, "unsubscribe answers 200")
        except Exception:
            print(relay.log() if os.path.exists(os.path.join(tmp, "twostepd.log")) else "")
            raise
        finally:
            relay.stop()
            server.shutdown()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
