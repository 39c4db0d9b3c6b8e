#!/usr/bin/python3
"""Every configuration printed in README.md and docs/admin-guide.md, as printed.

The docs mark each block with an HTML comment before its code fence:

    <!-- twostep-e2e: LAYOUT PART -->

LAYOUT is password-code, key-code, forward-pass, sudo or su; PART is `pam`
(the lines of the PAM service) or `sshd` (the sshd_config.d drop-in). This
test extracts the blocks (it holds no copy of them), replaces only the bare
module name `pam_twostep.so` by the built module's path, and runs:

- sshd layouts: a private sshd on a loopback port whose main config is laid
  out like Debian 12's (Include of the drop-in directory first, then the
  stock `KbdInteractiveAuthentication no`); `sshd -t` must pass, while the same
  lines appended to the main config must fail (the trap the drop-in avoids).
  Then real ssh logins: an enrolled user (right code in, wrong code out, the
  clock hint in the next prompt) and a user who never enrolled, let in by
  `nullok` with the first factor only.
- sudo, su: real sudo (sudoers drop-in pam_service=) and real su (the block
  bind-mounted over /etc/pam.d/su in a private mount namespace), secrets in
  /var/lib/twostep/<user> as the blocks say.
- With --check-tool, twostep-check must pass each layout (PAM service, the
  private sshd's config, the enrolled user's file) and flag the pam_permit-less
  key+code stack.

Any fenced block in the two docs that configures pam_twostep or sshd but has
no marker fails the test: an untested configuration must not be printed.
"""

import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional

import pexpect

import harness as h

MARKER = re.compile(r"<!-- twostep-e2e: (\S+) (\S+) -->\s*\n```[^\n]*\n(.*?)\n```", re.S)
FENCE = re.compile(r"```[^\n]*\n(.*?)\n```", re.S)
CONFIG_LINE = re.compile(r"^\s*(auth\s.*pam_twostep\.so|AuthenticationMethods\s)", re.M)
MODULE_NAME = re.compile(r"(?<![\w/.-])pam_twostep\.so\b")
CENTRAL_DIR = "/var/lib/twostep"
SSHD_LAYOUTS = ("password-code", "key-code", "forward-pass")
REQUIRED = {
    "README.md": {("password-code", "pam"), ("password-code", "sshd"),
                  ("key-code", "pam"), ("key-code", "sshd")},
    "docs/admin-guide.md": {("password-code", "pam"), ("password-code", "sshd"),
                            ("key-code", "pam"), ("key-code", "sshd"),
                            ("forward-pass", "pam"), ("sudo", "pam"), ("su", "pam")},
}
CLOCK_HINT = "Codes keep failing?"
LOCKED_OUT = "Too many failed attempts"
OK_MARKER = "e2e-42-ok"

# Prompts, most specific first: forward_pass's combined prompt also ends in
# "code: ", sudo's says "[sudo] password for NAME: ".
PROMPTS = [("combined", r"Password & verification code: ?"),
           ("code", r"Verification code: ?"),
           ("password", r"[Pp]assword( for [^:\r\n]+)?: ?")]


# --------------------------------------------------------------------------
# Extraction


def extract(root: str, doc: str) -> dict[tuple[str, str], str]:
    with open(os.path.join(root, doc), encoding="utf-8") as handle:
        text = handle.read()
    blocks: dict[tuple[str, str], str] = {}
    marked_spans = []
    for match in MARKER.finditer(text):
        key = (match.group(1), match.group(2))
        if key in blocks:
            raise h.TestFailure(f"{doc}: marker {key} appears twice")
        blocks[key] = match.group(3) + "\n"
        marked_spans.append(match.span(3))
    for fence in FENCE.finditer(text):
        inside_marked = any(start <= fence.start(1) < end for start, end in marked_spans)
        if CONFIG_LINE.search(fence.group(1)) and not inside_marked:
            raise h.TestFailure(f"{doc}: a configuration block has no twostep-e2e marker:\n"
                                f"{fence.group(1)}")
    missing = REQUIRED[doc] - blocks.keys()
    if missing:
        raise h.TestFailure(f"{doc}: missing marked blocks {sorted(missing)}")
    h.log(f"{doc}: {len(blocks)} marked blocks: {sorted(blocks)}")
    return blocks


def with_module(block: str, module: str) -> str:
    return MODULE_NAME.sub(module, block)


