"""A tiny fake relay for the push login tests: the relay as adversary, and
the relay as an outage. Modes:

- approve: creates challenges like twostepd, and answers a wait with
  "approved" and whatever assertion the test hands it (set_assertion);
- hang: accepts connections and never answers;
- garbage: 200 with a body that is not JSON;
- huge: 200 with a 2 MiB body;
- error: 500 with an error body;
- old: 404 not_found for everything, as a relay older than GET /v1/host
  answers it (and a GET of a challenge that does not exist).
"""

import http.server
import json
import secrets
import socketserver
import threading
import time
import base64


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeRelay:
    def __init__(self, mode="approve"):
        self.mode = mode
        self.challenges = {}      # id -> create body
        self.assertions = {}      # id -> assertion dict
        self.ready = threading.Condition()
        self.cancelled = set()
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if relay.mode == "hang":
                    time.sleep(120)
                    return
                if relay.mode == "garbage":
                    return self.reply(200, b"<html>not json</html>")
                if relay.mode == "huge":
                    return self.reply(200, b"{\"x\": \"" + b"a" * (2 << 20) + b"\"}")
                if relay.mode == "error":
                    return self.reply(500, {"error": "internal", "message": "boom"})
                if relay.mode == "old":
                    return self.reply(404, {"error": "not_found", "message": "no such resource"})
                path = self.path.split("?")[0]
                if self.command == "POST" and path == "/v1/challenges":
                    request = json.loads(body)
                    cid = b64u(secrets.token_bytes(16))
                    with relay.ready:
                        relay.challenges[cid] = request
                        relay.ready.notify_all()
                    return self.reply(201, {"id": cid, "expires": request["expires"]})
                if path.startswith("/v1/challenges/"):
                    cid = path.rsplit("/", 1)[1]
                    if self.command == "DELETE":
                        relay.cancelled.add(cid)
                        return self.reply(200, {"id": cid, "status": "cancelled"})
                    with relay.ready:
                        relay.ready.wait_for(lambda: cid in relay.assertions, timeout=20)
                        assertion = relay.assertions.get(cid)
                    if assertion is None:
                        return self.reply(200, {"id": cid, "status": "pending"})
                    return self.reply(200, {"id": cid, "status": "approved",
                                            "device": {"credential_id": assertion["credential_id"],
                                                       "name": "whatever"},
                                            "assertion": assertion})
                return self.reply(404, {"error": "not_found", "message": "no"})

            do_GET = do_POST = do_DELETE = handle_any

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the module hangs up on huge bodies: expected
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_challenge(self, timeout=10):
        with self.ready:
            self.ready.wait_for(lambda: len(self.challenges) > 0, timeout=timeout)
            cid = list(self.challenges)[-1]
            return cid, self.challenges.pop(cid)

    def set_assertion(self, cid, assertion):
        with self.ready:
            self.assertions[cid] = assertion
            self.ready.notify_all()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
