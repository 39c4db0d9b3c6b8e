#!/usr/bin/env python3
"""twostepd's transport: TLS with its own certificate, reloaded on SIGHUP;
and the connection limits of docs/protocol.md section 9 (connections per
client address, header read timeout, idle keep-alive timeout).

usage: test_tls_and_limits.py TWOSTEPD
"""

import datetime
import grp
import http.client
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relay_harness import Relay, expect, run, th


def write_cert(directory, name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path = os.path.join(directory, name + ".pem")
    key_path = os.path.join(directory, name + ".key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path, cert


def peer_cert_cn(port, cafile):
    context = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        conn.request("GET", "/v1/none")
        r = conn.getresponse()
        status = r.status
        r.read()
        der = conn.sock.getpeercert(binary_form=True)
        cn = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)[0].value
        return status, cn
    finally:
        conn.close()


def tls_serves_and_reloads_on_sighup(binary):
    relay = Relay(binary)
    try:
        live_cert = os.path.join(relay.dir, "live.pem")
        live_key = os.path.join(relay.dir, "live.key")
        c1, k1, _ = write_cert(relay.dir, "first")
        c2, k2, _ = write_cert(relay.dir, "second")
        os.rename(c1, live_cert)
        os.rename(k1, live_key)
        with open(relay.config, "a") as f:
            f.write("tls_cert = %s\ntls_key = %s\n" % (live_cert, live_key))
        log = open(relay.log, "w")
        proc = subprocess.Popen([binary, "--config", relay.config, "--db", relay.db, "serve",
                                 "--listen", "127.0.0.1:0"], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)
        try:
            port = int(th.wait_for_line(relay.log, r"listening on 127\.0\.0\.1:(\d+) \(TLS\)", 15,
                                        "twostepd to listen with TLS", process=proc).group(1))
            # Both certificates are self-signed: trust both, see which one is served.
            bundle = os.path.join(relay.dir, "both.pem")
            with open(bundle, "w") as f:
                f.write(open(live_cert).read() + open(c2).read())
            assert peer_cert_cn(port, bundle) == (404, "first")
            # Plain HTTP on the TLS port gets no answer.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /v1/none HTTP/1.1\r\nHost: x\r\n\r\n")
                try:
                    assert b"HTTP/1.1" not in s.recv(100)
                except (ConnectionResetError, socket.timeout):
                    pass
            os.replace(c2, live_cert)
            os.replace(k2, live_key)
            proc.send_signal(signal.SIGHUP)
            th.wait_for_line(relay.log, "reloaded", 10, "the SIGHUP reload", process=proc)
            assert peer_cert_cn(port, bundle) == (404, "second"), relay.read_log()
            # A broken file on reload keeps the previous certificate.
            with open(live_key, "w") as f:
                f.write("garbage\n")
            proc.send_signal(signal.SIGHUP)
            th.wait_for_line(relay.log, "reload failed", 10, "the failed SIGHUP reload",
                             process=proc)
            assert peer_cert_cn(port, bundle) == (404, "second")
        finally:
            proc.terminate()
            assert proc.wait(10) == 0
    finally:
        relay.__exit__(None, None, None)


def unreadable_key_names_file_errno_and_fix(binary):
    """Issue 18 item 11: twostepd, run as an unprivileged user, with a key
    only root can read: the log names the file, the errno, the file's owner
    and mode, the user it runs as and an owner and mode that works; the
    advice, followed, lets it start with TLS."""
    if os.geteuid() != 0:
        th.skip("starting twostepd as another user needs root")
    runner = pwd.getpwnam("nobody")
    group = grp.getgrgid(runner.pw_gid).gr_name
    base = tempfile.mkdtemp(prefix="twostepd-tls-key-")
    try:
        os.chmod(base, 0o755)
        cert, key, _ = write_cert(base, "relay")
        os.chmod(cert, 0o644)
        os.chmod(key, 0o600)  # root's, as a certificate tool leaves it
        state = os.path.join(base, "state")
        os.mkdir(state, 0o700)
        os.chown(state, runner.pw_uid, runner.pw_gid)
        config = os.path.join(base, "twostepd.conf")
        with open(config, "w") as f:
            f.write("tls_cert = %s\ntls_key = %s\napprover_origin = https://approve.test\n"
                    % (cert, key))
        os.chmod(config, 0o644)
        argv = [binary, "--config", config, "--db", os.path.join(state, "r.db"), "serve",
                "--listen", "127.0.0.1:0"]
        r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           user=runner.pw_uid, group=runner.pw_gid, extra_groups=[], timeout=30)
        wanted = ("cannot read tls_key %s: Permission denied (EACCES 13); the file is owner "
                  "root:root mode 0600; twostepd runs as nobody (group %s): make it owner "
                  "root:%s mode 0640" % (key, group, group))
        assert r.returncode == 1 and wanted in r.stderr, r.stderr
        assert "asio.ssl error" not in r.stderr, r.stderr
        # Followed, the advice works.
        os.chown(key, 0, runner.pw_gid)
        os.chmod(key, 0o640)
        log_path = os.path.join(base, "log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                    user=runner.pw_uid, group=runner.pw_gid, extra_groups=[])
        try:
            port = int(th.wait_for_line(log_path, r"listening on 127\.0\.0\.1:(\d+) \(TLS\)", 15,
                                        "twostepd to listen with TLS", process=proc).group(1))
            assert peer_cert_cn(port, cert) == (404, "relay")
        finally:
            proc.terminate()
            assert proc.wait(10) == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def connections_per_address_are_capped(binary):
    with Relay(binary, ["max_connections_per_client = 3"]) as relay:
        held = [socket.create_connection(("127.0.0.1", relay.port), timeout=5) for _ in range(3)]
        th.wait_for(lambda: th.all_accepted(relay.port), 10, "twostepd to accept 3 connections")
        extra = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
        try:
            extra.sendall(b"GET /v1/none HTTP/1.1\r\nHost: x\r\n\r\n")
            data = extra.recv(100)
        except ConnectionResetError:
            data = b""
        assert data == b"", data  # closed at accept
        for s in held:
            s.close()
        th.wait_for(lambda: th.all_closed_by_server(relay.port), 10,
                    "twostepd to close the 4 connections")
        expect(relay.request("GET", "/v1/none"), 404, "not_found")


def slow_headers_and_idle_connections_are_closed(binary):
    with Relay(binary, ["header_timeout = 1", "idle_timeout = 2"]) as relay:
        # A request line that never ends: closed after header_timeout.
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as s:
            s.sendall(b"GET /v1/none HTTP/1.1\r\nHost:")
            start = time.monotonic()
            assert s.recv(100) == b""
            took = time.monotonic() - start
            assert 0.8 < took < 3, took
        # Keep-alive: one answer, then closed after idle_timeout of silence.
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as s:
            s.sendall(b"GET /v1/none HTTP/1.1\r\nHost: x\r\n\r\n")
            first = s.recv(4096)
            assert b" 404 " in first, first
            start = time.monotonic()
            assert s.recv(100) == b""
            took = time.monotonic() - start
            assert 1.8 < took < 4, took


if __name__ == "__main__":
    sys.exit(run([
        tls_serves_and_reloads_on_sighup,
        unreadable_key_names_file_errno_and_fix,
        connections_per_address_are_capped,
        slow_headers_and_idle_connections_are_closed,
    ], sys.argv[1]))
