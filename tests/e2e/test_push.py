#!/usr/bin/python3
"""Push approval with the real programs (issue 13): twostepd on loopback, the
test device paired through `twostep-enroll --push --user` in a pty, then

- real sshd + the real OpenSSH client (keyboard-interactive): the number
  travels inside a prompt (Debian's sshd holds info messages back until the
  next prompt, OpenSSH bug 2876): Enter, approve on the phone, Enter;
- real sudo (PAM_SILENT, info messages shown at once): Enter, the number is
  printed, and the command runs the moment the phone approves, with no
  further keystroke; a wrong number is refused;
- real su (its PAM service bind-mounted in a private mount namespace, as in
  test_su.py): the same as sudo;
- the signed context (issue 20): the phone sees sudo's command line (a long
  one cut in the middle, control characters as '?'), su's target user and,
  over ssh from loopback, "this computer"; a relay that shows the phone
  another command gets the sudo refused (tests/push/lying_relay.py in front
  of the real twostepd);
- every push outcome ends with the line docs/admin-guide.md lists, read from
  the terminal (issue 18 item 2): over ssh, no answer (push_timeout=5 passes)
  then a denial in one connection; over sudo the wrong number, no answer, a
  push cancelled by a newer one for the same account, and a refusal by the
  relay (the device revoked there: no_devices).

Usage: test_push.py --module pam_twostep.so --kind twostep --enroll twostep-native
                    --enroll-tool twostep-enroll --twostepd twostepd
"""

import os
import sys

import pexpect

import harness as h
from test_sudo import install_sudoers_dropin

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "push"))
from pushtest import Relay, ORIGIN, HOST_NAME, PUSH_PROMPT, pair_device, spawn_enroll_push  # noqa: E402
from lying_relay import LyingRelay  # noqa: E402
import pushtest  # noqa: E402
import twostep_device  # noqa: E402  (pushtest put tests/device on the path)

MARKER = "e2e-42-ok"
NO_ANSWER = "No answer from the phone in time."
DENIED = "The login was denied on the phone."
CANCELLED = "The push was cancelled before the phone answered."
WRONG_NUMBER = "The number entered on the phone was not the one shown here."
NOT_THIS_LOGIN = "The approval was not for this login; the push was refused."
SUDO_COMMAND = "sudo -k /bin/sh -c 'echo e2e-$((6*7))-ok'"  # as the phone shows it


def pending(device):
    return pushtest.pending(device, timeout=15)



