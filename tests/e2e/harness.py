"""Shared harness for twostep end-to-end tests.

Every test runs the real programs (sshd, ssh, sudo, su, pamtester) against a
PAM module given on the command line, so the same scenario first validates the
harness against Debian's pam_google_authenticator.so and then exercises
pam_twostep.so.

Everything a test creates carries a unique name (twostep-e2e-<hex>) and is
registered with a cleanup stack that runs LIFO on normal exit, on exceptions,
on SIGTERM/SIGINT/SIGHUP and at interpreter exit. Each registration is also
written, before the thing is created, to a journal in /run/twostep-e2e/; a
test process killed with SIGKILL (ctest's timeout) leaves its journal behind,
and the next test sweeps what that dead process left. System files
are never modified: sshd picks its PAM service from its program name, sudo from
a sudoers drop-in (pam_service=), su from a bind mount inside a private mount
namespace.
"""

from __future__ import annotations

import argparse
import atexit
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable, Optional

import pexpect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
import twostep_harness as th  # noqa: E402
from twostep_harness import SKIP_CODE, free_port  # noqa: E402,F401 (the e2e tests' API)

GA_MODULE = "/lib/x86_64-linux-gnu/security/pam_google_authenticator.so"
PREFIX = "twostep-e2e-"
CODE_PROMPT = r"Verification code: ?"
PASSWORD_PROMPT = r"[Pp]assword: ?"
PAM_DIR = "/etc/pam.d"
SUDOERS_DIR = "/etc/sudoers.d"
OWNED_FILE_PREFIXES = (f"{PAM_DIR}/{PREFIX}", f"{SUDOERS_DIR}/{PREFIX}",
                       f"{SUDOERS_DIR}/.{PREFIX}", f"/var/lib/twostep/{PREFIX}")
STEP_SECONDS = 30
# The only packages a journal may ask a sweep to purge (tests/package).
PACKAGE_TEST_PACKAGES = ("libpam-twostep", "twostepd")


# --------------------------------------------------------------------------
# Output and failure


def log(message: str) -> None:
    print(f"[e2e] {message}", flush=True)


# A failed check stops the scenario (run_scenario reports it): the later
# steps build on the earlier ones.
TestFailure = th.CheckFailed
check = th.expect


# --------------------------------------------------------------------------
# Cleanup registry


JOURNAL_DIR = "/run/twostep-e2e"


class Cleanup:
    """LIFO stack of undo actions; runs at most once.

    `record` (kind, value...) goes to this process's journal so a sweep can
    undo the same thing if the process dies without running the stack.
    """

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], None]]] = []
        self._ran = False
        self._journal: Optional[str] = None

    def _journal_path(self) -> str:
        if self._journal is None:
            os.makedirs(JOURNAL_DIR, mode=0o700, exist_ok=True)
            self._journal = os.path.join(JOURNAL_DIR, f"{os.getpid()}.journal")
        return self._journal

    def add(self, what: str, action: Callable[[], None],
            record: Optional[tuple[str, ...]] = None) -> None:
        if record is not None:
            with open(self._journal_path(), "a", encoding="utf-8") as journal:
                journal.write("\t".join(record) + "\n")
                journal.flush()
                os.fsync(journal.fileno())
        self._actions.append((what, action))

    def run(self) -> None:
        if self._ran:
            return
        self._ran = True
        failed = False
        while self._actions:
            what, action = self._actions.pop()
            try:
                action()
            except Exception as error:  # keep cleaning up the rest
                failed = True
                print(f"[e2e] cleanup of {what} failed: {error}", file=sys.stderr, flush=True)
        if self._journal is not None and not failed and os.path.exists(self._journal):
            os.unlink(self._journal)
            try:
                os.rmdir(JOURNAL_DIR)  # only when no other journal is left
            except OSError:
                pass


CLEANUP = Cleanup()
atexit.register(CLEANUP.run)


def _on_signal(signum, _frame) -> None:
    CLEANUP.run()
    os._exit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def require_root() -> None:
    if os.geteuid() != 0:
        print("SKIP: needs root (creates a user, runs sshd)", flush=True)
        sys.exit(SKIP_CODE)
    sweep_stale_journals()


