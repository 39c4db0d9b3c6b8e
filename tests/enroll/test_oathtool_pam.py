#!/usr/bin/python3
"""Tokens enrolled by twostep-enroll with SHA1/SHA256/SHA512, 6 and 8 digits,
30 and 60 s periods (and HOTP) log in through the real libpam and the built
pam_twostep.so with codes from oathtool, an independent implementation; a
wrong code for each is refused. libpam runs under pam_wrapper with service
files in a temp dir, driven by pamtester.

Usage: test_oathtool_pam.py TOOL PAM_TWOSTEP_SO"""

import getpass
import os
import re
import subprocess
import sys

from enrolltest import *  # noqa: F401,F403

TOOL, MODULE = sys.argv[1], sys.argv[2]


def pam_login(service_dir, service, code):
    """The module's audit verdict for one login ("accepted", "rejected", ...),
    read from its syslog line (pam_wrapper prints syslog at debug level 3), so
    a refusal by anything but pam_twostep itself is not mistaken for one."""
    env = dict(os.environ)
    env.update({"LD_PRELOAD": "libpam_wrapper.so", "PAM_WRAPPER": "1",
                "PAM_WRAPPER_SERVICE_DIR": service_dir, "PAM_WRAPPER_DEBUGLEVEL": "3"})
    result = subprocess.run(["pamtester", service, getpass.getuser(), "authenticate"],
                            input=code + "\n", capture_output=True, text=True, env=env,
                            timeout=30)
    verdicts = re.findall(r"twostep: user=\S+ service=%s .* result=(\w+)" % re.escape(service),
                          result.stderr)
    if len(verdicts) != 1:
        return "no audit line (pam_twostep did not run)"
    logged_in = result.returncode == 0 and "successfully authenticated" in result.stdout
    if (verdicts[0] == "accepted") != logged_in:
        return "audit says %s but pamtester exit %d" % (verdicts[0], result.returncode)
    return verdicts[0]


def enroll(tmp, name, args):
    """Non-interactive enrollment; returns (secret file, base32 key)."""
    secret = os.path.join(tmp, name)
    result = run(TOOL, "--secret-file", secret, "--no-confirm", "--print-uri", "--qr", "none",
                 "--backup-codes", "0", "--rate-limit", "off", *args)
    check(result.returncode == EXIT_OK, "%s: enrolled (exit %d)" % (name, result.returncode))
    return secret, secret_of(result.stdout.strip())


def write_service(service_dir, name, secret):
    with open(os.path.join(service_dir, name), "w") as f:
        # nodelay: each refused code would otherwise wait libpam's ~2 s failure delay.
        f.write("auth required %s secret=%s nodelay\n" % (MODULE, secret))


def main():
    tmp = workdir()
    service_dir = os.path.join(tmp, "pam.d")
    os.makedirs(service_dir)
    try:
        cases = []
        for algorithm in ("SHA1", "SHA256", "SHA512"):
            for digits in (6, 8):
                for period in (30, 60):
                    # libpam lower-cases service names.
                    name = "%s-%d-%d" % (algorithm.lower(), digits, period)
                    secret, key = enroll(tmp, name, ["--algorithm", algorithm, "--digits",
                                                     str(digits), "--period", str(period)])
                    cases.append((name, secret, key, algorithm, digits, period))
        for name, secret, key, algorithm, digits, period in cases:
            write_service(service_dir, name, secret)
            verdict = pam_login(service_dir, name, wrong_code(key, digits, period, algorithm))
            check(verdict == "rejected", "%s: a wrong code is refused (%s)" % (name, verdict))
            wait_for_fresh_step(period)
            code = oathtool(key, algorithm, digits, period)
            verdict = pam_login(service_dir, name, code)
            check(verdict == "accepted", "%s: oathtool's code logs in (%s)" % (name, verdict))
            verdict = pam_login(service_dir, name, code)
            check(verdict == "replayed", "%s: the same code again is refused (%s)" % (name, verdict))

        secret, key = enroll(tmp, "hotp", ["--hotp"])
        write_service(service_dir, "hotp", secret)
        for counter, expected in ((0, "accepted"), (1, "accepted"), (1, "rejected")):
            verdict = pam_login(service_dir, "hotp", oathtool(key, hotp_counter=counter))
            check(verdict == expected, "hotp: oathtool counter %d is %s (%s)"
                  % (counter, expected, verdict))
    finally:
        cleanup(tmp)
    finish()


if __name__ == "__main__":
    main()
