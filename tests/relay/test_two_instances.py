#!/usr/bin/env python3
"""Two `twostepd serve` instances on one PostgreSQL database (issue 10):
a challenge created through instance A is decided through instance B, and
A's long-poll wakes.

    with_postgres.py test_two_instances.py [--rounds N] PATH/TO/twostepd @PGURL@

With --rounds N it then measures N more approvals (median and p99 of
"decision sent to B" -> "A's long-poll answered"), quietly.

The scriptable device (tests/device/twostep_device.py) pairs through B while
the enroll side waits on A; the host creates its challenges and long-polls
on A; the device approves (then, in a second round, denies) through B. Each
wake-up must reach A's long-poll within WAKE_BOUND seconds of B's answer,
which only LISTEN/NOTIFY can deliver: A has nothing else to learn it from
before the wait expires (30 s).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "device"))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import twostep_harness as th  # noqa: E402
from twostep_harness import free_port  # noqa: E402
try:
    import twostep_device as td
except ImportError as error:  # python3-cryptography missing
    print(f"SKIP: {error} (install python3-cryptography)", flush=True)
    sys.exit(77)

ORIGIN = "https://approve.test"
WAIT = 30          # the host's long-poll, seconds
WAKE_BOUND = 2.0   # decision through B -> A's long-poll answers, seconds


def log(message: str) -> None:
    print(f"[two_instances] {message}", flush=True)


def http_json(port: int, method: str, path: str, body: bytes = b"",
              headers: dict | None = None, timeout: float = 10) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=body if body or method != "GET" else None,
                     headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else {}
    finally:
        conn.close()


class Host:
    """The module's side: HMAC-signed requests (protocol section 3)."""

    def __init__(self, host_id: str, secret: bytes) -> None:
        self.host_id = host_id
        self.secret = secret

    def headers(self, method: str, path: str, query: str = "", body: bytes = b"") -> dict:
        timestamp = str(int(time.time()))
        nonce = td.b64u(secrets.token_bytes(16))
        signature = td.host_signature(self.secret, method, path, query, body, timestamp, nonce,
                                      self.host_id)
        return {"X-Twostep-Host": self.host_id, "X-Twostep-Timestamp": timestamp,
                "X-Twostep-Nonce": nonce, "X-Twostep-Signature": signature}

    def request(self, port: int, method: str, path: str, query: str = "",
                document: dict | None = None, timeout: float = 10) -> tuple[int, dict]:
        body = json.dumps(document).encode() if document is not None else b""
        target = path + ("?" + query if query else "")
        return http_json(port, method, target, body, self.headers(method, path, query, body),
                         timeout)


