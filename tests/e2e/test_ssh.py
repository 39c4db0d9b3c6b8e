#!/usr/bin/python3
"""Real sshd + real ssh client with the module under test.

1. publickey,keyboard-interactive: right code logs in, wrong code is refused,
   the code that just logged in is refused when replayed.
2. keyboard-interactive with "pam_unix then module": password + code logs in;
   right password + wrong code is refused; wrong password never reaches the
   code prompt.
"""

import sys

import harness as h


def publickey_and_code(module: h.ModuleUnderTest, workdir: str) -> None:
    user = h.create_user()
    enrolled = module.enroll(user)
    key = h.install_client_key(user, workdir)
    service = h.unique_name()
    h.write_pam_service(service, [module.auth_line()])
    sshd = h.Sshd(workdir, service, [user.name], "publickey,keyboard-interactive").start()

    step = h.current_step()
    code = h.totp(enrolled.secret_b32, step)
    wrong = h.wrong_code(enrolled.secret_b32, step)

    result = h.ssh_login(sshd, user, workdir, {"code": [wrong]}, key=key)
    h.check(result.prompts == ["code"], f"wrong code: asked for the code once ({result.prompts})")
    h.check(not result.succeeded and "e2e-42-ok" not in result.transcript,
            "publickey + wrong code is refused")

    result = h.ssh_login(sshd, user, workdir, {"code": [code]}, key=key)
    h.check(result.succeeded, "publickey + right code logs in and runs the command"
            + ("" if result.succeeded else f"\n{result.transcript}\n{sshd.log()}"))

    result = h.ssh_login(sshd, user, workdir, {"code": [code]}, key=key)
    h.check(not result.succeeded, "the same code replayed is refused")

    result = h.ssh_login(sshd, user, workdir, {"code": [code]}, key=None)
    h.check(not result.succeeded and "code" not in result.prompts,
            "without the key, publickey,keyboard-interactive never reaches the code prompt")

    sshd.stop()


def password_and_code(module: h.ModuleUnderTest, workdir: str) -> None:
    user = h.create_user()
    enrolled = module.enroll(user)
    service = h.unique_name()
    # Mirrors a typical stack: the password must pass before the code is asked.
    h.write_pam_service(service, ["auth requisite pam_unix.so", module.auth_line()])
    sshd = h.Sshd(workdir, service, [user.name], "keyboard-interactive").start()

    step = h.current_step()
    code = h.totp(enrolled.secret_b32, step)
    wrong = h.wrong_code(enrolled.secret_b32, step)

    result = h.ssh_login(sshd, user, workdir, {"password": ["not-" + user.password]})
    h.check(not result.succeeded and result.prompts == ["password"],
            f"wrong password is refused before the code prompt ({result.prompts})")

    result = h.ssh_login(sshd, user, workdir, {"password": [user.password], "code": [wrong]})
    h.check(not result.succeeded and result.prompts == ["password", "code"],
            f"right password + wrong code is refused ({result.prompts})")

    result = h.ssh_login(sshd, user, workdir, {"password": [user.password], "code": [code]})
    h.check(result.succeeded and result.prompts == ["password", "code"],
            "password + right code logs in"
            + ("" if result.succeeded else f"\n{result.transcript}\n{sshd.log()}"))

    result = h.ssh_login(sshd, user, workdir, {"password": [user.password], "code": [code]})
    h.check(not result.succeeded, "password + replayed code is refused")
    sshd.stop()


def main() -> int:
    module, _ = h.start_test()

    def scenario() -> None:
        workdir = h.make_temp_dir()
        publickey_and_code(module, workdir)
        password_and_code(module, workdir)

    return h.run_scenario(scenario)


if __name__ == "__main__":
    sys.exit(main())
