#!/usr/bin/env python3
"""Runs one command against a private, throwaway PostgreSQL 15 cluster.

    with_postgres.py COMMAND [ARG...]

Every argument equal to @PGURL@ is replaced by the cluster's URL
(postgresql://twostep@/postgres?host=<socket dir>&port=<port>, superuser
`twostep`, trust authentication), which is also exported as TWOSTEP_PG_URL.
Exit status: the command's; 77 (skipped) when this machine cannot run a
PostgreSQL server for us; 1 when the cluster cannot be set up.

The cluster is made with initdb and pg_ctl from Debian's postgresql-15
(/usr/lib/postgresql/15/bin, or $TWOSTEP_PG_BINDIR) in a temp directory. It
listens on a Unix socket only (listen_addresses = ''), in a directory only
its owner (and root) can enter, on a port number this run picked. PostgreSQL
refuses to run as root, so as root the cluster runs as a throwaway user made
for this run (tests/e2e/harness.py: journaled, removed afterwards even if
this process dies); as anyone else it runs as the caller. The server is
stopped and every file removed afterwards. No system cluster is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402  (cleanup stack, throwaway users, free ports)

SKIP_CODE = 77
BINDIR = os.environ.get("TWOSTEP_PG_BINDIR", "/usr/lib/postgresql/15/bin")


def log(message: str) -> None:
    print(f"[with_postgres] {message}", flush=True)


def main() -> int:
    command = sys.argv[1:]
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    root = os.geteuid() == 0
    missing = [tool for tool in ("initdb", "pg_ctl", "postgres")
               if not os.access(os.path.join(BINDIR, tool), os.X_OK)]
    if missing:
        reason = f"PostgreSQL 15 server not installed ({BINDIR}/{missing[0]} missing)"
        if root:  # CI runs as root after scripts/setup: this must not pass silently
            log(f"FAIL: {reason}; run scripts/setup")
            return 1
        log(f"SKIP: {reason}; not root, so cannot install it")
        return SKIP_CODE

    if root:
        harness.sweep_stale_journals()
        user = harness.create_user()
        uid, gid = user.uid, user.gid
    else:
        uid, gid = os.getuid(), os.getgid()

    base = tempfile.mkdtemp(prefix=harness.PREFIX + "pg-")
    # The journal (in /run) lets a later root run sweep what a killed one
    # left; without root there is no user to sweep and no journal to write.
    harness.CLEANUP.add(f"temp dir {base}", lambda: shutil.rmtree(base, ignore_errors=True),
                        ("dir", base) if root else None)
    os.chmod(base, 0o700)
    os.chown(base, uid, gid)
    data = os.path.join(base, "data")
    port = harness.free_port()

    def as_owner() -> None:
        if root:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    def pg(argv: list[str], timeout: float = 120) -> None:
        result = subprocess.run(argv, cwd=base, preexec_fn=as_owner, capture_output=True,
                                text=True, timeout=timeout, env={
                                    "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8",
                                    "HOME": base})
        if result.returncode != 0:
            raise harness.TestFailure(f"{os.path.basename(argv[0])} failed "
                                      f"({result.returncode}): {result.stdout}{result.stderr}")

    try:
        pg([os.path.join(BINDIR, "initdb"), "-D", data, "-U", "twostep", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync"])
    except harness.TestFailure as error:
        if root:
            raise
        log(f"SKIP: cannot run PostgreSQL as uid {uid}: {error}")
        return SKIP_CODE
    with open(os.path.join(data, "postgresql.conf"), "a", encoding="utf-8") as conf:
        conf.write(f"""
# with_postgres.py: a private, disposable test cluster
listen_addresses = ''
unix_socket_directories = '{base}'
unix_socket_permissions = 0700
port = {port}
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 60
""")
    log_file = os.path.join(base, "server.log")
    pg_ctl = os.path.join(BINDIR, "pg_ctl")

    def stop() -> None:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            pg([pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"], timeout=60)

    harness.CLEANUP.add("postgres server", stop)
    pg([pg_ctl, "-D", data, "-l", log_file, "-w", "-t", "60", "start"])

    url = f"postgresql://twostep@/postgres?host={base}&port={port}"
    log(f"PostgreSQL 15 running as uid {uid} on socket {base}/.s.PGSQL.{port}")
    argv = [url if arg == "@PGURL@" else arg for arg in command]
    env = dict(os.environ, TWOSTEP_PG_URL=url)
    status = subprocess.run(argv, env=env).returncode
    if status != 0 and os.path.exists(log_file):
        with open(log_file, encoding="utf-8", errors="replace") as handle:
            tail = handle.read()[-3000:]
        log(f"command exited {status}; server log tail:\n{tail}")
    return status


if __name__ == "__main__":
    try:
        code = main()
    except harness.TestFailure as error:
        log(f"FAIL: {error}")
        code = 1
    finally:
        harness.CLEANUP.run()
    sys.exit(code)
