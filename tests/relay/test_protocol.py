#!/usr/bin/env python3
"""Protocol v1 against a real twostepd: each refusal with its documented code
(docs/protocol.md sections 2-9), and the happy paths they bend.

usage: test_protocol.py TWOSTEPD
"""

import hashlib
import json
import secrets
import socket
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from relay_harness import Relay, expect, run, td


def signatures_bad_missing_replayed_and_skewed(binary):
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        path = "/v1/challenges/" + td.b64u(secrets.token_bytes(16))
        # Section 3: missing or malformed headers.
        expect(relay.request("GET", path), 401, "missing_auth")
        h = host.headers("GET", path)
        h["X-Twostep-Nonce"] = "short"
        expect(relay.request("GET", path, headers=h), 401, "missing_auth")
        h = host.headers("GET", path)
        h["X-Twostep-Timestamp"] = "-5"
        expect(relay.request("GET", path, headers=h), 401, "missing_auth")
        # Unknown host.
        h = host.headers("GET", path)
        h["X-Twostep-Host"] = td.b64u(secrets.token_bytes(16))
        expect(relay.request("GET", path, headers=h), 401, "unknown_host")
        # Skew: 301 s either way is refused, 290 s is not.
        expect(host.call("GET", path, timestamp=int(time.time()) - 301), 401, "clock_skew")
        expect(host.call("GET", path, timestamp=int(time.time()) + 301), 401, "clock_skew")
        expect(host.call("GET", path, timestamp=int(time.time()) - 290), 404, "not_found")
        # A wrong key, and a right signature over a different body/query.
        expect(host.call("GET", path, secret=b"\x01" * 32), 401, "bad_signature")
        h = host.headers("GET", path, query="wait=1")
        expect(relay.request("GET", path, headers=h), 401, "bad_signature")
        # Replay: the same signed request twice.
        h = host.headers("GET", path)
        expect(relay.request("GET", path, headers=h), 404, "not_found")
        expect(relay.request("GET", path, headers=h), 401, "replayed_nonce")
        # A removed host is unknown.
        relay.cli("host", "remove", "web1")
        expect(host.call("GET", path), 401, "unknown_host")


def device_signatures_and_revoked_devices(binary):
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        assert len(dev.devices()) == 1
        # Signed by another key under this key id.
        other = relay.new_device()
        h = dev.sign_request("GET", "/v1/device/self", key=other.api_key)
        expect(relay.request("GET", "/v1/device/self", headers=h), 401, "bad_signature")
        h = dev.sign_request("GET", "/v1/device/self", timestamp=int(time.time()) - 400)
        expect(relay.request("GET", "/v1/device/self", headers=h), 401, "clock_skew")
        h = dev.sign_request("GET", "/v1/device/self")
        expect(relay.request("GET", "/v1/device/self", headers=h), 200)
        expect(relay.request("GET", "/v1/device/self", headers=h), 401, "replayed_nonce")
        # A key the relay never saw.
        h = other.sign_request("GET", "/v1/device/self")
        expect(relay.request("GET", "/v1/device/self", headers=h), 401, "unknown_device")
        # Revoked by the admin: the key is unknown, and no challenge names it.
        device_id = dev.devices()[0]["device_id"]
        relay.cli("device", "revoke", device_id)
        status, body = dev.request("GET", "/v1/device/self")
        assert (status, body["error"]) == (401, "unknown_device"), (status, body)
        expect(host.create("alice", [dev], expect=422), 422, "no_devices")


def device_revoked_for_one_record(binary):
    # One key paired for two users: revoking one record gives device_revoked
    # for it while the key still works for the other.
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        relay.paired_device(host, "bob", device=dev)
        records = {d["user"]: d["device_id"] for d in dev.devices()}
        cid = host.create("alice", [dev])
        dev.remove(records["alice"])
        status, body = dev.request("PATCH", "/v1/device/self/" + records["alice"], body={"name": "x"})
        assert (status, body["error"]) == (403, "device_revoked"), (status, body)
        status, body = dev.request("POST", "/v1/device/challenges/%s/decision" % cid,
                                   body={"decision": "deny"})
        assert (status, body["error"]) == (403, "device_revoked"), (status, body)
        assert dev.rename(records["bob"], "Work phone")["name"] == "Work phone"


