#!/usr/bin/env python3
"""Issue 19, item 7: one slow push service must not delay everyone.

A local fake push service has a slow path (it reads the push, then never
answers) and a fast one (201 at once). Users whose phones subscribed to the
slow path log in first; then a user on the fast path. The fast push must
arrive promptly while the slow ones hang; each slow send ends at the relay's
per-send timeout (push_timeout); at most push_max_in_flight sends run at
once, and one user takes at most half of them.

usage: test_push_concurrency.py TWOSTEPD
"""

import http.server
import os
import select
import socket
import sys
import threading
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from relay_harness import Relay, run, td
import twostep_harness as th  # noqa: E402 (on the path relay_harness sets)


class FakePushService(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), PushHandler)
        self.lock = threading.Condition()
        self.arrived = []          # (path, monotonic time)
        self.bodies = []           # (path, the encrypted push message)
        self.hanging = {}          # path -> connections now held open
        self.peak = 0              # most slow connections open at once
        self.peak_by_user = {}     # user -> most of theirs open at once
        self.closed_after = []     # seconds each slow connection was held
        self.release = threading.Event()

    def handle_error(self, request, client_address):
        # The relay ends its connections when a send is done or timed out.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def wait_for(self, predicate, timeout):
        with self.lock:
            return self.lock.wait_for(lambda: predicate(self), timeout)


class PushHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        service = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        now = time.monotonic()
        with service.lock:
            service.arrived.append((self.path, now))
            service.bodies.append((self.path, body))
            service.lock.notify_all()
        if not self.path.startswith("/slow/"):
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        user = self.path.split("/")[2]
        with service.lock:
            service.hanging[user] = service.hanging.get(user, 0) + 1
            service.peak = max(service.peak, sum(service.hanging.values()))
            service.peak_by_user[user] = max(service.peak_by_user.get(user, 0),
                                             service.hanging[user])
        # Never answer; notice when the relay gives up and closes.
        try:
            while not service.release.is_set():
                readable, _, _ = select.select([self.connection], [], [], 0.05)
                if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                    break
        except OSError:
            pass
        with service.lock:
            service.hanging[user] -= 1
            service.closed_after.append(time.monotonic() - now)
            service.lock.notify_all()
        self.close_connection = True


def subscribe(device, endpoint):
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    status, body = device.request("POST", "/v1/device/push", body={
        "endpoint": endpoint, "p256dh": td.b64u(point), "auth": td.b64u(os.urandom(16))})
    assert status == 200, (status, body)


def with_service(test):
    def wrapped(binary):
        service = FakePushService()
        threading.Thread(target=service.serve_forever, daemon=True).start()
        try:
            test(binary, service)
        finally:
            service.release.set()
            service.shutdown()
            service.server_close()
    wrapped.__name__ = test.__name__
    return wrapped


def users_with_devices(relay, host, service, plan):
    """plan: [(user, path kind, devices)] -> {user: [devices]}"""
    out = {}
    for user, kind, count in plan:
        out[user] = []
        for i in range(count):
            dev = relay.paired_device(host, user)
            subscribe(dev, "%s/%s/%s/%d" % (service.url, kind, user, i))
            out[user].append(dev)
    return out


@with_service
def a_slow_push_service_does_not_delay_others(binary, service):
    # Default settings: the shipped push_timeout is 10 s.
    with Relay(binary, ["host_rate = 1000", "host_burst = 1000"]) as relay:
        host = relay.add_host("web1")
        devices = users_with_devices(relay, host, service,
                                     [("slow%d" % i, "slow", 1) for i in range(4)] +
                                     [("bob", "fast", 1)])
        for i in range(4):
            host.create("slow%d" % i, devices["slow%d" % i])
        assert service.wait_for(lambda s: sum(s.hanging.values()) >= 1, 10), service.arrived
        start = time.monotonic()
        host.create("bob", devices["bob"])
        assert service.wait_for(lambda s: any(p.startswith("/fast/bob/") for p, _ in s.arrived), 10), \
            "bob's push did not arrive within 10 s"
        took = [t for p, t in service.arrived if p.startswith("/fast/bob/")][0] - start
        # Behind the slow ones it would wait their 10 s; the margin is for
        # loaded machines.
        assert took < 5.0, "the fast push waited %.2f s behind the slow ones" % took
        assert service.wait_for(lambda s: sum(s.hanging.values()) == 4, 10), \
            "all four slow pushes are in flight at once: %r" % service.hanging


@with_service
def slow_sends_are_bounded_and_time_out(binary, service):
    config = ["host_rate = 1000", "host_burst = 1000", "push_timeout = 4",
              "push_max_in_flight = 4"]
    with Relay(binary, config) as relay:
        host = relay.add_host("web1")
        # alice has three phones on the slow service: she gets 2 of the 4 slots.
        devices = users_with_devices(relay, host, service,
                                     [("alice", "slow", 3), ("carol", "slow", 1),
                                      ("bob", "fast", 1)])
        started = time.monotonic()
        host.create("alice", devices["alice"])
        host.create("carol", devices["carol"])
        assert service.wait_for(lambda s: sum(s.hanging.values()) == 3, 10), service.hanging
        start = time.monotonic()
        host.create("bob", devices["bob"])
        assert service.wait_for(lambda s: any(p.startswith("/fast/bob/") for p, _ in s.arrived), 10)
        took = [t for p, t in service.arrived if p.startswith("/fast/bob/")][0] - start
        # Queued behind a slot, it would wait for a 4 s timeout.
        assert took < 3.0, "bob's push waited %.2f s" % took
        # alice's third send starts once one of her first two timed out.
        assert service.wait_for(lambda s: len(s.closed_after) == 4, 30), service.closed_after
        assert service.peak_by_user == {"alice": 2, "carol": 1}, service.peak_by_user
        assert service.peak <= 4, service.peak
        third = sorted(t for p, t in service.arrived if p.startswith("/slow/alice/"))[2]
        assert third - started >= 3.5, "alice's third send did not wait for a slot"
        for held in service.closed_after:
            assert 3.5 < held < 10, "a slow send ended after %.2f s, push_timeout is 4" % held
        # The relay logs a timeout just after it closes the connection the
        # service saw close: wait for the fourth line, not only the close.
        th.wait_for(lambda: relay.read_log().count("Timeout was reached") >= 4, 10,
                    "the fourth timeout in the log")
        log = relay.read_log()
        assert log.count("Timeout was reached") == 4, log
        assert "/slow/" not in log, "the log names origins only (the endpoint is a capability)"


if __name__ == "__main__":
    sys.exit(run([
        a_slow_push_service_does_not_delay_others,
        slow_sends_are_bounded_and_time_out,
    ], sys.argv[1]))
