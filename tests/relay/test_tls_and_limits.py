#!/usr/bin/env python3
"""twostepd's transport: TLS with its own certificate, reloaded on SIGHUP;
and the connection limits of docs/protocol.md section 9 (connections per
client address, header read timeout, idle keep-alive timeout).

usage: test_tls_and_limits.py TWOSTEPD
"""

import datetime
import http.client
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
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
        connections_per_address_are_capped,
        slow_headers_and_idle_connections_are_closed,
    ], sys.argv[1]))
