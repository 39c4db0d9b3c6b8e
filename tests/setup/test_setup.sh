#!/usr/bin/env bash
# scripts/setup's install path without a real install: stub apt-get,
# dpkg-query and sudo first on PATH, the policy-rc.d path in a temp directory
# (TWOSTEP_POLICY_RC_D), so the real /usr/sbin/policy-rc.d is never touched.
# Each case checks the exit status, what setup said, the policy file left
# behind (byte for byte and mode, or absent) and what apt-get was asked for.
set -uo pipefail
setup=${1:?usage: test_setup.sh path/to/scripts/setup}
work=$(mktemp -d /tmp/twostep-setup-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $case_name: $*"; failures=$((failures + 1)); }

# The package lists as setup defines them, so the expected install list
# follows any package another change adds.
eval "$(sed -n '/^BUILD_PACKAGES=(/,/^)/p; /^TEST_PACKAGES=(/,/^)/p; /^PACKAGING_PACKAGES=(/,/^)/p' "$setup")"
eval "$(sed -n '/^DEMO_PACKAGES=(.*)$/p; /^DEMO_PUSH_PACKAGES=(.*)$/p' "$setup")"
all=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${PACKAGING_PACKAGES[@]}")
[ "${#all[@]}" -gt 10 ] || { echo "FAIL: could not read the package lists from $setup"; exit 1; }
[ "${#DEMO_PACKAGES[@]}" -gt 0 ] && [ "${#DEMO_PUSH_PACKAGES[@]}" -gt 0 ] \
  || { echo "FAIL: could not read the demo package lists from $setup"; exit 1; }
# What each profile (setup's argument) must install.
declare -A profile_list=(
  [full]="${all[*]}"
  [build]="${BUILD_PACKAGES[*]}"
  [demo]="${BUILD_PACKAGES[*]} ${DEMO_PACKAGES[*]}"
  [demo-push]="${BUILD_PACKAGES[*]} ${DEMO_PACKAGES[*]} ${DEMO_PUSH_PACKAGES[*]}"
)

mkdir "$work/bin"
cat >"$work/bin/dpkg-query" <<'STUB'
#!/bin/sh
# dpkg-query -W -f='${Status}' PKG: installed only if PKG is in $STUB_INSTALLED.
for p in $STUB_INSTALLED; do
  [ "$p" = "$3" ] && { printf 'install ok installed'; exit 0; }
done
echo "dpkg-query: no packages found matching $3" >&2
exit 1
STUB
cat >"$work/bin/apt-get" <<'STUB'
#!/bin/sh
# Records each call; during "install" also what the policy file said then.
echo "$*" >>"$STUB_DIR/apt-calls"
echo "DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-}" >>"$STUB_DIR/apt-env"
if [ "$1" = install ]; then
  if [ -e "$TWOSTEP_POLICY_RC_D" ]; then "$TWOSTEP_POLICY_RC_D"; echo "policy-exit=$?"; else echo "policy=absent"; fi \
    >>"$STUB_DIR/apt-env"
fi
if [ "$1" = "${STUB_APT_FAIL:-}" ]; then echo "E: stub $1 failure" >&2; exit 100; fi
exit 0
STUB
cat >"$work/bin/sudo" <<'STUB'
#!/bin/sh
exec "$@"
STUB
# setup adds Debian's npm only when no npm command exists; the stub makes
# that decision the same on every machine (npm is never asked for here).
cat >"$work/bin/npm" <<'STUB'
#!/bin/sh
exit 0
STUB
chmod 755 "$work/bin/"*

# run_case NAME POLICY(none|site) INSTALLED(all|some) APT_FAIL EXPECTED_STATUS [PROFILE]
# (PROFILE: setup's argument; none given means the default, full.)
run_case() {
  case_name=$1
  local policy_mode=$2 installed=$3 apt_fail=$4 expected_status=$5 profile=${6:-}
  local -a list
  read -r -a list <<<"${profile_list[${profile:-full}]}"
  local dir="$work/$case_name" status
  mkdir -p "$dir/sbin"
  rm -f "$dir/apt-calls" "$dir/apt-env"
  local policy="$dir/sbin/policy-rc.d"
  if [ "$policy_mode" = site ]; then
    printf '#!/bin/sh\n# site policy, not setup'"'"'s\nexit 0\n' >"$policy"
    chmod 750 "$policy"
    cp -p "$policy" "$dir/policy.before"
  fi
  local stub_installed=""
  if [ "$installed" = all ]; then
    stub_installed="${list[*]}"
  else
    stub_installed="${BUILD_PACKAGES[0]} ${BUILD_PACKAGES[2]} ${TEST_PACKAGES[1]}"
  fi
  PATH="$work/bin:$PATH" STUB_DIR="$dir" STUB_INSTALLED="$stub_installed" \
    STUB_APT_FAIL="$apt_fail" TWOSTEP_POLICY_RC_D="$policy" TWOSTEP_SETUP_LOG="$dir/setup.log" \
    TWOSTEP_PG_CREATECLUSTER_D="$dir/createcluster.d" \
    bash "$setup" ${profile:+"$profile"} </dev/null >"$dir/out" 2>"$dir/err"
  status=$?
  [ "$status" -eq "$expected_status" ] || fail "exit status $status, expected $expected_status"
  if [ "$expected_status" -ne 0 ]; then
    grep -q "^setup: FAILED: apt-get $apt_fail" "$dir/err" || fail "no 'setup: FAILED: apt-get $apt_fail' on stderr"
    grep -q "E: stub $apt_fail failure" "$dir/err" || fail "apt-get's own error not shown"
  else
    [ ! -s "$dir/err" ] || fail "unexpected stderr: $(cat "$dir/err")"
  fi
  # The policy file: exactly as before, or gone if setup created it.
  if [ "$policy_mode" = site ]; then
    cmp -s "$policy" "$dir/policy.before" || fail "pre-existing policy-rc.d changed"
    [ "$(stat -c %a "$policy")" = 750 ] || fail "pre-existing policy-rc.d mode changed"
  else
    [ ! -e "$policy" ] || fail "policy-rc.d created by setup was left behind"
  fi
  if [ "$installed" = all ]; then
    [ ! -e "$dir/apt-calls" ] || fail "apt-get called although everything is installed"
    local counted="${#BUILD_PACKAGES[@]}+${#TEST_PACKAGES[@]}+${#PACKAGING_PACKAGES[@]}"
    [ "${profile:-full}" = full ] || counted="${#list[@]} $profile"
    grep -q "^setup: all $counted packages present$" "$dir/out" \
      || fail "no 'all $counted packages present' line"
    return
  fi
  # What apt-get was asked for: the missing packages, in list order, once.
  local expected=()
  for p in "${list[@]}"; do
    case " $stub_installed " in *" $p "*) ;; *) expected+=("$p") ;; esac
  done
  # Issue 18 item 16: the demos install what they use, the full list keeps
  # the browser and the packaging tools.
  local heavy
  for heavy in chromium lintian rpm rpmlint postgresql-15; do
    case " ${expected[*]} " in
      *" $heavy "*) [ "${profile:-full}" = full ] || fail "profile $profile installs $heavy" ;;
      *) [ "${profile:-full}" != full ] || fail "the full list lacks $heavy" ;;
    esac
  done
  local want_calls="update -qq"
  [ "$apt_fail" = update ] || want_calls+=$'\n'"install -y -qq --no-install-recommends ${expected[*]}"
  [ "$(cat "$dir/apt-calls")" = "$want_calls" ] \
    || fail "apt-get calls were: $(cat "$dir/apt-calls") ; expected: $want_calls"
  grep -qv '^DEBIAN_FRONTEND=noninteractive$' <(grep DEBIAN "$dir/apt-env") \
    && fail "apt-get ran without DEBIAN_FRONTEND=noninteractive"
  if [ "$apt_fail" != update ]; then
    # While packages install, a policy forbids starting daemons (exit 101),
    # or the site's own policy is in force.
    local want_policy="policy-exit=101"
    [ "$policy_mode" = site ] && want_policy="policy-exit=0"
    grep -qx "$want_policy" "$dir/apt-env" || fail "policy during install: $(grep policy "$dir/apt-env")"
    grep -q "^setup: installing ${expected[*]}$" "$dir/out" || fail "no 'setup: installing' line"
  fi
  [ "$expected_status" -ne 0 ] || grep -qx "setup: done" "$dir/out" || fail "no 'setup: done' line"
}

