#!/usr/bin/env python3
"""Every man page's .RS/.RE indents are closed where they are opened: at
the next .TP/.SH/.SS nothing is left open and no .RE comes without its .RS.
An unclosed .RS indents every entry after it (twostep-enroll(1) rendered
the options after --json one level too deep).

usage: test_man_nesting.py MAN_PAGE...
"""

import sys


def problems(path):
    depth, found = 0, []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            request = line.split()[0] if line.startswith(".") and line.split() else ""
            if request == ".RS":
                depth += 1
            elif request == ".RE":
                depth -= 1
                if depth < 0:
                    found.append("%s:%d: .RE without .RS" % (path, number))
                    depth = 0
            elif request in (".TP", ".SH", ".SS") and depth:
                found.append("%s:%d: %s with %d .RS still open" % (path, number, request, depth))
                depth = 0
    if depth:
        found.append("%s: %d .RS still open at the end" % (path, depth))
    return found


def main(paths):
    found = [p for path in paths for p in problems(path)]
    for problem in found:
        print("FAIL " + problem)
    print("%d page(s), %d problem(s)" % (len(paths), len(found)))
    return 1 if found or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
