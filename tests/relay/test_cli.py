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
        newer_schema_is_refused,
    ], sys.argv[1]))
