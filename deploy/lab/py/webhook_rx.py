#!/usr/bin/env python3
"""The lab's alert webhook receiver: a real HTTP endpoint Vigil pages.

Owns receiving Vigil's generic webhook (docs/observability.md, "Generic
webhook schema") and writing what it got; it judges nothing. Started by
`up --webhook` in the hub namespace. Stdlib only.

  webhook_rx.py --listen HOST:PORT --out FILE

Every POST is answered 200 and appends one JSON line per alert it carries to
FILE: {"received_ms", "receiver", "key", "status", "fault_id", "side",
"component", "kind", "severity"}. A body that is not the schema is written
as {"received_ms", "error", "body"} so a broken notification is visible too.
"""

import argparse
import http.server
import json
import socketserver
import sys
import threading
import time


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f'"{text}" is not HOST:PORT, write e.g. 10.10.0.100:7409')
    return host, int(port)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def lines_of(body, now_ms):
    try:
        doc = json.loads(body)
        out = []
        for a in doc["alerts"]:
            labels = a.get("labels", {})
            out.append({
                "received_ms": now_ms,
                "receiver": doc.get("receiver"),
                "key": a.get("key"),
                "status": a.get("status"),
                "fault_id": labels.get("fault_id"),
                "side": labels.get("side"),
                "component": labels.get("component"),
                "kind": labels.get("kind"),
                "severity": labels.get("severity"),
            })
        return out
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        return [{"received_ms": now_ms, "error": str(e), "body": body.decode(errors="replace")[:2000]}]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=parse_listen, required=True)
    ap.add_argument("--out", required=True, help="JSON-lines file to append to")
    args = ap.parse_args()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "vigil-lab-webhook"

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            now_ms = int(time.time() * 1000)
            with lock, open(args.out, "a", encoding="utf-8") as f:
                for line in lines_of(body, now_ms):
                    f.write(json.dumps(line, sort_keys=True) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, fmt, *a):
            sys.stderr.write("webhook %s\n" % (fmt % a))

    Server(args.listen, Handler).serve_forever()


if __name__ == "__main__":
    main()
