#!/usr/bin/env python3
"""Checks custom resources in rendered manifests against published CRD schemas.

Usage: check_crds.py CRD_DIR MANIFEST...

Every object whose apiVersion belongs to a group with CRDs in CRD_DIR is
checked against the matching version's openAPIV3Schema, with unknown fields
treated as errors the way `kubectl apply --validate=strict` treats them (the
schemas do not say `additionalProperties: false`, so the walk below checks
`properties` itself, except under `x-kubernetes-preserve-unknown-fields`).
An object of a custom group without a CRD here is an error (it would go
unchecked), and so is a namespaced object without a namespace (kubectl
would put it in whatever namespace its context names). Built-in kinds are
left to kubernetes-validate, but their namespace is checked here. Exits 1
on any error, or when no custom resource was checked at all.
"""

import glob
import os
import sys

import jsonschema
import yaml


# Built-in kinds that are not namespaced (the rest of the built-ins are).
CLUSTER_SCOPED_BUILTINS = {
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole",
    "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass",
    "RuntimeClass", "IngressClass", "CSIDriver", "CSINode", "VolumeAttachment",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "APIService", "FlowSchema", "PriorityLevelConfiguration",
    "CertificateSigningRequest",
}


def builtin(api_version):
    group = api_version.split("/")[0] if "/" in api_version else ""
    return "." not in group or group.endswith(".k8s.io")


def load_crds(directory):
    schemas = {}
    groups = set()
    scopes = {}
    for path in glob.glob(os.path.join(directory, "**", "*.yaml"), recursive=True):
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                groups.add(spec["group"])
                for version in spec["versions"]:
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = version["schema"]["openAPIV3Schema"]
                    scopes[key] = spec.get("scope", "Namespaced")
    return schemas, groups, scopes


def unknown_fields(value, schema, path):
    """Fields of `value` that `schema` does not list."""
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                yield from unknown_fields(item, properties[key], f"{path}.{key}")
            elif isinstance(additional, dict):
                yield from unknown_fields(item, additional, f"{path}.{key}")
            elif properties is not None or additional is False:
                yield f"{path}.{key}"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{path}[{index}]")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    schemas, groups, scopes = load_crds(argv[1])
    errors = 0
    checked = 0
    for manifest in argv[2:]:
        with open(manifest, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
            name = f"{manifest}: {kind} {doc.get('metadata', {}).get('name', '?')}"
            group = api_version.split("/")[0] if "/" in api_version else ""
            namespaced = (
                kind not in CLUSTER_SCOPED_BUILTINS
                if builtin(api_version)
                else scopes.get((api_version, kind), "Namespaced") == "Namespaced"
            )
            if namespaced and not doc.get("metadata", {}).get("namespace"):
                print(f"ERROR {name}: namespaced, but without a namespace")
                errors += 1
            if builtin(api_version):
                continue
            if group not in groups:
                print(f"ERROR {name}: no CRD schema for {group} in {argv[1]}: it would go unchecked")
                errors += 1
                continue
            schema = schemas.get((api_version, kind))
            if schema is None:
                print(f"ERROR {name}: no CRD for {api_version} {kind}")
                errors += 1
                continue
            body = doc
            problems = [
                f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                for e in jsonschema.Draft7Validator(schema).iter_errors(body)
            ]
            problems += [f"{field}: unknown field" for field in unknown_fields(body, schema, "")]
            checked += 1
            if problems:
                errors += len(problems)
                for problem in problems:
                    print(f"ERROR {name}: {problem}")
            else:
                print(f"ok    {name}")
    if checked == 0:
        print("ERROR no custom resource was checked")
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
