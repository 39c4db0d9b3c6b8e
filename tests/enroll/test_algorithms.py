#!/usr/bin/python3
"""Codes computed by oathtool (an independent implementation) for tokens
enrolled with SHA1/SHA256/SHA512, 6 and 8 digits, 30 and 60 s periods, and
HOTP, are accepted by the wizard's confirm step (core verify_code). A code
from an app that ignores the algorithm is refused with a hint."""

import os
import sys

from enrolltest import *  # noqa: F401,F403

TOOL = sys.argv[1]


def enroll_with(tmp, name, args, code_for_key):
    secret = os.path.join(tmp, name)
    child = spawn(TOOL, "--secret-file", secret, *args, rows=40, columns=100)
    child.expect(KEY_RE)
    key = child.match.group(1).replace(" ", "")
    child.expect_exact(PROMPT)
    child.sendline(code_for_key(key))
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, transcript(child), secret


def totp_matrix(tmp):
    for algorithm in ("SHA1", "SHA256", "SHA512"):
        for digits in (6, 8):
            for period in (30, 60):
                name = "%s-%d-%d" % (algorithm, digits, period)
                args = ["--algorithm", algorithm, "--digits", str(digits), "--period", str(period)]

                def code(key, a=algorithm, d=digits, p=period):
                    wait_for_fresh_step(p)
                    return oathtool(key, a, d, p)

                status, output, secret = enroll_with(tmp, name, args, code)
                check(status == EXIT_OK and os.path.exists(secret),
                      "oathtool %s accepted by the confirm step (exit %s)" % (name, status))
                non_default = algorithm != "SHA1" or period != 30
                check(("Google Authenticator and Microsoft Authenticator ignore" in output)
                      == non_default, "%s: app-support warning iff non-default" % name)


def hotp(tmp):
    status, _, secret = enroll_with(tmp, "hotp", ["--hotp"],
                                    lambda key: oathtool(key, hotp_counter=0))
    check(status == EXIT_OK, "HOTP counter 0 from oathtool accepted")
    with open(secret) as f:
        check("type=hotp" in f.read(), "the file holds an HOTP token")


def ignored_algorithm_refused(tmp):
    secret = os.path.join(tmp, "mismatch")
    child = spawn(TOOL, "--secret-file", secret, "--algorithm", "SHA256", rows=40, columns=100)
    child.expect(KEY_RE)
    key = child.match.group(1).replace(" ", "")
    for _ in range(3):
        child.expect_exact(PROMPT)
        wait_for_fresh_step()
        child.sendline(oathtool(key, "SHA1"))  # what an app ignoring SHA256 shows
    child.expect(pexpect.EOF)
    child.close()
    check(child.exitstatus == EXIT_CONFIRM_FAILED and not os.path.exists(secret),
          "a SHA1 code for a SHA256 token is refused, nothing written")
    shown = transcript(child)
    check("it may not support SHA256" in shown and "re-run with the defaults" in shown,
          "the hint names SHA256 and the defaults")


def main():
    tmp = workdir()
    try:
        totp_matrix(tmp)
        hotp(tmp)
        ignored_algorithm_refused(tmp)
    finally:
        cleanup(tmp)
    finish()


main()
