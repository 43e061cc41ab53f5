#!/usr/bin/env python3
"""The lab's own checks, run inside a namespace by `up` and `check`
(stdlib only, so a fresh machine needs neither dig nor curl).

Every command prints one line: OUTCOME ELAPSED_MS DETAIL
  dns NAME [--server IP] [--port 53]   NOERROR ms 10.11.0.30 | NXDOMAIN ms - | SERVFAIL ... | TIMEOUT | NOLISTENER | ERROR
  http URL                             <status> ms <first line of body> | TIMEOUT | REFUSED | UNREACHABLE | RESET | ERROR
  tcp HOST:PORT                        OPEN ms - | TIMEOUT | REFUSED | UNREACHABLE | ERROR
  burst HOST:PORT --count N            BURST ms ok=K fail=M  (parallel connects, for packet-loss checks)
  statuses URL --count N               STATUSES ms 200=K,503=M,TIMEOUT=J  (sequential GETs, for noise checks)
It exits 0 whenever it printed an outcome: callers judge the outcome.
"""

import argparse
import concurrent.futures
import errno
import http.client
import random
import socket
import struct
import sys
import time
import urllib.parse

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def emit(outcome, started, detail="-"):
    ms = int((time.monotonic() - started) * 1000)
    detail = " ".join(str(detail).split()) or "-"
    print(f"{outcome} {ms} {detail}")


def classify_os_error(e):
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "TIMEOUT"
    if isinstance(e, ConnectionRefusedError):
        return "REFUSED"
    if isinstance(e, ConnectionResetError):
        return "RESET"
    if isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "UNREACHABLE"
    return "ERROR"


def split_host_port(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SystemExit(f'probe: "{text}" is not HOST:PORT, write e.g. 10.10.0.20:443')
    return host, int(port)


def dns_query(name, server, port, timeout):
    qid = random.randint(0, 0xFFFF)
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = header + qname + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((server, port))
        s.send(packet)
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            data = s.recv(4096)
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                return data


def skip_name(data, off):
    while True:
        ln = data[off]
        if ln == 0:
            return off + 1
        if ln & 0xC0 == 0xC0:
            return off + 2
        off += 1 + ln


def parse_answer(data):
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", data[:12])
    rcode = RCODES.get(flags & 0xF, f"RCODE{flags & 0xF}")
    off = 12
    for _ in range(qd):
        off = skip_name(data, off) + 4
    addrs = []
    for _ in range(an):
        off = skip_name(data, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[off : off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(data[off : off + 4]))
        off += rdlen
    return rcode, addrs


def cmd_dns(a):
    started = time.monotonic()
    try:
        data = dns_query(a.name, a.server, a.port, a.timeout)
    except Exception as e:  # noqa: BLE001 - every failure becomes an outcome
        outcome = classify_os_error(e)
        # An ICMP port-unreachable answer: nothing listens on the resolver
        # address. Kept apart from the DNS rcode REFUSED.
        emit("NOLISTENER" if outcome == "REFUSED" else outcome, started, e)
        return
    rcode, addrs = parse_answer(data)
    emit(rcode, started, ",".join(addrs) if addrs else "-")


def cmd_http(a):
    started = time.monotonic()
    u = urllib.parse.urlsplit(a.url)
    if u.scheme != "http" or not u.hostname:
        raise SystemExit(f'probe: "{a.url}" is not an http:// URL')
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=a.timeout)
    try:
        conn.request("GET", u.path or "/")
        resp = conn.getresponse()
        body = resp.read(4096).decode(errors="replace").strip().splitlines()
        emit(str(resp.status), started, body[0] if body else "-")
    except Exception as e:  # noqa: BLE001
        emit(classify_os_error(e), started, e)
    finally:
        conn.close()


def connect_once(host, port, timeout):
    with socket.create_connection((host, port), timeout=timeout):
        pass


def cmd_tcp(a):
    started = time.monotonic()
    host, port = split_host_port(a.address)
    try:
        connect_once(host, port, a.timeout)
        emit("OPEN", started)
    except Exception as e:  # noqa: BLE001
        emit(classify_os_error(e), started, e)


def cmd_burst(a):
    started = time.monotonic()
    host, port = split_host_port(a.address)

    def one(_):
        try:
            connect_once(host, port, a.timeout)
            return True
        except OSError:
            return False

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(a.count, 100)) as ex:
        results = list(ex.map(one, range(a.count)))
    ok = sum(results)
    emit("BURST", started, f"ok={ok} fail={len(results) - ok}")


def cmd_statuses(a):
    started = time.monotonic()
    u = urllib.parse.urlsplit(a.url)
    if u.scheme != "http" or not u.hostname:
        raise SystemExit(f'probe: "{a.url}" is not an http:// URL')
    seen = {}
    for _ in range(a.count):
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=a.timeout)
        try:
            conn.request("GET", u.path or "/")
            resp = conn.getresponse()
            resp.read()
            outcome = str(resp.status)
        except Exception as e:  # noqa: BLE001
            outcome = classify_os_error(e)
        finally:
            conn.close()
        seen[outcome] = seen.get(outcome, 0) + 1
    emit("STATUSES", started, ",".join(f"{k}={v}" for k, v in sorted(seen.items())))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("dns")
    p.add_argument("name")
    p.add_argument("--server", default="10.10.0.53")
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--timeout", type=float, default=2.0)
    p.set_defaults(fn=cmd_dns)
    p = sub.add_parser("http")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(fn=cmd_http)
    p = sub.add_parser("tcp")
    p.add_argument("address")
    p.add_argument("--timeout", type=float, default=2.0)
    p.set_defaults(fn=cmd_tcp)
    p = sub.add_parser("burst")
    p.add_argument("address")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--timeout", type=float, default=0.8)
    p.set_defaults(fn=cmd_burst)
    p = sub.add_parser("statuses")
    p.add_argument("url")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--timeout", type=float, default=2.0)
    p.set_defaults(fn=cmd_statuses)
    a = ap.parse_args()
    a.fn(a)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