def pam_service_text(block: str) -> str:
    """The block, plus account/session lines when it has none of its own."""
    lines = block.splitlines()
    def has(kind: str) -> bool:
        return any(line.split()[:1] == [kind] or f"common-{kind}" in line for line in lines)
    text = "# twostep e2e: a block from the docs; removed by the test\n" + block
    if not has("account"):
        text += "account required pam_unix.so\n"
    if not has("session"):
        text += "session required pam_permit.so\n"
    return text


def install_pam_service(name: str, text: str) -> str:
    path = os.path.join(h.PAM_DIR, name)
    if not os.path.exists(path):
        h.register_owned_file(path)
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)
    os.chmod(path, 0o644)
    return path


# --------------------------------------------------------------------------
# twostep-check on the same files: the documented layouts must pass it


CHECK_TOOL: Optional[str] = None


def doctor(label: str, args: list[str], expect_rc: int, expect: str = "") -> None:
    if not CHECK_TOOL:
        return
    result = h.run([CHECK_TOOL, "--no-clock", *args], check_rc=False)
    h.check(result.returncode == expect_rc and expect in result.stdout,
            f"{label}: twostep-check {' '.join(args[:2])} ... exits {expect_rc}"
            + (f" and says {expect!r}" if expect else "")
            + ("" if result.returncode == expect_rc else f"\n{h.redact(result.stdout)}"))


# --------------------------------------------------------------------------
# Driving prompts


@dataclass
class Attempt:
    ok: bool
    prompts: list[str]
    transcript: str


def drive(child: pexpect.spawn, answers: dict[str, list[str]], marker: str) -> Attempt:
    prompts, output = h.answer_prompts(child, answers, PROMPTS, with_prompts=True)
    return Attempt(child.exitstatus == 0 and marker in output, prompts, output)


# --------------------------------------------------------------------------
# Users and enrollment


# The default rate limit counts failures for 30 s; a slow machine must not
# let the failure that triggers the clock hint expire between two logins.
RATE_LIMIT = "3/600"


def enroll_home(user: h.User, tool: str) -> str:
    path = os.path.join(user.home, ".twostep")
    result = h.run([tool, "--user", user.name, "--secret-file", path, "--no-confirm",
                    "--print-uri", "--quiet", "--rate-limit", RATE_LIMIT])
    match = re.search(r"[?&]secret=([A-Z2-7]+)", result.stdout)
    if not match or os.stat(path).st_uid != user.uid:
        raise h.TestFailure("twostep-enroll did not enroll the user in ~/.twostep")
    return match.group(1)


def ensure_central_dir() -> None:
    if os.path.isdir(CENTRAL_DIR):
        return
    os.makedirs(CENTRAL_DIR, mode=0o700)
    h.CLEANUP.add(f"{CENTRAL_DIR} (created by this test)",
                  lambda: os.path.isdir(CENTRAL_DIR) and not os.listdir(CENTRAL_DIR)
                  and os.rmdir(CENTRAL_DIR))


def enroll_central(user: h.User, tool: str) -> str:
    """As the admin guide says: twostep-enroll --user NAME --secret-file /var/lib/twostep/%u."""
    ensure_central_dir()
    path = os.path.join(CENTRAL_DIR, user.name)
    h.register_owned_file(path)
    result = h.run([tool, "--user", user.name, "--secret-file", f"{CENTRAL_DIR}/%u",
                    "--no-confirm", "--print-uri", "--quiet", "--rate-limit", RATE_LIMIT])
    match = re.search(r"[?&]secret=([A-Z2-7]+)", result.stdout)
    if not match:
        raise h.TestFailure("twostep-enroll --print-uri printed no secret")
    info = os.stat(path)
    h.check(info.st_uid == 0 and (info.st_mode & 0o077) == 0,
            f"{path} is root's, mode 0600 ({oct(info.st_mode & 0o777)})")
    return match.group(1)


def codes(secret: str) -> tuple[str, str]:
    step = h.current_step()
    return h.totp(secret, step), h.wrong_code(secret, step)


# --------------------------------------------------------------------------
# sshd


