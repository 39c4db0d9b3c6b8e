#!/usr/bin/python3
"""A site's pam_google_authenticator line, only the module name changed, under
real sshd: `nullok no_increment_hotp noskewadj echo-verification-code
grace_period=3600 [authtok_prompt=Verification code: ]`.

1. publickey + right code logs in (no PAM_SERVICE_ERR, no lockout).
2. A second login from the same host within the grace period needs no code.
3. The grace record is google-authenticator's own `" LAST0 127.0.0.1 <time>`
   line in ~/.google_authenticator (shared by both modules).
Run against pam_google_authenticator too (--kind ga), which validates the
scenario itself.
"""

import re
import sys

import harness as h

GA_ARGUMENTS = ("nullok no_increment_hotp noskewadj echo-verification-code grace_period=3600 "
                "[authtok_prompt=Verification code: ]")


def grace_period_over_ssh(module: h.ModuleUnderTest, workdir: str) -> None:
    user = h.create_user()
    enrolled = h.enroll_google_authenticator_cli(user)
    key = h.install_client_key(user, workdir)
    service = h.unique_name()
    h.write_pam_service(service, [f"auth required {module.path} {GA_ARGUMENTS}"])
    sshd = h.Sshd(workdir, service, [user.name], "publickey,keyboard-interactive").start()

    code = h.totp(enrolled.secret_b32, h.current_step())
    result = h.ssh_login(sshd, user, workdir, {"code": [code]}, key=key)
    h.check(result.succeeded and result.prompts == ["code"],
            f"the GA arguments as they were: publickey + code logs in ({result.prompts})"
            + ("" if result.succeeded else f"\n{result.transcript}\n{sshd.log()}"))

    with open(enrolled.path, encoding="ascii") as handle:
        text = handle.read()
    h.check(re.search(r'^" LAST0 127\.0\.0\.1 \d+$', text, re.M) is not None,
            "the login is recorded in the file's own \" LAST0 line")

    result = h.ssh_login(sshd, user, workdir, {"code": []}, key=key)
    h.check(result.succeeded and result.prompts == [],
            f"within grace_period the same host logs in without a code ({result.prompts})"
            + ("" if result.succeeded else f"\n{result.transcript}\n{sshd.log()}"))
    sshd.stop()


def main() -> int:
    module, _ = h.start_test()
    h.log(f"with: {GA_ARGUMENTS}")

    def scenario() -> None:
        grace_period_over_ssh(module, h.make_temp_dir())

    return h.run_scenario(scenario)


if __name__ == "__main__":
    sys.exit(main())
