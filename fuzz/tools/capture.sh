#!/usr/bin/env bash
# Captures real Linux traffic for the fuzz seed corpus, then rebuilds
# fuzz/corpus with make_corpus.py. Needs root, iproute2, iptables, ethtool,
# tcpdump, ping and python3. Everything happens in two private network
# namespaces joined by a veth pair on TEST-NET-1 (192.0.2.1 <-> 192.0.2.2),
# removed on exit; the root namespace is never touched.
#
# Traffic: ARP, ping, a 300 kB transfer with every 7th large segment dropped
# at the receiver (so it sends SACK blocks), a short exchange, two TCP Fast
# Open connections (cookie request, then data in the SYN), UDP echo, UDP and
# TCP to closed ports (ICMP port unreachable, RST), and an ECN handshake
# without timestamps.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
A=synack-cap-a B=synack-cap-b
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$A"
ip netns add "$B"
ip link add va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" addr add 192.0.2.1/24 dev va
ip -n "$B" addr add 192.0.2.2/24 dev vb
for ns in "$A" "$B"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_fastopen=3
done
ip -n "$A" link set va up
ip -n "$B" link set vb up
# Real MTU-sized segments with real checksums: no offloads.
ip netns exec "$A" ethtool -K va tso off gso off gro off tx off rx off >/dev/null
ip netns exec "$B" ethtool -K vb tso off gso off gro off tx off rx off >/dev/null
ip netns exec "$B" iptables -A INPUT -p tcp --dport 8080 -m length --length 1000:65535 \
    -m statistic --mode nth --every 7 --packet 3 -j DROP

capture() { # file
    ip netns exec "$A" tcpdump -i va -U -s 0 -w "$1" >/dev/null 2>&1 &
    pids+=($!)
    sleep 1
}
stop_all() {
    sleep 1
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
}

ip netns exec "$B" python3 "$here/capture_server.py" &
pids+=($!)
capture "$work/main.pcap"
ip netns exec "$A" ping -c 2 -i 0.2 192.0.2.2 >/dev/null
timeout 60 ip netns exec "$A" python3 "$here/capture_client.py" >/dev/null
stop_all

ip netns exec "$A" sysctl -qw net.ipv4.tcp_timestamps=0
ip netns exec "$A" sysctl -qw net.ipv4.tcp_ecn=1
ip netns exec "$B" sysctl -qw net.ipv4.tcp_ecn=1
ip netns exec "$B" python3 "$here/capture_server.py" &
pids+=($!)
capture "$work/ecn.pcap"
timeout 20 ip netns exec "$A" python3 -c '
import socket
c = socket.create_connection(("192.0.2.2", 8080)); c.sendall(b"no timestamps END"); c.recv(100); c.close()'
stop_all

python3 "$here/make_corpus.py" "$work/main.pcap" "$work/ecn.pcap"
rm -rf "$work"
