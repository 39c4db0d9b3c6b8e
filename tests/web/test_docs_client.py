#!/usr/bin/python3
"""A third-party phone client written from docs/protocol.md alone
(docs_client.mjs: Node, WebCrypto, no project code) against the real host
side and a real twostepd: it pairs through `twostep-enroll --push` in a pty
(the terminal's comparison code must be the client's), waits for the
confirmation, then approves one login (the number from the terminal) and
denies another, through the built pam_twostep.so under pam_wrapper.

Usage: test_docs_client.py TWOSTEP-ENROLL PAM_TWOSTEP.SO TWOSTEPD NODE
Exit 0 pass, 1 fail, 77 skip (not root, node older than 19).
"""

import os
import subprocess
import sys

import pexpect

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "push"))
from pushtest import HOST_NAME, Setup, check, finish, outcome, pairing_url  # noqa: E402
from json_line_child import JsonLineChild, StepFailed  # noqa: E402


class Client(JsonLineChild):
    """docs_client.mjs as a child: one JSON command per line each way."""

    def __init__(self, node):
        super().__init__([node, os.path.join(HERE, "docs_client.mjs")], "client")

    def close(self):
        if not self.quit(10):
            self.proc.kill()
            self.proc.wait()


def skip_reason(node):
    if os.geteuid() != 0:
        return "needs root (the host secret must be a root-owned file)"
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
    except OSError as e:
        return "no node: %s" % e
    if int(version.lstrip("v").split(".")[0]) < 19:
        return "globalThis.crypto needs node >= 19, this is " + version
    return None


def push_login(setup, service):
    child = setup.login(service)
    child.expect_exact("Verification code, or Enter for a push: ")
    child.sendline("")
    child.expect(r"approve with the number (\d\d)\.")
    return child, child.match.group(1)


def main():
    enroll, module, twostepd = (os.path.abspath(p) for p in sys.argv[1:4])
    node = sys.argv[4]
    reason = skip_reason(node)
    if reason:
        print("SKIP: " + reason)
        sys.exit(77)
    setup = Setup(enroll, module, twostepd, origin="http://localhost:{port}")
    client = None
    try:
        check(setup.enroll_totp() == 0, "TOTP enrollment written")
        setup.service("sudo", "push_timeout=30")
        client = Client(node)
        child = setup.spawn_pairing()
        child.expect(pairing_url(setup.relay.origin))
        paired = client.step("pair", url=child.match.group(1), name="Docs client")
        check(paired["context"]["host"] == HOST_NAME and paired["status"] == "registered",
              "the client reads the pairing's context and registers (status registered)")
        child.expect(r"Comparison code: (\d{6})")
        check(child.match.group(1) == paired["code"],
              "the terminal shows the client's comparison code (%s)" % paired["code"])
        child.expect("Type \"yes\"")
        child.sendline("yes")
        child.expect(pexpect.EOF)
        child.close()
        check(child.exitstatus == 0 and "device name=Docs%20client " in setup.file_text(),
              "twostep-enroll --push pins the client (exit %s)" % child.exitstatus)
        view = client.step("confirmed")["view"]
        check(view["status"] == "confirmed" and "api_public_key" not in view,
              "the client learns of the confirmation from the pairing's status")
        devices = client.step("self")["devices"]
        check([(d["host"], d["user"]) for d in devices] == [(HOST_NAME, "root")],
              "GET /v1/device/self lists the pairing")

        login, number = push_login(setup, "sudo")
        request = client.step("next")["view"]
        check(request["user"] == "root" and request["service"] == "sudo",
              "the challenge arrives on the event stream")
        decided = client.step("approve", id=request["id"], number=int(number))["view"]
        ok, text = outcome(login)
        check(decided["status"] == "approved" and ok and "reason=approved" in text,
              "the client's assertion, with the terminal's number, logs in")

        login, _ = push_login(setup, "sudo")
        request = client.step("next")["view"]
        client.step("deny", id=request["id"])
        ok, text = outcome(login)
        check(not ok and "reason=denied" in text, "the client's deny refuses the login")
    except (StepFailed, pexpect.ExceptionPExpect) as e:
        check(False, "stopped: %s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    finally:
        if client:
            client.close()
        setup.cleanup()
    finish()


if __name__ == "__main__":
    main()
