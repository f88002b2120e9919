#!/usr/bin/env python3
"""Regenerate kybernetes/api/data/protofields.json.gz, the protobuf field
numbers of every Kubernetes message the API server decodes, from the
reviewed tables in ``tools/protofields/*.txt``.

Each table line is ``definition number json-name proto-type``:

- ``definition`` is the OpenAPI definition name of the message
  (``io.k8s.api.core.v1.PodSpec``; proto package ``k8s.io.api.core.v1`` with
  ``k8s.io.`` turned into ``io.k8s.``). Messages that exist only in protobuf
  (``io.k8s.api.core.v1.VolumeSource``, an embedded Go struct) keep that form.
- ``json-name`` is the field's JSON name; upstream's .proto names differ from it
  in a few places (``aPIGroup``, ``uID``, ``Webhooks``), the tables hold the
  JSON one. ``-`` marks a Go embedded struct (``json:",inline"``): its fields
  appear in the JSON object of the message that embeds it.
- ``proto-type`` is there for review only.

The facts are upstream's ``generated.proto`` files of Kubernetes 1.32
(k8s.io/api v0.32, k8s.io/apimachinery v0.32, kube-aggregator): read from the
file descriptors that kubectl 1.32.5 registers for them, and checked against
upstream's .proto text. tests/api/test_protobuf.py checks the tables against
our OpenAPI definitions.

Output: ``{"fields": {definition: {number: json-name}},
"inline": {definition: {number: embedded definition}}}``.
"""

from __future__ import annotations

import glob
import gzip
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
TABLES = os.path.join(HERE, "protofields")
OUT = os.path.join(HERE, "..", "kybernetes", "api", "data", "protofields.json.gz")


def read_tables() -> dict:
    fields: dict[str, dict[str, str]] = {}
    inline: dict[str, dict[str, str]] = {}
    for path in sorted(glob.glob(os.path.join(TABLES, "*.txt"))):
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split(" ", 3)
                if len(parts) != 4 or not parts[1].isdigit():
                    raise SystemExit(f"{path}:{lineno}: not 'definition number name type': {line!r}")
                definition, number, name, proto_type = parts
                table = fields.setdefault(definition, {})
                if number in table or number in inline.get(definition, {}):
                    raise SystemExit(f"{path}:{lineno}: {definition} field {number} twice")
                if name == "-":
                    inline.setdefault(definition, {})[number] = proto_type
                else:
                    table[number] = name
    return {"fields": fields, "inline": inline}


def main() -> None:
    data = read_tables()
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    with open(OUT, "wb") as f:
        # mtime=0: the same tables always give the same bytes.
        f.write(gzip.compress(raw, 9, mtime=0))
    print(f"{OUT}: {len(data['fields'])} messages")


if __name__ == "__main__":
    main()
