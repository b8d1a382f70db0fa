#!/usr/bin/env bash
# Records live.pcap: the Linux kernel talking to itself across a veth pair between two namespaces this script
# creates (and deletes, also on failure): ARP, ping, a ping that fragments (-s 3000), UDP to a listening and to a
# closed port (ICMP port unreachable), and a TCP connection with data both ways and a close. Needs root, tcpdump,
# iputils ping and python3. No packet leaves the two namespaces.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
a="untrace-fix-a-$$"; b="untrace-fix-b-$$"
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$a"; ip netns add "$b"
ip link add va netns "$a" type veth peer name vb netns "$b"
for ns in "$a" "$b"; do ip netns exec "$ns" ip link set lo up; done
ip netns exec "$a" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/va/disable_ipv6; ip addr add 10.88.0.1/24 dev va; ip link set va up'
ip netns exec "$b" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/vb/disable_ipv6; ip addr add 10.88.0.2/24 dev vb; ip link set vb up'
# Offloads off, so checksums in the capture are the real ones (tcpdump -v then prints "correct").
ip netns exec "$a" ethtool -K va tx off rx off >/dev/null 2>&1 || true
ip netns exec "$b" ethtool -K vb tx off rx off >/dev/null 2>&1 || true
ip netns exec "$a" tcpdump -n -i va -w "$here/live.pcap" -U 2>/dev/null &
dump=$!
sleep 1
ip netns exec "$a" ping -c 2 -i 0.2 -W 2 10.88.0.2 >/dev/null
ip netns exec "$a" ping -c 1 -s 3000 -W 2 10.88.0.2 >/dev/null
ip netns exec "$b" python3 - <<'PY' &
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('10.88.0.2', 7777))
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('10.88.0.2', 9000)); t.listen(1)
data, peer = u.recvfrom(100); u.sendto(data.upper(), peer)
c, _ = t.accept(); d = c.recv(100); c.sendall(b'echo: ' + d); c.recv(100); c.close()
PY
srv=$!
sleep 0.5
ip netns exec "$a" python3 - <<'PY'
import socket, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('10.88.0.1', 40000))
u.sendto(b'hello', ('10.88.0.2', 7777)); u.settimeout(2); u.recvfrom(100)
u.sendto(b'anyone?', ('10.88.0.2', 7778)); time.sleep(0.2)
t = socket.create_connection(('10.88.0.2', 9000)); t.sendall(b'hello tcp\n'); t.recv(100); t.close()
time.sleep(0.3)
PY
wait "$srv"
sleep 0.5
sleep 1; kill -INT "$dump"; wait "$dump" || true
echo "wrote $here/live.pcap"
