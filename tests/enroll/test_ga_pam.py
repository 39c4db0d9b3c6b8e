#!/usr/bin/python3
"""A google-authenticator file written by twostep-enroll is accepted by
Debian's pam_google_authenticator.so (through pam_wrapper and pamtester):
a TOTP code from oathtool and a backup (scratch) code log in, a replayed
code and a wrong code do not. Options the format cannot hold are refused.

Usage: test_ga_pam.py TOOL [PAM_GOOGLE_AUTHENTICATOR_SO]"""

import getpass
import os
import subprocess
import sys
import time

from enrolltest import *  # noqa: F401,F403

TOOL = sys.argv[1]
GA_MODULE = sys.argv[2] if len(sys.argv) > 2 else \
    "/lib/x86_64-linux-gnu/security/pam_google_authenticator.so"
SERVICE = "twostep-ga-test"


def pam_authenticate(service_dir, code):
    """pamtester reads the answer to GA's prompt from stdin."""
    env = dict(os.environ)
    env.update({"LD_PRELOAD": "libpam_wrapper.so", "PAM_WRAPPER": "1",
                "PAM_WRAPPER_SERVICE_DIR": service_dir})
    result = subprocess.run(["pamtester", SERVICE, getpass.getuser(), "authenticate"],
                            input=code + "\n", capture_output=True, text=True, env=env,
                            timeout=30)
    return result.returncode == 0


def enroll_ga(tmp):
    """Interactive GA enrollment confirmed with an oathtool code."""
    secret = os.path.join(tmp, "google_authenticator")
    # GA's RATE_LIMIT counts every attempt; allow the few this test makes.
    child = spawn(TOOL, "--format", "google-authenticator", "--secret-file", secret,
                  "--rate-limit", "10/30", rows=40, columns=100)
    child.expect(KEY_RE)
    key = child.match.group(1).replace(" ", "")
    child.expect_exact(PROMPT)
    wait_for_fresh_step(margin=8)
    confirmed_at = int(time.time())
    child.sendline(oathtool(key))
    child.expect(pexpect.EOF)
    child.close()
    codes = [line.strip() for line in transcript(child).split("\n")
             if line.strip().isdigit() and len(line.strip()) == 8]
    return child.exitstatus, secret, key, codes, confirmed_at


def write_service(service_dir, secret):
    os.makedirs(service_dir, exist_ok=True)
    with open(os.path.join(service_dir, SERVICE), "w") as f:
        f.write("auth required %s secret=%s user=%s\n" % (GA_MODULE, secret, getpass.getuser()))


def hotp_counter_accepted(tmp):
    """GA's HOTP counters start at 1 (it refuses 0); the URI says so too."""
    secret = os.path.join(tmp, "hotp")
    result = run(TOOL, "--format", "google-authenticator", "--hotp", "--no-confirm",
                 "--print-uri", "--secret-file", secret)
    uri = result.stdout.strip()
    check(result.returncode == EXIT_OK and uri.endswith("&counter=1"),
          "GA HOTP enrollment starts at counter 1")
    service_dir = os.path.join(tmp, "pam.d")
    write_service(service_dir, secret)
    check(pam_authenticate(service_dir, oathtool(secret_of(uri), hotp_counter=1)),
          "pam_google_authenticator accepts the HOTP code for counter 1")


def main():
    if not os.path.exists(GA_MODULE):
        print("SKIP: %s not installed" % GA_MODULE)
        sys.exit(77)
    tmp = workdir()
    try:
        status, secret, key, codes, confirmed_at = enroll_ga(tmp)
        check(status == EXIT_OK and mode_of(secret) == 0o600, "GA enrollment written mode 0600")
        with open(secret) as f:
            lines = f.read().split("\n")
        check(lines[0] == key, "first line is the base32 key")
        check('" RATE_LIMIT 10 30' in lines, "--rate-limit 10/30 becomes RATE_LIMIT 10 30")
        check('" TOTP_AUTH' in lines and '" DISALLOW_REUSE' in " ".join(lines),
              "TOTP_AUTH and DISALLOW_REUSE options present")
        check(len(codes) == 8 and all(c in lines for c in codes), "8 scratch codes in the file")

        service_dir = os.path.join(tmp, "pam.d")
        write_service(service_dir, secret)
        # The confirmation used the current step (GA's DISALLOW_REUSE now holds
        # it); the next step is inside GA's default window of 3.
        next_code = oathtool(key, at=confirmed_at + 30)
        check(pam_authenticate(service_dir, next_code),
              "pam_google_authenticator accepts an oathtool code")
        check(not pam_authenticate(service_dir, next_code),
              "pam_google_authenticator refuses the same code again")
        check(not pam_authenticate(service_dir, wrong_code(key)),
              "pam_google_authenticator refuses a wrong code")
        check(pam_authenticate(service_dir, codes[0]),
              "pam_google_authenticator accepts a backup code from twostep-enroll")
    finally:
        cleanup(tmp)

    tmp = workdir()
    try:
        hotp_counter_accepted(tmp)
    finally:
        cleanup(tmp)

    tmp = workdir()
    try:
        for args in (["--algorithm", "SHA256"], ["--digits", "8"], ["--period", "60"]):
            result = run(TOOL, "--format", "google-authenticator", "--no-confirm",
                         "--secret-file", os.path.join(tmp, "ga"), *args)
            check(result.returncode == EXIT_USAGE and "google-authenticator" in result.stderr
                  and not os.path.exists(os.path.join(tmp, "ga")),
                  "GA format refuses %s with exit 1" % " ".join(args))
        result = run(TOOL, "--format", "google-authenticator", "--no-confirm", "--print-uri",
                     "--secret-file", os.path.join(tmp, "ga"))
        check(result.returncode == EXIT_OK, "provisioning a GA file works")
        result = run(TOOL, "--add-token", "--no-confirm", "--print-uri",
                     "--secret-file", os.path.join(tmp, "ga"))
        check(result.returncode == EXIT_REFUSED and "one token" in result.stderr,
              "--add-token on a GA file is refused with exit 2")
    finally:
        cleanup(tmp)
    finish()


main()
