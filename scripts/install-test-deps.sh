#!/usr/bin/env bash
# Installs the system tools synack's tests use as real peers and observers:
# iproute2 (network namespaces, veth), tcpdump and tshark (captures and an
# independent decoder), curl, socat, ping, nftables (a PMTU black hole), and
# Debian's python3 with scapy (crafted and hostile packets). Idempotent: does nothing when all are there.
set -euo pipefail

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd ip || need+=(iproute2)
have_cmd tcpdump || need+=(tcpdump)
have_cmd tshark || need+=(tshark)
have_cmd curl || need+=(curl)
have_cmd socat || need+=(socat)
have_cmd nft || need+=(nftables)
have_cmd ping || need+=(iputils-ping)
have_cmd sha256sum || need+=(coreutils)
/usr/bin/python3 -c 'import scapy' >/dev/null 2>&1 || need+=(python3 python3-scapy)

if [ "${#need[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: missing ${need[*]}; run as root (or install them) to run the interop tests" >&2
    exit 0
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
