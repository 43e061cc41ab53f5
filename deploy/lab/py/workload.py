#!/usr/bin/env python3
"""A workload HTTP service for one lab spoke.

Serves GET /health. Its behaviour is read from a control file on every
request, so fault injection flips it without a restart:
  ok   -> 200 "ok"
  5xx  -> 503 "unavailable"
  slow -> 200 "ok" after 2 s
A missing or unreadable control file means "ok": the file is the lab's
injection switch, not the service's configuration.

An optional noise file holds a percentage: that share of requests in mode
ok, chosen at random, answer 503 (the lab's `noise:PCT` background noise).
"""

import argparse
import http.server
import random
import socketserver
import sys
import time

SLOW_DELAY_S = 2.0


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f'"{text}" is not HOST:PORT, write e.g. 10.11.0.10:8080')
    return host, int(port)


def read_mode(path):
    try:
        with open(path, encoding="utf-8") as f:
            mode = f.read().strip()
    except OSError:
        return "ok"
    return mode if mode in ("ok", "5xx", "slow") else "ok"


def read_noise(path):
    """Percentage of ok requests to fail; 0 when there is no noise file."""
    if not path:
        return 0.0
    try:
        with open(path, encoding="utf-8") as f:
            pct = float(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0.0
    return min(max(pct, 0.0), 100.0)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=parse_listen, required=True, help="HOST:PORT to serve on")
    ap.add_argument("--mode-file", required=True, help="control file holding ok, 5xx or slow")
    ap.add_argument("--noise-file", help="control file holding a noise percentage (503 at random)")
    ap.add_argument("--name", default="workload", help="name returned in bodies")
    args = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "vigil-lab-workload"

        def do_GET(self):
            if self.path not in ("/health", "/"):
                self.reply(404, "not found\n")
                return
            mode = read_mode(args.mode_file)
            if mode == "5xx" or (mode == "ok" and random.random() * 100 < read_noise(args.noise_file)):
                self.reply(503, "unavailable\n")
                return
            if mode == "slow":
                time.sleep(SLOW_DELAY_S)
            self.reply(200, "ok\n")

        def reply(self, status, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *a):
            sys.stderr.write("%s %s\n" % (args.name, fmt % a))

    srv = Server(args.listen, Handler)
    srv.serve_forever()


if __name__ == "__main__":
    main()