def bodies_oversized_truncated_and_not_json(binary):
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        expect(host.call("POST", "/v1/challenges", body=b"{not json"), 400, "bad_request")
        expect(host.call("POST", "/v1/challenges", body=b"[1,2]"), 400, "bad_request")
        expect(host.call("POST", "/v1/challenges", body=b"[" * 5000 + b"]" * 5000), 400,
               "bad_request")
        body = host.challenge_body("alice", [dev])
        body["extra"] = 1
        expect(host.call("POST", "/v1/challenges", body=body), 400, "bad_request")
        body = host.challenge_body("alice", [dev], expires=int(time.time()) + 301)
        expect(host.call("POST", "/v1/challenges", body=body), 400, "bad_request")
        body = host.challenge_body("alice", [dev], nonce="x" * 42)
        expect(host.call("POST", "/v1/challenges", body=body), 400, "bad_request")
        body = host.challenge_body("alice", [dev])
        body["user"] = ""
        expect(host.call("POST", "/v1/challenges", body=body), 400, "bad_request")
        # Over 64 KiB: 413 before authentication.
        big = json.dumps({"user": "a" * 70000}).encode()
        expect(host.call("POST", "/v1/challenges", body=big), 413, "too_large")
        # Headers over 8 KiB.
        expect(relay.request("GET", "/v1/challenges/x", headers={"X-Pad": "a" * 9000}), 413,
               "too_large")
        # Wrong media type, and no Content-Length (chunked).
        h = host.headers("POST", "/v1/challenges", body=b"{}")
        h["Content-Type"] = "text/plain"
        expect(relay.request("POST", "/v1/challenges", b"{}", h), 415, "unsupported_media_type")
        raw = (b"POST /v1/challenges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        assert b" 411 " in raw_exchange(relay, raw).split(b"\r\n")[0]
        # Truncated: Content-Length 100, 10 bytes, then the client stops sending.
        raw = (b"POST /v1/challenges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 100\r\n\r\n{\"user\": 1")
        answer = raw_exchange(relay, raw, shut_write=True)
        assert b" 400 " in answer.split(b"\r\n")[0] and b"bad_request" in answer, answer


def text_fields_refuse_control_characters_and_bad_utf8(binary):
    # Section 2: a NUL, a newline or a DEL in a field that is stored as text
    # or shown on the phone is a 400 on both stores (PostgreSQL cannot store
    # a NUL: this was a 500 there); so are C1 controls and the bidirectional
    # overrides that show a host or an address reversed (U+202E, U+2066..9).
    def refused(response, field):
        expect(response, 400, "bad_request")
        message = response.json["message"]
        assert "'%s'" % field in message and "control characters" in message, response

    def new_pairing(user):
        return relay.request("POST", "/v1/pairings", json.dumps({
            "host_id": host.host_id, "user": user,
            "confirm_hash": td.b64u(secrets.token_bytes(32))}).encode(),
            {"Content-Type": "application/json"})

    with Relay(binary, ["pairings_per_minute = 100"]) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        device_id = dev.devices()[0]["device_id"]
        pid, url, _ = relay.open_pairing(host, "bob")
        _, _, secret = td.parse_pairing_url(url)
        phone = relay.new_device()
        for bad in ("\x00", "\n", "\x7f", "\u009b", "\u0085", "\u202e", "\u2066", "\u2069",
                    "\u200f"):
            for field in ("user", "service", "rhost", "tty"):
                body = host.challenge_body("alice", [dev])
                body[field] = "a" + bad + "b"
                refused(host.call("POST", "/v1/challenges", body=body), field)
            refused(new_pairing("b" + bad + "ob"), "user")
            status, body = phone.request("POST", "/v1/pairings/%s/device" % pid, signed=False,
                                         body=phone.registration(pid, secret, name="Pix" + bad + "el"))
            assert status == 400 and "'name'" in body["message"], (status, body)
            status, body = dev.request("PATCH", "/v1/device/self/" + device_id,
                                       body={"name": "Pix" + bad + "el"})
            assert status == 400 and "control characters" in body["message"], (status, body)
        # A key given twice (one value shown, another meant): refused.
        raw = json.dumps(host.challenge_body("alice", [dev])).encode()
        twice = raw.replace(b'"user": "alice"', b'"user": "alice", "user": "bob"')
        assert twice != raw
        response = host.call("POST", "/v1/challenges", body=twice)
        expect(response, 400, "bad_request")
        assert "key twice" in response.json["message"], response
        # Invalid UTF-8, raw or as an escaped lone surrogate: not JSON.
        raw = json.dumps(host.challenge_body("alice", [dev])).encode()
        for user in (b'"ali\xffce"', b'"ali\xc3ce"', b'"ali\\ud800ce"'):
            body = raw.replace(b'"alice"', user)
            assert body != raw
            expect(host.call("POST", "/v1/challenges", body=body), 400, "bad_request")
        # Nothing was stored: the names are as they were, the pairing still
        # takes a registration, and challenges work (printable UTF-8 too).
        assert dev.devices()[0]["name"] == "test phone", dev.devices()
        status, _ = phone.request("POST", "/v1/pairings/%s/device" % pid, signed=False,
                                  body=phone.registration(pid, secret, name="Pixel \u00e9t\u00e9"))
        assert 200 <= status < 300, status
        cid = host.create("alice", [dev], service="sshd", tty="pts/0 \u2013 \u00e9")
        assert dev.challenge(cid)["tty"] == "pts/0 \u2013 \u00e9"
        assert "store error" not in relay.read_log()


def web_push_is_on_with_either_store(binary):
    # Section 8.4 on SQLite and on PostgreSQL: the VAPID key is made once
    # and kept in the store (a restart serves the same one), and a phone can
    # subscribe and unsubscribe.
    with Relay(binary) as relay:
        key = expect(relay.request("GET", "/v1/push/key"), 200).json["vapid_public_key"]
        assert len(td.b64u_decode(key)) == 65, key
        relay.restart()
        assert expect(relay.request("GET", "/v1/push/key"), 200).json["vapid_public_key"] == key
        assert relay.cli("vapid", "show").stdout.strip() == key
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        sub = {"endpoint": "https://push.example.net/sub-1", "p256dh": td.b64u(point),
               "auth": td.b64u(secrets.token_bytes(16))}
        assert dev.request("POST", "/v1/device/push", body=sub) == (200, {"subscribed": True})
        sub["endpoint"] = "https://push.example.net/sub-2"  # a new one replaces the old
        assert dev.request("POST", "/v1/device/push", body=sub) == (200, {"subscribed": True})
        assert dev.request("DELETE", "/v1/device/push") == (200, {"removed": 1})
        log = relay.read_log()
        assert "Web Push off" not in log and "store error" not in log, log


def expect_100_continue_is_answered(binary):
    # curl sends "Expect: 100-continue" with bodies over 1 KiB and would
    # otherwise wait a second before sending the body.
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        body = json.dumps(host.challenge_body("alice", ["QUJD"] * 16)).encode()
        h = host.headers("POST", "/v1/challenges", body=body)
        head = "".join("%s: %s\r\n" % kv for kv in h.items())
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as s:
            s.sendall(("POST /v1/challenges HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                       "\r\nExpect: 100-continue\r\nContent-Length: %d\r\n%s\r\n"
                       % (len(body), head)).encode())
            start = time.monotonic()
            first = s.recv(100)
            assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first
            assert time.monotonic() - start < 0.5
            s.sendall(body)
            answer = s.recv(4096)
            assert b" 422 " in answer and b"no_devices" in answer, answer


def raw_exchange(relay, data, shut_write=False):
    with socket.create_connection(("127.0.0.1", relay.port), timeout=15) as s:
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
            if b"\r\n\r\n" in out and not shut_write:
                return out


def challenge_lifecycle_and_decisions(binary):
    # Expired, cancelled and superseded ones would start the cooldown
    # (push_fatigue_cooldown_and_report, test_push_fatigue.py): off here.
    with Relay(binary, ["fatigue_denials = 0"]) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        cid = host.create("alice", [dev])
        view = dev.challenge(cid)
        assert view["host"] == "web1" and view["status"] == "pending", view
        assert [c["id"] for c in dev.list_challenges()] == [cid]
        approved = dev.approve(cid, 42)
        assert approved["status"] == "approved", approved
        r = expect(host.wait(cid), 200)
        assert r.json["status"] == "approved" and r.json["assertion"]["credential_id"] == \
            dev.state["credential_id"], r
        assert r.json["device"]["name"] == "test phone", r
        # The assertion the host gets verifies with the digest for 42, not 41.
        client = json.loads(td.b64u_decode(r.json["assertion"]["client_data_json"]))
        assert td.b64u_decode(client["challenge"]) == td.digest_of_view(view, 42)
        assert td.b64u_decode(client["challenge"]) != td.digest_of_view(view, 41)
        # Decided already: 409; for another host: 404.
        with_error(lambda: dev.deny(cid), 409, "already_decided")
        other = relay.add_host("web2")
        expect(other.wait(cid), 404, "not_found")
        # Expired: 410 on decision, "expired" to the host.
        cid2 = host.create("alice", [dev], ttl=1)
        time.sleep(2.1)
        with_error(lambda: dev.deny(cid2), 410, "expired")
        assert host.wait(cid2).json["status"] == "expired"
        # Early assertion check: flags without UV, a foreign origin, another key.
        cid3 = host.create("alice", [dev])
        with_error(lambda: dev.approve(cid3, 7, flags=td.FLAG_UP), 422, "bad_assertion")
        with_error(lambda: dev.approve(cid3, 7, origin="https://evil.test"), 422, "bad_assertion")
        with_error(lambda: dev.approve(cid3, 7, key=relay.new_device().credential_key), 422,
                   "bad_assertion")
        assert dev.challenge(cid3)["status"] == "pending"  # garbage leaves it pending
        # Cancel: cancelled, and cancelling again changes nothing.
        assert expect(host.cancel(cid3), 200).json["status"] == "cancelled"
        assert expect(host.cancel(cid3), 200).json["status"] == "cancelled"
        # A new challenge supersedes the pending one of (host, user).
        a = host.create("alice", [dev])
        b = host.create("alice", [dev])
        assert host.wait(a).json["status"] == "cancelled"
        assert host.wait(b).json["status"] == "pending"
        # Unknown credential ids only: no_devices.
        expect(host.create("alice", [td.b64u(b"nobody")], expect=422), 422, "no_devices")
        # Activity lists them, newest first.
        ids = [v["id"] for v in dev.activity(10)]
        assert ids[0] == b and cid in ids, ids


def with_error(call, status, error):
    try:
        call()
    except td.HttpError as e:
        assert (e.status, (e.body or {}).get("error")) == (status, error), (e.status, e.body)
        return
    raise AssertionError("expected %d %s, got success" % (status, error))


def push_fatigue_cooldown_and_report(binary):
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        for _ in range(3):
            dev.deny(host.create("alice", [dev]))
        r = expect(host.create("alice", [dev], expect=429), 429, "cooldown")
        assert 500 <= int(r.headers["Retry-After"]) <= 600, r.headers
        relay.cli("unblock", "--host", "web1", "--user", "alice")
        cid = host.create("alice", [dev])
        dev.report(cid)
        assert host.wait(cid).json["status"] == "reported"
        expect(host.create("alice", [dev], expect=403), 403, "push_blocked")
        audit = relay.cli("audit", "--user", "alice", "--json").stdout.splitlines()
        events = [json.loads(line)["event"] for line in audit]
        assert "push_blocked" in events and "challenge_decided" in events, events
        assert "twostepd: audit event=push_blocked" in relay.read_log()
        relay.cli("unblock", "--host", "web1", "--user", "alice")
        host.create("alice", [dev])


def pairing_expired_and_completed_twice(binary):
    with Relay(binary, ["pairing_ttl = 60"]) as relay:
        host = relay.add_host("web1")
        dev = relay.new_device()
        pid, url, token = relay.open_pairing(host, "alice")
        # The enroll side's long-poll wakes on registration.
        ctx = expect(relay.request("GET", "/v1/pairings/" + pid), 200).json
        assert ctx["status"] == "open" and ctx["host"] == "web1", ctx
        dev.pair(url)
        reg = expect(relay.request("GET", "/v1/pairings/%s?wait=5" % pid), 200).json
        assert reg["status"] == "registered" and reg["api_public_key"] == td.b64u(dev.api_spki)
        _, _, secret = td.parse_pairing_url(url)
        cred = td.b64u_decode(reg["credential_id"])
        assert td.b64u(td.pairing_proof(secret, pid, reg["name"], cred, dev.credential_spki,
                                        dev.api_spki)) == reg["proof"]
        # Registered twice: already_registered.
        again = dev.registration(pid, secret)
        status, body = dev.request("POST", "/v1/pairings/%s/device" % pid, body=again, signed=False)
        assert (status, body["error"]) == (409, "already_registered"), (status, body)
        # A wrong confirm token; then confirmed; then confirmed twice.
        expect(relay.confirm_pairing(pid, secrets.token_bytes(32)), 401, "bad_signature")
        expect(relay.confirm_pairing(pid, token), 200)
        expect(relay.confirm_pairing(pid, token), 409, "already_registered")
        # Unknown pairing id; unknown host.
        expect(relay.request("GET", "/v1/pairings/" + td.b64u(secrets.token_bytes(16))), 404,
               "not_found")
        r = relay.request("POST", "/v1/pairings", json.dumps({
            "host_id": td.b64u(secrets.token_bytes(16)), "user": "a",
            "confirm_hash": td.b64u(secrets.token_bytes(32))}).encode(),
            {"Content-Type": "application/json"})
        expect(r, 401, "unknown_host")
    # Expiry: a pairing past its time refuses registration with 410.
    with Relay(binary, ["pairing_ttl = 60"]) as relay:
        host = relay.add_host("web1")
        pid, url, token = relay.open_pairing(host, "alice")
        relay.stop()
        relay.sql("UPDATE pairings SET expires = expires - 61")
        relay.start()
        dev = relay.new_device()
        _, _, secret = td.parse_pairing_url(url)
        status, body = dev.request("POST", "/v1/pairings/%s/device" % pid,
                                   body=dev.registration(pid, secret), signed=False)
        assert (status, body["error"]) == (410, "expired"), (status, body)
        expect(relay.request("GET", "/v1/pairings/" + pid), 410, "expired")


def pairing_rate_limit(binary):
    with Relay(binary, ["pairings_per_minute = 3"]) as relay:
        host = relay.add_host("web1")
        for _ in range(3):
            relay.open_pairing(host, "alice")
        r = relay.request("POST", "/v1/pairings", json.dumps({
            "host_id": host.host_id, "user": "alice",
            "confirm_hash": td.b64u(secrets.token_bytes(32))}).encode(),
            {"Content-Type": "application/json"})
        expect(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1


def host_rate_limit(binary):
    with Relay(binary, ["host_rate = 1", "host_burst = 5"]) as relay:
        host = relay.add_host("web1")
        path = "/v1/challenges/" + td.b64u(secrets.token_bytes(16))
        codes = [host.call("GET", path).status for _ in range(8)]
        assert codes[:5] == [404] * 5 and 429 in codes[5:], codes


def unknown_routes_and_device_self(binary):
    with Relay(binary) as relay:
        expect(relay.request("GET", "/nothing-here"), 404, "not_found")
        expect(relay.request("GET", "/app/missing.js"), 404, "not_found")
        expect(relay.request("GET", "/v2/challenges"), 404, "not_found")
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        selves = dev.devices()
        assert selves[0]["host"] == "web1" and selves[0]["user"] == "alice", selves
        dev.rename(selves[0]["device_id"], "Pixel 8")
        assert dev.devices()[0]["name"] == "Pixel 8"
        listed = relay.cli("device", "list", "--host", "web1", "--user", "alice").stdout
        assert "Pixel 8" in listed and "active" in listed, listed
        status, _ = dev.request("GET", "/v1/device/activity", query="limit=101")
        assert status == 400


def host_view_names_the_registered_host(binary):
    """Section 4.5: GET /v1/host answers the caller's own host_id and the
    name given to `host add` (what twostep-check compares with host_name),
    behind the whole host authentication of section 3."""
    with Relay(binary) as relay:
        web1, web2 = relay.add_host("web1"), relay.add_host("db-2")
        r = web1.call("GET", "/v1/host")
        assert r.status == 200 and r.json == {"host_id": web1.host_id, "name": "web1"}, r
        r = web2.call("GET", "/v1/host")
        assert r.status == 200 and r.json == {"host_id": web2.host_id, "name": "db-2"}, r
        expect(relay.request("GET", "/v1/host"), 401, "missing_auth")
        expect(web1.call("GET", "/v1/host", secret=b"\x01" * 32), 401, "bad_signature")
        expect(web1.call("GET", "/v1/host", query="name=x"), 400, "bad_request")
        h = web1.headers("GET", "/v1/host")
        assert relay.request("GET", "/v1/host", headers=h).status == 200
        expect(relay.request("GET", "/v1/host", headers=h), 401, "replayed_nonce")
        relay.cli("host", "remove", "web1")
        expect(web1.call("GET", "/v1/host"), 401, "unknown_host")


REGISTRATION_FIELDS = ("name", "credential_id", "credential_public_key", "api_public_key", "proof",
                       "api_signature")


def registration_proves_key_possession(binary):
    # Section 7 step 4: a registration is signed by the API key it names, over
    # this pairing. Someone who read a phone's public key (it was in the
    # pairing view) cannot route their own logins to that phone.
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        owner = relay.paired_device(host, "alice")
        thief = relay.new_device("thief")
        pid, url, token = relay.open_pairing(host, "mallory")
        _, _, secret = td.parse_pairing_url(url)
        path = "/v1/pairings/%s/device" % pid

        def register(body):
            return thief.request("POST", path, body=body, signed=False)

        stolen = thief.registration(pid, secret, api_spki=owner.api_spki)
        # As a version 1 client sent it, with no signature: refused, saying why.
        v1 = {k: v for k, v in stolen.items() if k != "api_signature"}
        status, body = register(v1)
        assert (status, body["error"]) == (400, "bad_request") and \
            "'api_signature' is missing" in body["message"], (status, body)
        # Signed by the sender's own key: refused.
        status, body = register(stolen)
        assert (status, body["error"]) == (401, "bad_signature"), (status, body)
        # The owner's own signature, made for another pairing: refused here.
        other, other_url, _ = relay.open_pairing(host, "alice")
        signed_elsewhere = owner.registration(other, td.parse_pairing_url(other_url)[2],
                                              name=stolen["name"])
        credential_of_thief = dict(stolen, api_signature=signed_elsewhere["api_signature"])
        status, body = register(credential_of_thief)
        assert (status, body["error"]) == (401, "bad_signature"), (status, body)
        for bad in ("", "A" * 85, "A" * 87, "!" * 86):
            status, body = register(dict(stolen, api_signature=bad))
            assert status in (400, 401), (bad, status, body)
        # Nothing was stored: the pairing still takes an honest registration.
        ctx = expect(relay.request("GET", "/v1/pairings/" + pid), 200).json
        assert ctx["status"] == "open" and not set(REGISTRATION_FIELDS) & set(ctx), ctx
        status, body = register(thief.registration(pid, secret))
        assert status == 200 and body["api_public_key"] == td.b64u(thief.api_spki), (status, body)
        expect(relay.confirm_pairing(pid, token), 200)
        # The owner's phone never sees mallory's logins.
        host.create("mallory", [thief])
        assert owner.list_challenges() == [], owner.list_challenges()
        assert len(thief.list_challenges()) == 1


def pairing_view_hides_keys_once_confirmed_or_expired(binary):
    # Section 7 step 5: the registration's keys and proof are in the view
    # only while the enroll tool waits for them (status registered).
    with Relay(binary, ["pairing_ttl = 60"]) as relay:
        host = relay.add_host("web1")
        dev = relay.new_device()
        pid, url, token = relay.open_pairing(host, "alice")
        dev.pair(url)
        registered = expect(relay.request("GET", "/v1/pairings/" + pid), 200).json
        assert registered["status"] == "registered" and \
            set(REGISTRATION_FIELDS) - {"api_signature"} <= set(registered), registered
        assert "api_signature" not in registered, registered
        expect(relay.confirm_pairing(pid, token), 200)
        for query in ("", "?wait=5"):
            view = expect(relay.request("GET", "/v1/pairings/" + pid + query), 200).json
            assert view["status"] == "confirmed" and view["user"] == "alice", view
            assert not set(REGISTRATION_FIELDS) & set(view), view
        # Registered, never confirmed, then past its expiry: no view at all.
        late, late_url, _ = relay.open_pairing(host, "bob")
        dev.pair(late_url)
        relay.stop()
        relay.sql("UPDATE pairings SET expires = expires - 61")
        relay.start()
        for target in (late, pid):
            r = relay.request("GET", "/v1/pairings/" + target)
            assert r.status == 410 or not set(REGISTRATION_FIELDS) & set(r.json), r
        expect(relay.request("GET", "/v1/pairings/" + late), 410, "expired")


def same_phone_paired_again_for_the_same_user(binary):
    # One phone pinned in two secret files of one (host, user), sshd's and
    # sudo's: the second pairing confirms onto the device record the first
    # made (admin guide, "One phone for sshd and sudo").
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        phone = relay.paired_device(host, "alice")
        first = phone.devices()
        assert len(first) == 1, first
        pid, url, token = relay.open_pairing(host, "alice")
        phone.pair(url)
        confirmed = expect(relay.confirm_pairing(pid, token), 200).json
        assert confirmed["device_id"] == first[0]["device_id"], (confirmed, first)
        assert phone.devices() == first, phone.devices()
        view = expect(relay.request("GET", "/v1/pairings/" + pid), 200).json
        assert view["status"] == "confirmed", view
        cid = host.create("alice", [phone])
        assert [c["id"] for c in phone.list_challenges()] == [cid]
        # The same credential under another API key is still refused.
        other = relay.new_device("other")
        other.state["credential_id"] = phone.state["credential_id"]
        other.credential_key = phone.credential_key
        pid, url, token = relay.open_pairing(host, "alice")
        other.pair(url)
        expect(relay.confirm_pairing(pid, token), 409, "already_registered")
        assert phone.devices() == first, phone.devices()


def unknown_query_parameters_are_refused(binary):
    """Section 2: a query parameter other than the documented ones (`wait`,
    `limit`) is bad_request on every route, the unauthenticated ones
    included (issue 18 item 15: GET /v1/push/key ignored its query)."""
    with Relay(binary) as relay:
        expect(relay.request("GET", "/v1/push/key"), 200)
        expect(relay.request("GET", "/v1/push/key?x=1"), 400, "bad_request")
        expect(relay.request("GET", "/v1/push/key?wait=1"), 400, "bad_request")
        host = relay.add_host("web1")
        body = json.dumps({"host_id": host.host_id, "user": "alice",
                           "confirm_hash": td.b64u(hashlib.sha256(b"k" * 32).digest())})
        headers = {"Content-Type": "application/json"}
        expect(relay.request("POST", "/v1/pairings?x=1", body, headers), 400, "bad_request")
        created = expect(relay.request("POST", "/v1/pairings", body, headers), 201).json
        expect(relay.request("GET", "/v1/pairings/%s?x=1" % created["id"]), 400, "bad_request")
        expect(relay.request("GET", "/v1/pairings/%s?wait=0" % created["id"]), 200)


if __name__ == "__main__":
    sys.exit(run([
        signatures_bad_missing_replayed_and_skewed,
        device_signatures_and_revoked_devices,
        device_revoked_for_one_record,
        bodies_oversized_truncated_and_not_json,
        challenge_lifecycle_and_decisions,
        push_fatigue_cooldown_and_report,
        pairing_expired_and_completed_twice,
        registration_proves_key_possession,
        pairing_view_hides_keys_once_confirmed_or_expired,
        same_phone_paired_again_for_the_same_user,
        pairing_rate_limit,
        host_rate_limit,
        unknown_routes_and_device_self,
        unknown_query_parameters_are_refused,
        text_fields_refuse_control_characters_and_bad_utf8,
        web_push_is_on_with_either_store,
        expect_100_continue_is_answered,
        host_view_names_the_registered_host,
    ], sys.argv[1]))
