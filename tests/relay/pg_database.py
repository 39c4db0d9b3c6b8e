"""A fresh database on the PostgreSQL cluster of tests/relay/with_postgres.py.

relay_harness.Relay uses it when TWOSTEP_PG_URL is set (with_postgres.py sets
it), so the protocol tests that run twostepd on SQLite also run it on
PostgreSQL.
"""

import itertools
import os
import subprocess

_counter = itertools.count(1)


def with_database(url: str, database: str) -> str:
    """postgresql://u@/OLD?x -> postgresql://u@/NEW?x"""
    scheme_end = url.index("://") + 3
    slash = url.find("/", scheme_end)
    if slash < 0:
        return url + "/" + database
    query = url.find("?", slash)
    return url[:slash + 1] + database + (url[query:] if query >= 0 else "")


def execute(url: str, statement: str) -> None:
    """Runs one SQL statement (psql, from postgresql-client-15)."""
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", statement],
                   check=True, capture_output=True, text=True, timeout=60,
                   stdin=subprocess.DEVNULL)


def fresh_database(admin_url: str) -> str:
    """Creates an empty database and returns its URL."""
    name = "relay_%d_%d" % (os.getpid(), next(_counter))
    execute(admin_url, "CREATE DATABASE " + name)
    return with_database(admin_url, name)
