#!/bin/bash
# Side-by-side PAM login benchmark (root): pam_permit baseline, pam_twostep
# (native files and ~/.google_authenticator files), pam_google_authenticator,
# pam_oath. Real libpam, real /etc/pam.d services, real users with homes.
#
#   bench/run.sh [--build DIR] [--users N] [--reps N] [--out DIR]
#                [--module PATH] [--enroll PATH] [--only REGEX] [--modes LIST]
#                [--base-module PATH] [--workdir DIR]
#
# --base-module PATH adds `pam_twostep(native,base)`: another build of the
# module (e.g. from main) on its own copy of ~/.twostep, so a change is
# measured before/after in the same run, paired per user.
# --workdir DIR: where the users' homes go (default /var/tmp). On a tmpfs
# (/dev/shm) fsync costs nothing, which separates the modules' CPU work from
# their journal commits; the real comparison is on a disk.
# --only REGEX keeps the variants whose name matches (pam_permit always);
# --modes picks from fresh-process,fresh-process-libcrypto,one-process-loop,
# fresh-process-settled,fresh-process-libcrypto-settled,one-process-loop-settled.
#
# Creates N throwaway users tsb<hex>uNNN (homes under a temp dir) and services
# /etc/pam.d/twostep-bench-<hex>-*; removes all of it on exit, also on error
# or Ctrl-C. Results: <out>/summary.txt, raw-<mode>.csv, environment.txt.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build="$repo/build"
users=200
reps=5
out=""
module=""
base_module=""
workdir=/var/tmp
enroll=""
only=""
modes="fresh-process,fresh-process-libcrypto,one-process-loop,fresh-process-settled,one-process-loop-settled"
ga_module=/lib/x86_64-linux-gnu/security/pam_google_authenticator.so
oath_module=/lib/x86_64-linux-gnu/security/pam_oath.so

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$(cd "$2" && pwd); shift 2 ;;
    --users) users=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --module) module=$2; shift 2 ;;
    --base-module) base_module=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --enroll) enroll=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $users =~ ^[0-9]+$ && $users -ge 1 && $users -le 999 ]] || { echo "--users 1..999" >&2; exit 2; }
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: needs root (creates users and /etc/pam.d services)"; exit 77
fi

