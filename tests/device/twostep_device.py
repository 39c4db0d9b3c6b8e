#!/usr/bin/python3
"""A scriptable twostep push device: what the approver web app on a phone does,
in Python, so that every push path runs in CI without a phone.

It implements docs/protocol.md independently of the C++ core (section numbers
below refer to it):

- an API key (ECDSA P-256) that signs device requests (8.1, P1363 signatures);
- a software WebAuthn credential (P-256, ES256) that makes standard assertions
  (authenticatorData with rpIdHash, flags, counter; clientDataJSON; DER
  signature) over the approval digest (6) with the number the "user" types;
- pairing (7): registration with its proof, and the comparison code;
- HTTP to a relay (stdlib http.client): pair, list, approve, deny, report,
  the SSE event stream, self management, activity.

State (keys, credential id, counter, relay URL, origin) lives in a JSON file
(mode 0600) so a test can drive one device across steps and processes.

Library use:
    dev = Device.create("/tmp/x/dev.json", origin="https://approve.test",
                        relay="http://127.0.0.1:8700")
    dev.pair("https://approve.test/#pair=<id>.<S>")
    for view in dev.list_challenges(): dev.approve(view["id"], 42)

CLI use: twostep_device.py --state FILE COMMAND ... (see --help); every
command prints one JSON document on stdout.

Test knobs (to make assertions that must fail): flags, origin, rp_id, type,
counter, challenge, crossOrigin, a foreign signing key, see Device.assertion.
Needs python3-cryptography (Debian package).
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import ssl
import struct
import sys
import tempfile
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

FLAG_UP = 0x01
FLAG_UV = 0x04
MAX_RESPONSE = 1 << 20


# --- section 2 --------------------------------------------------------------

def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Strict: the alphabet only, no padding, canonical trailing bits."""
    if not isinstance(text, str) or len(text) % 4 == 1:
        raise ValueError("b64u: bad length")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if any(c not in alphabet for c in text):
        raise ValueError("b64u: bad character")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64u(data) != text:
        raise ValueError("b64u: not canonical")
    return data


def lp(field) -> bytes:
    if isinstance(field, str):
        field = field.encode("utf-8")
    return struct.pack(">I", len(field)) + field


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- sections 3 and 8.1 -----------------------------------------------------

def canonical_request(scheme, method, path, query, body: bytes, timestamp, nonce, key_id) -> str:
    first = {"hmac": "TWOSTEP-HMAC-SHA256", "ecdsa": "TWOSTEP-ECDSA-P256-SHA256"}[scheme]
    return "\n".join([first, method, path, query, hashlib.sha256(body).hexdigest(),
                      str(timestamp), nonce, key_id])


def host_signature(secret: bytes, method, path, query, body, timestamp, nonce, host_id) -> str:
    canonical = canonical_request("hmac", method, path, query, body, timestamp, nonce, host_id)
    return b64u(hmac.new(secret, canonical.encode(), hashlib.sha256).digest())


def spki_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id_of(spki: bytes) -> str:
    return b64u(sha256(spki)[:16])


