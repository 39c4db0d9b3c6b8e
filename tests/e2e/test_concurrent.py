#!/usr/bin/python3
"""20 concurrent logins with the same valid code: exactly one succeeds.

Each round enrolls a fresh secret, starts 20 `pamtester` processes on a real
/etc/pam.d service, waits until every one of them is blocked at the
"Verification code" prompt inside pam_authenticate (the barrier), then sends
the same current code to all of them at once. Exactly one must succeed.
"""

import os
import select
import subprocess
import sys
import time

import harness as h

PROCESSES = 20


def wait_for_prompt(process: subprocess.Popen, deadline: float) -> None:
    seen = b""
    fd = process.stdout.fileno()
    while b"Verification code" not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise h.TestFailure(f"pamtester {process.pid} never prompted: {seen!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise h.TestFailure(f"pamtester {process.pid} exited early: {seen!r}")
            seen += chunk


def one_round(service: str, user: h.User, code: str) -> int:
    processes = []
    try:
        for _ in range(PROCESSES):
            processes.append(subprocess.Popen(
                ["pamtester", service, user.name, "authenticate"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 20
        for process in processes:
            wait_for_prompt(process, deadline)
        answer = (code + "\n").encode()
        for process in processes:  # all are blocked in pam_authenticate now
            process.stdin.write(answer)
            process.stdin.flush()
        successes = 0
        for process in processes:
            process.stdin.close()
            process.stdout.read()
            if process.wait(timeout=30) == 0:
                successes += 1
        return successes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def main() -> int:
    module, args = h.start_test(lambda p: p.add_argument("--rounds", type=int, default=5))

    def scenario() -> None:
        user = h.create_user()
        service = h.unique_name()
        h.write_pam_service(service, [module.auth_line()])
        results = []
        for round_number in range(1, args.rounds + 1):
            enrolled = module.enroll(user)  # fresh secret and state each round
            code = h.totp(enrolled.secret_b32, h.current_step())
            successes = one_round(service, user, code)
            h.log(f"round {round_number}: {successes} of {PROCESSES} succeeded")
            results.append(successes)
        h.check(all(count == 1 for count in results),
                f"exactly one of {PROCESSES} concurrent logins succeeded in every round {results}")

    return h.run_scenario(scenario)


if __name__ == "__main__":
    sys.exit(main())