class DebianLayoutSshd(h.Sshd):
    """sshd whose main config is laid out like Debian 12's: the drop-in
    directory is included first, the stock `KbdInteractiveAuthentication no`
    follows. The documented drop-in goes into that directory unchanged."""

    def __init__(self, workdir: str, service: str, allow_users: list[str], dropin: str,
                 appended: bool = False) -> None:
        self.dir = os.path.join(workdir, f"sshd-{secrets.token_hex(2)}")
        os.mkdir(self.dir, 0o755)
        self.service = service
        self.port = h.free_port()
        self.host_key = os.path.join(self.dir, "host_ed25519")
        h.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.host_key])
        self.pid_file = os.path.join(self.dir, "sshd.pid")
        self.config = os.path.join(self.dir, "sshd_config")
        self.log_path = os.path.join(self.dir, "sshd.log")
        dropin_dir = os.path.join(self.dir, "sshd_config.d")
        os.mkdir(dropin_dir, 0o755)
        with open(os.path.join(dropin_dir, "10-twostep.conf"), "w", encoding="ascii") as handle:
            handle.write(dropin)
        stock = [
            f"Include {dropin_dir}/*.conf",
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.pid_file}",
            "KbdInteractiveAuthentication no",  # Debian 12's stock sshd_config
            "UsePAM yes",
            "X11Forwarding yes",
            "PrintMotd no",
            "AcceptEnv LANG LC_*",
            "Subsystem sftp internal-sftp",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PermitRootLogin no",
            f"AllowUsers {' '.join(allow_users)}",
            "LoginGraceTime 30",
            "LogLevel VERBOSE",
        ]
        if appended:  # the old advice: the same lines at the end of sshd_config
            stock = stock[1:] + dropin.splitlines()
        with open(self.config, "w", encoding="ascii") as handle:
            handle.write("\n".join(stock) + "\n")
        h.ensure_privsep_dir()
        self.program = os.path.join(self.dir, service)
        os.symlink("/usr/sbin/sshd", self.program)
        self.process = None

    def syntax_check(self) -> subprocess.CompletedProcess:
        return h.run(["/usr/sbin/sshd", "-t", "-f", self.config], check_rc=False)


def ssh(sshd: h.Sshd, user: h.User, workdir: str, answers: dict[str, list[str]],
        key: Optional[str] = None) -> Attempt:
    known_hosts = os.path.join(workdir, "known_hosts")
    argv = ["-F", "/dev/null", "-p", str(sshd.port), "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "StrictHostKeyChecking=no", "-o", "NumberOfPasswordPrompts=1",
            "-o", "BatchMode=no", "-o", "ConnectTimeout=10", "-o", "IdentitiesOnly=yes",
            "-o", "PreferredAuthentications=publickey,keyboard-interactive", "-T"]
    if key:
        argv += ["-i", key]
    argv += [f"{user.name}@127.0.0.1", "echo e2e-$((6*7))-ok"]
    return drive(pexpect.spawn("ssh", argv, encoding="utf-8", timeout=30), answers, OK_MARKER)


def check_sshd_syntax(workdir: str, dropin: str, label: str) -> None:
    good = DebianLayoutSshd(workdir, h.unique_name(), ["nobody"], dropin)
    result = good.syntax_check()
    h.check(result.returncode == 0,
            f"{label}: sshd -t passes with the drop-in ({result.stderr.strip()})")
    if "keyboard-interactive" in dropin:
        trap = DebianLayoutSshd(workdir, h.unique_name(), ["nobody"], dropin, appended=True)
        result = trap.syntax_check()
        h.check(result.returncode != 0 and "Disabled method" in result.stderr,
                f"{label}: the same lines appended to sshd_config fail sshd -t "
                "(why the docs use a drop-in)")


