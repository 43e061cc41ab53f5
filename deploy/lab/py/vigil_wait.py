#!/usr/bin/env python3
"""Waits until Vigil's HTTP API shows what `check --with-vigil` expects.

Stdlib only; run inside the hub namespace (the aggregator listens there):

  vigil_wait.py API --since-ms MS --deadline S [CONDITION...]

Conditions (all must hold at the same time):
  --state NODE=STATE[|STATE]   node NODE of /api/v1/tree is in one of the states
  --all-healthy                every node but `unmodelled` is healthy
  --fault SIDE:SUSPECT[:KIND]  an open fault of /api/v1/faults with that side,
                               suspect and (optionally) kind
  --no-fault SUSPECT           no open fault has that suspect
  --no-open-faults             no fault is open at all
  --gap NETWORK                an observability gap names an agent of NETWORK

Prints one line and exits 0 when they hold:
  OK <ms since MS> [fault opened <ms> after MS | fault reopened ...]
or exits 1 at the deadline with what was seen last:
  TIMEOUT <ms since MS> <what did not hold>
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

POLL_S = 0.5


def get(api, path):
    with urllib.request.urlopen(api.rstrip("/") + path, timeout=3) as r:
        return json.load(r)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("api", help="base URL, e.g. http://10.10.0.100:7401")
    p.add_argument("--since-ms", type=int, required=True,
                   help="unix ms of the change being detected (inject or restore)")
    p.add_argument("--deadline", type=float, default=60.0, help="seconds")
    p.add_argument("--state", action="append", default=[])
    p.add_argument("--all-healthy", action="store_true")
    p.add_argument("--fault", action="append", default=[])
    p.add_argument("--no-fault", action="append", default=[])
    p.add_argument("--no-open-faults", action="store_true")
    p.add_argument("--gap", action="append", default=[])
    args = p.parse_args(argv)
    states = []
    for s in args.state:
        node, sep, want = s.partition("=")
        if not sep or not node or not want:
            p.error(f'--state "{s}": write NODE=STATE, e.g. hub-dns=unhealthy')
        states.append((node, set(want.split("|"))))
    faults = []
    for f in args.fault:
        parts = f.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            p.error(f'--fault "{f}": write SIDE:SUSPECT[:KIND], e.g. platform:platform/hub/hub-dns')
        faults.append((parts[0], parts[1], parts[2] if len(parts) == 3 else None))
    return args, states, faults


def check(api, args, states, faults):
    """Returns (problems, opened_ms) for the current API answers."""
    problems = []
    opened = []
    tree = get(api, "/api/v1/tree")
    nodes = {n["id"]: n for n in tree.get("nodes", [])}
    for node, want in states:
        n = nodes.get(node)
        if n is None:
            problems.append(f"no node {node}")
        elif n["state"] not in want:
            problems.append(f'{node}={n["state"]} ({n.get("reason", "")})')
    if args.all_healthy:
        bad = [f'{i}={n["state"]}' for i, n in nodes.items()
               if i != "unmodelled" and n["state"] != "healthy"]
        if bad:
            problems.append("not healthy: " + ", ".join(bad))
    if faults or args.no_fault or args.gap or args.no_open_faults:
        listing = get(api, "/api/v1/faults")
        open_faults = [f for f in listing.get("faults", []) if f.get("status") == "open"]
        seen = ", ".join(f'{f["side"]}:{f["suspect"]}:{f["kind"]}' for f in open_faults) or "none"
        for side, suspect, kind in faults:
            match = [f for f in open_faults
                     if f["side"] == side and f["suspect"] == suspect
                     and (kind is None or f["kind"] == kind)]
            if match:
                opened.append(match[0]["opened_at_unix_ms"])
            else:
                problems.append(f"no open fault {side}:{suspect}{':' + kind if kind else ''} (open: {seen})")
        if args.no_open_faults and open_faults:
            problems.append(f"open: {seen}")
        for suspect in args.no_fault:
            if any(f["suspect"] == suspect for f in open_faults):
                problems.append(f"fault on {suspect} still open")
        gaps = listing.get("gaps", [])
        for network in args.gap:
            if not any(g.get("network") == network for g in gaps):
                problems.append(f"no observability gap in {network} (gaps: {gaps})")
    return problems, (max(opened) if opened else None)


def main(argv):
    args, states, faults = parse_args(argv)
    end = time.monotonic() + args.deadline
    last = "never checked"
    while True:
        try:
            problems, opened = check(args.api, args, states, faults)
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            problems, opened = [f"API error: {e}"], None
        now_ms = int(time.time() * 1000)
        if not problems:
            extra = ""
            if opened is not None and opened >= args.since_ms:
                extra = f" fault opened {opened - args.since_ms} ms after the change"
            elif opened is not None:
                # Same suspect within the flap window: the old fault reopened.
                extra = " fault reopened (first opened before the change)"
            print(f"OK {now_ms - args.since_ms}{extra}")
            return 0
        last = "; ".join(problems)
        if time.monotonic() >= end:
            print(f"TIMEOUT {now_ms - args.since_ms} {last}")
            return 1
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
