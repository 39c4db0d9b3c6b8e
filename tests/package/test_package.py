#!/usr/bin/python3
"""Install test of the Debian packages (docs/packaging.md).

Builds libpam-twostep and twostepd from an already built tree
(packaging/build-deb --prebuilt), installs them on THIS machine with dpkg,
and checks what an admin gets:

1. lintian finds no error or warning (overrides are justified in
   packaging/debian/*.lintian-overrides); the files, the pam-auth-update profile (registered, not enabled), the
   system user, the state directory and the conffile;
2. a private sshd (loopback, free port) whose own PAM service names the
   installed module by bare name `pam_twostep.so`: a user enrolled with the
   installed twostep-enroll logs in with a TOTP code, a wrong code is refused;
3. the installed twostepd under its unit's settings (systemd-run where
   systemd is PID 1, else the unit's ExecStart as its User= with its UMask=
   and no privileges) answers HTTP, and its admin CLI writes the store;
4. `dpkg --purge` leaves nothing: no file of either package, no system user
   or group, no profile, no /var/lib/twostepd, no /etc/twostep, and the
   pam-auth-update state (/var/lib/pam, /etc/pam.d/common-*) as it was.

The machine must not have the packages (or their user or directories)
already: the test then refuses to run rather than purge an admin's install.
Whatever happens after the install, the packages are purged on the way out.
"""

from __future__ import annotations

import argparse
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness as h  # noqa: E402

PACKAGES = list(h.PACKAGE_TEST_PACKAGES)
SYSTEM_USER = "_twostepd"
PROFILE = "/usr/share/pam-configs/twostep"
STATE_DIR = "/var/lib/twostepd"
CONFIG_DIR = "/etc/twostep"
UNIT = "twostepd.service"
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


def ssh_login_with_installed_module(workdir: str) -> None:
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


def run_twostepd_under_unit(workdir: str, unit_path: str) -> None:
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

        def stop() -> None:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        h.CLEANUP.add(f"twostepd pid {process.pid}", stop)

        def alive() -> bool:
            return process.poll() is None

        def describe() -> str:
            with open(log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        how = f"ExecStart as {settings['User'][-1]} (systemd is not PID 1)"

    status, body = wait_for_http(port, alive, describe)
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    h.check(400 <= status < 500 and "error" in answer,
            f"installed twostepd, started by {how}, answers HTTP "
            f"(GET of an unknown pairing: {status} {answer.get('error')})")

    # The admin CLI, as the service user, against the same default store.
    admin = as_service_user(settings, [exec_start[0], "host", "add", "pkgtest"])
    h.run(admin)  # prints the host secret: not kept, never echoed
    h.check("pkgtest" in h.run(as_service_user(settings, [exec_start[0], "host", "list"]))
            .stdout, "`twostepd host add` as the service user writes the default store")
    owner = pwd.getpwnam(SYSTEM_USER).pw_uid
    database = os.path.join(STATE_DIR, "twostepd.db")
    st = os.stat(database)
    h.check(st.st_uid == owner and stat.S_IMODE(st.st_mode) == 0o600,
            f"{database} is 0600, owned by {SYSTEM_USER}")

    if how.startswith("ExecStart"):
        os.killpg(process.pid, signal.SIGTERM)
        h.check(process.wait(timeout=20) == 0, "twostepd stops cleanly on SIGTERM (exit 0)")
    else:
        h.run(["systemctl", "stop", unit])


def check_nothing_left(files: dict[str, list[str]], existed_before: set[str],
                       pam_before: dict[str, str]) -> None:
    for name in files:
        state = package_state(name)
        h.check(state == "un", f"{name} is fully purged (dpkg state {state!r})")
    left = [p for name in files for p in files[name]
            if p not in existed_before and os.path.lexists(p)]
    h.check(not left, "no file or directory of the packages is left"
            + (f": {left}" if left else ""))
    h.check(not user_exists(SYSTEM_USER) and not group_exists(SYSTEM_USER),
            f"no user or group {SYSTEM_USER} is left")
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
    state = {"files": {}, "existed": set()}

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
        if os.path.exists(os.path.join(args.build_dir, "check_tool", "twostep-check")):
            for path in ("/usr/bin/twostep-check", "/usr/share/man/man8/twostep-check.8.gz"):
                h.check(path in files["libpam-twostep"] and os.path.exists(path),
                        f"libpam-twostep installs {path}")
        check_common_files_unchanged(pam_before)
        ssh_login_with_installed_module(workdir)
        if "twostepd" in names:
            check_twostepd_install(files["twostepd"])
            unit = next(p for p in files["twostepd"] if p.endswith("/systemd/system/" + UNIT))
            check_unit_sandbox(unit)
            run_twostepd_under_unit(workdir, unit)
        else:
            h.log("twostepd not built in this tree (no backend/): its checks are skipped")

    def after_cleanup() -> str | None:
        try:
            check_nothing_left(state["files"], state["existed"], pam_before)
        except h.TestFailure as failure:
            return str(failure)
        return None

    return h.run_scenario(body, after_cleanup)


def check_installed_files(files: dict[str, list[str]]) -> str:
    module = [p for p in files["libpam-twostep"] if p.endswith("/security/pam_twostep.so")]
    h.check(len(module) == 1, f"libpam-twostep ships the module ({module})")
    module_dir = os.path.dirname(module[0])
    h.check(os.path.exists(os.path.join(module_dir, "pam_unix.so")),
            f"the module is next to pam_unix.so, where libpam finds bare names ({module_dir})")
    for path in ("/usr/bin/twostep-enroll", "/usr/share/man/man8/pam_twostep.8.gz",
                 "/usr/share/man/man1/twostep-enroll.1.gz", PROFILE):
        h.check(path in files["libpam-twostep"] and os.path.exists(path),
                f"libpam-twostep installs {path}")
    with open(PROFILE, encoding="utf-8") as handle:
        profile = handle.read()
    h.check("Default: no" in profile and "pam_twostep.so" in profile,
            "the pam-auth-update profile names pam_twostep.so and is off by default")
    return module[0]


if __name__ == "__main__":
    sys.exit(main())
