#!/usr/bin/env python3
"""twostepd benchmarks on loopback (docs/benchmarks.md, "Push relay"):

  latency   decision -> the host's held long-poll returns, over N rounds
  rounds    full rounds per second (create + device approval + result),
            from W client processes
  pending   P long-polls held at once; the relay's RSS before and after

usage: relay_bench.py TWOSTEPD [--rounds 1000] [--workers 4] [--seconds 10]
                      [--pending 10000] [--baseline OLD_TWOSTEPD [--repeat 3]]

On PostgreSQL: tests/relay/with_postgres.py python3 relay_bench.py ... (each
relay gets a fresh database on the private cluster). --baseline measures
another twostepd in the same run, alternating with TWOSTEPD.

`latency` and `pending` use Python clients (tests/device); `rounds` uses the
C++ load client twostep-relay-load (bench/relay_load.cpp), which shares the
2 cores with the relay but costs it far less CPU than the relay's own work.
"""

import argparse
import asyncio
import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "relay"))
from relay_harness import Relay, td  # noqa: E402

FAST = ["host_rate = 1000000", "host_burst = 1000000", "device_rate = 1000000",
        "device_burst = 1000000", "pairings_per_minute = 100000", "fatigue_denials = 0",
        "notifications_per_minute = 0", "pairings_per_host_per_minute = 1000000",
        "max_connections_per_client = 1000000"]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Conn:
    """One kept-alive HTTP/1.1 connection with pre-built requests."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
        self.c.connect()
        self.c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, method, target, body, headers):
        self.c.request(method, target, body=body, headers=headers)

    def receive(self):
        r = self.c.getresponse()
        return r.status, r.read()


def host_request(host, method, path, query="", body=None):
    raw = None if body is None else json.dumps(body).encode()
    headers = host.headers(method, path, query, raw or b"")
    if raw is not None:
        headers["Content-Type"] = "application/json"
    return method, path + ("?" + query if query else ""), raw, headers


def approval(dev, host, cid, body, number=42):
    view = {"id": cid, "nonce": body["nonce"], "host": host.name, "user": body["user"],
            "service": body["service"], "rhost": body["rhost"], "tty": body["tty"],
            "expires": body["expires"]}
    digest = td.digest_of_view(view, number)
    decision = {"decision": "approve", "assertion": dev.assertion(digest, save=False)}
    raw = json.dumps(decision, separators=(",", ":")).encode()
    path = "/v1/device/challenges/%s/decision" % cid
    headers = dev.sign_request("POST", path, body=raw)
    headers["Content-Type"] = "application/json"
    return "POST", path, raw, headers


def bench_latency(relay, rounds):
    host = relay.add_host("lat")
    dev = relay.paired_device(host, "alice")
    waiter, decider, creator = Conn(relay.port), Conn(relay.port), Conn(relay.port)
    samples = []
    for i in range(rounds):
        body = host.challenge_body("alice", [dev])
        creator.send(*host_request(host, "POST", "/v1/challenges", body=body))
        status, data = creator.receive()
        assert status == 201, data
        cid = json.loads(data)["id"]
        decision = approval(dev, host, cid, body, i % 100)
        waiter.send(*host_request(host, "GET", "/v1/challenges/" + cid, "wait=30"))
        time.sleep(0.002)  # the wait is held by now
        box = {}

        def wait_answer():
            box["answer"] = waiter.receive()
            box["at"] = time.perf_counter()

        t = threading.Thread(target=wait_answer)
        t.start()
        t0 = time.perf_counter()
        decider.send(*decision)
        t.join()
        status, data = decider.receive()
        assert status == 200, data
        assert box["answer"][0] == 200 and b'"approved"' in box["answer"][1], box
        samples.append((box["at"] - t0) * 1000)
    return {"rounds": rounds, "median_ms": statistics.median(samples),
            "p99_ms": percentile(samples, 99), "max_ms": max(samples)}


def write_load_jobs(relay, workers, host_prefix):
    """The load client's JOBS.json (bench/relay_load.cpp): for each worker a
    host of its own (HOST_PREFIX0, ...) and a paired device. Returns its path."""
    jobs = []
    for i in range(workers):
        host = relay.add_host("%s%d" % (host_prefix, i))
        dev = relay.paired_device(host, "user%d" % i)
        state = dev.state
        jobs.append({"host_id": host.host_id, "secret": td.b64u(host.secret), "host_name": host.name,
                     "user": "user%d" % i,
                     "device": {"key_id": dev.key_id, "api_key": state["api_key"],
                                "credential_key": state["credential_key"],
                                "credential_id": state["credential_id"], "origin": state["origin"],
                                "counter": state["counter"], "flags": state["flags"]}})
    path = os.path.join(relay.dir, "load-jobs.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(jobs, f)
    return path


def bench_rounds(relay, workers, seconds, load_client):
    """W connections of the C++ load client (bench/relay_load.cpp), each
    with its own host and paired device, loop create -> approve -> result."""
    jobs_path = write_load_jobs(relay, workers, "r")
    cpu_before = cpu_seconds(relay.proc.pid)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([load_client, str(relay.port), str(seconds), jobs_path],
                         capture_output=True, text=True, check=False)
    cpu = cpu_seconds(relay.proc.pid) - cpu_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (children.ru_utime - children_before.ru_utime
                  + children.ru_stime - children_before.ru_stime)
    if out.returncode != 0:
        raise SystemExit("load client failed: " + out.stderr.strip())
    result = json.loads(out.stdout)
    rounds = result["rounds"]
    # 1 / (the relay's CPU per round) is what its threads could do with the
    # clients' share of the cores to themselves.
    result.update({"relay_cpu_ms_per_round": round(cpu * 1000 / rounds, 3),
                   "client_cpu_ms_per_round": round(client_cpu * 1000 / rounds, 3),
                   "relay_cpu_bound_rounds_per_s": round(rounds / cpu, 1) if cpu else None})
    for key in ("seconds", "rounds_per_s", "round_median_ms", "round_p99_ms"):
        result[key] = round(result[key], 3)
    return result


async def hold_waits(relay, host, cid, count):
    path = "/v1/challenges/" + cid
    writers = []
    for i in range(count):
        h = host.headers("GET", path, "wait=60")
        head = "".join("%s: %s\r\n" % kv for kv in h.items())
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        writer.write(("GET %s?wait=60 HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, head)).encode())
        writers.append((reader, writer))
        if i % 500 == 499:
            await asyncio.sleep(0)
    return writers


def bench_pending(relay, count):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1000), hard))
    host = relay.add_host("pend")
    dev = relay.paired_device(host, "alice")
    cid = host.create("alice", [dev])
    time.sleep(0.5)
    before = rss_kib(relay.proc.pid)

    async def run():
        held = await hold_waits(relay, host, cid, count)
        await asyncio.sleep(3)  # all requests read and parked
        during = rss_kib(relay.proc.pid)
        start = time.perf_counter()
        await asyncio.get_running_loop().run_in_executor(None, dev.deny, cid)
        answered = 0
        for reader, writer in held:
            line = await asyncio.wait_for(reader.readline(), 30)
            answered += line.startswith(b"HTTP/1.1 200")
            writer.close()
        took = time.perf_counter() - start
        return during, answered, took

    during, answered, took = asyncio.run(run())
    return {"pending": count, "answered": answered, "rss_before_mib": round(before / 1024, 1),
            "rss_held_mib": round(during / 1024, 1),
            "bytes_per_pending": int((during - before) * 1024 / count),
            "all_answered_after_decision_s": round(took, 2)}


def compare(args, load_client):
    """--baseline OLD: the same measures of OLD ("before") and TWOSTEPD
    ("after"), alternating, --repeat times, in one run; then the medians."""
    runs = {"before": [], "after": []}
    for i in range(args.repeat):
        for label, binary in (("before", args.baseline), ("after", args.twostepd)):
            with Relay(binary, FAST) as relay:
                result = {"run": i + 1, "relay": label}
                if args.only in (None, "latency"):
                    result["latency"] = bench_latency(relay, args.rounds)
                if args.only in (None, "rounds"):
                    result["rounds"] = bench_rounds(relay, args.workers, args.seconds, load_client)
            runs[label].append(result)
            print(json.dumps(result), flush=True)
    summary = {}
    for label, results in runs.items():
        row = {}
        if args.only in (None, "rounds"):
            row["rounds_per_s"] = statistics.median(r["rounds"]["rounds_per_s"] for r in results)
            row["round_p99_ms"] = statistics.median(r["rounds"]["round_p99_ms"] for r in results)
            row["relay_cpu_ms_per_round"] = statistics.median(
                r["rounds"]["relay_cpu_ms_per_round"] for r in results)
        if args.only in (None, "latency"):
            row["decision_p99_ms"] = statistics.median(r["latency"]["p99_ms"] for r in results)
            row["decision_median_ms"] = statistics.median(r["latency"]["median_ms"] for r in results)
        summary[label] = row
    print(json.dumps({"medians_of_%d_runs" % args.repeat: summary}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("twostepd")
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--load-client", help="twostep-relay-load (default: beside TWOSTEPD's build)")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--pending", type=int, default=10000)
    ap.add_argument("--only", choices=["latency", "rounds", "pending"])
    ap.add_argument("--baseline", help="another twostepd, measured alternately in the same run "
                                       "(latency and rounds; 'before' against TWOSTEPD's 'after')")
    ap.add_argument("--repeat", type=int, default=3, help="with --baseline: runs of each")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the relay inherits it
    load_client = args.load_client or os.path.join(
        os.path.dirname(os.path.abspath(args.twostepd)), "..", "bench", "twostep-relay-load")
    if args.baseline:
        if args.only == "pending":
            raise SystemExit("--baseline compares latency and rounds")
        compare(args, load_client)
        return
    results = {}
    with Relay(args.twostepd, FAST) as relay:
        if args.only in (None, "latency"):
            results["latency"] = bench_latency(relay, args.rounds)
            print(json.dumps(results["latency"]), flush=True)
        if args.only in (None, "rounds"):
            results["rounds"] = bench_rounds(relay, args.workers, args.seconds, load_client)
            print(json.dumps(results["rounds"]), flush=True)
        if args.only in (None, "pending"):
            results["pending"] = bench_pending(relay, args.pending)
            print(json.dumps(results["pending"]), flush=True)


if __name__ == "__main__":
    main()
