"""Runs scenarios against a live lab with Vigil: brings a lab up, injects,
watches Vigil's API and the webhook receiver, restores, and records what
happened. Used by deploy/lab/scenarios.

Owns the lab's lifetime while the runner runs (up, down) and the timing of
one scenario; the catalogue (what to expect) is scenario_catalog.py, the
scoring and table scenario_report.py. Every wait polls until a deadline.
"""

import json
import os
import subprocess
import sys
import threading
import time

import scenario_catalog as cat

API = "http://10.10.0.100:7401"
POLL_S = 0.5
# Vigil's defaults: a fault recurring within REOPEN_MS of closing reopens as
# itself (attribution.flap_window), and an alert changing more than
# FLAP_CHANGES times within FLAP_MS is held (alerts.flap). The runner waits
# rather than let a scenario repeated back to back be held by design.
REOPEN_MS = 5 * 60_000
FLAP_MS = 10 * 60_000
FLAP_CHANGES = 4


def now_ms():
    return int(time.time() * 1000)


def say(msg):
    print(f"scenarios: {msg}", file=sys.stderr, flush=True)


class LabError(RuntimeError):
    pass


class Lab:
    """One lab with the runner's prefix; every command is deploy/lab/*."""

    def __init__(self, lab_dir, prefix, bin_dir):
        self.lab_dir, self.prefix, self.bin_dir = lab_dir, prefix, bin_dir
        self.env = dict(os.environ, VIGIL_LAB_PREFIX=prefix)
        self.state = f"/run/vigil-lab-{prefix}"
        self.poller = None
        # suspect -> [(received_ms, status)] of its notifications, this
        # aggregator's life only (a new lab is a new aggregator).
        self.changes = {}

    def cmd(self, *args, check=True, timeout=180):
        r = subprocess.run([os.path.join(self.lab_dir, args[0]), *args[1:]], env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and r.returncode != 0:
            tail = "\n".join(r.stdout.strip().splitlines()[-15:])
            raise LabError(f"{' '.join(args)} failed (exit {r.returncode}):\n{tail}")
        return r.stdout

    def up(self, spokes, interval):
        self.cmd("up", "--spokes", str(spokes), "--with-vigil", self.bin_dir,
                 "--interval", str(interval), "--webhook")
        self.poller = Poller(self.prefix, self.lab_dir)

    def down(self):
        self.changes = {}
        if self.poller:
            self.poller.stop()
            self.poller = None
        self.cmd("down", check=False, timeout=120)

    def remember_pages(self, since_ms, opened):
        """Files the notifications since SINCE_MS under the suspects of the
        faults that OPENED (by fault id)."""
        suspect_of = {o["id"]: o["suspect"] for o in opened}
        for n in self.notifications(since_ms):
            suspect = suspect_of.get(n.get("fault_id"))
            if suspect:
                self.changes.setdefault(suspect, []).append((n["received_ms"], n.get("status")))

    def flap_wait_ms(self, suspects, at_ms):
        """How long until a scenario on SUSPECTS would page on its own: its
        fault would reopen as itself and two more changes would pass the
        alert's flap guard."""
        wait = 0
        for s in suspects:
            changes = self.changes.get(s, [])
            closes = [t for t, st in changes if st == "resolved"]
            if not closes or at_ms - max(closes) > REOPEN_MS:
                continue
            recent = sorted(t for t, _ in changes if at_ms - t <= FLAP_MS)
            if len(recent) + 2 <= FLAP_CHANGES:
                continue
            # Either the reopen window ends (a new fault, a new alert) or
            # enough old changes age out of the flap window.
            ages_out = recent[len(recent) + 2 - FLAP_CHANGES - 1] + FLAP_MS
            wait = max(wait, min(max(closes) + REOPEN_MS, ages_out) - at_ms)
        return max(0, wait)

    def notifications(self, since_ms):
        out = []
        try:
            with open(os.path.join(self.state, "webhook.jsonl"), encoding="utf-8") as f:
                for line in f:
                    try:
                        n = json.loads(line)
                    except ValueError:
                        continue
                    if n.get("received_ms", 0) >= since_ms:
                        out.append(n)
        except OSError:
            pass
        return out


class Poller:
    """py/vigil_poll.py in the hub namespace; the newest snapshot is kept."""

    def __init__(self, prefix, lab_dir):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", f"{prefix}-hub", "python3",
             os.path.join(lab_dir, "py", "vigil_poll.py"), API, "--every", str(POLL_S)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.latest = None
        self.seq = 0
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                snap = json.loads(line)
            except ValueError:
                continue
            with self.cv:
                self.latest = snap
                self.seq += 1
                self.cv.notify_all()

    def next(self, timeout=5.0):
        """Waits for a snapshot newer than the one last returned."""
        with self.cv:
            seen = self.seq
            self.cv.wait_for(lambda: self.seq > seen, timeout=timeout)
            return self.latest if self.seq > seen else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def is_steady(snap):
    if not snap or "error" in snap:
        return False
    if any(f["status"] == "open" for f in snap["faults"]) or snap["gaps"]:
        return False
    # Degraded leaves are tolerated: 1% noise shows in the tree, not as faults.
    return not any(b.endswith(("=unhealthy", "=unknown")) for b in snap["bad"])


def wait_steady(poller, deadline_s):
    """Until two polls in a row show no open fault, no gap and no unhealthy
    or unknown node. Returns (steady, seconds waited)."""
    t0 = time.monotonic()
    in_a_row = 0
    while time.monotonic() - t0 < deadline_s:
        in_a_row = in_a_row + 1 if is_steady(poller.next()) else 0
        if in_a_row >= 2:
            return True, round(time.monotonic() - t0, 1)
    return False, round(time.monotonic() - t0, 1)


class Openings:
    """Which faults opened (new, or reopened within Vigil's flap window)
    after a baseline, with when; `opened` lists them in order."""

    def __init__(self, baseline):
        self.known = {f["id"]: (f["status"], f["reopened"]) for f in (baseline or {}).get("faults", [])}
        self.opened = []  # [{"id", "side", ..., "open_ms", "reopened", "phase"}]
        self.current = {}

    def update(self, snap, phase):
        if not snap or "error" in snap:
            return
        for f in snap["faults"]:
            self.current[f["id"]] = f
            was = self.known.get(f["id"])
            self.known[f["id"]] = (f["status"], f["reopened"])
            if f["status"] != "open":
                continue
            if was is not None and was[0] == "open" and was[1] == f["reopened"]:
                continue  # open before and still the same opening
            # A new fault says when it opened; a reopened one keeps its first
            # opened-at, so the poll that saw it is the time.
            at = f["opened_ms"] if was is None else snap["t_ms"]
            self.opened.append({
                "id": f["id"], "side": f["side"], "suspect": f["suspect"], "kind": f["kind"],
                "certainty": f["certainty"], "confidence": f["confidence"],
                "open_ms": at, "reopened": was is not None, "phase": phase,
            })

    def open_now(self):
        return [f for f in self.current.values() if f["status"] == "open"]


def poll_until(poller, openings, phase, deadline_s, done):
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        snap = poller.next()
        openings.update(snap, phase)
        if done(snap):
            return snap, True
    return poller.latest, False


def run_scenario(lab, sc, seed):
    """Injects, watches, restores and returns the scenario's record."""
    poller, s = lab.poller, sc["interval"]
    iv_ms = s * 1000
    rec = {"seed": seed, "index": sc["index"], "class": sc["class"], "spokes": sc["spokes"],
           "interval_s": s, "faults": sc["faults"], "expected": sc["expected"], "noise_pct": 1}
    rec["steady_before"], rec["steady_wait_s"] = wait_steady(poller, max(90, 30 * s))
    wait_ms = lab.flap_wait_ms([e["suspect"] for e in sc["expected"]], now_ms())
    rec["flap_wait_s"] = round(wait_ms / 1000, 1)
    if wait_ms:
        say(f"#{sc['index']} waits {rec['flap_wait_s']} s: its suspect was paged back to back")
        time.sleep(wait_ms / 1000 + 1)
        rec["steady_before"], _ = wait_steady(poller, max(90, 30 * s))
    openings = Openings(poller.next())
    t_inject = now_ms()
    lab.cmd("inject", *sc["faults"])
    rec["inject_ms"] = t_inject
    found = {}

    def detected(snap):
        for e in sc["expected"]:
            key = e["fault"]
            if key not in found:
                hit = [o for o in openings.opened if o["phase"] == "fault" and cat.matches(e, o)]
                if hit:
                    found[key] = hit[0]["open_ms"]
        hold = time.time() * 1000 - t_inject >= 6 * iv_ms
        return hold and len(found) == len(sc["expected"])

    snap, _ = poll_until(poller, openings, "fault", 12 * s, detected)
    # The faults open at the end of the fault phase, with their final words.
    at_restore = [f for f in openings.open_now()
                  if any(o["id"] == f["id"] and o["phase"] == "fault" for o in openings.opened)]
    rec["open_at_restore"] = [{k: f[k] for k in ("id", "side", "suspect", "kind", "certainty", "confidence")}
                              for f in at_restore]
    t_restore = now_ms()
    lab.cmd("restore", *sc["faults"])
    rec["restore_ms"] = t_restore
    rec["detected"] = {k: round((v - t_inject) / iv_ms, 2) for k, v in found.items()}
    rec["detection_intervals"] = (round((max(found.values()) - t_inject) / iv_ms, 2)
                                  if len(found) == len(sc["expected"]) else None)

    def cleared(snap):
        return bool(snap) and "error" not in snap and not any(f["status"] == "open" for f in snap["faults"])

    _, ok = poll_until(poller, openings, "restore", 30 * s + 30, cleared)
    rec["clear_intervals"] = round((now_ms() - t_restore) / iv_ms, 2) if ok else None
    # A replay (agents that were cut off send their buffers) can open a
    # fault just after everything cleared: watch two more intervals.
    poll_until(poller, openings, "restore", 2 * s, lambda _: False)
    rec["opened"] = [dict(o, open_ms=o["open_ms"] - t_inject) for o in openings.opened]
    rec["replay_faults"] = [o for o in rec["opened"] if o["phase"] == "restore"]
    rec["pages"] = wait_pages(lab, t_inject, [o["id"] for o in openings.opened])
    lab.remember_pages(t_inject, openings.opened)
    return rec


def wait_pages(lab, since_ms, ids, deadline_s=15):
    """Notifications per fault id and status, once every fault that fired
    has its resolved (or the deadline passed)."""
    end = time.monotonic() + deadline_s
    while True:
        pages = {}
        for n in lab.notifications(since_ms):
            fid = n.get("fault_id") or n.get("key") or "?"
            p = pages.setdefault(fid, {"firing": 0, "resolved": 0})
            if n.get("status") in p:
                p[n["status"]] += 1
        waiting = [i for i in set(ids) | set(pages)
                   if pages.get(i, {}).get("firing", 0) > pages.get(i, {}).get("resolved", 0)
                   or i not in pages]
        if not waiting or time.monotonic() >= end:
            return pages
        time.sleep(POLL_S)


def run_steady(lab, duration_s, interval):
    """No fault, 1% noise: every fault that opens is a false one."""
    steady, waited = wait_steady(lab.poller, max(90, 30 * interval))
    openings = Openings(lab.poller.next())
    t0 = now_ms()
    poll_until(lab.poller, openings, "steady", duration_s, lambda _: False)
    return {"steady_run": True, "interval_s": interval, "duration_s": duration_s,
            "steady_before": steady, "steady_wait_s": waited, "noise_pct": 1,
            "false_faults": [dict(o, open_ms=o["open_ms"] - t0) for o in openings.opened],
            "pages": wait_pages(lab, t0, [o["id"] for o in openings.opened])}
