#!/usr/bin/python3
"""Install test of the Debian packages (docs/packaging.md).

Builds libpam-twostep and twostepd from an already built tree
(packaging/build-deb --prebuilt), installs them on THIS machine with dpkg,
and checks what an admin gets:

1. lintian finds no error or warning (overrides are justified in
   packaging/debian/*.lintian-overrides); the files, the pam-auth-update profile (registered, not enabled), the
   system user, the state directory and the conffile; the module key
   /etc/twostep/module.key made at install (root's, 0600, 32 bytes in b64u)
   and kept when the package is configured again;
2. a private sshd (loopback, free port) whose own PAM service names the
   installed module by bare name `pam_twostep.so`: a user enrolled with the
   installed twostep-enroll logs in with a TOTP code, a wrong code is refused;
3. the installed twostepd under its unit's settings (systemd-run where
   systemd is PID 1, else the unit's ExecStart as its User= with its UMask=
   and no privileges) on a free loopback port answers HTTP; then push with
   the installed binaries only: `twostepd host add` as the service user
   writes the default store, the test writes /etc/twostep/push.conf and the
   root-only push.secret as the admin guide says, the installed
   `twostep-enroll --push --user` pairs the Python test device
   (tests/device) with the step-2 user, and through a private sshd whose PAM
   service says `auth required pam_twostep.so push`: the phone sees the
   challenge and approves with the number shown, the login succeeds and the
   relay's audit (`twostepd audit --json` as the service user) records the
   approval; approving with another number, and denying, fail the login
   (the module logs wrong_number / denied, the audit the denial); SIGTERM
   stops twostepd with exit 0;
4. a hand-written `pam_twostep.so` line in a test PAM service file: the
   purge warns naming that file, its line number and the line (issue 18
   item 12);
5. `dpkg --purge` leaves nothing: no file of either package, no system user
   or group, no profile, no /var/lib/twostepd, no /etc/twostep (the module
   key goes with the purge; the test
   removes its push.conf and push.secret before the purge), no test user,
   and the pam-auth-update state (/var/lib/pam, /etc/pam.d/common-*) as it
   was.

The machine must not have the packages (or their user or directories)
already: the test then refuses to run rather than purge an admin's install.
Whatever happens after the install, the packages are purged on the way out.
"""

from __future__ import annotations

import argparse
import base64
import glob
import grp
import json
import os
import pwd
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Callable

import pexpect

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "push"))
import harness as h  # noqa: E402
import pushtest  # noqa: E402  (puts tests/device on the path)
import twostep_device  # noqa: E402

PACKAGES = list(h.PACKAGE_TEST_PACKAGES)
SYSTEM_USER = "_twostepd"
PROFILE = "/usr/share/pam-configs/twostep"
STATE_DIR = "/var/lib/twostepd"
CONFIG_DIR = "/etc/twostep"
MODULE_KEY = f"{CONFIG_DIR}/module.key"
UNIT = "twostepd.service"
# Push (step 3): the host's settings where admin-guide.md "Push approval (the
# login side)" puts them; written by the test, removed before the purge.
PUSH_CONF = f"{CONFIG_DIR}/push.conf"
PUSH_SECRET = f"{CONFIG_DIR}/push.secret"
PUSH_HOST = "pkgtest"
PHONE = "Pixel 8"
PUSH_PROMPT = pushtest.PUSH_PROMPT
LOGIN_MARKER = "e2e-42-ok"
# Left by dpkg/pam-auth-update/deb-systemd-helper if a maintainer script is wrong.
FOOTPRINTS = [PROFILE, STATE_DIR, CONFIG_DIR,
              "/etc/systemd/system/multi-user.target.wants/twostepd.service",
              "/var/lib/systemd/deb-systemd-helper-enabled/twostepd.service.dsh-also",
              "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/twostepd.service",
              "/var/lib/systemd/deb-systemd-helper-masked/twostepd.service"]


