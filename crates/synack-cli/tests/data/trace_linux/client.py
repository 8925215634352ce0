"""The client side of trace_linux.rs, run in the client's namespace.

Traffic, in order (every TCP option Linux sends by default is in it:
MSS, SACK-permitted, timestamps, window scale):

1. A transfer to the server that makes it send SACK blocks. There is no
   netem here, so instead of losing a segment the client *adds* two: once
   1000 bytes are acknowledged, it crafts two data segments of the same
   connection, 1000 and 2000 bytes beyond what the kernel has sent, with
   the connection's timestamps, and sends them on a raw socket. They reach
   the Linux server out of order, and it answers each at once with a
   duplicate ACK carrying SACK blocks (RFC 2018). Then the client's kernel
   sends the next 3000 bytes, which fill the holes (the crafted bytes are
   the same 'x' bytes the kernel sends, so the stream stays intact).
   This is deterministic: no timing, no random loss.
2. A connection to a closed port: SYN, then RST-ACK.
3. Two TCP Fast Open connections (RFC 7413, sendto with MSG_FASTOPEN): the
   first SYN asks for a cookie, the second carries the cookie and data.
4. An ICMP echo request (raw socket) and its reply.
5. A UDP datagram to a closed port, answered with ICMP port unreachable.
   Its port (END_PORT) marks the end of the traffic for the captures.

Usage: client.py IFACE PORT CLOSED_PORT END_PORT
"""
import select
import socket
import struct
import sys
import time

IFACE, PORT, CLOSED_PORT, END_PORT = sys.argv[1], *map(int, sys.argv[2:5])
CLIENT, SERVER = "192.0.2.1", "192.0.2.2"
MSG_FASTOPEN = 0x20000000
ETH_P_ALL = 0x0003
PATIENCE = 10.0  # seconds; only reached when something is broken


def fail(msg):
    sys.exit(f"client.py: {msg}")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def parse_tcp(frame):
    """(src, sport, dst, dport, seq, ack, flags, win, payload len, options)
    of an Ethernet/IPv4/TCP frame, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != 6:
        return None
    total = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[ihl:total]
    sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", tcp[:16])
    hl = (off >> 4) * 4
    return (
        socket.inet_ntoa(ip[12:16]), sport, socket.inet_ntoa(ip[16:20]), dport,
        seq, ack, flags, win, len(tcp) - hl, tcp[20:hl],
    )


def options(raw):
    """{kind: data} of a TCP option list."""
    out, i = {}, 0
    while i < len(raw):
        kind = raw[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        length = raw[i + 1]
        out[kind] = raw[i + 2:i + length]
        i += length
    return out


class Sniffer:
    """Every frame on IFACE, both directions (AF_PACKET sees outgoing too)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((IFACE, 0))
        self.segments = []

    def drain(self, timeout=0.0):
        got = False
        while select.select([self.sock], [], [], timeout)[0]:
            seg = parse_tcp(self.sock.recv(70000))
            if seg:
                self.segments.append(seg)
                got = True
            timeout = 0.0
        return got

    def wait_for(self, what, pred):
        deadline = time.monotonic() + PATIENCE
        while True:
            found = [s for s in self.segments if pred(s)]
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"timed out waiting for {what}")
            self.drain(left)


def craft(src_port, seq, ack, win, tsval, tsecr, payload):
    """An IPv4/TCP segment from the client, PSH|ACK, with a timestamp."""
    opts = b"\x01\x01\x08\x0a" + struct.pack("!II", tsval, tsecr)
    hl = 20 + len(opts)
    src, dst = socket.inet_aton(CLIENT), socket.inet_aton(SERVER)
    tcp = struct.pack("!HHIIBBHHH", src_port, PORT, seq, ack, (hl // 4) << 4, 0x18, win, 0, 0)
    tcp += opts + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    # The kernel fills in the IPv4 checksum (and the id, left 0) for IP_HDRINCL.
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    return ip + tcp


def sack_transfer(sniffer):
    c = socket.create_connection((SERVER, PORT), timeout=PATIENCE)
    port = c.getsockname()[1]
    c.sendall(b"x" * 1000)
    if c.recv(1) != b"k":
        fail("no k from the server")
    mine = lambda s: s[0] == CLIENT and s[1] == port
    theirs = lambda s: s[0] == SERVER and s[3] == port
    # The server's "k" is in the capture: the client's rcv.nxt is after it.
    k = sniffer.wait_for("the server's k", lambda s: theirs(s) and s[8] == 1)[-1]
    last = [s for s in sniffer.segments if mine(s)][-1]
    snd_nxt = last[4] + last[8]
    tsval, _ = struct.unpack("!II", options(last[9])[8])
    server_tsval, _ = struct.unpack("!II", options(k[9])[8])
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for gap in (1000, 2000):
        seg = craft(port, snd_nxt + gap, k[4] + 1, last[7], tsval, server_tsval, b"x" * 500)
        raw.sendto(seg, (SERVER, 0))
    # Two duplicate ACKs with SACK blocks (option 5), the second with two.
    sacks = lambda s: theirs(s) and 5 in options(s[9]) and len(options(s[9])[5]) == 16
    sniffer.wait_for("a SACK with two blocks", sacks)
    c.sendall(b"x" * 3000)
    c.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := c.recv(100):
        reply += chunk
    if reply != b"bye 4000":
        fail(f"server said {reply!r}")
    c.close()


def refused():
    s = socket.socket()
    s.settimeout(PATIENCE)
    try:
        s.connect((SERVER, CLOSED_PORT))
        fail("connected to the closed port")
    except ConnectionRefusedError:
        pass
    s.close()


def fast_open(sniffer, n):
    s = socket.socket()
    # Blocking: on a non-blocking socket sendto(MSG_FASTOPEN) without a
    # cookie fails with EINPROGRESS instead of waiting for the handshake.
    s.sendto(b"x" * 20, MSG_FASTOPEN, (SERVER, PORT))
    s.settimeout(PATIENCE)
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while chunk := s.recv(100):
        reply += chunk
    if reply != b"bye 20":
        fail(f"fast open {n}: server said {reply!r}")
    s.close()


def ping():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(PATIENCE)
    msg = struct.pack("!BBHHH", 8, 0, 0, 0x5AC, 1) + b"synack trace"
    msg = msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]
    s.sendto(msg, (SERVER, 0))
    while True:
        data = s.recv(200)
        if data[20] == 0:  # echo reply
            break
    s.close()


sniffer = Sniffer()
sack_transfer(sniffer)
refused()
fast_open(sniffer, 1)
fast_open(sniffer, 2)
ping()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"the end", (SERVER, END_PORT))
print("done", flush=True)
