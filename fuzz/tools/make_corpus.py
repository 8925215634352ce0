#!/usr/bin/env python3
"""Builds fuzz/corpus/<target>/ from real captures plus crafted frames.

Usage: make_corpus.py CAPTURE.pcap... (see capture.sh for how the captures
are made: Linux in two private network namespaces on TEST-NET-1).

File names tell tests/fuzz_corpus.rs what to expect from the strict parse:
  ok-*   must parse (real frames, well-formed crafted ones)
  bad-*  must fail (crafted malformed ones)
  other  (e.g. files cargo-fuzz adds) must merely not panic.

Checksums here are computed in Python, independently of synack.
"""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
TARGETS = ["ethernet", "ipv4", "tcp_segment", "tcp_options", "udp", "icmpv4", "arp"]


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def pseudo(src, dst, proto, length):
    return src + dst + bytes([0, proto]) + struct.pack("!H", length)


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, "Ethernet captures only"
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        yield data[off + 16:off + 16 + incl]
        off += 16 + incl


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".bin"), "wb") as f:
        f.write(data)


def tcp_option_kinds(opts):
    kinds, i = [], 0
    while i < len(opts):
        k = opts[i]
        if k in (0, 1):
            kinds.append(str(k))
            if k == 0:
                break
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        kinds.append("%d.%d" % (k, opts[i + 1]))
        i += opts[i + 1]
    return tuple(kinds)


def split(frame):
    """(ethertype, ip, l4proto, l4) for a frame; missing parts are None."""
    et = struct.unpack("!H", frame[12:14])[0]
    if et != 0x0800:
        return et, None, None, None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    ip = ip[:total]
    return et, ip, ip[9], ip[ihl:]


FLAGS = "FSRP.UEW"


def flag_text(b):
    return "".join(c for i, c in enumerate(FLAGS) if b & (1 << i)) or "none"


def from_captures(paths):
    seen = {}
    n = 0
    for path in paths:
        for frame in read_pcap(path):
            et, ip, proto, l4 = split(frame)
            if et == 0x0806:
                sig = ("arp", frame[21])
                name = "arp-op%d" % frame[21]
            elif ip is None:
                continue
            elif proto == 6:
                doff = (l4[12] >> 4) * 4
                opts = l4[20:doff]
                plen = len(l4) - doff
                size = "data" if plen > 1000 else ("small" if plen else "empty")
                kinds = tcp_option_kinds(opts)
                sig = ("tcp", l4[13], kinds, size)
                name = "tcp-%s-%s-opts%s" % (
                    flag_text(l4[13]).replace(".", "A"), size, "_".join(kinds) or "none")
            elif proto == 17:
                sig = ("udp", len(l4) > 8)
                name = "udp"
            elif proto == 1:
                sig = ("icmp", l4[0], l4[1])
                name = "icmp-t%d-c%d" % (l4[0], l4[1])
            else:
                continue
            count = seen.get(sig, 0)
            if count >= 2:
                continue
            seen[sig] = count + 1
            n += 1
            name = "ok-real-%02d-%s" % (n, name)
            write("ethernet", name, frame)
            if et == 0x0806:
                write("arp", name, frame[14:42])
                continue
            write("ipv4", name, ip)
            addrs = ip[12:20]
            if proto == 6:
                write("tcp_segment", name, addrs + l4)
                doff = (l4[12] >> 4) * 4
                if doff > 20:
                    write("tcp_options", name, l4[20:doff])
            elif proto == 17:
                write("udp", name, addrs + l4)
            elif proto == 1:
                write("icmpv4", name, l4)
    return n


