"""A sample webhook receiver for docker-compose: verifies Standard Webhooks signatures with the
standard library only (HMAC-SHA256 over "<id>.<timestamp>.<body>", 5-minute tolerance) and logs
each delivery. Answers 204 when the signature is valid, 401 otherwise."""
import base64
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["ORDERS_SECRET"]
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        msg_id = self.headers.get("webhook-id", "")
        timestamp = self.headers.get("webhook-timestamp", "0")
        signed = f"{msg_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
        offered = [s.split(",", 1)[1] for s in self.headers.get("webhook-signature", "").split() if s.startswith("v1,")]
        fresh = abs(time.time() - int(timestamp)) <= 300
        valid = fresh and any(hmac.compare_digest(expected, s) for s in offered)
        print(json.dumps({"webhook_id": msg_id, "verified": valid, "bytes": len(body)}), flush=True)
        self.send_response(204 if valid else 401)
        self.end_headers()


HTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
