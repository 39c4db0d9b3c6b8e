"""The one harness of twostep's Python suites: checks, named case tables and
waits for events. The domain layers (tests/e2e/harness.py for users and sshd,
tests/relay/relay_harness.py, tests/push/pushtest.py, tests/enroll/enrolltest.py)
build on it. A suite finds it through its own path:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "harness"))
    import twostep_harness as th

Checks
    check(condition, what)   records an expectation; the suite goes on (soft)
    expect(condition, what)  an expectation the rest depends on: raises CheckFailed
    finish()                 exits 1 if any check failed, else 0

Named cases, in the spirit of libpamtest's test-case tables: each case is a
name, its setup (a function that acts and returns what it observed) and its
expected outcome. run_cases() prints "PASS name", "FAIL name: reason" or
"SKIP name: reason" per case and returns the exit status (1 on a failure,
SKIP_CODE when a case was skipped and none failed, else 0). `--case NAME`
(or TWOSTEP_CASE=NAME) runs one case by name.

Waits: wait_for(predicate, timeout, what) and the event waits built on it (a
port accepting, a file appearing, a log line, a request read by a server). A
test waits for the event it needs, never for time: on a busy 2-core machine a
sleep is a flake. Every wait has a deadline and says what it waited for.
"""

import argparse
import http.client
import os
import re
import socket
import sys
import threading
import time
import traceback

SKIP_CODE = 77  # ctest's SKIP_RETURN_CODE for every suite


class CheckFailed(AssertionError):
    """An expectation that did not hold; the message says which."""


class WaitTimeout(CheckFailed):
    """A wait whose event did not come before its deadline."""


class Skipped(Exception):
    """Raised by a case that cannot run here; the message is the reason."""


def log(message):
    print(message, flush=True)


# --------------------------------------------------------------------------
# Checks

_failures = []


def check(condition, what):
    """Records an expectation and goes on; finish() or run_cases() fail at the end."""
    log(("ok   - " if condition else "FAIL - ") + what)
    if not condition:
        _failures.append(what)
    return condition


def expect(condition, what):
    """An expectation the following steps depend on: stops the case when it fails."""
    if not check(condition, what):
        raise CheckFailed(what)
    return condition


def failure_count():
    return len(_failures)


def finish():
    """Ends a suite that is one scenario: exit 1 if any check failed."""
    if _failures:
        log("%d check(s) failed" % len(_failures))
        sys.exit(1)
    log("all checks passed")
    sys.exit(0)


def skip(reason):
    raise Skipped(reason)


def skip_unless_root(why):
    """Exits with SKIP_CODE when not root (ctest then reports the suite as skipped)."""
    if os.geteuid() != 0:
        log("SKIP: needs root (%s)" % why)
        sys.exit(SKIP_CODE)


# --------------------------------------------------------------------------
# Named case tables


class Case:
    """One row of a case table. `setup()` acts and returns what it observed;
    `expected` is the outcome it must equal, or a function of the outcome that
    returns True when it is right, or None when setup() checks for itself
    (through expect()/check())."""

    def __init__(self, name, setup, expected=None, what=""):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError("case name %r: letters, digits, _ . - only" % name)
        self.name, self.setup, self.expected, self.what = name, setup, expected, what

    def judge(self, outcome):
        """None when the outcome is the expected one, else the reason."""
        if self.expected is None:
            return None
        ok = self.expected(outcome) if callable(self.expected) else outcome == self.expected
        if ok:
            return None
        wanted = "" if callable(self.expected) else " (expected %r)" % (self.expected,)
        return "unexpected outcome %r%s" % (outcome, wanted)


def _run_one(case):
    """('PASS'|'FAIL'|'SKIP', reason) of one case."""
    failures_before = len(_failures)
    try:
        reason = case.judge(case.setup())
    except Skipped as skipped:
        return "SKIP", str(skipped)
    except CheckFailed as failed:
        return "FAIL", str(failed)
    except Exception as error:  # noqa: BLE001 - a crash of one case is its failure
        traceback.print_exc()
        return "FAIL", "%s: %s" % (type(error).__name__, error)
    if reason is None and len(_failures) > failures_before:
        reason = "check failed: " + _failures[-1]
    return ("FAIL", reason) if reason else ("PASS", "")


def select_cases(cases, argv=None):
    """The cases to run: all, or the one named by --case NAME / TWOSTEP_CASE."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--case")
    known, rest = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
    wanted = known.case or os.environ.get("TWOSTEP_CASE")
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError("case names repeat: %s" % names)
    if not wanted:
        return list(cases), rest
    chosen = [c for c in cases if c.name == wanted]
    if not chosen:
        log("no case named %r; the cases are: %s" % (wanted, " ".join(names)))
        sys.exit(2)
    return chosen, rest


def run_cases(cases, argv=None):
    """Runs a case table; returns the exit status for the suite."""
    chosen, _ = select_cases(cases, argv)
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for case in chosen:
        log("--- %s%s" % (case.name, ": " + case.what if case.what else ""))
        started = time.monotonic()
        verdict, reason = _run_one(case)
        counts[verdict] += 1
        took = time.monotonic() - started
        log("%s %s (%.2f s)%s" % (verdict, case.name, took, ": " + reason if reason else ""))
    log("%d passed, %d failed, %d skipped" % (counts["PASS"], counts["FAIL"], counts["SKIP"]))
    if counts["FAIL"]:
        return 1
    return SKIP_CODE if counts["SKIP"] else 0


# --------------------------------------------------------------------------
# Waits for events


def wait_for(predicate, timeout, what, interval=0.02):
    """Returns predicate()'s first true value; raises WaitTimeout naming `what`
    when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def eventually(predicate, timeout, what):
    """An expectation that must come true within `timeout` seconds, as
    expect(): returns predicate()'s first true value."""
    try:
        value = wait_for(predicate, timeout, what)
    except WaitTimeout as timeout_:
        expect(False, str(timeout_))
    check(True, what)
    return value


