#!/usr/bin/env bash
# Installs Debian's `prometheus` package (prometheus + promtool) for the real-server tests,
# when promtool is not on PATH yet. Idempotent: a second run does nothing.
#
# The package's postinst would start a system service on :9090; the tests start their own
# servers on free loopback ports, so service start-up is blocked during the install (a
# policy-rc.d that denies it) and any service the package did start is stopped again.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    echo "setup-prometheus: $(prometheus --version 2>&1 | head -n1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "setup-prometheus: need root (or sudo) to install Debian's prometheus package" >&2
        exit 1
    fi
fi

# deny service start-up by maintainer scripts while we install (restored afterwards)
POLICY=/usr/sbin/policy-rc.d
policy_added=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 0755 "$POLICY"
    policy_added=1
fi
cleanup() {
    if [ "$policy_added" = 1 ]; then
        $SUDO rm -f "$POLICY"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
$SUDO apt-get "${APT_OPTS[@]}" update -qq
$SUDO apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends prometheus >/dev/null

# if a service got started anyway (systemd hosts ignore policy-rc.d), stop and disable it
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/prometheus ]; then
    $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi

command -v promtool >/dev/null 2>&1 || { echo "setup-prometheus: promtool still not on PATH after the install" >&2; exit 1; }
echo "setup-prometheus: installed $(prometheus --version 2>&1 | head -n1)"