bench_bin="$build/bench/twostep-pam-bench"
[[ -x $bench_bin ]] || { echo "build first: $bench_bin missing" >&2; exit 2; }
[[ -n $module ]] || module="$build/pam_module/pam_twostep.so"
[[ -n $enroll ]] || enroll="$build/enroll_tool/twostep-enroll"
# libpam resolves relative module paths against its module directory.
[[ $module == /* ]] || module="$PWD/$module"
[[ -z $base_module || $base_module == /* ]] || base_module="$PWD/$base_module"
[[ -z $base_module || -f $base_module ]] || { echo "--base-module: $base_module missing" >&2; exit 2; }
have_twostep=0; [[ -f $module ]] && have_twostep=1
have_enroll=0; [[ -x $enroll ]] && have_enroll=1
[[ -n $out ]] || out="$build/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

hex=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
work=$(mktemp -d "$workdir/twostep-bench-XXXXXX")
chmod 755 "$work"
created_users="$work/created-users"
: > "$created_users"
service_prefix="twostep-bench-$hex"

syslog_sink_pid=""
cleanup() {
  set +e
  while read -r u; do userdel "$u" 2>/dev/null; done < "$created_users"
  rm -f /etc/pam.d/"$service_prefix"-*
  if [[ -n $syslog_sink_pid ]]; then kill "$syslog_sink_pid"; wait "$syslog_sink_pid"; rm -f /dev/log; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

python=/usr/bin/python3

# Every module logs through syslog(3). With no syslog daemon (containers, CI),
# glibc falls back to writing each line to /dev/console (PAM opens the log
# with LOG_CONS), which costs ~3 ms a line on a serial console and would be
# measured as module cost. Stand in for journald/rsyslog with a datagram
# socket that counts the lines, as on a normal host.
if [[ ! -e /dev/log ]]; then
  # nice -10: on a loaded machine a starved stand-in would fill the socket's
  # queue (net.unix.max_dgram_qlen, 10 lines) and block the modules' syslog()
  # calls, charging the sink's lateness to whichever module logs.
  nice -n -10 "$python" - "$out/syslog-lines.txt" <<'PY' &
import os, signal, socket, sys
sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sink.bind("/dev/log")
os.chmod("/dev/log", 0o666)
count = 0
def stop(*_):
    with open(sys.argv[1], "w") as out:
        out.write("syslog lines received during the run: %d\n" % count)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    sink.recv(8192)  # content discarded: only counted
    count += 1
PY
  syslog_sink_pid=$!
  for _ in $(seq 50); do [[ -S /dev/log ]] && break; sleep 0.1; done
  echo "syslog: no daemon; a counting sink listens on /dev/log for this run" >&2
fi
# Link-footprint anchors (bench/footprint_module.cpp): succeed-only modules.
footprints=()
for f in cxx cxx_crypto cxx_curl; do
  if [[ -f $build/bench/bench_footprint_$f.so ]]; then footprints+=("$f"); fi
done
# The floor anchor (bench/hmac_anchor_module.c): loads libcrypto, one HMAC.
have_anchor=0; [[ -f $build/bench/bench_anchor_hmac.so ]] && have_anchor=1
# Codes are precomputed with oathtool for a window of steps from now on; the
# bench picks the one for the step it runs in. 120 steps = 1 hour of run time.
code_steps=120
first_step=$(( $(date +%s) / 30 ))
codes_for() {  # base32 secret on stdin → comma-separated codes
  oathtool --totp -b - -N "@$(( first_step * 30 ))" -w $(( code_steps - 1 )) | paste -sd,
}

echo "creating $users users (prefix tsb${hex}u) in $work" >&2
mkdir -m 755 "$work/home"
mkdir -m 700 "$work/private"
manifest="$work/private/manifest.tsv"
: > "$manifest"
for i in $(seq -f '%03g' 1 "$users"); do
  u="tsb${hex}u$i"
  home="$work/home/$u"
  useradd -M -d "$home" -s /usr/sbin/nologin -c "twostep bench" "$u"
  echo "$u" >> "$created_users"
  mkdir -m 700 "$home"
  chown "$u:" "$home"
  # ~/.google_authenticator by the real CLI: TOTP, reuse disallowed,
  # WINDOW_SIZE 3 (±1 step), rate limit 3 per 30 s, 5 scratch codes.
  runuser -u "$u" -- google-authenticator --time-based --disallow-reuse --force \
    --no-confirm --quiet --qr-mode=NONE --rate-limit=3 --rate-time=30 \
    --window-size=3 --emergency-codes=5 --secret="$home/.google_authenticator"
  ga_secret=$(head -n1 "$home/.google_authenticator")
  # pam_oath per-user usersfile with the same key (hex), TOTP 30 s.
  key_hex=$($python -c 'import base64,sys; s=sys.stdin.read().strip(); print(base64.b32decode(s + "=" * (-len(s) % 8)).hex())' <<< "$ga_secret")
  (umask 077; printf 'HOTP/T30 %s - %s\n' "$u" "$key_hex" > "$home/.oath_users")
  chown "$u:" "$home/.oath_users"
  ga_codes=$(codes_for <<< "$ga_secret")
  line() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$service_prefix-$2" "$u" "$first_step" "$3" "$4" >> "$manifest"; }
  line pam_permit permit - -
  for f in "${footprints[@]}"; do line "footprint:$f" "fp-$f" - -; done
  if [[ $have_anchor -eq 1 ]]; then line anchor:hmac anchor-hmac - -; fi
  line pam_google_authenticator ga "$ga_codes" "$home/.google_authenticator"
  line pam_oath oath "$ga_codes" "$home/.oath_users"
  if [[ $have_twostep -eq 1 ]]; then
    # Its own copy of the GA file: logins of one user run back to back through
    # every variant, and a shared file would make the second one a replay.
    cp -p "$home/.google_authenticator" "$home/.google_authenticator.twostep"
    line 'pam_twostep(ga-file)' twostep-ga "$ga_codes" "$home/.google_authenticator.twostep"
    if [[ $have_enroll -eq 1 ]]; then
      # stderr may carry key material; it is discarded, never logged.
      uri=$("$enroll" --user "$u" --secret-file "$home/.twostep" --format native \
              --backup-codes 0 --no-confirm --print-uri --quiet --force --qr none 2>/dev/null \
              | grep -o 'otpauth://[^[:space:]]*' | sed -n 1p) \
        || { echo "twostep-enroll failed for $u" >&2; exit 1; }
      native_secret=$($python -c 'import sys,urllib.parse as p; q=p.parse_qs(p.urlsplit(sys.stdin.read().strip()).query); print(q["secret"][0].upper().rstrip("="))' <<< "$uri")
      native_codes=$(codes_for <<< "$native_secret")
      line 'pam_twostep(native)' twostep-native "$native_codes" "$home/.twostep"
      if [[ -n $base_module ]]; then
        cp -p "$home/.twostep" "$home/.twostep.base"
        line 'pam_twostep(native,base)' twostep-native-base "$native_codes" "$home/.twostep.base"
      fi
    fi
  fi
done

if [[ -n $only ]]; then
  awk -F'\t' -v re="$only" '$1 == "pam_permit" || $1 ~ re' "$manifest" > "$manifest.only"
  mv "$manifest.only" "$manifest"
fi

write_service() {  # name, auth line
  printf '# twostep benchmark service; removed by bench/run.sh\nauth required %s\naccount required pam_permit.so\nsession required pam_permit.so\n' "$2" > "/etc/pam.d/$service_prefix-$1"
}
write_service permit "pam_permit.so"
for f in "${footprints[@]}"; do write_service "fp-$f" "$build/bench/bench_footprint_$f.so"; done
if [[ $have_anchor -eq 1 ]]; then write_service anchor-hmac "$build/bench/bench_anchor_hmac.so"; fi
write_service ga "$ga_module"
write_service oath "$oath_module usersfile=\${HOME}/.oath_users window=1 digits=6"
if [[ $have_twostep -eq 1 ]]; then
  write_service twostep-ga "$module secret=~/.google_authenticator.twostep"
  if [[ $have_enroll -eq 1 ]]; then write_service twostep-native "$module"; fi
  if [[ $have_enroll -eq 1 && -n $base_module ]]; then
    write_service twostep-native-base "$base_module secret=~/.twostep.base"
  fi
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel: $(uname -srm)"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | sed -n 1p), $(nproc) cores"
  echo "loadavg at start: $(cat /proc/loadavg)"
  echo "filesystem of homes: $(df -T "$work" | awk 'NR==2 {print $2}')"
  echo "users: $users, reps: $reps"
  echo "libpam: $(dpkg-query -W -f='${Version}' libpam0g)"
  echo "libpam-google-authenticator: $(dpkg-query -W -f='${Version}' libpam-google-authenticator)"
  echo "libpam-oath: $(dpkg-query -W -f='${Version}' libpam-oath)"
  echo "pam_twostep: $([[ $have_twostep -eq 1 ]] && echo "$module" || echo 'not built (TBD)')"
  [[ -z $base_module ]] || echo "pam_twostep (base): $base_module"
  for m in "$ga_module" "$oath_module" $([[ $have_twostep -eq 1 ]] && echo "$module") $base_module \
           $(for f in "${footprints[@]}"; do echo "$build/bench/bench_footprint_$f.so"; done) \
           $([[ $have_anchor -eq 1 ]] && echo "$build/bench/bench_anchor_hmac.so"); do
    echo
    echo "== ldd $m ($(stat -c %s "$m") bytes)"
    ldd "$m"
  done
} > "$out/environment.txt"

# Every run starts from the files exactly as enrolled (modules record used
# steps; a second run within the same 30 s step would otherwise be replays).
cp -a "$work/home" "$work/private/home-enrolled"
run_bench() {  # label, bench args...
  local label=$1; shift
  rm -rf "$work/home"
  cp -a "$work/private/home-enrolled" "$work/home"
  echo "== $label: $reps interleaved repetitions" >&2
  echo "== $label" >> "$out/summary.txt"
  "$bench_bin" "$@" --manifest "$manifest" --reps "$reps" --raw "$out/raw-$label.csv" \
    --baseline pam_permit --reference pam_google_authenticator --subject pam_twostep \
    --anchor anchor:hmac \
    | tee -a "$out/summary.txt" || echo "!! $label: some logins failed (see above)" | tee -a "$out/summary.txt"
  echo >> "$out/summary.txt"
}
: > "$out/summary.txt"
libcrypto=$(ldconfig -p | awk '/libcrypto.so.3 .*x86-64/ {print $NF; exit}')
for mode in ${modes//,/ }; do
  case $mode in
    # Like sudo and su: one login per process, only libc/libpam mapped before.
    fresh-process) run_bench fresh-process --fresh-process ;;
    # Like sshd (one login per connection process; sshd links libcrypto).
    fresh-process-libcrypto) run_bench fresh-process-libcrypto --fresh-process --preload "$libcrypto" ;;
    # A long-running PAM client: libraries marked NODELETE (libcrypto,
    # libstdc++) stay loaded after the first login and are not paid again.
    one-process-loop) run_bench one-process-loop ;;
    # The same two shapes with sync() before every login (untimed): each
    # module's fsyncs then pay for its own writes only. Without it, a module
    # that forces a journal commit (twostep's directory fsync) also pays for
    # the renames other modules left uncommitted.
    fresh-process-settled) run_bench fresh-process-settled --fresh-process --settle ;;
    fresh-process-libcrypto-settled) run_bench fresh-process-libcrypto-settled --fresh-process --settle --preload "$libcrypto" ;;
    one-process-loop-settled) run_bench one-process-loop-settled --settle ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
  esac
done
echo "loadavg at end: $(cat /proc/loadavg)" >> "$out/environment.txt"
echo "results in $out" >&2
