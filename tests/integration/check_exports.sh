#!/bin/sh
# The module exports exactly pam_sm_authenticate and pam_sm_setcred.
set -eu
module=$1
actual=$(nm -D --defined-only "$module" | awk '{print $3}' | sort | tr '\n' ' ')
expected="pam_sm_authenticate pam_sm_setcred "
if [ "$actual" != "$expected" ]; then
  echo "exported symbols: '$actual'; expected: '$expected'" >&2
  exit 1
fi
echo "exports ok: $actual"
