#!/usr/bin/python3
"""The context the phone shows, signed (issue 20 part 2): twostepd on
loopback, the test device paired through twostep-enroll --push, logins
through the built module under pam_wrapper + pamtester.

- where a client address is, from the push client library (libmaxminddb) and
  a real country database from the npm registry (pinned in
  tests/web/package-lock.json, installed by scripts/npm-setup): the phone
  sees it, signs it, and the module accepts;
- a relay that rewrites the location, or drops the context, on the way to
  the phone (tests/push/lying_relay.py in front of the real twostepd): the
  phone signs what it was shown and the module refuses (wrong_challenge);
- a challenge without context, as a module of protocol version 2 sends it:
  the relay takes it, shows `context: null`, and a version 1 approval of it
  is stored as before (old modules keep working);
- the relay's checks of `context`.

sudo's command and su's target user need the real programs: tests/e2e/test_push.py.

Usage: test_push_context.py TWOSTEP-ENROLL PAM_TWOSTEP.SO TWOSTEPD [--case NAME]"""

import ctypes
import json
import os
import secrets
import sys
import time

from lying_relay import LyingRelay
from pushtest import outcome, pending, run_suite
import twostep_device as td  # noqa: E402 (pushtest put tests/device on the path)
import twostep_harness as th  # noqa: E402 (and tests/harness)

HERE = os.path.dirname(os.path.abspath(__file__))
DATABASE = os.path.join(HERE, "..", "web", "node_modules", "@ip-location-db",
                        "geo-whois-asn-country-mmdb", "geo-whois-asn-country.mmdb")


def locate_function(module):
    """twostep_push_locate of the push client next to the module."""
    library = ctypes.CDLL(os.path.join(os.path.dirname(module), "libtwostep-push.so"))
    locate = library.twostep_push_locate
    locate.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    locate.restype = ctypes.c_int

    def call(database, address):
        out = ctypes.create_string_buffer(256)
        rc = locate(database.encode() if database else None, address.encode(), out, len(out))
        return rc, out.value.decode()
    return call


