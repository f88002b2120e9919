#!/usr/bin/env bash
# Install everything kybernetes needs on a fresh Debian machine; safe to rerun.
# Debian packages: etcd-server (the optional datastore, and CI's tests),
# runc, iptables, nftables, conntrack, iproute2 (nodes, pods and Services), tmux (interactive
# kubectl tests). Python packages: kybernetes itself, editable, with its test
# extras.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in etcd-server etcd-client runc iptables nftables conntrack iproute2 tmux; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
    # Debian's etcd-server package may start a system etcd; kybernetes never
    # uses it (tests start their own members on free loopback ports).
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 \
    | grep -v -E "Running pip as the 'root' user|^\s*$|dependency conflicts|requires .* but you have" || true
