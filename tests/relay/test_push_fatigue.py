#!/usr/bin/env python3
"""Issue 19 item 6 (push bombing) and issue 18 item 5 (pairing limits).

- A burst of logins from two hosts for one user's phone yields at most the
  phone's notification bound (notifications_per_minute) of Web Push
  notifications; the rest are refused with 429 cooldown, which the module
  answers with its refusal message.
- Unanswered pushes (cancelled by the host, superseded, expired) start the
  same cooldown as denials.
- The phone learns what was suppressed: GET /v1/device/challenges says how
  many requests, and the next notification carries the count.
- A stranger who spends their pairing budget from one address does not stop
  a pairing for another user, from another address, on the same host.

usage: test_push_fatigue.py TWOSTEPD
"""

import http.client
import json
import os
import secrets
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from relay_harness import Relay, expect, run, td
import twostep_harness as th  # noqa: E402 (on the path relay_harness sets)
from test_push_concurrency import subscribe, with_service as with_push_service


def arrived(service, prefix):
    return [p for p, _ in service.arrived if p.startswith(prefix)]


@with_push_service
def a_burst_from_two_hosts_yields_at_most_the_bound(binary, service):
    # The cooldown off, so that only the phone's bound (the default, 6)
    # stands between the burst and the phone.
    config = ["host_rate = 1000", "host_burst = 1000", "fatigue_denials = 0"]
    with Relay(binary, config) as relay:
        web1, web2 = relay.add_host("web1"), relay.add_host("web2")
        phone = relay.paired_device(web1, "alice")
        relay.paired_device(web2, "alice", device=phone)  # the same phone, a second host
        subscribe(phone, service.url + "/fast/alice/0")
        bob = relay.paired_device(web1, "bob")
        subscribe(bob, service.url + "/fast/bob/0")
        statuses = []
        for i in range(20):
            for host in (web1, web2):
                r = host.call("POST", "/v1/challenges",
                              body=host.challenge_body("alice", [phone]))
                statuses.append((r.status, r.error))
                if r.status == 429:
                    assert r.error == "cooldown", r
                    assert 1 <= int(r.headers["Retry-After"]) <= 60, r.headers
        created = sum(1 for status, _ in statuses if status == 201)
        assert created == 6, "6 notified, the rest refused: %r" % statuses
        assert statuses[:6] == [(201, None)] * 6, statuses
        # Every push alice's burst queued is sent before bob's, made after it.
        bob_cid = web1.create("bob", [bob])
        assert service.wait_for(lambda s: arrived(s, "/fast/bob/"), 15), service.arrived
        assert service.wait_for(lambda s: len(arrived(s, "/fast/alice/")) >= 6, 15), \
            service.arrived
        assert len(arrived(service, "/fast/alice/")) == 6, service.arrived
        # The phone is told how many it did not see.
        status, body = phone.request("GET", "/v1/device/challenges")
        assert status == 200, (status, body)
        assert body["suppressed"]["count"] == 34, body["suppressed"]
        assert body["suppressed"]["since"] <= body["suppressed"]["last"] <= time.time() + 1
        status, body = bob.request("GET", "/v1/device/challenges")
        assert body["suppressed"] == {"count": 0, "since": None, "last": None}, body
        assert [c["id"] for c in body["challenges"]] == [bob_cid], body


def subscribe_keeping_keys(device, endpoint):
    """Subscribes as a browser does, keeping the keys that decrypt its pushes."""
    key = ec.generate_private_key(ec.SECP256R1())
    auth = os.urandom(16)
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    status, body = device.request("POST", "/v1/device/push", body={
        "endpoint": endpoint, "p256dh": td.b64u(point), "auth": td.b64u(auth)})
    assert status == 200, (status, body)
    return key, point, auth


def decrypt_push(keys, body):
    """RFC 8291 (aes128gcm, RFC 8188) as the browser does it: the payload."""
    key, point, auth = keys
    salt, idlen = body[:16], body[20]
    server_point = body[21:21 + idlen]
    ciphertext = body[21 + idlen:]
    server = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_point)
    shared = key.exchange(ec.ECDH(), server)
    ikm = HKDF(hashes.SHA256(), 32, auth,
               b"WebPush: info\x00" + point + server_point).derive(shared)
    cek = HKDF(hashes.SHA256(), 16, salt, b"Content-Encoding: aes128gcm\x00").derive(ikm)
    nonce = HKDF(hashes.SHA256(), 12, salt, b"Content-Encoding: nonce\x00").derive(ikm)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    return json.loads(padded.rstrip(b"\x00")[:-1])  # the last record's delimiter is 0x02


