"""Shared setup for the push login tests: twostepd on loopback with SQLite, a
host registered in it, push.conf + the root-only host secret, a TOTP
enrollment, and the Python test device (tests/device/twostep_device.py)
paired through `twostep-enroll --push` in a pty. Logins go through the built
pam_twostep.so under pam_wrapper with pamtester (the service name decides the
flow: "sshd" puts the number into a prompt, anything else shows it at once)."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pexpect

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "device"))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import twostep_device  # noqa: E402
import twostep_harness as th  # noqa: E402
from twostep_harness import check, expect, finish, free_port  # noqa: E402,F401 (the suites' API)

ORIGIN = "https://approve.test"
HOST_NAME = "web1"
# The module's first prompt when push is on (pam_twostep(8), "What users see").
PUSH_PROMPT = "Verification code, or Enter for a push: "


def totp(key_b32):
    return subprocess.run(["oathtool", "--totp", "-b", key_b32],
                          capture_output=True, text=True, check=True).stdout.strip()


def parse_host_add(out):
    """(host_id, host_secret) from what `twostepd host add` printed."""
    fields = dict(re.findall(r"^(\w+) = (\S+)$", out, re.M))
    return fields["host_id"], fields["host_secret"]


def spawn_enroll_push(enroll, *args):
    """`ENROLL --push ARGS --qr none` in a pty; ENROLL is the build tree's
    twostep-enroll or an installed one (tests/package)."""
    return pexpect.spawn(enroll, ["--push"] + list(args) + ["--qr", "none"],
                         encoding="utf-8", timeout=30, dimensions=(40, 120))


def pair_device(child, device, confirm="yes"):
    """Drives a pairing started by spawn_enroll_push: the device registers
    under the URL the tool shows at the device's origin, then `confirm`
    answers the comparison. Returns (exit status, comparison code the tool
    showed, the one the device computed, the tool's output after the answer)."""
    child.expect(pairing_url(device.state["origin"]))
    paired = device.pair(child.match.group(1))
    child.expect(r"Comparison code: (\d{6})")
    shown = child.match.group(1)
    child.expect("Type \"yes\"")
    child.sendline(confirm)
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, shown, paired["comparison_code"], child.before


class Relay:
    """`origin` is the approver origin; "{port}" in it becomes the relay's port
    (a browser test uses http://localhost:{port}, the page twostepd serves)."""

    def __init__(self, twostepd, tmp, origin=ORIGIN):
        self.twostepd = twostepd
        self.db = os.path.join(tmp, "relay.db")
        self.config = os.path.join(tmp, "twostepd.conf")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.origin = origin.format(port=self.port)
        with open(self.config, "w") as f:
            f.write("approver_origin = %s\n" % self.origin)
            # The suites log one user in a dozen times in a row, many of them
            # denied, cancelled or unanswered on purpose: the cooldown and the
            # phone's notification bound would refuse the later ones. Both are
            # tested on their own (tests/relay/test_push_fatigue.py).
            f.write("fatigue_denials = 0\nnotifications_per_minute = 0\n")
        self.proc = None
        self.host_id, self.host_secret = parse_host_add(self.admin("host", "add", HOST_NAME))

    def admin(self, *args):
        return subprocess.run([self.twostepd, "--config", self.config, "--db", self.db] + list(args),
                              capture_output=True, text=True, check=True, timeout=30).stdout

    def start(self):
        self.log_path = os.path.join(os.path.dirname(self.db), "twostepd.log")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.twostepd, "--config", self.config, "--db", self.db,
                                          "serve", "--listen", "127.0.0.1:%d" % self.port],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        th.wait_for_port(self.port, 20, "twostepd to listen on port %d" % self.port,
                         process=self.proc)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def host_request(self, method, path, body=None):
        """A request signed as the host (protocol section 3), with a JSON body
        or none: (status, answer)."""
        raw = b"" if body is None else json.dumps(body).encode()
        timestamp, nonce = str(int(time.time())), twostep_device.b64u(os.urandom(16))
        signature = twostep_device.host_signature(
            twostep_device.b64u_decode(self.host_secret), method, path, "", raw, timestamp, nonce,
            self.host_id)
        request = urllib.request.Request(self.url + path, data=raw if body is not None else None,
                                         method=method, headers={
                                             "Content-Type": "application/json",
                                             "X-Twostep-Host": self.host_id,
                                             "X-Twostep-Timestamp": timestamp,
                                             "X-Twostep-Nonce": nonce,
                                             "X-Twostep-Signature": signature})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Setup:
    def __init__(self, enroll, module, twostepd, origin=ORIGIN):
        self.enroll, self.module = enroll, module
        self.tmp = tempfile.mkdtemp(prefix="twostep-push-")
        os.chmod(self.tmp, 0o700)
        self.relay = Relay(twostepd, self.tmp, origin)
        self.relay.start()
        self.secret_file = os.path.join(self.tmp, "secret")
        self.host_secret_file = os.path.join(self.tmp, "push.secret")
        fd = os.open(self.host_secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, ("host_secret = %s\n" % self.relay.host_secret).encode())
        os.close(fd)
        self.push_conf = self.write_conf("push.conf", self.relay.url)
        self.service_dir = os.path.join(self.tmp, "pam.d")
        os.mkdir(self.service_dir)
        self.user = "root"
        self.device = None
        self.key = None
        self.stops = []  # more servers a suite started (fake relays): stopped first

    def write_conf(self, name, relay_url, host_name=HOST_NAME):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("# test push settings\nrelay %s\nhost_id = %s\nhost_name %s\n"
                    "approver_origin %s\nhost_secret_file %s\nconnect_timeout 2\n"
                    % (relay_url, self.relay.host_id, host_name, self.relay.origin,
                       self.host_secret_file))
        os.chmod(path, 0o644)
        return path

    def cleanup(self):
        for stop in reversed(self.stops):
            stop()
        self.relay.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def enroll_totp(self):
        out = subprocess.run([self.enroll, "--no-confirm", "--print-uri", "--qr", "none",
                              "--backup-codes", "0", "--rate-limit", "off",
                              "--secret-file", self.secret_file],
                             capture_output=True, text=True, timeout=30)
        uri = out.stdout.strip()
        self.key = re.search(r"secret=([A-Z2-7]+)", uri).group(1)
        return out.returncode

    def spawn_pairing(self, *extra):
        return spawn_enroll_push(self.enroll, "--push-config", self.push_conf,
                                 "--secret-file", self.secret_file, *extra)

    def new_device(self, name):
        path = os.path.join(self.tmp, "device-%s.json" % name.replace(" ", "_"))
        return twostep_device.Device.create(path, origin=self.relay.origin, relay=self.relay.url,
                                            name=name)

    def pair(self, device, confirm="yes"):
        return pair_device(self.spawn_pairing(), device, confirm)

    def service(self, name, args="", push_conf=None, push=True):
        """The PAM service `name`: the module on this setup's secret file,
        with push through `push_conf` (this setup's relay by default)."""
        if push:
            args = "push push_config=%s %s" % (push_conf or self.push_conf, args)
        with open(os.path.join(self.service_dir, name), "w") as f:
            f.write("auth required %s secret=%s log_copy=stderr %s\n"
                    % (self.module, self.secret_file, args))

    def login(self, service, items=()):
        """pamtester under pam_wrapper; `items` are PAM items, e.g. "rhost=203.0.113.5"."""
        env = dict(os.environ)
        env.update({"LD_PRELOAD": "libpam_wrapper.so", "PAM_WRAPPER": "1",
                    "PAM_WRAPPER_SERVICE_DIR": self.service_dir})
        args = [a for item in items for a in ("-I", item)]
        child = pexpect.spawn("pamtester", args + [service, self.user, "authenticate"], env=env,
                              encoding="utf-8", timeout=60)
        if os.environ.get("PUSHTEST_VERBOSE"):
            child.logfile_read = sys.stdout
        return child

    def choose_push(self, service, items=()):
        """A login that answers the first prompt with Enter: a push."""
        child = self.login(service, items)
        child.expect_exact(PUSH_PROMPT)
        child.sendline("")
        return child

    def push_login(self, service, items=()):
        """A sudo/su-style push login up to its number (shown at once, no
        keystroke after Enter): (the login, the number)."""
        child = self.choose_push(service, items)
        child.expect(r"approve with the number (\d\d)\.")
        return child, int(child.match.group(1))

    def file_text(self):
        with open(self.secret_file) as f:
            return f.read()


