#!/usr/bin/env python3
"""Plain HTTP listeners for lab endpoints that are not the workload:
the "internet" echo service, the hub's shared service, spoke sentinels and
private endpoints.

GET /ip -> the caller's source IP as plain text (what the internet sees, so
           the egress-IP check can prove forced tunnelling);
GET /   -> 200 "ok <name>".
"""

import argparse
import http.server
import socketserver
import sys
import threading


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f'"{text}" is not HOST:PORT, write e.g. 203.0.113.10:80')
    return host, int(port)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Bursts of connects (the packet-loss check) must not overflow the queue.
    request_queue_size = 256


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=parse_listen, action="append", required=True, help="HOST:PORT, repeatable")
    ap.add_argument("--name", default="echo")
    args = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "vigil-lab-echo"

        def do_GET(self):
            if self.path == "/ip":
                self.reply(200, self.client_address[0] + "\n")
            elif self.path in ("/", "/health"):
                self.reply(200, f"ok {args.name}\n")
            else:
                self.reply(404, "not found\n")

        def reply(self, status, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *a):
            sys.stderr.write("%s %s\n" % (args.name, fmt % a))

    servers = [Server(addr, Handler) for addr in args.listen]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers[1:]]
    for t in threads:
        t.start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
