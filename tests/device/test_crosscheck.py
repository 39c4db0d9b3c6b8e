#!/usr/bin/python3
"""Two independent implementations of docs/protocol.md must agree: the Python
test device (python3-cryptography, hashlib, hmac) makes requests, assertions
and pairing registrations, the C++ core checks them (push_crosscheck), and the
core's digests, comparison codes, key ids and host signatures must equal the
Python ones. Each tampered case must be refused with its own reason.

    test_crosscheck.py PATH/TO/push_crosscheck
"""

import json
import os
import secrets
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import twostep_device as td
except ImportError as e:  # python3-cryptography missing
    print("SKIP: %s (install python3-cryptography)" % e)
    sys.exit(77)

ORIGIN = "https://approve.example.test"


def request_case(device, method, path, query, body, signature=None, spki=None, override=None):
    headers = device.sign_request(method, path, query, body.encode())
    case = {"kind": "device_request", "spki": td.b64u(spki or device.api_spki), "method": method,
            "path": path, "query": query, "body": body, "timestamp": headers["X-Twostep-Timestamp"],
            "nonce": headers["X-Twostep-Nonce"], "key_id": headers["X-Twostep-Device"],
            "signature": signature or headers["X-Twostep-Signature"]}
    case.update(override or {})
    return case


def check_documented_vectors():
    """docs/protocol.md section 11, which the C++ unit tests check too."""
    nonce, host_id = "AAECAwQFBgcICQoLDA0ODw", "aG9zdGlkaG9zdGlkaG9zdA"
    got = [
        td.host_signature(bytes(range(32)), "POST", "/v1/challenges", "", b'{"user":"alice"}', "1764300000",
                          nonce, host_id),
        td.host_signature(bytes(range(32)), "GET", "/v1/challenges/abc", "wait=30", b"", "1764300000", nonce,
                          host_id),
        td.approval_digest("Q2hhbGxlbmdlSWQxMjM0NQ", "bm9uY2Vub25jZW5vbmNlbm9uY2Vub25jZW5vbmNlbm9uY2U", "web1",
                           "alice", "sshd", "203.0.113.5", "ssh", 7, 1764300090).hex(),
        td.b64u(td.pairing_proof(bytes([0x5a] * 32), "UGFpcmluZ0lkUGFpcmluZ0lk", "Pixel 8", bytes([1, 2, 3, 4, 5]),
                                 bytes(range(91)), bytes(range(100, 191)))),
        td.comparison_code(bytes([0x5a] * 32), bytes(range(91)), bytes(range(100, 191))),
        td.sha256(td.registration_key_message("UGFpcmluZ0lkUGFpcmluZ0lk", "Pixel 8", bytes([1, 2, 3, 4, 5]),
                                              bytes(range(91)), bytes(range(100, 191)))).hex(),
        td.key_id_of(bytes.fromhex(
            "3059301306072a8648ce3d020106082a8648ce3d03010703420004471c3e758c4904285bba7e53118ed0f524adeb"
            "0757d25bd2f8e7b0d76dfa714cdd520f7aca8a8b917acc37f51de8f0c9bbe3ad858382e702dc25a12d09f7a858")),
    ]
    want = ["OLtmM0z29teU5_qPYys__98P4731TTVygneoheAzsE0", "_riiGuBhMFhAUk4KuSG3EKDslZP7QT54YuXMzUZWGPM",
            "c598d89e06ef7c3ea99871e02630d47c6c02bf0803c267c1218e35c703e68d2a",
            "Bb2FPsievD4I4OWLgC2Wps-sDH-m_9Zh5z3ITWE8z-M", "575532",
            "d14a6586657f8f03bca68eb12f0b6290fd1e49deb4d124b71d886e1eedcd0529", "xNkRQyMNMweAkO2JwgceuA"]
    mismatches = [(g, w) for g, w in zip(got, want) if g != w]
    for g, w in mismatches:
        print("FAIL documented vector: Python computes %s, docs/protocol.md says %s" % (g, w))
    return not mismatches


