#!/usr/bin/env python3
"""End-to-end test of the shipped Prometheus files: ppdm-sim -> ppdm-exporter -> Prometheus.

Starts the simulator with a generated fleet, the exporter polling it, and a real
Prometheus (Debian's package) loading the shipped scrape config and rules, all on
loopback ports, then checks through Prometheus' HTTP API that:

- the exporter target is up and every metric name of docs/contract.md is scraped;
- every rule evaluates without error, every dashboard query, template variable and
  rule expression returns data (alert thresholds turned into `bool` comparisons);
- alerts fire when the simulator is driven into the matching state, resolve when it
  is driven back, and stay quiet for everything else.

To keep the run near two minutes, Prometheus loads rewritten copies of the rule
files: every `for:` becomes FOR_OVERRIDE and the PPDMPollsStale threshold becomes
STALE_THRESHOLD seconds. The simulator's fleet is first calmed (every stored tier
at 0 % used, which also stops its usage drift, and every discovery at "now") so
that the baseline is known; each state is then driven on chosen systems.

Builds nothing: pass the release binaries. Stdlib only. Exit status 0 when every
check passed.

    python3 tests/e2e/prometheus_e2e.py \\
        --sim target/release/ppdm-sim --exporter target/release/ppdm-exporter
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "deploy" / "prometheus"
RULE_FILES = ("ppdm-exporter-recording.yml", "ppdm-exporter-alerts.yml")
DASHBOARD = ROOT / "dashboards" / "ppdm-exporter.json"
CONTRACT = ROOT / "docs" / "contract.md"

SERVER = "sim"
USERNAME = "admin"
PASSWORD_ENV = "PPDM_E2E_PASSWORD"
FLEET = 12
FOR_OVERRIDE = "2s"
STALE_THRESHOLD = 10

# The whole run is abandoned after this many seconds; every wait also stops here.
HARD_LIMIT = 280
WAIT = 40

# Values given to dashboard variables when its queries are run.
DASHBOARD_VARIABLES = {
    "server": ".*",
    "system": ".*",
    "tier": ".*",
    "__rate_interval": "15s",
    "__interval": "5s",
    "__range": "10m",
}

SERVER_ALERTS = (
    "PPDMExporterDown",
    "PPDMServerUnreachable",
    "PPDMPollsStale",
    "PPDMAuthenticationFailing",
)

DEADLINE = time.monotonic() + HARD_LIMIT


class Checks:
    """Collects named pass/fail results and prints each as it comes."""

    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"  PASS {name}", flush=True)
        else:
            self.failed.append(name)
            print(f"  FAIL {name}{': ' + detail if detail else ''}", flush=True)
        return ok

    def summary(self):
        line = f"e2e: {self.passed} passed, {len(self.failed)} failed"
        if self.failed:
            line += " (" + "; ".join(self.failed) + ")"
        return line


def section(title):
    print(f"\n-- {title}", flush=True)


def remaining():
    return DEADLINE - time.monotonic()


def wait_until(fn, timeout=WAIT, step=0.5):
    """Calls fn until it returns something truthy or time runs out; returns the last value."""
    end = min(time.monotonic() + timeout, DEADLINE)
    value = None
    while True:
        try:
            value = fn()
        except (OSError, ValueError, KeyError):
            value = None
        if value or time.monotonic() >= end:
            return value
        time.sleep(step)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes


class Process:
    """A child process with its output in a log file, stopped at the end."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        print(f"  starting {name}: {' '.join(str(a) for a in argv)}", flush=True)
        self.popen = subprocess.Popen(
            [str(a) for a in argv], stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, cwd=workdir, start_new_session=True)

    def running(self):
        return self.popen.poll() is None

    def stop(self, timeout=10):
        """Sends SIGTERM, then SIGKILL after timeout; returns the exit status."""
        if self.running():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.log.close()
        return self.popen.returncode

    def kill(self):
        if self.running():
            self.popen.kill()
            self.popen.wait(5)

    def tail(self, lines=25):
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"    {self.name}| {line}" for line in text[-lines:])


# ---------------------------------------------------------------- HTTP


