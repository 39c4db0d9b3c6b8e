#!/usr/bin/python3
"""The approver app end to end, with the real host side (issue 12).

twostepd on loopback with SQLite serves the app at http://localhost:PORT (a
secure context, so WebAuthn works); the setup is tests/push/pushtest.py's
(`twostepd host add`, push.conf and the root-only host secret, a TOTP
enrollment). Debian's headless Chromium (approver_e2e.mjs, playwright-core,
CDP's virtual authenticator) plays the phone: it opens the pairing URL that
`twostep-enroll --push` prints in a pty, and the terminal's comparison code
must be the page's. Logins are the built pam_twostep.so under pam_wrapper
with pamtester; the number the login shows is typed on the page.

Usage: test_approver.py TWOSTEP-ENROLL PAM_TWOSTEP.SO TWOSTEPD NODE ARTIFACT_DIR
Exit 0 pass, 1 fail, 77 skip (not root, no chromium, node or npm packages).
"""

import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pexpect

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "push"))
from pushtest import (HOST_NAME, PUSH_PROMPT, Setup, check, finish, outcome, pairing_url,  # noqa: E402
                      spawn_enroll_push, totp)
from json_line_child import JsonLineChild, StepFailed  # noqa: E402
import twostep_device as td  # noqa: E402 (pushtest put tests/device on the path)

CHROMIUM = "/usr/bin/chromium"
# The CC0 country database from the npm registry (package-lock.json).
DATABASE = os.path.join(HERE, "node_modules", "@ip-location-db", "geo-whois-asn-country-mmdb",
                        "geo-whois-asn-country.mmdb")
NUMBER = r"approve with the number (\d\d)"


class Browser(JsonLineChild):
    """approver_e2e.mjs as a child: one JSON step per line each way."""

    def __init__(self, node, origin, profile, artifacts):
        super().__init__([node, os.path.join(HERE, "approver_e2e.mjs"), origin, profile, artifacts],
                         "browser", new_session=True)

    def close(self):
        """Quit, then end whatever is left of its process group (Chromium)."""
        self.quit(30)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def skip_reason(node):
    if os.geteuid() != 0:
        return "needs root (the host secret must be a root-owned file)"
    if not os.path.exists(CHROMIUM):
        return CHROMIUM + " missing (scripts/setup installs chromium)"
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
    except OSError as e:
        return "no node: %s" % e
    if int(version.lstrip("v").split(".")[0]) < 18:
        return "playwright-core needs node >= 18, this is " + version
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        return "playwright-core missing (run scripts/npm-setup)"
    return None