def sign_p1363(private_key, message: bytes) -> bytes:
    r, s = utils.decode_dss_signature(private_key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


# --- section 6 --------------------------------------------------------------

def approval_digest(challenge_id, module_nonce, host, user, service, rhost, tty, number, expires,
                    context=None) -> bytes:
    """Version 1 without `context`; version 2 with it, a dict of the
    challenge's command, target_user and location."""
    if not 0 <= int(number) <= 99:
        raise ValueError("number must be 0..99")
    fields = lp(challenge_id) + lp(module_nonce) + lp(host) + lp(user) + lp(service) + lp(rhost) + lp(tty)
    label = b"twostep-approval-v1"
    if context is not None:
        label = b"twostep-approval-v2"
        fields += lp(context["command"]) + lp(context["target_user"]) + lp(context["location"])
    return sha256(label + fields + lp("%02d" % int(number)) + lp(str(int(expires))))


def digest_of_view(view: dict, number, host=None) -> bytes:
    """The digest for a challenge view (8.2); host defaults to the view's.
    A view with a context (a version 2 challenge) gets the version 2 digest,
    one whose context is null or missing (an older module's) version 1."""
    return approval_digest(view["id"], view["nonce"], view["host"] if host is None else host,
                           view["user"], view["service"], view["rhost"], view["tty"], number,
                           view["expires"], view.get("context"))


def rp_id_of(origin: str) -> str:
    return urllib.parse.urlsplit(origin).hostname


# --- section 7 --------------------------------------------------------------

def pairing_proof(secret: bytes, pairing_id, name, credential_id: bytes, credential_spki: bytes,
                  api_spki: bytes) -> bytes:
    message = (b"twostep-pair-v1" + lp(pairing_id) + lp(name) + lp(credential_id)
               + lp(credential_spki) + lp(api_spki))
    return hmac.new(secret, message, hashlib.sha256).digest()


def registration_key_message(pairing_id, name, credential_id: bytes, credential_spki: bytes,
                             api_spki: bytes) -> bytes:
    """What the API key signs at registration (proof of possession, 7 step 4)."""
    return (b"twostep-pair-key-v1" + lp(pairing_id) + lp(name) + lp(credential_id)
            + lp(credential_spki) + lp(api_spki))


def comparison_code(secret: bytes, credential_spki: bytes, api_spki: bytes) -> str:
    mac = hmac.new(secret, b"twostep-compare-v1" + lp(credential_spki) + lp(api_spki),
                   hashlib.sha256).digest()
    return "%06d" % (int.from_bytes(mac[:4], "big") % 1000000)


def parse_pairing_url(url: str):
    """'<origin>/#pair=<id>.<b64u(S)>' -> (origin, id, S)."""
    base, _, fragment = url.partition("#")
    if not fragment.startswith("pair="):
        raise ValueError("not a pairing URL")
    pairing_id, dot, secret_text = fragment[len("pair="):].partition(".")
    if not dot or not pairing_id:
        raise ValueError("not a pairing URL")
    secret = b64u_decode(secret_text)
    if len(secret) != 32:
        raise ValueError("pairing secret is not 32 bytes")
    return base.rstrip("/"), pairing_id, secret


# --- the device ---------------------------------------------------------------

class HttpError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body))
        self.status = status
        self.body = body


def _load_key(pem: str):
    return serialization.load_pem_private_key(pem.encode(), password=None)


def _pem(private_key) -> str:
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()


