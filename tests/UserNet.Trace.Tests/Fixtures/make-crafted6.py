#!/usr/bin/env python3
"""Writes crafted6.pcap (Ethernet) and cooked-sll.pcap, cooked-sll2.pcap, raw.pcap, raw4.pcap, raw6.pcap: hand-built
IPv6, ICMPv6 (RFC 4443), neighbour and router discovery (RFC 4861), MLD (RFC 2710, RFC 3810), TCP and UDP over
IPv6, DNS (RFC 1035) and HTTP frames, including broken and hostile ones, and the same packets under the Linux cooked
and raw-IP link types. tcpdump's text for them is the reference the formatter tests compare against.
Run: python3 make-crafted6.py (writes next to itself).
"""
import os, struct

def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def a6(s):
    import ipaddress
    return ipaddress.IPv6Address(s).packed

A_MAC = bytes.fromhex('020000000001'); B_MAC = bytes.fromhex('020000000002')
LA = a6('fe80::1'); LB = a6('fe80::2'); UA = a6('fd00::1'); UB = a6('fd00::2'); ANY = a6('::')
A4 = bytes([10, 9, 0, 1]); B4 = bytes([10, 9, 0, 2])

def mmac(dst): return b'\x33\x33' + dst[12:]
def eth(dst, src, etype, payload): return dst + src + struct.pack('!H', etype) + payload
def eth6(src_mac, dst_ip, pkt): return eth(mmac(dst_ip) if dst_ip[0] == 0xff else (B_MAC if src_mac == A_MAC else A_MAC), src_mac, 0x86dd, pkt)

def ip6(src, dst, nh, payload, hlim=64, flow=0, tc=0, plen=None):
    return struct.pack('!IHBB', (6 << 28) | (tc << 20) | flow, len(payload) if plen is None else plen, nh, hlim) + src + dst + payload

def pseudo6(src, dst, nh, seg): return src + dst + struct.pack('!IxxxB', len(seg), nh)

def icmp6(src, dst, t, c, body, bad=False):
    m = struct.pack('!BBH', t, c, 0) + body
    s = csum(pseudo6(src, dst, 58, m) + m)
    if bad: s ^= 0x0101
    return m[:2] + struct.pack('!H', s) + m[4:]

def udp6(src, dst, sport, dport, data, bad=False):
    seg = struct.pack('!HHHH', sport, dport, 8 + len(data), 0) + data
    s = csum(pseudo6(src, dst, 17, seg) + seg) or 0xffff
    if bad: s ^= 0x00ff
    return seg[:6] + struct.pack('!H', s) + seg[8:]

def pseudo4(src, dst, proto, seg): return src + dst + struct.pack('!BBH', 0, proto, len(seg))

def ip4(src, dst, proto, payload, ident=1, ttl=64):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), ident, 0x4000, ttl, proto, 0, src, dst)
    return h[:10] + struct.pack('!H', csum(h)) + h[12:] + payload

def udp4(src, dst, sport, dport, data):
    seg = struct.pack('!HHHH', sport, dport, 8 + len(data), 0) + data
    s = csum(pseudo4(src, dst, 17, seg) + seg) or 0xffff
    return seg[:6] + struct.pack('!H', s) + seg[8:]

def tcp_seg(pseudo, sport, dport, seq, ack, flags, win, opts=b'', data=b'', bad=False):
    while len(opts) % 4: opts += b'\x01'
    off = (20 + len(opts)) // 4
    seg = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, off << 4, flags, win, 0, 0) + opts + data
    s = csum(pseudo(seg) + seg)
    if bad: s ^= 0x0f0f
    return seg[:16] + struct.pack('!H', s) + seg[18:]

def tcp6(src, dst, *a, **k): return tcp_seg(lambda seg: pseudo6(src, dst, 6, seg), *a, **k)
def tcp4(src, dst, *a, **k): return tcp_seg(lambda seg: pseudo4(src, dst, 6, seg), *a, **k)

