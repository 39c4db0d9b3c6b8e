#!/usr/bin/env python3
"""docs/protocol.md section 11, read from the page itself: each vector is
recomputed from the values the text gives, with the Python test device
(tests/device/twostep_device.py, written from the protocol), and the key
fingerprint with the built twostep-enroll (`--list-devices`), so that a
vector that drifts from the code, or from the text around it, fails here.

usage: test_protocol_vectors.py PROTOCOL_MD TWOSTEP_ENROLL
"""

import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "device"))
import twostep_device as td  # noqa: E402

failures = []
DOC_TEXT = [""]  # the whole page, for checks outside section 11


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def section_11(text):
    start = text.index("## 11. Test vectors")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def paragraph(section, title):
    """The paragraph that starts with **TITLE**, joined into one line."""
    match = re.search(r"\*\*" + re.escape(title) + r"\*\*(.*?)(?:\n\n|\Z)", section, re.S)
    if not match:
        raise SystemExit("FAIL section 11 has no paragraph **%s**" % title)
    return " ".join(match.group(1).split())


def ticks(text):
    return re.findall(r"`([^`]*)`", text)


def host_signatures(section):
    text = paragraph(section, "Host signature (3).")
    check("Secret = bytes `00 01 02 … 1f`" in text, "host vector: the secret is bytes 00..1f")
    post = re.search(r"`POST`, path `([^`]+)`, empty query, body `([^`]+)`, timestamp `(\d+)`, "
                     r"nonce `([^`]+)`, host id `([^`]+)`", text)
    path, body, timestamp, nonce, host_id = post.groups()
    check(len(td.b64u_decode(host_id)) == 16 and len(host_id) == 22, "host vector: host id is 22 characters")
    got = td.host_signature(bytes(range(32)), "POST", path, "", body.encode(), timestamp, nonce, host_id)
    documented = re.search(r"X-Twostep-Signature: (\S+)`", text).group(1)
    check(got == documented, "host vector: POST signature %s (computed %s)" % (documented, got))
    body_hash = re.search(r"Body hash `([0-9a-f]{64})`", text).group(1)
    check(td.sha256(body.encode()).hex() == body_hash, "host vector: body hash")
    get = re.search(r"`GET (\S+)`, query `([^`]*)`, empty body: `([^`]+)`", text)
    got = td.host_signature(bytes(range(32)), "GET", get.group(1), get.group(2), b"", timestamp, nonce, host_id)
    check(got == get.group(3), "host vector: GET signature %s (computed %s)" % (get.group(3), got))


def approval_digest(section):
    text = paragraph(section, "Approval digest (6).")
    v = dict(zip(["id", "nonce", "host", "user", "service", "rhost", "tty"], ticks(text)))
    number = int(re.search(r"number (\d+) \(`\"(\d\d)\"`\)", text).group(1))
    expires = re.search(r"expires `(\d+)`", text).group(1)
    check(len(v["id"]) == 22, "digest vector: challenge id is 22 characters")
    got = td.approval_digest(v["id"], v["nonce"], v["host"], v["user"], v["service"], v["rhost"],
                             v["tty"], number, int(expires))
    documented = re.search(r"`([0-9a-f]{64})`", text).group(1)
    check(got.hex() == documented, "digest vector %s (computed %s)" % (documented, got.hex()))
    check("b64u `%s`" % td.b64u(got) in text, "digest vector: its b64u form")
    return v, number, int(expires)