class Device:
    def __init__(self, path: str, state: dict):
        self.path = path
        self.state = state
        self.api_key = _load_key(state["api_key"])
        self.credential_key = _load_key(state["credential_key"])

    # -- state --

    @classmethod
    def create(cls, path, origin, relay=None, name="test device", cafile=None):
        state = {
            "version": 1,
            "name": name,
            "origin": origin.rstrip("/"),
            "relay": relay,
            "cafile": cafile,
            "api_key": _pem(ec.generate_private_key(ec.SECP256R1())),
            "credential_key": _pem(ec.generate_private_key(ec.SECP256R1())),
            "credential_id": b64u(secrets.token_bytes(16)),
            "counter": 0,
            "flags": FLAG_UP | FLAG_UV,
            "pairings": [],
        }
        device = cls(path, state)
        device.save()
        return device

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(path, json.load(f))

    def save(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=".device-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.state, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    # -- public identity --

    @property
    def api_spki(self) -> bytes:
        return spki_der(self.api_key.public_key())

    @property
    def credential_spki(self) -> bytes:
        return spki_der(self.credential_key.public_key())

    @property
    def key_id(self) -> str:
        return key_id_of(self.api_spki)

    def info(self) -> dict:
        return {"name": self.state["name"], "origin": self.state["origin"], "relay": self.state["relay"],
                "key_id": self.key_id, "credential_id": self.state["credential_id"],
                "credential_public_key": b64u(self.credential_spki), "api_public_key": b64u(self.api_spki),
                "counter": self.state["counter"], "flags": self.state["flags"],
                "pairings": self.state["pairings"]}

    # -- section 7 --

    def registration(self, pairing_id, secret: bytes, name=None, api_spki=None, signing_key=None) -> dict:
        """The registration body; api_spki names another key (as a thief of a
        public key would) and signing_key signs with another key."""
        name = self.state["name"] if name is None else name
        api_spki = self.api_spki if api_spki is None else api_spki
        credential_id = b64u_decode(self.state["credential_id"])
        proof = pairing_proof(secret, pairing_id, name, credential_id, self.credential_spki, api_spki)
        message = registration_key_message(pairing_id, name, credential_id, self.credential_spki, api_spki)
        signature = sign_p1363(signing_key or self.api_key, message)
        return {"name": name, "credential_id": self.state["credential_id"],
                "credential_public_key": b64u(self.credential_spki),
                "api_public_key": b64u(api_spki), "proof": b64u(proof),
                "api_signature": b64u(signature)}

    def comparison_code(self, secret: bytes) -> str:
        return comparison_code(secret, self.credential_spki, self.api_spki)

    # -- section 8.1 --

    def sign_request(self, method, path, query="", body=b"", timestamp=None, nonce=None, key=None) -> dict:
        timestamp = int(time.time()) if timestamp is None else timestamp
        nonce = b64u(secrets.token_bytes(16)) if nonce is None else nonce
        canonical = canonical_request("ecdsa", method, path, query, body, timestamp, nonce, self.key_id)
        signature = sign_p1363(key or self.api_key, canonical.encode())
        return {"X-Twostep-Device": self.key_id, "X-Twostep-Timestamp": str(timestamp),
                "X-Twostep-Nonce": nonce, "X-Twostep-Signature": b64u(signature)}

    # -- section 6 --

    def assertion(self, challenge: bytes, flags=None, counter=None, origin=None, rp_id=None,
                  type="webauthn.get", cross_origin=False, key=None, save=True) -> dict:
        """A standard WebAuthn assertion over `challenge` (32 bytes). Every
        argument can be bent to produce one that must be refused. The counter
        goes up by one per assertion unless given."""
        origin = self.state["origin"] if origin is None else origin
        rp_id = rp_id_of(self.state["origin"]) if rp_id is None else rp_id
        flags = self.state["flags"] if flags is None else flags
        if counter is None:
            counter = self.state["counter"] + 1
            self.state["counter"] = counter
            if save:
                self.save()
        client_data = json.dumps({"type": type, "challenge": b64u(challenge), "origin": origin,
                                  "crossOrigin": cross_origin}, separators=(",", ":")).encode()
        auth_data = sha256(rp_id.encode()) + bytes([flags & 0xff]) + struct.pack(">I", counter)
        signature = (key or self.credential_key).sign(auth_data + sha256(client_data),
                                                      ec.ECDSA(hashes.SHA256()))
        return {"credential_id": self.state["credential_id"], "authenticator_data": b64u(auth_data),
                "client_data_json": b64u(client_data), "signature": b64u(signature)}

    # -- HTTP (section 8.2) --

    def _connection(self, timeout):
        relay = self.state.get("relay")
        if not relay:
            raise ValueError("no relay URL in the device state")
        parts = urllib.parse.urlsplit(relay)
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=self.state.get("cafile"))
            return http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout,
                                               context=context), parts.path.rstrip("/")
        if parts.scheme == "http":
            return http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                              timeout=timeout), parts.path.rstrip("/")
        raise ValueError("relay URL must be http(s)")

    def request(self, method, path, query="", body=None, signed=True, timeout=30, headers=None):
        """Sends one request; returns (status, parsed JSON or raw text)."""
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        conn, prefix = self._connection(timeout)
        try:
            sent_headers = {"Accept": "application/json"}
            if body is not None:
                sent_headers["Content-Type"] = "application/json"
            if signed:
                sent_headers.update(self.sign_request(method, prefix + path, query, raw))
            sent_headers.update(headers or {})
            target = prefix + path + ("?" + query if query else "")
            conn.request(method, target, body=raw if body is not None else None, headers=sent_headers)
            response = conn.getresponse()
            data = response.read(MAX_RESPONSE + 1)
            if len(data) > MAX_RESPONSE:
                raise HttpError(response.status, "response too large")
            try:
                return response.status, json.loads(data) if data else None
            except ValueError:
                return response.status, data.decode("utf-8", "replace")
        finally:
            conn.close()

    def _ok(self, status, body):
        if not 200 <= status < 300:
            raise HttpError(status, body)
        return body

    def pair(self, url, name=None, check_origin=True) -> dict:
        """Reads the pairing's context and registers this device under it."""
        origin, pairing_id, secret = parse_pairing_url(url)
        if check_origin and origin != self.state["origin"]:
            raise ValueError("pairing URL origin %s is not the device's %s" % (origin, self.state["origin"]))
        context = self._ok(*self.request("GET", "/v1/pairings/" + pairing_id, signed=False))
        registration = self.registration(pairing_id, secret, name)
        answer = self._ok(*self.request("POST", "/v1/pairings/%s/device" % pairing_id, body=registration,
                                        signed=False))
        record = {"pairing_id": pairing_id, "host": context.get("host"), "user": context.get("user"),
                  "comparison_code": self.comparison_code(secret)}
        self.state["pairings"].append(record)
        self.save()
        return {"context": context, "answer": answer, "comparison_code": record["comparison_code"]}

    def list_challenges(self) -> list:
        return self._ok(*self.request("GET", "/v1/device/challenges"))["challenges"]

    def challenge(self, challenge_id) -> dict:
        return self._ok(*self.request("GET", "/v1/device/challenges/" + challenge_id))

    def decide(self, challenge_id, body) -> dict:
        return self._ok(*self.request("POST", "/v1/device/challenges/%s/decision" % challenge_id, body=body))

    def approve(self, challenge_id, number, host=None, **bend) -> dict:
        """Reads the view, computes the digest with `number` as typed by the
        user, and approves. `bend` goes to assertion() (tests of refusals)."""
        view = self.challenge(challenge_id)
        digest = bend.pop("challenge", None) or digest_of_view(view, number, host)
        return self.decide(challenge_id, {"decision": "approve", "assertion": self.assertion(digest, **bend)})

    def deny(self, challenge_id) -> dict:
        return self.decide(challenge_id, {"decision": "deny"})

    def report(self, challenge_id) -> dict:
        return self.decide(challenge_id, {"decision": "report"})

    def devices(self) -> list:
        return self._ok(*self.request("GET", "/v1/device/self"))["devices"]

    def rename(self, device_id, name) -> dict:
        return self._ok(*self.request("PATCH", "/v1/device/self/" + device_id, body={"name": name}))

    def remove(self, device_id):
        return self._ok(*self.request("DELETE", "/v1/device/self/" + device_id))

    def activity(self, limit=20) -> list:
        return self._ok(*self.request("GET", "/v1/device/activity", query="limit=%d" % limit))["activity"]

    def events(self, count=1, timeout=10.0, on_open=None, on_event=None) -> list:
        """Reads the SSE stream until `count` events arrived or `timeout`
        seconds passed; returns [{"event": name, "data": parsed JSON}].
        on_open() is called once the stream is established (e.g. to create a
        challenge that must then arrive), on_event(event) as each arrives
        (e.g. to decide a challenge once it was announced)."""
        deadline = time.monotonic() + timeout
        conn, prefix = self._connection(timeout)
        events = []
        try:
            conn.connect()
            sock = conn.sock  # http.client lets go of it once the response owns the stream
            headers = {"Accept": "text/event-stream"}
            headers.update(self.sign_request("GET", prefix + "/v1/device/events"))
            conn.request("GET", prefix + "/v1/device/events", headers=headers)
            response = conn.getresponse()
            if response.status != 200:
                raise HttpError(response.status, response.read(MAX_RESPONSE).decode("utf-8", "replace"))
            if on_open:
                on_open()
            name, data = None, []
            while len(events) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(remaining)
                try:
                    line = response.fp.readline(65537)
                except (TimeoutError, OSError):
                    break
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        text = "\n".join(data)
                        try:
                            parsed = json.loads(text)
                        except ValueError:
                            parsed = text
                        events.append({"event": name or "message", "data": parsed})
                        if on_event:
                            on_event(events[-1])
                    name, data = None, []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
        finally:
            conn.close()
        return events