def http(method, url, body=None, context=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:
        raw = answer.read()
        return answer.status, raw


class Sim:
    """The simulator's unauthenticated /sim control API."""

    def __init__(self, base, ca_file):
        self.base = base
        self.ca_file = ca_file
        self._context = None

    @property
    def context(self):
        """TLS context trusting the simulator's CA, once it has written the file."""
        if self._context is None:
            self._context = ssl.create_default_context(cafile=str(self.ca_file))
        return self._context

    def get(self, path):
        _, raw = http("GET", self.base + path, context=self.context)
        return json.loads(raw)

    def post(self, path, body=None):
        status, _ = http("POST", self.base + path, body if body is not None else {},
                         context=self.context)
        return status

    def systems(self):
        return self.get("/sim/systems")

    def patch(self, system_id, patch):
        return self.post(f"/sim/systems/{system_id}", patch)

    def used_ratio(self, index, tier, ratio):
        return self.post(f"/sim/fleet/{index}/used-ratio", {"tier": tier, "ratio": ratio})


class Prometheus:
    """Prometheus' HTTP API."""

    def __init__(self, base):
        self.base = base

    def get(self, path, **params):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        _, raw = http("GET", url)
        answer = json.loads(raw)
        if answer.get("status") != "success":
            raise ValueError(f"{path}: {answer}")
        return answer["data"]

    def query(self, expr):
        """Instant query; returns the result list (a scalar becomes one element)."""
        data = self.get("/api/v1/query", query=expr)
        result = data["result"]
        if data["resultType"] in ("scalar", "string"):
            return [result]
        return result

    def query_error(self, expr):
        """Runs the query and returns (result, error text or None)."""
        try:
            return self.query(expr), None
        except urllib.error.HTTPError as error:
            return [], error.read().decode(errors="replace")[:300]
        except (OSError, ValueError) as error:
            return [], str(error)

    def alerts(self):
        """Active alerts: a list of (name, labels, state)."""
        return [(a["labels"]["alertname"], a["labels"], a["state"])
                for a in self.get("/api/v1/alerts")["alerts"]]

    def ready(self):
        try:
            status, _ = http("GET", self.base + "/-/ready")
            return status == 200
        except OSError:
            return False


def matching(alerts, name=None, alert_state="firing", **labels):
    """Alerts named `name` in `alert_state` (None: any) whose labels include `labels`."""
    return [a for a in alerts
            if (name is None or a[0] == name)
            and (alert_state is None or a[2] == alert_state)
            and all(a[1].get(k) == v for k, v in labels.items())]


def show(alerts):
    return ", ".join(
        f"{name}{{{','.join(f'{k}={v}' for k, v in sorted(labels.items()) if k not in ('alertname', 'severity'))}}}[{state}]"
        for name, labels, state in alerts) or "none"


# ---------------------------------------------------------------- files


def rewrite_rules(dest):
    """Copies the shipped rule files with shorter `for:` and stale threshold."""
    rules = dest / "rules"
    rules.mkdir()
    counts = {}
    for name in RULE_FILES:
        text = (PROM_DIR / "rules" / name).read_text()
        text, n_for = re.subn(r"(?m)^(\s+)for:\s*\S+\s*$", rf"\1for: {FOR_OVERRIDE}", text)
        text, n_stale = re.subn(
            r"(time\(\) - ppdm_last_poll_success_timestamp_seconds) > 900\b",
            rf"\1 > {STALE_THRESHOLD}", text)
        counts[name] = (n_for, n_stale)
        (rules / name).write_text(text)
    return counts


def write_prometheus_config(dest, exporter_addr):
    """Derives the test configuration from the shipped prometheus.yml."""
    text = (PROM_DIR / "prometheus.yml").read_text()
    replacements = [
        (r"scrape_interval: 60s", "scrape_interval: 1s"),
        (r"scrape_timeout: 10s", "scrape_timeout: 1s"),
        (r"evaluation_interval: 60s", "evaluation_interval: 1s"),
        (r'"localhost:9823"', f'"{exporter_addr}"'),
    ]
    missing = []
    for pattern, new in replacements:
        text, n = re.subn(pattern, new, text)
        if n == 0:
            missing.append(pattern)
    (dest / "prometheus.yml").write_text(text)
    return missing


def write_exporter_config(dest, listen, sim_url, ca_file):
    path = dest / "exporter.toml"
    path.write_text(f"""\
listen_address = "{listen}"
log_level = "info"

[[servers]]
name = "{SERVER}"
url = "{sim_url}"
username = "{USERNAME}"
password_env = "{PASSWORD_ENV}"
ca_file = "{ca_file}"
interval = "2s"
timeout = "1s"
""")
    return path


def contract_metrics():
    """Metric names in the tables of docs/contract.md."""
    names = re.findall(r"^\| `(ppdm_[a-z_]+)`", CONTRACT.read_text(), re.M)
    text = CONTRACT.read_text()
    if "`ppdm_exporter_build_info" in text:
        names.append("ppdm_exporter_build_info")
    return sorted(set(names))


def dashboard_queries():
    """(panel title, refId, expr) of every panel target, and every variable query."""
    board = json.loads(DASHBOARD.read_text())
    panels = []

    def walk(items):
        for p in items:
            panels.append(p)
            walk(p.get("panels", []))

    walk(board["panels"])
    targets = [(p["title"], t["refId"], t["expr"])
               for p in panels for t in p.get("targets", []) if t.get("expr")]
    variables = []
    for v in board["templating"]["list"]:
        if v["type"] == "query":
            query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            variables.append((v["name"], query))
    return targets, variables


def substitute(expr):
    def value(match):
        name = match.group(1) or match.group(2)
        if name not in DASHBOARD_VARIABLES:
            raise KeyError(f"no test value for dashboard variable ${name}")
        return DASHBOARD_VARIABLES[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


# ---------------------------------------------------------------- PromQL helpers


def outside_strings(expr):
    """A mask of the characters of expr that are not inside a quoted string."""
    mask, quote, i = [True] * len(expr), None, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            mask[i] = False
            if c == "\\":
                mask[i + 1] = False
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote, mask[i] = c, False
        i += 1
    return mask


def without_thresholds(expr):
    """Turns filtering comparisons into `bool` ones and `unless` into `or`.

    The result returns a sample wherever the inputs exist, so "returns data" means
    "the metrics the alert needs are there" rather than "the alert condition holds".
    """
    mask = outside_strings(expr)
    out, i, depth = [], 0, 0
    while i < len(expr):
        c = expr[i]
        if mask[i] and c in "{[":
            depth += 1
        elif mask[i] and c in "}]":
            depth -= 1
        if mask[i] and depth == 0:
            op = re.match(r"==|!=|>=|<=|>|<", expr[i:])
            if op:
                out.append(op.group(0))
                i += len(op.group(0))
                if not re.match(r"\s*bool\b", expr[i:]):
                    out.append(" bool")
                continue
            word = re.match(r"unless\b", expr[i:])
            if word and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] in "_:")):
                out.append("or")
                i += len("unless")
                continue
        out.append(c)
        i += 1
    return "".join(out)


