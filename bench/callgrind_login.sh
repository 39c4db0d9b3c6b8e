#!/bin/bash
# Instruction count of one TOTP login through pam_twostep.so (native file),
# pam_permit and anchor:hmac, sshd shape (libcrypto preloaded) and sudo/su
# shape, with callgrind counting only pam_start -> pam_end (timed_login).
# Deterministic to a few hundred instructions, so it compares builds even on
# a loaded machine. Root: creates one throwaway user and three services,
# removed on exit.
# Usage: sudo bench/callgrind_login.sh BUILD [MODULE] [ENROLL]
# With CALLGRIND_KEEP=DIR the profiles are kept as DIR/<shape>-<variant>.out,
# for callgrind_annotate --inclusive=yes.
set -euo pipefail
build=$(cd "$1" && pwd)
module=${2:-$build/pam_module/pam_twostep.so}
enroll=${3:-$build/enroll_tool/twostep-enroll}
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root"; exit 77; }
hex=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
u="tsc${hex}"; work=$(mktemp -d /var/tmp/twostep-cg-XXXXXX); prefix="twostep-cg-$hex"
cleanup() { userdel "$u" 2>/dev/null || true; rm -f /etc/pam.d/"$prefix"-*; rm -rf "$work"; }
trap cleanup EXIT INT TERM
chmod 755 "$work"; home="$work/$u"
useradd -M -d "$home" -s /usr/sbin/nologin -c "twostep callgrind" "$u"
mkdir -m 700 "$home"; chown "$u:" "$home"
uri=$("$enroll" --user "$u" --secret-file "$home/.twostep" --format native --backup-codes 0 \
        --no-confirm --print-uri --quiet --force --qr none 2>/dev/null | grep -o "otpauth://[^[:space:]]*" | head -n1 || true)
[[ -n $uri ]] || { echo "twostep-enroll failed" >&2; exit 1; }
key=$(python3 -c 'import sys,urllib.parse as p; print(p.parse_qs(p.urlsplit(sys.stdin.read().strip()).query)["secret"][0].upper().rstrip("="))' <<< "$uri")
cp -p "$home/.twostep" "$work/enrolled"
# pam_google_authenticator on the same key and the settings bench/run.sh uses.
runuser -u "$u" -- google-authenticator --time-based --disallow-reuse --force --no-confirm --quiet \
  --qr-mode=NONE --rate-limit=3 --rate-time=30 --window-size=3 --emergency-codes=5 \
  --secret="$home/.google_authenticator" > /dev/null
ga_key=$(head -n1 "$home/.google_authenticator")
cp -p "$home/.google_authenticator" "$work/ga-enrolled"
svc() { printf 'auth required %s\naccount required pam_permit.so\n' "$2" > "/etc/pam.d/$prefix-$1"; }
svc permit pam_permit.so; svc anchor "$build/bench/bench_anchor_hmac.so"; svc twostep "$module"
svc ga /lib/x86_64-linux-gnu/security/pam_google_authenticator.so
count() {  # shape variant
  local pre=(); [[ $1 == sshd ]] && pre=(--preload /lib/x86_64-linux-gnu/libcrypto.so.3)
  cp -p "$work/enrolled" "$home/.twostep"; cp -p "$work/ga-enrolled" "$home/.google_authenticator"
  local k=$key; [[ $2 == ga ]] && k=$ga_key
  oathtool --totp -b "$k" | valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    --toggle-collect='*timed_login*' "$build/bench/twostep-pam-bench" "${pre[@]}" \
    --service "$prefix-$2" --user "$u" > "$work/login.txt" 2>&1 || { cat "$work/login.txt"; exit 1; }
  grep -m1 '^summary:' "$work/cg.out" | awk '{print $2}'
  if [[ -n ${CALLGRIND_KEEP:-} ]]; then mkdir -p "$CALLGRIND_KEEP"; cp "$work/cg.out" "$CALLGRIND_KEEP/$1-$2.out"; fi
}
for shape in sshd sudo; do
  for v in permit anchor ga twostep; do
    printf '%s\t%s\t%s\n' "$shape" "$v" "$(count $shape $v)"
  done
done
