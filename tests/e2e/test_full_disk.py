#!/usr/bin/python3
"""A full disk during a login loses nothing and fails closed.

The secret file lives on a tiny tmpfs (mounted in a private mount namespace,
so nothing is visible outside this test and the mount dies with it), which is
then filled up. A login with the right code through the real libpam
(pam_wrapper + pamtester) and the built pam_twostep.so must:
  - be refused (the new replay floor cannot be written, so accepting would
    let the same code in again),
  - say why in the log ("No space left on device"), not the code,
  - leave the secret file byte for byte as it was, and no temp file behind.
Once space is freed, the same code logs in: it was not consumed.

Usage: test_full_disk.py --module PAM_TWOSTEP_SO --enroll-tool TWOSTEP_ENROLL
Needs root (mount); exits 77 (skipped) otherwise."""

import argparse
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from twostep_harness import SKIP_CODE, check, failure_count  # noqa: E402


def oathtool_now(key):
    # Not too close to the end of a step: the code is used twice below.
    if 30 - int(time.time()) % 30 < 8:
        time.sleep(30 - int(time.time()) % 30 + 0.5)
    return subprocess.run(["oathtool", "--totp", "-b", key], capture_output=True, text=True,
                          check=True).stdout.strip()


def login(service_dir, code):
    """(logged in?, everything libpam and the module logged)."""
    env = dict(os.environ, LD_PRELOAD="libpam_wrapper.so", PAM_WRAPPER="1",
               PAM_WRAPPER_SERVICE_DIR=service_dir, PAM_WRAPPER_DEBUGLEVEL="3")
    result = subprocess.run(["pamtester", "twostep-full-disk", "root", "authenticate"],
                            input=code + "\n", capture_output=True, text=True, env=env,
                            timeout=30)
    ok = result.returncode == 0 and "successfully authenticated" in result.stdout
    return ok, result.stderr


def fill(directory):
    """Writes a filler file until the file system says ENOSPC."""
    filler = os.path.join(directory, "filler")
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 512)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
    return filler


def inside_namespace(args, work):
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mnt],
                   check=True)
    secret = os.path.join(mnt, "root")
    enrolled = subprocess.run([args.enroll_tool, "--secret-file", secret, "--no-confirm",
                               "--print-uri", "--qr", "none", "--backup-codes", "0",
                               "--rate-limit", "off"], capture_output=True, text=True)
    check(enrolled.returncode == 0, "enrolled on the small tmpfs")
    key = re.search(r"secret=([A-Z2-7]+)", enrolled.stdout).group(1)
    with open(secret, "rb") as f:
        before = f.read()

    service_dir = os.path.join(work, "pam.d")
    os.mkdir(service_dir)
    with open(os.path.join(service_dir, "twostep-full-disk"), "w") as f:
        f.write("auth required %s secret=%s\n" % (args.module, secret))

    filler = fill(mnt)
    code = oathtool_now(key)
    ok, log = login(service_dir, code)
    check(not ok, "the right code is refused while the disk is full")
    check("No space left on device" in log, "the log says the disk is full")
    check(re.search(r"twostep: user=root .*result=error reason=file_error", log) is not None,
          "the audit line records a file error")
    check(re.search(r"(?<!\d)%s(?!\d)" % code, log) is None, "the code is not in the log")
    with open(secret, "rb") as f:
        check(f.read() == before, "the secret file is byte for byte as before")
    leftovers = sorted(set(os.listdir(mnt)) - {"root", "filler"})
    check(leftovers == [], "no temp file left behind (%s)" % leftovers)

    os.unlink(filler)
    ok, log = login(service_dir, code)
    check(ok, "with space again, the same code logs in (it was not consumed)")
    ok, _ = login(service_dir, code)
    check(not ok, "and then it is used up")
    subprocess.run(["umount", mnt], check=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", required=True)
    parser.add_argument("--enroll-tool", required=True)
    parser.add_argument("--in-namespace", metavar="WORKDIR")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (mounts a small tmpfs in a private mount namespace)")
        return SKIP_CODE
    if args.in_namespace:
        inside_namespace(args, args.in_namespace)
        return 1 if failure_count() else 0
    work = tempfile.mkdtemp(prefix="twostep-full-disk-")
    try:
        # A private mount namespace: the tmpfs is never visible outside it
        # and disappears with it, even if this test is killed.
        result = subprocess.run(["unshare", "--mount", "--propagation", "private",
                                 sys.executable, os.path.abspath(__file__),
                                 "--module", args.module, "--enroll-tool", args.enroll_tool,
                                 "--in-namespace", work])
        return result.returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
