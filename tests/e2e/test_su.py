#!/usr/bin/python3
"""Real su (util-linux, setuid root) with the module under test.

su's PAM service name "su" is compiled in, so the test runs su inside a
private mount namespace (unshare -m) where a temporary service file is
bind-mounted over /etc/pam.d/su. The host's /etc/pam.d/su is never changed
(checked before and after). Unprivileged user B runs `su A`; A owns the
secret file, so the code proves A's second factor.
"""

import hashlib
import os
import sys

import harness as h

MARKER = "su-e2e-42-ok"
SU_SERVICE = h.SU_SERVICE


def file_digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def write_namespace_service(workdir: str, module: h.ModuleUnderTest) -> str:
    path = os.path.join(workdir, "su-service")
    with open(path, "w", encoding="ascii") as handle:
        handle.write("# twostep e2e: bind-mounted over /etc/pam.d/su in a private namespace\n"
                     f"{module.auth_line()}\n"
                     "account required pam_unix.so\n"
                     "session required pam_permit.so\n")
    os.chmod(path, 0o644)
    return path


def su_login(service_file: str, caller: h.User, target: h.User, code: str
             ) -> tuple[bool, list[str], str]:
    child = h.spawn_su(service_file, caller, target,
                       "echo su-e2e-\\$((6*7))-ok user=\\$(id -un)")
    prompts, output = h.answer_prompts(child, {"code": [code]})
    succeeded = child.exitstatus == 0 and f"{MARKER} user={target.name}" in output
    return succeeded, prompts, output


def main() -> int:
    module, _ = h.start_test()
    before = file_digest(SU_SERVICE)

    def scenario() -> None:
        workdir = h.make_temp_dir()
        target = h.create_user()
        caller = h.create_user()
        enrolled = module.enroll(target)
        service_file = write_namespace_service(workdir, module)

        step = h.current_step()
        code = h.totp(enrolled.secret_b32, step)
        wrong = h.wrong_code(enrolled.secret_b32, step)

        ok, prompts, output = su_login(service_file, caller, target, wrong)
        h.check(prompts == ["code"], f"su shows the verification code prompt ({prompts})")
        h.check(not ok and MARKER not in output, "su with a wrong code is refused")

        ok, prompts, output = su_login(service_file, caller, target, code)
        h.check(ok, "su with the right code runs the command as the target user"
                + ("" if ok else f"\n{output}"))

        ok, prompts, output = su_login(service_file, caller, target, code)
        h.check(not ok and MARKER not in output, "su with the replayed code is refused")
        h.check(file_digest(SU_SERVICE) == before, "host /etc/pam.d/su is unchanged")

    return h.run_scenario(scenario)


if __name__ == "__main__":
    sys.exit(main())
