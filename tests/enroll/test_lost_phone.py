#!/usr/bin/python3
"""docs/faq.md, "I lost my phone", step by step as written (issue 18 item 8),
through the real twostep-enroll, the built module (pamtester under
pam_wrapper) and twostepd on loopback. Before the loss: the user is enrolled
with 8 backup codes and the test phone "Pixel 8" is paired through
`twostep-enroll --push`. Then:

1. log in with a backup code at the push prompt; `twostep-enroll --status`
   says 7 are left;
2. `twostep-enroll --force` in a pty: a new QR code and key, a code from the
   new phone, and the tool says what it dropped (the old codes, the backup
   codes) and kept (the push device, by name); the old backup codes and
   the old secret stop working, new backup codes are shown;
3. `twostep-enroll --remove-device "Pixel 8"` removes the pin (this failed
   with "no push device named" when --force dropped the pins silently);
   `twostepd device list --user NAME`, then `twostepd device revoke ID`
   revoke the pairing at the relay, and the phone is refused there.

The user is root (the host secret must be root's) and the file lives in a
temporary directory, so every twostep-enroll command gets the same
`--secret-file` the module's `secret=` names; the relay commands get the
test relay's --config and --db. Skipped (77) unless root.

Usage: test_lost_phone.py TWOSTEP-ENROLL PAM_TWOSTEP.SO TWOSTEPD"""

import json
import os
import re
import subprocess
import sys

import pexpect

from enrolltest import KEY_RE, PROMPT, oathtool, spawn, transcript, wait_for_fresh_step

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "push"))
import pushtest  # noqa: E402
import twostep_device  # noqa: E402  (pushtest put tests/device on the path)
import twostep_harness as th  # noqa: E402

SERVICE = "lost-phone"


def enroll(setup, *args):
    """twostep-enroll ARGS --secret-file FILE without a terminal."""
    return subprocess.run([setup.enroll, *args, "--secret-file", setup.secret_file],
                          capture_output=True, text=True, timeout=30)


def login_with(setup, typed):
    """A login that types `typed` at the push prompt: (in?, output)."""
    child = setup.login(SERVICE)
    child.expect_exact(pushtest.PUSH_PROMPT)
    child.sendline(typed)
    return pushtest.outcome(child)


def before_the_loss(setup):
    """Enrolled with 8 backup codes, "Pixel 8" paired: (key, backup codes)."""
    made = enroll(setup, "--no-confirm", "--json", "--qr", "none")
    th.expect(made.returncode == 0, "enrolled (%d: %s)" % (made.returncode, made.stderr))
    result = json.loads(made.stdout)
    setup.phone = setup.new_device("Pixel 8")
    status, shown, computed, _ = setup.pair(setup.phone)
    th.expect(status == 0 and shown == computed, "twostep-enroll --push paired Pixel 8")
    setup.service(SERVICE, "push_timeout=8")
    return result["manual_key"].replace(" ", ""), result["backup_codes"]


def step1_backup_code(setup, codes):
    ok, text = login_with(setup, codes[0])
    th.check(ok and "result=accepted" in text, "1. a backup code logs in:\n" + text)
    status = enroll(setup, "--status")
    th.check("Backup codes:  7 left" in status.stdout,
             "1. --status: 7 backup codes left:\n" + status.stdout)


def step2_force(setup, old_key, codes):
    child = spawn(setup.enroll, "--force", "--secret-file", setup.secret_file,
                  rows=60, columns=120)
    child.expect(KEY_RE)
    new_key = child.match.group(1).replace(" ", "")
    child.expect_exact(PROMPT)
    wait_for_fresh_step()
    child.sendline(oathtool(new_key))
    child.expect(pexpect.EOF)
    child.close()
    shown = transcript(child).replace("\r", "")
    th.check(child.exitstatus == 0, "2. --force exits 0:\n" + shown)
    th.check("Dropped: the old codes (1 token) and 7 backup codes; they stop working now."
             in shown, "2. --force says what it dropped")
    th.check('Kept: 1 push device ("Pixel 8"). Unpair a lost phone with twostep-enroll '
             "--secret-file '%s' --remove-device NAME." % setup.secret_file in shown,
             "2. --force names the push device it kept, and how to remove it")
    th.check(re.search(r"\b\d{8}\b", shown.split("Kept:")[-1]) is not None,
             "2. new backup codes are shown")
    th.check(new_key != old_key, "2. the secret is new")
    th.check("device name=Pixel%208 " in setup.file_text(), "2. the pin is still in the file")
    ok, text = login_with(setup, codes[1])
    th.check(not ok, "2. an old backup code no longer works:\n" + text)
    ok, text = login_with(setup, oathtool(old_key))
    th.check(not ok, "2. the lost phone's code no longer works:\n" + text)


def step3_remove_and_revoke(setup):
    removed = enroll(setup, "--remove-device", "Pixel 8")
    th.check(removed.returncode == 0 and "device " not in setup.file_text(),
             '3. --remove-device "Pixel 8" removes the pin (%d: %s)'
             % (removed.returncode, removed.stderr.strip()))
    listed = setup.relay.admin("device", "list", "--user", setup.user)
    row = [line for line in listed.splitlines() if "Pixel" in line]
    th.check(len(row) == 1 and " active " in row[0], "3. device list shows the pairing:\n" + listed)
    if len(row) != 1:
        return
    device_id = row[0].split()[0]
    revoked = setup.relay.admin("device", "revoke", device_id)
    th.check("revoked device " + device_id in revoked, "3. device revoke ID: " + revoked)
    try:
        setup.phone.list_challenges()
        refused = None
    except twostep_device.HttpError as error:
        refused = error
    th.check(refused is not None and refused.status == 401,
             "3. the relay refuses the lost phone now: %s" % refused)


def main():
    th.skip_unless_root("the host secret must be a root-owned file")
    enroll_tool, module, twostepd = (os.path.abspath(p) for p in sys.argv[1:4])
    setup = pushtest.Setup(enroll_tool, module, twostepd)
    try:
        key, codes = before_the_loss(setup)
        step1_backup_code(setup, codes)
        step2_force(setup, key, codes)
        step3_remove_and_revoke(setup)
    finally:
        setup.cleanup()
    th.finish()


main()
