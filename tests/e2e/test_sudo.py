#!/usr/bin/python3
"""Real sudo with the module under test.

sudo is pointed at a private PAM service through a sudoers drop-in
(Defaults:<user> pam_service=<service>), so /etc/pam.d/sudo is never touched.
Right code runs the command as root, wrong code is refused, the used code is
refused when replayed.
"""

import os
import subprocess
import sys
from typing import Optional

import harness as h

MARKER = "sudo-e2e-42-ok"


def install_sudoers_dropin(user: h.User, service: str) -> None:
    with open("/etc/sudoers", encoding="utf-8") as handle:
        if "includedir /etc/sudoers.d" not in handle.read():
            raise h.TestFailure("/etc/sudoers does not include /etc/sudoers.d")
    path = os.path.join(h.SUDOERS_DIR, service)
    if os.path.exists(path):
        raise h.TestFailure(f"{path} already exists")
    content = (
        "# twostep e2e test drop-in; removed by the test\n"
        f"Defaults:{user.name} pam_service={service}\n"
        f"Defaults:{user.name} passwd_tries=1, timestamp_timeout=0, !lecture\n"
        f"{user.name} ALL=(root) ALL\n")
    temp = os.path.join(h.SUDOERS_DIR, f".{service}.tmp")  # sudo ignores dotfiles
    h.register_owned_file(path)
    h.register_owned_file(temp)
    with open(temp, "w", encoding="ascii") as handle:
        handle.write(content)
    os.chmod(temp, 0o440)
    h.run(["visudo", "-c", "-q", "-f", temp])
    os.rename(temp, path)
    # The whole policy must still parse with the drop-in in place.
    result = h.run(["visudo", "-c", "-q"], check_rc=False)
    if result.returncode != 0:
        os.unlink(path)
        raise h.TestFailure(f"visudo -c failed with the drop-in: {result.stderr.strip()}")


def sudo_as(user: h.User, code: str) -> tuple[bool, list[str], str]:
    """`sudo sh -c ...` run by `user` on a pty, answering the code prompt."""
    child = h.spawn_sudo(user, "echo sudo-e2e-$((6*7))-ok uid=$(id -u)")
    prompts, output = h.answer_prompts(child, {"code": [code]})
    succeeded = child.exitstatus == 0 and f"{MARKER} uid=0" in output
    return succeeded, prompts, output


def main() -> int:
    module, _ = h.start_test()

    def scenario() -> None:
        user = h.create_user()
        enrolled = module.enroll(user)
        service = h.unique_name()
        h.write_pam_service(service, [module.auth_line()])
        install_sudoers_dropin(user, service)

        step = h.current_step()
        code = h.totp(enrolled.secret_b32, step)
        wrong = h.wrong_code(enrolled.secret_b32, step)

        ok, prompts, output = sudo_as(user, wrong)
        h.check(prompts == ["code"], f"sudo shows the verification code prompt ({prompts})")
        h.check(not ok and MARKER not in output, "sudo with a wrong code is refused")

        ok, prompts, output = sudo_as(user, code)
        h.check(ok, "sudo with the right code runs the command as root"
                + ("" if ok else f"\n{output}"))

        ok, prompts, output = sudo_as(user, code)
        h.check(not ok and MARKER not in output, "sudo with the replayed code is refused")

    def sudoers_still_parses() -> Optional[str]:
        leftover = subprocess.run(["visudo", "-c", "-q"], capture_output=True).returncode
        return None if leftover == 0 else "sudoers does not parse after cleanup"

    return h.run_scenario(scenario, sudoers_still_parses)


if __name__ == "__main__":
    sys.exit(main())