def cases(setup):
    phone = setup.phone
    located_conf = setup.write_conf("located.conf", setup.relay.url)
    with open(located_conf, "a") as f:
        f.write("location_database %s\n" % os.path.abspath(DATABASE))
    setup.service("located", "push_timeout=10", push_conf=located_conf)

    def library():
        locate = locate_function(setup.module)
        return [locate(DATABASE, a) for a in ("8.8.8.8", "193.99.144.80", "2001:4860:4860::8888",
                                              "127.0.0.1", "::1", "::ffff:127.0.0.2", "10.1.2.3",
                                              "172.16.0.1", "192.168.1.1", "169.254.1.1",
                                              "fd00::1", "fe80::1", "192.0.2.1")] + [
            locate(None, "8.8.8.8"), locate("/nonexistent.mmdb", "8.8.8.8")[0]]

    def shown_and_signed():
        """rhost 193.99.144.80 (in Germany): the phone sees "DE", approves."""
        child, number = setup.push_login("located", items=("rhost=193.99.144.80",))
        view = pending(phone)
        th.check(view["context"] == {"command": "", "target_user": "", "location": "DE"},
                 "the phone's view has the location from the database: %r" % view["context"])
        phone.approve(view["id"], number)
        return outcome(child)

    def through_lying_relay(rewrite, items=("rhost=193.99.144.80",)):
        """The phone reads its views through a relay that rewrites them."""
        lying = LyingRelay(setup.relay.url, rewrite)
        setup.stops.append(lying.stop)
        liar = td.Device.load(phone.path)  # the same phone, reaching the relay through the liar
        liar.state["relay"] = lying.url
        child, number = setup.push_login("located", items=items)
        view = th.wait_for(liar.list_challenges, 10, "a pending challenge through the liar",
                           interval=0.1)[-1]
        liar.approve(view["id"], number)
        ok, text = outcome(child)
        # The sign counter went up in the liar's copy of the phone's state.
        phone.state = td.Device.load(phone.path).state
        phone.state["relay"] = setup.relay.url
        phone.save()
        return ok, text, lying.rewritten > 0

    def location_rewritten():
        def move(view):
            view["context"]["location"] = "Berlin, Germany"
        return through_lying_relay(move)

    def command_rewritten():
        def add_command(view):
            view["context"]["command"] = "sudo ls"
        return through_lying_relay(add_command)

    def context_dropped():
        def drop(view):
            view["context"] = None
        return through_lying_relay(drop)

    def this_computer():
        child, number = setup.push_login("located", items=("rhost=127.0.0.1",))
        view = pending(phone)
        location = view["context"]["location"]
        phone.deny(view["id"])
        outcome(child)
        return location

    def challenge_body(**extra):
        credential = td.b64u(td.b64u_decode(phone.state["credential_id"]))
        body = {"user": "root", "service": "sshd", "rhost": "203.0.113.5", "tty": "ssh",
                "devices": [credential], "nonce": td.b64u(secrets.token_bytes(32)),
                "expires": int(time.time()) + 60}
        body.update(extra)
        return body

    def old_module():
        """A version 2 module's challenge: no context; approved with digest v1."""
        status, created = setup.relay.host_request("POST", "/v1/challenges", challenge_body())
        th.check(status == 201, "a challenge without context is created: %s %s" % (status, created))
        view = phone.challenge(created["id"])
        number = 42
        decided = phone.approve(created["id"], number)
        digest = td.approval_digest(view["id"], view["nonce"], view["host"], view["user"],
                                    view["service"], view["rhost"], view["tty"], number,
                                    view["expires"])
        status, state = setup.relay.host_request("GET", "/v1/challenges/" + created["id"])
        client_data = json.loads(td.b64u_decode(state["assertion"]["client_data_json"]))
        return (view["context"], decided["status"], status,
                client_data["challenge"] == td.b64u(digest))

    def relay_checks():
        refusals = []
        for context in ({"command": "ls"}, {"command": "a\nb", "target_user": "", "location": ""},
                        {"command": "x" * 256, "target_user": "", "location": ""},
                        {"command": "", "target_user": "", "location": "", "extra": ""}, "ls"):
            status, answer = setup.relay.host_request("POST", "/v1/challenges",
                                                      challenge_body(context=context))
            refusals.append((status, answer.get("error")))
        return refusals

    bad = (400, "bad_request")
    return [
        th.Case("locate_library", library,
                [(0, "US"), (0, "DE"), (0, "US"), (0, "this computer"), (0, "this computer"),
                 (0, "this computer"), (0, "this network"), (0, "this network"), (0, "this network"),
                 (0, "this network"), (0, "this network"), (0, "this network"), (0, ""), (0, ""), 1],
                "twostep_push_locate: the country database's answers, loopback and private "
                "addresses, an address it lacks, no database, an unreadable one"),
        th.Case("location_shown_and_signed", shown_and_signed,
                lambda o: o[0] and "reason=approved" in o[1],
                "a location from the database, shown, signed, approved: in"),
        th.Case("this_computer", this_computer, "this computer",
                "a loopback client address shows as 'this computer'"),
        th.Case("location_rewritten", location_rewritten,
                lambda o: not o[0] and "reason=wrong_challenge" in o[1] and o[2],
                "a relay that shows the phone another location: refused (wrong_challenge)"),
        th.Case("command_rewritten", command_rewritten,
                lambda o: not o[0] and "reason=wrong_challenge" in o[1] and o[2],
                "a relay that shows the phone a command: refused (wrong_challenge)"),
        th.Case("context_dropped", context_dropped,
                lambda o: not o[0] and "reason=wrong_challenge" in o[1] and o[2],
                "a relay that hides the context (the phone signs digest version 1): refused"),
        th.Case("old_module", old_module, (None, "approved", 200, True),
                "a challenge without context (protocol version 2 module): context null, "
                "approved over digest version 1"),
        th.Case("relay_checks", relay_checks, [bad] * 5,
                "the relay refuses a context without all three fields, with a control "
                "character, too long, with an extra field, or not an object"),
    ]


if __name__ == "__main__":
    if not os.path.exists(DATABASE):
        th.log("SKIP: the country database is not installed (run scripts/npm-setup): " + DATABASE)
        sys.exit(th.SKIP_CODE)
    run_suite(cases)
