#!/usr/bin/python3
"""groups= and skip_groups=: who is asked for a code, through real sshd and sudo.

Two enrolled users, IN (a supplementary member of a throwaway group) and OUT
(not a member). The service asks the module first, then pam_unix:

    auth required pam_twostep.so groups=GROUP
    auth required pam_unix.so

- sshd (keyboard-interactive) and sudo: IN is asked for the code and then
  the password; OUT is asked only for the password: the module answered
  PAM_IGNORE, so pam_unix decides: the right password logs OUT in, a wrong
  one is refused (never PAM_SUCCESS from the module itself).
- pamtester with skip_groups=GROUP: the other way round.
- twostep-check --user explains the decision for each user.
"""

import os
import sys
from typing import Optional

import harness as h

MARKER = "scope-e2e-42-ok"
# sudo asks "[sudo] password for NAME: ".
SUDO_PROMPTS = [("code", r"Verification code: ?"), ("password", r"[Pp]assword( for [^:\r\n]+)?: ?")]


def install_sudoers_dropin(users: list[h.User], service: str) -> None:
    path = os.path.join(h.SUDOERS_DIR, service)
    temp = os.path.join(h.SUDOERS_DIR, f".{service}.tmp")  # sudo ignores dotfiles
    h.register_owned_file(path)
    h.register_owned_file(temp)
    lines = ["# twostep e2e test drop-in; removed by the test"]
    for user in users:
        lines += [f"Defaults:{user.name} pam_service={service}",
                  f"Defaults:{user.name} passwd_tries=1, timestamp_timeout=0, !lecture",
                  f"{user.name} ALL=(root) ALL"]
    with open(temp, "w", encoding="ascii") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(temp, 0o440)
    h.run(["visudo", "-c", "-q", "-f", temp])
    os.rename(temp, path)


def sudo(user: h.User, answers: dict[str, list[str]]) -> tuple[bool, list[str]]:
    child = h.spawn_sudo(user, "echo scope-e2e-$((6*7))-ok")
    prompts, output = h.answer_prompts(child, answers, kinds=SUDO_PROMPTS)
    return child.exitstatus == 0 and MARKER in output, prompts


def check_tool_says(tool: Optional[str], service: str, user: h.User, expected: str) -> None:
    if not tool:
        return
    result = h.run([tool, "--service", service, "--user", user.name, "--offline"],
                   check_rc=False)
    said = expected in result.stdout
    h.check(said, f"twostep-check --user {user.name} says '{expected}'"
            + ("" if said else f"\n{result.stdout}"))


def body(module: h.ModuleUnderTest, check_tool: Optional[str]) -> None:
    inside, outside = h.create_user(), h.create_user()
    group = h.create_group([inside])
    enrolled = {user.name: module.enroll(user) for user in (inside, outside)}
    service = h.unique_name()
    h.write_pam_service(service, [module.auth_line() + f" groups={group}",
                                  "auth required pam_unix.so"])
    step = h.current_step()

    def code(user: h.User, offset: int) -> str:
        return h.totp(enrolled[user.name].secret_b32, step + offset)

    # sshd
    workdir = h.make_temp_dir()
    sshd = h.Sshd(workdir, service, [inside.name, outside.name], "keyboard-interactive").start()
    result = h.ssh_login(sshd, inside, workdir,
                         {"code": [code(inside, 0)], "password": [inside.password]})
    h.check(result.succeeded and result.prompts == ["code", "password"],
            f"ssh: a member of {group} is asked for the code ({result.prompts})"
            + ("" if result.succeeded else f"\n{result.transcript}\n{sshd.log()}"))
    result = h.ssh_login(sshd, outside, workdir, {"password": ["not-" + outside.password]})
    h.check(not result.succeeded and result.prompts == ["password"],
            f"ssh: out of scope, pam_unix decides: a wrong password is refused ({result.prompts})")
    result = h.ssh_login(sshd, outside, workdir, {"password": [outside.password]})
    h.check(result.succeeded and result.prompts == ["password"],
            f"ssh: out of scope, no code is asked; the password logs in ({result.prompts})")
    sshd.stop()

    # sudo
    install_sudoers_dropin([inside, outside], service)
    ok, prompts = sudo(inside, {"code": [code(inside, 1)], "password": [inside.password]})
    h.check(ok and prompts == ["code", "password"],
            f"sudo: a member of {group} is asked for the code ({prompts})")
    ok, prompts = sudo(outside, {"password": [outside.password]})
    h.check(ok and prompts == ["password"],
            f"sudo: out of scope, no code is asked; the password runs the command ({prompts})")

    # skip_groups=, through pamtester
    skip = h.unique_name()
    h.write_pam_service(skip, [module.auth_line() + f" skip_groups={group}",
                               "auth required pam_unix.so"])
    ok, transcript = h.pamtester_login(skip, inside.name, [inside.password])
    h.check(ok and "code" not in transcript.lower(),
            f"skip_groups: a member of {group} is not asked for a code")
    ok, transcript = h.pamtester_login(skip, outside.name, [code(outside, 0), outside.password])
    h.check(ok and "code" in transcript.lower(),
            "skip_groups: everyone else is asked for the code")

    check_tool_says(check_tool, service, inside, f"member of {group} (groups=)")
    check_tool_says(check_tool, service, outside, f"is out of scope: in none of groups={group}")


def main() -> int:
    extra = lambda parser: parser.add_argument("--check-tool", default=None)
    module, args = h.start_test(extra)
    if module.kind != "twostep" or not module.enroll_tool:
        raise SystemExit("needs --kind twostep and --enroll-tool")
    return h.run_scenario(lambda: body(module, args.check_tool))


if __name__ == "__main__":
    sys.exit(main())