def package_state(name: str) -> str:
    """dpkg's two-letter state ("ii" installed, "rc" config files left...);
    "un" for a package dpkg has no files or scripts of."""
    result = h.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", name], check_rc=False)
    abbrev = result.stdout.strip() if result.returncode == 0 else ""
    return "un" if len(abbrev) < 2 or abbrev[1] == "n" else abbrev[:2]


def pam_auth_state() -> dict[str, str]:
    """What pam-auth-update manages: its saved state and the common-* files."""
    state = {}
    for path in sorted(glob.glob("/var/lib/pam/*") + glob.glob("/etc/pam.d/common-*")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                state[path] = handle.read()
    return state


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def refuse_if_present(packages: list[str]) -> None:
    """An admin's install (or its leftovers) must never be purged by a test."""
    problems = [f"package {p} is in dpkg state {package_state(p)!r}" for p in packages
                if package_state(p) != "un"]
    if user_exists(SYSTEM_USER):
        problems.append(f"user {SYSTEM_USER} exists")
    if group_exists(SYSTEM_USER):
        problems.append(f"group {SYSTEM_USER} exists")
    problems += [f"{path} exists" for path in FOOTPRINTS if os.path.lexists(path)]
    if problems:
        print("FAIL: refusing to run: this machine already has twostep installed or "
              "left over (" + "; ".join(problems) + "). The test purges what it "
              "installs and would destroy that install; run it on a machine without "
              "twostep's packages.", flush=True)
        sys.exit(1)


def purge(packages: list[str]) -> None:
    present = [p for p in packages if package_state(p) != "un"]
    if present:
        h.log(f"purging {' '.join(present)}")
        result = h.run(["dpkg", "--purge"] + present, check_rc=False, timeout=120)
        if result.returncode != 0:
            raise h.TestFailure(f"dpkg --purge failed:\n{result.stdout}{result.stderr}")


def build_debs(source_dir: str, build_dir: str, out: str) -> dict[str, str]:
    started = time.monotonic()
    result = h.run([os.path.join(source_dir, "packaging", "build-deb"),
                    "--prebuilt", build_dir, "--out", out, "--lintian"],
                   check_rc=False, timeout=600)
    if result.returncode != 0:
        raise h.TestFailure(f"packaging/build-deb failed:\n{result.stdout}{result.stderr}")
    debs = {}
    for path in glob.glob(os.path.join(out, "*.deb")):
        name = os.path.basename(path).split("_")[0]
        if name in PACKAGES:
            debs[name] = path
    h.check("libpam-twostep" in debs,
            f"build-deb made {', '.join(sorted(debs))} in {time.monotonic() - started:.0f} s; "
            "lintian reports no error or warning")
    return debs


def unit_settings(path: str) -> dict[str, list[str]]:
    """The [Service] section of a unit: key -> values in order."""
    settings: dict[str, list[str]] = {}
    section = None
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                settings.setdefault(key.strip(), []).append(value.strip())
    return settings


# --------------------------------------------------------------------------
# Checks


def check_common_files_unchanged(before: dict[str, str]) -> None:
    after = pam_auth_state()
    common = {k: v for k, v in after.items() if k.startswith("/etc/pam.d/")}
    h.check(common == {k: v for k, v in before.items() if k.startswith("/etc/pam.d/")},
            "installing enabled nothing: /etc/pam.d/common-* unchanged")
    h.check("pam_twostep" not in "".join(after.get(f"/var/lib/pam/{t}", "")
                                          for t in ("auth", "account", "session")),
            "pam-auth-update's saved stacks do not use pam_twostep")


def check_twostepd_install(files: list[str]) -> None:
    entry = pwd.getpwnam(SYSTEM_USER)
    h.check(entry.pw_uid < 1000 and entry.pw_shell.endswith("nologin"),
            f"system user {SYSTEM_USER} (uid {entry.pw_uid}, shell {entry.pw_shell})")
    st = os.stat(STATE_DIR)
    h.check(st.st_uid == entry.pw_uid and stat.S_IMODE(st.st_mode) == 0o700,
            f"{STATE_DIR} is 0700 and owned by {SYSTEM_USER}")
    conffiles = h.run(["dpkg-query", "-W", "-f=${Conffiles}", "twostepd"]).stdout
    h.check(f"{CONFIG_DIR}/twostepd.conf " in conffiles,
            f"{CONFIG_DIR}/twostepd.conf is a conffile")
    st = os.stat(f"{CONFIG_DIR}/twostepd.conf")
    h.check(st.st_uid == 0 and st.st_gid == entry.pw_gid and stat.S_IMODE(st.st_mode) == 0o640,
            "the config is 0640 root:_twostepd (it may hold a PostgreSQL password)")
    units = [p for p in files if p.endswith("/systemd/system/" + UNIT)]
    h.check(len(units) == 1, f"twostepd ships its unit ({units})")
    h.check("/usr/sbin/twostepd" in files and os.access("/usr/sbin/twostepd", os.X_OK),
            "twostepd ships /usr/sbin/twostepd")


def ssh_login_with_installed_module(workdir: str) -> tuple[h.User, str]:
    """Step 2; returns the enrolled user and their ssh key for step 3."""
    user = h.create_user()
    enrolled = h.enroll_twostep(user, "/usr/bin/twostep-enroll")
    key = h.install_client_key(user, workdir)
    service = h.unique_name()
    # Bare name: libpam must find the module where the package put it.
    path = h.write_pam_service(service, ["auth required pam_twostep.so"])
    with open(path, encoding="ascii") as handle:
        h.check("auth required pam_twostep.so\n" in handle.read(),
                f"PAM service {service} names the module without a path")
    sshd = h.Sshd(workdir, service, [user.name], "publickey,keyboard-interactive").start()
    step = h.current_step()
    wrong = h.wrong_code(enrolled.secret_b32, step)
    result = h.ssh_login(sshd, user, workdir, {"code": [wrong]}, key=key)
    h.check(result.prompts == ["code"] and not result.succeeded,
            "the installed module asks for the code and refuses a wrong one")
    result = h.ssh_login(sshd, user, workdir, {"code": [h.totp(enrolled.secret_b32, step)]},
                         key=key)
    h.check(result.succeeded, "ssh with key + TOTP code logs in through the installed module"
            + ("" if result.succeeded else f"\n{result.transcript}\n{sshd.log()}"))
    sshd.stop()
    return user, key


def http_answer(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def wait_for_http(port: int, alive: Callable[[], bool], describe: Callable[[], str]) -> tuple[int, str]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not alive():
            raise h.TestFailure(f"twostepd exited early:\n{describe()}")
        try:
            return http_answer(port, "/v1/pairings/AAAAAAAAAAAAAAAAAAAAAA")
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise h.TestFailure(f"twostepd did not answer on 127.0.0.1:{port}:\n{describe()}")


def as_service_user(settings: dict[str, list[str]], argv: list[str]) -> list[str]:
    """argv run as the unit's User=/Group= with no privileges left."""
    user = settings["User"][-1]
    group = settings.get("Group", [user])[-1]
    return ["setpriv", f"--reuid={user}", f"--regid={group}", "--clear-groups",
            "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"] + argv


def check_unit_sandbox(unit_path: str) -> None:
    """The installed unit is valid and its exposure is at most 2.0."""
    verify = h.run(["systemd-analyze", "verify", unit_path], check_rc=False)
    h.check(verify.returncode == 0 and not verify.stderr.strip(),
            "systemd-analyze verify accepts the installed unit"
            + ("" if verify.returncode == 0 else f": {verify.stderr.strip()}"))
    security = h.run(["systemd-analyze", "security", "--offline=true", unit_path],
                     check_rc=False)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
    h.check(match is not None and float(match.group(1)) <= 2.0,
            "systemd-analyze security --offline=true: exposure "
            + (match.group(1) if match else f"not reported ({security.stderr.strip()})")
            + " (at most 2.0)")


class InstalledRelay:
    """The installed twostepd, started under its unit's settings on a free
    loopback port, and its admin CLI as the service user."""

    def __init__(self, settings: dict[str, list[str]], binary: str, port: int, how: str,
                 stop: Callable[[], None]) -> None:
        self.settings, self.binary, self.port, self.how = settings, binary, port, how
        self.stop = stop  # stops it and checks that it stopped cleanly

    def admin(self, *args: str) -> str:
        """A twostepd subcommand as the unit's user against the default store."""
        return h.run(as_service_user(self.settings, [self.binary, *args])).stdout


def run_twostepd_under_unit(workdir: str, unit_path: str) -> InstalledRelay:
    settings = unit_settings(unit_path)
    for key, want in (("User", SYSTEM_USER), ("StateDirectory", "twostepd"),
                      ("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                      ("CapabilityBoundingSet", ""), ("UMask", "0077")):
        h.check(settings.get(key, [None])[-1] == want, f"the unit sets {key}={want}")
    exec_start = shlex.split(settings["ExecStart"][-1].lstrip("-@:+!"))
    port = h.free_port()
    argv = exec_start + ["--listen", f"127.0.0.1:{port}"]
    umask = int(settings.get("UMask", ["0022"])[-1], 8)

    if os.path.isdir("/run/systemd/system"):  # sd_booted(3)
        # systemd is PID 1: a transient unit with every [Service] setting of
        # the installed unit but its own command line (a free port).
        unit = f"{h.unique_name()}.service"
        skip = {"ExecStart", "ExecReload", "Restart", "RestartSec", "Type"}
        props = [f"--property={k}={v}" for k, values in settings.items() if k not in skip
                 for v in values]
        h.CLEANUP.add(f"unit {unit}", lambda: h.run(["systemctl", "stop", unit],
                                                     check_rc=False))
        h.run(["systemd-run", f"--unit={unit}", "--collect", "--property=Type=exec"]
              + props + argv)

        def alive() -> bool:
            return h.run(["systemctl", "is-active", unit], check_rc=False).stdout.strip() \
                in ("active", "activating")

        def describe() -> str:
            return h.run(["journalctl", "-u", unit, "--no-pager", "-n", "30"],
                         check_rc=False).stdout

        def stop() -> None:
            h.run(["systemctl", "stop", unit])
        how = f"systemd-run unit {unit}"
    else:
        # No systemd: the unit's ExecStart as its user, with its umask, no
        # privileges, no new privileges, from an empty environment.
        log_path = os.path.join(workdir, "twostepd.log")
        log_file = open(log_path, "w", encoding="utf-8")
        process = subprocess.Popen(
            as_service_user(settings, argv), stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True, cwd="/", env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            preexec_fn=lambda: os.umask(umask))
        log_file.close()

        def kill() -> None:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        h.CLEANUP.add(f"twostepd pid {process.pid}", kill)

        def alive() -> bool:
            return process.poll() is None

        def describe() -> str:
            with open(log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()

        def stop() -> None:
            os.killpg(process.pid, signal.SIGTERM)
            h.check(process.wait(timeout=20) == 0, "twostepd stops cleanly on SIGTERM (exit 0)")
        how = f"ExecStart as {settings['User'][-1]} (systemd is not PID 1)"

    status, body = wait_for_http(port, alive, describe)
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    h.check(400 <= status < 500 and "error" in answer,
            f"installed twostepd, started by {how}, answers HTTP "
            f"(GET of an unknown pairing: {status} {answer.get('error')})")
    return InstalledRelay(settings, exec_start[0], port, how, stop)


def add_host(relay: InstalledRelay) -> tuple[str, str]:
    """`twostepd host add` as the service user; returns (host id, host secret)."""
    # It prints the host secret: kept only to be written to push.secret.
    host_id, host_secret = pushtest.parse_host_add(relay.admin("host", "add", PUSH_HOST))
    h.check(PUSH_HOST in relay.admin("host", "list"),
            "`twostepd host add` as the service user writes the default store")
    owner = pwd.getpwnam(SYSTEM_USER).pw_uid
    database = os.path.join(STATE_DIR, "twostepd.db")
    st = os.stat(database)
    h.check(st.st_uid == owner and stat.S_IMODE(st.st_mode) == 0o600,
            f"{database} is 0600, owned by {SYSTEM_USER}")
    return host_id, host_secret


def write_push_config(relay: InstalledRelay, host_id: str, host_secret: str) -> None:
    """The host's push.conf (0644) and root-only push.secret, as the admin
    guide says. Removed by the cleanup stack before the purge (it is LIFO),
    or the purge would leave /etc/twostep and step 4 would fail."""
    for path in (PUSH_CONF, PUSH_SECRET):
        if os.path.lexists(path):
            raise h.TestFailure(f"{path} exists before the test wrote it")
        h.CLEANUP.add(f"file {path}", lambda path=path: os.path.lexists(path) and os.unlink(path))
    fd = os.open(PUSH_SECRET, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"host_secret = {host_secret}\n")
    # The relay's own default approver origin for plain HTTP on loopback
    # (twostepd.conf(5)): the installed config sets none.
    with open(PUSH_CONF, "x", encoding="ascii") as handle:
        handle.write(f"# twostep package test: host {PUSH_HOST}, removed by the test\n"
                     f"relay = http://127.0.0.1:{relay.port}\nhost_id = {host_id}\n"
                     f"host_name {PUSH_HOST}\napprover_origin http://localhost:{relay.port}\n"
                     f"host_secret_file {PUSH_SECRET}\n")
    os.chmod(PUSH_CONF, 0o644)


def ssh_push_login(sshd: h.Sshd, user: h.User, key: str, workdir: str,
                   phone: twostep_device.Device,
                   decide: Callable[[str, int], object]) -> tuple[bool, str, str]:
    """ssh with the key, Enter for a push at the code prompt; the phone sees
    the challenge and `decide(challenge id, number shown)` answers it; then
    Enter. Returns (logged in, challenge id, what the module logged)."""
    log_start = len(sshd.log())
    child = pexpect.spawn("ssh", [
        "-F", "/dev/null", "-p", str(sshd.port), "-i", key, "-T",
        "-o", f"UserKnownHostsFile={workdir}/known_hosts", "-o", "StrictHostKeyChecking=no",
        "-o", "IdentitiesOnly=yes", "-o", "NumberOfPasswordPrompts=1",
        f"{user.name}@127.0.0.1", "echo e2e-$((6*7))-ok"], encoding="utf-8", timeout=40)
    try:
        child.expect_exact(PUSH_PROMPT)
        child.sendline("")
        child.expect(r"approve with the number (\d\d), then press Enter here")
        number = int(child.match.group(1))
        challenge = pushtest.pending(phone, timeout=15)["id"]
        decide(challenge, number)
        child.sendline("")
        child.expect(pexpect.EOF)
        child.close()
    except (pexpect.ExceptionPexpect, RuntimeError, twostep_device.HttpError) as error:
        child.close(force=True)
        raise h.TestFailure(f"push login over ssh stalled ({type(error).__name__}):\n"
                            f"{child.before}\n{sshd.log()[log_start:]}") from None
    return child.exitstatus == 0 and LOGIN_MARKER in child.before, challenge, \
        sshd.log()[log_start:]


def audit_decision(relay: InstalledRelay, user: h.User, challenge: str) -> dict:
    """The relay's challenge_decided entry for one challenge (`twostepd audit
    --json` as the service user)."""
    entries = [json.loads(line) for line in
               relay.admin("audit", "--json", "--user", user.name).splitlines() if line.strip()]
    decided = [e for e in entries
               if e.get("event") == "challenge_decided" and e.get("challenge") == challenge]
    h.check(len(decided) == 1, f"the relay's audit has one decision for challenge {challenge}")
    return decided[0]


def push_login_with_installed_packages(workdir: str, relay: InstalledRelay, user: h.User,
                                       key: str) -> None:
    """Step 3: pair a phone with the installed twostep-enroll and approve,
    mistype and deny ssh logins through the installed module."""
    write_push_config(relay, *add_host(relay))
    phone = twostep_device.Device.create(
        os.path.join(workdir, "phone.json"), origin=f"http://localhost:{relay.port}",
        relay=f"http://127.0.0.1:{relay.port}", name=PHONE)
    try:
        status, shown, on_phone, _ = pushtest.pair_device(
            pushtest.spawn_enroll_push("/usr/bin/twostep-enroll", "--user", user.name), phone)
    except (pexpect.ExceptionPexpect, OSError, ValueError, twostep_device.HttpError) as error:
        raise h.TestFailure(f"pairing with the installed twostep-enroll stalled: {error!r}"
                            ) from None
    h.check(status == 0 and shown == on_phone,
            f"the installed `twostep-enroll --push --user` paired the phone "
            f"(exit {status}; both show the comparison code: {shown == on_phone})")
    with open(os.path.join(user.home, ".twostep"), encoding="ascii") as handle:
        content = handle.read()
    h.check(content.startswith("twostep-secret 2\n") and "device name=Pixel%208 " in content,
            "the user's secret file pins the phone (twostep-secret 2, a device line)")

    service = h.unique_name()
    # log_copy=stderr: this machine has no /dev/log; the module's verdict
    # lands in the sshd log (pam_twostep(8)).
    h.write_pam_service(service, ["auth required pam_twostep.so push push_timeout=20 "
                                  "log_copy=stderr"])
    sshd = h.Sshd(workdir, service, [user.name], "publickey,keyboard-interactive").start()

    ok, challenge, logged = ssh_push_login(sshd, user, key, workdir, phone, phone.approve)
    h.check(ok and "method=push result=accepted reason=approved" in logged,
            "ssh: Enter, the phone sees the challenge and approves with the number shown, "
            "Enter: logged in through the installed module" + ("" if ok else "\n" + logged))
    entry = audit_decision(relay, user, challenge)
    h.check((entry["result"], entry["host"], entry["device"], entry["service"])
            == ("approved", PUSH_HOST, PHONE, service),
            f"audit: {entry['event']} result={entry['result']} host={entry['host']} "
            f"device={entry['device']} service={entry['service']}")

    ok, challenge, logged = ssh_push_login(
        sshd, user, key, workdir, phone, lambda c, number: phone.approve(c, (number + 1) % 100))
    h.check(not ok and "reason=wrong_number" in logged,
            "approving with another number than the one shown: login refused (wrong_number)")

    ok, challenge, logged = ssh_push_login(sshd, user, key, workdir, phone,
                                           lambda c, _number: phone.deny(c))
    h.check(not ok and "reason=denied" in logged, "denied on the phone: login refused")
    entry = audit_decision(relay, user, challenge)
    h.check(entry["result"] == "denied", f"audit: the denial is recorded ({entry['result']})")
    sshd.stop()


def purge_warns_of_hand_written_lines(names: list[str]) -> None:
    """A PAM service written by hand still loads the module: the purge must
    name the file, the line number and the line (packaging.md). The service
    file goes after the purge (cleanup stack)."""
    for path in (PUSH_CONF, PUSH_SECRET):  # as the cleanup would: /etc/twostep must go
        if os.path.lexists(path):
            os.unlink(path)
    line = "auth required pam_twostep.so"
    service = h.write_pam_service(h.unique_name(), [line])
    with open(service, encoding="ascii") as handle:
        number = handle.read().splitlines().index(line) + 1
    result = subprocess.run(["dpkg", "--purge"] + names, capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    h.check(result.returncode == 0, "dpkg --purge with a hand-written module line succeeds"
            + ("" if result.returncode == 0 else ":\n" + output))
    h.check("WARNING: these /etc/pam.d lines still load pam_twostep.so" in output
            and f"  {service}:{number}:{line}" in output,
            f"the purge warns naming {service}, line {number}: {line!r}"
            + ("" if f"{service}:{number}:" in output else ":\n" + output))


def check_nothing_left(files: dict[str, list[str]], existed_before: set[str],
                       pam_before: dict[str, str], test_users: list[str]) -> None:
    for name in files:
        state = package_state(name)
        h.check(state == "un", f"{name} is fully purged (dpkg state {state!r})")
    left = [p for name in files for p in files[name]
            if p not in existed_before and os.path.lexists(p)]
    h.check(not left, "no file or directory of the packages is left"
            + (f": {left}" if left else ""))
    h.check(not user_exists(SYSTEM_USER) and not group_exists(SYSTEM_USER),
            f"no user or group {SYSTEM_USER} is left")
    left = [name for name in test_users if user_exists(name)]
    h.check(not left, "the test user is removed" + (f": {left}" if left else ""))
    left = [p for p in FOOTPRINTS if os.path.lexists(p)]
    h.check(not left, "no profile, state, config or systemd link is left"
            + (f": {left}" if left else ""))
    after = pam_auth_state()
    changed = sorted(k for k in set(after) | set(pam_before) if after.get(k) != pam_before.get(k))
    h.check(not changed, "pam-auth-update's state and /etc/pam.d/common-* are as before"
            + (f"; changed: {changed}" if changed else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--build-dir", required=True)
    args = parser.parse_args()

    h.require_root()
    missing = [tool for tool in ("dpkg-buildpackage", "dh", "dpkg", "setpriv", "oathtool",
                                 "pam-auth-update", "systemd-analyze")
               if not any(os.access(os.path.join(d, tool), os.X_OK)
                          for d in os.environ.get("PATH", "/usr/bin").split(":") + ["/usr/sbin"])]
    if missing:
        print(f"SKIP: {', '.join(missing)} not installed (scripts/setup installs them)",
              flush=True)
        return h.SKIP_CODE
    refuse_if_present(PACKAGES)
    # Maintainer scripts (pam-auth-update uses debconf) must never prompt.
    os.environ["DEBIAN_FRONTEND"] = "noninteractive"

    pam_before = pam_auth_state()
    state = {"files": {}, "existed": set(), "users": []}

    def body() -> None:
        workdir = h.make_temp_dir()
        debs = build_debs(args.source_dir, args.build_dir, os.path.join(workdir, "debs"))
        names = [n for n in PACKAGES if n in debs]
        # Which paths of the packages exist already (shared directories such
        # as /usr/bin): those must still exist after the purge.
        contents = {}
        for name in names:
            listing = h.run(["dpkg-deb", "-c", debs[name]]).stdout
            paths = []
            for line in listing.splitlines():
                member = line.split(None, 5)[-1].split(" -> ")[0]
                paths.append(os.path.normpath("/" + member))
            contents[name] = paths
        state["existed"] = {p for paths in contents.values() for p in paths if os.path.lexists(p)}

        # From here on the machine is changed: purge on every way out.
        # Journalled first: if this process is killed, the next test's sweep
        # purges them (harness.PACKAGE_TEST_PACKAGES).
        h.CLEANUP.add("purge twostep packages", lambda: purge(names),
                      ("dpkg-purge", *names))
        result = subprocess.run(["dpkg", "-i"] + [debs[n] for n in names],
                                capture_output=True, text=True, timeout=180,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise h.TestFailure(f"dpkg -i failed:\n{result.stdout}{result.stderr}")
        h.check(all(package_state(n) == "ii" for n in names),
                f"dpkg -i installed {' '.join(names)}")
        files = {n: [os.path.normpath(p) for p in h.run(["dpkg", "-L", n]).stdout.splitlines()
                     if p.strip()] for n in names}
        state["files"] = files

        check_installed_files(files)
        check_module_key_made()
        if os.path.exists(os.path.join(args.build_dir, "check_tool", "twostep-check")):
            for path in ("/usr/bin/twostep-check", "/usr/share/man/man8/twostep-check.8.gz"):
                h.check(path in files["libpam-twostep"] and os.path.exists(path),
                        f"libpam-twostep installs {path}")
        check_common_files_unchanged(pam_before)
        login = ssh_login_with_installed_module(workdir)
        state["users"].append(login[0].name)
        if "twostepd" in names:
            check_twostepd_install(files["twostepd"])
            unit = next(p for p in files["twostepd"] if p.endswith("/systemd/system/" + UNIT))
            check_unit_sandbox(unit)
            relay = run_twostepd_under_unit(workdir, unit)
            push_login_with_installed_packages(workdir, relay, *login)
            relay.stop()
        else:
            h.log("twostepd not built in this tree (no backend/): its checks are skipped")
        purge_warns_of_hand_written_lines(names)

    def after_cleanup() -> str | None:
        try:
            check_nothing_left(state["files"], state["existed"], pam_before, state["users"])
        except h.TestFailure as failure:
            return str(failure)
        return None

    return h.run_scenario(body, after_cleanup)


def check_module_key_made() -> None:
    """The install makes the module key (pam_twostep(8), FILES): root's, 0600,
    32 random bytes in b64u on one line; configuring again (an upgrade)
    keeps it; the purge removes it (FOOTPRINTS: /etc/twostep)."""
    info = os.lstat(MODULE_KEY) if os.path.lexists(MODULE_KEY) else None
    h.check(info is not None and stat.S_ISREG(info.st_mode) and info.st_uid == 0
            and stat.S_IMODE(info.st_mode) == 0o600,
            f"the install made {MODULE_KEY}, a root-owned file of mode 0600")
    with open(MODULE_KEY, encoding="ascii") as handle:
        made = handle.read()
    line = made.rstrip("\n")
    decoded = base64.urlsafe_b64decode(line + "=" * (-len(line) % 4)) \
        if re.fullmatch(r"[A-Za-z0-9_-]{43}", line) else b""
    h.check(len(decoded) == 32 and made == line + "\n",
            "the module key is one line of 32 bytes in b64u (no padding)")
    result = subprocess.run(["/var/lib/dpkg/info/libpam-twostep.postinst", "configure", "0.0"],
                            capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    with open(MODULE_KEY, encoding="ascii") as handle:
        again = handle.read()
    h.check(result.returncode == 0 and again == made,
            "configuring the package again (an upgrade) keeps the module key as it was")


def check_installed_files(files: dict[str, list[str]]) -> str:
    module = [p for p in files["libpam-twostep"] if p.endswith("/security/pam_twostep.so")]
    h.check(len(module) == 1, f"libpam-twostep ships the module ({module})")
    module_dir = os.path.dirname(module[0])
    h.check(os.path.exists(os.path.join(module_dir, "pam_unix.so")),
            f"the module is next to pam_unix.so, where libpam finds bare names ({module_dir})")
    # The push client sits next to the module, which dlopens it from there.
    for path in ("/usr/bin/twostep-enroll", "/usr/share/man/man8/pam_twostep.8.gz",
                 "/usr/share/man/man1/twostep-enroll.1.gz", PROFILE,
                 os.path.join(module_dir, "libtwostep-push.so"),
                 "/usr/share/man/man5/twostep-push.conf.5.gz"):
        h.check(path in files["libpam-twostep"] and os.path.exists(path),
                f"libpam-twostep installs {path}")
    with open(PROFILE, encoding="utf-8") as handle:
        profile = handle.read()
    h.check("Default: no" in profile and "pam_twostep.so" in profile,
            "the pam-auth-update profile names pam_twostep.so and is off by default")
    return module[0]


if __name__ == "__main__":
    sys.exit(main())