A = bytes([192, 0, 2, 1])
B = bytes([192, 0, 2, 2])
MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def ipv4(payload, proto, src=A, dst=B, ident=1, flags_frag=0x4000, ttl=64, options=b""):
    ihl = 5 + len(options) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), ident,
                      flags_frag, ttl, proto, 0, src, dst) + options
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def tcp(flags, options=b"", payload=b"", seq=1000, ack=0, src=A, dst=B, doff=None, fix=True):
    options += bytes(-len(options) % 4)  # EOL padding
    off = doff if doff is not None else 5 + len(options) // 4
    seg = struct.pack("!HHIIBBHHH", 40000, 8080, seq, ack, off << 4, flags, 64240, 0, 0)
    seg += options + payload
    if fix:
        ck = csum(pseudo(src, dst, 6, len(seg)) + seg)
        seg = seg[:16] + struct.pack("!H", ck) + seg[18:]
    return seg


def udp(payload, src=A, dst=B, length=None):
    seg = struct.pack("!HHHH", 40000, 53, length if length is not None else 8 + len(payload), 0)
    seg += payload
    ck = csum(pseudo(src, dst, 17, len(seg)) + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", ck) + seg[8:]


def icmp(typ, code, rest, data):
    msg = bytes([typ, code, 0, 0]) + rest + data
    return msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]


def eth(payload, ethertype=0x0800):
    return MAC_B + MAC_A + struct.pack("!H", ethertype) + payload


