#!/usr/bin/python3
"""Root enrolling another user (a fake user from nss_wrapper, so the test
needs no real account): the file in the user's home is created as the user,
mode 0600, and stays theirs across updates; a symlink the user planted in
their home cannot make root write into a root-only directory; a central
directory file stays root-owned. Needs root and libnss_wrapper (else skip)."""

import ctypes
import os
import sys

from enrolltest import *  # noqa: F401,F403

TOOL = sys.argv[1]
USER, UID, GID = "tsenroll4242", 4242, 4242


def nss_env(tmp, home):
    passwd, group = os.path.join(tmp, "passwd"), os.path.join(tmp, "group")
    with open(passwd, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
        f.write("%s:x:%d:%d:test:%s:/bin/sh\n" % (USER, UID, GID, home))
    with open(group, "w") as f:
        f.write("root:x:0:\n%s:x:%d:\n" % (USER, GID))
    # An ASan build refuses a preloaded library ahead of its runtime, and
    # nss_wrapper's RTLD_DEEPBIND.
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
    return {"LD_PRELOAD": "libnss_wrapper.so", "NSS_WRAPPER_PASSWD": passwd,
            "NSS_WRAPPER_GROUP": group, "NSS_WRAPPER_DISABLE_DEEPBIND": "1",
            "ASAN_OPTIONS": asan}


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        sys.exit(77)
    try:
        ctypes.CDLL("libnss_wrapper.so")
    except OSError:
        print("SKIP: libnss_wrapper not installed")
        sys.exit(77)
    tmp = workdir()
    try:
        os.chmod(tmp, 0o755)
        home = os.path.join(tmp, "home")
        os.mkdir(home, 0o700)
        os.chown(home, UID, GID)
        env = nss_env(tmp, home)

        result = run(TOOL, "--user", USER, "--no-confirm", "--print-uri", env=env)
        secret = os.path.join(home, ".twostep")
        info = os.stat(secret) if os.path.exists(secret) else None
        check(result.returncode == EXIT_OK and info is not None and info.st_uid == UID
              and info.st_gid == GID and mode_of(secret) == 0o600,
              "root: ~user/.twostep is the user's, mode 0600 (exit %d)" % result.returncode)
        check("%s%%40" % USER in result.stdout and "central" not in result.stdout,
              "the label names the user (home file: plain user@host)")

        # Image files the admin names are written with the invoking identity
        # (root), mode 0600, even into a root-only directory; the secret file
        # is still the user's.
        images = os.path.join(tmp, "rootimages")
        os.mkdir(images, 0o700)
        png, svg = os.path.join(images, "x.png"), os.path.join(images, "x.svg")
        result = run(TOOL, "--user", USER, "--show", "--png", png, "--svg", svg, env=env)
        ok = result.returncode == EXIT_OK and os.path.exists(png) and os.path.exists(svg)
        check(ok and all(os.stat(p).st_uid == 0 and mode_of(p) == 0o600 for p in (png, svg)),
              "root: --user %s --png/--svg into a root-only directory, root-owned 0600 (%d: %s)"
              % (USER, result.returncode, result.stderr.strip()[-200:]))
        check(ok and zbar_decode(png).startswith("otpauth://"), "the PNG decodes")
        check(os.stat(secret).st_uid == UID, "the secret file is still the user's")
        os.unlink(png)
        os.unlink(svg)
        # The wizard too: a new enrollment with its PNG in the root-only directory.
        result = run(TOOL, "--user", USER, "--no-confirm", "--force", "--png", png, env=env)
        check(result.returncode == EXIT_OK and os.stat(png).st_uid == 0 and mode_of(png) == 0o600
              and os.stat(secret).st_uid == UID,
              "wizard as root for %s: PNG root's, secret file the user's (%d: %s)"
              % (USER, result.returncode, result.stderr.strip()[-200:]))

        result = run(TOOL, "--user", USER, "--regenerate-backup-codes", env=env)
        info = os.stat(secret)
        check(result.returncode == EXIT_OK and info.st_uid == UID and info.st_gid == GID,
              "after an update the file is still the user's")
        result = run(TOOL, "--user", USER, "--status", env=env)
        check(result.returncode == EXIT_OK and "User:          " + USER in result.stdout,
              "root reads the user's status")

        # The user points a directory in their home at a root-only place.
        rootonly = os.path.join(tmp, "rootonly")
        os.mkdir(rootonly, 0o700)
        os.symlink(rootonly, os.path.join(home, "sub"))
        result = run(TOOL, "--user", USER, "--no-confirm", "--secret-file", "~/sub/.twostep",
                     env=env)
        check(result.returncode == EXIT_IO and os.listdir(rootonly) == [],
              "a planted symlink cannot make root write into a root-only directory (%d)"
              % result.returncode)

        central = os.path.join(tmp, "central")
        os.mkdir(central, 0o700)
        result = run(TOOL, "--user", USER, "--no-confirm", "--secret-file",
                     central + "/%u", env=env)
        path = os.path.join(central, USER)
        check(result.returncode == EXIT_OK and os.stat(path).st_uid == 0
              and mode_of(path) == 0o600, "a central-directory file is root's, mode 0600")

        result = run(TOOL, "--user", USER, "--no-confirm", "--print-uri", "--force",
                     "--secret-file", central + "/%u", env=env)
        uri = URI_RE.findall(result.stdout)
        check(result.returncode == EXIT_OK and uri and "%28central%29" in uri[0],
              "central-directory enrollment: default label '<user>@<host> (central)'")

        result = run(TOOL, "--user", USER, "--remove", "--force", env=env)
        check(result.returncode == EXIT_OK and not os.path.exists(secret),
              "root removes the user's enrollment")

        # A user migrated from pam_google_authenticator has only
        # ~/.google_authenticator: --status finds it as the module does.
        ga = os.path.join(home, ".google_authenticator")
        result = run(TOOL, "--user", USER, "--no-confirm", "--format", "google-authenticator",
                     "--secret-file", "~/.google_authenticator", env=env)
        check(result.returncode == EXIT_OK and os.path.exists(ga) and not os.path.exists(secret),
              "a GA-format file in ~/.google_authenticator only")
        result = run(TOOL, "--user", USER, "--status", env=env)
        check(result.returncode == EXIT_OK and ga + " (google-authenticator format)" in result.stdout,
              "--status without --secret-file finds ~/.google_authenticator (exit %d)"
              % result.returncode)
        result = run(TOOL, "--user", USER, "--remove", "--force", env=env)
        check(result.returncode == EXIT_OK and not os.path.exists(ga),
              "--remove finds it the same way")
    finally:
        cleanup(tmp)
    finish()


main()
