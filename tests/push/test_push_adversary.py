#!/usr/bin/python3
"""The relay as adversary and as an outage (issue 13). A fake relay answers
"approved" with assertions that must all be refused, even when it somehow
knows the number the terminal showed: from a device registered at the relay
but not pinned, for another challenge, for another user, replayed, with a
bad signature. Then the relay killed, hanging, answering garbage or a huge
body: each failmode as documented, within push_timeout plus a bounded margin.

Usage: test_push_adversary.py TWOSTEP-ENROLL PAM_TWOSTEP.SO TWOSTEPD"""

import os
import sys
import time

import pexpect

from pushtest import twostep_device as td  # noqa: E402 (pushtest puts tests/device on the path)
from fake_relay import FakeRelay
from pushtest import Setup, check, finish, outcome, totp, free_port, HOST_NAME, PUSH_PROMPT


def digest_for(request, cid, number, **bend):
    f = dict(request, id=cid)
    f.update(bend)
    return td.approval_digest(f["id"], f["nonce"], f.get("host", HOST_NAME), f["user"],
                              f["service"], f["rhost"], f["tty"], number, f["expires"])


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (the host secret must be a root-owned file)")
        sys.exit(77)
    enroll, module, twostepd = (os.path.abspath(p) for p in sys.argv[1:4])
    setup = Setup(enroll, module, twostepd)
    fake = None
    try:
        check(setup.enroll_totp() == 0, "TOTP enrollment written")
        phone = setup.new_device("Pixel 8")
        status, _, _, _ = setup.pair(phone)
        check(status == 0, "device paired through twostep-enroll --push")
        stranger = setup.new_device("Stranger")  # never pinned in this file

        fake = FakeRelay("approve")
        fake_conf = setup.write_conf("fake.conf", fake.url)
        with open(os.path.join(setup.service_dir, "fake"), "w") as f:
            f.write("auth required %s secret=%s push push_config=%s push_timeout=10 "
                    "log_copy=stderr\n" % (module, setup.secret_file, fake_conf))

        # Sanity: the fake relay with a genuine approval lets the user in, so
        # the refusals below are refusals of the bent parts only.
        child, number = setup.push_login("fake")
        cid, req = fake.wait_challenge()
        genuine = phone.assertion(digest_for(req, cid, number))
        fake.set_assertion(cid, genuine)
        ok, text = outcome(child)
        check(ok and "reason=approved" in text, "a genuine approval through the fake relay: in")

        cases = [
            ("unpinned_device", "a valid assertion from a device not pinned here",
             lambda req, cid, n: stranger.assertion(digest_for(req, cid, n))),
            ("wrong_challenge", "an assertion for another challenge",
             lambda req, cid, n: phone.assertion(digest_for(req, "A" * 22, n))),
            ("wrong_challenge", "an assertion for another user",
             lambda req, cid, n: phone.assertion(digest_for(req, cid, n, user="bob"))),
            ("wrong_challenge", "a replayed assertion (the genuine one above)",
             lambda req, cid, n: genuine),
            ("bad_signature", "a bad signature",
             lambda req, cid, n: dict(phone.assertion(digest_for(req, cid, n)),
                                      signature=phone.assertion(digest_for(req, cid, (n + 1) % 100))["signature"])),
            ("replayed", "a fresh assertion whose counter did not go up",
             lambda req, cid, n: phone.assertion(digest_for(req, cid, n), counter=1)),
        ]
        for reason, what, make in cases:
            child, number = setup.push_login("fake")
            cid, req = fake.wait_challenge()
            fake.set_assertion(cid, make(req, cid, number))
            ok, text = outcome(child)
            check(not ok and "reason=%s" % reason in text,
                  "relay says approved with %s: refused (%s)" % (what, reason))
        fake.stop()
        fake = None

        # --- outages and failmodes ------------------------------------------
        dead_conf = setup.write_conf("dead.conf", "http://127.0.0.1:%d" % free_port())
        for mode in ("secure", "safe", "totp"):
            with open(os.path.join(setup.service_dir, "dead-" + mode), "w") as f:
                f.write("auth required %s secret=%s push push_config=%s push_timeout=5 "
                        "failmode=%s log_copy=stderr\n" % (module, setup.secret_file, dead_conf, mode))
        child = setup.login("dead-secure")
        child.expect_exact(PUSH_PROMPT)
        child.sendline("")
        ok, text = outcome(child)
        check(not ok and "reason=backend_unavailable device=- failmode=secure" in text,
              "relay down, failmode=secure: refused")
        child = setup.login("dead-safe")
        child.expect_exact(PUSH_PROMPT)
        child.sendline("")
        ok, text = outcome(child)
        check(ok and "LOGIN ALLOWED WITHOUT A SECOND FACTOR" in text and "failmode=safe" in text,
              "relay down, failmode=safe: allowed, logged loudly")
        child = setup.login("dead-totp")
        child.expect_exact(PUSH_PROMPT)
        child.sendline("")
        child.expect("Verification code: ")
        before_prompt = child.before
        time.sleep(1)
        child.sendline(totp(setup.key))
        ok, text = outcome(child)
        check(ok and "result=fallback reason=backend_unavailable device=- failmode=totp" in before_prompt
              and "method=totp result=accepted" in text,
              "relay down, failmode=totp: asks for a code, which logs in")

        # A relay that hangs gave no answer: an outage, where the failmode
        # applies (safe lets the login in, by design). Garbage, a huge body
        # or a 500 are answers the relay did send: refused in every failmode
        # (docs/protocol.md 4.4), so failmode=safe cannot be used by a
        # hostile relay.
        for mode, limit in (("hang", 5 + 2 + 2 + 3), ("garbage", 6), ("huge", 6), ("error", 6)):
            fake = FakeRelay(mode)
            conf = setup.write_conf("fake-%s.conf" % mode, fake.url)
            for failmode in ("secure", "safe"):
                service = "fake-%s-%s" % (mode, failmode)
                with open(os.path.join(setup.service_dir, service), "w") as f:
                    f.write("auth required %s secret=%s push push_config=%s push_timeout=5 "
                            "failmode=%s log_copy=stderr\n"
                            % (module, setup.secret_file, conf, failmode))
                started = time.time()
                child = setup.login(service)
                child.expect_exact(PUSH_PROMPT)
                child.sendline("")
                ok, text = outcome(child)
                took = time.time() - started
                if mode == "hang":
                    want_ok = failmode == "safe"
                    want = "reason=backend_unavailable device=- failmode=" + failmode
                else:
                    want_ok = False
                    want = "result=rejected reason=bad_relay_answer"
                check(ok == want_ok and want in text and took <= limit,
                      "relay %s, failmode=%s: %s in %.1f s (limit %d s incl. 2 s fail delay)"
                      % (mode, failmode, "allowed" if ok else "refused", took, limit))
            fake.stop()
            fake = None
    finally:
        if fake:
            fake.stop()
        setup.cleanup()
    finish()


if __name__ == "__main__":
    main()
