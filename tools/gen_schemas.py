#!/usr/bin/env python3
"""Regenerate kybernetes/api/data/definitions.json.gz, the OpenAPI schemas of
every Kubernetes 1.32 type, from upstream's published definitions.

Source: the ``v1.32.0-local/_definitions.json`` file that the PyPI package
``kubernetes-validate`` 1.32.0 ships (upstream's swagger definitions turned
into JSON schema). This script turns them back into OpenAPI v3 component
schemas as kube-apiserver serves them: single types instead of
``[T, "null"]``, ``$ref`` to ``#/components/schemas/...`` (wrapped in
``allOf`` when the property carries its own description, as upstream does),
IntOrString and Quantity as upstream's v3 spec writes them, and no enum on
``apiVersion``/``kind`` (the JSON-schema converter added those).

Run once by a developer when moving to a new Kubernetes version; the output
is committed, so neither the server nor CI needs the package.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import subprocess
import sys
import tempfile

VERSION = "1.32.0"
OUT = os.path.join(os.path.dirname(__file__), "..", "kybernetes", "api", "data",
                   "definitions.json.gz")
REF = "#/components/schemas/"

SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True,
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {
        "type": "string", "format": "quantity",
    },
}


def convert(schema, top: bool = False):
    if isinstance(schema, list):
        return [convert(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "$ref":
            out["$ref"] = REF + value.rsplit("/", 1)[1]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out["type"] = types[0] if len(types) == 1 else types
        elif key == "properties":
            props = {}
            for name, prop in value.items():
                prop = convert(prop)
                if name in ("apiVersion", "kind"):
                    prop.pop("enum", None)
                if "$ref" in prop and len(prop) > 1:
                    # kube-apiserver's v3 spec: a described reference is allOf + default.
                    ref = prop.pop("$ref")
                    prop = {"allOf": [{"$ref": ref}], **prop}
                props[name] = prop
            out["properties"] = props
        else:
            out[key] = convert(value)
    return out


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
             f"kubernetes-validate=={VERSION}"],
            check=True,
        )
        wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
        subprocess.run(["unzip", "-q", wheel, "-d", tmp], check=True)
        path = os.path.join(tmp, "kubernetes_validate", "kubernetes-json-schema",
                            f"v{VERSION}-local", "_definitions.json")
        with open(path) as f:
            defs = json.load(f)["$defs"]
    out = {}
    for name, schema in sorted(defs.items()):
        converted = convert(schema, top=True)
        if name in SPECIAL:
            converted = {"description": schema.get("description", ""), **SPECIAL[name]}
        out[name] = converted
    data = json.dumps(out, sort_keys=True, separators=(",", ":")).encode()
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(data)
    print(f"wrote {len(out)} definitions to {os.path.normpath(OUT)} ({len(data)} bytes raw)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
