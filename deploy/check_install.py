#!/usr/bin/env python3
"""Checks the install paths deploy/README.md documents against the renders.

Usage: check_install.py RENDER_DIR OVERLAY...

Schema checks cannot see these; each was a defect once:
- the dev quickstart builds and side-loads the image the dev overlay runs,
  and the overlay does not insist on pulling it (`imagePullPolicy: Always`);
- a Deployment that a HorizontalPodAutoscaler scales sets no `replicas`
  (each `kubectl apply -k` would reset the fleet to it);
- every Secret a pod needs is made by the render itself (a Certificate's
  secretName, a secretGenerator), or named in the README's install steps;
- a Certificate's DNS names cover every Service of the namespace it is in;
- a port that serves TLS does not say `appProtocol: kubernetes.io/h2c`;
- where the database is reached over TLS, DATABASE_URL verifies it
  (`sslmode=verify-full`) against a CA file mounted from a Secret of which
  only `ca.crt` is projected (never the CA's key);
- liveness and startup probes ask the `liveness` service, which does not
  follow the database; readiness asks the overall service "";
- the YAML blocks of the README that are custom resources (the restore
  example) validate against the CRDs, carry the namespace, restore into
  the database the server uses, and back up through the plugin.
"""

import base64
import os
import re
import subprocess
import sys

import yaml

README = "deploy/README.md"
errors = []


def error(message):
    errors.append(message)
    print(f"ERROR {message}")


def docs_of(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_specs(docs):
    for doc in docs:
        template = doc.get("spec", {}).get("template", {})
        if doc["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet") and template:
            yield doc, template["spec"]


def resolved_env(container, docs):
    """The container's env values, with values from Secrets the render
    makes filled in and $(VAR) references expanded as the kubelet does."""
    secrets = {
        d["metadata"]["name"]: {
            k: base64.b64decode(v).decode() for k, v in d.get("data", {}).items()
        }
        for d in docs
        if d["kind"] == "Secret"
    }
    env = {}
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        value = entry.get("value", "")
        if ref:
            value = secrets.get(ref["name"], {}).get(ref["key"], f"<secret {ref['name']}>")
        env[entry["name"]] = re.sub(
            r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value
        )
    return env


def check_render(name, docs, readme):
    made_secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    made_secrets |= {d["spec"]["secretName"] for d in docs if d["kind"] == "Certificate"}
    scaled = {
        d["spec"]["scaleTargetRef"]["name"]
        for d in docs
        if d["kind"] == "HorizontalPodAutoscaler"
    }
    for doc, pod in pod_specs(docs):
        who = f"{name}: {doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in scaled:
            if "replicas" in doc["spec"]:
                error(f"{who}: sets replicas although a HorizontalPodAutoscaler scales it")
        needed = set()
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                needed.add((volume["secret"]["secretName"], volume["secret"].get("optional", False)))
        for container in pod["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    needed.add((ref["name"], ref.get("optional", False)))
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    needed.add((source["secretRef"]["name"], source["secretRef"].get("optional", False)))
        for secret, optional in sorted(needed):
            if secret not in made_secrets and secret not in readme:
                error(f"{who}: needs Secret {secret}, which neither the render makes nor the README's install steps name")
        if doc["kind"] != "Deployment" or doc["metadata"]["name"] != "frontierwatch":
            continue
        server = next(c for c in pod["containers"] if c["name"] == "server")
        env = resolved_env(server, docs)
        for probe, service in (("livenessProbe", "liveness"), ("startupProbe", "liveness"), ("readinessProbe", "")):
            asked = server.get(probe, {}).get("grpc", {}).get("service")
            if asked != service:
                error(f"{who}: {probe} asks service {asked!r}, not {service!r}")
        tls = "FRONTIERWATCH_TLS_CERT_FILE" in env
        for svc in (d for d in docs if d["kind"] == "Service"):
            for port in svc["spec"]["ports"]:
                if tls and port.get("appProtocol") == "kubernetes.io/h2c":
                    error(f"{name}: Service {svc['metadata']['name']} port {port['name']} says h2c, but the server serves TLS")
        url = env.get("DATABASE_URL", "")
        if "sslmode=disable" not in url:
            if "sslmode=verify-full" not in url:
                error(f"{who}: DATABASE_URL does not verify the database ({url})")
            root = re.search(r"sslrootcert=([^&]+)", url)
            if not root:
                error(f"{who}: DATABASE_URL names no sslrootcert")
            else:
                path = root.group(1)
                mount = next(
                    (m for m in server.get("volumeMounts", []) if path.startswith(m["mountPath"] + "/")),
                    None,
                )
                volume = mount and next(v for v in pod["volumes"] if v["name"] == mount["name"])
                items = (volume or {}).get("secret", {}).get("items")
                if not items or {i["key"] for i in items} != {"ca.crt"}:
                    error(f"{who}: the database CA must be mounted as the only key ca.crt of its Secret, got {volume}")
        for cert in (d for d in docs if d["kind"] == "Certificate"):
            names = set(cert["spec"].get("dnsNames", []))
            namespace = cert["metadata"].get("namespace")
            if namespace != doc["metadata"].get("namespace"):
                error(f"{name}: Certificate in namespace {namespace}, the pods in {doc['metadata'].get('namespace')}")
            for svc in (d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].startswith("frontierwatch") and d["spec"]["selector"].get("app.kubernetes.io/name") == "frontierwatch"):
                s = svc["metadata"]["name"]
                for dns in (s, f"{s}.{namespace}", f"{s}.{namespace}.svc", f"{s}.{namespace}.svc.cluster.local"):
                    if dns not in names:
                        error(f"{name}: the Certificate does not cover {dns}")


def check_dev_quickstart(docs, readme):
    section = readme.split("## Install: dev", 1)[1].split("\n## ", 1)[0]
    built = re.search(r"docker build -t (\S+) \.", section)
    loaded = re.search(r"kind load docker-image (\S+)", section)
    if not built or not loaded:
        error("the README's dev quickstart does not build and load an image")
        return
    deployment = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "frontierwatch")
    server = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "server")
    if not (built.group(1) == loaded.group(1) == server["image"]):
        error(f"dev: the quickstart builds {built.group(1)} and loads {loaded.group(1)}, the overlay runs {server['image']}")
    if server.get("imagePullPolicy", "Always") == "Always" or server["image"].endswith(":latest"):
        error("dev: a side-loaded image with imagePullPolicy Always ends in ImagePullBackOff")


