#!/usr/bin/python3
"""Makes ctest's skips visible, for scripts/test. ctest prints "100% tests
passed" when tests were skipped too; this reads the JUnit file of the run
(ctest --output-junit) and prints one line per skipped test with its reason
(the SKIP lines of its output). As root (CI), every test named in the
must-run list (tests/must_run_as_root.txt) must have run: a listed test that
was skipped or not run at all fails, and is named.

    ctest_skips.py JUNIT_XML MUST_RUN_LIST

Exit status: 0, or 1 when running as root and a listed test did not run
(TWOSTEP_AS_ROOT=0/1 overrides the euid, for this script's own test)."""

import os
import sys
import xml.etree.ElementTree as ET


def read_list(path):
    """Test names, one a line; '#' starts a comment."""
    names = []
    with open(path) as f:
        for line in f:
            name = line.split("#", 1)[0].strip()
            if name:
                names.append(name)
    return names


def read_results(junit):
    """{test name: (status, reason)}; status is "run", "fail" or "notrun"."""
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        status = case.get("status", "")
        out = case.findtext("system-out") or ""
        reasons = [line.strip() for line in out.splitlines() if line.lstrip().startswith("SKIP")]
        skipped = case.find("skipped")
        if not reasons and skipped is not None:
            reasons = [skipped.get("message", "")]
        results[case.get("name")] = (status, "; ".join(reasons) or "no reason printed")
    return results


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    results = read_results(argv[1])
    must_run = read_list(argv[2])
    as_root = os.environ.get("TWOSTEP_AS_ROOT", "1" if os.geteuid() == 0 else "0") == "1"
    for name, (status, reason) in sorted(results.items()):
        if status == "notrun":
            print("skipped: %s: %s" % (name, reason))
    if not as_root:
        return 0
    missing = []
    for name in must_run:
        if name not in results:
            missing.append("%s: not run (no such test in this build)" % name)
        elif results[name][0] == "notrun":
            missing.append("%s: skipped: %s" % (name, results[name][1]))
    for line in missing:
        print("FAIL: must run as root (%s), but %s" % (os.path.basename(argv[2]), line))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