def flip(data, at):
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def crafted():
    SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04
    mss = bytes([2, 4, 5, 0xB4])
    ts = bytes([1, 1, 8, 10]) + struct.pack("!II", 7, 9)
    # --- TCP options, good ---
    good_opts = {
        "exp-fastopen-cookie": mss + bytes([254, 12, 0xF9, 0x89]) + bytes(range(1, 9)),
        "exp-fastopen-request": mss + bytes([254, 4, 0xF9, 0x89]),
        "fastopen-16-byte-cookie": mss + bytes([34, 18]) + bytes(range(16)) + bytes([1, 1]),
        "sack-4-blocks": bytes([1, 1, 5, 34]) + b"".join(struct.pack("!II", i * 100, i * 100 + 50) for i in range(4)),
        "unknown-kind-then-mss": bytes([99, 6, 1, 2, 3, 4]) + bytes([2, 4, 5, 0xB4, 1, 1]),
        "kind-254-other-magic": bytes([254, 4, 0x12, 0x34]),
        "eol-then-garbage": mss + bytes([0, 0xFF, 0xFF, 0xFF]),
        "bad-fastopen-cookie-length-is-flagged": bytes([34, 4, 1, 2]),
        "wscale-15": bytes([1, 3, 3, 15]),
        "duplicate-mss": mss + bytes([2, 4, 0x02, 0x18]),
    }
    for name, o in good_opts.items():
        write("tcp_options", "ok-crafted-" + name, o)
        write("tcp_segment", "ok-crafted-" + name, A + B + tcp(SYN, o))
    bad_opts = {
        "length-0": bytes([2, 0, 5, 0xB4]),
        "length-1": bytes([1, 1, 8, 1]),
        "overrun": bytes([1, 1, 8, 10, 0, 0, 0, 1]),
        "kind-without-length": bytes([1, 1, 1, 2]),
        "mss-length-3": bytes([2, 3, 5, 1]),
        "wscale-length-4": bytes([3, 4, 7, 0]),
        "sackok-length-3": bytes([4, 3, 0, 1]),
        "ts-length-9": bytes([8, 9]) + bytes(7) + bytes([1]),
        "sack-length-11": bytes([5, 11]) + bytes(9) + bytes([1]),
        "sack-length-2": bytes([5, 2, 1, 1]),
        "unknown-overrun": bytes([99, 40, 0, 0]),
    }
    for name, o in bad_opts.items():
        write("tcp_options", "bad-" + name, o)
        write("tcp_segment", "bad-options-" + name, A + B + tcp(ACK, o))
        write("ethernet", "bad-tcp-options-" + name, eth(ipv4(tcp(ACK, o), 6)))
    # --- TCP segments ---
    good = tcp(PSH | ACK, ts, b"hello", ack=5)
    write("tcp_segment", "ok-crafted-data-with-ts", A + B + good)
    write("tcp_segment", "bad-checksum", A + B + flip(good, 30))
    write("tcp_segment", "bad-checksum-wrong-pseudo-header", A + bytes([192, 0, 2, 9]) + good)
    write("tcp_segment", "bad-data-offset-4", A + B + tcp(ACK, doff=4))
    write("tcp_segment", "bad-data-offset-0", A + B + tcp(ACK, doff=0))
    write("tcp_segment", "bad-data-offset-beyond-buffer", A + B + tcp(ACK, doff=15))
    write("tcp_segment", "bad-truncated-header", A + B + good[:19])
    write("tcp_segment", "bad-no-addresses", A)
    write("tcp_segment", "ok-crafted-syn-fin-urg-all-flags", A + B + tcp(0xFF, payload=b"u"))
    # --- IPv4 ---
    seg = tcp(RST | ACK, ack=1)
    dgram = ipv4(seg, 6)
    write("ipv4", "ok-crafted-rst", dgram)
    write("ipv4", "ok-crafted-with-options", ipv4(seg, 6, options=bytes([1, 1, 1, 0])))
    # IP options the host acts on (synack_proto::ip::options): ping -R's
    # record route, ping -T's timestamps, a source route (dropped), and
    # malformed ones (answered with a parameter problem; the wire parser
    # itself does not read options, so these parse).
    echo = icmp(8, 0, struct.pack("!HH", 7, 1), b"options")
    rr = bytes([1, 7, 39, 8]) + A + bytes(32)
    write("ipv4", "ok-crafted-echo-record-route", ipv4(echo, 1, options=rr))
    ts = bytes([68, 36, 5, 1]) + bytes(32)
    write("ipv4", "ok-crafted-echo-timestamps", ipv4(echo, 1, options=ts))
    lsrr = bytes([131, 7, 8]) + bytes([198, 51, 100, 1]) + bytes(1)
    write("ipv4", "ok-crafted-loose-source-route", ipv4(seg, 6, options=lsrr))
    # Routes that ended at the fuzzed stack (it takes them): an echo request
    # by way of two hops, answered back along them, and a UDP datagram.
    done = bytes([131, 11, 12, 198, 51, 100, 1, 198, 51, 100, 2, 0])
    write("ipv4", "ok-crafted-echo-by-loose-route", ipv4(echo, 1, options=done))
    write("ipv4", "ok-crafted-udp-by-strict-route", ipv4(udp(b"routed"), 17, options=bytes([137]) + done[1:]))
    write("ipv4", "ok-crafted-malformed-record-route", ipv4(echo, 1, options=bytes([7, 7, 3, 0, 0, 0, 0, 0])))
    write("ipv4", "ok-crafted-timestamp-overflowed", ipv4(echo, 1, options=bytes([68, 8, 9, 0xF0, 0, 0, 0, 0])))
    # IGMP (RFC 2236, RFC 3376): the fuzzed stack holds 239.1.2.3 (192.0.2.1
    # blocked) and 232.1.1.1 (from 192.0.2.1 only), so queries of every
    # version and datagrams to both groups meet its filters.
    ra = bytes([0x94, 4, 0, 0])
    all_hosts, ssm, anyg = bytes([224, 0, 0, 1]), bytes([232, 1, 1, 1]), bytes([239, 1, 2, 3])

    def igmp(body):
        return body[:2] + struct.pack("!H", csum(body)) + body[4:]

    def mcast(payload, proto, dst, src=A):
        return ipv4(payload, proto, src=src, dst=dst, ttl=1, flags_frag=0, options=ra)

    v3_general = igmp(bytes([0x11, 20, 0, 0]) + bytes(4) + bytes([2, 125, 0, 0]))
    write("ipv4", "ok-crafted-igmpv3-general-query", mcast(v3_general, 2, all_hosts))
    v3_sources = igmp(bytes([0x11, 10, 0, 0]) + ssm + bytes([2, 125, 0, 2]) + A + bytes([192, 0, 2, 9]))
    write("ipv4", "ok-crafted-igmpv3-group-and-source-query", mcast(v3_sources, 2, ssm))
    v3_group = igmp(bytes([0x11, 0x8C, 0, 0]) + anyg + bytes([0, 0x8F, 0, 0]))
    write("ipv4", "ok-crafted-igmpv3-group-query-float-times", mcast(v3_group, 2, anyg))
    v2_general = igmp(bytes([0x11, 100, 0, 0]) + bytes(4))
    write("ipv4", "ok-crafted-igmpv2-general-query", mcast(v2_general, 2, all_hosts))
    v1_general = igmp(bytes([0x11, 0, 0, 0]) + bytes(4))
    write("ipv4", "ok-crafted-igmpv1-general-query", mcast(v1_general, 2, all_hosts))
    v3_report = igmp(bytes([0x22, 0, 0, 0, 0, 0, 0, 2]) + bytes([5, 0, 0, 1]) + ssm + A
                     + bytes([4, 1, 0, 0]) + anyg + bytes(4))
    write("ipv4", "ok-crafted-igmpv3-report-with-aux-data", mcast(v3_report, 2, bytes([224, 0, 0, 22])))
    write("ipv4", "bad-igmpv3-query-sources-overrun",
          mcast(igmp(bytes([0x11, 10, 0, 0]) + ssm + bytes([2, 125, 0, 3]) + A), 2, ssm))
    write("ipv4", "bad-igmpv3-report-record-overrun",
          mcast(igmp(bytes([0x22, 0, 0, 0, 0, 0, 0, 1]) + bytes([1, 0, 0, 2]) + ssm + A), 2, bytes([224, 0, 0, 22])))
    write("ipv4", "bad-igmpv3-report-record-type-9",
          mcast(igmp(bytes([0x22, 0, 0, 0, 0, 0, 0, 1]) + bytes([9, 0, 0, 0]) + ssm), 2, bytes([224, 0, 0, 22])))
    for name, dst, src in [("ssm-from-its-source", ssm, A), ("ssm-from-another", ssm, bytes([192, 0, 2, 9])),
                           ("any-source-group-from-blocked", anyg, A)]:
        write("ipv4", "ok-crafted-udp-to-" + name, mcast(udp(b"group", src=src, dst=dst)[:], 17, dst, src=src))
    write("ipv4", "ok-crafted-fragment-mf", ipv4(b"\0" * 16, 6, flags_frag=0x2000))
    write("ipv4", "ok-crafted-fragment-last", ipv4(b"\0" * 16, 17, flags_frag=185))
    write("ipv4", "ok-crafted-unknown-protocol", ipv4(b"gre?", 47))
    write("ipv4", "bad-header-checksum", flip(dgram, 8))
    write("ipv4", "bad-version-6", bytes([0x65]) + dgram[1:])
    write("ipv4", "bad-ihl-4", bytes([0x44]) + dgram[1:])
    write("ipv4", "bad-ihl-beyond-buffer", bytes([0x4F]) + dgram[1:30])
    write("ipv4", "bad-total-length-below-header", dgram[:2] + struct.pack("!H", 19) + dgram[4:])
    write("ipv4", "bad-total-length-overrun", dgram[:2] + struct.pack("!H", len(dgram) + 1) + dgram[4:])
    write("ipv4", "bad-truncated-header", dgram[:19])
    write("ipv4", "bad-inner-tcp-checksum", dgram[:-1] + bytes([dgram[-1] ^ 0x10]))
    # --- Ethernet ---
    frame = eth(dgram)
    write("ethernet", "ok-crafted-rst-padded-to-60", frame + bytes(60 - len(frame)))
    write("ethernet", "ok-crafted-vlan-tagged-is-unknown", MAC_B + MAC_A + bytes([0x81, 0, 0, 1, 8, 0]) + dgram)
    write("ethernet", "ok-crafted-ipv6-ethertype", eth(bytes(40), 0x86DD))
    write("ethernet", "bad-truncated-header", frame[:13])
    write("ethernet", "bad-ipv4-truncated", frame[:30])
    # --- UDP ---
    d = udp(b"ping")
    write("udp", "ok-crafted-ping", A + B + d)
    write("udp", "ok-crafted-no-checksum", A + B + d[:6] + b"\0\0" + d[8:])
    write("udp", "ok-crafted-trailing-bytes", A + B + d + b"\xff\xff")
    write("udp", "bad-checksum", A + B + flip(d, 9))
    write("udp", "bad-length-7", A + B + d[:4] + struct.pack("!H", 7) + d[6:])
    write("udp", "bad-length-overrun", A + B + d[:4] + struct.pack("!H", 13) + d[6:])
    write("udp", "bad-truncated-header", A + B + d[:7])
    # --- ICMP ---
    quoted = ipv4(udp(b"q" * 8), 17)[:28]
    write("icmpv4", "ok-crafted-frag-needed-mtu-1400", icmp(3, 4, struct.pack("!HH", 0, 1400), quoted))
    write("icmpv4", "ok-crafted-time-exceeded", icmp(11, 0, bytes(4), quoted))
    write("icmpv4", "ok-crafted-unreachable-quoting-tcp", icmp(3, 1, bytes(4), ipv4(tcp(SYN, mss), 6)[:28]))
    write("icmpv4", "ok-crafted-echo-nonzero-code", icmp(8, 3, bytes(4), b"x"))
    write("icmpv4", "ok-crafted-timestamp-request", icmp(13, 0, bytes(4), bytes(12)))
    echo = icmp(8, 0, struct.pack("!HH", 1, 1), b"abcdefgh")
    write("icmpv4", "bad-checksum", flip(echo, 9))
    write("icmpv4", "bad-truncated-header", echo[:7])
    write("icmpv4", "bad-quoted-data-under-8-bytes", icmp(3, 3, bytes(4), quoted[:27]))
    write("icmpv4", "bad-quoted-not-ipv4", icmp(3, 3, bytes(4), bytes([0x60]) + quoted[1:]))
    write("icmpv4", "bad-quoted-ihl-4", icmp(3, 3, bytes(4), bytes([0x44]) + quoted[1:]))
    write("icmpv4", "bad-quoted-header-short", icmp(11, 0, bytes(4), quoted[:12]))
    write("ethernet", "ok-crafted-time-exceeded", eth(ipv4(icmp(11, 0, bytes(4), quoted), 1)))
    # --- ARP ---
    req = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_A, A, bytes(6), B)
    write("arp", "ok-crafted-gratuitous", struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_A, A, bytes(6), A))
    write("arp", "ok-crafted-rarp-opcode", req[:6] + struct.pack("!H", 3) + req[8:])
    write("arp", "bad-htype-ieee802", struct.pack("!H", 6) + req[2:])
    write("arp", "bad-ptype-ipv6", req[:2] + struct.pack("!H", 0x86DD) + req[4:])
    write("arp", "bad-hlen-8", req[:4] + bytes([8]) + req[5:] + bytes(4))
    write("arp", "bad-hlen-4", req[:4] + bytes([4]) + req[5:])
    write("arp", "bad-truncated", req[:27])
    write("ethernet", "bad-arp-truncated", eth(req[:20], 0x0806))


def main():
    for t in TARGETS:
        d = os.path.join(ROOT, t)
        if os.path.isdir(d):
            for f in os.listdir(d):
                if f.startswith(("ok-", "bad-")):
                    os.remove(os.path.join(d, f))
    n = from_captures(sys.argv[1:])
    crafted()
    print("%d real frames selected" % n)
    for t in TARGETS:
        print(t, len(os.listdir(os.path.join(ROOT, t))))


if __name__ == "__main__":
    main()