# --- CLI ------------------------------------------------------------------------

def _flags(text):
    value = 0
    for part in filter(None, text.split(",")):
        value |= {"up": FLAG_UP, "uv": FLAG_UV, "none": 0}[part]
    return value


class _IdFriendlyParser(argparse.ArgumentParser):
    """Takes a 22-character base64url word that begins with '-' as a value.

    Relays made such ids once in 64 (issue 18), and argparse would read one
    as an unknown option. A word that names an option stays an option; `--`
    before the id works too."""

    def _parse_optional(self, arg_string):
        if _LEADING_DASH_ID.fullmatch(arg_string) and arg_string not in self._option_string_actions:
            return None
        return super()._parse_optional(arg_string)


_LEADING_DASH_ID = re.compile(r"-[A-Za-z0-9_-]{21}")


def main(argv=None):
    parser = _IdFriendlyParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", required=True, help="the device's JSON state file")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="make a new device (keys, credential)")
    p.add_argument("--origin", required=True)
    p.add_argument("--relay")
    p.add_argument("--name", default="test device")
    p.add_argument("--cafile")
    sub.add_parser("info", help="public identity and state")
    p = sub.add_parser("set", help="change a setting: relay, origin, name, flags (e.g. up,uv), counter")
    p.add_argument("key", choices=["relay", "origin", "name", "flags", "counter"])
    p.add_argument("value")

    p = sub.add_parser("pair", help="register under a pairing URL (<origin>/#pair=<id>.<S>)")
    p.add_argument("url")
    p.add_argument("--name")
    sub.add_parser("list", help="pending challenges")
    p = sub.add_parser("show")
    p.add_argument("id")
    p = sub.add_parser("approve", help="approve with the number the user typed")
    p.add_argument("id")
    p.add_argument("number", type=int)
    p.add_argument("--host", help="host name for the digest (default: the view's)")
    p.add_argument("--flags", type=_flags)
    p.add_argument("--origin")
    p.add_argument("--rp-id")
    p.add_argument("--type", default="webauthn.get")
    p.add_argument("--counter", type=int)
    for name in ("deny", "report"):
        p = sub.add_parser(name)
        p.add_argument("id")
    p = sub.add_parser("events", help="read the SSE stream")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=10.0)
    sub.add_parser("self", help="this key's device records")
    p = sub.add_parser("rename")
    p.add_argument("device_id")
    p.add_argument("name")
    p = sub.add_parser("remove")
    p.add_argument("device_id")
    p = sub.add_parser("activity")
    p.add_argument("--limit", type=int, default=20)

    # Offline helpers (cross-checks, hand debugging).
    p = sub.add_parser("digest", help="approval digest (hex) of a view JSON and a number")
    p.add_argument("view_json")
    p.add_argument("number", type=int)
    p = sub.add_parser("assertion", help="an assertion over a challenge given in hex")
    p.add_argument("challenge_hex")
    p = sub.add_parser("sign-request", help="device request headers")
    p.add_argument("method")
    p.add_argument("path")
    p.add_argument("--query", default="")
    p.add_argument("--body", default="")
    p.add_argument("--timestamp", type=int)
    p.add_argument("--nonce")
    p = sub.add_parser("registration", help="a pairing registration body (with proof)")
    p.add_argument("pairing_id")
    p.add_argument("secret_b64u")

    args = parser.parse_args(argv)
    if args.command == "init":
        device = Device.create(args.state, args.origin, args.relay, args.name, args.cafile)
        return _print(device.info())
    device = Device.load(args.state)
    try:
        if args.command == "info":
            return _print(device.info())
        if args.command == "set":
            value = args.value
            if args.key == "flags":
                value = _flags(value)
            elif args.key == "counter":
                value = int(value)
            device.state[args.key] = value
            device.save()
            return _print(device.info())
        if args.command == "pair":
            return _print(device.pair(args.url, args.name))
        if args.command == "list":
            return _print(device.list_challenges())
        if args.command == "show":
            return _print(device.challenge(args.id))
        if args.command == "approve":
            bend = {k: v for k, v in (("flags", args.flags), ("origin", args.origin), ("rp_id", args.rp_id),
                                      ("counter", args.counter)) if v is not None}
            return _print(device.approve(args.id, args.number, host=args.host, type=args.type, **bend))
        if args.command == "deny":
            return _print(device.deny(args.id))
        if args.command == "report":
            return _print(device.report(args.id))
        if args.command == "events":
            return _print(device.events(args.count, args.timeout))
        if args.command == "self":
            return _print(device.devices())
        if args.command == "rename":
            return _print(device.rename(args.device_id, args.name))
        if args.command == "remove":
            return _print(device.remove(args.device_id))
        if args.command == "activity":
            return _print(device.activity(args.limit))
        if args.command == "digest":
            return _print({"digest": digest_of_view(json.loads(args.view_json), args.number).hex()})
        if args.command == "assertion":
            return _print(device.assertion(bytes.fromhex(args.challenge_hex)))
        if args.command == "sign-request":
            return _print(device.sign_request(args.method, args.path, args.query, args.body.encode(),
                                              args.timestamp, args.nonce))
        if args.command == "registration":
            secret = b64u_decode(args.secret_b64u)
            return _print({"registration": device.registration(args.pairing_id, secret),
                           "comparison_code": device.comparison_code(secret)})
    except HttpError as e:
        _print({"status": e.status, "body": e.body})
        return 1
    except (ValueError, OSError, http.client.HTTPException) as e:
        sys.stderr.write("twostep_device: %s\n" % e)
        return 3
    return 2


def _print(document):
    json.dump(document, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
