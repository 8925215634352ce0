#!/usr/bin/env python3
"""Writes the small capture files tests/trace.rs reads. Deterministic: run it
again and the bytes are the same. Run from anywhere; it writes next to itself.

Addresses are TEST-NET (RFC 5737). Checksums are correct (the trace does not
judge them, but Wireshark does and these files should open cleanly there).
"""
import os
import struct
from socket import inet_aton

HERE = os.path.dirname(os.path.abspath(__file__))
C_MAC = bytes.fromhex("020000000001")
S_MAC = bytes.fromhex("020000000002")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, frag=0x4000, ident=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                    inet_aton(src), inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 1, 2, 4, 8, 16, 32, 64, 128


def tcp(src, dst, seq, ack, flags, win, opts=b"", data=b"", urg=0, doff=None):
    (sip, sport), (dip, dport) = src, dst
    opts += b"\0" * (-len(opts) % 4)
    hl = 20 + len(opts)
    off = (doff if doff is not None else hl // 4) << 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq % 2**32, ack % 2**32, off, flags, win, 0,
                      urg) + opts + data
    pseudo = inet_aton(sip) + inet_aton(dip) + struct.pack("!BBH", 0, 6, len(seg))
    seg = seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:]
    return ipv4(sip, dip, 6, seg)


def udp(src, dst, data):
    (sip, sport), (dip, dport) = src, dst
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    pseudo = inet_aton(sip) + inet_aton(dip) + struct.pack("!BBH", 0, 17, len(seg))
    seg = seg[:6] + struct.pack("!H", csum(pseudo + seg)) + seg[8:]
    return ipv4(sip, dip, 17, seg)


def icmp(src, dst, kind, code, rest, data):
    msg = struct.pack("!BBH", kind, code, 0) + rest + data
    msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
    return ipv4(src, dst, 1, msg)


def eth(dst, src, ethertype, payload):
    return dst + src + struct.pack("!H", ethertype) + payload


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + inet_aton(spa) + tha + inet_aton(tpa)


def sll2(pkttype, payload, addr=C_MAC):
    return struct.pack("!HHIHBB", 0x0800, 0, 2, 1, pkttype, 6) + addr + b"\0\0" + payload


# TCP options.
def mss(v): return b"\x02\x04" + struct.pack("!H", v)
SACKOK = b"\x04\x02"
NOP = b"\x01"
def ts(v, e): return b"\x08\x0a" + struct.pack("!II", v, e)
def ws(s): return b"\x03\x03" + bytes([s])
def sack(*blocks): return bytes([5, 2 + 8 * len(blocks)]) + b"".join(struct.pack("!II", l, r) for l, r in blocks)
def fo(cookie=b""): return bytes([34, 2 + len(cookie)]) + cookie
def fo_exp(cookie=b""): return bytes([254, 4 + len(cookie)]) + b"\xf9\x89" + cookie


