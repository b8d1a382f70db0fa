#!/usr/bin/env python3
"""Writes crafted.pcap: hand-built frames of every kind the tracer must describe, including broken ones.

The frames are built here (not captured) so that each odd case appears exactly once; tcpdump's text for them is
the reference the formatter tests compare against. Run: python3 make-crafted.py (writes next to itself).
"""
import os, struct

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

A_MAC = bytes.fromhex('020000000001'); B_MAC = bytes.fromhex('020000000002'); BCAST = b'\xff' * 6
A = bytes([10, 9, 0, 1]); B = bytes([10, 9, 0, 2]); C = bytes([10, 9, 0, 3])

def eth(dst, src, etype, payload): return dst + src + struct.pack('!H', etype) + payload

def ip(src, dst, proto, payload, ident=1, ttl=64, flags_off=0x4000, tos=0, total=None, ihl=5, options=b'', bad_sum=False):
    hl = ihl * 4
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, tos, total if total is not None else 20 + len(options) + len(payload),
                    ident, flags_off, ttl, proto, 0, src, dst) + options
    s = csum(h[:max(20, len(h))])
    if bad_sum: s ^= 0x1234
    return h[:10] + struct.pack('!H', s) + h[12:] + payload

def icmp(t, c, rest, data=b'', bad_sum=False):
    m = struct.pack('!BBH', t, c, 0) + rest + data
    s = csum(m)
    if bad_sum: s ^= 0x0101
    return m[:2] + struct.pack('!H', s) + m[4:]

def pseudo(src, dst, proto, seg): return src + dst + struct.pack('!BBH', 0, proto, len(seg))

def udp(src, dst, sport, dport, data, sum_mode='ok'):
    seg = struct.pack('!HHHH', sport, dport, 8 + len(data), 0) + data
    if sum_mode == 'none': return seg
    s = csum(pseudo(src, dst, 17, seg) + seg) or 0xffff
    if sum_mode == 'bad': s ^= 0x00ff
    return seg[:6] + struct.pack('!H', s) + seg[8:]

def tcp(src, dst, sport, dport, seq, ack, flags, win, opts=b'', data=b'', urg=0, bad_sum=False):
    while len(opts) % 4: opts += b'\x01'
    off = (20 + len(opts)) // 4
    seg = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, off << 4, flags, win, 0, urg) + opts + data
    s = csum(pseudo(src, dst, 6, seg) + seg)
    if bad_sum: s ^= 0x0f0f
    return seg[:16] + struct.pack('!H', s) + seg[18:]

def arp(op, sha, spa, tha, tpa, hw=1, pro=0x0800, hl=6, pl=4):
    return struct.pack('!HHBBH', hw, pro, hl, pl, op) + sha + spa + tha + tpa

MSS = b'\x02\x04\x05\xb4'; SACKOK = b'\x04\x02'; NOP = b'\x01'; WS = b'\x03\x03\x07'
def ts(v, e): return b'\x08\x0a' + struct.pack('!II', v, e)

