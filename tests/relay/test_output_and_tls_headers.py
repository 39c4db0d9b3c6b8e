#!/usr/bin/env python3
"""Issue 19, items 8 and 10.

Item 8, forged audit output: an unauthenticated pairing names its user, and
that text reached `twostepd audit` unescaped, so `x result=approved` added a
field. Now every field goes through one rule (backend/log_field.hpp): bare
when plain, else quoted with \\" \\\\ and \\xHH; --json is ASCII-only JSON.

Item 10, HSTS: when twostepd speaks TLS itself, every answer carries
Strict-Transport-Security (max-age one year by default, hsts_max_age);
plain HTTP never does.

usage: test_output_and_tls_headers.py TWOSTEPD
"""

import hashlib
import http.client
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
import time

from relay_harness import Relay, expect, run, td
from test_tls_and_limits import write_cert

# Text a stranger can give as a pairing's user, each meant to forge a field
# or to hide in a terminal. The first must be accepted by the relay (it is
# plain printable ASCII); the others may be refused by the text rule, and
# are then simply not in the audit.
FORGERIES = [
    "x result=approved user=root",
    'q" result=approved device="d',
    "back\\slash result=approved",
    "caf\u00e9 r\u00e9sultat=ok",
    "evil\u202e=tluser",
]


