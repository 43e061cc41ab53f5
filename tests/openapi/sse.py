#!/usr/bin/env python3
"""Checks GET /api/v1/changes against docs/api/openapi.yaml.

schemathesis cannot test a stream that never ends, so this reads the first
server-sent events of a running aggregator (the `snapshot` event, then any
`changes` events that arrive within a few seconds) and validates each event's
data against the spec's ChangesMessage schema.

  tests/openapi/sse.py SPEC BASE_URL

Runs with the venv tests/openapi/run creates (PyYAML and jsonschema_rs come
with schemathesis). Exits non-zero, naming the event and the problem.
"""

import json
import os
import ssl
import sys
import time
import urllib.request

import jsonschema_rs
import yaml

READ_FOR_S = 5


def main():
    spec_path, base = sys.argv[1], sys.argv[2].rstrip("/")
    with open(spec_path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    # Validate against the whole spec so its `#/components/...` refs resolve.
    schema = {"$ref": "#/components/schemas/ChangesMessage", "components": spec["components"]}
    validator = jsonschema_rs.validator_for(schema)

    headers = {"Accept": "text/event-stream"}
    # Set by tests/openapi/run: the CA of an https:// aggregator, the token.
    if os.environ.get("OPENAPI_TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["OPENAPI_TOKEN"]
    ca = os.environ.get("OPENAPI_CA")
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    req = urllib.request.Request(base + "/api/v1/changes", headers=headers)
    events = []
    with urllib.request.urlopen(req, timeout=READ_FOR_S, context=ctx) as r:
        ctype = r.headers.get("content-type", "")
        if not ctype.startswith("text/event-stream"):
            sys.exit(f"sse.py: /api/v1/changes answered {ctype!r}, not text/event-stream")
        deadline = time.monotonic() + READ_FOR_S
        event, data = None, []
        while time.monotonic() < deadline:
            try:
                line = r.readline().decode("utf-8")
            except TimeoutError:
                # A quiet stream: nothing changed; what arrived is checked.
                break
            if not line:
                break
            line = line.rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif line == "" and data:
                events.append((event, "\n".join(data)))
                event, data = None, []
    if not events or events[0][0] != "snapshot":
        sys.exit(f"sse.py: the stream must open with a `snapshot` event, got {[e for e, _ in events[:3]]}")
    for i, (event, data) in enumerate(events):
        if event not in ("snapshot", "changes"):
            sys.exit(f"sse.py: event {i} is named {event!r}; the spec names `snapshot` and `changes`")
        errors = [str(e) for e in validator.iter_errors(json.loads(data))]
        if errors:
            sys.exit(f"sse.py: event {i} ({event}) does not match ChangesMessage: {errors[:5]}")
    print(f"sse.py: {len(events)} events of /api/v1/changes match ChangesMessage")


if __name__ == "__main__":
    main()
