#!/usr/bin/python3
"""Options, exit codes and the lifecycle modes: --help lists every flag and
the exit codes; usage errors exit 1; --status shows no secret; --show gives
back the same URI; --add-token, --regenerate-backup-codes, --remove;
--force replaces; --secret-file expands like secret=; root enrolling another
user sets the owner."""

import os
import pwd
import re
import sys

from enrolltest import *  # noqa: F401,F403

TOOL = sys.argv[1]

FLAGS = ["--help", "--show", "--status", "--remove", "--add-token", "--regenerate-backup-codes",
         "--user", "--secret-file", "--format", "--file-owner", "--issuer", "--label", "--token",
         "--algorithm", "--digits", "--period", "--hotp", "--window", "--backup-codes",
         "--rate-limit", "--qr", "--png", "--svg", "--print-uri", "--no-confirm", "--force",
         "--quiet", "--json"]


def help_lists_everything():
    result = run(TOOL, "--help")
    check(result.returncode == EXIT_OK, "--help exits 0")
    missing = [flag for flag in FLAGS if not re.search(r"(^|[ ,])%s\b" % re.escape(flag),
                                                       result.stdout, re.M)]
    check(missing == [], "--help lists every flag (missing: %r)" % missing)
    check("130 interrupted" in result.stdout and "3 confirmation failed" in result.stdout,
          "--help footer documents the exit codes")


def usage_errors(tmp):
    secret = os.path.join(tmp, "never")
    cases = [["--no-such-flag"], ["--digits", "9"], ["--period", "0"], ["--window", "11"],
             ["--backup-codes", "33"], ["--qr", "sixel"], ["--rate-limit", "3"],
             ["--rate-limit", "0/30"], ["--status", "--remove"], ["--status", "--algorithm", "SHA256"],
             ["--remove", "--png", "x.png"], ["--hotp", "--period", "60"], ["--token", "bad name"],
             ["--user", "no-such-user-twostep"], ["--secret-file", "relative/path"],
             ["--secret-file", os.path.join(tmp, "$SHELL")], ["--secret-file", os.path.join(tmp, "%x")],
             ["--secret-file", "~root/.twostep"], ["--secret-file", os.path.join(tmp, "..", "x")]]
    for args in cases:
        result = run(TOOL, "--no-confirm", "--secret-file", secret, *args)
        check(result.returncode == EXIT_USAGE and result.stderr.strip() != "",
              "usage error exits 1 with a message: %s" % " ".join(args))
    check(not os.path.exists(secret), "no usage error wrote a file")


def lifecycle(tmp):
    secret = os.path.join(tmp, "secret")
    common = ["--secret-file", secret, "--issuer", "myhost", "--label", "alice@myhost"]
    result = run(TOOL, "--status", "--secret-file", secret)
    check(result.returncode == EXIT_NOT_ENROLLED, "--status before enrolling exits 5")

    result = run(TOOL, "--no-confirm", "--print-uri", "--backup-codes", "4", *common)
    check(result.returncode == EXIT_OK, "provisioned")
    uri = result.stdout.strip()
    key = secret_of(uri)
    first_codes = re.findall(r"^\s*(\d{8})$", result.stderr, re.M)
    check(len(first_codes) == 4, "--backup-codes 4 shows four codes")

    result = run(TOOL, "--status", "--secret-file", secret)
    shown = result.stdout + result.stderr
    check(result.returncode == EXIT_OK and "phone: TOTP, SHA1, 6 digits, every 30 s" in shown
          and "Backup codes:  4 left" in shown and "never used" in shown,
          "--status describes the token and the codes left")
    check(key not in shown and not any(c in shown for c in first_codes),
          "--status shows no secret")

    result = run(TOOL, "--show", "--secret-file", secret)
    check(result.returncode == EXIT_USAGE and key not in result.stdout + result.stderr,
          "--show refuses to print the secret to a non-terminal")
    result = run(TOOL, "--show", "--print-uri", *common)
    check(result.returncode == EXIT_OK and result.stdout.strip() == uri,
          "--show --print-uri gives back the same URI")
    png = os.path.join(tmp, "show.png")
    result = run(TOOL, "--show", "--png", png, *common)
    check(result.returncode == EXIT_OK and zbar_decode(png) == uri, "--show --png holds the URI")
    os.unlink(png)

    result = run(TOOL, "--add-token", "--no-confirm", "--print-uri", "--algorithm", "SHA256",
                 *common)
    check(result.returncode == EXIT_OK and "algorithm=SHA256" in result.stdout,
          "--add-token adds a SHA256 token")
    result = run(TOOL, "--status", "--secret-file", secret)
    check("spare: TOTP, SHA256" in result.stdout and "Tokens:        2" in result.stdout,
          "--status lists both tokens")
    result = run(TOOL, "--add-token", "--no-confirm", "--print-uri", *common)
    check(result.returncode == EXIT_REFUSED, "a second \"spare\" is refused with exit 2")
    result = run(TOOL, "--show", "--print-uri", "--token", "spare", *common)
    check(result.returncode == EXIT_OK and "algorithm=SHA256" in result.stdout,
          "--show --token spare shows the second token")

    result = run(TOOL, "--regenerate-backup-codes", "--backup-codes", "6", "--quiet",
                 "--secret-file", secret)
    new_codes = re.findall(r"^(\d{8})$", result.stdout, re.M)
    check(result.returncode == EXIT_OK and len(new_codes) == 6,
          "--regenerate-backup-codes shows six new codes")
    result = run(TOOL, "--status", "--secret-file", secret)
    check("Backup codes:  6 left" in result.stdout, "the old codes are gone, six left")

    with open(secret) as f:
        before = f.read()
    result = run(TOOL, "--no-confirm", *common)
    check(result.returncode == EXIT_REFUSED, "re-enrolling without --force exits 2")
    result = run(TOOL, "--no-confirm", "--force", "--print-uri", *common)
    check(result.returncode == EXIT_OK and secret_of(result.stdout) != key,
          "--force replaces the enrollment with a new key")
    with open(secret) as f:
        check(f.read() != before and mode_of(secret) == 0o600, "replaced file is mode 0600")

    result = run(TOOL, "--remove", "--secret-file", secret, stdin="no\n")
    check(result.returncode == EXIT_REFUSED and os.path.exists(secret),
          "--remove answered \"no\" keeps the file (exit 2)")
    result = run(TOOL, "--remove", "--secret-file", secret, stdin="yes\n")
    check(result.returncode == EXIT_OK and not os.path.exists(secret),
          "--remove answered \"yes\" deletes the file")
    result = run(TOOL, "--remove", "--secret-file", secret)
    check(result.returncode == EXIT_NOT_ENROLLED, "--remove of nothing exits 5")

    other = os.path.join(tmp, "not-a-secret")
    with open(other, "w") as f:
        f.write("important\n")
    os.chmod(other, 0o600)
    result = run(TOOL, "--remove", "--no-confirm", "--secret-file", other)
    check(result.returncode == EXIT_REFUSED and os.path.exists(other),
          "--remove refuses a file that is not a secret file (without --force)")


