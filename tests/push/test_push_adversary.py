#!/usr/bin/python3
"""The relay as adversary and as an outage (issue 13). A fake relay answers
"approved" with assertions that must all be refused, even when it somehow
knows the number the terminal showed: from a device registered at the relay
but not pinned, for another challenge, for another user, replayed, with a
bad signature. Then the relay killed, hanging, answering garbage or a huge
body: each failmode as documented, within push_timeout plus a bounded margin.
A named case table (pushtest.run_suite pairs the phone first).

Usage: test_push_adversary.py TWOSTEP-ENROLL PAM_TWOSTEP.SO TWOSTEPD [--case NAME]"""

import time

from fake_relay import FakeRelay
from pushtest import HOST_NAME, outcome, run_suite, totp
import twostep_device as td  # noqa: E402 (pushtest put tests/device on the path)
import twostep_harness as th  # noqa: E402 (and tests/harness)


def digest_for(request, cid, number, **bend):
    f = dict(request, id=cid)
    f.update(bend)
    return td.approval_digest(f["id"], f["nonce"], f.get("host", HOST_NAME), f["user"],
                              f["service"], f["rhost"], f["tty"], number, f["expires"],
                              f.get("context"))


def start_fake(setup, mode, service, push_timeout, failmode="secure"):
    """A fake relay in `mode` behind the PAM service `service`."""
    fake = FakeRelay(mode)
    setup.stops.append(fake.stop)
    conf = setup.write_conf(service + ".conf", fake.url)
    setup.service(service, "push_timeout=%d failmode=%s" % (push_timeout, failmode),
                  push_conf=conf)
    return fake


def cases(setup):
    phone = setup.phone
    stranger = setup.new_device("Stranger")  # never pinned in this file
    approving = {}  # the fake relay in "approve" mode, and the genuine assertion

    def approve_through_fake(make):
        """A push login through the fake relay, which answers "approved" with
        make(request, challenge id, number shown); (logged in?, output)."""
        if "fake" not in approving:
            approving["fake"] = start_fake(setup, "approve", "fake", 10)
        fake = approving["fake"]
        child, number = setup.push_login("fake")
        cid, req = fake.wait_challenge()
        fake.set_assertion(cid, make(req, cid, number))
        return outcome(child)

    def genuine():
        # The refusals below are refusals of the bent parts only.
        def make(req, cid, n):
            approving["genuine"] = phone.assertion(digest_for(req, cid, n))
            return approving["genuine"]
        return approve_through_fake(make)

    def replayed_genuine(req, cid, n):
        if "genuine" not in approving:
            genuine()
        return approving["genuine"]

    def refused(reason):
        return lambda outcome: not outcome[0] and "reason=%s" % reason in outcome[1]

    bent = [
        ("unpinned_device", "unpinned_device", "a valid assertion from a device not pinned here",
         lambda req, cid, n: stranger.assertion(digest_for(req, cid, n))),
        ("other_challenge", "wrong_challenge", "an assertion for another challenge",
         lambda req, cid, n: phone.assertion(digest_for(req, "A" * 22, n))),
        ("other_user", "wrong_challenge", "an assertion for another user",
         lambda req, cid, n: phone.assertion(digest_for(req, cid, n, user="bob"))),
        ("other_location", "wrong_challenge", "an assertion over another location",
         lambda req, cid, n: phone.assertion(digest_for(
             req, cid, n, context=dict(req["context"], location="Berlin, Germany")))),
        ("no_context", "wrong_challenge", "an assertion over digest version 1 (no context)",
         lambda req, cid, n: phone.assertion(digest_for(req, cid, n, context=None))),
        ("replayed_genuine", "wrong_challenge", "a replayed assertion (the genuine one)",
         replayed_genuine),
        ("bad_signature", "bad_signature", "a bad signature",
         lambda req, cid, n: dict(phone.assertion(digest_for(req, cid, n)),
                                  signature=phone.assertion(digest_for(req, cid, (n + 1) % 100))["signature"])),
        ("counter_not_up", "replayed", "a fresh assertion whose counter did not go up",
         lambda req, cid, n: phone.assertion(digest_for(req, cid, n), counter=1)),
    ]

    # --- outages and failmodes ------------------------------------------
    dead_conf = setup.write_conf("dead.conf", "http://127.0.0.1:%d" % th.free_port())
    for mode in ("secure", "safe", "totp"):
        setup.service("dead-" + mode, "push_timeout=5 failmode=" + mode, push_conf=dead_conf)

    def relay_down(mode):
        child = setup.choose_push("dead-" + mode)
        return outcome(child)

    def relay_down_totp():
        child = setup.choose_push("dead-totp")
        child.expect("Verification code: ")
        before_prompt = child.before
        child.sendline(totp(setup.key))
        ok, text = outcome(child)
        fell_back = "result=fallback reason=backend_unavailable device=- failmode=totp"
        return ok, fell_back in before_prompt, "method=totp result=accepted" in text

    # A relay that hangs gave no answer: an outage, where the failmode
    # applies (safe lets the login in, by design). Garbage, a huge body or a
    # 500 are answers the relay did send: refused in every failmode
    # (docs/protocol.md 4.4), so failmode=safe cannot be used by a hostile
    # relay.
    def broken_relay(mode, failmode):
        service = "fake-%s-%s" % (mode, failmode)
        start_fake(setup, mode, service, 5, failmode)
        started = time.monotonic()
        child = setup.choose_push(service)
        ok, text = outcome(child)
        took = time.monotonic() - started
        if mode == "hang":
            want = "reason=backend_unavailable device=- failmode=" + failmode
            return ok == (failmode == "safe"), want in text, took
        return ok is False, "result=rejected reason=bad_relay_answer" in text, took

    table = [th.Case("genuine_through_fake", genuine,
                     lambda outcome: outcome[0] and "reason=approved" in outcome[1],
                     "a genuine approval through the fake relay: in")]
    table += [th.Case(name, lambda make=make: approve_through_fake(make), refused(reason),
                      "relay says approved with %s: refused (%s)" % (what, reason))
              for name, reason, what, make in bent]
    table += [
        th.Case("relay_down_secure", lambda: relay_down("secure"),
                lambda o: not o[0]
                and "reason=backend_unavailable device=- failmode=secure" in o[1],
                "relay down, failmode=secure: refused"),
        th.Case("relay_down_safe", lambda: relay_down("safe"),
                lambda o: o[0] and "LOGIN ALLOWED WITHOUT A SECOND FACTOR" in o[1]
                and "failmode=safe" in o[1],
                "relay down, failmode=safe: allowed, logged loudly"),
        th.Case("relay_down_totp", relay_down_totp, (True, True, True),
                "relay down, failmode=totp: asks for a code, which logs in"),
    ]
    # The time limit includes the 2 s fail delay.
    for mode, limit in (("hang", 5 + 2 + 2 + 3), ("garbage", 6), ("huge", 6), ("error", 6)):
        for failmode in ("secure", "safe"):
            what = ("allowed (an outage)" if mode == "hang" and failmode == "safe"
                    else "refused")
            table.append(th.Case("relay_%s_%s" % (mode, failmode),
                                 lambda mode=mode, failmode=failmode: broken_relay(mode, failmode),
                                 lambda o, limit=limit: o[0] and o[1] and o[2] <= limit,
                                 "relay %s, failmode=%s: %s within %d s"
                                 % (mode, failmode, what, limit)))
    return table


if __name__ == "__main__":
    run_suite(cases)
