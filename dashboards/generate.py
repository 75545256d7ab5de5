#!/usr/bin/env python3
"""Generates ppdm-exporter.json, the Grafana dashboard of ppdm-exporter.

The dashboard is written by this script so that its layout, units and queries stay
readable and consistent; edit this file, not the JSON, then run:

    python3 dashboards/generate.py          # rewrite ppdm-exporter.json
    python3 dashboards/generate.py --check  # exit 1 if the JSON is out of date

The data source is a template variable of type "datasource", so the JSON imports
as is (UI, API or file provisioning) without an __inputs mapping.
"""

import argparse
import json
import pathlib
import sys

OUT = pathlib.Path(__file__).with_name("ppdm-exporter.json")

DS = {"type": "prometheus", "uid": "${datasource}"}

# Selectors shared by the panels; the variables are multi-value regexes.
SRV = 'server=~"$server"'
SYS = 'server=~"$server", system=~"$system"'
TIER = 'server=~"$server", system=~"$system", tier=~"$tier"'

GREEN, ORANGE, RED, BLUE = "green", "orange", "red", "blue"

ROW_HEIGHT = 1
WIDTH = 24


def steps(*pairs):
    """Threshold steps from (value, color) pairs; the first value is the base."""
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for value, color in pairs],
    }


def target(ref, expr, legend="", instant=False, table=False):
    """A Prometheus query of a panel."""
    t = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "refId": ref,
    }
    if table:
        t["format"] = "table"
    return t


def queries(*specs, instant=False, table=False):
    """Targets A, B, … from (expr, legend) pairs."""
    return [
        target(chr(ord("A") + i), expr, legend, instant, table)
        for i, (expr, legend) in enumerate(specs)
    ]


def panel(kind, title, description, targets, unit=None, thresholds=None, **extra):
    """A panel without position; layout() places it."""
    defaults = {"unit": unit or "none"}
    if thresholds:
        defaults["thresholds"] = thresholds
    for key in ("min", "max", "decimals", "mappings", "noValue", "custom", "color"):
        if key in extra:
            defaults[key] = extra.pop(key)
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": extra.pop("overrides", [])},
        "options": extra.pop("options", {}),
    }
    p.update(extra)
    return p


def timeseries(title, description, targets, unit, thresholds=None, **extra):
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 0, "showPoints": "never"}
    if thresholds:
        custom["thresholdsStyle"] = {"mode": "line+area"}
    custom.update(extra.pop("custom", {}))
    options = {
        "legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel("timeseries", title, description, targets, unit, thresholds,
                 custom=custom, options=options, **extra)


def stat(title, description, targets, unit=None, thresholds=None, **extra):
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "none",
        "textMode": "auto",
        "justifyMode": "auto",
        "orientation": "auto",
    }
    return panel("stat", title, description, targets, unit, thresholds,
                 options=options, **extra)


def bargauge(title, description, targets, unit=None, thresholds=None, **extra):
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient",
        "orientation": "horizontal",
        "showUnfilled": True,
        "valueMode": "color",
    }
    return panel("bargauge", title, description, targets, unit, thresholds,
                 options=options, **extra)