def pairing_url(origin):
    """The pattern of the pairing URL twostep-enroll --push prints (group 1)."""
    return "(" + re.escape(origin) + r"/#pair=\S+)"


def pending(device, timeout=10):
    """The newest pending challenge the device sees (waits for it)."""
    views = th.wait_for(device.list_challenges, timeout,
                        "a pending challenge on %s" % device.state["name"], interval=0.1)
    return views[-1]


def outcome(child):
    child.expect(pexpect.EOF)
    child.close()
    text = child.before or ""
    return child.exitstatus == 0, text


def run_suite(make_cases):
    """main() of a push suite: needs root; twostepd and the paths from argv
    (TWOSTEP-ENROLL PAM_TWOSTEP.SO TWOSTEPD); a TOTP enrollment and the test
    phone "Pixel 8" paired through twostep-enroll --push (setup.phone,
    setup.pairing); then the case table make_cases(setup). Exits with the
    table's status."""
    th.skip_unless_root("the host secret must be a root-owned file")
    enroll, module, twostepd = (os.path.abspath(p) for p in sys.argv[1:4])
    setup = Setup(enroll, module, twostepd)
    try:
        th.expect(setup.enroll_totp() == 0, "TOTP enrollment written")
        setup.phone = setup.new_device("Pixel 8")
        setup.pairing = setup.pair(setup.phone)
        th.expect(setup.pairing[0] == 0, "twostep-enroll --push pairs the test phone (exit %s)"
                  % setup.pairing[0])
        status = th.run_cases(make_cases(setup), sys.argv[4:])
    finally:
        setup.cleanup()
    sys.exit(status)
