#!/bin/sh
# A TOTP login must not pay for push: libcurl and libmaxminddb (the
# location lookup) are neither direct dependencies of the module nor pulled
# in by one. The push client, which the module dlopens for a push, does
# need both: that the check can see them at all.
set -eu
module=$1
push_client=$2
client_deps=$(ldd "$push_client")
for library in libcurl libmaxminddb; do
  if ! echo "$client_deps" | grep -q "$library"; then
    echo "the push client does not load $library: this check would see nothing" >&2
    exit 1
  fi
done
if readelf -d "$module" | grep NEEDED | grep -i maxminddb; then
  echo "pam_twostep.so links libmaxminddb directly" >&2
  exit 1
fi
if readelf -d "$module" | grep NEEDED | grep -i curl; then
  echo "pam_twostep.so links libcurl directly" >&2
  exit 1
fi
deps=$(ldd "$module")
if echo "$deps" | grep -i curl; then
  echo "pam_twostep.so pulls in libcurl" >&2
  exit 1
fi
if echo "$deps" | grep -i maxminddb; then
  echo "pam_twostep.so pulls in libmaxminddb" >&2
  exit 1
fi
if ! echo "$deps" | grep -q libpam; then
  echo "ldd output looks wrong (no libpam):" >&2
  echo "$deps" >&2
  exit 1
fi
echo "no libcurl and no libmaxminddb in the module's dependencies (the push client has both)"
