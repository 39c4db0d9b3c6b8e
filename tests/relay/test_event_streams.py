#!/usr/bin/env python3
"""Event streams under attack (issue 19 item 5): one paired device opened
1,000 streams and every push round woke all of them. Now a device keeps at
most 4 (its newest; a fifth closes the oldest), one address at most 32
(429 beyond), and a round wakes only the streams of the devices the
challenge was sent to.

usage: test_event_streams.py TWOSTEPD
"""

import http.client
import sys

from relay_harness import Relay, expect, run

EVENTS = "/v1/device/events"


def open_stream(relay, dev, source="127.0.0.1"):
    """A signed event stream from `source`: (connection, response)."""
    conn = http.client.HTTPConnection("127.0.0.1", relay.port, timeout=20,
                                      source_address=(source, 0))
    conn.request("GET", EVENTS, headers=dev.sign_request("GET", EVENTS))
    return conn, conn.getresponse()


def read_event(response):
    """The next event's name, skipping keep-alive comments; None at the end."""
    name = None
    while True:
        line = response.fp.readline()
        if not line:
            return None
        line = line.decode().rstrip("\r\n")
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line == "" and name:
            return name


def a_device_keeps_its_four_newest_streams(binary):
    with Relay(binary, ["event_keepalive = 1"]) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        streams = [open_stream(relay, dev) for _ in range(6)]
        for conn, r in streams:
            assert r.status == 200, r.status
        # The two oldest were closed by the relay (end of stream) ...
        for conn, r in streams[:2]:
            assert read_event(r) is None, "an old stream stayed open"
        # ... and the four newest hear of a new challenge.
        host.create("alice", [dev])
        for conn, r in streams[2:]:
            assert read_event(r) == "challenge"
        for conn, _ in streams:
            conn.close()


def one_address_holds_at_most_32_streams(binary):
    with Relay(binary, ["pairings_per_minute = 100"]) as relay:
        host = relay.add_host("web1")
        devices = [relay.paired_device(host, "user%d" % i) for i in range(9)]
        opened = []
        for dev in devices[:8]:
            for _ in range(4):
                opened.append(open_stream(relay, dev))
        assert all(r.status == 200 for _, r in opened)
        conn, r = open_stream(relay, devices[8])
        assert r.status == 429, r.status  # the 33rd from 127.0.0.1
        conn.close()
        # Another address is not affected.
        other, r = open_stream(relay, devices[8], source="127.0.0.2")
        assert r.status == 200, r.status
        other.close()
        for conn, _ in opened:
            conn.close()


def streams_of_other_devices_are_not_woken(binary):
    with Relay(binary, ["event_keepalive = 60"]) as relay:
        host = relay.add_host("web1")
        alice = relay.paired_device(host, "alice")
        bob = relay.paired_device(host, "bob")
        conn_a, ra = open_stream(relay, alice)
        conn_b, rb = open_stream(relay, bob)
        host.create("alice", [alice])
        assert read_event(ra) == "challenge"
        # Bob's stream heard nothing: the next thing on it is bob's own.
        host.create("bob", [bob])
        assert read_event(rb) == "challenge"
        conn_a.close()
        conn_b.close()
        expect(relay.request("GET", "/v1/none"), 404)


if __name__ == "__main__":
    sys.exit(run([
        a_device_keeps_its_four_newest_streams,
        one_address_holds_at_most_32_streams,
        streams_of_other_devices_are_not_woken,
    ], sys.argv[1]))