class Instance:
    def __init__(self, twostepd: str, config: str, url: str, name: str) -> None:
        self.port = free_port()
        self.name = name
        # A file, not a pipe nobody reads: with a pipe the relay's audit lines
        # fill it after a few hundred rounds and its next log write blocks.
        self.log_path = os.path.join(os.path.dirname(config), f"instance-{name}.log")
        with open(self.log_path, "w", encoding="utf-8") as output:
            self.process = subprocess.Popen(
                [twostepd, "-c", config, "--db", url, "serve", "--listen",
                 f"127.0.0.1:{self.port}"],
                stdout=output, stderr=subprocess.STDOUT)
        try:
            th.wait_for_port(self.port, 20, f"instance {name} to listen", process=self.process)
        except th.CheckFailed as failed:
            raise RuntimeError(f"{failed}: {self.output()}") from None

    def output(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        log(f"instance {self.name} stopped ({self.process.returncode})")


def add_host(twostepd: str, config: str, url: str) -> Host:
    out = subprocess.run([twostepd, "-c", config, "--db", url, "host", "add", "web1"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    values = dict(line.split(" = ", 1) for line in out.splitlines()
                  if " = " in line and not line.startswith("#"))
    return Host(values["host_id"], td.b64u_decode(values["host_secret"]))


def pair(host: Host, a: Instance, b: Instance, device: td.Device) -> None:
    """Created and confirmed through A, registered through B; A's wait wakes."""
    secret_s, token_k = secrets.token_bytes(32), secrets.token_bytes(32)
    status, created = http_json(a.port, "POST", "/v1/pairings", json.dumps({
        "host_id": host.host_id, "user": "alice",
        "confirm_hash": td.b64u(hashlib.sha256(token_k).digest())}).encode())
    th.expect(status == 201, f"create pairing: {status} {created}")
    pairing_id = created["id"]
    waiter = th.BackgroundRequest(a.port, "GET", f"/v1/pairings/{pairing_id}?wait={WAIT}",
                                  timeout=WAIT + 10)
    waiter.wait_read(10, "A to read the pairing wait")
    th.expect(not waiter.answered, "A holds the pairing wait")
    sent = time.monotonic()
    device.pair(f"{ORIGIN}/#pair={pairing_id}.{td.b64u(secret_s)}")
    registered = time.monotonic()
    status, _, body = waiter.result(WAIT + 15)
    registration = json.loads(body) if body else {}
    th.expect(status == 200 and registration.get("status") == "registered",
              f"A's pairing wait: {status} {registration}")
    log(f"registration through B woke A's pairing wait "
        f"{(waiter.answered_at - sent) * 1000:.1f} ms after the phone started pairing")
    th.expect(waiter.answered_at - registered < WAKE_BOUND, "A's pairing wait woke too late")
    status, confirmed = http_json(a.port, "POST", f"/v1/pairings/{pairing_id}/confirm",
                                  json.dumps({"confirm_token": td.b64u(token_k)}).encode())
    th.expect(status == 200, f"confirm through A: {status} {confirmed}")


def approval(device: td.Device):
    """Reads the view and makes the assertion first, so that the timed part
    is the decision request alone."""
    def prepare(challenge_id: str):
        view = device.challenge(challenge_id)
        body = {"decision": "approve",
                "assertion": device.assertion(td.digest_of_view(view, 42))}
        return lambda: device.decide(challenge_id, body)
    return prepare


def denial(device: td.Device):
    return lambda challenge_id: (lambda: device.deny(challenge_id))


def round_trip(host: Host, a: Instance, device: td.Device, prepare,
               latencies: list | None = None) -> dict:
    """Creates a challenge through A, long-polls A, decides through B."""
    status, created = host.request(a.port, "POST", "/v1/challenges", document={
        "user": "alice", "service": "sshd", "rhost": "203.0.113.5", "tty": "ssh",
        "devices": [device.state["credential_id"]],
        "nonce": td.b64u(secrets.token_bytes(32)), "expires": int(time.time()) + 120})
    th.expect(status == 201, f"create challenge through A: {status} {created}")
    challenge_id = created["id"]
    path, query = f"/v1/challenges/{challenge_id}", f"wait={WAIT}"
    poller = th.BackgroundRequest(a.port, "GET", f"{path}?{query}",
                                  headers=host.headers("GET", path, query), timeout=WAIT + 10)
    decide = prepare(challenge_id)
    poller.wait_read(10, "A to read the long-poll")
    th.expect(not poller.answered, "A holds the long-poll")
    sent = time.monotonic()
    decide()
    answered = time.monotonic()
    status, _, body = poller.result(WAIT + 15)
    answer = json.loads(body) if body else {}
    at = poller.answered_at
    if latencies is None:
        log(f"challenge created through A, decided through B: A's long-poll answered "
            f"{answer.get('status')} {(at - sent) * 1000:.1f} ms after the decision "
            f"was sent to B (B answered after {(answered - sent) * 1000:.1f} ms)")
    th.expect(status == 200, f"A's long-poll: {status} {answer}")
    th.expect(at >= sent, "A's long-poll answered before the decision")
    th.expect(at - answered < WAKE_BOUND, "A's long-poll woke too late")
    if latencies is not None:
        latencies.append(at - sent)
    return answer


def main() -> int:
    args = sys.argv[1:]
    rounds = 0
    if len(args) == 4 and args[0] == "--rounds":
        rounds, args = int(args[1]), args[2:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    twostepd, url = args
    work = tempfile.mkdtemp(prefix="twostep-two-instances-")
    instances: list[Instance] = []
    try:
        config = os.path.join(work, "twostepd.conf")
        with open(config, "w", encoding="utf-8") as handle:
            # Both instances stand for one relay behind a load balancer.
            handle.write(f"approver_origin = {ORIGIN}\n")
            # --rounds N makes N challenges for one phone in a row: no
            # cooldown, no notification bound (test_push_fatigue.py has them).
            handle.write("fatigue_denials = 0\nnotifications_per_minute = 0\n")
        host = add_host(twostepd, config, url)
        a = Instance(twostepd, config, url, "A")
        instances.append(a)
        b = Instance(twostepd, config, url, "B")
        instances.append(b)
        device = td.Device.create(os.path.join(work, "device.json"), origin=ORIGIN,
                                  relay=f"http://127.0.0.1:{b.port}")
        pair(host, a, b, device)

        approved = round_trip(host, a, device, approval(device))
        th.expect(approved.get("status") == "approved", f"expected approved: {approved}")
        th.expect("assertion" in approved, "the approval reached A without its assertion")
        denied = round_trip(host, a, device, denial(device))
        th.expect(denied.get("status") == "denied", f"expected denied: {denied}")
        if rounds:  # a measurement, not a test: --rounds N
            latencies: list = []
            for _ in range(rounds):
                round_trip(host, a, device, approval(device), latencies)
                time.sleep(0.2)  # stay under the device rate limit (10/s)
            latencies.sort()
            log(f"{rounds} rounds, decision sent to B -> A's long-poll answered: median "
                f"{latencies[len(latencies) // 2] * 1000:.1f} ms, p99 "
                f"{latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000:.1f} ms")
        log("PASS")
        return 0
    except (AssertionError, RuntimeError, subprocess.CalledProcessError, td.HttpError) as error:
        log(f"FAIL: {error}")
        for instance in instances:
            log(f"instance {instance.name}'s log (last 20 lines):\n"
                + "\n".join(instance.output().splitlines()[-20:]))
        return 1
    finally:
        for instance in instances:
            instance.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
