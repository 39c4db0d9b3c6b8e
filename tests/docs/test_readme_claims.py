#!/usr/bin/env python3
"""The README's comparison table against the tree:
- each test case it cites as `suite` (case, ...) is a function of that name
  in tests/ (a renamed or missing case fails here), and the per-address rate
  limit row cites the case that shows it (two addresses);
- docs/fuzzing.md's table against fuzz/: every libFuzzer target the build
  defines has a row, every row names a target that exists and has a seed
  corpus, and the README's "Fuzzed parsers" row gives the same count.

usage: test_readme_claims.py SOURCE_DIR
"""

import glob
import os
import re
import sys


def cited_cases_exist(source, readme):
    """Problems: cited case names that no test source defines."""
    table = [line for line in readme.splitlines() if line.startswith("| ")]
    cited = set()
    for line in table:
        for group in re.findall(r"`\w+` \(([^)]*)\)", line):
            cited |= set(re.findall(r"\b(test_\w+)\b", group))
    sources = ""
    for path in glob.glob(os.path.join(source, "tests", "**", "*.*"), recursive=True):
        if path.endswith((".cpp", ".py", ".c")):
            with open(path, encoding="utf-8", errors="replace") as handle:
                sources += handle.read()
    missing = [name for name in sorted(cited)
               if not re.search(r"(?:void|def) " + name + r"\(", sources)]
    return ["README cites %s, which no test defines" % name for name in missing], len(cited)


def main(source):
    defined = set()
    for path in glob.glob(os.path.join(source, "fuzz", "*.cmake")) + [
            os.path.join(source, "fuzz", "CMakeLists.txt")]:
        with open(path, encoding="utf-8") as handle:
            defined |= set(re.findall(r"^\s*twostep_fuzzer\((\w+) ", handle.read(), re.M))
    with open(os.path.join(source, "docs", "fuzzing.md"), encoding="utf-8") as handle:
        documented = set(re.findall(r"^\| `(fuzz_\w+)` \|", handle.read(), re.M))
    with open(os.path.join(source, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    row = next((line for line in readme.splitlines() if line.startswith("| Fuzzed parsers |")), "")
    problems, cited = cited_cases_exist(source, readme)
    # The per-address claim needs the case with two addresses (a stranger's
    # failures, then the owner's login), not a one-address rate limit.
    rate = next((line for line in readme.splitlines() if line.startswith("| Rate limit per client")), "")
    if "test_stranger_cannot_lock_owner_out" not in rate:
        problems.append("the per-address rate limit row does not cite test_stranger_cannot_lock_owner_out")
    # The signed-context claim needs the test where a relay rewrites what the
    # phone shows and the module refuses, and the digest's known answer.
    signed = next((line for line in readme.splitlines() if line.startswith("| Signed context")), "")
    for needed in ("`push_context`", "`e2e_twostep_push`", "test_approval_digest_with_context_known_answer"):
        if needed not in signed:
            problems.append("the signed context row does not cite %s" % needed)
    problems += ["%s is built but has no row in docs/fuzzing.md" % t for t in sorted(defined - documented)]
    problems += ["docs/fuzzing.md lists %s, which fuzz/ does not build" % t
                 for t in sorted(documented - defined)]
    problems += ["%s has no seed corpus fuzz/corpus/%s" % (t, t) for t in sorted(defined)
                 if not glob.glob(os.path.join(source, "fuzz", "corpus", t, "*"))]
    count = re.search(r"(\d+) libFuzzer targets", row)
    if not count or int(count.group(1)) != len(defined):
        problems.append("README's 'Fuzzed parsers' row does not say %d libFuzzer targets: %r"
                        % (len(defined), row.strip()))
    for problem in problems:
        print("FAIL " + problem)
    print("%d cited case(s); %d fuzz target(s) built, %d documented; %d problem(s)"
          % (cited, len(defined), len(documented), len(problems)))
    return 1 if problems or len(defined) < 5 or cited < 5 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
