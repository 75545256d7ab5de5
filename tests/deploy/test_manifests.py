#!/usr/bin/env python3
"""Checks that the shipped deployment files agree with each other and with docs/contract.md.

Kubernetes: the manifests come from `kustomize build` (or `kubectl kustomize`)
when one is installed, else from the files that kustomization.yaml lists, with
its configMapGenerator and images applied by hand. Set PPDM_DEPLOY_NO_KUSTOMIZE=1
to force the second way. The container and systemd files are read as text.

Prints one line per check and closes with `deploy: N passed, M failed`; exits
1 when a check failed. Needs Python 3.11 (tomllib) and PyYAML.
"""

import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
CONTAINER = ROOT / "deploy" / "container"
SYSTEMD = ROOT / "deploy" / "systemd"

PORT = 9823
HEALTHY = "/-/healthy"
READY = "/-/ready"
NONROOT_UID = 65532
CONFIG_PATH = "/etc/ppdm-exporter/config.toml"


# ---------------------------------------------------------------- loading


def kustomize_command():
    """Returns the argv that builds a kustomization, or None if none is installed."""
    if os.environ.get("PPDM_DEPLOY_NO_KUSTOMIZE"):
        return None
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def load_manifests():
    """Returns (how, documents) for the Kubernetes base."""
    command = kustomize_command()
    if command:
        out = subprocess.run(
            [*command, str(KUBE)], check=True, capture_output=True, text=True
        ).stdout
        return " ".join(command), [d for d in yaml.safe_load_all(out) if d]
    return "kustomization.yaml read by hand", build_by_hand()


def build_by_hand():
    """Applies the subset of kustomize that kustomization.yaml uses."""
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "resources", "configMapGenerator", "images"}
    unknown = set(kustomization) - known
    if unknown:
        raise SystemExit(f"kustomization.yaml uses {sorted(unknown)}, which this test cannot apply")

    docs = []
    for name in kustomization.get("resources", []):
        docs.extend(d for d in yaml.safe_load_all((KUBE / name).read_text()) if d)
    for generator in kustomization.get("configMapGenerator", []):
        docs.append(generated_config_map(generator))
    for image in kustomization.get("images", []):
        retag(docs, image)
    return docs


def generated_config_map(generator):
    """Returns the ConfigMap a configMapGenerator entry makes, without the hash suffix."""
    data = {}
    for entry in generator.get("files", []):
        key, _, path = entry.rpartition("=")
        data[key or pathlib.Path(path).name] = (KUBE / path).read_text()
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": generator["name"]},
        "data": data,
    }


def retag(docs, image):
    """Applies one `images:` entry to every container that uses that image."""
    for doc in docs:
        for container in pod_spec(doc).get("containers", []):
            if container.get("image") == image["name"]:
                name = image.get("newName", image["name"])
                container["image"] = f"{name}:{image['newTag']}" if "newTag" in image else name


def pod_spec(doc):
    return doc.get("spec", {}).get("template", {}).get("spec", {}) if doc else {}


def only(docs, kind):
    found = [d for d in docs if d.get("kind") == kind]
    if len(found) != 1:
        raise AssertionError(f"expected exactly one {kind}, found {len(found)}")
    return found[0]


