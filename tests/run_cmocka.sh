#!/bin/bash
# Runs one cmocka test program and makes its skips visible. cmocka counts a
# skip() as a pass and exits 0; a program that skipped a case and failed none
# exits 77 here instead (SKIP_RETURN_CODE 77: ctest reports it as skipped),
# after naming the skipped cases.
#   run_cmocka.sh PROGRAM [ARGS...]
set -u -o pipefail
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
"$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
if [ "$status" -eq 0 ]; then
  # cmocka lists each skipped case as "[  SKIPPED ] name", then once more
  # under its summary line "[  SKIPPED ] N test(s), listed below:".
  skipped=$(sed -n 's/^\[  SKIPPED \] \([A-Za-z0-9_]*\)$/\1/p' "$out" | sort -u | tr '\n' ' ')
  if [ -n "$skipped" ]; then
    echo "SKIP: $(basename "$1"): cases skipped: $skipped"
    exit 77
  fi
fi
exit "$status"
