#!/usr/bin/python3
"""Push login end to end (issue 13): twostepd on loopback, the test device
paired through twostep-enroll --push, logins through the built module under
pam_wrapper + pamtester. A named case table (pushtest.run_suite pairs the
phone first); the cases run in this order, and `--case NAME` runs one.

Usage: test_push_login.py TWOSTEP-ENROLL PAM_TWOSTEP.SO TWOSTEPD [--case NAME]"""

import os
import re
import subprocess
import time

import pexpect

from pushtest import (outcome, pair_device, pairing_url, pending, run_suite, spawn_enroll_push,
                      totp)
import twostep_device as td  # noqa: E402 (pushtest put tests/device on the path)
import twostep_harness as th  # noqa: E402 (and tests/harness)


def reasons(text):
    """The reason= values of the module's lines in a login's output."""
    return tuple(re.findall(r"reason=(\w+)", text))


def login_result(child):
    """(logged in?, reasons) of a finished login."""
    ok, text = outcome(child)
    return ok, reasons(text)


def logged(ok, reason):
    """The expected outcome of a login: in or not, and the reason logged."""
    return lambda outcome: outcome[0] == ok and reason in outcome[1]


def cases(setup):
    phone = setup.phone
    setup.service("twostep-push", "push_timeout=8")
    setup.service("sshd", "push_timeout=8")

    # --- pairing (the fixture paired Pixel 8) -------------------------------
    def paired():
        status, shown, on_phone, _ = setup.pairing
        th.check(shown == on_phone, "terminal and phone show the same comparison code %s" % shown)
        content = setup.file_text()
        th.check(content.startswith("twostep-secret 2\n") and "device name=Pixel%208 " in content,
                 "the secret file now has a device line under twostep-secret 2")
        out = subprocess.run([setup.enroll, "--list-devices", "--secret-file", setup.secret_file],
                             capture_output=True, text=True, timeout=30).stdout
        th.check(out.startswith("Pixel 8\tadded "), "--list-devices lists it: " + out.strip())

    def refused_comparison():
        before = setup.file_text()
        status, _, _, _ = setup.pair(setup.new_device("Spare"), confirm="no")
        return status != 0, setup.file_text() == before

    def ctrl_c_while_pairing():
        before = setup.file_text()
        child = setup.spawn_pairing()
        child.expect("Waiting for the phone")
        child.sendintr()
        child.expect(pexpect.EOF)
        child.close()
        return child.exitstatus, setup.file_text() == before

    def registration_with_a_key_not_held():
        # A local user pairing their own account cannot register someone
        # else's phone (its public API key) and so send their logins there:
        # the relay wants the registration signed by that key (protocol 7.4).
        before = setup.file_text()
        thief = setup.new_device("Thief")
        child = setup.spawn_pairing()
        child.expect(pairing_url(setup.relay.origin))
        _, pairing_id, secret = td.parse_pairing_url(child.match.group(1))
        child.expect("Waiting for the phone")
        path = "/v1/pairings/%s/device" % pairing_id
        stolen = thief.registration(pairing_id, secret, api_spki=phone.api_spki)
        unsigned = {k: v for k, v in stolen.items() if k != "api_signature"}
        answers = [thief.request("POST", path, body=body, signed=False)[0]
                   for body in (unsigned, stolen)]
        child.sendintr()  # the tool never saw a registration; stop it
        child.expect(pexpect.EOF)
        child.close()
        return answers, child.exitstatus, setup.file_text() == before

    def one_phone_two_files():
        # The admin guide's layout: a file for sshd (the fixture's) and a
        # root-owned central file for sudo, the same phone pinned in both.
        central = os.path.join(setup.tmp, "central-root")
        made = subprocess.run([setup.enroll, "--no-confirm", "--qr", "none", "--backup-codes", "0",
                               "--secret-file", central, "--quiet"], capture_output=True, text=True,
                              timeout=30)
        th.check(made.returncode == 0, "a second (central) secret file enrolled: " + made.stderr)
        status, shown, on_phone, after = pair_device(
            spawn_enroll_push(setup.enroll, "--push-config", setup.push_conf,
                              "--secret-file", central), phone)
        th.check(shown == on_phone, "the terminal shows the phone's comparison code again (%s)"
                 % shown)
        with open(central) as f:
            th.check("device name=Pixel%208 " in f.read(), "the central file pins the phone")
        th.check("device name=Pixel%208 " in setup.file_text(), "the first file keeps its pin")
        with open(os.path.join(setup.service_dir, "central"), "w") as f:
            f.write("auth required %s secret=%s log_copy=stderr push push_config=%s "
                    "push_timeout=8\n" % (setup.module, central, setup.push_conf))
        results = []
        for service in ("central", "twostep-push"):  # sudo's file, then sshd's
            child, number = setup.push_login(service)
            phone.approve(pending(phone)["id"], number)
            results.append(login_result(child))
        return status, "not kept" in after, results

    # --- push logins ----------------------------------------------------------
    def right_number():
        child, number = setup.push_login("twostep-push")
        phone.approve(pending(phone)["id"], number)
        ok, text = outcome(child)
        th.check("method=push result=accepted reason=approved device=Pixel_8"
                 in text.replace("Pixel?8", "Pixel_8"),
                 "the audit line names method, reason, device")
        counter = re.search(r"counter=(\d+)", setup.file_text()).group(1)
        th.check(counter == str(phone.state["counter"]),
                 "the sign counter is recorded (%s)" % counter)
        return ok, reasons(text)

    def rhost_with_control_bytes():
        # The relay refuses control characters; the module sends '?' for each
        # and signs over the same text, so the push still works and the phone
        # never gets the escape.
        child, number = setup.push_login("twostep-push", items=("rhost=198.51.100.7\x1b[2J\n",))
        view = pending(phone)
        th.check(view["rhost"] == "198.51.100.7?[2J?",
                 "the phone sees the address with '?' for control bytes: %r" % view["rhost"])
        phone.approve(view["id"], number)
        return login_result(child)

    def wrong_number():
        child, number = setup.push_login("twostep-push")
        phone.approve(pending(phone)["id"], (number + 1) % 100)
        return login_result(child)

    def deny():
        child, _ = setup.push_login("twostep-push")
        phone.deny(pending(phone)["id"])
        return login_result(child)

    def sshd_style():
        child = setup.choose_push("sshd")
        child.expect(r"approve with the number (\d\d), then press Enter here \(or type a code\): ")
        phone.approve(pending(phone)["id"], int(child.match.group(1)))
        child.sendline("")
        return login_result(child)

    def typed_code_while_pending():
        child = setup.choose_push("sshd")
        child.expect(r"approve with the number (\d\d)")
        challenge = pending(phone)["id"]
        child.sendline(totp(setup.key))
        ok, text = outcome(child)
        th.check("method=totp result=accepted" in text, "the typed code logs in")
        return ok, phone.challenge(challenge)["status"]

    def no_answer():
        started = time.monotonic()
        child, _ = setup.push_login("twostep-push")
        ok, text = outcome(child)
        took = time.monotonic() - started
        th.check(7 <= took <= 8 + 5, "refused at push_timeout=8 (%.1f s)" % took)
        return ok, reasons(text)

    def unpinned_key():
        # A valid assertion with the right number, signed with a key that is
        # not the pinned one: the relay refuses it at once (422), so the
        # challenge stays pending and only the phone's own answer ends it.
        stranger = setup.new_device("Stranger")
        child, number = setup.push_login("twostep-push")
        view = pending(phone)
        try:
            phone.approve(view["id"], number, key=stranger.credential_key)
            refused = None
        except td.HttpError as error:
            refused = error
        th.check(refused is not None and refused.status == 422 and isinstance(refused.body, dict)
                 and refused.body.get("error") == "bad_assertion",
                 "the relay refuses the foreign signature: %s" % refused)
        th.check(phone.challenge(view["id"])["status"] == "pending", "the challenge stays pending")
        phone.deny(view["id"])
        return login_result(child)

    def replayed_counter():
        child, number = setup.push_login("twostep-push")
        phone.approve(pending(phone)["id"], number, counter=1)  # below the pinned one
        return login_result(child)

    def host_name_mismatch():
        # Issue 18 item 9: push.conf's host_name is not the relay's name for
        # this host. The phone shows and signs "web1"; the module checks
        # "web2": refused, and the terminal and the audit line say why.
        conf = setup.write_conf("renamed.conf", setup.relay.url, host_name="web2")
        setup.service("renamed", "push_timeout=8", push_conf=conf)
        child, number = setup.push_login("renamed")
        view = pending(phone)
        th.check(view["host"] == "web1", "the phone shows the relay's name: %r" % view["host"])
        phone.approve(view["id"], number)
        ok, text = outcome(child)
        th.check('The phone approved this login for host "web1", but this host is set up as '
                 '"web2"; refused. Ask your admin to correct host_name in the push settings.'
                 in text, "the terminal names the cause:\n" + text)
        return ok, reasons(text)

    def report_blocks_next_push():
        child, _ = setup.push_login("twostep-push")
        phone.report(pending(phone)["id"])
        th.check(logged(False, "reported")(login_result(child)), "report: refused")
        child = setup.choose_push("twostep-push")
        # The code that still works is asked for in the same login.
        child.expect_exact("Push is blocked for this account after a report; ask your admin. "
                           "Type a code instead.")
        child.expect_exact("Verification code: ")
        blocked = reasons(child.before)
        child.sendline("000000")
        ok, after = login_result(child)
        return ok, blocked + after

    def forward_pass_keeps_pins():
        setup.service("fwd", "forward_pass", push=False)
        next_code = subprocess.run(["oathtool", "--totp", "-b", "-N", "now + 30 seconds", setup.key],
                                   capture_output=True, text=True, check=True).stdout.strip()
        child = setup.login("fwd")
        child.expect("Password & verification code: ")
        child.sendline("secret-password" + next_code)
        ok, _ = outcome(child)
        return ok, "device name=Pixel%208 " in setup.file_text()

    # --- pin management ----------------------------------------------------
    def remove_device():
        done = subprocess.run([setup.enroll, "--remove-device", "Pixel 8",
                               "--secret-file", setup.secret_file],
                              capture_output=True, text=True, timeout=30)
        content = setup.file_text()
        th.check(done.returncode == 0 and content.startswith("twostep-secret 1\n")
                 and "device " not in content,
                 "--remove-device removes the pin; the file goes back to twostep-secret 1")
        child = setup.login("twostep-push")
        child.expect_exact("Verification code: ")
        child.sendline(totp(setup.key))
        outcome(child)
        return "or Enter for a push" in (child.before or "")

    def google_authenticator_file():
        ga = os.path.join(setup.tmp, "ga")
        subprocess.run([setup.enroll, "--format", "google-authenticator", "--no-confirm",
                        "--qr", "none", "--secret-file", ga, "--quiet"], capture_output=True)
        with open(ga) as f:
            before = f.read()
        result = subprocess.run([setup.enroll, "--push", "--push-config", setup.push_conf,
                                 "--secret-file", ga, "--qr", "none"], capture_output=True, text=True)
        with open(ga) as f:
            th.check(f.read() == before, "the google-authenticator file is untouched")
        return result.returncode != 0, "Convert it first" in result.stderr

    return [
        th.Case("paired", paired, None, "twostep-enroll --push pinned the phone"),
        th.Case("refused_comparison", refused_comparison, (True, True),
                "a refused comparison: exit non-zero, the file untouched"),
        th.Case("ctrl_c_while_pairing", ctrl_c_while_pairing, (130, True),
                "Ctrl-C while waiting for the phone: exit 130, nothing written"),
        th.Case("registration_with_a_key_not_held", registration_with_a_key_not_held,
                ([400, 401], 130, True),
                "a registration naming another phone's API key, unsigned or signed by the "
                "sender: refused by the relay; nothing written"),
        th.Case("one_phone_two_files", one_phone_two_files,
                (0, False, [(True, ("approved",)), (True, ("approved",))]),
                "the same phone paired into a second file: paired, and logins through either "
                "file are approved by it"),
        th.Case("right_number", right_number, logged(True, "approved"),
                "right number, sudo/su style: in without another keystroke"),
        th.Case("rhost_with_control_bytes", rhost_with_control_bytes, logged(True, "approved"),
                "an odd PAM_RHOST still logs in by push"),
        th.Case("wrong_number", wrong_number, logged(False, "wrong_number")),
        th.Case("deny", deny, logged(False, "denied")),
        th.Case("sshd_style", sshd_style, logged(True, "approved"),
                "the number in a prompt, approve, Enter: in"),
        th.Case("typed_code_while_pending", typed_code_while_pending, (True, "cancelled"),
                "a typed code while a push is pending: in, the push cancelled"),
        th.Case("no_answer", no_answer, logged(False, "timeout"), "no answer: refused at the timeout"),
        th.Case("unpinned_key", unpinned_key, logged(False, "denied"),
                "an assertion signed with a key that is not pinned lets nobody in"),
        th.Case("replayed_counter", replayed_counter, logged(False, "replayed"),
                "an assertion whose counter went backwards: refused"),
        th.Case("host_name_mismatch", host_name_mismatch, logged(False, "host_name_mismatch"),
                "host_name unlike the relay's name: refused, the cause named"),
        th.Case("report_blocks_next_push", report_blocks_next_push,
                lambda o: not o[0] and "push_blocked" in o[1] and "wrong_code" in o[1],
                "report: refused; the next push is blocked and a code is asked for at once"),
        th.Case("forward_pass_keeps_pins", forward_pass_keeps_pins, (True, True),
                "a forward_pass TOTP login rewrites the file and keeps the device pin"),
        th.Case("remove_device", remove_device, False, "without pins the prompt offers no push"),
        th.Case("google_authenticator_file", google_authenticator_file, (True, True),
                "a google-authenticator file gets the convert-first message"),
    ]


if __name__ == "__main__":
    run_suite(cases)
