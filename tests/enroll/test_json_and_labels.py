#!/usr/bin/python3
"""--json prints one JSON object on stdout (otpauth URI, manual key, backup
codes, secret file, format) and the backup codes nowhere else; the issuer and
label the app was given are stored in native files, so --show and the QR drawn
again give the app the same entry; older files without them still work; the
google-authenticator writer starts HOTP at counter 1."""

import json
import os
import sys

from enrolltest import *  # noqa: F401,F403

TOOL = sys.argv[1]


def json_output(tmp):
    secret = os.path.join(tmp, "json-secret")
    result = run(TOOL, "--no-confirm", "--json", "--secret-file", secret, "--issuer", "Ex Corp",
                 "--label", "ops \"1\"@host", "--backup-codes", "5")
    check(result.returncode == EXIT_OK, "--json exits 0 (%d: %s)" % (result.returncode,
                                                                    result.stderr.strip()))
    try:
        data = json.loads(result.stdout)
    except ValueError:
        check(False, "stdout is one JSON object: %r" % result.stdout[:200])
        return
    check(result.stdout.count("\n") == 1 and result.stdout.endswith("}\n"),
          "stdout is exactly one JSON object and a newline")
    check(sorted(data) == ["backup_codes", "format", "manual_key", "otpauth_uri", "secret_file"],
          "the object has exactly the documented members: %r" % sorted(data))
    check(data["secret_file"] == secret and data["format"] == "native",
          "secret_file and format name the written file")
    check(data["otpauth_uri"].startswith("otpauth://totp/Ex%20Corp:") and
          secret_of(data["otpauth_uri"]) == data["manual_key"], "URI and manual key agree")
    codes = data["backup_codes"]
    check(len(codes) == 5 and all(len(c) == 8 and c.isdigit() for c in codes),
          "five 8-digit backup codes")
    check(not any(c in result.stderr for c in codes), "no backup code on stderr")
    check(data["manual_key"] not in result.stderr, "no manual key on stderr (not a terminal)")
    status = run(TOOL, "--status", "--secret-file", secret)
    check("Backup codes:  5 left" in status.stdout, "the file holds the five codes")

    ga = os.path.join(tmp, "json-ga")
    result = run(TOOL, "--no-confirm", "--json", "--secret-file", ga, "--format",
                 "google-authenticator", "--hotp")
    data = json.loads(result.stdout) if result.returncode == EXIT_OK else {}
    check(data.get("format") == "google-authenticator", "google-authenticator format named")
    with open(ga) as f:
        text = f.read()
    check("\" HOTP_COUNTER 1\n" in text and "&counter=1" in data.get("otpauth_uri", ""),
          "GA HOTP starts at counter 1 in the file and in the URI")
    check(all(code in text for code in data.get("backup_codes", ["x"])),
          "GA scratch codes are the JSON's backup codes")

    result = run(TOOL, "--no-confirm", "--json", "--print-uri", "--secret-file",
                 os.path.join(tmp, "never"))
    check(result.returncode == EXIT_USAGE and result.stdout == "",
          "--json with --print-uri is a usage error")
    result = run(TOOL, "--status", "--json", "--secret-file", secret)
    check(result.returncode == EXIT_USAGE, "--json only with the wizard")


def labels_kept(tmp):
    secret = os.path.join(tmp, "label-secret")
    result = run(TOOL, "--no-confirm", "--print-uri", "--secret-file", secret,
                 "--issuer", "Büro Nord", "--label", "alice x@y")
    enrolled_uri = result.stdout.strip()
    with open(secret) as f:
        text = f.read()
    check("issuer=B%C3%BCro%20Nord label=alice%20x@y" in text,
          "issuer and label stored, percent-encoded")
    shown = run(TOOL, "--show", "--print-uri", "--secret-file", secret)
    check(shown.returncode == EXIT_OK and shown.stdout.strip() == enrolled_uri,
          "--show gives back the URI the app was given")
    png = os.path.join(tmp, "again.png")
    shown = run(TOOL, "--show", "--png", png, "--secret-file", secret)
    check(shown.returncode == EXIT_OK and zbar_decode(png) == enrolled_uri,
          "the QR drawn again holds the same URI")
    # --issuer/--label on --show still win.
    shown = run(TOOL, "--show", "--print-uri", "--issuer", "Other", "--secret-file", secret)
    check("otpauth://totp/Other:alice%20x%40y?" in shown.stdout, "--issuer overrides the file")

    # An older file without the fields: the defaults, as before.
    old = os.path.join(tmp, "old-secret")
    with open(old, "w") as f:
        f.write(text.replace(" issuer=B%C3%BCro%20Nord label=alice%20x@y", ""))
    os.chmod(old, 0o600)
    shown = run(TOOL, "--show", "--print-uri", "--secret-file", old)
    check(shown.returncode == EXIT_OK and "&issuer=" in shown.stdout and "B%C3" not in shown.stdout,
          "an older file without issuer/label still shows (defaults)")


def main():
    tmp = workdir()
    try:
        json_output(tmp)
        labels_kept(tmp)
    finally:
        cleanup(tmp)
    finish()


main()
