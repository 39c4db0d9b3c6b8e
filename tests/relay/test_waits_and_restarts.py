#!/usr/bin/env python3
"""Long-polls, event streams, restarts and crashes of a real twostepd
(docs/protocol.md 4.2, 8.2; issue 10 "Long-poll" and "Restarts").

usage: test_waits_and_restarts.py TWOSTEPD
"""

import signal
import statistics
import sys
import threading
import time

from relay_harness import Relay, expect, run, th


def longpoll_returns_within_ms_of_a_decision(binary):
    with Relay(binary, ["fatigue_denials = 0", "notifications_per_minute = 0"]) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        latencies = []
        for i in range(10):
            cid = host.create("alice", [dev])
            poll = host.wait_held(cid, wait=30)
            assert not poll.answered, "the long-poll returned before any decision"
            decided_at = time.monotonic()
            if i % 2:
                dev.deny(cid)
                decided = "denied"
            else:
                dev.approve(cid, 42)
                decided = "approved"
            r = poll.response(10)
            assert r.status == 200 and r.json["status"] == decided, (decided, r)
            latencies.append(poll.answered_at - decided_at)
        ms = sorted(x * 1000 for x in latencies)
        print("decision -> long-poll return incl. the decision's round trip: median %.1f ms, "
              "max %.1f ms" % (statistics.median(ms), ms[-1]))
        # Woken by the decision, not by the 30 s wait running out. How fast
        # is a benchmark's question (bench/relay_bench.py, "latency"; a
        # bound in milliseconds here failed on a loaded machine).
        assert ms[-1] < 5000, ms


def longpoll_returns_when_the_wait_expires(binary):
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        cid = host.create("alice", [dev])
        start = time.monotonic()
        r = expect(host.wait(cid, wait=2), 200)
        took = time.monotonic() - start
        # Not before the wait is over; the upper bound only tells it from
        # a longer wait (loaded machines answer late).
        assert r.json["status"] == "pending" and 1.9 <= took < 8, (r, took)
        # A wait longer than the challenge's life returns at its expiry.
        cid = host.create("alice", [dev], ttl=2)
        start = time.monotonic()
        r = expect(host.wait(cid, wait=60), 200)
        took = time.monotonic() - start
        assert r.json["status"] == "expired" and took < 8, (r, took)
        # wait above 60 is clamped, not refused; wait=abc is refused.
        cid = host.create("alice", [dev])
        dev.deny(cid)
        expect(host.wait(cid, wait=3600), 200)
        expect(host.call("GET", "/v1/challenges/" + cid, "wait=abc"), 400, "bad_request")


def event_stream_delivers_new_and_changed_challenges(binary):
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        made = {}

        def create():
            made["cid"] = host.create("alice", [dev])

        def deny_once_announced(event):
            if event["event"] == "challenge":
                dev.deny(made["cid"])

        events = dev.events(count=2, timeout=10, on_open=create, on_event=deny_once_announced)
        assert [e["event"] for e in events] == ["challenge", "update"], events
        assert events[0]["data"]["id"] == made["cid"] and events[0]["data"]["host"] == "web1"
        assert events[1]["data"]["status"] == "denied", events
        # At connect: the pending ones.
        cid = host.create("alice", [dev])
        events = dev.events(count=1, timeout=5)
        assert events and events[0]["data"]["id"] == cid, events


def pending_challenge_survives_a_restart(binary):
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        cid = host.create("alice", [dev])
        relay.restart()
        dev.state["relay"] = relay.url
        poll = host.wait_held(cid, wait=20)
        dev.approve(cid, 17)
        r = poll.response(10)
        assert r.json["status"] == "approved" and "assertion" in r.json, r


def sigterm_answers_pending_longpolls_and_loses_nothing(binary):
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        dev = relay.paired_device(host, "alice")
        cid = host.create("alice", [dev])
        poll = host.wait_held(cid, wait=30)
        start = time.monotonic()
        code = relay.stop(signal.SIGTERM)
        answer = poll.response(10)
        assert code == 0, code
        assert time.monotonic() - start < 5
        expect(answer, 503, "shutting_down")
        relay.start()
        dev.state["relay"] = relay.url
        assert host.wait(cid).json["status"] == "pending"
        dev.deny(cid)
        assert host.wait(cid).json["status"] == "denied"


def kill9_under_load_loses_no_decided_challenge(binary):
    config = ["host_rate = 100000", "host_burst = 100000", "device_rate = 100000",
              "device_burst = 100000", "pairings_per_minute = 100", "fatigue_denials = 0",
              "notifications_per_minute = 0"]
    with Relay(binary, config) as relay:
        hosts = [relay.add_host("web%d" % i) for i in range(4)]
        devices = [relay.paired_device(h, "user%d" % i) for i, h in enumerate(hosts)]
        decided = []  # (host, challenge id, status) acknowledged by the relay
        lock = threading.Lock()
        stop = threading.Event()

        def worker(i):
            host, dev = hosts[i], devices[i]
            n = 0
            while not stop.is_set():
                try:
                    cid = host.create("user%d" % i, [dev])
                    view = dev.approve(cid, n % 100) if n % 2 else dev.deny(cid)
                except Exception:  # noqa: BLE001 - the relay is being killed
                    return
                with lock:
                    decided.append((host, cid, view["status"]))
                n += 1

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        # Under load: kill once enough decisions are acknowledged (the check
        # below needs more than 20), while the workers keep deciding.
        th.wait_for(lambda: len(decided) > 100, 60, "100 acknowledged decisions")
        relay.stop(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(30)
        assert len(decided) > 20, len(decided)
        relay.start()
        lost = []
        for host, cid, status in decided:
            r = host.wait(cid)
            if r.status != 200 or r.json["status"] != status:
                lost.append((cid, status, r))
        print("kill -9 after %d acknowledged decisions: %d lost" % (len(decided), len(lost)))
        assert not lost, lost[:5]


if __name__ == "__main__":
    sys.exit(run([
        longpoll_returns_within_ms_of_a_decision,
        longpoll_returns_when_the_wait_expires,
        event_stream_delivers_new_and_changed_challenges,
        pending_challenge_survives_a_restart,
        sigterm_answers_pending_longpolls_and_loses_nothing,
        kill9_under_load_loses_no_decided_challenge,
    ], sys.argv[1]))
