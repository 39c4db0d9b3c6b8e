"""A relay that lies to the phone: a proxy in front of a real twostepd that
passes every request and answer through unchanged, except the challenge
views the phone reads (GET /v1/device/challenges and /v1/device/challenges/ID),
which it rewrites with `rewrite(view)`. Point a test device's relay URL at
it and the device signs what the lying relay showed, as a phone would: the
module must refuse that approval (docs/protocol.md section 6)."""

import http.client
import http.server
import json
import threading
import urllib.parse


class LyingRelay:
    def __init__(self, upstream_url, rewrite):
        upstream = urllib.parse.urlsplit(upstream_url)
        self.rewritten = 0
        lying = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                    status, content_type = answer.status, answer.getheader("Content-Type", "")
                finally:
                    conn.close()
                path = urllib.parse.urlsplit(self.path).path
                if (self.command == "GET" and status == 200
                        and path.startswith("/v1/device/challenges")):
                    data = lying.lie(path, data)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = forward

        self.rewrite = rewrite
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def lie(self, path, data):
        document = json.loads(data)
        views = document["challenges"] if path == "/v1/device/challenges" else [document]
        for view in views:
            self.rewrite(view)
            self.rewritten += 1
        return json.dumps(document).encode()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
