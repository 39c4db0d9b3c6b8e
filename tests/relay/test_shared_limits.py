#!/usr/bin/env python3
"""Issue 20 part 4: on PostgreSQL the limits that bound an attacker hold
across instances. Two `twostepd serve` on one database stand for a relay
behind a load balancer; a burst split across them meets the same limit as
the same burst against one of them:

- per host (host_rate, host_burst), per device key (device_rate,
  device_burst), per client address for pairings (pairings_per_minute);
- the push-fatigue cooldown (fatigue_denials): denials made through either
  instance count towards it, and either instance refuses.

Each burst is sent first to instance A alone, then alternately to A and B,
each time for a party with an untouched budget. The rates are low (1 a
second, 3 a minute), so the refill during a burst is at most a token or
two; a limit kept per instance would let the split burst through twice
(2 x burst).

usage: with_postgres.py test_shared_limits.py TWOSTEPD
"""

import json
import math
import os
import sys
import time

from relay_harness import Host, Relay, expect, run, td
import twostep_harness as th  # noqa: E402 (on the path relay_harness sets)

BURST = 6
CONFIG = ["host_rate = 1", "host_burst = %d" % BURST, "device_rate = 1",
          "device_burst = %d" % BURST, "pairings_per_minute = 3",
          "pairings_per_host_per_minute = 1000", "fatigue_denials = 3",
          "notifications_per_minute = 0"]


class Pair:
    """Instances A and B of one relay: one PostgreSQL database."""

    def __init__(self, binary):
        if not os.environ.get("TWOSTEP_PG_URL"):
            print("SKIP: needs PostgreSQL (run under with_postgres.py)", flush=True)
            sys.exit(77)
        self.a = Relay(binary, CONFIG)
        self.b = Relay(binary, CONFIG)
        self.b.db = self.a.db  # the same database, as behind a load balancer

    def __enter__(self):
        self.a.start()
        self.b.start()
        return self

    def __exit__(self, *exc):
        self.b.__exit__(*exc)
        self.a.__exit__(*exc)


def burst(send, targets, count):
    """Sends `count` requests, round robin over `targets`; returns how many
    passed, how many were refused 429, and the seconds the burst took
    (each refusal is checked to carry Retry-After)."""
    passed = refused = 0
    started = time.monotonic()
    for i in range(count):
        r = send(targets[i % len(targets)])
        if r.status == 429:
            assert r.error in ("rate_limited", "cooldown"), r
            assert int(r.headers["Retry-After"]) >= 1, r.headers
            refused += 1
        else:
            passed += 1
    return passed, refused, time.monotonic() - started


def within_limit(name, passed, burst_size, rate_per_s, took):
    """The tokens a burst may take: the saved-up ones and the refill while it ran."""
    most = burst_size + math.ceil(took * rate_per_s)
    th.log("%s: %d passed (at most %d: burst %d, %.2f s at %g/s)"
           % (name, passed, most, burst_size, took, rate_per_s))
    assert burst_size <= passed <= most, "%s: %d passed, limit %d" % (name, passed, most)


def host_on(host, relay):
    """The same host's credentials, speaking to `relay`."""
    return Host(relay, host.host_id, host.secret, host.name)


def device_call(device, relay, method, path):
    """A device request to `relay`, signed with the device's API key."""
    return relay.request(method, path, None, device.sign_request(method, path))


def host_requests_meet_one_budget(binary):
    with Pair(binary) as p:
        for name, targets in (("one instance", [p.a]), ("two instances", [p.a, p.b])):
            host = p.a.add_host(name.replace(" ", "-"))
            passed, _, took = burst(lambda relay: host_on(host, relay).call("GET", "/v1/host"),
                                    targets, 3 * BURST)
            within_limit(name + ", one host", passed, BURST, 1, took)


def device_requests_meet_one_budget(binary):
    with Pair(binary) as p:
        host = p.a.add_host("web1")
        for name, targets in (("one instance", [p.a]), ("two instances", [p.a, p.b])):
            device = p.a.paired_device(host, "alice-" + name.split()[0])
            passed, _, took = burst(lambda relay: device_call(device, relay, "GET", "/v1/device/self"),
                                    targets, 3 * BURST)
            within_limit(name + ", one device key", passed, BURST, 1, took)


def pairings_from_one_address_meet_one_budget(binary):
    with Pair(binary) as p:
        host = p.a.add_host("web1")
        users = iter(range(1000))

        def open_pairing(relay):
            # A new user each time: the per-address bound, not the per-user one.
            return relay.request("POST", "/v1/pairings", json.dumps({
                "host_id": host.host_id, "user": "u%d" % next(users),
                "confirm_hash": td.b64u(os.urandom(32))}).encode(),
                {"Content-Type": "application/json"})
        passed, _, took = burst(open_pairing, [p.a], 9)
        within_limit("one instance, pairings from 127.0.0.1", passed, 3, 3 / 60, took)
        # The address's budget is spent on both instances alike.
        passed, refused, _ = burst(open_pairing, [p.a, p.b], 4)
        th.log("then through A and B: %d passed, %d refused" % (passed, refused))
        assert passed == 0 and refused == 4, (passed, refused)


def denials_through_either_instance_start_one_cooldown(binary):
    with Pair(binary) as p:
        host = p.a.add_host("web1")
        device = p.a.paired_device(host, "alice")
        for i in range(3):  # created through A or B, denied through the other
            creator, decider = (p.a, p.b) if i % 2 == 0 else (p.b, p.a)
            cid = host_on(host, creator).create("alice", [device])
            device.state["relay"] = decider.url
            device.deny(cid)
        for relay in (p.a, p.b):
            r = host_on(host, relay).create("alice", [device], expect=429)
            expect(r, 429, "cooldown")
            th.log("after 3 denials through A and B, %s refuses: cooldown, Retry-After %s"
                   % ("A" if relay is p.a else "B", r.headers["Retry-After"]))


if __name__ == "__main__":
    sys.exit(run([host_requests_meet_one_budget, device_requests_meet_one_budget,
                  pairings_from_one_address_meet_one_budget,
                  denials_through_either_instance_start_one_cooldown], sys.argv[1]))