def hbh(nh, opts):
    body = bytes([nh, 0]) + opts
    while len(body) % 8: body += b'\x00'
    return bytes([nh, len(body) // 8 - 1]) + body[2:]
RA_OPT = b'\x05\x02\x00\x00'; PADN2 = b'\x01\x00'

def lladdr(t, mac): return bytes([t, 1]) + mac

def name(n):
    out = b''
    for label in n.rstrip('.').split('.'):
        if label: out += bytes([len(label)]) + label.encode()
    return out + b'\x00'

def dns(ident, flags, qd=(), an=(), ns=(), ar=()):
    h = struct.pack('!HHHHHH', ident, flags, len(qd), len(an), len(ns), len(ar))
    return h + b''.join(qd) + b''.join(an) + b''.join(ns) + b''.join(ar)
def q(n, t, c=1): return (name(n) if isinstance(n, str) else n) + struct.pack('!HH', t, c)
def rr(n, t, rdata, ttl=300, c=1): return (name(n) if isinstance(n, str) else n) + struct.pack('!HHIH', t, c, ttl, len(rdata)) + rdata
PTR0 = b'\xc0\x0c'  # a compression pointer to the question's name (offset 12)
OPT = b'\x00' + struct.pack('!HHIH', 41, 1232, 0, 0)

frames = []
add = frames.append
mld_group = a6('ff02::1:ff00:1')
# MLDv2 report with a router alert in a hop-by-hop header, as the kernel sends it when a link comes up (RFC 3810 5.2)
add(eth6(A_MAC, a6('ff02::16'), ip6(ANY, a6('ff02::16'), 0, hbh(58, RA_OPT + PADN2) + icmp6(ANY, a6('ff02::16'), 143, 0, struct.pack('!HH', 0, 1) + struct.pack('!BBH', 4, 0, 0) + mld_group), hlim=1)))
add(eth6(A_MAC, a6('ff02::16'), ip6(LA, a6('ff02::16'), 0, hbh(58, RA_OPT + PADN2) + icmp6(LA, a6('ff02::16'), 143, 0, struct.pack('!HH', 0, 2) + struct.pack('!BBH', 1, 0, 2) + a6('ff05::2') + UA + UB + struct.pack('!BBH', 3, 0, 0) + a6('ff02::fb')), hlim=1)))
# MLDv1 query, report, done (RFC 2710 3); an MLDv2 query (RFC 3810 5.1)
add(eth6(A_MAC, a6('ff02::1'), ip6(LA, a6('ff02::1'), 0, hbh(58, RA_OPT + PADN2) + icmp6(LA, a6('ff02::1'), 130, 0, struct.pack('!HH', 10000, 0) + ANY), hlim=1)))
add(eth6(A_MAC, a6('ff02::fb'), ip6(LA, a6('ff02::fb'), 0, hbh(58, RA_OPT + PADN2) + icmp6(LA, a6('ff02::fb'), 131, 0, struct.pack('!HH', 0, 0) + a6('ff02::fb')), hlim=1)))
add(eth6(A_MAC, a6('ff02::2'), ip6(LA, a6('ff02::2'), 0, hbh(58, RA_OPT + PADN2) + icmp6(LA, a6('ff02::2'), 132, 0, struct.pack('!HH', 0, 0) + a6('ff02::fb')), hlim=1)))
add(eth6(A_MAC, a6('ff02::1'), ip6(LA, a6('ff02::1'), 0, hbh(58, RA_OPT + PADN2) + icmp6(LA, a6('ff02::1'), 130, 0, struct.pack('!HH', 10000, 0) + ANY + struct.pack('!BBH', 2, 125, 1) + UA), hlim=1)))
# Router solicitation with and without a source link-layer address, router advertisement with options (RFC 4861 4.1, 4.2, 4.6)
add(eth6(A_MAC, a6('ff02::2'), ip6(LA, a6('ff02::2'), 58, icmp6(LA, a6('ff02::2'), 133, 0, bytes(4) + lladdr(1, A_MAC)), hlim=255)))
add(eth6(A_MAC, a6('ff02::2'), ip6(ANY, a6('ff02::2'), 58, icmp6(ANY, a6('ff02::2'), 133, 0, bytes(4)), hlim=255)))
prefix_opt = struct.pack('!BBBBIII', 3, 4, 64, 0xc0, 2592000, 604800, 0) + a6('fd00::')
mtu_opt = struct.pack('!BBHI', 5, 1, 0, 1500)
rdnss_opt = struct.pack('!BBHI', 25, 3, 0, 600) + UA
add(eth6(B_MAC, a6('ff02::1'), ip6(LB, a6('ff02::1'), 58, icmp6(LB, a6('ff02::1'), 134, 0, struct.pack('!BBHII', 64, 0x80, 1800, 0, 0) + lladdr(1, B_MAC) + mtu_opt + prefix_opt + rdnss_opt), hlim=255)))
# Neighbour solicitation for duplicate address detection, and with a source link-layer address; advertisements (RFC 4861 4.3, 4.4)
add(eth6(A_MAC, a6('ff02::1:ff00:1'), ip6(ANY, a6('ff02::1:ff00:1'), 58, icmp6(ANY, a6('ff02::1:ff00:1'), 135, 0, bytes(4) + UA), hlim=255)))
add(eth6(A_MAC, a6('ff02::1:ff00:2'), ip6(UA, a6('ff02::1:ff00:2'), 58, icmp6(UA, a6('ff02::1:ff00:2'), 135, 0, bytes(4) + UB + lladdr(1, A_MAC)), hlim=255)))
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 136, 0, struct.pack('!I', 0x60000000) + UB + lladdr(2, B_MAC)), hlim=255)))
add(eth6(B_MAC, a6('ff02::1'), ip6(UB, a6('ff02::1'), 58, icmp6(UB, a6('ff02::1'), 136, 0, struct.pack('!I', 0xa0000000) + UB), hlim=255)))
# Redirect (RFC 4861 4.5)
add(eth6(B_MAC, UA, ip6(LB, UA, 58, icmp6(LB, UA, 137, 0, bytes(4) + LB + a6('fd00::99') + lladdr(2, B_MAC)), hlim=255)))
# Echo request and reply (RFC 4443 4.1, 4.2), one with a bad checksum
payload = bytes(range(56))
add(eth6(A_MAC, UB, ip6(UA, UB, 58, icmp6(UA, UB, 128, 0, struct.pack('!HH', 1, 1) + payload), flow=0x12345)))
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 129, 0, struct.pack('!HH', 1, 1) + payload), tc=0xb8)))
add(eth6(A_MAC, UB, ip6(UA, UB, 58, icmp6(UA, UB, 128, 0, struct.pack('!HH', 1, 2) + payload, bad=True))))
# Errors with the packet that caused them (RFC 4443 3.1-3.4)
inner_udp = ip6(UA, UB, 17, udp6(UA, UB, 40000, 7778, b'anyone?'))
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 1, 4, bytes(4) + inner_udp))))
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 1, 0, bytes(4) + inner_udp))))
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 1, 3, bytes(4) + inner_udp))))
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 2, 0, struct.pack('!I', 1280) + ip6(UA, UB, 58, icmp6(UA, UB, 128, 0, struct.pack('!HH', 2, 1) + bytes(1400)))[:1232]))))
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 3, 0, bytes(4) + ip6(UA, a6('fd01::9'), 17, udp6(UA, a6('fd01::9'), 40001, 33434, bytes(12)), hlim=1)))))
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 4, 1, struct.pack('!I', 40) + inner_udp))))
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 200, 0, bytes(8)))))
# UDP over IPv6: good, bad checksum, zero checksum; a fragmented datagram (RFC 8200 4.5)
add(eth6(A_MAC, UB, ip6(UA, UB, 17, udp6(UA, UB, 40000, 7777, b'hello'))))
add(eth6(B_MAC, UA, ip6(UB, UA, 17, udp6(UB, UA, 7777, 40000, b'HELLO', bad=True))))
add(eth6(A_MAC, UB, ip6(UA, UB, 17, struct.pack('!HHHH', 40000, 7777, 13, 0) + b'zero!')))
big = udp6(UA, UB, 40002, 7777, bytes(3000))
add(eth6(A_MAC, UB, ip6(UA, UB, 44, struct.pack('!BBHI', 17, 0, 0 | 1, 0xabcd) + big[:1448])))
add(eth6(A_MAC, UB, ip6(UA, UB, 44, struct.pack('!BBHI', 17, 0, 1448, 0xabcd) + big[1448:])))
# Destination options, unknown next header, no next header
add(eth6(A_MAC, UB, ip6(UA, UB, 60, hbh(17, b'\x01\x04\x00\x00\x00\x00') + udp6(UA, UB, 40000, 7777, b'opt'))))
add(eth6(A_MAC, UB, ip6(UA, UB, 253, b'experiment')))
add(eth6(A_MAC, UB, ip6(UA, UB, 59, b'')))
# TCP over IPv6: handshake, an HTTP request and response (port 80, 8080), close
def t6(frm, to, mac, *a, **k): add(eth6(mac, to, ip6(frm, to, 6, tcp6(frm, to, *a, **k))))
SYNOPT = b'\x02\x04\x05\xa0\x04\x02\x08\x0a' + struct.pack('!II', 1000, 0) + b'\x01\x03\x03\x07'
t6(UA, UB, A_MAC, 50000, 80, 1000, 0, 0x02, 64800, SYNOPT)
t6(UB, UA, B_MAC, 80, 50000, 5000, 1001, 0x12, 64260, SYNOPT)
t6(UA, UB, A_MAC, 50000, 80, 1001, 5001, 0x10, 507)
req = b'GET /index.html HTTP/1.1\r\nHost: [fd00::2]\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n'
t6(UA, UB, A_MAC, 50000, 80, 1001, 5001, 0x18, 507, data=req)
t6(UB, UA, B_MAC, 80, 50000, 5001, 1001 + len(req), 0x10, 502)
resp = b'HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nContent-type: text/html\r\nContent-Length: 5\r\n\r\nhello'
t6(UB, UA, B_MAC, 80, 50000, 5001, 1001 + len(req), 0x18, 502, data=resp)
t6(UA, UB, A_MAC, 50000, 80, 1001 + len(req), 5001 + len(resp), 0x11, 507, bad=True)
t6(UA, UB, A_MAC, 50001, 8080, 1, 1, 0x18, 507, data=b'POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n')
t6(UA, UB, A_MAC, 50002, 3128, 1, 1, 0x18, 507, data=b'CONNECT example.com:443 HTTP/1.1\r\n\r\n')
t6(UA, UB, A_MAC, 50003, 80, 1, 1, 0x18, 507, data=b'not http at all\r\n')
t6(UA, UB, A_MAC, 50004, 80, 1, 1, 0x18, 507, data=b'GET /no-end-of-line')
# DNS over UDP (RFC 1035 4.1): queries, answers of each common type, NXDomain, EDNS, compression, hostile loops
def d6(frm, to, mac, sport, dport, msg): add(eth6(mac, to, ip6(frm, to, 17, udp6(frm, to, sport, dport, msg))))
def d4(frm, to, mac, sport, dport, msg): add(eth(B_MAC if mac == A_MAC else A_MAC, mac, 0x0800, ip4(frm, to, 17, udp4(frm, to, sport, dport, msg))))
d4(A4, B4, A_MAC, 40053, 53, dns(12345, 0x0100, [q('example.com', 1)]))
d4(B4, A4, B_MAC, 53, 40053, dns(12345, 0x8180, [q('example.com', 1)], [rr(PTR0, 1, bytes([93, 184, 216, 34]))]))
d6(UA, UB, A_MAC, 40054, 53, dns(2, 0x0100, [q('example.com', 28)], ar=[OPT]))
d6(UB, UA, B_MAC, 53, 40054, dns(2, 0x8180, [q('example.com', 28)], [rr(PTR0, 28, a6('2606:2800:220:1:248:1893:25c8:1946'))], ar=[OPT]))
d4(A4, B4, A_MAC, 40055, 53, dns(3, 0x0100, [q('www.example.org', 1)]))
d4(B4, A4, B_MAC, 53, 40055, dns(3, 0x8580, [q('www.example.org', 1)], [rr(PTR0, 5, name('example.org')), rr(name('example.org'), 1, A4, ttl=60)], [rr(name('example.org'), 2, name('ns1.example.org'))], [rr(name('ns1.example.org'), 1, B4)]))
d4(A4, B4, A_MAC, 40056, 53, dns(4, 0x0100, [q('1.0.9.10.in-addr.arpa', 12)]))
d4(B4, A4, B_MAC, 53, 40056, dns(4, 0x8180, [q('1.0.9.10.in-addr.arpa', 12)], [rr(PTR0, 12, name('a.example.net'))]))
d4(A4, B4, A_MAC, 40057, 53, dns(5, 0x0100, [q('example.com', 15)]))
d4(B4, A4, B_MAC, 53, 40057, dns(5, 0x8180, [q('example.com', 15)], [rr(PTR0, 15, struct.pack('!H', 10) + b'\x04mail' + PTR0), rr(PTR0, 16, b'\x05hello\x05world')]))
d4(B4, A4, B_MAC, 53, 40058, dns(6, 0x8183, [q('nope.example.com', 1)], ns=[rr(name('example.com'), 6, name('ns1.example.com') + name('hostmaster.example.com') + struct.pack('!IIIII', 1, 7200, 3600, 1209600, 300))]))
d4(B4, A4, B_MAC, 53, 40059, dns(7, 0x8182, [q('example.com', 255)]))
d4(A4, B4, A_MAC, 40060, 53, dns(8, 0x0000, [q('example.com', 33), q('example.com', 99)]))
d4(A4, B4, A_MAC, 40061, 53, struct.pack('!HHHHHH', 9, 0x0100, 1, 0, 0, 0) + b'\xc0\x0c\x00\x01\x00\x01')
d4(A4, B4, A_MAC, 40062, 53, struct.pack('!HHHHHH', 10, 0x0100, 1, 0, 0, 0) + b'\x01a\xc0\x0e\x00\x01\x00\x01')
d4(A4, B4, A_MAC, 40063, 53, dns(11, 0x0100, [q('example.com', 1)])[:20])
d4(A4, B4, A_MAC, 40064, 53, b'\x00\x0c\x01')
d4(B4, A4, B_MAC, 53, 40065, dns(12, 0x8180, [q('example.com', 1)], [rr(PTR0, 1, bytes([93, 184, 216, 34]))])[:-2])
d4(A4, B4, A_MAC, 40066, 53, struct.pack('!HHHHHH', 13, 0x0100, 1, 0, 0, 0) + b'\x41' + b'x' * 65 + b'\x00\x00\x01\x00\x01')
# More DNS: other classes and types, flags (TC, AD, CD), an SOA and SRV answer, a reserved label type, a name longer than 255
d4(B4, A4, B_MAC, 53, 40067, dns(15, 0x83a0, [q('version.bind', 16, 3)], [rr(PTR0, 16, b'\x039.9', c=3), rr(PTR0, 33, struct.pack('!HHH', 1, 2, 5060) + name('sip.example.com')), rr(PTR0, 6, name('ns.example.com') + name('root.example.com') + struct.pack('!IIIII', 7, 1, 2, 3, 4))]))
d4(A4, B4, A_MAC, 40068, 53, dns(16, 0x0110, [q('example.com', 1)]))
d4(A4, B4, A_MAC, 40069, 53, struct.pack('!HHHHHH', 17, 0x0100, 1, 0, 0, 0) + b'\x81' + b'y' * 20 + b'\x00\x00\x01\x00\x01')
d4(A4, B4, A_MAC, 40071, 53, dns(18, 0x0100, [q('.'.join(['z' * 63] * 5), 1)]))
d4(A4, B4, A_MAC, 40072, 53, dns(19, 0x2800, [q('example.com', 6)], an=[rr(PTR0, 1, A4)]))
# More ICMPv6: reassembly time exceeded, an unreachable code tcpdump dumps in hex, a router advertisement with other flags, an MLDv2 query with the S flag and exponential codes
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 3, 1, bytes(4) + inner_udp))))
add(eth6(B_MAC, UA, ip6(UB, UA, 58, icmp6(UB, UA, 1, 6, bytes(4) + inner_udp[:24]))))
add(eth6(B_MAC, a6('ff02::1'), ip6(LB, a6('ff02::1'), 58, icmp6(LB, a6('ff02::1'), 134, 0, struct.pack('!BBHII', 0, 0xc8, 0, 30000, 1000) + struct.pack('!BBBBIII', 3, 4, 48, 0x20, 0xffffffff, 0xffffffff, 0) + a6('fd00:1::') + struct.pack('!BBHI', 7, 1, 0, 600000)), hlim=255)))
add(eth6(A_MAC, a6('ff02::1'), ip6(LA, a6('ff02::1'), 0, hbh(58, RA_OPT + PADN2) + icmp6(LA, a6('ff02::1'), 130, 0, struct.pack('!HH', 0x8123, 0) + a6('ff05::2') + struct.pack('!BBH', 0x0a, 0x85, 0)), hlim=1)))
# Multicast DNS (RFC 6762): the QU bit of a question's class (5.4), the cache-flush bit of a record's (10.2)
M6 = a6('ff02::fb')
mq = dns(0, 0, [q('_services._dns-sd._udp.local', 12), q('host.local', 28, 0x8001)])
mr = dns(0, 0x8400, an=[rr(name('host.local'), 28, UB, ttl=120, c=0x8001), rr(name('_http._tcp.local'), 12, name('web._http._tcp.local'))])
add(eth6(A_MAC, M6, ip6(LA, M6, 17, udp6(LA, M6, 5353, 5353, mq), hlim=255)))
add(eth6(B_MAC, M6, ip6(LB, M6, 17, udp6(LB, M6, 5353, 5353, mr), hlim=255)))
# DNS over TCP with its two-byte length prefix (RFC 1035 4.2.2)
msg = dns(14, 0x0100, [q('example.com', 1)])
add(eth(B_MAC, A_MAC, 0x0800, ip4(A4, B4, 6, tcp4(A4, B4, 40070, 53, 1, 1, 0x18, 502, data=struct.pack('!H', len(msg)) + msg))))
# Truncated: IPv6 header, hop-by-hop header, ICMPv6, MLD, neighbour solicitation, TCP, UDP, payload length beyond the frame
good = ip6(UA, UB, 58, icmp6(UA, UB, 128, 0, struct.pack('!HH', 1, 1) + payload))
add(eth6(A_MAC, UB, good[:30]))
add(eth6(A_MAC, a6('ff02::16'), ip6(ANY, a6('ff02::16'), 0, hbh(58, RA_OPT + PADN2) + icmp6(ANY, a6('ff02::16'), 143, 0, struct.pack('!HH', 0, 1) + struct.pack('!BBH', 4, 0, 0) + mld_group), hlim=1)[:44]))
add(eth6(A_MAC, a6('ff02::16'), ip6(ANY, a6('ff02::16'), 0, hbh(58, RA_OPT + PADN2) + icmp6(ANY, a6('ff02::16'), 143, 0, struct.pack('!HH', 0, 1) + struct.pack('!BBH', 4, 0, 0) + mld_group), hlim=1)[:60]))
add(eth6(A_MAC, UB, good[:42]))
add(eth6(A_MAC, a6('ff02::1:ff00:1'), ip6(ANY, a6('ff02::1:ff00:1'), 58, icmp6(ANY, a6('ff02::1:ff00:1'), 135, 0, bytes(4) + UA), hlim=255)[:56]))
add(eth6(A_MAC, UB, ip6(UA, UB, 6, tcp6(UA, UB, 50000, 80, 1, 1, 0x10, 507))[:50]))
add(eth6(A_MAC, UB, ip6(UA, UB, 17, udp6(UA, UB, 40000, 7777, b'hello'))[:44]))
add(eth6(A_MAC, UB, ip6(UA, UB, 17, udp6(UA, UB, 40000, 7777, b'hello'), plen=100)))
add(eth6(A_MAC, UB, ip6(UA, UB, 17, udp6(UA, UB, 40000, 7777, b'hello'), plen=4)))
add(eth6(A_MAC, UB, b'\x40' + good[1:]))