run_case fresh_no_policy       none some ""      0
run_case fresh_with_policy     site some ""      0
run_case all_present           site all  ""      0
run_case install_fails         none some install 1
run_case install_fails_policy  site some install 1
run_case update_fails          none some update  1
run_case profile_full          none some ""      0 full
run_case profile_build         none some ""      0 build
run_case profile_demo          none some ""      0 demo
run_case profile_demo_push     none some ""      0 demo-push
run_case profile_demo_present  none all  ""      0 demo

# An unknown profile is refused before anything is asked of apt-get.
case_name=unknown_profile
mkdir -p "$work/$case_name"
PATH="$work/bin:$PATH" STUB_DIR="$work/$case_name" STUB_INSTALLED="" \
  TWOSTEP_POLICY_RC_D="$work/$case_name/policy-rc.d" bash "$setup" demos </dev/null \
  >"$work/$case_name/out" 2>"$work/$case_name/err"
status=$?
[ "$status" -eq 2 ] || fail "exit status $status, expected 2"
grep -q "usage: scripts/setup \[full|build|demo|demo-push\]" "$work/$case_name/err" || fail "no usage line"
[ ! -e "$work/$case_name/apt-calls" ] || fail "apt-get called for an unknown profile"

if [ "$failures" -ne 0 ]; then
  echo "test_setup: $failures failure(s)"
  exit 1
fi
echo "test_setup: all cases passed"
