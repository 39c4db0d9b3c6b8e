#!/usr/bin/python3
"""The harness's own cases: a failing case fails the suite, a skip is a
skip and not a pass, one case runs by name, a wait that times out says what
it waited for, and a request counts as read only once the server read it.
Each suite under test is run as a child process, as ctest would run it."""

import os
import socket
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import twostep_harness as th  # noqa: E402


def run_table(body, *args):
    """Runs a case table written as Python source in a child; (exit status, output)."""
    source = "import sys\nsys.path.insert(0, %r)\nimport twostep_harness as th\n" % HERE
    source += textwrap.dedent(body) + "\nsys.exit(th.run_cases(CASES))\n"
    done = subprocess.run([sys.executable, "-c", source] + list(args), capture_output=True,
                          text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


TABLE = """
    def fails_softly():
        th.check(1 + 1 == 3, "arithmetic")
    CASES = [
        th.Case("equal", lambda: 42, 42),
        th.Case("predicate", lambda: "reason=denied", lambda o: "denied" in o),
        th.Case("wrong_value", lambda: 41, 42),
        th.Case("soft_check", fails_softly),
        th.Case("hard_check", lambda: th.expect(False, "must hold")),
        th.Case("crash", lambda: {}["missing"]),
        th.Case("not_here", lambda: th.skip("no such device")),
    ]
"""


def table_reports_every_verdict():
    status, out = run_table(TABLE)
    th.expect(status == 1, "a table with failures exits 1 (got %d)" % status)
    for line in ("PASS equal", "PASS predicate", "FAIL wrong_value", "expected 42",
                 "FAIL soft_check", "check failed: arithmetic", "FAIL hard_check",
                 "must hold", "FAIL crash", "KeyError", "SKIP not_here", "no such device",
                 "2 passed, 4 failed, 1 skipped"):
        th.expect(line in out, "the output names %r" % line)


def one_case_by_name():
    status, out = run_table(TABLE, "--case", "predicate")
    th.expect(status == 0 and "PASS predicate" in out and "equal" not in out,
              "--case predicate runs that case alone (exit %d)" % status)
    status, out = run_table(TABLE, "--case", "nothing")
    th.expect(status == 2 and "the cases are: equal predicate" in out,
              "an unknown case name is an error that lists the names (exit %d)" % status)


def a_skip_is_not_a_pass():
    status, out = run_table("""
        CASES = [th.Case("runs", lambda: 1, 1), th.Case("skips", lambda: th.skip("not root"))]
    """)
    th.expect(status == th.SKIP_CODE and "SKIP skips (" in out,
              "passes and a skip exit with SKIP_CODE (got %d)" % status)


def names_are_checked():
    for bad in ("has space", ""):
        try:
            th.Case(bad, lambda: None)
        except ValueError:
            continue
        th.expect(False, "case name %r refused" % bad)
    status, out = run_table('CASES = [th.Case("a", lambda: 1), th.Case("a", lambda: 2)]')
    th.expect(status != 0 and "case names repeat" in out, "repeated case names are refused")


def wait_timeout_names_the_event():
    try:
        th.wait_for(lambda: False, 0.1, "the moon to rise")
    except th.WaitTimeout as timeout:
        th.expect("the moon to rise" in str(timeout) and "0.1 s" in str(timeout),
                  "the timeout says what it waited for: %s" % timeout)
        return
    th.expect(False, "wait_for raised when the event never came")


def read_means_read_by_the_peer():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        with client, peer:
            client.sendall(b"GET / HTTP/1.1\r\n\r\n")
            th.wait_for(lambda: th._tcp_queues(peer.getsockname(), peer.getpeername()) != (0, 0),
                        10, "the bytes to reach the peer's kernel")
            th.expect(not th.peer_has_read(client), "bytes in the peer's queue are not read yet")
            peer.recv(100)
            th.wait_for(lambda: th.peer_has_read(client), 10, "the read to show")


def accepts_and_closes_show():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        th.wait_for(lambda: not th.all_accepted(port), 10, "the connection to be queued")
        peer, _ = server.accept()
        th.expect(th.all_accepted(port), "accepted: the listen queue is empty")
        th.expect(not th.all_closed_by_server(port), "the server holds the connection")
        client.close()
        th.expect(not th.all_closed_by_server(port), "closed by the client only (CLOSE_WAIT)")
        peer.close()
        th.wait_for(lambda: th.all_closed_by_server(port), 10, "the server's close to show")


CASES = [
    th.Case("table_reports_every_verdict", table_reports_every_verdict),
    th.Case("one_case_by_name", one_case_by_name),
    th.Case("a_skip_is_not_a_pass", a_skip_is_not_a_pass),
    th.Case("names_are_checked", names_are_checked),
    th.Case("wait_timeout_names_the_event", wait_timeout_names_the_event),
    th.Case("read_means_read_by_the_peer", read_means_read_by_the_peer),
    th.Case("accepts_and_closes_show", accepts_and_closes_show),
]

if __name__ == "__main__":
    sys.exit(th.run_cases(CASES))