def sshd_layout(layout: str, pam_block: str, sshd_block: str, label: str, tool: str,
                module: str) -> None:
    workdir = h.make_temp_dir()
    check_sshd_syntax(workdir, sshd_block, label)
    enrolled, newcomer = h.create_user(), h.create_user()
    secret = enroll_home(enrolled, tool)
    service = h.unique_name()
    install_pam_service(service, pam_service_text(with_module(pam_block, module)))
    sshd = DebianLayoutSshd(workdir, service, [enrolled.name, newcomer.name], sshd_block).start()
    doctor(label, ["--service", service, "--sshd-config", sshd.config, "--user", enrolled.name], 0)
    with_key = layout == "key-code"
    keys = {u.name: h.install_client_key(u, workdir) if with_key else None
            for u in (enrolled, newcomer)}
    right, wrong = codes(secret)

    def answers(user: h.User, code: Optional[str]) -> dict[str, list[str]]:
        if layout == "forward-pass":
            return {"combined": [user.password + (code or "")], "password": [user.password]}
        result = {"code": [code] if code else []}
        if layout == "password-code":
            result["password"] = [user.password]
        return result

    expected = {"password-code": ["password", "code"], "key-code": ["code"],
                "forward-pass": ["combined"]}[layout]
    attempt = ssh(sshd, enrolled, workdir, answers(enrolled, wrong), keys[enrolled.name])
    h.check(not attempt.ok and attempt.prompts == expected,
            f"{label}: enrolled user, wrong code refused ({attempt.prompts})")
    attempt = ssh(sshd, enrolled, workdir, answers(enrolled, right), keys[enrolled.name])
    h.check(attempt.ok and attempt.prompts == expected,
            f"{label}: enrolled user, right code logs in ({attempt.prompts})"
            + ("" if attempt.ok else f"\n{attempt.transcript}\n{sshd.log()}"))
    h.check(CLOCK_HINT in attempt.transcript,
            f"{label}: the prompt after a refused code carries the clock hint over ssh")
    first_factor = {"password-code": ["password"], "key-code": [],
                    "forward-pass": ["password"]}[layout]
    attempt = ssh(sshd, newcomer, workdir, answers(newcomer, None), keys[newcomer.name])
    h.check(attempt.ok and attempt.prompts == first_factor,
            f"{label}: user without a secret file logs in with the first factor only "
            f"(nullok) ({attempt.prompts})"
            + ("" if attempt.ok else f"\n{attempt.transcript}\n{sshd.log()}"))
    if layout == "key-code":
        key_code_extras(service, pam_block, module, sshd, enrolled, newcomer, secret, keys,
                        workdir, label)
    sshd.stop()


def key_code_extras(service: str, pam_block: str, module: str, sshd: h.Sshd, enrolled: h.User,
                    newcomer: h.User, secret: str, keys: dict, workdir: str, label: str) -> None:
    attempt = ssh(sshd, newcomer, workdir, {}, None)
    h.check(not attempt.ok and "code" not in attempt.prompts,
            f"{label}: without a key, even a user without a secret file is refused")
    # The trap the pam_permit line avoids: pam_twostep alone with nullok.
    alone = "\n".join(line for line in pam_block.splitlines() if "pam_permit" not in line)
    install_pam_service(service, pam_service_text(with_module(alone + "\n", module)))
    doctor(label + " without pam_permit", ["--service", service, "--no-sshd"], 1,
           "nullok, but pam_twostep is the only auth module that can succeed")
    attempt = ssh(sshd, newcomer, workdir, {}, keys[newcomer.name])
    h.check(not attempt.ok, f"{label}: without the pam_permit line, nullok alone refuses "
                            "the user without a secret file (the documented trap)")
    install_pam_service(service, pam_service_text(with_module(pam_block, module)))
    # A locked-out user is told so in the prompt, which ssh shows.
    for _ in range(3):
        _, wrong = codes(secret)
        ssh(sshd, enrolled, workdir, {"code": [wrong]}, keys[enrolled.name])
    attempt = ssh(sshd, enrolled, workdir, {"code": ["000000"]}, keys[enrolled.name])
    h.check(not attempt.ok and LOCKED_OUT in attempt.transcript,
            f"{label}: after 3 refused codes the ssh prompt says 'Too many failed attempts'")


# --------------------------------------------------------------------------
# sudo and su


def install_sudoers(users: list[h.User], service: str) -> None:
    path = os.path.join(h.SUDOERS_DIR, service)
    temp = os.path.join(h.SUDOERS_DIR, f".{service}.tmp")
    h.register_owned_file(path)
    h.register_owned_file(temp)
    content = "# twostep e2e test drop-in; removed by the test\n"
    for user in users:
        content += (f"Defaults:{user.name} pam_service={service}\n"
                    f"Defaults:{user.name} passwd_tries=1, timestamp_timeout=0, !lecture\n"
                    f"{user.name} ALL=(root) ALL\n")
    with open(temp, "w", encoding="ascii") as handle:
        handle.write(content)
    os.chmod(temp, 0o440)
    h.run(["visudo", "-c", "-q", "-f", temp])
    os.rename(temp, path)
    if h.run(["visudo", "-c", "-q"], check_rc=False).returncode != 0:
        os.unlink(path)
        raise h.TestFailure("visudo -c fails with the test drop-in")


def sudo(user: h.User, answers: dict[str, list[str]]) -> Attempt:
    return drive(h.spawn_sudo(user, "echo e2e-$((6*7))-ok uid=$(id -u)"), answers,
                 f"{OK_MARKER} uid=0")


