#!/usr/bin/env python3
"""Ids that begin with '-' (issue 18 item 6): base64url ids did once in 64,
and a command line then read the id as an option. New ids never begin with
'-'; an old one still works through every command that takes an id:
twostepd's `device revoke`, `host remove`, `device list --host=`,
`unblock --host=`, and the test device's `show`, `deny`, `rename`, `remove`.

usage: test_leading_dash_ids.py TWOSTEPD
"""

import json
import os
import subprocess
import sys

from relay_harness import Relay, run

DEVICE_CLI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "device", "twostep_device.py")
# The chance that 640 draws of today's ids miss a '-' by luck is 4e-5.
DRAWS = 640


def dash_id(letter):
    # 22 canonical base64url characters of 16 bytes (the last one ends in
    # four zero bits), as the relay's strict decoder wants.
    return "-" + letter * 20 + "A"


def new_ids_never_begin_with_dash(binary):
    with Relay(binary, ["pairings_per_minute = 100000",
                        "pairings_per_host_per_minute = 1000000"]) as relay:
        host = relay.add_host("web1")
        ids = [relay.open_pairing(host, "u%d" % i)[0] for i in range(DRAWS)]
        assert all(len(i) == 22 for i in ids), ids[:3]
        dashed = [i for i in ids if i.startswith("-")]
        assert not dashed, "new ids that begin with '-': %r" % dashed


def relabel_host(relay, old, new):
    for table in ("hosts", "devices", "pairings", "challenges", "push_blocks", "denials"):
        relay.sql("UPDATE %s SET host_id = '%s' WHERE host_id = '%s'" % (table, new, old))


def twostepd_takes_dash_ids(binary):
    with Relay(binary) as relay:
        hosts = [relay.add_host(name) for name in ("web1", "web2")]
        phones = [relay.paired_device(hosts[0], "alice") for _ in range(2)]
        relabel_host(relay, hosts[0].host_id, dash_id("h"))
        relabel_host(relay, hosts[1].host_id, dash_id("i"))
        ids = []
        for n, phone in enumerate(phones):
            old = phone.devices()[0]["device_id"]
            ids.append(dash_id("h" if n == 0 else "e"))  # "-h": not the help flag
            relay.sql("UPDATE devices SET device_id = '%s' WHERE device_id = '%s'" % (ids[-1], old))

        listed = relay.cli("device", "list", "--host=" + dash_id("h")).stdout
        assert ids[0] in listed and ids[1] in listed, listed
        relay.cli("unblock", "--host=" + dash_id("h"), "--user", "alice")
        relay.cli("device", "revoke", ids[0])
        relay.cli("device", "revoke", "--", ids[1])
        listed = relay.cli("device", "list").stdout
        assert listed.count("revoked") == 2, listed
        r = relay.cli("device", "revoke", ids[0], "extra", check=False)
        assert r.returncode != 0 and "not expected" in r.stderr, r
        r = relay.cli("device", "revoke", check=False)
        assert r.returncode != 0 and "ID is required" in r.stderr, r

        relay.cli("host", "remove", dash_id("h"))
        relay.cli("host", "remove", "--", dash_id("i"))
        listed = relay.cli("host", "list").stdout
        assert dash_id("h") not in listed and dash_id("i") not in listed, listed


def device(state, *args):
    r = subprocess.run([sys.executable, DEVICE_CLI, "--state", state] + list(args),
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout) if r.stdout.strip() else None


def device_cli_takes_dash_ids(binary):
    with Relay(binary) as relay:
        host = relay.add_host("web1")
        phone = relay.paired_device(host, "alice")
        old = phone.devices()[0]["device_id"]
        relay.sql("UPDATE devices SET device_id = '%s' WHERE device_id = '%s'" % (dash_id("d"), old))
        for letter in "ch":
            cid = host.create("alice", [phone])
            relay.sql("UPDATE challenges SET challenge_id = '%s' WHERE challenge_id = '%s'"
                      % (dash_id(letter), cid))
            relay.sql("UPDATE challenge_credentials SET challenge_id = '%s' WHERE challenge_id = '%s'"
                      % (dash_id(letter), cid))
            assert device(phone.path, "show", dash_id(letter))["id"] == dash_id(letter)
            assert device(phone.path, "show", "--", dash_id(letter))["id"] == dash_id(letter)
            assert device(phone.path, "deny", dash_id(letter))["status"] == "denied"
        assert device(phone.path, "rename", dash_id("d"), "Phone")["name"] == "Phone"
        device(phone.path, "remove", "--", dash_id("d"))


if __name__ == "__main__":
    sys.exit(run([new_ids_never_begin_with_dash, twostepd_takes_dash_ids, device_cli_takes_dash_ids],
                 sys.argv[1]))
