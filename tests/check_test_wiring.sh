#!/bin/sh
# Keeps the test wiring loud: no CMake construct that drops a suite without a
# configure error, and no test source that no CMake file registers.
#   check_test_wiring.sh <tests dir>
set -u
tests=${1:?usage: check_test_wiring.sh <tests dir>}
status=0
lists=$(find "$tests" -name CMakeLists.txt -o -name '*.cmake')
for pattern in 'OPTIONAL' 'if *\( *EXISTS' 'return *\( *\)' 'message *\( *WARNING'; do
  if grep -nE "$pattern" $lists; then
    echo "FAIL: silent-drop construct /$pattern/ in the test CMake files (make it a configure error)"
    status=1
  fi
done
# Every test source is named by some CMake file of its suite.
for source in "$tests"/unit/test_*.cpp "$tests"/integration/test_*.cpp \
              "$tests"/enroll/test_*.py "$tests"/e2e/test_*.py "$tests"/package/test_*.py \
              "$tests"/push/test_*.py "$tests"/harness/test_*.py; do
  [ -e "$source" ] || continue
  name=$(basename "$source")
  if ! grep -q "$name" $(find "$(dirname "$source")" -name CMakeLists.txt -o -name '*.cmake'); then
    echo "FAIL: $source is not registered by any CMake file"
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "test wiring: ok"
exit "$status"