frames = []
add = frames.append
# Frames outside what the tracer matches tcpdump on (other protocols): it must give them one line, not tcpdump's.
others = []
ping_data = bytes(range(56))
# ARP: request, reply, announcement, probe, request with a target MAC, padded to 60 bytes, truncated, not ethernet/ipv4, unknown op
add(eth(BCAST, A_MAC, 0x0806, arp(1, A_MAC, A, b'\0' * 6, B)))
add(eth(A_MAC, B_MAC, 0x0806, arp(2, B_MAC, B, A_MAC, A)))
add(eth(BCAST, B_MAC, 0x0806, arp(1, B_MAC, B, b'\0' * 6, B)))
add(eth(BCAST, B_MAC, 0x0806, arp(1, B_MAC, b'\0' * 4, b'\0' * 6, B)))
add(eth(B_MAC, A_MAC, 0x0806, arp(1, A_MAC, A, B_MAC, B)))
add(eth(BCAST, A_MAC, 0x0806, arp(1, A_MAC, A, b'\0' * 6, C) + b'\0' * 18))
add(eth(BCAST, A_MAC, 0x0806, arp(1, A_MAC, A, b'\0' * 6, B)[:20]))
add(eth(BCAST, A_MAC, 0x0806, arp(1, A_MAC, A, b'\0' * 6, B, hw=6)))
add(eth(BCAST, A_MAC, 0x0806, arp(9, A_MAC, A, b'\0' * 6, B)))
add(eth(A_MAC, B_MAC, 0x0806, arp(2, B_MAC, B, BCAST, A)))
# ICMP echo and friends
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 77, 1), ping_data))))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(0, 0, struct.pack('!HH', 77, 1), ping_data), flags_off=0)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 78, 2), ping_data, bad_sum=True))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 79, 3), ping_data), bad_sum=True)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 80, 4), ping_data), tos=0x10, ttl=1)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 80, 5), ping_data), tos=0x03)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 80, 6), ping_data), tos=0x02)))
inner_udp = ip(A, C, 17, udp(A, C, 40000, 7777, b'hello'), ident=4242)
inner_tcp = ip(A, C, 6, tcp(A, C, 40001, 8080, 1000, 0, 0x02, 64240), ident=4243)
inner_icmp = ip(A, C, 1, icmp(8, 0, struct.pack('!HH', 9, 9), b'abcd'), ident=4244)
inner_gre = ip(A, C, 253, b'\0' * 8, ident=4245)
for code in range(0, 16):
    inner = inner_udp if code != 2 else inner_gre
    add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(3, code, struct.pack('!HH', 0, 1400 if code == 4 else 0), inner[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(3, 3, b'\0' * 4, inner_tcp[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(3, 3, b'\0' * 4, inner_gre[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(3, 4, b'\0' * 4, inner_udp[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(3, 99, b'\0' * 4, inner_udp[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(11, 0, b'\0' * 4, inner_icmp[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(11, 1, b'\0' * 4, inner_icmp[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(11, 5, b'\0' * 4, inner_icmp[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(5, 1, C, inner_icmp[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(5, 0, C, inner_icmp[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(4, 0, b'\0' * 4, inner_icmp[:28]), flags_off=0)))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(12, 0, b'\x14\0\0\0', inner_icmp[:28]), flags_off=0)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(13, 0, struct.pack('!HH', 5, 6), b'\0' * 12))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(10, 0, b'\0' * 4))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(42, 0, b'\0' * 4))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, b'\0\x01')[:6])))
# UDP
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 17, udp(A, B, 40000, 7777, b'hello'))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 17, udp(A, B, 40000, 7777, b'hello', 'bad'))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 17, udp(A, B, 40000, 7777, b'hello', 'none'))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 17, udp(A, B, 40000, 7777, b''))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 17, udp(A, B, 40000, 7777, b'x' * 30)[:4])))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 17, struct.pack('!HHHH', 40000, 7777, 100, 0) + b'abc')))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 17, struct.pack('!HHHH', 40000, 7777, 4, 0) + b'abc')))
# TCP: handshake, data, sack, fin, rst, urgent, no flags, ece/cwr, bad checksum, bad offset
S, K = 0x10000000, 0xabcdef00
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45000, 9000, S, 0, 0x02, 64240, MSS + SACKOK + ts(100, 0) + NOP + WS))))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 6, tcp(B, A, 9000, 45000, K, S + 1, 0x12, 65160, MSS + SACKOK + ts(200, 100) + NOP + WS))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45000, 9000, S + 1, K + 1, 0x10, 502, NOP + NOP + ts(101, 200)))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45000, 9000, S + 1, K + 1, 0x18, 502, NOP + NOP + ts(102, 200), b'hello\n'))))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 6, tcp(B, A, 9000, 45000, K + 1, S + 7, 0x10, 509, NOP + NOP + ts(201, 102)))))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 6, tcp(B, A, 9000, 45000, K + 1, S + 7, 0x18, 509, NOP + NOP + ts(202, 102), b'world!\n'))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45000, 9000, S + 7, K + 1, 0x10, 502, NOP + NOP + b'\x05\x0a' + struct.pack('!II', K + 3, K + 5)))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45000, 9000, S + 7, K + 8, 0x11, 502, NOP + NOP + ts(103, 202)))))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 6, tcp(B, A, 9000, 45000, K + 8, S + 8, 0x11, 509, NOP + NOP + ts(203, 103)))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45000, 9000, S + 8, K + 9, 0x10, 502, NOP + NOP + ts(104, 203)))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45001, 9001, 5000, 0, 0x02, 64240, MSS))))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 6, tcp(B, A, 9001, 45001, 0, 5001, 0x14, 0))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45002, 9002, 7, 0, 0x04, 0))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45003, 9003, 7, 9, 0x38, 100, b'', b'urgent', urg=3))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45004, 9004, 7, 9, 0x00, 100))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45005, 9005, 7, 0, 0xc2, 100))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45006, 9006, 7, 0, 0x02, 100, MSS, bad_sum=True))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45007, 9007, 7, 0, 0x02, 100)[:12])))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45008, 9008, 7, 0, 0x02, 100, b'\x02\x04\x05')[:22])))
others.append(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45009, 9009, 7, 0, 0x02, 100, b'\x1e\x04\x01\x02\x00\x00'))))
# IPv4 oddities: fragments, options, bad header length, bad total length, truncated, version 5, unknown protocol
big = icmp(8, 0, struct.pack('!HH', 99, 1), bytes(1600))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, big[:1480], ident=555, flags_off=0x2000, total=1500)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, big[1480:], ident=555, flags_off=185)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 17, udp(A, B, 1, 2, bytes(40))[16:], ident=556, flags_off=0x2000 | 2)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, bytes(40), ident=557, flags_off=0x0000 | 10)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)), ihl=6, options=b'\x01\x01\x01\x00')))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)), ihl=4)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)), total=1000)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)), total=12)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)))[:14]))
add(eth(B_MAC, A_MAC, 0x0800, b'\x55' + ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)))[1:]))
others.append(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 47, b'\0' * 8)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 253, b'\0' * 8)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)), flags_off=0x8000)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)), ttl=0)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 2), ping_data)) + b'\0' * 10))
# More ICMP queries, IP options and TCP options, each once
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(14, 0, struct.pack('!HH', 5, 6), struct.pack('!III', 1000, 2000, 3000)))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(15, 0, struct.pack('!HH', 5, 6)))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(17, 0, struct.pack('!HH', 5, 6), b'\0' * 4))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(9, 0, struct.pack('!BBH', 1, 2, 1800), A + b'\0\0\0\0'))))
add(eth(A_MAC, B_MAC, 0x0800, ip(B, A, 1, icmp(12, 1, b'\0' * 4, inner_icmp[:28]), flags_off=0)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)), ihl=6, options=b'\x94\x04\x00\x00')))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)), ihl=8, options=b'\x07\x0b\x04' + A + bytes(4) + b'\x00')))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)), flags_off=0x6000 | 3)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45010, 9010, 7, 0, 0x02, 100, b'\x13\x12' + bytes(16)))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45011, 9011, 7, 0, 0x02, 100, b'\x99\x04\xab\xcd'))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45012, 9012, 7, 0, 0x02, 100, b'\x02\x03\x05'))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45013, 9013, 7, 0, 0x02, 100, b'\x03\x01\x07'))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45014, 9014, 7, 0, 0x02, 100, b'\x08\x0a' + bytes(8) + b'\x04\x03\x00'))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, tcp(A, B, 45015, 9015, 7, 0, 0x02, 100)[:20] + b'xyz', total=20 + 23)))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 6, struct.pack('!HHIIBBHHH', 45016, 9016, 7, 0, 0x30, 0x02, 100, 0, 0))))
add(eth(B_MAC, A_MAC, 0x0800, ip(A, B, 17, udp(A, B, 40000, 7777, b'hello'), flags_off=0x2000)))
# Other link-layer content: IPv6, unknown ethertype, 802.3 length field, VLAN, runt
others.append(eth(B_MAC, A_MAC, 0x86dd, bytes.fromhex('6000000000083a40') + bytes(16) + bytes(15) + b'\x01' + bytes.fromhex('8000000000010001')))
add(eth(B_MAC, A_MAC, 0x88b5, b'local experimental'))
others.append(eth(B_MAC, A_MAC, 0x0040, b'\xaa\xaa\x03' + bytes(61)))
add(eth(B_MAC, A_MAC, 0x8100, b'\x00\x05\x08\x00' + ip(A, B, 1, icmp(8, 0, struct.pack('!HH', 1, 1)))))
add(B_MAC + A_MAC[:4])

def write(name, frames):
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    with open(out, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        t = 1700000000
        for i, fr in enumerate(frames):
            f.write(struct.pack('<IIII', t + i // 4, (i % 4) * 250000 + i, len(fr), len(fr)) + fr)
    print(out, len(frames), 'frames')

write('crafted.pcap', frames)
write('others.pcap', others)