def main() -> int:
    module, args = h.start_test(lambda p: p.add_argument("--twostepd", required=True))

    def scenario() -> None:
        workdir = h.make_temp_dir()
        relay = Relay(os.path.abspath(args.twostepd), workdir)
        relay.start()
        h.CLEANUP.add("twostepd", relay.stop, ("twostepd", str(relay.proc.pid), relay.db))
        secret_path = os.path.join(workdir, "push.secret")
        fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (relay.host_secret + "\n").encode())
        os.close(fd)
        conf = os.path.join(workdir, "push.conf")
        with open(conf, "w") as f:
            f.write("relay %s\nhost_id %s\nhost_name %s\napprover_origin %s\n"
                    "host_secret_file %s\n" % (relay.url, relay.host_id, HOST_NAME, ORIGIN,
                                               secret_path))
        os.chmod(conf, 0o644)

        user = h.create_user()
        enrolled = module.enroll(user)
        phone = twostep_device.Device.create(os.path.join(workdir, "phone.json"), origin=ORIGIN,
                                             relay=relay.url, name="Pixel 8")
        child = spawn_enroll_push(module.enroll_tool, "--user", user.name, "--push-config", conf)
        status, shown, code, _ = pair_device(child, phone)
        h.check(shown == code, "pairing: both screens show " + code)
        h.check(status == 0, "twostep-enroll --push --user paired the phone")

        service = h.unique_name()

        def push_timeout(seconds):
            """The service's push_timeout=; libpam reads the file at each login."""
            h.write_pam_service(service, [module.auth_line() + " push push_config=%s "
                                          "push_timeout=%d" % (conf, seconds)])

        push_timeout(30)

        # --- sshd + ssh: the number inside a prompt -----------------------
        key = h.install_client_key(user, workdir)
        sshd = h.Sshd(workdir, service, [user.name], "publickey,keyboard-interactive").start()
        known_hosts = os.path.join(workdir, "known_hosts")

        def spawn_ssh(*options):
            return pexpect.spawn("ssh", ["-F", "/dev/null", "-p", str(sshd.port),
                                         "-o", "UserKnownHostsFile=" + known_hosts,
                                         "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=no",
                                         "-o", "IdentitiesOnly=yes", *options, "-i", key, "-T",
                                         "%s@127.0.0.1" % user.name, "echo e2e-$((6*7))-ok"],
                                 encoding="utf-8", timeout=40)

        ssh = spawn_ssh()
        ssh.expect_exact(PUSH_PROMPT)
        ssh.sendline("")
        ssh.expect(r"approve with the number (\d\d), then press Enter here")
        number = int(ssh.match.group(1))
        view = pending(phone)
        h.check(view["context"] == {"command": "", "target_user": "", "location": "this computer"},
                "ssh from 127.0.0.1: the phone shows the location 'this computer': %r"
                % view["context"])
        phone.approve(view["id"], number)
        ssh.sendline("")
        ssh.expect(pexpect.EOF)
        ssh.close()
        h.check(ssh.exitstatus == 0 and MARKER in ssh.before,
                "ssh: Enter, number shown in the prompt, approve, Enter: logged in"
                + ("" if ssh.exitstatus == 0 else "\n" + ssh.before + sshd.log()))

        # --- ssh: why a push failed, shown with the next prompt ------------
        push_timeout(5)
        ssh = spawn_ssh("-o", "NumberOfPasswordPrompts=2")
        ssh.expect_exact(PUSH_PROMPT)
        ssh.sendline("")
        ssh.expect(r"approve with the number \d\d, then press Enter here")
        ssh.sendline("")  # the phone never answers
        ssh.expect_exact(NO_ANSWER)
        ssh.expect_exact(PUSH_PROMPT)
        h.check(True, "ssh: no answer within push_timeout: the terminal says " + NO_ANSWER)
        ssh.sendline("")
        ssh.expect(r"approve with the number \d\d, then press Enter here")
        phone.deny(pending(phone)["id"])
        ssh.sendline("")
        ssh.expect_exact(DENIED)
        ssh.expect(pexpect.EOF)
        ssh.close()
        h.check(ssh.exitstatus != 0, "ssh: denied on the phone: the terminal says " + DENIED)
        sshd.stop()
        push_timeout(30)

        # --- sudo: number shown at once, no keystroke after the approval --
        install_sudoers_dropin(user, service)

        def sudo_push(command=("/bin/sh", "-c", "echo e2e-$((6*7))-ok")):
            """sudo run by the user, Enter for a push: (sudo, the number shown)."""
            child = pexpect.spawn("runuser", ["-u", user.name, "--", "sudo", "-k", *command],
                                  encoding="utf-8", timeout=40)
            child.expect_exact(PUSH_PROMPT)
            child.sendline("")
            child.expect(r"approve with the number (\d\d)\.")
            return child, int(child.match.group(1))

        def ended(child):
            """(ran the command?, what the terminal showed after the number)."""
            child.expect(pexpect.EOF)
            child.close()
            return child.exitstatus == 0 and MARKER in child.before, child.before

        def sudo(number_offset, seen=None):
            child, shown = sudo_push()
            view = pending(phone)
            if seen is not None:
                seen.append(view)
            phone.approve(view["id"], (shown + number_offset) % 100)
            return ended(child)

        seen = []
        ok, out = sudo(0, seen)
        h.check(ok, "sudo: number printed under PAM_SILENT, approve: runs without a keystroke"
                + ("" if ok else "\n" + out))
        h.check(seen[0]["context"] == {"command": SUDO_COMMAND, "target_user": "", "location": ""},
                "sudo: the phone showed and signed the command line %r" % seen[0]["context"])

        # A long command with a control character: cut in the middle, '?'.
        child, _ = sudo_push(("/bin/echo", "\x1b[2J" + "x" * 300, "last-words"))
        command = pending(phone)["context"]["command"]
        phone.deny(pending(phone)["id"])
        ended(child)
        h.check(command.startswith("sudo -k /bin/echo '?[2Jxxx") and " \u2026 " in command
                and command.endswith("xxx' last-words") and len(command.encode()) <= 200,
                "sudo: a long command is cut visibly in the middle, ESC shown as '?': %r" % command)

        # A relay that shows the phone another command: the phone signs what
        # it saw, and the module refuses.
        lying = LyingRelay(relay.url, lambda v: v["context"].update(command="sudo -k /bin/true"))
        h.CLEANUP.add("lying relay", lying.stop)
        liar = twostep_device.Device.load(phone.path)
        liar.state["relay"] = lying.url
        child, shown = sudo_push()
        view = pending(liar)  # as the liar shows it
        liar.approve(view["id"], shown)
        ok, out = ended(child)
        phone.state = twostep_device.Device.load(phone.path).state
        phone.state["relay"] = relay.url
        phone.save()
        h.check(not ok and NOT_THIS_LOGIN in out and view["context"]["command"] == "sudo -k /bin/true",
                "sudo: a relay that rewrote the command on the phone is refused: " + NOT_THIS_LOGIN
                + "\n" + out)
        ok, out = sudo(1)
        h.check(not ok and WRONG_NUMBER in out,
                "sudo: the wrong number on the phone is refused: " + WRONG_NUMBER + "\n" + out)

        push_timeout(5)
        ok, out = ended(sudo_push()[0])  # the phone never answers
        h.check(not ok and NO_ANSWER in out,
                "sudo: no answer within push_timeout: " + NO_ANSWER + "\n" + out)
        push_timeout(30)

        # A newer push for the same account cancels the pending one.
        first, _ = sudo_push()
        pending(phone)
        second, number = sudo_push()
        first.expect_exact(CANCELLED)
        phone.approve(pending(phone)["id"], number)
        ok, out = ended(first)
        h.check(not ok, "sudo: a push cancelled by a newer one: " + CANCELLED)
        ok, out = ended(second)
        h.check(ok, "sudo: the newer push is approved" + ("" if ok else "\n" + out))

        # --- su: /etc/pam.d/su bind-mounted in a private mount namespace ----
        su_service = os.path.join(workdir, "su-service")
        with open(su_service, "w", encoding="ascii") as handle:
            handle.write(module.auth_line() + " push push_config=%s push_timeout=30\n" % conf +
                         "account required pam_unix.so\nsession required pam_permit.so\n")
        os.chmod(su_service, 0o644)
        caller = h.create_user()
        script = ('mount --bind "%s" /etc/pam.d/su && exec runuser -u "%s" -- su "%s" -c '
                  '"echo e2e-\\$((6*7))-ok"' % (su_service, caller.name, user.name))
        child = pexpect.spawn("unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c",
                                          script], encoding="utf-8", timeout=40)
        child.expect_exact(PUSH_PROMPT)
        child.sendline("")
        child.expect(r"approve with the number (\d\d)\.")
        view = pending(phone)
        h.check(view["context"] == {"command": "", "target_user": user.name, "location": ""},
                "su: the phone shows the target user: %r" % view["context"])
        phone.approve(view["id"], int(child.match.group(1)))
        child.expect(pexpect.EOF)
        child.close()
        h.check(child.exitstatus == 0 and MARKER in child.before,
                "su: number shown at once, approve: in without a keystroke"
                + ("" if child.exitstatus == 0 else "\n" + child.before))

        # --- a refusal by the relay: the pairing revoked there ---------------
        listed = relay.admin("device", "list", "--user", user.name)
        for line in listed.splitlines()[1:]:
            relay.admin("device", "revoke", line.split()[0])
        child = pexpect.spawn("runuser", ["-u", user.name, "--", "sudo", "-k", "/bin/true"],
                              encoding="utf-8", timeout=40)
        child.expect_exact(PUSH_PROMPT)
        child.sendline("")
        ok, out = ended(child)
        h.check(not ok and "The push was refused (no_devices)." in out,
                "sudo: refused by the relay: The push was refused (no_devices).\n" + out)

    return h.run_scenario(scenario)


if __name__ == "__main__":
    sys.exit(main())
