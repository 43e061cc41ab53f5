#!/usr/bin/env python3
"""Polls Vigil's HTTP API and prints one JSON line per poll, for the scenario
runner (deploy/lab/scenarios), which cannot reach the hub's addresses from
the host. Run inside the hub namespace; stdlib only. Owns nothing but the
shape of those lines; it judges nothing.

  vigil_poll.py API [--every S]

Each line: {"t_ms", "faults": [{"id", "side", "suspect", "kind", "certainty",
"confidence", "status", "opened_ms", "updated_ms", "closed_ms", "reopened"}],
"gaps": [network...], "bad": ["node=state", ...]} with every node of the
tree that is not healthy (but `unmodelled`), or {"t_ms", "error"}.
Stops when its stdout closes.
"""

import argparse
import json
import sys
import time
import urllib.error

from vigil_wait import get  # the same way `check` talks to the API


def snapshot(api):
    listing = get(api, "/api/v1/faults?include_resolved=true")
    tree = get(api, "/api/v1/tree")
    faults = [{
        "id": f["id"], "side": f["side"], "suspect": f["suspect"], "kind": f["kind"],
        "certainty": f["certainty"], "confidence": f["confidence"], "status": f["status"],
        "opened_ms": f["opened_at_unix_ms"], "updated_ms": f["updated_at_unix_ms"],
        "closed_ms": f["closed_at_unix_ms"], "reopened": f["reopened"],
    } for f in listing.get("faults", [])]
    gaps = sorted({g.get("network", "?") for g in listing.get("gaps", [])})
    bad = [f'{n["id"]}={n["state"]}' for n in tree.get("nodes", [])
           if n["id"] != "unmodelled" and n["state"] != "healthy"]
    return {"faults": faults, "gaps": gaps, "bad": bad}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("api", help="base URL, e.g. http://10.10.0.100:7401")
    ap.add_argument("--every", type=float, default=0.5, help="seconds between polls")
    a = ap.parse_args(argv)
    while True:
        started = time.monotonic()
        line = {"t_ms": int(time.time() * 1000)}
        try:
            line.update(snapshot(a.api))
        except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
            line["error"] = str(e)
        try:
            print(json.dumps(line), flush=True)
        except BrokenPipeError:
            return 0
        time.sleep(max(0.0, a.every - (time.monotonic() - started)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