def secret_file_expansions(tmp):
    """--secret-file expands like pam_twostep's secret=: %u and ${USER} name
    the same file, %% is a percent sign."""
    me = pwd.getpwuid(os.getuid()).pw_name
    directory = os.path.join(tmp, "central")
    os.mkdir(directory, 0o700)
    result = run(TOOL, "--no-confirm", "--secret-file", os.path.join(directory, "%u-100%%"))
    expected = os.path.join(directory, me + "-100%")
    check(result.returncode == EXIT_OK and os.path.exists(expected),
          "--secret-file DIR/%u-100%% writes DIR/<user>-100%")
    result = run(TOOL, "--status", "--secret-file", os.path.join(directory, "${USER}-100%%"))
    check(result.returncode == EXIT_OK, "${USER} names the same file as %u")


def root_enrolls_another_user(tmp):
    if os.geteuid() != 0:
        print("skip - root-only checks (not root)")
        return
    nobody = pwd.getpwnam("nobody")
    central = os.path.join(tmp, "central-nobody")
    result = run(TOOL, "--user", "nobody", "--no-confirm", "--secret-file", central)
    check(result.returncode == EXIT_OK and os.stat(central).st_uid == 0,
          "root: a file outside the user's home stays root-owned (central directory)")
    handed = os.path.join(tmp, "handed-to-nobody")
    result = run(TOOL, "--user", "nobody", "--no-confirm", "--file-owner", "user",
                 "--secret-file", handed)
    info = os.stat(handed) if os.path.exists(handed) else None
    check(result.returncode == EXIT_OK and info is not None and info.st_uid == nobody.pw_uid
          and info.st_gid == nobody.pw_gid and mode_of(handed) == 0o600,
          "root: --file-owner user chowns the file to the user, mode 0600")
    result = run(TOOL, "--user", "nobody", "--status", "--file-owner", "user",
                 "--secret-file", handed)
    check(result.returncode == EXIT_OK and "User:          nobody" in result.stdout,
          "root: --status of another user's file")
    result = run(TOOL, "--user", "nobody", "--no-confirm", "--print-uri", "--secret-file",
                 os.path.join(tmp, "label"))
    check("nobody%40" in result.stdout, "the default label names the target user")
    result = run(TOOL, "--user", "nobody", "--no-confirm", "--secret-file",
                 os.path.join(tmp, "per-user-%u"))
    per_user = os.path.join(tmp, "per-user-nobody")
    check(result.returncode == EXIT_OK and os.path.exists(per_user)
          and os.stat(per_user).st_uid == 0,
          "root: --user nobody --secret-file DIR/%u writes DIR/nobody, root-owned")


def main():
    tmp = workdir()
    try:
        help_lists_everything()
        usage_errors(tmp)
        lifecycle(tmp)
        secret_file_expansions(tmp)
        root_enrolls_another_user(tmp)
    finally:
        cleanup(tmp)
    finish()


main()