def main():
    binary = sys.argv[1]
    if not check_documented_vectors():
        return 1
    cases, expected = [], []

    def expect(case, **fields):
        cases.append(case)
        expected.append(fields)

    with tempfile.TemporaryDirectory(prefix="twostep-crosscheck-") as tmp:
        device = td.Device.create(os.path.join(tmp, "device.json"), ORIGIN, name="Pixel \u00e9 8")
        other = td.Device.create(os.path.join(tmp, "other.json"), ORIGIN)

        # --- 8.1 device requests
        kid = device.key_id
        expect(request_case(device, "GET", "/v1/device/challenges", "", ""), verdict="valid", key_id=kid)
        expect(request_case(device, "POST", "/v1/device/challenges/abc/decision", "",
                            '{"decision":"deny"}'), verdict="valid", key_id=kid)
        expect(request_case(device, "GET", "/v1/device/activity", "limit=5", ""), verdict="valid", key_id=kid)
        expect(request_case(device, "POST", "/v1/device/challenges/abc/decision", "", '{"decision":"deny"}',
                            override={"body": '{"decision":"report"}'}), verdict="bad_signature", key_id=kid)
        expect(request_case(device, "GET", "/v1/device/challenges", "", "", override={"path": "/v1/device/self"}),
               verdict="bad_signature", key_id=kid)
        expect(request_case(device, "GET", "/v1/device/activity", "limit=5", "", override={"query": "limit=6"}),
               verdict="bad_signature", key_id=kid)
        expect(request_case(device, "GET", "/v1/device/challenges", "", "", override={"timestamp": "1"}),
               verdict="bad_signature", key_id=kid)
        expect(request_case(device, "GET", "/v1/device/challenges", "", "",
                            override={"nonce": td.b64u(secrets.token_bytes(16))}), verdict="bad_signature", key_id=kid)
        foreign = device.sign_request("GET", "/v1/device/challenges", key=other.api_key)
        expect(request_case(device, "GET", "/v1/device/challenges", "", "",
                            signature=foreign["X-Twostep-Signature"]), verdict="bad_signature", key_id=kid)
        good = request_case(device, "GET", "/v1/device/challenges", "", "")
        expect(dict(good, signature=good["signature"][:-1]), verdict="malformed", key_id=kid)
        expect(dict(good, signature=good["signature"] + "="), verdict="malformed", key_id=kid)

        # --- 3 host requests (Python signs, the core verifies and signs too)
        host_secret = secrets.token_bytes(32)
        for method, path, query, body in [("POST", "/v1/challenges", "", '{"user":"alice"}'),
                                          ("GET", "/v1/challenges/Q2hhbGxlbmdlSWQxMjM0NQ", "wait=30", ""),
                                          ("DELETE", "/v1/challenges/x", "", "")]:
            ts, nonce, host_id = "1764300000", td.b64u(secrets.token_bytes(16)), td.b64u(secrets.token_bytes(16))
            sig = td.host_signature(host_secret, method, path, query, body.encode(), ts, nonce, host_id)
            base = {"kind": "host_request", "secret": td.b64u(host_secret), "method": method, "path": path,
                    "query": query, "body": body, "timestamp": ts, "nonce": nonce, "key_id": host_id,
                    "signature": sig}
            canonical = td.canonical_request("hmac", method, path, query, body.encode(), ts, nonce, host_id)
            expect(base, verdict="valid", signature=sig, canonical=canonical)
            tampered = dict(base, body=body + " ")
            expect(tampered, verdict="bad_signature",
                   signature=td.host_signature(host_secret, method, path, query, (body + " ").encode(), ts,
                                               nonce, host_id))

        # --- 6 approval digests, including non-ASCII and empty fields
        contexts = [
            dict(id="Q2hhbGxlbmdlSWQxMjM0NQ", nonce=td.b64u(b"n" * 32), host="web1", user="alice",
                 service="sshd", rhost="203.0.113.5", tty="ssh", number=7, expires=1764300090),
            dict(id=td.b64u(secrets.token_bytes(16)), nonce=td.b64u(secrets.token_bytes(32)),
                 host="h\u00f6st", user="\u00e9l\u00e8ve", service="sudo", rhost="", tty="/dev/pts/3",
                 number=0, expires=0),
            dict(id="x", nonce="y", host="", user="u", service="su", rhost="::1", tty="", number=99,
                 expires=2 ** 40),
        ]
        for _ in range(10):
            contexts.append(dict(id=td.b64u(secrets.token_bytes(16)), nonce=td.b64u(secrets.token_bytes(32)),
                                 host=secrets.token_hex(secrets.randbelow(12)), user=secrets.token_urlsafe(5),
                                 service="sshd", rhost=secrets.token_hex(4), tty="ssh",
                                 number=secrets.randbelow(100), expires=1764300000 + secrets.randbelow(10 ** 6)))
        # Version 2 (protocol version 3): the same with a signed context.
        contexts += [dict(c, context=dict(command="sudo -u root /bin/echo 'a  b' \u2026 end",
                                          target_user=secrets.token_urlsafe(4),
                                          location=["", "this computer", "Berlin, Germany"][i % 3]))
                     for i, c in enumerate(list(contexts))]
        for c in contexts:
            digest = td.approval_digest(c["id"], c["nonce"], c["host"], c["user"], c["service"], c["rhost"],
                                        c["tty"], c["number"], c["expires"], c.get("context"))
            expect(dict(c, kind="digest"), digest_hex=digest.hex())

        # --- 6 assertions: the module's check and the relay's (8.3)
        view = dict(id="Q2hhbGxlbmdlSWQxMjM0NQ", nonce=td.b64u(secrets.token_bytes(32)), host="web1",
                    user="alice", service="sshd", rhost="203.0.113.5", tty="ssh", expires=1764300090)
        digest = td.digest_of_view(view, 42)
        spki = td.b64u(device.credential_spki)

        def assertion_case(assertion, challenge=digest, pinned=None, origin=ORIGIN):
            return {"kind": "assertion", "spki": spki, "origin": origin,
                    "challenge_hex": None if challenge is None else challenge.hex(),
                    "pinned_counter": pinned, "assertion": assertion}

        a = device.assertion(digest)
        expect(assertion_case(a, pinned=0), failure="none", sign_counter=device.state["counter"])
        expect(assertion_case(a, pinned=device.state["counter"]), failure="counter_regressed", sign_counter=0)
        expect(assertion_case(a, challenge=None, pinned=None), failure="none", sign_counter=device.state["counter"])
        expect(assertion_case(a, challenge=td.digest_of_view(view, 43)), failure="wrong_challenge", sign_counter=0)
        expect(assertion_case(a, challenge=td.digest_of_view(view, 42, host="web2")), failure="wrong_challenge",
               sign_counter=0)
        expect(assertion_case(a, origin="https://other.example.test"), failure="wrong_origin", sign_counter=0)
        bends = [
            (dict(flags=td.FLAG_UP), "no_user_verification"),
            (dict(flags=td.FLAG_UV), "no_user_presence"),
            (dict(flags=0), "no_user_presence"),
            (dict(origin="https://evil.example.test"), "wrong_origin"),
            (dict(cross_origin=True), "wrong_origin"),
            (dict(rp_id="example.test"), "wrong_rp"),
            (dict(type="webauthn.create"), "wrong_type"),
            (dict(key=other.credential_key), "bad_signature"),
            (dict(counter=0), "counter_regressed"),
        ]
        for bend, failure in bends:
            expect(assertion_case(device.assertion(digest, **bend), pinned=5), failure=failure, sign_counter=0)
        # The relay's early check still refuses all of them but the counter.
        for bend, failure in bends:
            relay_failure = "none" if failure == "counter_regressed" else failure
            bent = device.assertion(td.b64u_decode(td.b64u(secrets.token_bytes(32))), **bend)
            expect(assertion_case(bent, challenge=None, pinned=None), failure=relay_failure,
                   sign_counter=bend.get("counter", device.state["counter"]) if relay_failure == "none" else 0)
        # A tampered field after signing.
        for field in ("authenticator_data", "client_data_json"):
            good = device.assertion(digest)
            raw = bytearray(td.b64u_decode(good[field]))
            if field == "authenticator_data":
                raw[36] ^= 0x80  # the counter's low byte: still above the pin
            else:
                raw[-1:] = b" }"  # same JSON, other bytes
            expect(assertion_case(dict(good, **{field: td.b64u(bytes(raw))}), pinned=0), failure="bad_signature",
                   sign_counter=0)

        # --- 7 pairing
        for name in ("Pixel 8", "", "t\u00e9l\u00e9phone \U0001F4F1"):
            secret = secrets.token_bytes(32)
            pairing_id = td.b64u(secrets.token_bytes(16))
            reg = device.registration(pairing_id, secret, name=name)
            result = dict(verdict="valid", signature_verdict="valid",
                          comparison_code=device.comparison_code(secret),
                          credential_spki_ok=True, api_spki_ok=True, api_key_id=device.key_id)
            expect({"kind": "pairing", "secret": td.b64u(secret), "pairing_id": pairing_id, "registration": reg},
                   **result)
            swapped = dict(reg, credential_public_key=reg["api_public_key"],
                           api_public_key=reg["credential_public_key"])
            expect({"kind": "pairing", "secret": td.b64u(secret), "pairing_id": pairing_id,
                    "registration": swapped},
                   verdict="bad_signature", signature_verdict="bad_signature",
                   comparison_code=td.comparison_code(secret, device.api_spki, device.credential_spki),
                   credential_spki_ok=True, api_spki_ok=True, api_key_id=td.key_id_of(device.credential_spki))
            wrong = dict(reg, proof=td.b64u(td.pairing_proof(secrets.token_bytes(32), pairing_id, name,
                                                             td.b64u_decode(reg["credential_id"]),
                                                             device.credential_spki, device.api_spki)))
            expect({"kind": "pairing", "secret": td.b64u(secret), "pairing_id": pairing_id, "registration": wrong},
                   **dict(result, verdict="bad_signature"))
            # Another key's public half, signed by this device's key: the
            # proof of possession fails (the HMAC proof alone cannot tell).
            other_spki = td.spki_der(td.ec.generate_private_key(td.ec.SECP256R1()).public_key())
            stolen = device.registration(pairing_id, secret, name=name, api_spki=other_spki)
            expect({"kind": "pairing", "secret": td.b64u(secret), "pairing_id": pairing_id,
                    "registration": stolen},
                   **dict(result, signature_verdict="bad_signature", api_key_id=td.key_id_of(other_spki),
                          comparison_code=td.comparison_code(secret, device.credential_spki, other_spki)))
            # Signed for another pairing: refused for this one.
            elsewhere = device.registration(td.b64u(secrets.token_bytes(16)), secret, name=name)
            moved = dict(reg, api_signature=elsewhere["api_signature"])
            expect({"kind": "pairing", "secret": td.b64u(secret), "pairing_id": pairing_id,
                    "registration": moved}, **dict(result, signature_verdict="bad_signature"))

        cases_path = os.path.join(tmp, "cases.json")
        with open(cases_path, "w", encoding="utf-8") as f:
            json.dump(cases, f)
        run = subprocess.run([binary, cases_path], capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            print(run.stderr)
            print("FAIL: push_crosscheck exited with %d" % run.returncode)
            return 1
        results = json.loads(run.stdout)

    failures = 0
    if len(results) != len(cases):
        print("FAIL: %d results for %d cases" % (len(results), len(cases)))
        return 1
    for index, (case, want, got) in enumerate(zip(cases, expected, results)):
        for key, value in want.items():
            if got.get(key) != value:
                failures += 1
                print("FAIL case %d (%s): %s: core says %r, Python expects %r"
                      % (index, case["kind"], key, got.get(key), value))
    kinds = sorted({c["kind"] for c in cases})
    if failures:
        print("FAIL: %d mismatches over %d cases" % (failures, len(cases)))
        return 1
    print("PASS: %d cases agree (%s)" % (len(cases), ", ".join(kinds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
