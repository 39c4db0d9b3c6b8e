#!/usr/bin/env python3
"""twostep-enroll --force and --remove against a login in progress.

A login holds the secret file's exclusive lock while it verifies, then
writes its new state (temp file + rename) and unlocks. Before, --force
renamed the new enrollment in without the lock and --remove unlinked the
file without it, so a login that held the lock for 500 ms wrote the old
key back over the re-enrollment, or brought a removed file back. The
enroll tool's result must always win.

(--remove used to read the file under a shared lock before its bare unlink,
which happens to wait for this login; a login that locks between that read
and the unlink still brought the file back. The core test
test_secret_store/test_remove_during_login_wins races the unlink itself.)

The login here follows the module's writer protocol exactly (flock the
file, check the path still names it, read, write a temp file in the same
directory, fsync, rename over, unlock), with a 500 ms pause under the lock.
"""

import fcntl
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from enrolltest import (EXIT_OK, check, cleanup, finish, run, secret_of,  # noqa: E402
                        workdir)

TOOL = sys.argv[1]
ROUNDS = 3


def slow_login(path, locked, done):
    """Locks, waits 500 ms, writes back what it read (plus a replay floor)."""
    while True:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # replaced meanwhile: lock the new file, as the module does
    try:
        content = os.read(fd, 65536)
        locked.set()
        time.sleep(0.5)
        temp = os.path.join(os.path.dirname(path), "..login-temp")
        out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(out, content)
        os.fsync(out)
        os.close(out)
        os.rename(temp, path)
    finally:
        os.close(fd)
        done.set()


def race(path, *enroll_args):
    locked, done = threading.Event(), threading.Event()
    login = threading.Thread(target=slow_login, args=(path, locked, done))
    login.start()
    locked.wait(5)
    result = run(TOOL, *enroll_args)
    login.join(10)
    return result


def main():
    tmp = workdir()
    try:
        secret = os.path.join(tmp, "secret")
        common = ["--secret-file", secret, "--issuer", "race", "--label", "u@race"]
        for round_ in range(ROUNDS):
            result = run(TOOL, "--no-confirm", "--print-uri", "--force", *common)
            check(result.returncode == EXIT_OK, "round %d: enrolled" % round_)
            old_key = secret_of(result.stdout)
            result = race(secret, "--no-confirm", "--print-uri", "--force", *common)
            new_key = secret_of(result.stdout) if result.returncode == EXIT_OK else None
            check(new_key is not None and new_key != old_key,
                  "round %d: --force during a login re-enrolls" % round_)
            shown = run(TOOL, "--show", "--print-uri", *common)
            check(shown.returncode == EXIT_OK and secret_of(shown.stdout) == new_key,
                  "round %d: after the login, the file holds the new key" % round_)

            result = race(secret, "--remove", "--no-confirm", "--secret-file", secret)
            check(result.returncode == EXIT_OK, "round %d: --remove during a login" % round_)
            check(not os.path.exists(secret),
                  "round %d: after the login, the file stays removed" % round_)
            left = [n for n in os.listdir(tmp) if n != "secret"]
            check(left == [], "round %d: no temp files left (%s)" % (round_, left))
    finally:
        cleanup(tmp)
    finish()


if __name__ == "__main__":
    main()