def static_checks(origin):
    """Headers and the page's markup, as any client gets them."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(origin + "/", timeout=10) as res:
        headers, html = res.headers, res.read().decode()
    csp = headers.get("Content-Security-Policy", "")
    check("default-src 'none'" in csp and "script-src 'self'" in csp and
          "frame-ancestors 'none'" in csp and "unsafe-" not in csp,
          "CSP: default-src none, script-src self, frame-ancestors none, nothing unsafe")
    check(headers.get("Referrer-Policy") == "no-referrer", "Referrer-Policy: no-referrer")
    check(headers.get("X-Content-Type-Options") == "nosniff", "X-Content-Type-Options: nosniff")
    check(not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html, re.I) and
          not re.search(r"\son[a-z]+=", html, re.I),
          "index.html has no inline script and no inline event handler")
    check(not re.search(r'(src|href)="(https?:)?//', html, re.I),
          "index.html loads nothing from another origin")
    with opener.open(origin + "/sw.js", timeout=10) as res:
        check("javascript" in res.headers.get("Content-Type", ""), "/sw.js is served as JavaScript")


def shown_at(text, started):
    """The page's time (en-GB, UTC) is the login's, to the minute."""
    try:
        when = datetime.datetime.strptime(text, "%d %b %Y, %H:%M:%S")
    except ValueError:
        return False
    return abs(when.replace(tzinfo=datetime.timezone.utc).timestamp() - started) < 60


def device_state(relay, name):
    """active or revoked, from `twostepd device list` (None: not listed)."""
    for line in relay.admin("device", "list").splitlines():
        found = re.search(r"\s(root)\s+(.+?)\s+(active|revoked)\s", line)
        if not found:
            continue
        listed = found.group(2)
        # Names with a space are quoted, '"' and '\' escaped (log_field.hpp).
        if len(listed) >= 2 and listed[0] == listed[-1] == '"':
            listed = re.sub(r'\\(["\\])', r"\1", listed[1:-1])
        if listed == name:
            return found.group(3)
    return None


class Run:
    def __init__(self, setup, browser):
        self.setup, self.browser = setup, browser
        self.children = []

    def spawn(self, child):
        self.children.append(child)
        return child

    def close(self):
        for child in self.children:
            if child.isalive():
                child.close(force=True)

    def push_login(self, service, *items):
        """Enter at the prompt; returns the login and the number it shows."""
        child = self.spawn(self.setup.login(service, items))
        child.expect_exact(PUSH_PROMPT)
        child.sendline("")
        child.expect(NUMBER)
        return child, child.match.group(1)

    def pair(self):
        setup, browser = self.setup, self.browser
        child = self.spawn(setup.spawn_pairing())
        child.expect(pairing_url(setup.relay.origin))
        url = child.match.group(1)
        child.expect("Waiting for the phone")
        page = browser.step("pair", url=url, name="Pixel 8")
        check("root" in page["context"] and HOST_NAME in page["context"],
              "the page says which user on which host it pairs: " + page["context"].strip())
        check(url.rsplit(".", 1)[1] not in page["address"],
              "the pairing secret is taken out of the address bar")
        child.expect(r"Comparison code: (\d{6})")
        terminal = child.match.group(1)
        same = len(page["code"]) == 6 and page["code"] == terminal
        check(same, "the terminal shows the comparison code the page shows (%s)" % page["code"])
        child.expect("Type \"yes\"")
        child.sendline("yes" if same else "no")
        child.expect(pexpect.EOF)
        child.close()
        check(child.exitstatus == 0 and "device name=Pixel%208 " in setup.file_text(),
              "twostep-enroll --push confirms and pins the page's device (exit %s)" % child.exitstatus)
        if not same or child.exitstatus != 0:
            raise StepFailed("pairing failed")
        check(browser.step("paired")["extractable"] is False,
              "after the terminal confirms, the app opens its event stream; its API key is a "
              "non-extractable CryptoKey")

    def pair_second_file(self):
        """The same phone into a second (central, sudo's) file, from a new
        pairing link opened in the app that is still open."""
        setup, browser = self.setup, self.browser
        central = os.path.join(setup.tmp, "central-root")
        made = subprocess.run([setup.enroll, "--no-confirm", "--qr", "none", "--backup-codes", "0",
                               "--secret-file", central, "--quiet"], capture_output=True, text=True,
                              timeout=30)
        check(made.returncode == 0, "a second (central) secret file enrolled " + made.stderr)
        child = self.spawn(spawn_enroll_push(setup.enroll, "--push-config", setup.push_conf,
                                             "--secret-file", central))
        child.expect(pairing_url(setup.relay.origin))
        url = child.match.group(1)
        child.expect("Waiting for the phone")
        page = browser.step("pairAgain", url=url, name="Pixel 8")
        fresh = page["fresh"]
        check(not fresh["codeBoxVisible"] and fresh["code"] == "" and "Waiting" in fresh["wait"],
              "a new pairing link in the open app shows its form, not the previous pairing's "
              "code or state: %r" % fresh)
        child.expect(r"Comparison code: (\d{6})")
        terminal = child.match.group(1)
        check(page["code"] == terminal,
              "the page shows this pairing's comparison code, the terminal's (%s)" % page["code"])
        before = browser.step("pairedSaid")
        check(not before["said"] and before["hash"] == "#pair" and "Waiting" in before["wait"],
              "before the terminal confirms, the page shows the code and waits; it never says "
              "Paired: %r" % before)
        child.expect("Type \"yes\"")
        child.sendline("yes")
        child.expect(pexpect.EOF)
        child.close()
        with open(central) as f:
            pinned = "device name=Pixel%208 " in f.read()
        check(child.exitstatus == 0 and pinned,
              "twostep-enroll --push pins the same phone in the second file (exit %s): %s"
              % (child.exitstatus, (child.before or "").strip().splitlines()[-1:]))
        browser.step("paired")
        after = browser.step("pairedSaid")
        check(any("Paired with " + HOST_NAME in s for s in after["said"]),
              "after the terminal confirmed, the page says Paired: %r" % after["said"])

    def no_waiting_notice_without_a_request(self, case):
        shown = self.browser.step("waiting")
        check(shown["pending"] == 0 and shown["empty"] and "waiting" not in shown["status"].replace(
            "No request is waiting", ""),
            "%s: \"No request is waiting\" and no notice that one is (%r)" % (case, shown))

    def approve_right_number(self):
        started = time.time()
        # An address in Germany, located with the real country database
        # (push.conf's location_database, docs/images/approver-request.png).
        child, number = self.push_login("sshd", "rhost=193.99.144.80", "tty=ssh")
        req = self.browser.step("request")
        f = req["facts"]
        check(f["user"] == "root" and f["host"] == HOST_NAME and "sshd" in f["service"] and
              f["rhost"] == "193.99.144.80" and f["tty"] == "ssh" and shown_at(f["created"], started),
              "the request shows user, host, service, client address, tty and time: "
              + " | ".join(f[k] for k in ("user", "host", "service", "rhost", "tty", "created")))
        check(f["location"] == "DE" and f["command"] is None and f["target_user"] is None,
              "the request shows the location, and no empty command or target rows: %r"
              % {k: f[k] for k in ("location", "command", "target_user")})
        # The relay never has the number, so the page cannot show it: it asks.
        check(req["number"] == "" and "Number shown on the computer" in req["label"],
              "the request asks for the number shown on the computer, with an empty field")
        self.browser.step("approve", id=req["id"], number=number, expect="Approved",
                          screenshot="request.png")
        child.sendline("")  # sshd style: Enter after approving
        ok, text = outcome(child)
        check(ok and "method=push result=accepted reason=approved" in text,
              "the number from the login typed on the page, Approve: the login succeeds")

    def sudo_command_shown(self):
        """A sudo request as a module of protocol version 3 sends it from
        inside sudo (the module under pamtester is not in a sudo process, so
        the challenge is sent here, host-signed; tests/e2e/test_push.py has
        the real sudo): the page shows the command, and the screenshot is
        docs/images/approver-request-sudo.png."""
        setup = self.setup
        command = "sudo -u www-data /usr/bin/systemctl reload nginx"
        body = {"user": "root", "service": "sudo", "rhost": "", "tty": "/dev/pts/1",
                "devices": [self.browser_credential()], "nonce": td.b64u(os.urandom(32)),
                "expires": int(time.time()) + 60,
                "context": {"command": command, "target_user": "", "location": ""}}
        status, created = setup.relay.host_request("POST", "/v1/challenges", body)
        check(status == 201, "a sudo challenge with its command: %s %s" % (status, created))
        req = self.browser.step("request")
        f = req["facts"]
        check(f["command"] == command and f["location"] is None and "sudo" in f["service"],
              "a sudo request shows the command it authorises: %r" % f["command"])
        self.browser.step("screenshot", name="request-sudo.png")
        self.browser.step("deny", id=req["id"])

    def browser_credential(self):
        """The credential id the browser's phone pinned (from the secret file)."""
        with open(self.setup.secret_file) as f:
            return re.search(r"^device .*\bcredential=(\S+)", f.read(), re.M).group(1)

    def approve_wrong_number(self):
        child, number = self.push_login("sudo", "tty=/dev/pts/1")
        req = self.browser.step("request")
        check(req["facts"]["rhost"] == "this computer" and "sudo" in req["facts"]["service"],
              "a local sudo request says so instead of an empty address")
        wrong = "%02d" % ((int(number) + 1) % 100)
        self.browser.step("approve", id=req["id"], number=wrong, expect="Approved")
        ok, text = outcome(child)
        check(not ok and "reason=wrong_number" in text,
              "a wrong number: the relay takes the approval, the module refuses it (wrong_number)")

    def deny(self):
        child, _ = self.push_login("su", "tty=/dev/pts/2")
        req = self.browser.step("request")
        # Deny needs no biometric step: it works with user verification failing.
        self.browser.step("verified", value=False)
        self.browser.step("deny", id=req["id"])
        ok, text = outcome(child)
        check(not ok and "reason=denied" in text, "Deny: the login fails (denied)")

    def user_verification_fails(self):
        child, number = self.push_login("login", "tty=tty1")
        req = self.browser.step("request")
        self.browser.step("approve", id=req["id"], number=number, expect="Not approved")
        ok, text = outcome(child)
        check(not ok and "reason=timeout" in text,
              "user verification failing in the authenticator: no approval, the login fails "
              "at push_timeout")
        state = self.browser.step("state", id=req["id"], pattern="Expired|Cancelled", timeout=15000)
        check(not state["buttons"], "then the page says so and offers no buttons: " + state["state"])
        self.no_waiting_notice_without_a_request("after the request expired")
        self.browser.step("verified", value=True)

    def typed_code(self):
        child = self.spawn(self.setup.login("sshd", ["rhost=203.0.113.9", "tty=ssh"]))
        child.expect_exact(PUSH_PROMPT)
        child.sendline("")
        child.expect(NUMBER)
        req = self.browser.step("request")
        child.sendline(totp(self.setup.key))
        ok, text = outcome(child)
        check(ok and "method=totp result=accepted" in text, "a code typed instead: the login succeeds")
        state = self.browser.step("state", id=req["id"], pattern="Cancelled", timeout=15000)
        check(not state["buttons"], "and the page says the request was cancelled, with no buttons")
        self.no_waiting_notice_without_a_request("after the request was cancelled")

    def notification_and_report(self):
        child, _ = self.push_login("su", "tty=/dev/pts/3")
        req = self.browser.step("request")
        pushed = self.browser.step("notify", id=req["id"], timeout=90)
        shown = pushed["shown"]
        check(shown["title"] == "Sign-in request" and shown["tag"] == "twostep-" + req["id"] and
              "root" not in shown["body"] and HOST_NAME not in shown["body"],
              "a push to the service worker shows a notification with no details in it")
        check(pushed["highlighted"] and pushed["rhost"] == "this computer",
              "clicking the notification opens that request in the app")
        self.browser.step("report", id=req["id"])
        ok, text = outcome(child)
        check(not ok and "reason=reported" in text, "\"This wasn't me\": the login fails (reported)")
        child = self.spawn(self.setup.login("sudo"))
        child.expect_exact(PUSH_PROMPT)
        child.sendline("")
        child.expect_exact("Push is blocked for this account")
        child.expect_exact("Verification code: ")  # a code, in the same login
        blocked = child.before
        child.sendline("000000")
        ok, text = outcome(child)
        check(not ok and "reason=push_blocked" in blocked and "reason=wrong_code" in text,
              "after the report the relay blocks push for that user: the next login gets "
              "push_blocked")

    def devices_and_activity(self):
        relay, browser = self.setup.relay, self.browser
        listed = browser.step("devices", name="Pixel 8 Pro")["listed"]
        check("Pixel 8" in listed and "root on " + HOST_NAME in listed,
              "Devices lists this device with its account")
        check(device_state(relay, "Pixel 8 Pro") == "active",
              "rename reaches the relay (twostepd device list)")
        entries = browser.step("activity")["entries"]
        outcomes = {e.split(" ")[0] for e in entries}
        check({"approved", "denied", "reported", "cancelled"} <= outcomes,
              "Activity lists the requests with their outcomes: " + ",".join(sorted(outcomes)))
        layout = browser.step("layout")
        check(re.search("home screen", layout["help"], re.I) and "16.4" in layout["help"],
              "Help explains the iOS 16.4 home-screen requirement for notifications")
        check(re.search("lost", layout["help"], re.I) and re.search("new phone", layout["help"], re.I),
              "Help says what to do for a new or a lost phone")
        for view, width in layout["widths"].items():
            check(width <= 360, "#%s fits a 360 px screen (scrollWidth %d)" % (view, width))
        check(not layout["unlabeled"], "every visible control has a label: " + " ".join(layout["unlabeled"]))
        browser.step("remove")
        check(device_state(relay, "Pixel 8 Pro") == "revoked",
              "Remove this device revokes it at the relay (twostepd device list)")
        problems = browser.step("problems")["problems"]
        check(not problems, "no console error, CSP violation or foreign request: " + " ; ".join(problems))
        offline = browser.step("offline")
        check(offline["title"] == "twostep approver" and offline["nav"],
              "offline, the app shell still loads from the service worker's cache")


def main():
    enroll, module, twostepd, node = (os.path.abspath(p) if os.sep in p else p
                                      for p in sys.argv[1:5])
    artifacts = os.path.abspath(sys.argv[5])
    reason = skip_reason(node)
    if reason:
        print("SKIP: " + reason)
        sys.exit(77)
    setup = Setup(enroll, module, twostepd, origin="http://localhost:{port}")
    browser = run = None
    try:
        static_checks(setup.relay.origin)
        check(setup.enroll_totp() == 0, "TOTP enrollment written")
        located = setup.write_conf("located.conf", setup.relay.url)
        with open(located, "a") as f:
            f.write("location_database %s\n" % DATABASE)
        setup.service("sshd", "push_timeout=30", push_conf=located)
        for service in ("sudo", "su"):
            setup.service(service, "push_timeout=30")
        setup.service("login", "push_timeout=8")
        browser = Browser(node, setup.relay.origin, os.path.join(setup.tmp, "profile"), artifacts)
        browser.step("start", timeout=90)
        run = Run(setup, browser)
        run.pair()
        run.pair_second_file()
        run.approve_right_number()
        run.sudo_command_shown()
        run.approve_wrong_number()
        run.deny()
        run.user_verification_fails()
        run.typed_code()
        run.notification_and_report()
        run.devices_and_activity()
    except (StepFailed, pexpect.ExceptionPExpect) as e:
        # The first line only: pexpect's text would repeat what the pty had.
        check(False, "stopped: %s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    finally:
        if run:
            run.close()
        if browser:
            browser.close()
        setup.cleanup()
    finish()


if __name__ == "__main__":
    main()
