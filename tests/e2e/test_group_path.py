#!/usr/bin/python3
"""A secret file reachable only through one of its owner's supplementary groups.

The module reads the file as its owner with the owner's primary group only
(no NSS group lookup on a normal login). Where that is refused, it looks up
the owner's supplementary groups once and tries again, as initgroups() would
have set them. Here the file lies under a directory root:GROUP 0750, GROUP
being a supplementary group of the user:

- a real login through pamtester (real libpam) with the right code succeeds;
- with the user taken out of GROUP, the next code is refused: the access
  really depended on the group.
"""

import grp
import os
import shutil

import harness as h


def body(module: h.ModuleUnderTest) -> None:
    user = h.create_user()
    group = h.create_group([user])
    base = h.make_temp_dir()
    gated = os.path.join(base, "gated")
    os.mkdir(gated)
    os.chown(gated, 0, grp.getgrnam(group).gr_gid)
    os.chmod(gated, 0o750)
    own = os.path.join(gated, user.name)
    os.mkdir(own, 0o700)
    os.chown(own, user.uid, user.gid)
    secret_file = os.path.join(own, ".twostep")
    # Enrolled as usual, then moved where only the group reaches it.
    enrolled = h.enroll_twostep(user, module.enroll_tool, "native")
    shutil.copy2(enrolled.path, secret_file)
    os.chown(secret_file, user.uid, user.gid)
    os.unlink(enrolled.path)
    service = h.unique_name()
    h.write_pam_service(service, [f"auth required {module.path} secret={secret_file}"])

    step = h.current_step()
    ok, transcript = h.pamtester_login(service, user.name, [h.totp(enrolled.secret_b32, step)])
    h.check(ok, "login with a right code through the user's supplementary group "
                f"({h.redact(transcript)})")

    h.run(["gpasswd", "-d", user.name, group])
    ok, transcript = h.pamtester_login(service, user.name,
                                       [h.totp(enrolled.secret_b32, step + 1)])
    h.check(not ok, "without the group the file is out of reach: the next code is refused")


def main() -> int:
    module, _ = h.start_test()
    if module.kind != "twostep" or not module.enroll_tool:
        raise SystemExit("needs --kind twostep and --enroll-tool")
    return h.run_scenario(lambda: body(module))


if __name__ == "__main__":
    raise SystemExit(main())
