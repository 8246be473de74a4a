#!/usr/bin/env bash
# Install what the Prometheus integration tests need (tests/prometheus_*.rs):
# Debian's `prometheus` package (the server and promtool) and openssl.
# Does nothing when they are already there. Needs root for apt-get.
set -euo pipefail

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-prometheus: $(prometheus --version 2>&1 | head -n1)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-prometheus: ${missing[*]} missing; run as root (apt-get install)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: the server and promtool only, not node-exporter and the rest.
apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)

# The package may start its system service (systemd, or the SysV script where
# there is no systemd); the tests start their own servers on free ports, so
# stop the packaged one if it runs.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
elif [ -x /etc/init.d/prometheus ] && /etc/init.d/prometheus status >/dev/null 2>&1; then
    /etc/init.d/prometheus stop || true
fi
echo "setup-prometheus: $(prometheus --version 2>&1 | head -n1)"
