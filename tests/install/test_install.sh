#!/bin/sh
# The admin's install and uninstall, into a DESTDIR: `cmake --install --strip`
# writes the module, both tools and the man pages, stripped; the uninstall
# script (the `uninstall` target's) removes exactly those files again.
# usage: test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 source=$2
dest=$(mktemp -d /tmp/twostep-install-test.XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

DESTDIR=$dest cmake --install "$build" --strip >"$dest.log" 2>&1 || { cat "$dest.log"; rm -f "$dest.log"; fail "install"; }
rm -f "$dest.log"
for name in pam_twostep.so twostep-enroll twostep-check pam_twostep.8 twostep-check.8 twostep-enroll.1; do
  found=$(find "$dest" -name "$name" -type f)
  [ -n "$found" ] || fail "$name not installed"
  echo "ok: installed $found"
done
for binary in $(find "$dest" -name pam_twostep.so -o -name twostep-enroll -o -name twostep-check); do
  if readelf -S "$binary" | grep -q -e '\.debug_info' -e '\.symtab'; then
    fail "$binary is not stripped"
  fi
  echo "ok: stripped $binary ($(stat -c %s "$binary") bytes)"
done
DESTDIR=$dest cmake -DMANIFEST="$build/install_manifest.txt" -P "$source/cmake/uninstall.cmake" >/dev/null
left=$(find "$dest" -type f)
[ -z "$left" ] || fail "left after uninstall: $left"
echo "ok: uninstall removed every installed file"
echo PASS