def write(name, frames, linktype=1, wrap=lambda f: f):
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    with open(out, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, linktype))
        t = 1700000000
        for i, fr in enumerate(frames):
            fr = wrap(fr)
            f.write(struct.pack('<IIII', t + i // 4, (i % 4) * 250000 + i, len(fr), len(fr)) + fr)
    print(out, len(frames), 'frames')

write('crafted6.pcap', frames)

# The same network-layer packets under the Linux cooked and raw-IP link types (a few of each kind)
ip_packets = [f[14:] for f in frames if f[12:14] in (b'\x86\xdd', b'\x08\x00')]
some = ip_packets[:2] + ip_packets[9:11] + ip_packets[14:16] + ip_packets[27:31] + ip_packets[44:46]
arp = eth(b'\xff' * 6, A_MAC, 0x0806, struct.pack('!HHBBH', 1, 0x0800, 6, 4, 1) + A_MAC + A4 + bytes(6) + B4)
def etype(p): return 0x86dd if p[0] >> 4 == 6 else 0x0800
def sll(pkt_type, p, proto=None, hatype=1, addr=A_MAC):
    return struct.pack('!HHH', pkt_type, hatype, len(addr)) + addr.ljust(8, b'\0') + struct.pack('!H', proto if proto is not None else etype(p)) + p
def sll2(pkt_type, p, proto=None, ifindex=1002, hatype=1, addr=A_MAC):
    return struct.pack('!HHIHBB', proto if proto is not None else etype(p), 0, ifindex, hatype, pkt_type, len(addr)) + addr.ljust(8, b'\0') + p
cooked = [(i % 5, p) for i, p in enumerate(some)]
write('cooked-sll.pcap', [sll(t, p) for t, p in cooked] + [sll(1, arp[14:], 0x0806), sll(0, bytes(10), 0x0800, hatype=772, addr=b''), sll(3, b'\x12\x34', 0x88b5), b'\x00\x01\x00\x01'], 113)
# Interface indexes no machine has, so that tcpdump names them '?' wherever the text is made
write('cooked-sll2.pcap', [sll2(t, p, ifindex=1002 + t) for t, p in cooked] + [sll2(1, arp[14:], 0x0806), sll2(4, some[0], hatype=772, addr=b''), sll2(0, b'\x12\x34', 0x88b5), b'\x86\xdd\x00\x00\x00\x00'], 276)
write('raw.pcap', some + [b'\x50' + bytes(30), b''], 101)
write('raw4.pcap', [p for p in some if p[0] >> 4 == 4], 228)
write('raw6.pcap', [p for p in some if p[0] >> 4 == 6], 229)

# Everything above as a capture with a short snapshot length (tcpdump -s 80): the packets' ends are missing, their
# lengths on the wire are not, so each printer meets its cut
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'snap6.pcap')
with open(out, 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 80, 1))
    for i, fr in enumerate(frames):
        f.write(struct.pack('<IIII', 1700000000 + i // 4, (i % 4) * 250000 + i, min(80, len(fr)), len(fr)) + fr[:80])
print(out, len(frames), 'frames')