def sudo_layout(pam_block: str, label: str, tool: str, module: str) -> None:
    enrolled, newcomer = h.create_user(), h.create_user()
    secret = enroll_central(enrolled, tool)
    service = h.unique_name()
    install_pam_service(service, pam_service_text(with_module(pam_block, module)))
    install_sudoers([enrolled, newcomer], service)
    doctor(label, ["--service", service, "--user", enrolled.name], 0)
    right, wrong = codes(secret)
    attempt = sudo(enrolled, {"password": [enrolled.password], "code": [wrong]})
    h.check(not attempt.ok and attempt.prompts == ["password", "code"],
            f"{label}: password + wrong code refused ({attempt.prompts})")
    attempt = sudo(enrolled, {"password": [enrolled.password], "code": [right]})
    h.check(attempt.ok, f"{label}: password + code runs the command as root"
            + ("" if attempt.ok else f"\n{attempt.transcript}"))
    h.check(CLOCK_HINT in attempt.transcript,
            f"{label}: the clock hint reaches sudo users (PAM_SILENT) in the prompt")
    attempt = sudo(newcomer, {"password": [newcomer.password]})
    h.check(attempt.ok and attempt.prompts == ["password"],
            f"{label}: user without a secret file: password only (nullok) ({attempt.prompts})")
    for _ in range(3):
        _, wrong = codes(secret)
        sudo(enrolled, {"password": [enrolled.password], "code": [wrong]})
    attempt = sudo(enrolled, {"password": [enrolled.password], "code": ["000000"]})
    h.check(not attempt.ok and LOCKED_OUT in attempt.transcript,
            f"{label}: a locked-out sudo user is told so in the prompt")


def su_layout(pam_block: str, label: str, tool: str, module: str) -> None:
    workdir = h.make_temp_dir()
    enrolled, newcomer, caller = h.create_user(), h.create_user(), h.create_user()
    secret = enroll_central(enrolled, tool)
    service_file = os.path.join(workdir, "su-service")
    with open(service_file, "w", encoding="ascii") as handle:
        handle.write(pam_service_text(with_module(pam_block, module)))
    os.chmod(service_file, 0o644)
    doctor(label, ["--service", service_file, "--user", enrolled.name], 0)

    def su(target: h.User, answers: dict[str, list[str]]) -> Attempt:
        child = h.spawn_su(service_file, caller, target,
                           "echo e2e-\\$((6*7))-ok user=\\$(id -un)")
        return drive(child, answers, f"{OK_MARKER} user={target.name}")

    right, wrong = codes(secret)
    attempt = su(enrolled, {"password": [enrolled.password], "code": [wrong]})
    h.check(not attempt.ok and attempt.prompts == ["password", "code"],
            f"{label}: target's password + wrong code refused ({attempt.prompts})")
    attempt = su(enrolled, {"password": [enrolled.password], "code": [right]})
    h.check(attempt.ok, f"{label}: password + code switches user"
            + ("" if attempt.ok else f"\n{attempt.transcript}"))
    attempt = su(newcomer, {"password": [newcomer.password]})
    h.check(attempt.ok and attempt.prompts == ["password"],
            f"{label}: target without a secret file: password only (nullok) ({attempt.prompts})")


# --------------------------------------------------------------------------


def main() -> int:
    h.require_root()
    def extra(parser) -> None:
        parser.add_argument("--docs", required=True, help="source tree holding README.md and docs/")
        parser.add_argument("--check-tool", default=None, help="twostep-check to run on each layout")
    args = h.parse_args(extra)
    global CHECK_TOOL
    CHECK_TOOL = args.check_tool
    module = os.path.abspath(args.module)
    tool = args.enroll_tool
    if not tool:
        raise SystemExit("--enroll-tool is required")
    su_before = open("/etc/pam.d/su", "rb").read()

    def scenario() -> None:
        for doc in REQUIRED:
            blocks = extract(args.docs, doc)
            for (layout, part), block in sorted(blocks.items()):
                label = f"{doc} {layout}"
                if part != "pam":
                    continue
                if layout in SSHD_LAYOUTS:
                    sshd_part = blocks.get((layout, "sshd")) or blocks[("password-code", "sshd")]
                    sshd_layout(layout, block, sshd_part, label, tool, module)
                elif layout == "sudo":
                    sudo_layout(block, label, tool, module)
                elif layout == "su":
                    su_layout(block, label, tool, module)
                else:
                    raise h.TestFailure(f"{doc}: unknown layout {layout}")
        h.check(open("/etc/pam.d/su", "rb").read() == su_before, "host /etc/pam.d/su unchanged")

    return h.run_scenario(scenario)


if __name__ == "__main__":
    sys.exit(main())
