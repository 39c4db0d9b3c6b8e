#!/usr/bin/env python3
"""twostepd's command line and configuration: strict config parsing, the
admin subcommands, schema versions, and a start with no config at all
(docs/man/twostepd.8, docs/twostepd.conf.md).

usage: test_cli.py TWOSTEPD
"""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

from relay_harness import Relay, run, td, th


def tmpdir():
    return tempfile.mkdtemp(prefix="twostepd-cli-")


def twostepd(binary, *args, timeout=30):
    return subprocess.run([binary] + list(args), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def config_is_strict(binary):
    d = tmpdir()
    try:
        cases = [
            ("listen = 127.0.0.1:1\nlisten = 127.0.0.1:2\n", "line 2: 'listen' set twice"),
            ("no_such_setting = 1\n", "line 1: unknown setting 'no_such_setting'"),
            ("# comment\nmax_wait = sixty\n", "line 2: max_wait must be an integer"),
            ("max_body_bytes = 10\n", "max_body_bytes must be an integer from 4096"),
            ("just words\n", "line 1: expected 'key = value'"),
            ("listen = 0.0.0.0:8700\n", "plain HTTP is served on loopback only"),
            ("approver_origin = http://203.0.113.9\n", "approver_origin"),
            ("tls_cert = /x.pem\n", "tls_cert and tls_key go together"),
            ("clock_skew = 400\n", "nonce_ttl must be at least twice clock_skew"),
            ("audit_retention = -1\n", "audit_retention must be an integer from 0 to 316224000"),
            ("prune_batch = 5\n", "prune_batch must be an integer from 10 to 100000"),
            ("log_level = verbose\n", "log_level must be info or debug"),
        ]
        for text, message in cases:
            path = os.path.join(d, "c.conf")
            with open(path, "w") as f:
                f.write(text)
            r = twostepd(binary, "--config", path, "--db", os.path.join(d, "r.db"), "host", "list")
            assert r.returncode == 2 and message in r.stderr, (text, r.returncode, r.stderr)
        r = twostepd(binary, "--config", os.path.join(d, "missing.conf"), "host", "list")
        assert r.returncode == 2 and "cannot read" in r.stderr, r.stderr
    finally:
        shutil.rmtree(d)


def serve_runs_with_no_config_at_all(binary):
    # Only --listen and --db (the default database is under /var/lib).
    d = tmpdir()
    try:
        log = open(os.path.join(d, "log"), "w")
        p = subprocess.Popen([binary, "--db", os.path.join(d, "r.db"), "serve", "--listen",
                              "127.0.0.1:0"], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        th.wait_for_line(os.path.join(d, "log"), "listening on", 15, "twostepd to listen",
                         process=p)
        with open(os.path.join(d, "log")) as f:
            text = f.read()
        p.terminate()
        assert p.wait(10) == 0
        assert re.search(r"listening on 127\.0\.0\.1:\d+ \(plain HTTP, loopback\)", text), text
        assert os.stat(os.path.join(d, "r.db")).st_mode & 0o077 == 0  # umask 077
    finally:
        shutil.rmtree(d)


def host_admin_commands(binary):
    relay = Relay(binary)
    try:
        out = relay.cli("host", "add", "web1").stdout
        assert re.search(r"^relay = http://", out, re.M), out
        assert re.search(r"^host_id = [A-Za-z0-9_-]{22}$", out, re.M), out
        secret = re.search(r"^host_secret = ([A-Za-z0-9_-]{43})$", out, re.M).group(1)
        listed = relay.cli("host", "list").stdout
        assert "web1" in listed and secret not in listed, listed  # shown once
        r = relay.cli("host", "add", "web1", check=False)
        assert r.returncode == 1 and "exists" in r.stderr, r.stderr
        r = relay.cli("host", "add", "bad name", check=False)
        assert r.returncode == 2, r
        relay.cli("host", "remove", "web1")
        assert "web1" not in relay.cli("host", "list").stdout
        r = relay.cli("host", "remove", "web1", check=False)
        assert r.returncode == 1, r
        events = [json.loads(x)["event"] for x in relay.cli("audit", "--json").stdout.splitlines()]
        assert events == ["host_added", "host_removed"], events
        vapid = relay.cli("vapid", "show").stdout.strip()
        assert len(td.b64u_decode(vapid)) == 65 and vapid == relay.cli("vapid", "show").stdout.strip(), vapid
        assert secret not in relay.cli("audit").stdout
    finally:
        shutil.rmtree(relay.dir, ignore_errors=True)


def printed_files(out):
    """{path: (owner, mode, text)} from `twostepd host add`: each file under a
    comment line "# PATH (owner OWNER, mode MODE: ...)", up to a blank line."""
    files, current = {}, None
    for line in out.splitlines():
        header = re.fullmatch(r"# (/\S+) \(owner (\w+), mode (0[0-7]{3})\b.*\)", line)
        if header:
            current = header.group(1)
            files[current] = (header.group(2), int(header.group(3), 8), "")
        elif not line:
            current = None
        elif current is not None:
            owner, mode, text = files[current]
            files[current] = (owner, mode, text + line + "\n")
    return files


def host_add_prints_files_the_host_accepts(binary):
    """Issue 18 item 10: `host add` prints push.conf (0644) and the host
    secret file (0600) with their paths, owner and modes; written as told
    (under a private root for /etc/twostep), twostep-check accepts both and
    the relay accepts the host's signed request."""
    check_tool, push_library = os.environ.get("TWOSTEP_CHECK"), os.environ.get("TWOSTEP_PUSH_SO")
    if not check_tool or not push_library:
        th.skip("TWOSTEP_CHECK and TWOSTEP_PUSH_SO are not set (relay built without the host tools)")
    if os.geteuid() != 0:
        th.skip("the host secret file must be root's: needs root")
    port = th.free_port()
    relay = Relay(binary, ["public_url = http://127.0.0.1:%d" % port])
    root = tmpdir()
    try:
        relay.start(port)
        out = relay.cli("host", "add", "web1").stdout
        files = printed_files(out)
        assert sorted(files) == ["/etc/twostep/push.conf", "/etc/twostep/push.secret"], out
        conf_owner, conf_mode, conf = files["/etc/twostep/push.conf"]
        assert (conf_owner, conf_mode) == ("root", 0o644), out
        for key in ("relay", "host_id", "host_name", "approver_origin"):
            assert re.search(r"^%s = \S+$" % key, conf, re.M), (key, out)
        assert "host_secret =" not in conf, out
        assert re.search(r"^host_name = web1$", conf, re.M), out
        secret_owner, secret_mode, secret = files["/etc/twostep/push.secret"]
        assert (secret_owner, secret_mode) == ("root", 0o600), out
        assert re.fullmatch(r"host_secret = [A-Za-z0-9_-]{43}\n", secret), out
        etc = os.path.join(root, "etc", "twostep")
        os.makedirs(etc, 0o755)
        for path, (owner, mode, text) in files.items():
            here = os.path.join(root, path.lstrip("/"))
            fd = os.open(here, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "w") as f:
                f.write(text.replace("/etc/twostep/", etc + "/"))
            os.chown(here, 0, 0)
            os.chmod(here, mode)
        modules = os.path.join(root, "security")
        pam_dir = os.path.join(root, "pam.d")
        os.mkdir(modules)
        os.mkdir(pam_dir)
        open(os.path.join(modules, "pam_twostep.so"), "w").close()
        os.symlink(push_library, os.path.join(modules, "libtwostep-push.so"))
        with open(os.path.join(pam_dir, "svc"), "w") as f:
            f.write("auth required pam_unix.so\nauth required pam_twostep.so push "
                    "push_config=%s/push.conf\n" % etc)
        r = subprocess.run([check_tool, "--service", "svc", "--pam-dir", pam_dir, "--module-dir",
                            modules, "--no-sshd", "--no-clock"], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        output = r.stdout + r.stderr
        assert r.returncode == 0 and "PROBLEM" not in output, output
        assert "host secret file %s/push.secret: regular file, owner root" % etc in output, output
        assert "relay http://127.0.0.1:%d answers" % port in output, output
    finally:
        relay.stop()
        shutil.rmtree(relay.dir, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def newer_schema_is_refused(binary):
    relay = Relay(binary)
    try:
        relay.cli("host", "list")  # creates and migrates
        db = sqlite3.connect(relay.db)
        db.execute("PRAGMA user_version = 99")
        db.commit()
        db.close()
        r = relay.cli("host", "list", check=False)
        assert r.returncode == 1 and "newer than this twostepd" in r.stderr, r.stderr
        db = sqlite3.connect(relay.db)
        assert db.execute("PRAGMA user_version").fetchone()[0] == 99  # untouched
        db.close()
    finally:
        shutil.rmtree(relay.dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run([
        config_is_strict,
        serve_runs_with_no_config_at_all,
        host_admin_commands,
        host_add_prints_files_the_host_accepts,
        newer_schema_is_refused,
    ], sys.argv[1]))
