#!/usr/bin/env bash
# Records live6.pcap (Ethernet), live6-sll.pcap (tcpdump -i any -y LINUX_SLL) and live6-sll2.pcap (tcpdump -i any,
# LINUX_SLL2): the Linux kernel talking IPv6 to itself across a veth pair between two namespaces this script creates
# (and deletes, also on failure). The link comes up while tcpdump listens, so the kernel's own MLDv2 reports,
# duplicate address detection and router solicitations are in it; then ping -6 (one that fragments), UDP to a
# listening and to a closed port (ICMPv6 port unreachable), a TCP connection, a DNS query and answer over UDP
# (a tiny python3 server) and an HTTP GET with curl to python3 -m http.server. Needs root, tcpdump, iputils ping,
# curl, ethtool and python3. No packet leaves the two namespaces.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
a="untrace6-a-$$"; b="untrace6-b-$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$a"; ip netns add "$b"
ip link add va netns "$a" address 02:00:00:00:88:01 type veth peer name vb netns "$b" address 02:00:00:00:88:02
for ns in "$a" "$b"; do ip netns exec "$ns" ip link set lo up; done
# Offloads off, so checksums in the capture are the real ones (tcpdump -v then prints "correct"/"sum ok").
ip netns exec "$a" ethtool -K va tx off rx off >/dev/null 2>&1 || true
ip netns exec "$b" ethtool -K vb tx off rx off >/dev/null 2>&1 || true
ip netns exec "$a" sh -c 'ip addr add 10.89.0.1/24 dev va; ip addr add fd00:89::1/64 dev va; ip link set va up'
ip netns exec "$b" sh -c 'ip addr add 10.89.0.2/24 dev vb; ip addr add fd00:89::2/64 dev vb'
ip netns exec "$a" tcpdump -n -i va -w "$here/live6.pcap" -U 2>/dev/null & pids+=($!)
ip netns exec "$a" tcpdump -n -i any -w "$here/live6-sll2.pcap" -U 2>/dev/null & pids+=($!)
ip netns exec "$a" tcpdump -n -i any -y LINUX_SLL -w "$here/live6-sll.pcap" -U 2>/dev/null & pids+=($!)
sleep 1.5
# Carrier comes up now: both ends join their multicast groups, run DAD and solicit routers.
ip netns exec "$b" ip link set vb up
sleep 3
ip netns exec "$a" ping -6 -c 2 -i 0.2 -W 2 fd00:89::2 >/dev/null
ip netns exec "$a" ping -6 -c 1 -s 3000 -W 2 fd00:89::2 >/dev/null
ip netns exec "$b" python3 - <<'PY' & srv=$!
import socket, struct
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(('fd00:89::2', 7777))
d = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); d.bind(('fd00:89::2', 53))
t = socket.socket(socket.AF_INET6); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('fd00:89::2', 9000)); t.listen(1)
data, peer = u.recvfrom(100); u.sendto(data.upper(), peer)
for _ in range(2):
    # A DNS server of two answers (RFC 1035 4.1): echo the question, answer from a fixed table, compress the name.
    q, peer = d.recvfrom(512)
    ident, flags, qd = struct.unpack('!HHH', q[:6])
    end = 12
    while q[end]: end += q[end] + 1
    qtype = struct.unpack('!H', q[end + 1:end + 3])[0]
    question = q[12:end + 5]
    rdata = socket.inet_pton(socket.AF_INET, '10.89.0.2') if qtype == 1 else socket.inet_pton(socket.AF_INET6, 'fd00:89::2')
    answer = b'\xc0\x0c' + struct.pack('!HHIH', qtype, 1, 300, len(rdata)) + rdata
    d.sendto(struct.pack('!HHHHHH', ident, 0x8580, 1, 1, 0, 0) + question + answer, peer)
c, _ = t.accept(); x = c.recv(100); c.sendall(b'echo: ' + x); c.recv(100); c.close()
PY
sleep 0.5
ip netns exec "$a" python3 - <<'PY'
import socket, struct, time
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(('fd00:89::1', 40000))
u.sendto(b'hello', ('fd00:89::2', 7777)); u.settimeout(2); u.recvfrom(100)
u.sendto(b'anyone?', ('fd00:89::2', 7778)); time.sleep(0.2)
d = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); d.bind(('fd00:89::1', 40053)); d.settimeout(2)
def name(n): return b''.join(bytes([len(l)]) + l.encode() for l in n.split('.')) + b'\0'
for ident, qtype in ((4242, 1), (4243, 28)):
    d.sendto(struct.pack('!HHHHHH', ident, 0x0100, 1, 0, 0, 0) + name('www.usernet.test') + struct.pack('!HH', qtype, 1), ('fd00:89::2', 53))
    d.recvfrom(512)
t = socket.create_connection(('fd00:89::2', 9000)); t.sendall(b'hello tcp\n'); t.recv(100); t.close()
time.sleep(0.3)
PY
wait "$srv"
mkdir -p "/tmp/untrace6-www-$$" && echo hello > "/tmp/untrace6-www-$$/index.html"
ip netns exec "$b" python3 -m http.server --bind fd00:89::2 --directory "/tmp/untrace6-www-$$" 80 >/dev/null 2>&1 & pids+=($!)
sleep 1
ip netns exec "$a" curl -s -g -o /dev/null "http://[fd00:89::2]/index.html"
rm -rf "/tmp/untrace6-www-$$"
sleep 1
for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
echo "wrote $here/live6.pcap, live6-sll.pcap, live6-sll2.pcap"
