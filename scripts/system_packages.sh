#!/usr/bin/env bash
# Installs the system tools the tests use that pip and npm do not bring:
#
#   promtool, prometheus   Debian's `prometheus` package: `promtool check metrics`
#                          on the servers' /metrics, `promtool check rules` on the
#                          alert rules, and a real Prometheus that runs every
#                          dashboard query (tests/test_prometheus.py)
#
# As root it installs what is missing with apt-get (`make setup` runs it);
# otherwise it prints the command to run and exits 0, and those tests skip
# (outside CI). The package's own service is never started here: a
# policy-rc.d that refuses it is in place during the install (where none was),
# and on a systemd machine the unit is disabled afterwards, so nothing is left
# listening on port 9090. The tests start their own Prometheus on a free port.
#
# kubectl (`kubectl kustomize`, tests/test_k8s.py and tests/test_k8s_schemas.py)
# is not installed here: Debian's kubernetes-client is too old for kustomize
# components. Install a current kubectl from your Kubernetes vendor.
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 && [ -x /usr/bin/prometheus ] || missing+=(prometheus)

if ! command -v kubectl >/dev/null 2>&1; then
    echo "system_packages: kubectl is not installed; the kubectl tests skip (and fail in CI)." >&2
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "system_packages: missing ${missing[*]}; install with:" >&2
    echo "    sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "system_packages: missing ${missing[*]} and no apt-get here; install them by hand" >&2
    exit 0
fi

policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# scripts/system_packages.sh: no service starts during this install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() {
    if [ "$own_policy" -eq 1 ]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT

echo "system_packages: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
command -v promtool >/dev/null
