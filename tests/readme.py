#!/usr/bin/env python3
"""The README's two set-up commands, run exactly as written.

The README promises a newcomer two commands on a fresh machine: one runs the
embedded demo, one runs the whole test suite. This script reads them out of
the README's "Set up on a fresh machine" section so nothing can drift:

  tests/readme.py test-command   prints the test command (.ci/run runs it)
  tests/readme.py demo [CMD...]  runs the demo command as written, waits until
                                 GET /api/v1/tree answers with the tree (over
                                 TLS, with the demo's CA and read token, as
                                 the README's curl line does), checks that
                                 `vigil tree` finds them without flags, runs
                                 CMD (if given) against the running demo with
                                 VIGIL_CA and VIGIL_TOKEN_FILE set, then stops
                                 it with Ctrl-C and checks it exits 0 and
                                 removed its credentials

It fails loudly when the section does not hold exactly two commands.
"""

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION = "## Set up on a fresh machine"
# Where the demo serves its HTTP API by default (README, "The demo").
TREE_URL = "https://127.0.0.1:7401/api/v1/tree"
# The demo command may have to build first; a fresh 2-core machine needs minutes.
START_DEADLINE_S = 1200
STOP_DEADLINE_S = 60


def commands():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.find(SECTION + "\n")
    if start < 0:
        sys.exit(f"readme.py: README.md has no '{SECTION}' section")
    body = text[start + len(SECTION):]
    end = body.find("\n## ")
    body = body if end < 0 else body[:end]
    blocks = re.findall(r"```sh\n(.*?)```", body, re.S)
    cmds = [line.strip() for b in blocks for line in b.splitlines() if line.strip()]
    if len(cmds) != 2:
        sys.exit(f"readme.py: '{SECTION}' must hold exactly two commands, found {cmds}")
    return cmds


def demo_dir():
    """Where the demo keeps its CA and tokens, by the README's rule."""
    for var, sub in (("VIGIL_DEMO_DIR", ""), ("XDG_RUNTIME_DIR", "vigil-demo"),
                     ("HOME", ".local/state/vigil-demo")):
        if os.environ.get(var):
            return os.path.join(os.environ[var], sub) if sub else os.environ[var]
    return os.path.join(tempfile.gettempdir(), "vigil-demo")


def fetch_tree(creds):
    with open(creds["token"], encoding="utf-8") as f:
        token = f.read().strip()
    ctx = ssl.create_default_context(cafile=creds["ca"])
    req = urllib.request.Request(TREE_URL, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
        if r.status != 200:
            raise OSError(f"status {r.status}")
        return json.load(r)


def check_cli_finds_the_demo():
    """`vigil tree` from another terminal, as the README says: no flags."""
    vigil = os.path.join(ROOT, "target", "debug", "vigil")
    out = subprocess.run([vigil, "tree"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if out.returncode != 0 or "platform" not in out.stdout:
        sys.exit(f"readme.py: `vigil tree` without flags failed against the demo ({out.returncode}): {out.stderr.strip()}")
    print("readme.py: `vigil tree` found the demo's CA and token by itself", flush=True)


def children(pid):
    """The processes whose parent is `pid` (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                # pid (comm) state ppid ...; comm may hold spaces.
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(entry))
    return out


def interrupt(proc):
    """Ctrl-C for the program `cargo run` started, as a user would stop it;
    cargo then exits with the program's own code."""
    kids = children(proc.pid)
    for kid in kids:
        os.kill(kid, signal.SIGINT)
    if not kids:
        os.killpg(proc.pid, signal.SIGINT)


def run_demo(cmd, while_up):
    print(f"readme.py: running the README's demo command: {cmd}", flush=True)
    creds_dir = demo_dir()
    creds = {"ca": os.path.join(creds_dir, "ca.crt"), "token": os.path.join(creds_dir, "read.token")}
    proc = subprocess.Popen(cmd, shell=True, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        last = "not tried"
        while True:
            if proc.poll() is not None:
                sys.exit(f"readme.py: '{cmd}' exited with {proc.returncode} before serving {TREE_URL}")
            try:
                tree = fetch_tree(creds)
                nodes = tree.get("nodes", [])
                if nodes:
                    break
                last = "the tree has no nodes"
            except (OSError, ValueError) as e:
                last = str(e)
            if time.monotonic() > deadline:
                sys.exit(f"readme.py: {TREE_URL} did not answer within {START_DEADLINE_S}s: {last}")
            time.sleep(1)
        print(f"readme.py: {TREE_URL} answered with {len(nodes)} nodes", flush=True)
        check_cli_finds_the_demo()
        if while_up:
            print(f"readme.py: while the demo runs: {' '.join(while_up)}", flush=True)
            env = dict(os.environ, VIGIL_CA=creds["ca"], VIGIL_TOKEN_FILE=creds["token"])
            rc = subprocess.call(while_up, cwd=ROOT, env=env)
            if rc != 0:
                sys.exit(f"readme.py: '{' '.join(while_up)}' failed with {rc} against the running demo")
    finally:
        if proc.poll() is None:
            interrupt(proc)
    try:
        code = proc.wait(timeout=STOP_DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        sys.exit(f"readme.py: '{cmd}' did not stop within {STOP_DEADLINE_S}s of Ctrl-C")
    # cargo run passes on the demo's exit code; Ctrl-C is a clean stop.
    if code != 0:
        sys.exit(f"readme.py: '{cmd}' exited with {code} after Ctrl-C")
    if os.path.exists(creds["token"]):
        sys.exit(f"readme.py: the demo left its credentials behind in {creds_dir}")
    print("readme.py: the demo command works as written", flush=True)


def main():
    demo, test = commands()
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "test-command":
        print(test)
    elif what == "demo":
        run_demo(demo, sys.argv[2:])
    else:
        sys.exit("usage: tests/readme.py test-command | demo [CMD...]")


if __name__ == "__main__":
    main()
