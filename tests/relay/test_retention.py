#!/usr/bin/env python3
"""Issue 21: retention, the audit export and the log's default level,
against a running twostepd (on SQLite, or on PostgreSQL under
with_postgres.py).

- `twostepd audit --since SEQ --json` resumes after the last event a
  collector saw: while logins go on and the pruner removes what is past
  audit_retention, every event reaches the collector exactly once, in
  order.
- At the default log level there is no line per login; log_level = debug
  brings the per-login audit lines back.

usage: test_retention.py TWOSTEPD
"""

import json
import sys

from relay_harness import Relay, run
import twostep_harness as th  # noqa: E402 (on the path relay_harness sets)

FAST = ["host_rate = 100000", "host_burst = 100000", "device_rate = 100000",
        "device_burst = 100000", "fatigue_denials = 0", "notifications_per_minute = 0"]


def login(host, phone):
    cid = host.create("alice", [phone])
    assert phone.approve(cid, 42)["status"] == "approved"
    return cid


def oldest_kept_seq(relay):
    lines = relay.cli("audit", "--since", "0", "--json", "--limit", "1").stdout.splitlines()
    return json.loads(lines[0])["seq"] if lines else None


def the_export_resumes_without_loss_or_repeat_while_pruning(binary):
    # Events older than 5 s go, looked for every second, 10 at a time: the
    # collector below follows closely enough to see each one first.
    config = FAST + ["audit_retention = 5", "challenge_retention = 1", "prune_interval = 1",
                     "prune_batch = 10"]
    with Relay(binary, config) as relay:
        web1 = relay.add_host("web1")
        phone = relay.paired_device(web1, "alice")
        made, collected, cursor = [], [], 0
        first_kept, advances = oldest_kept_seq(relay), 0
        while advances < 3:  # the pruner removed collected events three times
            for _ in range(5):
                made.append(login(web1, phone))
            out = relay.cli("audit", "--since", str(cursor), "--json").stdout.splitlines()
            for line in out:
                event = json.loads(line)
                collected.append(event)
                cursor = event["seq"]
            kept = oldest_kept_seq(relay)
            if kept is not None and kept > first_kept:
                assert kept <= cursor + 1, "pruned %d before the collector saw it" % kept
                first_kept, advances = kept, advances + 1
        seqs = [e["seq"] for e in collected]
        assert seqs == sorted(set(seqs)), "an event repeated or out of order"
        seen = [(e["event"], e["challenge"]) for e in collected if e["challenge"]]
        for cid in made:
            for event in ("challenge_created", "challenge_decided"):
                assert seen.count((event, cid)) == 1, (event, cid, seen.count((event, cid)))
        assert len(seen) == 2 * len(made), "events of no login of ours"
        # What the collector saw first is gone from the relay now.
        assert oldest_kept_seq(relay) > seqs[0]


def the_default_log_has_no_line_per_login(binary):
    with Relay(binary, FAST) as relay:
        web1 = relay.add_host("web1")
        phone = relay.paired_device(web1, "alice")
        for _ in range(3):
            login(web1, phone)
        log = relay.read_log()
        assert "twostepd: retention: challenges 86400 s, audit 7776000 s" in log, log
        assert "audit event=challenge_" not in log, log
        assert "audit event=pairing_created" in log, log  # the rare ones stay
    with Relay(binary, FAST + ["log_level = debug"]) as relay:
        web1 = relay.add_host("web1")
        phone = relay.paired_device(web1, "alice")
        cid = login(web1, phone)

        def logged():
            return "audit event=challenge_decided host=web1 user=alice" in relay.read_log() and \
                cid in relay.read_log()
        th.wait_for(logged, 20, "the debug line of the login's decision")


if __name__ == "__main__":
    sys.exit(run([the_export_resumes_without_loss_or_repeat_while_pruning,
                  the_default_log_has_no_line_per_login], sys.argv[1]))