def pcap(name, linktype, records, snaplen=65535, big=False, nanos=False):
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for t, frame in records:
        # t in microseconds (or nanoseconds for a nanosecond file)
        div = 10**9 if nanos else 10**6
        cap = frame[:snaplen]
        out += struct.pack(e + "IIII", t // div, t % div, len(cap), len(frame)) + cap
    write(name, out)
    return out


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


# 1. A handshake whose client ISN is 296 below 2^32, so its data crosses the
#    wrap; the 100-byte data segment is cut by the 128-byte snap length.
C, S = ("192.0.2.1", 40000), ("192.0.2.2", 80)
CI, SI = 2**32 - 296, 7
syn_opts = mss(1460) + SACKOK + ts(100, 0) + NOP + ws(7)
e = lambda f, src_is_client=True: eth(S_MAC, C_MAC, 0x0800, f) if src_is_client else eth(C_MAC, S_MAC, 0x0800, f)
handshake = pcap("handshake.pcap", 1, [
    (1_000_000, e(tcp(C, S, CI, 0, SYN, 64240, syn_opts))),
    (1_000_150, e(tcp(S, C, SI, CI + 1, SYN | ACK, 65160, mss(1460) + SACKOK + ts(900, 100) + NOP + ws(7)), False)),
    (1_000_300, e(tcp(C, S, CI + 1, SI + 1, ACK, 502, NOP + NOP + ts(101, 900)))),
    (1_000_400, e(tcp(C, S, CI + 1, SI + 1, PSH | ACK, 502, NOP + NOP + ts(101, 900), b"x" * 100))),
    (1_040_500, e(tcp(S, C, SI + 1, CI + 101, ACK, 509, NOP + NOP + ts(941, 101)), False)),
    (1_050_000, e(tcp(C, S, CI + 101, SI + 1, FIN | ACK, 502, NOP + NOP + ts(111, 941)))),
    (1_050_200, e(tcp(S, C, SI + 1, CI + 102, FIN | ACK, 509, NOP + NOP + ts(951, 111)), False)),
    (1_050_300, e(tcp(C, S, CI + 102, SI + 2, ACK, 502, NOP + NOP + ts(111, 951)))),
], snaplen=128)

# 2. SACK, D-SACK and a RST in the middle of a connection (no SYN), raw IP
#    as synack's TUN-medium simulations write it, frames cut at 60 bytes.
C, S = ("198.51.100.1", 5000), ("203.0.113.9", 443)
pcap("sack.pcap", 101, [
    (0, tcp(C, S, 1001, 501, ACK, 1000, data=b"a" * 100)),
    (10, tcp(C, S, 1201, 501, ACK, 1000, data=b"c" * 100)),
    (20, tcp(S, C, 501, 1101, ACK, 2000, NOP + NOP + sack((1201, 1301)))),
    (30, tcp(C, S, 1401, 501, ACK, 1000, data=b"e" * 100)),
    (40, tcp(S, C, 501, 1101, ACK, 2000, NOP + NOP + sack((1401, 1501), (1201, 1301)))),
    (50, tcp(C, S, 1101, 501, ACK, 1000, data=b"b" * 100)),
    (60, tcp(S, C, 501, 1301, ACK, 2000, NOP + NOP + sack((1401, 1501)))),
    (70, tcp(C, S, 1101, 501, ACK, 1000, data=b"b" * 100)),
    (80, tcp(S, C, 501, 1301, ACK, 2000, NOP + NOP + sack((1101, 1201), (1401, 1501)))),
    (90, tcp(C, S, 1501, 501, RST | ACK, 0)),
], snaplen=60)

# 3. TCP Fast Open on Linux cooked v2 (`tcpdump -i any`): a cookie request,
#    the cookie, data in a SYN with it, then the experimental option (kind
#    254, magic 0xF989) both ways: a request and a cookie.
S = ("192.0.2.2", 8080)
cookie = bytes.fromhex("0011223344556677")
pcap("fastopen.pcap", 276, [
    (5_000_000, sll2(4, tcp(("192.0.2.1", 40001), S, 1000, 0, SYN, 64240,
                            mss(1460) + SACKOK + ts(1, 0) + NOP + ws(7) + fo() + NOP + NOP))),
    (5_000_100, sll2(0, tcp(S, ("192.0.2.1", 40001), 9000, 1001, SYN | ACK, 65160,
                            mss(1460) + SACKOK + ts(2, 1) + NOP + ws(7) + fo(cookie) + NOP + NOP), S_MAC)),
    (5_100_000, sll2(4, tcp(("192.0.2.1", 40002), S, 2000, 0, SYN, 64240,
                            mss(1460) + fo(cookie) + NOP + NOP, b"hello"))),
    (5_100_100, sll2(0, tcp(S, ("192.0.2.1", 40002), 7000, 2006, SYN | ACK, 65160, mss(1460)), S_MAC)),
    (5_200_000, sll2(4, tcp(("192.0.2.1", 40003), S, 3000, 0, SYN, 64240, mss(1460) + NOP + NOP + fo_exp()))),
    (5_300_000, sll2(4, tcp(("192.0.2.1", 40004), S, 4000, 0, SYN, 64240,
                            mss(1460) + NOP + NOP + fo_exp(cookie[:4]), b"hi"))),
])

# 4. Everything that is not TCP, on Ethernet.
A, B = "192.0.2.1", "192.0.2.2"
BCAST, ZERO = b"\xff" * 6, b"\0" * 6
dns = udp((A, 5353), (B, 53), b"\x12\x34" + b"\0" * 10)
pad = lambda f: f + b"\0" * max(0, 60 - len(f))  # Ethernet minimum frame
pcap("other.pcap", 1, [
    (0, pad(eth(BCAST, C_MAC, 0x0806, arp(1, C_MAC, A, ZERO, B)))),
    (20, pad(eth(C_MAC, S_MAC, 0x0806, arp(2, S_MAC, B, C_MAC, A)))),
    (40, pad(eth(BCAST, S_MAC, 0x0806, arp(1, S_MAC, B, ZERO, B)))),
    (1000, eth(S_MAC, C_MAC, 0x0800, icmp(A, B, 8, 0, struct.pack("!HH", 1, 1), b"synack!!"))),
    (1100, eth(C_MAC, S_MAC, 0x0800, icmp(B, A, 0, 0, struct.pack("!HH", 1, 1), b"synack!!"))),
    (2000, eth(S_MAC, C_MAC, 0x0800, dns)),
    (2100, eth(C_MAC, S_MAC, 0x0800, icmp(B, A, 3, 3, b"\0" * 4, dns[:28]))),
    (3000, eth(S_MAC, C_MAC, 0x8100, struct.pack("!HH", 7, 0x0800) + udp((A, 9), (B, 9), b"v"))),
    (4000, eth(BCAST, C_MAC, 0x86DD, bytes.fromhex("6000000000003aff") + b"\xfe\x80" + b"\0" * 30)),
    (5000, eth(S_MAC, C_MAC, 0x0800, ipv4(A, B, 47, b"\0\0\x08\x00"))),
    (6000, pad(eth(bytes.fromhex("0180c200000e"), C_MAC, 0x88CC, b"\x02\x07\x04" + C_MAC))),
])

# 5. Odd and broken TCP headers in a big-endian file with nanosecond
#    timestamps (raw IP): every flag with an urgent pointer and an unknown
#    option then EOL and junk padding; four SACK blocks; an MSS option of
#    length 3; an option of length 0; a data offset of 4; a later fragment.
C, S = ("192.0.2.1", 1234), ("192.0.2.2", 5678)
four = [(100 * i, 100 * i + 50) for i in range(1, 5)]
pcap("odd.pcap", 101, [
    (2_000_000_123, tcp(C, S, 10, 20, 0xFF, 1, bytes([76, 4, 0xAB, 0xCD]) + b"\0\xff\xff\xff", b"u" * 4, urg=3)),
    (2_000_001_000, tcp(S, C, 20, 10, ACK, 2, NOP + NOP + sack(*four))),
    (2_000_002_000, tcp(C, S, 11, 20, ACK, 3, NOP + b"\x02\x03\x05\x00")),
    (2_000_003_000, tcp(C, S, 11, 20, ACK, 4, NOP + b"\x05\x00\x00\x00")),
    (2_000_004_000, tcp(C, S, 11, 20, ACK, 5, doff=4)),
    (2_000_005_000, ipv4(C[0], S[0], 6, b"\0" * 16, frag=0x0003)),
], big=True, nanos=True)

# 6. A capture cut in its last record, as when tcpdump is killed mid-write.
write("truncated.pcap", handshake[:-10])
# 7. A capture with no packets.
pcap("empty.pcap", 1, [])
# 8. An IEEE 802.11 capture (link type 105), which trace does not decode.
pcap("wifi.pcap", 105, [(0, b"\x80\x00")])
# 9. A pcapng file that is only a section header (no interface).
write("header-only.pcapng", struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28))
# 10. A pcapng file with one interface (Ethernet) and one packet: an ARP request.
frame = pad(eth(BCAST, C_MAC, 0x0806, arp(1, C_MAC, A, ZERO, B)))
epb_body = struct.pack("<IIIII", 0, 0, 7_000_000, len(frame), len(frame)) + frame
epb_body += b"\0" * (-len(epb_body) % 4)
write("arp.pcapng",
      struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
      + struct.pack("<IIHHII", 1, 20, 1, 0, 65535, 20)
      + struct.pack("<II", 6, 12 + len(epb_body)) + epb_body + struct.pack("<I", 12 + len(epb_body)))
# 11. Not a capture at all.
write("garbage.bin", b"GIF89a: this is not a capture file\n")
