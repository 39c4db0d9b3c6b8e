#!/usr/bin/python3
"""scripts/test's skip report (ctest_skips.py) against JUnit files shaped as
ctest writes them: a skip is named with its reason, and as root a listed
test that was skipped or not run fails the run."""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import twostep_harness as th  # noqa: E402

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="t" tests="3" failures="0" disabled="0" skipped="1">
  <testcase name="unit_a" status="run"><system-out>fine</system-out></testcase>
  <testcase name="push_login" status="notrun"><skipped message="SKIP_RETURN_CODE=77"/>
    <system-out>SKIP: needs root (the host secret must be a root-owned file)
</system-out></testcase>
  <testcase name="e2e_x" status="run"><system-out>PASS</system-out></testcase>
</testsuite>
"""


def report(listed, as_root):
    with tempfile.TemporaryDirectory() as tmp:
        junit, must = os.path.join(tmp, "j.xml"), os.path.join(tmp, "must_run.txt")
        with open(junit, "w") as f:
            f.write(JUNIT)
        with open(must, "w") as f:
            f.write("# comment\n" + "".join(name + "  # why\n" for name in listed))
        done = subprocess.run([sys.executable, os.path.join(HERE, "ctest_skips.py"), junit, must],
                              capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, TWOSTEP_AS_ROOT="1" if as_root else "0"))
        return done.returncode, done.stdout + done.stderr


def skip_named_with_reason():
    status, out = report(["e2e_x"], as_root=True)
    th.expect(status == 0, "listed tests all ran: exit 0 (got %d)" % status)
    th.expect("skipped: push_login: SKIP: needs root (the host secret" in out,
              "a skip is printed with its reason: " + out.strip())


def listed_skip_fails_as_root():
    status, out = report(["e2e_x", "push_login"], as_root=True)
    th.expect(status == 1 and "FAIL: must run as root" in out and "push_login: skipped" in out,
              "as root, a listed test that skipped fails the run (exit %d): %s" % (status, out))


def listed_absent_fails_as_root():
    status, out = report(["e2e_gone"], as_root=True)
    th.expect(status == 1 and "e2e_gone: not run" in out,
              "as root, a listed test that is not in the run fails it (exit %d)" % status)


def not_root_only_reports():
    status, out = report(["push_login", "e2e_gone"], as_root=False)
    th.expect(status == 0 and "skipped: push_login" in out and "FAIL" not in out,
              "not root: skips are reported, nothing fails (exit %d)" % status)


CASES = [
    th.Case("skip_named_with_reason", skip_named_with_reason),
    th.Case("listed_skip_fails_as_root", listed_skip_fails_as_root),
    th.Case("listed_absent_fails_as_root", listed_absent_fails_as_root),
    th.Case("not_root_only_reports", not_root_only_reports),
]

if __name__ == "__main__":
    sys.exit(th.run_cases(CASES))
