"""The scenario runner's catalogue: which faults exist, where Vigil should
attribute each, and the seeded generation of scenarios and their grouping.

Owns the expectations (side, suspect, kind) of every fault the runner
injects; it runs nothing. Used by deploy/lab/scenarios.
"""

import random

SPOKE_NAMES = ["spoke-a", "spoke-b", "spoke-c", "spoke-d", "spoke-e", "spoke-f"]
RECORDS = ["kv.privatelink.vault.test", "db.privatelink.vault.test"]
WORKLOAD_FAULTS = ["workload-kill", "workload-slow", "workload-5xx"]

# kind -> (argument: None | "spoke" | "record" | fixed text, side, suspect
# template with {s} for the spoke, kind Vigil should give or None for any).
CATALOGUE = {
    "dns-down": (None, "platform", "platform/hub/hub-dns", None),
    "dns-public": ("record", "platform", "platform/hub/private-dns-zone", None),
    "dns-deleted": ("record", "platform", "platform/hub/private-dns-zone", None),
    "fw-rule-removed": (None, "platform", "platform/hub/hub-firewall", None),
    "fw-drift": (None, "platform", "platform/hub/hub-firewall", "security_drift"),
    "route-wrong": ("spoke", "platform", "platform/{s}/connectivity", None),
    "peering-down": ("spoke", "platform", "platform/{s}/connectivity", None),
    "workload-kill": ("spoke", "workload", "workload/checkout-{s}", None),
    "workload-slow": ("spoke", "workload", "workload/checkout-{s}", None),
    "workload-5xx": ("spoke", "workload", "workload/checkout-{s}", None),
    "hub-loss": ("30", "platform", "platform/hub/hub-firewall", "intermittent"),
    "route-blackhole": ("spoke", "platform", "platform/{s}/connectivity", None),
    "snat-wrong": (None, "platform", "platform/hub/hub-firewall", None),
    "hub-unreach": ("spoke", "platform", "platform/{s}/connectivity", None),
}
# The platform half of a pair: every platform fault but dns-down, whose
# impact is every workload by the model's depends_on (docs/attribution.md,
# "Known limits": a workload failing beside a failing hub component it
# depends on is taken as that component's impact).
# A kind the expected suspect's fault may rightly show besides its own: a
# spoke's shortcut around the firewall also lets it reach what the firewall
# denies, so its one fault may be seen as a security drift first.
ALSO = {"route-wrong": "security_drift"}
PAIR_PLATFORM = [k for k, v in CATALOGUE.items() if v[1] == "platform" and k != "dns-down"]
PAIR_SHARE = 0.25


def split(fault):
    kind, _, arg = fault.partition(":")
    return kind, arg


def expectation(fault):
    """{"fault", "side", "suspect", "kind"} Vigil should open for FAULT."""
    kind, arg = split(fault)
    _, side, suspect, want_kind = CATALOGUE[kind]
    return {"fault": fault, "side": side, "suspect": suspect.format(s=arg), "kind": want_kind,
            "also": ALSO.get(kind)}


def matches(expected, fault):
    """Whether an opened fault (API JSON) is the expected one. The kind is
    part of the match only for a security drift: a drift expected must be
    one, and a drift where none is expected (but the ALSO kind) is a
    different problem; hub-loss's kind is recorded, not matched."""
    if fault["suspect"] != expected["suspect"] or fault["side"] != expected["side"]:
        return False
    if expected["kind"] == "security_drift":
        return fault["kind"] == "security_drift"
    return fault["kind"] != "security_drift" or fault["kind"] == also_kind(expected)


def also_kind(expected):
    return expected.get("also") or ALSO.get(split(expected["fault"])[0])


def spoke_of(fault):
    kind, arg = split(fault)
    return arg if CATALOGUE[kind][0] == "spoke" else None


def make_fault(rng, kind, spokes):
    argtype = CATALOGUE[kind][0]
    if argtype is None:
        return kind
    if argtype == "spoke":
        return f"{kind}:{rng.choice(spokes)}"
    if argtype == "record":
        return f"{kind}:{rng.choice(RECORDS)}"
    return f"{kind}:{argtype}"


def fault_class(faults):
    kinds = [split(f)[0] for f in faults]
    return kinds[0] if len(kinds) == 1 else "pair:" + "+".join(kinds)


def generate(seed, count, spokes_range, interval_range, only=None):
    """The seeded scenarios: [{"index", "spokes", "interval", "faults",
    "class", "expected"}]. The same seed always gives the same list. With
    ONLY (catalogue kinds), the first COUNT of that list that inject one of
    them, keeping their indexes: a class re-run after a fix is a subset of
    the full run with the same seed."""
    rng = random.Random(seed)
    out = []
    i = -1
    while len(out) < count:
        i += 1
        n = rng.randint(*spokes_range)
        interval = rng.randint(*interval_range)
        spokes = SPOKE_NAMES[:n]
        if rng.random() < PAIR_SHARE:
            platform = make_fault(rng, rng.choice(PAIR_PLATFORM), spokes)
            hit = spoke_of(platform)
            others = [s for s in spokes if s != hit]
            workload = f"{rng.choice(WORKLOAD_FAULTS)}:{rng.choice(others)}"
            faults = [platform, workload]
        else:
            faults = [make_fault(rng, rng.choice(sorted(CATALOGUE)), spokes)]
        if only and not any(split(f)[0] in only for f in faults):
            continue
        out.append({
            "index": i,
            "spokes": n,
            "interval": interval,
            "faults": faults,
            "class": fault_class(faults),
            "expected": [expectation(f) for f in faults],
        })
    return out


def groups(scenarios):
    """Scenarios grouped by (spokes, interval), in order of first appearance,
    so the lab is brought up once per group."""
    by = {}
    for sc in scenarios:
        by.setdefault((sc["spokes"], sc["interval"]), []).append(sc)
    return list(by.items())