def parse_fields(line):
    """Splits one audit/log line by the documented rule: spaces outside
    quotes separate key=value pairs; a quoted value unescapes \\" \\\\ \\xHH.
    Returns (words before the first key, [(key, value), ...])."""
    words, fields, i, n = [], [], 0, len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        m = re.match(r'([a-z_]+)=', line[i:])
        if not m:
            j = line.find(" ", i)
            j = n if j < 0 else j
            assert not fields, "bare word after a field: %r" % line
            words.append(line[i:j])
            i = j
            continue
        key = m.group(1)
        i += len(m.group(0))
        if i < n and line[i] == '"':
            i += 1
            raw = bytearray()
            while True:
                assert i < n, "unterminated quote: %r" % line
                c = line[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\":
                    e = line[i + 1]
                    if e == "x":
                        raw.append(int(line[i + 2:i + 4], 16))
                        i += 4
                        continue
                    assert e in '"\\', "unknown escape in %r" % line
                    raw += e.encode()
                    i += 2
                    continue
                raw += c.encode()
                i += 1
            assert i == n or line[i] == " ", "text after a quoted value: %r" % line
            fields.append((key, raw.decode("utf-8")))
        else:
            j = line.find(" ", i)
            j = n if j < 0 else j
            value = line[i:j]
            assert value and all(0x21 <= ord(c) <= 0x7e and c not in '"=\\' for c in value), \
                "a bare value that the rule would quote: %r" % line
            fields.append((key, value))
            i = j
    return words, fields


def open_pairing(relay, host, user):
    return relay.request("POST", "/v1/pairings", json.dumps({
        "host_id": host.host_id, "user": user,
        "confirm_hash": td.b64u(hashlib.sha256(secrets.token_bytes(32)).digest())}).encode(),
        {"Content-Type": "application/json"})


def audit_cannot_be_forged_by_stored_text(binary):
    with Relay(binary, ["pairings_per_minute = 1000"]) as relay:
        host = relay.add_host("web1")
        accepted = []
        for user in FORGERIES:
            r = open_pairing(relay, host, user)
            assert r.status in (201, 400), r
            if r.status == 201:
                accepted.append(user)
        assert FORGERIES[0] in accepted and FORGERIES[1] in accepted, accepted

        text = relay.cli("audit").stdout
        assert all(b == 0x0a or 0x20 <= b <= 0x7e for b in text.encode()), \
            "audit text has only printable ASCII: %r" % text
        users = []
        for line in text.splitlines():
            words, fields = parse_fields(line)
            keys = [k for k, _ in fields]
            assert keys == ["host", "user", "service", "rhost", "challenge", "device", "result",
                            "ms"], "one of each field, in order: %r" % line
            values = dict(fields)
            if words[1:] == ["pairing_created"]:
                assert values["result"] == "open", line
                users.append(values["user"])
        assert users == accepted, (users, accepted)

        raw = relay.cli("audit", "--json").stdout
        assert all(b == 0x0a or 0x20 <= b <= 0x7e for b in raw.encode()), \
            "audit --json is ASCII (non-ASCII as \\u escapes): %r" % raw
        events = [json.loads(line) for line in raw.splitlines()]
        assert [e["user"] for e in events if e["event"] == "pairing_created"] == accepted
        assert all(e["result"] == "open" for e in events if e["event"] == "pairing_created")

        # The daemon's own audit lines: no field forged either.
        logged = [line for line in relay.read_log().splitlines()
                  if line.startswith("twostepd: audit event=pairing_created")]
        assert len(logged) == len(accepted), logged
        for line, user in zip(logged, accepted):
            _, fields = parse_fields(line[len("twostepd: audit "):])
            keys = [k for k, _ in fields]
            assert len(keys) == len(set(keys)), "a key twice: %r" % line
            assert dict(fields)["user"] == user and dict(fields)["result"] == "open", line


def device_list_escapes_names(binary):
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        dev = relay.new_device(name='phone user=root "x"')
        relay.paired_device(host, "alice", dev)
        out = relay.cli("device", "list").stdout
        line = [x for x in out.splitlines() if "alice" in x][0]
        assert '"phone user\\x3droot' not in line  # '=' is quoted, not hex-escaped
        assert '"phone user=root \\"x\\""' in line, line


# -- item 10 --

def start_tls_relay(relay, extra=()):
    cert, key, _ = write_cert(relay.dir, "relay")
    with open(relay.config, "a") as f:
        f.write("tls_cert = %s\ntls_key = %s\n" % (cert, key))
        for line in extra:
            f.write(line + "\n")
    log = open(relay.log, "a")
    relay.proc = subprocess.Popen([relay.binary, "--config", relay.config, "--db", relay.db,
                                   "serve", "--listen", "127.0.0.1:0"],
                                  stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+) \(TLS\)", relay.read_log())
        if m:
            return int(m.group(1)), ssl.create_default_context(cafile=cert)
        assert relay.proc.poll() is None, relay.read_log()
        time.sleep(0.05)
    raise AssertionError("no TLS relay: " + relay.read_log())


def https(port, context, method, target, body=None, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=context)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        r = conn.getresponse()
        r.read()
        return r.status, r.getheader("Strict-Transport-Security")
    finally:
        conn.close()


def tls_answers_carry_hsts(binary):
    relay = Relay(binary)
    try:
        port, context = start_tls_relay(relay)
        year = "max-age=31536000"
        assert https(port, context, "GET", "/v1/none") == (404, year)
        assert https(port, context, "GET", "/") == (200, year)  # the approver app
        assert https(port, context, "POST", "/v1/pairings", b"{",
                     {"Content-Type": "application/json"}) == (400, year)
        assert https(port, context, "GET", "/v1/challenges/x") == (401, year)
        # Refused on its headers (a body over the limit is never read).
        with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                                 server_hostname="localhost") as s:
            s.sendall(b"POST /v1/pairings HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"application/json\r\nContent-Length: 70000\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                assert chunk, data
                data += chunk
        assert data.startswith(b"HTTP/1.1 413 "), data
        assert b"\r\nStrict-Transport-Security: %s\r\n" % year.encode() in data, data
    finally:
        relay.__exit__(None, None, None)


def tls_event_stream_carries_hsts(binary):
    relay = Relay(binary)
    try:
        port, context = start_tls_relay(relay, ["hsts_max_age = 600"])
        relay.port = port
        host = relay.add_host("web1")
        # Pair over TLS: the harness speaks plain HTTP, so pair by hand.
        dev = relay.new_device()
        dev.state["relay"] = "https://localhost:%d" % port
        dev.state["cafile"] = os.path.join(relay.dir, "relay.pem")
        token_k = secrets.token_bytes(32)
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=context)
        conn.request("POST", "/v1/pairings", json.dumps({
            "host_id": host.host_id, "user": "alice",
            "confirm_hash": td.b64u(hashlib.sha256(token_k).digest())}).encode(),
            {"Content-Type": "application/json"})
        r = conn.getresponse()
        pairing = json.loads(r.read())
        conn.close()
        assert r.status == 201 and r.getheader("Strict-Transport-Security") == "max-age=600"
        dev.pair("%s/#pair=%s.%s" % (dev.state["origin"], pairing["id"],
                                     td.b64u(secrets.token_bytes(32))))
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=context)
        conn.request("POST", "/v1/pairings/%s/confirm" % pairing["id"],
                     json.dumps({"confirm_token": td.b64u(token_k)}).encode(),
                     {"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        conn.close()
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=20, context=context)
        try:
            conn.request("GET", "/v1/device/events", headers=dev.sign_request("GET", "/v1/device/events"))
            r = conn.getresponse()
            assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream", r.status
            assert r.getheader("Strict-Transport-Security") == "max-age=600"
        finally:
            conn.close()
    finally:
        relay.__exit__(None, None, None)


def tls_hsts_can_be_turned_off(binary):
    relay = Relay(binary)
    try:
        port, context = start_tls_relay(relay, ["hsts_max_age = 0"])
        assert https(port, context, "GET", "/v1/none") == (404, None)
    finally:
        relay.__exit__(None, None, None)


def plain_http_has_no_hsts(binary):
    with Relay(binary) as relay:
        for target in ("/v1/none", "/"):
            r = relay.request("GET", target)
            assert r.status in (200, 404), r
            assert "Strict-Transport-Security" not in r.headers, r.headers
        # Raw bytes too: no header in any casing.
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as s:
            s.sendall(b"GET /v1/none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert b"strict-transport-security" not in data.lower(), data
        expect(relay.request("GET", "/v1/none"), 404)


if __name__ == "__main__":
    sys.exit(run([
        audit_cannot_be_forged_by_stored_text,
        device_list_escapes_names,
        tls_answers_carry_hsts,
        tls_event_stream_carries_hsts,
        tls_hsts_can_be_turned_off,
        plain_http_has_no_hsts,
    ], sys.argv[1]))