def load_generator():
    """Imports deploy/kubernetes/gen-prometheusrule.py as a module."""
    spec = importlib.util.spec_from_file_location("gen_prometheusrule", KUBE / "gen-prometheusrule.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- checks


class Checks:
    """Collects named checks; each is a function that raises AssertionError."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, function, *args):
        try:
            function(*args)
        except AssertionError as error:
            self.failed += 1
            print(f"FAIL {name}: {error}")
        except Exception as error:  # a crash in one check must not hide the others
            self.failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
        else:
            self.passed += 1
            print(f"ok   {name}")


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Kube:
    """The built manifests, with the few objects the checks look at."""

    def __init__(self, docs):
        self.docs = docs
        self.deployment = only(docs, "Deployment")
        self.service = only(docs, "Service")
        self.monitor = only(docs, "ServiceMonitor")
        self.rule = only(docs, "PrometheusRule")
        self.pod = pod_spec(self.deployment)
        containers = self.pod["containers"]
        expect(len(containers) == 1, f"expected one container, found {len(containers)}")
        self.container = containers[0]
        self.template_labels = self.deployment["spec"]["template"]["metadata"]["labels"]

    def named(self, kind):
        return {d["metadata"]["name"]: d for d in self.docs if d.get("kind") == kind}

    def container_port(self, port):
        """Returns the containerPort that a Service targetPort or probe port names."""
        for item in self.container.get("ports", []):
            if port in (item.get("name"), item.get("containerPort")):
                return item["containerPort"]
        raise AssertionError(f"port {port!r} is not a port of container {self.container['name']}")

    def mounts(self):
        """Returns {volume name: mountPath} of the container."""
        return {m["name"]: m["mountPath"] for m in self.container.get("volumeMounts", [])}

    def config(self):
        """Returns the exporter config parsed from the mounted ConfigMap."""
        volumes = {v["name"]: v for v in self.pod["volumes"]}
        for name, path in self.mounts().items():
            source = volumes[name].get("configMap")
            if source and CONFIG_PATH.startswith(path.rstrip("/") + "/"):
                key = CONFIG_PATH[len(path.rstrip("/")) + 1 :]
                data = self.named("ConfigMap")[source["name"]]["data"]
                return tomllib.loads(data[key])
        raise AssertionError(f"no ConfigMap is mounted so that it provides {CONFIG_PATH}")

    def secret_files(self):
        """Returns {path in the container: Secret} for every key of every mounted Secret."""
        volumes = {v["name"]: v for v in self.pod["volumes"]}
        secrets = self.named("Secret")
        files = {}
        for name, path in self.mounts().items():
            source = volumes[name].get("secret")
            if source:
                secret = secrets[source["secretName"]]
                keys = {**secret.get("data", {}), **secret.get("stringData", {})}
                files.update({f"{path.rstrip('/')}/{key}": secret for key in keys})
        return files


def check_kustomization_lists_every_manifest():
    listed = set(yaml.safe_load((KUBE / "kustomization.yaml").read_text()).get("resources", []))
    present = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    expect(present <= listed, f"not in kustomization.yaml resources: {sorted(present - listed)}")


def check_namespace_agnostic(kube):
    pinned = [d["metadata"]["name"] for d in kube.docs if "namespace" in d["metadata"]]
    expect(not pinned, f"these set metadata.namespace: {pinned}")


def check_deployment_selector_matches_template(kube):
    selector = kube.deployment["spec"]["selector"]["matchLabels"]
    expect(matches(selector, kube.template_labels), f"{selector} does not select {kube.template_labels}")


def check_service_selects_pods(kube):
    selector = kube.service["spec"]["selector"]
    expect(matches(selector, kube.template_labels), f"{selector} does not select {kube.template_labels}")


def check_service_port_is_metrics(kube):
    ports = {p.get("name"): p for p in kube.service["spec"]["ports"]}
    expect("metrics" in ports, f"no Service port named metrics in {list(ports)}")
    expect(ports["metrics"]["port"] == PORT, f"metrics port is {ports['metrics']['port']}, not {PORT}")


def check_service_target_port_is_a_container_port(kube):
    for port in kube.service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        number = kube.container_port(target)
        expect(number == PORT, f"targetPort {target!r} is container port {number}, not {PORT}")


def check_servicemonitor_selects_service(kube):
    selector = kube.monitor["spec"]["selector"]["matchLabels"]
    labels = kube.service["metadata"].get("labels", {})
    expect(matches(selector, labels), f"{selector} does not select Service labels {labels}")


def check_servicemonitor_endpoint(kube):
    names = {p.get("name") for p in kube.service["spec"]["ports"]}
    endpoints = kube.monitor["spec"]["endpoints"]
    expect(len(endpoints) == 1, f"expected one endpoint, found {len(endpoints)}")
    endpoint = endpoints[0]
    expect(endpoint.get("port") in names, f"endpoint port {endpoint.get('port')!r} not in {names}")
    expect(endpoint.get("path", "/metrics") == "/metrics", f"path is {endpoint.get('path')}")
    expect(endpoint.get("interval") == "60s", f"interval is {endpoint.get('interval')}")
    expect(endpoint.get("scrapeTimeout") == "10s", f"scrapeTimeout is {endpoint.get('scrapeTimeout')}")


def check_probes_use_contract_paths(kube):
    for probe, path in (("livenessProbe", HEALTHY), ("readinessProbe", READY)):
        get = kube.container.get(probe, {}).get("httpGet")
        expect(get, f"{probe} is not an httpGet probe")
        expect(get["path"] == path, f"{probe} path is {get['path']}, not {path}")
        expect(kube.container_port(get["port"]) == PORT, f"{probe} does not probe port {PORT}")


def check_mounted_volumes_are_defined(kube):
    config_maps, secrets = kube.named("ConfigMap"), kube.named("Secret")
    mounted = kube.mounts()
    for volume in kube.pod["volumes"]:
        expect(volume["name"] in mounted, f"volume {volume['name']} is never mounted")
        if "configMap" in volume:
            name = volume["configMap"]["name"]
            expect(name in config_maps, f"ConfigMap {name} is mounted but not defined")
        elif "secret" in volume:
            name = volume["secret"]["secretName"]
            expect(name in secrets, f"Secret {name} is mounted but not defined")
        else:
            raise AssertionError(f"volume {volume['name']} is neither a ConfigMap nor a Secret")
    expect(all(m.get("readOnly") for m in kube.container["volumeMounts"]), "a mount is writable")


def check_container_reads_mounted_config(kube):
    args = kube.container.get("args", [])
    expect(CONFIG_PATH in args, f"args {args} do not name {CONFIG_PATH}")
    config = kube.config()
    port = int(config.get("listen_address", f"0.0.0.0:{PORT}").rpartition(":")[2])
    expect(port == PORT, f"listen_address port {port} is not the container port {PORT}")


def check_passwords_come_from_the_secret(kube):
    files = kube.secret_files()
    servers = kube.config().get("servers", [])
    expect(servers, "the config lists no servers")
    for server in servers:
        expect("password" not in server, f"server {server.get('name')} has an inline password")
        path = server.get("password_file")
        expect(path in files, f"server {server.get('name')}: {path} is not a key of a mounted Secret")


def check_pod_is_hardened(kube):
    pod = kube.pod.get("securityContext", {})
    box = kube.container.get("securityContext", {})
    expect(pod.get("runAsNonRoot") is True, "runAsNonRoot is not true")
    expect(pod.get("runAsUser") == NONROOT_UID, f"runAsUser is not {NONROOT_UID} (the image's USER)")
    expect(pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp is not RuntimeDefault")
    expect(box.get("readOnlyRootFilesystem") is True, "root filesystem is writable")
    expect(box.get("allowPrivilegeEscalation") is False, "privilege escalation is allowed")
    expect(box.get("capabilities", {}).get("drop") == ["ALL"], "capabilities are not all dropped")
    expect(kube.pod.get("automountServiceAccountToken") is False, "a service account token is mounted")


def check_resources_are_set(kube):
    resources = kube.container.get("resources", {})
    expect(resources.get("requests", {}).get("memory"), "no memory request")
    expect(resources.get("limits", {}).get("memory"), "no memory limit")


def check_prometheusrule_is_generated(kube):
    generator = load_generator()
    files, groups = generator.load_groups(generator.RULES_DIR)
    expect(kube.rule["spec"].get("groups", []) == groups, "spec.groups differ from the rule files")
    committed = generator.OUTPUT.read_text()
    expect(committed == generator.render(groups), "prometheusrule.yaml is stale: run gen-prometheusrule.py")


def check_rules_name_the_scraped_job(kube):
    # The Prometheus Operator sets job to the value of the Service label that
    # jobLabel names, else to the Service's name.
    job_label = kube.monitor["spec"].get("jobLabel")
    labels = kube.service["metadata"].get("labels", {})
    job = labels.get(job_label) if job_label else kube.service["metadata"]["name"]
    exprs = [r["expr"] for g in kube.rule["spec"].get("groups", []) for r in g["rules"]]
    named = {m for e in exprs for m in re.findall(r'job\s*=~?\s*"([^"]*)"', str(e))}
    expect(named <= {job}, f"rules select job {sorted(named)}, the ServiceMonitor's job is {job}")


def check_dockerfile():
    text = (CONTAINER / "Dockerfile").read_text()
    expect("cargo build --release --locked --bin ppdm-exporter" in text, "no locked release build")
    expect(re.search(rf"^USER {NONROOT_UID}:{NONROOT_UID}$", text, re.M), "USER is not numeric non-root")
    expect(re.search(rf"^EXPOSE {PORT}$", text, re.M), f"port {PORT} is not exposed")
    healthcheck = text[text.index("HEALTHCHECK") :]
    expect(HEALTHY in healthcheck and f"/{PORT}" in healthcheck, "HEALTHCHECK does not ask /-/healthy")
    expect(not re.search(r"^(COPY|ADD) .*(config\.toml|password)", text, re.M), "config baked in")


def check_systemd_unit():
    unit = (SYSTEMD / "ppdm-exporter.service").read_text()
    sysusers = (SYSTEMD / "ppdm-exporter.sysusers.conf").read_text()
    user = re.search(r"^User=(\S+)$", unit, re.M).group(1)
    expect(re.search(rf"^u\s+{re.escape(user)}\s", sysusers, re.M), f"sysusers does not create {user}")
    expect("ExecReload=/bin/kill -HUP $MAINPID" in unit, "reload does not send SIGHUP")
    expect(f"PPDM_EXPORTER_CONFIG={CONFIG_PATH}" in unit, f"unit does not read {CONFIG_PATH}")
    expect("RestartPreventExitStatus=78" in unit, "a bad config would restart in a loop")


def check_systemd_config_reads_credentials():
    unit = (SYSTEMD / "ppdm-exporter.service").read_text()
    credential = re.search(r"^LoadCredential=([^:]+):", unit, re.M).group(1)
    prefix = f"/run/credentials/ppdm-exporter.service/{credential}_"
    config = tomllib.loads((SYSTEMD / "config.toml").read_text())
    for server in config["servers"]:
        expect("password" not in server, f"server {server['name']} has an inline password")
        expect(server["password_file"].startswith(prefix), f"{server['password_file']} is not under {prefix}")


def main():
    checks = Checks()
    checks.run("kustomization lists every manifest", check_kustomization_lists_every_manifest)
    try:
        how, docs = load_manifests()
        kube = Kube(docs)
    except (AssertionError, subprocess.CalledProcessError, OSError, yaml.YAMLError) as error:
        checks.run("manifests build", lambda: expect(False, str(error)))
        kube = None
    if kube:
        print(f"manifests built by {how}")
        for name, function in [
            ("manifests set no namespace", check_namespace_agnostic),
            ("Deployment selector matches its pod template", check_deployment_selector_matches_template),
            ("Service selector matches the pod template labels", check_service_selects_pods),
            ("Service has port metrics on 9823", check_service_port_is_metrics),
            ("Service targetPort is a container port", check_service_target_port_is_a_container_port),
            ("ServiceMonitor selects the Service", check_servicemonitor_selects_service),
            ("ServiceMonitor endpoint is the metrics port, 60s/10s", check_servicemonitor_endpoint),
            ("probes use /-/healthy and /-/ready", check_probes_use_contract_paths),
            ("mounted ConfigMap and Secret are defined", check_mounted_volumes_are_defined),
            ("container reads the mounted config", check_container_reads_mounted_config),
            ("passwords come from the mounted Secret", check_passwords_come_from_the_secret),
            ("pod and container are hardened", check_pod_is_hardened),
            ("memory request and limit are set", check_resources_are_set),
            ("PrometheusRule equals the generated one", check_prometheusrule_is_generated),
            ("rules select the job the ServiceMonitor makes", check_rules_name_the_scraped_job),
        ]:
            checks.run(name, function, kube)
    checks.run("Dockerfile builds locked, runs non-root, checks /-/healthy", check_dockerfile)
    checks.run("systemd unit, sysusers and reload agree", check_systemd_unit)
    checks.run("systemd config reads passwords from credentials", check_systemd_config_reads_credentials)

    print(f"deploy: {checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
