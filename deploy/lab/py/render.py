#!/usr/bin/env python3
"""Renders the lab's Vigil configs (deploy/lab/config/*.tmpl) for one lab.

Owns the template language of config/ and the timing that follows the probe
interval; `up --with-vigil` calls it. Stdlib only.

  render.py --config-dir DIR --out DIR --spokes spoke-a,spoke-b[,...]
            [--interval S] [--webhook URL]

Template language (line based, so the templates stay readable YAML):
  #@# ...                    a note about the template, dropped
  @SPOKE@                    the agent's own spoke (agent-spoke.yaml.tmpl)
  #@each spoke ... #@end     lines repeated for every spoke of the lab, with
                             @S@ (spoke-a) and @O@ (its second octet, 11)
  @LIST(x)@                  x for every spoke, comma-separated
  #@if webhook ... #@end     kept only with --webhook (@WEBHOOK@ is its URL)
  @INTERVAL@ @TIMEOUT@ @WL_INTERVAL@ @WL_TIMEOUT@ @WINDOW@ @STALENESS@

Timing: without --interval the shipped values (probes every 2 s, workload
probes every 3 s, window 12 s, staleness 6 s). With --interval S every probe
runs every S s; timeouts stay 1 s (the deny probe's latency is its timeout,
judged against 2 s) and 2.5 s for workloads, kept under the interval
(S - 0.2 s); the aggregator's window is 5 intervals and staleness 3.
Hysteresis is left as shipped.
"""

import argparse
import os
import re
import sys

FIRST_OCTET = 10  # spoke-a is 10.11.0.0/16, spoke-b 10.12..., hub 10.10


def timing(interval):
    if interval is None:
        return {"INTERVAL": "2s", "TIMEOUT": "1s", "WL_INTERVAL": "3s",
                "WL_TIMEOUT": "2500ms", "WINDOW": "12s", "STALENESS": "6s"}
    wl_timeout = min(2500, interval * 1000 - 200)
    return {"INTERVAL": f"{interval}s", "TIMEOUT": "1s", "WL_INTERVAL": f"{interval}s",
            "WL_TIMEOUT": f"{wl_timeout}ms", "WINDOW": f"{5 * interval}s",
            "STALENESS": f"{3 * interval}s"}


def per_spoke(text, spoke, index):
    return text.replace("@S@", spoke).replace("@O@", str(FIRST_OCTET + index))


def render(template, spokes, values, webhook, own_spoke=None):
    out = []
    block = None  # ("each", lines) or ("if", keep)
    for line in template.splitlines():
        tag = line.strip()
        if tag.startswith("#@#"):
            continue
        if tag == "#@each spoke":
            block = ("each", [])
            continue
        if tag == "#@if webhook":
            block = ("if", webhook is not None)
            continue
        if tag == "#@end":
            if block is None:
                raise SystemExit("render: #@end without #@each or #@if")
            if block[0] == "each":
                for i, s in enumerate(spokes, start=1):
                    out.extend(per_spoke(l, s, i) for l in block[1])
            block = None
            continue
        if block is not None and block[0] == "each":
            block[1].append(line)
            continue
        if block is not None and block[0] == "if" and not block[1]:
            continue
        out.append(line)
    if block is not None:
        raise SystemExit("render: a #@each or #@if block is not closed")
    text = "\n".join(out) + "\n"
    text = re.sub(r"@LIST\((.*?)\)@",
                  lambda m: ", ".join(per_spoke(m.group(1), s, i) for i, s in enumerate(spokes, 1)),
                  text)
    if own_spoke:
        text = text.replace("@SPOKE@", own_spoke)
    if webhook:
        text = text.replace("@WEBHOOK@", webhook)
    for k, v in values.items():
        text = text.replace(f"@{k}@", v)
    left = re.findall(r"@[A-Z_]+(?:\(.*?\))?@", text)
    if left:
        raise SystemExit(f"render: unknown template tokens {sorted(set(left))}")
    return text


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--spokes", required=True, help="comma-separated, e.g. spoke-a,spoke-b,spoke-c")
    ap.add_argument("--interval", type=int, help="probe interval in seconds, 2..10")
    ap.add_argument("--webhook", help="URL of an alert webhook receiver")
    a = ap.parse_args(argv)
    spokes = [s for s in a.spokes.split(",") if s]
    if a.interval is not None and not 2 <= a.interval <= 10:
        ap.error("--interval must be 2..10 seconds")
    values = timing(a.interval)

    def read(name):
        with open(os.path.join(a.config_dir, name), encoding="utf-8") as f:
            return f.read()

    def write(name, text):
        with open(os.path.join(a.out, name), "w", encoding="utf-8") as f:
            f.write(text)

    write("aggregator.yaml", render(read("aggregator.yaml.tmpl"), spokes, values, a.webhook))
    write("model.yaml", render(read("model.yaml.tmpl"), spokes, values, a.webhook))
    write("agent-hub.yaml", render(read("agent-hub.yaml.tmpl"), spokes, values, a.webhook))
    spoke_tmpl = read("agent-spoke.yaml.tmpl")
    for s in spokes:
        write(f"agent-{s}.yaml", render(spoke_tmpl, spokes, values, a.webhook, own_spoke=s))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