def free_port():
    """A loopback TCP port nobody listens on at this moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _still_running(process, what):
    if process is not None and process.poll() is not None:
        raise CheckFailed("%s: the process exited (%s) while we waited"
                          % (what, process.returncode))


def wait_for_port(port, timeout, what, host="127.0.0.1", process=None):
    """Waits until host:port accepts a TCP connection (fails at once when
    `process`, the server, exits first)."""
    def accepting():
        _still_running(process, what)
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            return False
    return wait_for(accepting, timeout, what)


def wait_for_file(path, timeout, what):
    return wait_for(lambda: os.path.exists(path), timeout, what)


def wait_for_line(path, pattern, timeout, what, process=None):
    """Waits until the text file `path` holds a line matching `pattern`;
    returns the last match (a log that is appended to across restarts names
    the newest process last)."""
    regex = re.compile(pattern, re.M)

    def matched():
        try:
            with open(path, errors="replace") as f:
                found = list(regex.finditer(f.read()))
        except FileNotFoundError:
            found = []
        if not found:
            _still_running(process, what)
        return found[-1] if found else None
    return wait_for(matched, timeout, what)


TCP_ESTABLISHED, TCP_CLOSE_WAIT, TCP_LISTEN = "01", "08", "0A"


def _tcp_table():
    """(local, remote, state, send queue, receive queue) of every IPv4 TCP
    socket, from /proc/net/tcp; addresses as ("127.0.0.1", port)."""
    def address(field):
        ip, port = field.split(":")
        return socket.inet_ntoa(bytes.fromhex(ip)[::-1]), int(port, 16)
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            tx, rx = fields[4].split(":")
            yield address(fields[1]), address(fields[2]), fields[3], int(tx, 16), int(rx, 16)


def _tcp_queues(local, remote):
    """(send queue, receive queue) in bytes of the socket local -> remote;
    None when there is no such socket."""
    for here, there, _, tx, rx in _tcp_table():
        if (here, there) == (tuple(local), tuple(remote)):
            return tx, rx
    return None


def all_accepted(port):
    """True when the server listening on loopback `port` has accepted every
    connection made to it (its listen queue is empty)."""
    return all(rx == 0 for here, _, state, _, rx in _tcp_table()
               if here[1] == port and state == TCP_LISTEN)


def all_closed_by_server(port):
    """True when the server on `port` holds no connection open any more (none
    established, none that the client closed and the server has not)."""
    return not any(here[1] == port and state in (TCP_ESTABLISHED, TCP_CLOSE_WAIT)
                   for here, _, state, _, _ in _tcp_table())


def peer_has_read(sock):
    """True once the process at the other end of the loopback TCP socket `sock`
    has read every byte sent on it: the peer's kernel acknowledged them all
    (our send queue is empty) and its process took them (its receive queue
    is empty)."""
    local, remote = sock.getsockname()[:2], sock.getpeername()[:2]
    ours, theirs = _tcp_queues(local, remote), _tcp_queues(remote, local)
    return ours is not None and theirs is not None and ours[0] == 0 and theirs[1] == 0


class BackgroundRequest:
    """An HTTP request answered later (a long-poll), sent from a thread.
    wait_read() returns once the server has read the request: from then on
    the server holds it, so whatever happens next is an event it sees."""

    def __init__(self, port, method, target, body=None, headers=None, timeout=90,
                 host="127.0.0.1"):
        self._conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self._conn.connect()
        self._sock = self._conn.sock
        self._sent = threading.Event()
        self._done = threading.Event()
        self.answered_at = None
        self._answer = self._error = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        args=(method, target, body, dict(headers or {})))
        self._thread.start()

    def _run(self, method, target, body, headers):
        try:
            self._conn.request(method, target, body=body, headers=headers)
            self._sent.set()
            response = self._conn.getresponse()
            self._answer = (response.status, dict(response.getheaders()), response.read())
        except Exception as error:  # noqa: BLE001 - handed to result()
            self._error = error
        finally:
            self.answered_at = time.monotonic()
            self._sent.set()
            self._done.set()
            self._conn.close()

    @property
    def answered(self):
        return self._done.is_set()

    def wait_read(self, timeout, what):
        """Waits until the server has read the whole request (or answered it)."""
        wait_for(self._sent.is_set, timeout, what + " (sent)")
        return wait_for(lambda: self.answered or peer_has_read(self._sock), timeout,
                        what + " (read by the server)")

    def result(self, timeout):
        """(status, headers, body) of the answer; raises what the request raised."""
        if not self._done.wait(timeout):
            raise WaitTimeout("no answer within %.1f s" % timeout)
        if self._error is not None:
            raise self._error
        return self._answer