@with_push_service
def the_next_notification_tells_the_suppressed_count(binary, service):
    config = ["fatigue_denials = 0", "notifications_per_minute = 1"]
    with Relay(binary, config) as relay:
        host = relay.add_host("web1")
        phone = relay.paired_device(host, "alice")
        keys = subscribe_keeping_keys(phone, service.url + "/fast/alice/0")
        first = host.create("alice", [phone])
        for _ in range(3):
            expect(host.create("alice", [phone], expect=429), 429, "cooldown")
        # A minute later (its notice is made older), the next notification
        # says how many were suppressed since the previous one.
        relay.sql("UPDATE phone_notices SET time = time - 60")
        second = host.create("alice", [phone])
        relay.sql("UPDATE phone_notices SET time = time - 60")
        third = host.create("alice", [phone])
        assert service.wait_for(lambda s: len(s.bodies) == 3, 15), service.arrived
        payloads = sorted((decrypt_push(keys, body) for _, body in service.bodies),
                          key=lambda p: [first, second, third].index(p["id"]))
        assert payloads == [{"type": "challenge", "id": first},
                            {"type": "challenge", "id": second, "suppressed": 3},
                            {"type": "challenge", "id": third}], payloads
        # The app's count stays: the page shows it when opened.
        assert phone.request("GET", "/v1/device/challenges")[1]["suppressed"]["count"] == 3


def unanswered_pushes_start_the_cooldown(binary):
    with Relay(binary) as relay:  # the shipped policy: 3 within 10 minutes
        host = relay.add_host("web1")
        phone = relay.paired_device(host, "alice")
        # Pressing Enter and disconnecting: the module cancels its push.
        for _ in range(2):
            cid = host.create("alice", [phone])
            assert host.cancel(cid).json["status"] == "cancelled"
        # Pressing Enter again before the first ran out: superseded.
        host.create("alice", [phone])
        host.create("alice", [phone])
        r = expect(host.create("alice", [phone], expect=429), 429, "cooldown")
        assert 590 <= int(r.headers["Retry-After"]) <= 600, r.headers
        # The phone never answered, and is told so.
        status, body = phone.request("GET", "/v1/device/challenges")
        assert body["suppressed"]["count"] == 1, body
        # Another user of the host is not affected.
        bob = relay.paired_device(host, "bob")
        host.create("bob", [bob])


def unanswered_pushes_that_expire_count_too(binary):
    with Relay(binary, ["fatigue_denials = 2"]) as relay:
        host = relay.add_host("web1")
        phone = relay.paired_device(host, "alice")
        for _ in range(2):
            cid = host.create("alice", [phone], ttl=1)
            # The long-poll answers when the challenge expires: an event,
            # then the audit line of its expiry (written once, by the relay).
            assert host.wait(cid, wait=10).json["status"] == "expired"
            relay_audit_has(relay, cid, "challenge_expired")
        expect(host.create("alice", [phone], expect=429), 429, "cooldown")


def relay_audit_has(relay, cid, event):
    def found():
        lines = relay.cli("audit", "--user", "alice", "--json").stdout.splitlines()
        return any((e["event"], e["challenge"]) == (event, cid) for e in map(json.loads, lines))
    th.wait_for(found, 20, "the audit event %s of %s" % (event, cid))


def open_pairing_from(relay, source, host_id, user):
    conn = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=30,
                                      source_address=(source, 0))
    try:
        conn.request("POST", "/v1/pairings", json.dumps({
            "host_id": host_id, "user": user,
            "confirm_hash": td.b64u(secrets.token_bytes(32))}).encode(),
            {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        conn.close()


def a_stranger_cannot_stop_pairing_for_a_host(binary):
    with Relay(binary) as relay:  # the shipped limits: 10 a minute
        host = relay.add_host("web1")
        # A stranger reads the host id from push.conf and spends their budget.
        codes = [open_pairing_from(relay, "127.0.0.1", host.host_id, "carol")[0]
                 for _ in range(12)]
        assert codes[:10] == [201] * 10 and codes[10:] == [429, 429], codes
        # Another user, from another address, still pairs.
        status, body = open_pairing_from(relay, "127.0.0.2", host.host_id, "bob")
        assert status == 201, (status, body)
        # Still limited: the stranger's address for anyone, and carol from anywhere.
        assert open_pairing_from(relay, "127.0.0.1", host.host_id, "dave")[0] == 429
        status, body = open_pairing_from(relay, "127.0.0.3", host.host_id, "carol")
        assert (status, body["error"]) == (429, "rate_limited"), (status, body)
        # Many addresses, one user each: the host's bound is far above it.
        for i in range(4, 40):
            status, body = open_pairing_from(relay, "127.0.0.%d" % i, host.host_id, "u%d" % i)
            assert status == 201, (i, status, body)
        assert open_pairing_from(relay, "127.0.1.1", host.host_id, "erin")[0] == 201


if __name__ == "__main__":
    sys.exit(run([
        a_burst_from_two_hosts_yields_at_most_the_bound,
        the_next_notification_tells_the_suppressed_count,
        unanswered_pushes_start_the_cooldown,
        unanswered_pushes_that_expire_count_too,
        a_stranger_cannot_stop_pairing_for_a_host,
    ], sys.argv[1]))
