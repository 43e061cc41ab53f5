"""Scores scenario records and prints the attribution-quality table.

Owns the definitions of the measures and the targets of
`deploy/lab/scenarios --strict`; it runs nothing.

Per scenario (faults opened between inject and restore, "during"):
  side       the first fault's side is the side of an injected fault
  top-1      an expected suspect opened and the highest-confidence fault open
             at the restore is an expected one
  both       (pairs) every expected suspect opened
  wrong      a fault opened on a suspect that was not injected
  ambiguous  faults opened ambiguous or with insufficient data, of all opened
  detection  inject to the last expected suspect opening, in probe intervals
             (not found counts as beyond every target)
  pages      webhook notifications per fault (opened during or replayed after
             the restore): one firing and one resolved is right
"""

import math

import scenario_catalog as cat

TARGETS = {"side": 0.98, "component": 0.95, "both": 0.95, "wrong": 0.02,
           "ambiguous": 0.10, "detection_p95": 2.0, "false_faults": 0}


def score(rec):
    during = sorted((o for o in rec["opened"] if o["phase"] == "fault"), key=lambda o: o["open_ms"])
    expected = rec["expected"]
    found = [e for e in expected if any(cat.matches(e, o) for o in during)]
    first = during[0] if during else None
    pool = rec["open_at_restore"] or during
    top = max(pool, key=lambda f: f["confidence"] or 0.0) if pool else None
    ids = {o["id"] for o in rec["opened"]}
    pages = {i: rec["pages"].get(i, {"firing": 0, "resolved": 0}) for i in ids}
    return {
        "pair": len(expected) > 1,
        "side_ok": bool(first) and first["side"] in {e["side"] for e in expected},
        "top1_ok": bool(found) and top is not None and any(cat.matches(e, top) for e in expected),
        "both_ok": len(found) == len(expected),
        "wrong": [f'{o["side"]}:{o["suspect"]}:{o["kind"]}' for o in during
                  if not any(cat.matches(e, o) for e in expected)],
        "ambiguous": sum(1 for o in during if o["certainty"] != "attributed"),
        "opened": len(during),
        "replays": len(rec["replay_faults"]),
        "detection": rec["detection_intervals"],
        "clear": rec["clear_intervals"],
        "firing": sum(p["firing"] for p in pages.values()),
        "resolved": sum(p["resolved"] for p in pages.values()),
        "faults_paged": len(pages),
        "pages_ok": all(p == {"firing": 1, "resolved": 1} for p in pages.values()),
    }


def pct(values, q):
    """Nearest-rank percentile; None counts as infinity (not detected)."""
    if not values:
        return None
    v = sorted(math.inf if x is None else x for x in values)
    return v[max(0, math.ceil(q / 100 * len(v)) - 1)]


def summarise(scores):
    n = len(scores)
    pairs = [s for s in scores if s["pair"]]
    opened = sum(s["opened"] for s in scores)
    paged = sum(s["faults_paged"] for s in scores)
    det = [s["detection"] for s in scores]
    return {
        "runs": n,
        "side": sum(s["side_ok"] for s in scores) / n,
        "component": sum(s["top1_ok"] for s in scores) / n,
        "both": (sum(s["both_ok"] for s in pairs) / len(pairs)) if pairs else None,
        "wrong": sum(1 for s in scores if s["wrong"]) / n,
        "ambiguous": (sum(s["ambiguous"] for s in scores) / opened) if opened else 0.0,
        "det_p50": pct(det, 50), "det_p95": pct(det, 95),
        "clear_p95": pct([s["clear"] for s in scores], 95),
        "firing_per_fault": (sum(s["firing"] for s in scores) / paged) if paged else None,
        "resolved_per_fault": (sum(s["resolved"] for s in scores) / paged) if paged else None,
        "pages_ok": sum(s["pages_ok"] for s in scores),
        "replays": sum(s["replays"] for s in scores),
    }


def fmt_pct(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def fmt_num(x):
    if x is None:
        return "-"
    return "never" if x == math.inf else f"{x:.1f}"


def row(name, m):
    pages = "-" if m["firing_per_fault"] is None else f'{m["firing_per_fault"]:.1f} / {m["resolved_per_fault"]:.1f}'
    return (f'| {name} | {m["runs"]} | {fmt_pct(m["side"])} | {fmt_pct(m["component"])} | {fmt_pct(m["both"])} '
            f'| {fmt_pct(m["wrong"])} | {fmt_pct(m["ambiguous"])} | {fmt_num(m["det_p50"])} | {fmt_num(m["det_p95"])} '
            f'| {fmt_num(m["clear_p95"])} | {pages} | {m["pages_ok"]}/{m["runs"]} | {m["replays"]} |')


def table(records, steady=None):
    """The markdown table per fault class, an "all" row, the steady run."""
    scored = [(r, score(r)) for r in records]
    classes = {}
    for r, s in scored:
        classes.setdefault(r["class"], []).append(s)
    lines = [] if not scored else ["| fault class | runs | side | component top-1 | both of pair | wrong extra | ambiguous "
             "| detection p50 | detection p95 | clear p95 | pages per fault (firing / resolved) "
             "| scenarios paged right | replay faults |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(classes):
        lines.append(row(name, summarise(classes[name])))
    if scored:
        lines.append(row("**all**", summarise([s for _, s in scored])))
        lines.append("")
        lines.append("Detection and clear in probe intervals from the inject / restore; "
                     "pages: one firing and one resolved per fault is right.")
    if steady is not None:
        ff = steady["false_faults"]
        lines.append(f'Steady run ({steady["duration_s"]} s, {steady["spokes"]} spokes, interval '
                     f'{steady["interval_s"]} s, 1% noise): {len(ff)} false faults'
                     + (": " + ", ".join(f'{f["side"]}:{f["suspect"]}' for f in ff) if ff else "") + ".")
    return "\n".join(lines)


def misses(records, steady=None):
    """Targets missed, as sentences (empty: all met)."""
    scores = [score(r) for r in records]
    out = []
    if scores:
        m = summarise(scores)
        singles = [s for s in scores if not s["pair"]]
        comp = (sum(s["top1_ok"] for s in singles) / len(singles)) if singles else None
        if m["side"] < TARGETS["side"]:
            out.append(f'side accuracy {fmt_pct(m["side"])} < {fmt_pct(TARGETS["side"])}')
        if comp is not None and comp < TARGETS["component"]:
            out.append(f'component top-1 (single faults) {fmt_pct(comp)} < {fmt_pct(TARGETS["component"])}')
        if m["both"] is not None and m["both"] < TARGETS["both"]:
            out.append(f'both of a pair {fmt_pct(m["both"])} < {fmt_pct(TARGETS["both"])}')
        if m["wrong"] > TARGETS["wrong"]:
            out.append(f'scenarios with a wrong extra fault {fmt_pct(m["wrong"])} > {fmt_pct(TARGETS["wrong"])}')
        if m["ambiguous"] > TARGETS["ambiguous"]:
            out.append(f'ambiguous share {fmt_pct(m["ambiguous"])} > {fmt_pct(TARGETS["ambiguous"])}')
        if m["det_p95"] is None or m["det_p95"] > TARGETS["detection_p95"]:
            out.append(f'detection p95 {fmt_num(m["det_p95"])} > {TARGETS["detection_p95"]} intervals')
    if steady is not None and len(steady["false_faults"]) > TARGETS["false_faults"]:
        out.append(f'{len(steady["false_faults"])} false faults in the steady run (target 0)')
    return out