def selectors(expr):
    """The vector selectors of the exporter's and Prometheus' metrics in expr."""
    mask = outside_strings(expr)
    found = []
    pattern = re.compile(r"(?<![\w:])(ppdm[\w:]*|up)(\{[^}]*\})?(?![\w:(])")
    for m in pattern.finditer(expr):
        if mask[m.start()]:
            found.append(m.group(0))
    return sorted(set(found))


# ---------------------------------------------------------------- the test


class Run:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.checks = Checks()
        self.processes = {}
        self.password = "e2e-" + os.urandom(6).hex()
        self.env = dict(os.environ, PPDM_SIM_PASSWORD=self.password,
                        **{PASSWORD_ENV: self.password})
        self.env.pop("RUST_LOG", None)

    # -- startup

    def start(self):
        section("start simulator, exporter and Prometheus")
        sim_port, exp_port, prom_port = free_port(), free_port(), free_port()
        ca_file = self.workdir / "ca.pem"
        self.processes["ppdm-sim"] = Process(
            "ppdm-sim", [self.args.sim, "--listen", f"127.0.0.1:{sim_port}",
                         "--fleet", FLEET, "--ca-file", ca_file], self.workdir, self.env)
        self.sim = Sim(f"https://127.0.0.1:{sim_port}", ca_file)
        sim_up = wait_until(lambda: ca_file.exists() and self.sim.get("/sim/counters"), 20)
        if not self.checks.check("simulator answers /sim/counters", bool(sim_up),
                                 self.processes["ppdm-sim"].tail()):
            return False

        self.calm_fleet()

        config = write_exporter_config(self.workdir, f"127.0.0.1:{exp_port}",
                                       f"https://127.0.0.1:{sim_port}", ca_file)
        self.exporter_url = f"http://127.0.0.1:{exp_port}"
        self.processes["ppdm-exporter"] = Process(
            "ppdm-exporter", [self.args.exporter, "--config", config], self.workdir, self.env)
        ready = wait_until(lambda: http("GET", self.exporter_url + "/-/ready")[0] == 200, 30)
        if not self.checks.check("exporter /-/ready answers 200", bool(ready),
                                 self.processes["ppdm-exporter"].tail()):
            return False

        counts = rewrite_rules(self.workdir)
        n_for = sum(c[0] for c in counts.values())
        n_stale = sum(c[1] for c in counts.values())
        self.checks.check("test copy of the rules: every for: shortened, stale threshold lowered",
                          n_for >= 13 and n_stale == 1, f"for: {n_for}, stale: {n_stale}")
        missing = write_prometheus_config(self.workdir, f"127.0.0.1:{exp_port}")
        self.checks.check("test config derived from the shipped prometheus.yml", not missing,
                          f"patterns not found: {missing}")

        storage = self.workdir / "tsdb"
        self.processes["prometheus"] = Process(
            "prometheus", [self.args.prometheus,
                           f"--config.file={self.workdir / 'prometheus.yml'}",
                           f"--storage.tsdb.path={storage}",
                           f"--web.listen-address=127.0.0.1:{prom_port}",
                           "--storage.tsdb.retention.time=1h", "--log.level=warn"],
            self.workdir, self.env)
        self.prom = Prometheus(f"http://127.0.0.1:{prom_port}")
        return self.checks.check("Prometheus is ready", bool(wait_until(self.prom.ready, 30)),
                                 self.processes["prometheus"].tail())

    def calm_fleet(self):
        """Every stored tier at 0 % (no drift), every discovery now, everything READY."""
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        self.systems = self.sim.systems()
        for index, system in enumerate(self.systems):
            for tier in tiers_of(system):
                if tier in ("ACTIVE", "CLOUD"):
                    self.sim.used_ratio(index, tier, 0.0)
            if "lastDiscoveryAt" in system:
                self.sim.patch(system["id"], {"lastDiscoveryAt": now, "readiness": "READY"})
        self.systems = self.sim.systems()

    # -- phases

    def baseline(self):
        section("baseline: target up, metrics present, nothing alerting")
        up = wait_until(lambda: self.prom.query('up{job="ppdm-exporter"} == 1'), 20)
        self.checks.check("exporter target is up", bool(up), str(self.targets()))
        polled = wait_until(lambda: self.prom.query(f'ppdm_up{{server="{SERVER}"}} == 1'), 20)
        self.checks.check("ppdm_up is 1 for the simulator", bool(polled))
        count = self.prom.query(f'ppdm_storage_systems{{server="{SERVER}"}}')
        self.checks.check(f"ppdm_storage_systems is {FLEET}",
                          bool(count) and float(count[0]["value"][1]) == FLEET, str(count))
        # Let several evaluations pass so that a wrongly firing alert shows.
        time.sleep(5)
        self.check_contract_metrics(exclude={"ppdm_storage_systems_skipped_total"})
        active = self.prom.alerts()
        self.checks.check("no alert pending or firing at baseline", not active, show(active))

    def targets(self):
        try:
            return [(t["scrapeUrl"], t["health"], t["lastError"])
                    for t in self.prom.get("/api/v1/targets")["activeTargets"]]
        except (OSError, ValueError) as error:
            return str(error)

    def check_contract_metrics(self, exclude=()):
        names = set(self.prom.get("/api/v1/label/__name__/values"))
        wanted = [m for m in contract_metrics() if m not in exclude]
        missing = [m for m in wanted if m not in names]
        self.checks.check(f"{len(wanted)} contract metric names are scraped", not missing,
                          f"missing: {missing}")
        process = [n for n in names if n.startswith("process_")]
        self.checks.check("process_* metrics are scraped", bool(process))

    def drive(self):
        section("drive storage states")
        dd = [i for i, s in enumerate(self.systems) if "ACTIVE" in tiers_of(s)]
        cloud = [i for i in dd if "CLOUD" in tiers_of(self.systems[i])]
        if len(dd) < 7 or not cloud:
            self.checks.check("fleet has enough Data Domain systems", False, f"{dd}, {cloud}")
            return None
        licence = cloud[-1]
        rest = [i for i in dd if i != licence]
        roles = dict(zip(("hot", "fair", "not_ready", "stale", "malformed"), rest))
        roles["licence"] = licence
        roles_calm = rest[5:]
        ids = {role: self.systems[i]["id"] for role, i in roles.items()}
        calm_ids = [self.systems[i]["id"] for i in roles_calm]
        print(f"  roles (fleet index): {roles}, calm: {roles_calm}")

        self.sim.used_ratio(roles["hot"], "ACTIVE", 0.97)
        self.sim.used_ratio(roles["fair"], "ACTIVE", 0.87)
        self.sim.patch(ids["not_ready"], {"readiness": "NOT_READY"})
        self.sim.patch(ids["stale"], {"lastDiscoveryAt": "2020-01-01T00:00:00.000Z"})
        self.sim.patch(ids["malformed"], {"readiness": 12})
        self.sim.used_ratio(licence, "CLOUD", 0.5)
        system = self.sim.systems()[licence]
        capacities = system["details"]["dataDomain"]["capacities"]
        for tier in capacities:
            if tier.get("type") == "CLOUD":
                tier["totalLicensedSize"] = float(round(tier["totalPhysicalUsed"] / 2))
        self.sim.patch(ids["licence"], {"details": {"dataDomain": {"capacities": capacities}}})

        expected = [
            ("PPDMTierUsageCritical", {"system_id": ids["hot"], "tier": "active"}),
            ("PPDMTierUsageHigh", {"system_id": ids["hot"], "tier": "active"}),
            ("PPDMTierUsageHigh", {"system_id": ids["fair"], "tier": "active"}),
            ("PPDMCapacityStatusPoor", {"system_id": ids["hot"], "tier": "active",
                                        "state": "POOR"}),
            ("PPDMCapacityStatusFair", {"system_id": ids["fair"], "tier": "active",
                                        "state": "FAIR"}),
            ("PPDMTierFillPredicted", {"system_id": ids["hot"], "tier": "active"}),
            ("PPDMTierFillPredicted", {"system_id": ids["fair"], "tier": "active"}),
            ("PPDMTierFillPredicted", {"system_id": ids["licence"], "tier": "cloud"}),
            ("PPDMStorageSystemNotReady", {"system_id": ids["not_ready"], "state": "NOT_READY"}),
            ("PPDMStorageDiscoveryStale", {"system_id": ids["stale"]}),
            ("PPDMLicensedCapacityExceeded", {"system_id": ids["licence"], "tier": "cloud"}),
            ("PPDMStorageSystemsSkipped", {"server": SERVER}),
        ]

        def all_firing():
            alerts = self.prom.alerts()
            return all(matching(alerts, name, **labels) for name, labels in expected) and alerts

        alerts = wait_until(all_firing) or self.prom.alerts()
        for name, labels in expected:
            what = ", ".join(f"{k}={v}" for k, v in labels.items() if k != "system_id")
            role = next((r for r, i in ids.items() if i == labels.get("system_id")), SERVER)
            self.checks.check(f"{name} fires ({role} system{', ' + what if what else ''})",
                              bool(matching(alerts, name, **labels)), show(alerts))

        def is_expected(alert):
            return any(alert[0] == name and all(alert[1].get(k) == v for k, v in labels.items())
                       for name, labels in expected)

        unexpected = [a for a in alerts if not is_expected(a)]
        self.checks.check("no other alert is pending or firing (calm systems, combined tier, "
                          "fair system not critical/POOR, server health)", not unexpected,
                          show(unexpected))
        self.checks.check("calm systems have no alert",
                          not [a for a in alerts if a[1].get("system_id") in calm_ids],
                          show(alerts))
        return ids

    def check_queries(self):
        section("every dashboard query, variable and rule returns data")
        self.check_contract_metrics()
        targets, variables = dashboard_queries()
        empty = []
        for title, ref, expr in targets:
            result, error = self.prom.query_error(substitute(expr))
            if not result:
                empty.append(f"{title}/{ref}: {error or 'no data'}")
        self.checks.check(f"all {len(targets)} dashboard panel queries return data", not empty,
                          "; ".join(empty))

        empty = []
        for name, query in variables:
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", substitute(query))
            if not m:
                empty.append(f"{name}: not a label_values() query")
                continue
            series = self.prom.get("/api/v1/series", **{"match[]": m.group(1)})
            if not any(m.group(2) in s for s in series):
                empty.append(f"{name}: no series with label {m.group(2)}")
        self.checks.check(f"all {len(variables)} dashboard variables have values", not empty,
                          "; ".join(empty))

        rules = [r for g in self.prom.get("/api/v1/rules")["groups"] for r in g["rules"]]
        bad = [f"{r['name']}: {r.get('lastError')}" for r in rules if r.get("health") != "ok"]
        self.checks.check(f"all {len(rules)} rules evaluate without error", not bad,
                          "; ".join(bad))
        slow = [r["name"] for r in rules if r["type"] == "alerting" and r["duration"] > 2]
        self.checks.check("Prometheus loaded the shortened for: durations", not slow, str(slow))

        empty = []
        for r in rules:
            expr = r["query"] if r["type"] == "recording" else without_thresholds(r["query"])
            result, error = self.prom.query_error(expr)
            if not result:
                empty.append(f"{r['name']}: {error or 'no data'} [{expr}]")
            for selector in selectors(r["query"]):
                result, error = self.prom.query_error(selector)
                if not result:
                    empty.append(f"{r['name']}: {selector} {error or 'has no data'}")
        self.checks.check(f"all {len(rules)} rule expressions (and their selectors) return "
                          "data", not empty, "; ".join(empty))

    def restore(self, ids):
        section("drive back: alerts resolve")
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        self.sim.patch(ids["not_ready"], {"readiness": "READY"})
        self.sim.patch(ids["stale"], {"lastDiscoveryAt": now})
        self.sim.patch(ids["malformed"], {"readiness": "READY"})
        for name, system_id in (("PPDMStorageSystemNotReady", ids["not_ready"]),
                                ("PPDMStorageDiscoveryStale", ids["stale"])):
            gone = wait_until(lambda: not matching(self.prom.alerts(), name, None,
                                                   system_id=system_id), 20)
            self.checks.check(f"{name} resolves when the system is back", bool(gone))
        back = wait_until(lambda: self.prom.query(
            f'ppdm_storage_system_info{{system_id="{ids["malformed"]}"}}'), 20)
        self.checks.check("the skipped system is exported again once it is valid", bool(back))

    def auth(self):
        section("authentication failing")
        failures_before = self.value(
            f'ppdm_poll_failures_total{{server="{SERVER}", reason="auth"}}')
        self.sim.post("/sim/password", {"password": "rotated-" + os.urandom(4).hex()})
        self.sim.post("/sim/revoke")
        alerts = wait_until(lambda: matching(self.prom.alerts(), "PPDMAuthenticationFailing",
                                             server=SERVER))
        self.checks.check("PPDMAuthenticationFailing fires after a password change",
                          bool(alerts), show(self.prom.alerts()))
        failures = self.value(f'ppdm_poll_failures_total{{server="{SERVER}", reason="auth"}}')
        self.checks.check("ppdm_poll_failures_total{reason=\"auth\"} counts the failed polls",
                          failures is not None and failures_before is not None
                          and failures > failures_before, f"{failures_before} -> {failures}")
        login_failures = self.value(f'ppdm_auth_requests_total{{server="{SERVER}", '
                                    'kind="login", result="failure"}')
        self.checks.check("ppdm_auth_requests_total counts the refused logins",
                          bool(login_failures), str(login_failures))

        self.sim.post("/sim/password", {"password": self.password})
        up = wait_until(lambda: self.prom.query(f'ppdm_up{{server="{SERVER}"}} == 1'), 45)
        self.checks.check("polls succeed again with the right password", bool(up))
        gone = wait_until(lambda: not matching(self.prom.alerts(), "PPDMAuthenticationFailing",
                                               None, server=SERVER), 20)
        self.checks.check("PPDMAuthenticationFailing resolves", bool(gone))

    def ppdm_down(self):
        section("PPDM unreachable: the simulator is killed")
        self.processes["ppdm-sim"].kill()
        for name in ("PPDMServerUnreachable", "PPDMPollsStale"):
            alerts = wait_until(lambda: matching(self.prom.alerts(), name, server=SERVER))
            self.checks.check(f"{name} fires", bool(alerts), show(self.prom.alerts()))
        alerts = self.prom.alerts()
        self.checks.check("PPDMAuthenticationFailing stays quiet on connection failures",
                          not matching(alerts, "PPDMAuthenticationFailing"), show(alerts))
        connect = self.value(f'ppdm_poll_failures_total{{server="{SERVER}", reason="connect"}}')
        self.checks.check("ppdm_poll_failures_total{reason=\"connect\"} counts the failures",
                          bool(connect), str(connect))

    def exporter_down(self):
        section("exporter down")
        status = self.processes["ppdm-exporter"].stop(timeout=15)
        self.checks.check("exporter exits 0 on SIGTERM", status == 0, f"exit status {status}")
        alerts = wait_until(lambda: matching(self.prom.alerts(), "PPDMExporterDown",
                                             job="ppdm-exporter"))
        self.checks.check("PPDMExporterDown fires", bool(alerts), show(self.prom.alerts()))

    def value(self, expr):
        result = self.prom.query(expr)
        return float(result[0]["value"][1]) if result else None

    # -- driver

    def run(self):
        try:
            if not self.start():
                return
            self.baseline()
            ids = self.drive()
            self.check_queries()
            if ids:
                self.restore(ids)
            self.auth()
            self.ppdm_down()
            self.exporter_down()
        except Exception as error:  # noqa: BLE001 (any crash is a failed check)
            self.checks.check("test ran to the end", False, f"{type(error).__name__}: {error}")
            raise
        finally:
            self.stop_all()

    def stop_all(self):
        section("stop")
        for name in ("prometheus", "ppdm-exporter", "ppdm-sim"):
            process = self.processes.get(name)
            if process:
                process.stop()
        if self.checks.failed:
            for process in self.processes.values():
                print(f"  last lines of {process.log_path}:\n{process.tail()}")


