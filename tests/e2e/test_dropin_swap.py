#!/usr/bin/python3
"""Drop-in swap: pam_google_authenticator → pam_twostep → back, same file.

The user's ~/.google_authenticator is made by the real google-authenticator
CLI (WINDOW_SIZE 5, i.e. steps T-2..T+2 valid, DISALLOW_REUSE). Using the
window avoids waiting for new 30 s steps:
  step T   via pam_google_authenticator  → logs in
  step T   via pam_twostep               → refused (GA's replay record honoured)
  step T+1 via pam_twostep               → logs in
  step T+1 via pam_google_authenticator  → refused (twostep's update honoured)
  step T+2 via pam_google_authenticator  → logs in (file still valid for GA)
"""

import sys

import harness as h


def login(service: str, auth_line: str, user: h.User, code: str) -> bool:
    h.write_pam_service(service, [auth_line])  # swaps the module in place
    ok, _ = h.pamtester_login(service, user.name, [code])
    return ok


def main() -> int:
    h.require_root()
    args = h.parse_args()
    twostep = h.module_from_args(args)
    ga = h.ModuleUnderTest(args.ga_module, "ga", "ga-cli", None, "")
    h.log(f"swap between {ga.path} and {twostep.path}")

    def scenario() -> None:
        user = h.create_user()
        enrolled = h.enroll_google_authenticator_cli(user, window=5)
        service = h.unique_name()
        step = h.current_step()
        codes = [h.totp(enrolled.secret_b32, step + offset) for offset in range(3)]

        h.check(login(service, ga.auth_line(), user, codes[0]),
                "pam_google_authenticator accepts the code for step T")
        h.check(not login(service, twostep.auth_line(), user, codes[0]),
                "after the swap, pam_twostep refuses step T (already used under GA)")
        h.check(login(service, twostep.auth_line(), user, codes[1]),
                "pam_twostep accepts step T+1 from the GA-made file")
        with open(enrolled.path, encoding="ascii") as handle:
            first_line = handle.readline().strip()
        h.check(first_line == enrolled.secret_b32,
                "the file still starts with the GA secret line after pam_twostep wrote it")
        h.check(not login(service, ga.auth_line(), user, codes[1]),
                "swapped back, pam_google_authenticator refuses step T+1 (used under twostep)")
        h.check(login(service, ga.auth_line(), user, codes[2]),
                "pam_google_authenticator still accepts step T+2 from the same file")

    return h.run_scenario(scenario)


if __name__ == "__main__":
    sys.exit(main())
