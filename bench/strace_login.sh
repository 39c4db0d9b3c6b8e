#!/bin/bash
# System calls of one TOTP login through pam_twostep.so (native file,
# sudo/su shape: one fresh process, pam_start -> pam_authenticate -> pam_end),
# counted by strace, for one or more builds of the module side by side.
# The counts cover the whole process (libpam's own work is the same for
# every module), so compare columns, not absolute numbers.
# Root: creates one throwaway user and one service per module, removed on exit.
# Needs strace and oathtool (apt-get install strace oathtool).
# Usage: sudo bench/strace_login.sh BUILD [LABEL=MODULE ...]
#   BUILD gives twostep-pam-bench and twostep-enroll; each LABEL=MODULE is
#   a pam_twostep.so to count (default: BUILD's own, labelled "this").
set -euo pipefail
build=$(cd "$1" && pwd); shift
[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root"; exit 77; }
command -v strace >/dev/null || { echo "needs strace (apt-get install strace)" >&2; exit 2; }
modules=("$@"); [[ ${#modules[@]} -gt 0 ]] || modules=("this=$build/pam_module/pam_twostep.so")
hex=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
u="tss${hex}"; work=$(mktemp -d /var/tmp/twostep-st-XXXXXX); prefix="twostep-st-$hex"
cleanup() { userdel "$u" 2>/dev/null || true; rm -f /etc/pam.d/"$prefix"-*; rm -rf "$work"; }
trap cleanup EXIT INT TERM
[[ -n ${TWOSTEP_KEEP_TRACES:-} ]] && trap "userdel $u 2>/dev/null; rm -f /etc/pam.d/$prefix-*" EXIT
chmod 755 "$work"; home="$work/$u"
useradd -M -d "$home" -s /usr/sbin/nologin -c "twostep strace" "$u"
mkdir -m 700 "$home"; chown "$u:" "$home"
uri=$("$build/enroll_tool/twostep-enroll" --user "$u" --secret-file "$home/.twostep" \
        --format native --backup-codes 5 --no-confirm --print-uri --quiet --force --qr none \
        2>/dev/null | grep -o "otpauth://[^[:space:]]*" | head -n1 || true)
[[ -n $uri ]] || { echo "twostep-enroll failed" >&2; exit 1; }
key=$(python3 -c 'import sys,urllib.parse as p; print(p.parse_qs(p.urlsplit(sys.stdin.read().strip()).query)["secret"][0].upper().rstrip("="))' <<< "$uri")
cp -p "$home/.twostep" "$work/enrolled"

# One login under strace; prints "syscall count" lines and the files opened.
count() {  # label module
  local service="$prefix-$1"
  printf 'auth required %s\naccount required pam_permit.so\n' "$2" > "/etc/pam.d/$service"
  cp -p "$work/enrolled" "$home/.twostep"
  oathtool --totp -b "$key" | strace -f -qq -o "$work/trace.$1" \
    -e trace=openat,open,newfstatat,fstat,statx,setfsuid,setfsgid,setgroups,fsync,fdatasync,rename,renameat,renameat2,flock,read,linkat,getdents64 \
    "$build/bench/twostep-pam-bench" --service "$service" --user "$u" > "$work/login.$1" 2>&1 \
    || { cat "$work/login.$1"; exit 1; }
  grep -q "^login: ok" "$work/login.$1" || { echo "login failed:"; cat "$work/login.$1"; exit 1; }
}
for spec in "${modules[@]}"; do count "${spec%%=*}" "${spec#*=}"; done

# Rows: system calls; columns: modules. Group lookups show up as opens of
# /etc/group (NSS files); each directory walk opens the temp work directory
# once with O_PATH (NSS's own O_PATH opens are not counted there).
labels=(); for spec in "${modules[@]}"; do labels+=("${spec%%=*}"); done
printf '%-42s' "what"; printf '%12s' "${labels[@]}"; echo
row() {  # title pattern
  printf '%-42s' "$1"
  for l in "${labels[@]}"; do printf '%12s' "$(grep -cE "$2" "$work/trace.$l" || true)"; done; echo
}
row "openat (all)" '^[0-9]+ +openat\('
row "  directory walks (O_PATH, the work dir)" 'openat\([0-9]+, "twostep-st-[^"]*", .*O_PATH'
row "  of /etc/passwd (account lookup)" 'open(at)?\(.*"/etc/passwd"'
row "  of /etc/group (group lookup)" 'open(at)?\(.*"/etc/group"'
row "  of the secret file" 'openat\(.*"\.twostep"'
row "newfstatat/fstat/statx" '^[0-9]+ +(newfstatat|fstat|statx)\('
row "setfsuid" '^[0-9]+ +setfsuid\('
row "setfsgid" '^[0-9]+ +setfsgid\('
row "setgroups" '^[0-9]+ +setgroups\('
row "flock" '^[0-9]+ +flock\('
row "read (all)" '^[0-9]+ +read\('
row "fsync" '^[0-9]+ +(fsync|fdatasync)\('
row "rename" '^[0-9]+ +rename(at2?)?\('
