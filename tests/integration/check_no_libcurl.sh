#!/bin/sh
# A TOTP login must not pay for push: libcurl is neither a direct dependency
# of the module nor pulled in by one.
set -eu
module=$1
if readelf -d "$module" | grep NEEDED | grep -i curl; then
  echo "pam_twostep.so links libcurl directly" >&2
  exit 1
fi
deps=$(ldd "$module")
if echo "$deps" | grep -i curl; then
  echo "pam_twostep.so pulls in libcurl" >&2
  exit 1
fi
if ! echo "$deps" | grep -q libpam; then
  echo "ldd output looks wrong (no libpam):" >&2
  echo "$deps" >&2
  exit 1
fi
echo "no libcurl in the module's dependencies"
