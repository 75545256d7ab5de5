#!/usr/bin/env bash
# Checks the shipped Prometheus rules, config and Grafana dashboard, then runs the
# end-to-end test: simulator -> exporter -> real Prometheus.
#
# Usage: .ci/e2e-prometheus.sh [--no-e2e]
#   --no-e2e               only the promtool and dashboard checks
#   PPDM_E2E_SKIP_BUILD=1  use the release binaries already built
# Needs root (or a present prometheus/promtool) to install Debian's prometheus.
set -euo pipefail

cd "$(dirname "$0")/.."

run_e2e=1
if [[ "${1:-}" == "--no-e2e" ]]; then
    run_e2e=0
fi

step() { printf '\n== %s\n' "$*"; }

install_prometheus() {
    if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
        return
    fi
    step "installing Debian's prometheus package"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus
}

# The package starts a prometheus service on :9090 where an init system lets it;
# the test runs its own instance, so stop the packaged one.
stop_packaged_prometheus() {
    if [[ -d /run/systemd/system ]] && systemctl is-active --quiet prometheus; then
        systemctl stop prometheus
    elif [[ -x /etc/init.d/prometheus ]]; then
        /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
}

install_prometheus
stop_packaged_prometheus
prometheus --version | head -n 1

step "promtool check rules"
promtool check rules deploy/prometheus/rules/*.yml

step "promtool test rules"
promtool test rules deploy/prometheus/tests/*.yml

step "promtool check config"
promtool check config deploy/prometheus/prometheus.yml

if [[ -f dashboards/generate.py ]]; then
    step "dashboard JSON matches its generator"
    python3 dashboards/generate.py --check
fi

if [[ "$run_e2e" == 0 ]]; then
    exit 0
fi

target_dir="${CARGO_TARGET_DIR:-target}"
if [[ "${PPDM_E2E_SKIP_BUILD:-0}" != 1 ]]; then
    step "cargo build --release --bins"
    cargo build --release --bins
fi

step "end-to-end: ppdm-sim -> ppdm-exporter -> prometheus"
python3 tests/e2e/prometheus_e2e.py \
    --sim "$target_dir/release/ppdm-sim" \
    --exporter "$target_dir/release/ppdm-exporter"