def by_name(name, **props):
    """A field override matching a series or column by its display name."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": key, "value": value} for key, value in props.items()],
    }


def state_colors(*pairs):
    """Overrides colouring series named after a state (legend "{{state}}")."""
    return [by_name(name, color={"mode": "fixed", "fixedColor": color}) for name, color in pairs]


RATIO_STEPS = steps((None, GREEN), (0.85, ORANGE), (0.95, RED))


def fleet_panels():
    return [
        stat("PPDM servers up",
             "PPDM servers whose last poll succeeded (ppdm_up = 1).",
             queries((f"sum(ppdm_up{{{SRV}}})", "up")), instant=True,
             thresholds=steps((None, BLUE))),
        stat("PPDM servers down",
             "PPDM servers whose last poll failed (ppdm_up = 0).",
             queries((f"count(ppdm_up{{{SRV}}} == 0) or vector(0)", "down"), instant=True),
             thresholds=steps((None, GREEN), (1, RED))),
        stat("Storage systems",
             "Storage systems reported by the selected PPDM servers.",
             queries((f"sum(ppdm_storage_systems{{{SRV}}})", "systems"), instant=True),
             thresholds=steps((None, BLUE))),
        bargauge("Systems by readiness",
                 "Storage systems per readiness state reported by PPDM.",
                 queries((f"count by (state) (ppdm_storage_system_readiness{{{SRV}}} == 1)",
                          "{{state}}"), instant=True),
                 thresholds=steps((None, BLUE)),
                 overrides=state_colors(("READY", GREEN), ("NOT_READY", RED),
                                        ("MIGRATING", ORANGE))),
        bargauge("Tiers by capacity status",
                 "Data Domain tiers (ACTIVE, CLOUD) per capacity status, PPDM's own "
                 "judgement; the COMBINED tier is left out.",
                 queries((f'count by (state) (ppdm_storage_system_capacity_status{{{SRV}, '
                          f'tier!="combined"}} == 1)', "{{state}}"), instant=True),
                 thresholds=steps((None, BLUE)),
                 overrides=state_colors(("GOOD", GREEN), ("FAIR", ORANGE), ("POOR", RED))),
    ]


def systems_table():
    """One row per storage system: identity, readiness, utilisation, discovery age."""
    specs = (
        (f"ppdm_storage_system_info{{{SYS}}} * on (server, system_id) group_left (state) "
         f"(ppdm_storage_system_readiness{{{SYS}}} == 1)", ""),
        (f"ppdm_storage_system_capacity_utilization_ratio{{{SYS}}}", ""),
        (f"time() - ppdm_storage_system_last_discovery_timestamp_seconds{{{SYS}}}", ""),
    )
    organize = {
        "id": "organize",
        "options": {
            "excludeByName": {"Time": True, "__name__": True, "Value #A": True,
                              "job": True, "instance": True},
            "indexByName": {"server": 0, "system": 1, "state": 2, "Value #B": 3,
                            "Value #C": 4, "model": 5, "os_version": 6,
                            "system_type": 7, "serial_number": 8, "system_id": 9},
            "renameByName": {"state": "readiness", "Value #B": "utilisation",
                             "Value #C": "discovery age", "os_version": "OS version",
                             "system_type": "type", "serial_number": "serial"},
        },
    }
    return panel(
        "table", "Storage systems",
        "Every storage system with its readiness, the utilisation PPDM reports and the "
        "age of its last discovery.",
        queries(*specs, instant=True, table=True),
        transformations=[{"id": "merge", "options": {}}, organize],
        overrides=[
            by_name("utilisation", unit="percentunit",
                    **{"custom.cellOptions": {"type": "color-text"}},
                    thresholds=RATIO_STEPS),
            by_name("discovery age", unit="s"),
            by_name("readiness", **{"custom.cellOptions": {"type": "color-text"}},
                    mappings=[{"type": "value", "options": {
                        "READY": {"color": GREEN, "index": 0},
                        "NOT_READY": {"color": RED, "index": 1},
                        "MIGRATING": {"color": ORANGE, "index": 2}}}]),
        ],
        options={"showHeader": True, "cellHeight": "sm",
                 "sortBy": [{"displayName": "utilisation", "desc": True}]},
    )


def health_panels():
    return [
        panel("state-timeline", "PPDM reachable (ppdm_up)",
              "Whether each PPDM server's last poll succeeded.",
              queries((f"ppdm_up{{{SRV}}}", "{{server}}")),
              thresholds=steps((None, RED), (1, GREEN)),
              color={"mode": "thresholds"},
              mappings=[{"type": "value", "options": {
                  "0": {"text": "down", "color": RED, "index": 0},
                  "1": {"text": "up", "color": GREEN, "index": 1}}}],
              options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                       "legend": {"showLegend": False}}),
        timeseries("Poll duration",
                   "Wall time of the last poll of each PPDM server (login and all pages).",
                   queries((f"ppdm_poll_duration_seconds{{{SRV}}}", "{{server}}")), "s"),
        timeseries("Time since last successful poll",
                   "Age of the data the exporter serves; PPDMPollsStale fires above 15 "
                   "minutes.",
                   queries((f"time() - ppdm_last_poll_success_timestamp_seconds{{{SRV}}}",
                            "{{server}}")), "s",
                   thresholds=steps((None, GREEN), (900, RED))),
        bargauge("Poll failures in the time range",
                 "Failed polls per server and reason over the selected time range.",
                 queries((f"sum by (server, reason) "
                          f"(increase(ppdm_poll_failures_total{{{SRV}}}[$__range]))",
                          "{{server}} {{reason}}"), instant=True),
                 thresholds=steps((None, GREEN), (1, ORANGE)), decimals=0),
        timeseries("Authentication requests",
                   "Logins, token refreshes and logouts per second by result.",
                   queries((f"sum by (server, kind, result) "
                            f"(rate(ppdm_auth_requests_total{{{SRV}}}[$__rate_interval]))",
                            "{{server}} {{kind}} {{result}}")), "reqps"),
    ]


def capacity_panels():
    return [
        timeseries("Physical used and capacity",
                   "Physical (after deduplication and compression) bytes used per tier, "
                   "with the tier's physical capacity dashed.",
                   queries((f"ppdm_storage_system_physical_used_bytes{{{TIER}}}",
                            "{{system}} {{tier}} used"),
                           (f"ppdm_storage_system_physical_capacity_bytes{{{TIER}}}",
                            "{{system}} {{tier}} capacity")), "decbytes",
                   overrides=[{"matcher": {"id": "byFrameRefID", "options": "B"},
                               "properties": [{"id": "custom.lineStyle", "value": {
                                   "fill": "dash", "dash": [10, 10]}}]}],
                   min=0),
        timeseries("Physical used ratio",
                   "Physical used / physical capacity per tier "
                   "(ppdm:storage_system_physical_used:ratio); alerts at 85 % and 95 %.",
                   queries((f"ppdm:storage_system_physical_used:ratio{{{TIER}}}",
                            "{{system}} {{tier}}")), "percentunit",
                   thresholds=RATIO_STEPS, min=0, max=1),
        bargauge("Used ratio now",
                 "Current physical used ratio per tier.",
                 queries((f"ppdm:storage_system_physical_used:ratio{{{TIER}}}",
                          "{{system}} {{tier}}"), instant=True),
                 "percentunit", RATIO_STEPS, min=0, max=1),
        bargauge("Days to full",
                 "Days until the tier is full at the growth of the last 6 hours "
                 "(linear regression); tiers that are not growing are not shown.",
                 queries((f"ppdm:storage_system_physical_days_to_full:deriv6h{{{TIER}}}",
                          "{{system}} {{tier}}"), instant=True),
                 "d", steps((None, RED), (7, ORANGE), (30, GREEN)),
                 decimals=1, noValue="no tier is growing"),
        timeseries("Compression ratio",
                   "Logical used / physical used per tier (24.6 means 24.6:1).",
                   queries((f"ppdm_storage_system_compression_ratio{{{TIER}}}",
                            "{{system}} {{tier}}")), "suffix::1", decimals=1, min=0),
        timeseries("Logical and physical used",
                   "Logical bytes (before deduplication and compression) against physical "
                   "bytes used, per tier.",
                   queries((f"ppdm_storage_system_logical_used_bytes{{{TIER}}}",
                            "{{system}} {{tier}} logical"),
                           (f"ppdm_storage_system_physical_used_bytes{{{TIER}}}",
                            "{{system}} {{tier}} physical")), "decbytes",
                   custom={"scaleDistribution": {"type": "log", "log": 10}}),
        timeseries("Licence use",
                   "Physical used / licensed capacity per licensed tier "
                   "(ppdm:storage_system_licensed_used:ratio); above 100 % the licence "
                   "is exceeded.",
                   queries((f"ppdm:storage_system_licensed_used:ratio{{{TIER}}}",
                            "{{system}} {{tier}}")), "percentunit",
                   thresholds=steps((None, GREEN), (0.9, ORANGE), (1, RED)), min=0),
        timeseries("Licensed capacity",
                   "Licensed capacity per tier; tiers without a licence are left out.",
                   queries((f"ppdm_storage_system_licensed_capacity_bytes{{{TIER}}} > 0",
                            "{{system}} {{tier}}")), "decbytes", min=0),
        timeseries("Utilisation reported by PPDM",
                   "PPDM's capacityUtilization of each storage system.",
                   queries((f"ppdm_storage_system_capacity_utilization_ratio{{{SYS}}}",
                            "{{system}}")), "percentunit",
                   thresholds=RATIO_STEPS, min=0, max=1),
        timeseries("Time since last discovery",
                   "Age of PPDM's last discovery of each storage system; capacities are "
                   "as old as this. PPDMStorageDiscoveryStale fires above a day.",
                   queries((f"time() - ppdm_storage_system_last_discovery_timestamp_seconds"
                            f"{{{SYS}}}", "{{system}}")), "s",
                   thresholds=steps((None, GREEN), (86400, RED))),
    ]


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(sections):
    """Gives every panel an id and a grid position: rows of panels, left to right."""
    placed, y, next_id = [], 0, 1
    for title, panels, widths, height in sections:
        r = row(title)
        r.update(id=next_id, gridPos={"h": ROW_HEIGHT, "w": WIDTH, "x": 0, "y": y})
        placed.append(r)
        next_id, y, x = next_id + 1, y + ROW_HEIGHT, 0
        for p, w in zip(panels, widths, strict=True):
            if x + w > WIDTH:
                x, y = 0, y + height
            p.update(id=next_id, gridPos={"h": height, "w": w, "x": x, "y": y})
            placed.append(p)
            next_id, x = next_id + 1, x + w
        y += height
    return placed


def variable(name, label, query, **extra):
    v = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable"},
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }
    v.update(extra)
    return v


def templating():
    return {"list": [
        {"type": "datasource", "name": "datasource", "label": "Data source",
         "query": "prometheus", "current": {}, "options": [], "regex": "", "hide": 0,
         "refresh": 1, "includeAll": False, "multi": False},
        variable("server", "PPDM server", "label_values(ppdm_up, server)"),
        variable("system", "Storage system",
                 f"label_values(ppdm_storage_system_info{{{SRV}}}, system)"),
        variable("tier", "Tier",
                 f"label_values(ppdm_storage_system_physical_capacity_bytes{{{SYS}}}, tier)"),
    ]}


def dashboard():
    sections = [
        ("Fleet overview", fleet_panels(), [4, 4, 4, 6, 6], 6),
        ("Inventory", [systems_table()], [24], 9),
        ("Exporter health", health_panels(), [12, 12, 8, 8, 8], 7),
        ("Capacity by system and tier", capacity_panels(),
         [16, 8, 12, 12, 12, 12, 12, 12, 12, 12], 8),
    ]
    return {
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            {"type": "panel", "id": "bargauge", "name": "Bar gauge", "version": ""},
            {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
            {"type": "panel", "id": "state-timeline", "name": "State timeline", "version": ""},
            {"type": "panel", "id": "table", "name": "Table", "version": ""},
            {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
        ],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": "Dell PowerProtect Data Manager storage capacity from ppdm-exporter.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": layout(sections),
        "refresh": "1m",
        "schemaVersion": 39,
        "tags": ["ppdm", "data-domain", "storage"],
        "templating": templating(),
        "time": {"from": "now-7d", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": "PPDM storage capacity",
        "uid": "ppdm-exporter",
        "version": 1,
        "weekStart": "",
    }


def render():
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="fail if the committed JSON differs from the generated one")
    args = parser.parse_args()

    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.name} is out of date: run python3 dashboards/generate.py",
                  file=sys.stderr)
            return 1
        print(f"{OUT.name} is up to date")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
