#!/usr/bin/env python3
"""twostepd soak: a long run of full rounds with retention short enough to
reach a steady state, to show that the relay's database, memory and file
descriptors stop growing and its speed holds (docs/benchmarks.md, "Soak").

usage: relay_soak.py TWOSTEPD [--rounds 1000000] [--max-seconds 3600]
                     [--workers 4] [--retention 60] [--prune-interval 5]
                     [--sample 10] [--out FILE.json]

The rounds are bench/relay_load.cpp's (create -> approve -> result), from
W connections, until --rounds are done. Every --sample seconds it records
the database's size (SQLite: the file, its WAL and shared memory;
PostgreSQL: pg_database_size), the relay's RSS, its open file descriptors
and its log's size. It prints one JSON line per sample, then a summary
with the first and the last minute's rounds/s and p99 and the steady-state
checks of issue 21, and writes everything to --out.

On PostgreSQL run it under tests/relay/with_postgres.py (Relay then takes
a fresh database on that cluster, as the tests do):
  python3 tests/relay/with_postgres.py python3 bench/relay_soak.py TWOSTEPD ...
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "relay"))
sys.path.insert(0, HERE)
from relay_bench import FAST, rss_kib, write_load_jobs  # noqa: E402
from relay_harness import Relay  # noqa: E402


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def db_bytes(relay):
    if relay.db.startswith("postgresql://"):
        out = subprocess.run(["psql", "-X", "-qAt", "-d", relay.db, "-c",
                              "SELECT pg_database_size(current_database())"],
                             capture_output=True, text=True, check=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        return int(out.stdout.strip())
    total = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            total += os.stat(relay.db + suffix).st_size
        except FileNotFoundError:
            pass
    return total


def sqlite_detail(relay):
    """The WAL's size apart, the free pages, and the rows of the big tables."""
    if relay.db.startswith("postgresql://"):
        return {}
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % relay.db, uri=True, timeout=30)
    try:
        out = {"wal_bytes": file_bytes(relay.db + "-wal"),
               "free_pages": db.execute("PRAGMA freelist_count").fetchone()[0],
               "pages": db.execute("PRAGMA page_count").fetchone()[0]}
        for table in ("challenges", "challenge_credentials", "audit", "nonces"):
            out[table] = db.execute("SELECT count(*) FROM " + table).fetchone()[0]
        return out
    finally:
        db.close()


def sqlite_table_bytes(relay):
    """Bytes per table and index (SQLite's dbstat), for the capacity figures."""
    if relay.db.startswith("postgresql://"):
        return {}
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % relay.db, uri=True, timeout=30)
    try:
        return dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name "
                               "ORDER BY 2 DESC").fetchall())
    except sqlite3.Error as e:
        return {"error": str(e)}
    finally:
        db.close()


def file_bytes(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


class Sampler(threading.Thread):
    """Samples the relay every `period` seconds until stopped."""

    def __init__(self, relay, period):
        super().__init__(daemon=True)
        self.relay, self.period = relay, period
        self.samples = []
        self.stopped = threading.Event()
        self.start_time = time.monotonic()

    def sample(self):
        pid = self.relay.proc.pid
        s = {"t_s": round(time.monotonic() - self.start_time, 1), "db_bytes": db_bytes(self.relay),
             "rss_kib": rss_kib(pid), "fds": open_fds(pid),
             "log_bytes": file_bytes(self.relay.log), "loadavg_1m": os.getloadavg()[0],
             **sqlite_detail(self.relay)}
        self.samples.append(s)
        print(json.dumps(s), flush=True)

    def run(self):
        while not self.stopped.wait(self.period):
            self.sample()


def steady_state(samples, intervals):
    """Issue 21's checks: the db size of the last 10 % against the middle's,
    the first and the last minute's speed, RSS and fds flat."""
    n = len(samples)
    middle = samples[n // 2]
    last = samples[int(n * 0.9):]
    biggest_late = max(s["db_bytes"] for s in last)
    first, final = intervals[0], intervals[-1]
    if final["seconds"] < 30 and len(intervals) > 1:  # a short tail: the last full minute
        final = intervals[-2]
    half = samples[n // 2:]
    return {
        "db_middle_bytes": middle["db_bytes"], "db_last10pct_max_bytes": biggest_late,
        "db_growth_last10pct_vs_middle": round(biggest_late / middle["db_bytes"] - 1, 4),
        "rss_middle_kib": middle["rss_kib"], "rss_last_kib": samples[-1]["rss_kib"],
        "rss_second_half_range_kib": [min(s["rss_kib"] for s in half),
                                      max(s["rss_kib"] for s in half)],
        "fds_range": [min(s["fds"] for s in samples), max(s["fds"] for s in samples)],
        "first_minute": first, "last_minute": final,
        "rate_last_vs_first": round(final["rounds_per_s"] / first["rounds_per_s"] - 1, 4),
        "p99_last_vs_first": round(final["round_p99_ms"] / first["round_p99_ms"], 3),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("twostepd")
    ap.add_argument("--rounds", type=int, default=1000000)
    ap.add_argument("--max-seconds", type=int, default=3600)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--retention", type=int, default=60,
                    help="challenge_retention and audit_retention, seconds")
    ap.add_argument("--prune-interval", type=int, default=5)
    ap.add_argument("--sample", type=float, default=10)
    ap.add_argument("--load-client", help="twostep-relay-load (default: beside TWOSTEPD's build)")
    ap.add_argument("--out", help="write the samples, intervals and summary here (JSON)")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    load_client = args.load_client or os.path.join(
        os.path.dirname(os.path.abspath(args.twostepd)), "..", "bench", "twostep-relay-load")
    # Nonces are kept nonce_ttl (default 600 s), which must cover twice the
    # clock skew allowed: both lowered so the nonces too reach their steady
    # state early in the run.
    config = FAST + ["clock_skew = 30", "nonce_ttl = 60",
                     "challenge_retention = %d" % args.retention,
                     "audit_retention = %d" % args.retention,
                     "pairing_retention = %d" % args.retention,
                     "prune_interval = %d" % args.prune_interval]
    with Relay(args.twostepd, config) as relay:
        jobs = write_load_jobs(relay, args.workers, "soak")
        sampler = Sampler(relay, args.sample)
        load_start = os.getloadavg()
        sampler.sample()
        sampler.start()
        out = subprocess.run([load_client, str(relay.port), str(args.max_seconds), jobs, "60",
                              str(args.rounds)], capture_output=True, text=True, check=False)
        sampler.stopped.set()
        sampler.join()
        sampler.sample()
        table_bytes = sqlite_table_bytes(relay)
        load_end = os.getloadavg()
        if out.returncode != 0:
            raise SystemExit("load client failed: " + out.stderr.strip())
        result = json.loads(out.stdout)
        intervals = result.pop("intervals")
        summary = {"store": "postgresql" if relay.db.startswith("postgresql://") else "sqlite",
                   "retention_s": args.retention, "prune_interval_s": args.prune_interval,
                   "loadavg_start": [round(x, 2) for x in load_start],
                   "loadavg_end": [round(x, 2) for x in load_end], **result,
                   **steady_state(sampler.samples, intervals), "table_bytes": table_bytes}
        print(json.dumps({"intervals": intervals}), flush=True)
        print(json.dumps({"summary": summary}), flush=True)
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"summary": summary, "intervals": intervals,
                           "samples": sampler.samples}, f, indent=1)


if __name__ == "__main__":
    main()