def _process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"python" in handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return False


def _undo_record(record: list[str]) -> None:
    kind, values = record[0], record[1:]
    if kind == "user" and values[0].startswith(PREFIX):
        try:
            _remove_user(values[0], pwd.getpwnam(values[0]).pw_uid)
        except KeyError:
            pass
    elif kind == "group" and values[0].startswith(PREFIX):
        subprocess.run(["groupdel", values[0]], capture_output=True)
    elif kind == "file" and any(values[0].startswith(p) for p in OWNED_FILE_PREFIXES):
        if os.path.lexists(values[0]):
            os.unlink(values[0])
    elif kind == "dir" and os.path.basename(values[0]).startswith(PREFIX):
        shutil.rmtree(values[0], ignore_errors=True)
    elif kind == "sshd":
        pid, config = int(values[0]), values[1]
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if config.encode() in handle.read():
                    os.killpg(pid, signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError):
            pass
    elif kind == "dpkg-purge":
        # tests/package installed these (journalled before dpkg -i) and died.
        names = [n for n in values if n in PACKAGE_TEST_PACKAGES]
        installed = [n for n in names
                     if subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", n],
                                       capture_output=True, text=True).stdout[1:2]
                     not in ("", "n")]
        if installed:
            subprocess.run(["dpkg", "--purge"] + installed, capture_output=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    elif kind == "privsep" and not _sshd_running():
        try:
            os.rmdir("/run/sshd")
        except OSError:
            pass


def sweep_stale_journals() -> None:
    """Undoes what earlier test processes that died (SIGKILL) left behind."""
    if not os.path.isdir(JOURNAL_DIR):
        return
    for entry in sorted(os.listdir(JOURNAL_DIR)):
        path = os.path.join(JOURNAL_DIR, entry)
        pid_text = entry.split(".")[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        with open(path, encoding="utf-8") as handle:
            records = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
        print(f"[e2e] sweeping {len(records)} leftovers of dead test process {pid_text}",
              flush=True)
        for record in reversed(records):
            try:
                _undo_record(record)
            except Exception as error:
                print(f"[e2e] sweep of {record[0]} failed: {error}", file=sys.stderr)
        os.unlink(path)


def run(argv: list[str], *, input_text: Optional[str] = None, check_rc: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, input=input_text, capture_output=True, text=True,
                            timeout=timeout)
    if check_rc and result.returncode != 0:
        raise TestFailure(f"{argv[0]} failed ({result.returncode}): "
                          f"{redact(result.stderr.strip())}")
    return result


def redact(text: str) -> str:
    """Hides anything that could be a code or a key (enrollment tools print them)."""
    text = re.sub(r"\d{6,}", "<digits>", text)
    return re.sub(r"\b[A-Z2-7]{16,}\b|secret=[^&\s]+", "<secret>", text)


def unique_name() -> str:
    return PREFIX + secrets.token_hex(3)


def make_temp_dir() -> str:
    path = tempfile.mkdtemp(prefix=PREFIX)
    CLEANUP.add(f"temp dir {path}", lambda: shutil.rmtree(path, ignore_errors=True),
                ("dir", path))
    os.chmod(path, 0o755)  # sshd (privsep) and test users read configs here
    return path


# --------------------------------------------------------------------------
# Users


@dataclass
class User:
    name: str
    uid: int
    gid: int
    home: str
    password: str


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                pids.append(int(entry))
        except FileNotFoundError:
            pass
    return pids


def _remove_user(name: str, uid: int) -> None:
    # Leftover session processes of this throwaway uid keep userdel from working.
    for attempt in range(20):
        pids = _pids_of_uid(uid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL if attempt > 5 else signal.SIGTERM)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    result = run(["userdel", "-r", name], check_rc=False)
    if result.returncode not in (0, 12):  # 12: home could not be removed
        run(["userdel", "-f", "-r", name], check_rc=False)
    try:
        pwd.getpwnam(name)
        raise TestFailure(f"user {name} still exists after userdel")
    except KeyError:
        pass


def _remove_user_if_present(name: str) -> None:
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    _remove_user(name, uid)


def register_owned_file(path: str) -> None:
    """Registers removal of a file this test is about to create."""
    if not any(path.startswith(p) for p in OWNED_FILE_PREFIXES):
        raise TestFailure(f"refusing to manage {path}: outside the test prefixes")
    CLEANUP.add(f"file {path}", lambda: os.path.lexists(path) and os.unlink(path),
                ("file", path))


def create_user(name: Optional[str] = None) -> User:
    name = name or unique_name()
    try:
        pwd.getpwnam(name)
        raise TestFailure(f"user {name} already exists; refusing to touch it")
    except KeyError:
        pass
    CLEANUP.add(f"user {name}", lambda: _remove_user_if_present(name), ("user", name))
    run(["useradd", "-m", "-s", "/bin/sh", "-c", "twostep e2e test user", name])
    entry = pwd.getpwnam(name)
    password = "pw-" + secrets.token_hex(12)
    run(["chpasswd"], input_text=f"{name}:{password}\n")
    return User(name, entry.pw_uid, entry.pw_gid, entry.pw_dir, password)


def create_group(members: list[User]) -> str:
    """A throwaway group with `members` as supplementary members."""
    name = unique_name()
    try:
        grp.getgrnam(name)
        raise TestFailure(f"group {name} already exists; refusing to touch it")
    except KeyError:
        pass
    CLEANUP.add(f"group {name}", lambda: run(["groupdel", name], check_rc=False),
                ("group", name))
    run(["groupadd", name])
    for member in members:
        run(["usermod", "-a", "-G", name, member.name])
    return name


def run_as(user: User, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return run(["runuser", "-u", user.name, "--"] + argv, **kwargs)


# --------------------------------------------------------------------------
# TOTP codes (oathtool) and enrollment


def current_step() -> int:
    return int(time.time()) // STEP_SECONDS


def totp(secret_b32: str, step: int) -> str:
    # The key goes through stdin so it never shows up in a process listing.
    result = run(["oathtool", "--totp", "-b", "-", "-N", f"@{step * STEP_SECONDS}"],
                 input_text=secret_b32 + "\n")
    code = result.stdout.strip()
    if not re.fullmatch(r"\d{6}", code):
        raise TestFailure("oathtool did not print a 6-digit code")
    return code


def wrong_code(secret_b32: str, step: int) -> str:
    """A well-formed code that no step near `step` accepts."""
    nearby = {totp(secret_b32, s) for s in range(step - 6, step + 7)}
    candidate = int(totp(secret_b32, step))
    while f"{candidate:06d}" in nearby:
        candidate = (candidate + 1) % 1_000_000
    return f"{candidate:06d}"


@dataclass
class Enrolled:
    secret_b32: str
    path: str


def enroll_google_authenticator_cli(user: User, window: int = 5) -> Enrolled:
    """~/.google_authenticator made by the real google-authenticator CLI."""
    path = os.path.join(user.home, ".google_authenticator")
    run_as(user, ["google-authenticator", "--time-based", "--disallow-reuse", "--force",
                  "--no-confirm", "--quiet", "--qr-mode=NONE", "--rate-limit=10",
                  "--rate-time=30", f"--window-size={window}", "--emergency-codes=3",
                  f"--secret={path}"])
    with open(path, encoding="ascii") as handle:
        secret = handle.readline().strip()
    if not re.fullmatch(r"[A-Z2-7]{16,}", secret):
        raise TestFailure("google-authenticator wrote an unexpected first line")
    return Enrolled(secret, path)


def enroll_twostep(user: User, tool: str, file_format: str = "native",
                   path: Optional[str] = None) -> Enrolled:
    """A secret file written by twostep-enroll; the key comes from its URI."""
    path = path or os.path.join(
        user.home, ".twostep" if file_format == "native" else ".google_authenticator")
    result = run([tool, "--user", user.name, "--secret-file", path, "--format", file_format,
                  "--no-confirm", "--print-uri", "--quiet", "--force"])
    match = re.search(r"otpauth://\S+", result.stdout)
    if not match:
        raise TestFailure("twostep-enroll --print-uri printed no otpauth:// URI")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(match.group(0)).query)
    secret = query.get("secret", [""])[0].upper().rstrip("=")
    if not re.fullmatch(r"[A-Z2-7]{16,}", secret):
        raise TestFailure("otpauth URI has no usable secret parameter")
    stat = os.stat(path)
    if stat.st_uid != user.uid:
        raise TestFailure(f"twostep-enroll left {path} owned by uid {stat.st_uid}")
    return Enrolled(secret, path)


# --------------------------------------------------------------------------
# Module selection shared by all test scripts


@dataclass
class ModuleUnderTest:
    path: str
    kind: str            # "ga" or "twostep"
    enroll_mode: str     # "ga-cli", "twostep-native", "twostep-ga"
    enroll_tool: Optional[str]
    args: str            # extra module arguments

    def auth_line(self, control: str = "required") -> str:
        return f"auth {control} {self.path} {self.args}".rstrip()

    def enroll(self, user: User) -> Enrolled:
        if self.enroll_mode == "ga-cli":
            return enroll_google_authenticator_cli(user)
        if not self.enroll_tool:
            raise TestFailure("--enroll-tool is required for twostep enrollment")
        fmt = "native" if self.enroll_mode == "twostep-native" else "google-authenticator"
        return enroll_twostep(user, self.enroll_tool, fmt)


def parse_args(extra: Optional[Callable[[argparse.ArgumentParser], None]] = None
               ) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", default=GA_MODULE, help="PAM module .so under test")
    parser.add_argument("--kind", choices=["ga", "twostep"], default="ga")
    parser.add_argument("--enroll", choices=["ga-cli", "twostep-native", "twostep-ga"],
                        default="ga-cli")
    parser.add_argument("--enroll-tool", default=None, help="path to twostep-enroll")
    parser.add_argument("--module-args", default="", help="extra module arguments")
    parser.add_argument("--ga-module", default=GA_MODULE)
    if extra:
        extra(parser)
    args = parser.parse_args()
    if not os.path.isfile(args.module):
        raise SystemExit(f"module not found: {args.module}")
    return args


def module_from_args(args: argparse.Namespace) -> ModuleUnderTest:
    return ModuleUnderTest(os.path.abspath(args.module), args.kind, args.enroll,
                           args.enroll_tool, args.module_args)


def start_test(extra: Optional[Callable[[argparse.ArgumentParser], None]] = None
               ) -> tuple[ModuleUnderTest, argparse.Namespace]:
    """The start of every e2e test's main(): root (or exit 77), the command
    line, and the module under test, logged."""
    require_root()
    args = parse_args(extra)
    module = module_from_args(args)
    log(f"module {module.path} ({module.kind}, enrollment {module.enroll_mode})")
    return module, args


# --------------------------------------------------------------------------
# PAM service files


def write_pam_service(name: str, auth_lines: list[str]) -> str:
    """/etc/pam.d/<name> with the given auth lines; account/session minimal."""
    if not name.startswith(PREFIX):
        raise TestFailure("refusing to write a PAM service outside the test prefix")
    path = os.path.join(PAM_DIR, name)
    content = "# twostep e2e test service; removed by the test\n"
    content += "\n".join(auth_lines) + "\n"
    content += "account required pam_unix.so\n"
    content += "session required pam_permit.so\n"
    content += "password required pam_deny.so\n"
    temp = os.path.join(PAM_DIR, f"{name}.tmp")
    if not os.path.exists(path):
        register_owned_file(path)
        register_owned_file(temp)
    with open(temp, "w", encoding="ascii") as handle:
        handle.write(content)
    os.chmod(temp, 0o644)
    os.replace(temp, path)
    return path


# --------------------------------------------------------------------------
# pamtester: real libpam, real /etc/pam.d service


def pamtester_login(service: str, user: str, answers: list[str], timeout: float = 20
                    ) -> tuple[bool, str]:
    """Runs `pamtester <service> <user> authenticate`, answering each prompt."""
    child = pexpect.spawn("pamtester", ["-v", service, user, "authenticate"],
                          encoding="utf-8", timeout=timeout)
    transcript = []
    try:
        pending = list(answers)
        while True:
            index = child.expect([CODE_PROMPT, PASSWORD_PROMPT, pexpect.EOF])
            transcript.append(child.before + (child.after if index < 2 else ""))
            if index == 2:
                break
            child.sendline(pending.pop(0) if pending else "")
        child.close()
        return child.exitstatus == 0, "".join(transcript)
    finally:
        if child.isalive():
            child.close(force=True)


# --------------------------------------------------------------------------
# sshd


def run_scenario(body: Callable[[], None],
                 after_cleanup: Optional[Callable[[], Optional[str]]] = None) -> int:
    """Runs a test body, always cleans up, prints PASS or FAIL and returns the
    exit status. `after_cleanup` may check the system once everything is
    removed and return a failure message."""
    try:
        body()
    except TestFailure as failure:
        print(f"FAIL: {failure}", flush=True)
        return 1
    finally:
        CLEANUP.run()
    problem = after_cleanup() if after_cleanup else None
    if problem:
        print(f"FAIL: {problem}", flush=True)
        return 1
    print("PASS", flush=True)
    return 0


PROMPTS = [("code", CODE_PROMPT), ("password", PASSWORD_PROMPT)]


def answer_prompts(child, answers: dict[str, list[str]],
                   kinds: list[tuple[str, str]] = PROMPTS,
                   with_prompts: bool = False) -> tuple[list[str], str]:
    """Answers a pexpect child's prompts until it exits: each prompt of a
    kind in `kinds` ((kind, pattern): verification "code" and "password" by
    default) gets the next answer of its kind, an empty line once those run
    out. Returns the prompts seen and all output (with the prompts'
    own text if `with_prompts`)."""
    pending = {kind: list(values) for kind, values in answers.items()}
    prompts: list[str] = []
    transcript: list[str] = []
    patterns = [pattern for _, pattern in kinds] + [pexpect.EOF]
    try:
        while True:
            index = child.expect(patterns)
            transcript.append(child.before + (child.after if with_prompts and index < len(kinds)
                                              else ""))
            if index == len(kinds):
                break
            kind = kinds[index][0]
            prompts.append(kind)
            queue = pending.get(kind, [])
            child.sendline(queue.pop(0) if queue else "")
        child.close()
    finally:
        if child.isalive():
            child.close(force=True)
    return prompts, "".join(transcript)


SU_SERVICE = "/etc/pam.d/su"


def spawn_su(service_file: str, caller: User, target: User, command: str) -> pexpect.spawn:
    """`su TARGET -c COMMAND` run by `caller` on a pty, with `service_file` as
    su's PAM service: bind-mounted over /etc/pam.d/su in a private mount
    namespace, so the system's file is never touched. `command` goes inside
    double quotes of a shell line (escape its `$`)."""
    script = (f'mount --bind "{service_file}" {SU_SERVICE} && '
              f'exec runuser -u "{caller.name}" -- su "{target.name}" -c "{command}"')
    return pexpect.spawn("unshare",
                         ["--mount", "--propagation", "private", "/bin/sh", "-c", script],
                         encoding="utf-8", timeout=20)


def spawn_sudo(user: User, command: str) -> pexpect.spawn:
    """`sudo -k sh -c COMMAND` run by `user` on a pty."""
    return pexpect.spawn("runuser", ["-u", user.name, "--", "sudo", "-k", "/bin/sh", "-c", command],
                         encoding="utf-8", timeout=20)


def ensure_privsep_dir() -> None:
    if os.path.isdir("/run/sshd"):
        return
    CLEANUP.add("/run/sshd", lambda: os.path.isdir("/run/sshd") and os.rmdir("/run/sshd"),
                ("privsep", "/run/sshd"))
    os.makedirs("/run/sshd", mode=0o755)


def _sshd_running() -> bool:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/exe") == "/usr/sbin/sshd":
                return True
        except OSError:
            pass
    return False


class Sshd:
    """A private sshd on 127.0.0.1 whose PAM service is `service`.

    Portable OpenSSH passes __progname (the basename of argv[0]) to pam_start,
    so running sshd through a symlink named after the service makes it use
    /etc/pam.d/<service> without touching /etc/pam.d/sshd.
    """

    def __init__(self, workdir: str, service: str, allow_users: list[str],
                 authentication_methods: str) -> None:
        self.dir = os.path.join(workdir, f"sshd-{secrets.token_hex(2)}")
        os.mkdir(self.dir, 0o755)
        self.service = service
        self.port = free_port()
        self.host_key = os.path.join(self.dir, "host_ed25519")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.host_key])
        self.pid_file = os.path.join(self.dir, "sshd.pid")
        self.config = os.path.join(self.dir, "sshd_config")
        self.log_path = os.path.join(self.dir, "sshd.log")
        with open(self.config, "w", encoding="ascii") as handle:
            handle.write("\n".join([
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.host_key}",
                f"PidFile {self.pid_file}",
                "UsePAM yes",
                "KbdInteractiveAuthentication yes",
                "PasswordAuthentication no",
                "PubkeyAuthentication yes",
                f"AuthenticationMethods {authentication_methods}",
                "AuthorizedKeysFile .ssh/authorized_keys",
                "PermitRootLogin no",
                f"AllowUsers {' '.join(allow_users)}",
                "StrictModes yes",
                "PrintMotd no",
                "PrintLastLog no",
                "MaxAuthTries 6",
                "LoginGraceTime 30",
                "LogLevel VERBOSE",
                "Subsystem sftp internal-sftp",
                "",
            ]))
        ensure_privsep_dir()
        run(["/usr/sbin/sshd", "-t", "-f", self.config])
        self.program = os.path.join(self.dir, service)
        os.symlink("/usr/sbin/sshd", self.program)
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> "Sshd":
        ensure_privsep_dir()
        log_file = open(self.log_path, "w", encoding="utf-8")
        self.process = subprocess.Popen([self.program, "-D", "-e", "-f", self.config],
                                        stdout=log_file, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log_file.close()
        CLEANUP.add(f"sshd pid {self.process.pid}", self.stop,
                    ("sshd", str(self.process.pid), self.config))
        try:
            th.wait_for_line(self.log_path, "Server listening", 10, "sshd to listen",
                             process=self.process)
        except TestFailure as failure:
            raise TestFailure(f"{failure}:\n{self.log()}") from None
        return self

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        pid = self.process.pid
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def install_client_key(user: User, workdir: str) -> str:
    """Creates a client key in workdir and authorizes it for `user`."""
    key = os.path.join(workdir, f"client-{user.name}")
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
    ssh_dir = os.path.join(user.home, ".ssh")
    os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
    authorized = os.path.join(ssh_dir, "authorized_keys")
    shutil.copyfile(key + ".pub", authorized)
    os.chmod(authorized, 0o600)
    for path in (ssh_dir, authorized):
        os.chown(path, user.uid, user.gid)
    return key


@dataclass
class LoginResult:
    succeeded: bool
    exit_status: Optional[int]
    prompts: list[str]
    transcript: str


def ssh_login(sshd: Sshd, user: User, workdir: str, answers: dict[str, list[str]],
              key: Optional[str] = None, command: str = "echo e2e-$((6*7))-ok",
              marker: str = "e2e-42-ok", timeout: float = 30) -> LoginResult:
    """Runs the real ssh client; answers "code"/"password" prompts in order."""
    known_hosts = os.path.join(workdir, "known_hosts")
    argv = ["-F", "/dev/null", "-p", str(sshd.port),
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "StrictHostKeyChecking=no",
            "-o", "NumberOfPasswordPrompts=1",
            "-o", "BatchMode=no",
            "-o", "ConnectTimeout=10",
            "-o", "IdentitiesOnly=yes",
            "-o", "PreferredAuthentications=publickey,keyboard-interactive",
            "-T"]
    if key:
        argv += ["-i", key]
    argv += [f"{user.name}@127.0.0.1", command]
    child = pexpect.spawn("ssh", argv, encoding="utf-8", timeout=timeout)
    prompts, output = answer_prompts(child, answers)
    return LoginResult(child.exitstatus == 0 and marker in output, child.exitstatus,
                       prompts, output)