def approval_digest_with_context(section, fields):
    """Version 2: the version 1 vector's fields plus the documented context."""
    v, number, expires = fields
    text = paragraph(section, "Approval digest with context (6, version 2).")
    context = dict(zip(["command", "target_user", "location"], ticks(text)))
    check(context["command"].startswith("sudo "), "digest v2 vector: a sudo command")
    got = td.approval_digest(v["id"], v["nonce"], v["host"], v["user"], v["service"], v["rhost"],
                             v["tty"], number, expires, context)
    documented = re.search(r"`([0-9a-f]{64})`", text).group(1)
    check(got.hex() == documented, "digest v2 vector %s (computed %s)" % (documented, got.hex()))
    check("b64u `%s`" % td.b64u(got) in text, "digest v2 vector: its b64u form")
    section6 = re.search(r"^## 6\..*?(?=^## 7\.)", DOC_TEXT[0], re.S | re.M).group(0)
    check("twostep-approval-v2" in section6 and "lp(command) || lp(target user) || lp(location)"
          in section6, "section 6 documents the version 2 digest's fields in this order")


def pairing(section):
    text = paragraph(section, "Pairing (7).")
    pairing_id = re.search(r"pairing id `([^`]+)`", text).group(1)
    if len(pairing_id) != 22:
        # A placeholder of another length must say so (ids are 22, section 2).
        check("%d characters" % len(pairing_id) in text and "placeholder" in text,
              "pairing vector: its %d-character id is marked as a placeholder" % len(pairing_id))
    name = re.search(r"name `([^`]+)`", text).group(1)
    credential_id = bytes.fromhex(re.search(r"credential id `([0-9a-f]+)`", text).group(1))
    check("bytes `00 01 … 5a` (91 bytes)" in text and "bytes `64 65 … be` (91 bytes" in text,
          "pairing vector: the two SPKIs are bytes 0..90 and 100..190")
    credential_spki, api_spki = bytes(range(91)), bytes(range(100, 191))
    secret = bytes([0x5a] * 32)
    got = td.b64u(td.pairing_proof(secret, pairing_id, name, credential_id, credential_spki, api_spki))
    documented = re.search(r"proof `([^`]+)`", text).group(1)
    check(got == documented, "pairing vector: proof %s (computed %s)" % (documented, got))
    got = td.comparison_code(secret, credential_spki, api_spki)
    documented = re.search(r"comparison code `(\d{6})`", text).group(1)
    check(got == documented, "pairing vector: comparison code %s (computed %s)" % (documented, got))


def key_id(section):
    text = paragraph(section, "Device key id (8.1).")
    spki = bytes.fromhex(re.search(r"SPKI `([0-9a-f]+)`", text).group(1))
    documented = re.search(r"key id `([^`]+)`", text).group(1)
    check(td.key_id_of(spki) == documented, "key id vector %s (computed %s)" % (documented, td.key_id_of(spki)))
    return spki


def fingerprint(section, spki, enroll):
    """The vector against the enroll tool itself: a file pinning a device
    with that key, listed by `twostep-enroll --list-devices`."""
    text = paragraph(section, "Key fingerprint (twostep-enroll).")
    documented = re.search(r"`([0-9a-f]{4}(?: [0-9a-f]{4}){3})`", text).group(1)
    with tempfile.TemporaryDirectory(prefix="twostep-vectors-") as tmp:
        secret = os.path.join(tmp, "secret")
        subprocess.run([enroll, "--secret-file", secret, "--no-confirm", "--qr", "none",
                        "--backup-codes", "0"], check=True, capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=30)
        with open(secret, encoding="ascii") as handle:
            content = handle.read().replace("twostep-secret 1", "twostep-secret 2")
        content += ("device name=vector credential=AQIDBAU key=%s origin=https://approve.test "
                    "counter=0 added=1764300000\n" % td.b64u(spki))
        with open(secret, "w", encoding="ascii") as handle:
            handle.write(content)
        listed = subprocess.run([enroll, "--secret-file", secret, "--list-devices"], check=True,
                                capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                timeout=30).stdout
    check("key " + documented + "\t" in listed,
          "fingerprint vector %s is what twostep-enroll prints (%s)" % (documented, listed.strip()))


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        DOC_TEXT[0] = handle.read()
        section = section_11(DOC_TEXT[0])
    host_signatures(section)
    approval_digest_with_context(section, approval_digest(section))
    pairing(section)
    spki = key_id(section)
    fingerprint(section, spki, argv[2])
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
