#!/usr/bin/python3
"""The interactive wizard in a real pty: a wrong code is refused and nothing
is written (the --png is removed again); the right code from oathtool writes
the file mode 0600 and shows the backup codes once; Ctrl-C at the prompt
leaves nothing behind; an existing enrollment is never overwritten."""

import os
import signal
import sys

from enrolltest import *  # noqa: F401,F403

TOOL = sys.argv[1]


def start_wizard(tmp, *extra):
    secret = os.path.join(tmp, "secret")
    child = spawn(TOOL, "--secret-file", secret, *extra, rows=40, columns=100)
    child.expect(KEY_RE)
    key = child.match.group(1).replace(" ", "")
    child.expect_exact(PROMPT)
    return child, secret, key


def wrong_codes_write_nothing(tmp):
    child, secret, key = start_wizard(tmp, "--png", os.path.join(tmp, "qr.png"))
    check(os.path.exists(os.path.join(tmp, "qr.png")), "the PNG exists while scanning")
    for attempt in range(3):
        child.sendline(wrong_code(key))
        if attempt < 2:
            child.expect_exact("That code does not match.")
            child.expect_exact(PROMPT)
    child.expect(pexpect.EOF)
    child.close()
    check(child.exitstatus == EXIT_CONFIRM_FAILED, "three wrong codes exit 3 (%s)"
          % child.exitstatus)
    check("nothing was written" in child.before, "the user is told nothing was written")
    check(os.listdir(tmp) == [], "no secret file, no PNG, no temp file: %r" % os.listdir(tmp))


def right_code_writes_file(tmp):
    child, secret, key = start_wizard(tmp)
    child.sendline("12ab")
    child.expect_exact("That is not a 6-digit code.")
    child.expect_exact(PROMPT)
    wait_for_fresh_step()
    child.sendline(oathtool(key))
    child.expect_exact("they will not be shown again:")
    child.expect(pexpect.EOF)
    child.close()
    codes = [line.strip() for line in child.before.split("\n") if line.strip().isdigit()]
    check(child.exitstatus == EXIT_OK, "the right code exits 0 (%s)" % child.exitstatus)
    check(os.path.exists(secret) and mode_of(secret) == 0o600, "secret file written mode 0600")
    check(len(codes) == 8 and all(len(c) == 8 for c in codes),
          "8 backup codes of 8 digits shown (%d)" % len(codes))
    with open(secret) as f:
        content = f.read()
    check(key in content and "last-step=" in content,
          "the file holds the key and the confirmed step as replay floor")
    check(not any(code in content for code in codes), "backup codes are stored hashed only")
    leftovers = [n for n in os.listdir(tmp) if n != "secret"]
    check(leftovers == [], "no temporary files: %r" % leftovers)

    # An existing enrollment is never overwritten without --force.
    before = content
    result = run(TOOL, "--secret-file", secret, "--no-confirm")
    check(result.returncode == EXIT_REFUSED and "already" in result.stderr,
          "a second enrollment is refused with exit 2")
    with open(secret) as f:
        check(f.read() == before, "the existing file is unchanged")
    os.unlink(secret)


def ctrl_c_leaves_nothing(tmp):
    child, secret, key = start_wizard(tmp, "--png", os.path.join(tmp, "qr.png"),
                                      "--svg", os.path.join(tmp, "qr.svg"))
    child.send("12")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    check(child.exitstatus == EXIT_INTERRUPTED, "Ctrl-C exits 130 (%s, signal %s)"
          % (child.exitstatus, child.signalstatus))
    check("Interrupted; nothing was written." in child.before, "the user is told")
    check(os.listdir(tmp) == [], "no file left after Ctrl-C: %r" % os.listdir(tmp))


def sigterm_leaves_nothing(tmp):
    child, secret, key = start_wizard(tmp, "--png", os.path.join(tmp, "qr.png"))
    child.kill(signal.SIGTERM)
    child.expect(pexpect.EOF)
    child.close()
    check(child.exitstatus == EXIT_INTERRUPTED, "SIGTERM at the prompt exits 130")
    check(os.listdir(tmp) == [], "no file left after SIGTERM: %r" % os.listdir(tmp))


def end_of_input_fails(tmp):
    child, secret, key = start_wizard(tmp)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    check(child.exitstatus == EXIT_CONFIRM_FAILED and not os.path.exists(secret),
          "end of input at the prompt exits 3 and writes nothing")


def add_token_confirmed(tmp):
    secret = os.path.join(tmp, "secret")
    check(run(TOOL, "--no-confirm", "--secret-file", secret).returncode == EXIT_OK,
          "provisioned a first token")
    child = spawn(TOOL, "--add-token", "--secret-file", secret, "--digits", "8",
                  rows=40, columns=100)
    child.expect(KEY_RE)
    key = child.match.group(1).replace(" ", "")
    child.expect_exact(PROMPT)
    child.sendline(wrong_code(key, digits=8))
    child.expect_exact(PROMPT)
    wait_for_fresh_step()
    child.sendline(oathtool(key, digits=8))
    child.expect(pexpect.EOF)
    child.close()
    status = run(TOOL, "--status", "--secret-file", secret).stdout
    check(child.exitstatus == EXIT_OK and "spare: TOTP, SHA1, 8 digits" in status,
          "--add-token with a confirmed oathtool code adds \"spare\"")
    os.unlink(secret)


def main():
    tmp = workdir()
    try:
        wrong_codes_write_nothing(tmp)
        right_code_writes_file(tmp)
        ctrl_c_leaves_nothing(tmp)
        sigterm_leaves_nothing(tmp)
        end_of_input_fails(tmp)
        add_token_confirmed(tmp)
    finally:
        cleanup(tmp)
    finish()


main()