def check_readme_resources(out, crds):
    blocks = re.findall(r"```yaml\n(.*?)```", open(README, encoding="utf-8").read(), re.S)
    found = []
    for block in blocks:
        for doc in yaml.safe_load_all(block):
            if doc and "." in doc.get("apiVersion", "").split("/")[0]:
                found.append(doc)
    path = os.path.join(out, "readme-resources.yaml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump_all(found, f)
    if subprocess.run([sys.executable, "deploy/check_crds.py", crds, path]).returncode != 0:
        error("the README's custom resources do not validate")
    clusters = [d for d in found if d["kind"] == "Cluster"]
    if not clusters:
        error("the README shows no restore Cluster")
    for cluster in clusters:
        spec = cluster["spec"]
        recovery = spec.get("bootstrap", {}).get("recovery", {})
        if recovery.get("database") != "frontierwatch" or recovery.get("owner") != "frontierwatch":
            error("the README's restore does not restore into the database frontierwatch owned by frontierwatch")
        if spec.get("inheritedMetadata", {}).get("labels", {}).get("frontierwatch.io/database") != "true":
            error("the README's restored cluster lacks the label the server's network policy admits")
        if not any(p.get("isWALArchiver") for p in spec.get("plugins", [])):
            error("the README's restored cluster is not backed up (no WAL archiver plugin)")
        sources = {e["name"]: e for e in spec.get("externalClusters", [])}
        if "plugin" not in sources.get(recovery.get("source"), {}):
            error("the README's restore does not read the backups through the plugin")


def main(argv):
    out, names = argv[1], argv[2:]
    readme = open(README, encoding="utf-8").read()
    install = readme.split("## Install: production", 1)[1].split("\n## What each", 1)[0]
    for name in names:
        docs = docs_of(os.path.join(out, f"{name}.yaml"))
        check_render(name, docs, install if name.startswith("production") else "")
        if name == "dev":
            check_dev_quickstart(docs, readme)
    check_readme_resources(out, os.environ.get("CRDS", "../shared/crds"))
    if errors:
        return 1
    print(f"install paths of {', '.join(names)} and the README's resources hold")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