def tiers_of(system):
    details = (system.get("details") or {}).get("dataDomain") or {}
    return [t.get("type") for t in details.get("capacities") or []]


def on_alarm(signum, frame):
    raise TimeoutError(f"e2e run exceeded {HARD_LIMIT + 20} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", required=True, type=pathlib.Path,
                        help="path of the ppdm-sim binary")
    parser.add_argument("--exporter", required=True, type=pathlib.Path,
                        help="path of the ppdm-exporter binary")
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus",
                        help="path of the prometheus binary")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (logs, configs, TSDB)")
    args = parser.parse_args()

    for binary in (args.sim, args.exporter):
        if not binary.is_file() or not os.access(binary, os.X_OK):
            print(f"e2e: {binary} is not an executable; build it first "
                  "(cargo build --release --bins)", file=sys.stderr)
            print("e2e: 0 passed, 1 failed")
            return 1

    args.sim, args.exporter = args.sim.resolve(), args.exporter.resolve()
    started = time.monotonic()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(HARD_LIMIT + 20)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="ppdm-e2e-"))
    # Run copies: a concurrent cargo build in a shared target dir may replace the
    # originals while the test runs.
    (workdir / "bin").mkdir()
    args.sim = pathlib.Path(shutil.copy2(args.sim, workdir / "bin"))
    args.exporter = pathlib.Path(shutil.copy2(args.exporter, workdir / "bin"))
    run = Run(args, workdir)
    try:
        run.run()
    except Exception as error:  # noqa: BLE001 (reported in the summary)
        print(f"e2e: aborted: {type(error).__name__}: {error}", file=sys.stderr)
    finally:
        signal.alarm(0)
        if args.keep or run.checks.failed:
            print(f"  work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n  run time {time.monotonic() - started:.0f} s")
    print(run.checks.summary())
    return 0 if not run.checks.failed else 1


if __name__ == "__main__":
    sys.exit(main())
