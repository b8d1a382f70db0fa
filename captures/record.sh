#!/usr/bin/env bash
# Records the captures in this folder for real: the Linux kernel and UserNet on a TAP in a namespace this script
# creates and deletes (also on failure). `usernet up --pcap` writes what the stack received and sent, with its
# decisions as comments. Needs root, iproute2, iputils ping, python3 and nftables. Run: captures/record.sh [NAME...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usernet="$here/../usernet"
ns="uncap-$$"
mac=02:00:00:00:00:02
wire="uncap-$$-w"
hosts="uncap-$$-h"
up_pid=""
relay_pid=""
cleanup() {
  [ -n "$up_pid" ] && kill "$up_pid" 2>/dev/null
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null
  for n in "$ns" "$wire" "$hosts"; do ip netns del "$n" 2>/dev/null || true; done
  rm -f "/tmp/$ns.out" "/tmp/$ns.relay" "/tmp/$ns.listen" "/tmp/$ns.pcap"
}
trap cleanup EXIT
"$usernet" --help >/dev/null # build first, outside the timing of the captures

fresh() { # a fresh namespace with a TAP whose kernel side is 10.50.0.1/24
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip netns exec "$ns" sh -c 'ip link set lo up; ip tuntap add dev tap0 mode tap; echo 1 > /proc/sys/net/ipv6/conf/tap0/disable_ipv6; ip link set tap0 up; ip addr add 10.50.0.1/24 dev tap0'
}
start() { # NAME [UP-OPTION...]: a fresh namespace and TAP, the stack up and recording
  fresh
  local name=$1; shift
  ip netns exec "$ns" "$usernet" up --tap tap0 --ip 10.50.0.2/24 --mac $mac --pcap "$here/$name.pcapng" "$@" > "/tmp/$ns.out" &
  up_pid=$!
  for _ in $(seq 100); do grep -q "usernet: up" "/tmp/$ns.out" 2>/dev/null && break; sleep 0.1; done
  sleep 0.3
}
stop() {
  kill -TERM "$up_pid"; wait "$up_pid" || true; up_pid=""
  if [ -n "$relay_pid" ]; then kill "$relay_pid"; wait "$relay_pid" 2>/dev/null || true; relay_pid=""; cat "/tmp/$ns.relay" >&2; ip netns del "$wire"; fi
  ip netns del "$ns"
}

# A lossy wire, for losses chosen segment by segment (no nftables or tc actions needed): the stack's TAP (tap0) is
# in a namespace of its own with no address, and a relay there copies its frames to and from a second TAP (tap1),
# which it moves to the kernel's namespace as 10.50.0.1/24, dropping the data segments its rules name (see relay.py).
start_relayed() { # NAME RULE... -- [UP-OPTION...]
  local name=$1; shift
  local rules=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do rules+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  for n in "$ns" "$wire"; do ip netns del "$n" 2>/dev/null || true; ip netns add "$n"; done
  ip netns exec "$wire" sh -c 'ip link set lo up; ip tuntap add dev tap0 mode tap; echo 1 > /proc/sys/net/ipv6/conf/tap0/disable_ipv6; ip link set tap0 up'
  ip netns exec "$wire" python3 "$here/relay.py" "$ns" "${rules[@]}" > "/tmp/$ns.relay" 2>&1 &
  relay_pid=$!
  for _ in $(seq 100); do grep -q "relay: up" "/tmp/$ns.relay" 2>/dev/null && break; sleep 0.1; done
  ip netns exec "$ns" sh -c 'ip link set lo up; echo 1 > /proc/sys/net/ipv6/conf/tap1/disable_ipv6; ip link set tap1 up; ip addr add 10.50.0.1/24 dev tap1'
  ip netns exec "$wire" "$usernet" up --tap tap0 --ip 10.50.0.2/24 --mac $mac --no-offload --pcap "$here/$name.pcapng" "$@" > "/tmp/$ns.out" &
  up_pid=$!
  for _ in $(seq 100); do grep -q "usernet: up" "/tmp/$ns.out" 2>/dev/null && break; sleep 0.1; done
  sleep 0.3
}

want() { [ $# -eq 0 ] || [[ " $* " == *" $NAME "* ]]; }

NAME=arp-and-ping; if want "$@"; then
  start $NAME
  ip netns exec "$ns" ping -c 2 -i 0.5 -W 2 10.50.0.2 >/dev/null
  stop
fi

NAME=ping-reply-needs-arp; if want "$@"; then
  start $NAME
  # The kernel knows our MAC already (a permanent neighbour entry), so it pings without asking; we do not know
  # the kernel's, so our reply waits in the ARP queue until our request is answered.
  ip netns exec "$ns" ip neigh replace 10.50.0.2 lladdr $mac dev tap0 nud permanent
  ip netns exec "$ns" ping -c 1 -W 2 10.50.0.2 >/dev/null
  stop
fi

NAME=stack-pings-kernel; if want "$@"; then
  # usernet ping: the stack must resolve the kernel's MAC before its first request can leave.
  fresh
  ip netns exec "$ns" "$usernet" ping --tap tap0 --ip 10.50.0.2/24 --mac $mac -c 2 -i 0.3 -W 2 --pcap "$here/$NAME.pcapng" 10.50.0.1 >/dev/null
  ip netns del "$ns"
fi

NAME=malformed-frames; if want "$@"; then
  start $NAME
  ip netns exec "$ns" ip neigh replace 10.50.0.2 lladdr $mac dev tap0 nud permanent
  ip netns exec "$ns" python3 - "$mac" <<'PY'
import socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
to = bytes.fromhex(sys.argv[1].replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('tap0', 0))
frm = s.getsockname()[4][:6]
src, dst = socket.inet_aton('10.50.0.1'), socket.inet_aton('10.50.0.2')
def echo(source=src, ident=0x4242, seq=1):
    icmp = struct.pack('!BBHHH', 8, 0, 0, ident, seq) + bytes(range(56))
    icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), 1234, 0, 64, 1, 0, source, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return bytearray(to + frm + b'\x08\x00' + ip + icmp)
def fix_ip(f): f[24:26] = b'\0\0'; f[24:26] = struct.pack('!H', csum(bytes(f[14:34]))); return f
frames = []
f = echo(seq=1); f[24] ^= 0x5a; frames.append(f)                       # bad ip checksum
f = echo(seq=2); f[36] ^= 0x5a; frames.append(f)                       # bad icmp checksum
f = echo(seq=3); f[14] = 0x44; frames.append(f)                        # ihl below 5
f = echo(seq=4); f[16:18] = struct.pack('!H', 1000); frames.append(fix_ip(f))   # total length beyond the frame
frames.append(echo(seq=5)[:26])                                        # truncated ip header
arp = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, frm, src, bytes(6), dst)
frames.append(bytearray(b'\xff' * 6 + frm + b'\x08\x06' + arp[:20]))  # truncated arp
frames.append(echo(source=socket.inet_aton('127.0.0.1'), seq=7))       # loopback source
frames.append(echo(seq=8))                                             # and a good one: it is answered
for f in frames:
    s.send(bytes(f)); time.sleep(0.05)
time.sleep(0.5)
PY
  stop
fi
NAME=udp-echo-and-port-unreachable; if want "$@"; then
  start $NAME
  # A kernel UDP socket uses the stack's echo service (port 7), then sends to a closed port: ICMP port unreachable,
  # which Linux reports to the connected socket as ECONNREFUSED.
  ip netns exec "$ns" python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.bind(('10.50.0.1', 40007))
s.connect(('10.50.0.2', 7)); s.send(b'hello, echo\n'); assert s.recv(100) == b'hello, echo\n'
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(2); c.bind(('10.50.0.1', 40008))
c.connect(('10.50.0.2', 4444)); c.send(b'anyone there?\n')
try: c.recv(100); raise SystemExit('expected port unreachable')
except ConnectionRefusedError: pass
PY
  stop
fi

NAME=ip-fragments; if want "$@"; then
  start $NAME
  # 3000 bytes of UDP do not fit the 1500-byte MTU: the kernel sends three fragments, the stack reassembles them,
  # and its echo, as large, leaves in three fragments that the kernel reassembles.
  ip netns exec "$ns" python3 - <<'PY'
import socket
data = bytes(i % 251 for i in range(3000))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.bind(('10.50.0.1', 40009))
s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: the kernel may fragment
s.connect(('10.50.0.2', 7)); s.send(data); assert s.recv(65535) == data
PY
  stop
fi

NAME=tcp-handshake-data-close; if want "$@"; then
  start $NAME
  # A kernel TCP client and the stack's echo service: handshake, a line each way, the client half-closes, the
  # stack echoes, then closes its side too.
  ip netns exec "$ns" python3 - <<'PY'
import socket
s = socket.create_connection(('10.50.0.2', 7), timeout=3, source_address=('10.50.0.1', 40010))
s.sendall(b'hello, tcp echo\n'); s.shutdown(socket.SHUT_WR)
got = b''
while True:
    b = s.recv(100)
    if not b: break
    got += b
assert got == b'hello, tcp echo\n', got
s.close()
PY
  sleep 0.3
  stop
fi

NAME=tcp-retransmission; if want "$@"; then
  start $NAME
  # nftables in the namespace drops the first segment carrying data from the stack on its way into the kernel
  # (numgen counts only segments that reach the rule: from port 7 with a payload). The stack never gets an ACK
  # for it and sends it again when its retransmission timer expires.
  ip netns exec "$ns" nft -f - <<'NFT'
table ip usernet_loss {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "tap0" ip saddr 10.50.0.2 tcp sport 7 ip length > 52 numgen inc mod 1000 0 drop
  }
}
NFT
  ip netns exec "$ns" python3 - <<'PY'
import socket
s = socket.create_connection(('10.50.0.2', 7), timeout=5, source_address=('10.50.0.1', 40011))
s.sendall(b'this line is lost once on its way back\n')
got = b''
while len(got) < 39:
    b = s.recv(100)
    if not b: break
    got += b
assert got == b'this line is lost once on its way back\n', got
s.shutdown(socket.SHUT_WR)
while s.recv(100): pass
s.close()
PY
  sleep 0.3
  stop
fi

# The captures below run the stack with --no-offload: with the virtio-net header the kernel hands the stack TCP
# segments whose checksum it has left for the receiver to finish (CHECKSUM_PARTIAL), and a replay, which sees only
# the frame, would call every one of them bad.

NAME=tcp-client-nc; if want "$@"; then
  # The stack as the client: usernet nc connects to a kernel listener, sends a line, half-closes; the kernel answers
  # with a line and closes.
  fresh
  ip netns exec "$ns" python3 - > "/tmp/$ns.listen" <<'PY' &
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('10.50.0.1', 5000)); l.listen(1)
print('listening', flush=True)
c, _ = l.accept(); c.settimeout(5)
got = b''
while True:
    b = c.recv(100)
    if not b: break
    got += b
assert got == b'hello from usernet nc\n', got
c.sendall(b'hello back from the kernel\n'); c.close()
PY
  listener=$!
  for _ in $(seq 50); do grep -q listening "/tmp/$ns.listen" 2>/dev/null && break; sleep 0.1; done
  echo "hello from usernet nc" | ip netns exec "$ns" "$usernet" nc --tap tap0 --ip 10.50.0.2/24 --mac $mac --no-offload -w 2 --pcap "$here/$NAME.pcapng" 10.50.0.1 5000 > "/tmp/$ns.out"
  wait $listener
  grep -q "hello back from the kernel" "/tmp/$ns.out"
  ip netns del "$ns"
fi

NAME=tcp-reset; if want "$@"; then
  start $NAME --no-offload
  # A kernel client uses the echo service, then closes with SO_LINGER 0: Linux sends RST instead of FIN, and the
  # stack's connection goes from ESTABLISHED straight to CLOSED (RFC 9293 3.10.7.4, "reset processing").
  ip netns exec "$ns" python3 - <<'PY'
import socket, struct
s = socket.create_connection(('10.50.0.2', 7), timeout=3, source_address=('10.50.0.1', 40012))
s.sendall(b'reset after this\n')
assert s.recv(100) == b'reset after this\n'
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.close()
PY
  sleep 0.3
  stop
fi

NAME=tcp-out-of-order-sack; if want "$@"; then
  # The kernel sends four segments to the discard service; the wire drops the second once. The third and fourth
  # arrive out of order: the stack keeps them and its ACKs repeat the hole's left edge with SACK blocks for what it
  # holds (RFC 2018 section 4); the kernel sends the second again and the stack acknowledges everything.
  start_relayed $NAME to-stack:9:2
  ip netns exec "$ns" python3 - <<'PY'
import socket, time
s = socket.create_connection(('10.50.0.2', 9), timeout=3, source_address=('10.50.0.1', 40013))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for c in b'abcd':
    s.sendall(bytes([c]) * 500); time.sleep(0.05)
time.sleep(0.5)
s.shutdown(socket.SHUT_WR)
while s.recv(100): pass
s.close()
PY
  sleep 0.3
  stop
fi

NAME=tcp-sack-two-holes; if want "$@"; then
  # The echo service sends five segments back; the wire drops the second and the fourth. The kernel's ACKs carry
  # SACK blocks for the third and the fifth, and the stack retransmits exactly the two holes (RFC 6675).
  start_relayed $NAME to-kernel:7:2,4
  ip netns exec "$ns" python3 - <<'PY'
import socket
data = bytes(0x61 + i // 1448 for i in range(5 * 1448))
s = socket.create_connection(('10.50.0.2', 7), timeout=5, source_address=('10.50.0.1', 40014))
s.sendall(data)
got = b''
while len(got) < len(data):
    b = s.recv(65536)
    if not b: break
    got += b
assert got == data, len(got)
s.shutdown(socket.SHUT_WR)
while s.recv(100): pass
s.close()
PY
  sleep 0.3
  stop
fi

NAME=tcp-tail-loss-probe; if want "$@"; then
  # The echo service sends four segments back; the wire drops the last two. No later segment makes the kernel send a
  # duplicate ACK, so the stack's probe timeout (RFC 8985 section 7: about 2 SRTT while more than one segment is
  # out) fires first and it sends the last segment again: the tail loss probe, well before the retransmission timeout.
  # The kernel's SACK of the probe then shows the third lost, and the stack sends it again too.
  start_relayed $NAME to-kernel:7:3,4
  ip netns exec "$ns" python3 - <<'PY'
import socket
data = bytes(0x61 + i // 1448 for i in range(4 * 1448))
s = socket.create_connection(('10.50.0.2', 7), timeout=5, source_address=('10.50.0.1', 40015))
s.sendall(data)
got = b''
while len(got) < len(data):
    b = s.recv(65536)
    if not b: break
    got += b
assert got == data, len(got)
s.shutdown(socket.SHUT_WR)
while s.recv(100): pass
s.close()
PY
  sleep 0.3
  stop
fi

NAME=tcp-syn-cookie; if want "$@"; then
  # --limit tcp-half-open=0: the stack keeps no half-open connection, so the echo listener answers the kernel's SYN
  # with a SYN cookie (RFC 4987 section 3.6) and keeps nothing; the kernel's ACK brings the cookie back, and the
  # connection is made from it.
  start $NAME --no-offload --limit tcp-half-open=0
  ip netns exec "$ns" python3 - <<'PY'
import socket
s = socket.create_connection(('10.50.0.2', 7), timeout=3, source_address=('10.50.0.1', 40016))
s.sendall(b'a connection from a cookie\n'); s.shutdown(socket.SHUT_WR)
got = b''
while True:
    b = s.recv(100)
    if not b: break
    got += b
assert got == b'a connection from a cookie\n', got
s.close()
PY
  sleep 0.3
  stop
fi

NAME=two-linux-hosts; if want "$@"; then
  # Not our stack: two kernels in two namespaces joined by a veth pair, 10.51.0.1 a client and 10.51.0.2 an echo
  # server on port 7; a packet socket on the client's side records the frames as pcap. Replayed as 10.51.0.2, the
  # stack takes the server's place and its echo service answers what the Linux server answered.
  ip netns del "$ns" 2>/dev/null || true; ip netns del "$hosts" 2>/dev/null || true
  ip netns add "$ns"; ip netns add "$hosts"
  ip netns exec "$ns" sh -c 'ip link set lo up; ip link add veth0 type veth peer name veth1; echo 1 > /proc/sys/net/ipv6/conf/veth0/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/veth1/disable_ipv6'
  ip netns exec "$ns" ip link set veth1 netns "$hosts"
  ip netns exec "$ns" sh -c 'ip link set veth0 address 02:00:00:00:51:01; ip addr add 10.51.0.1/24 dev veth0; ip link set veth0 up'
  ip netns exec "$hosts" sh -c 'ip link set lo up; echo 1 > /proc/sys/net/ipv6/conf/veth1/disable_ipv6; ip link set veth1 address 02:00:00:00:51:02; ip addr add 10.51.0.2/24 dev veth1; ip link set veth1 up'
  # No checksum offload on the veths (ETHTOOL_STXCSUM off, by ioctl: no ethtool here), so that each frame is recorded
  # with its checksums done, not left for a receiver that a veth never has.
  nocsum='import array, fcntl, socket, struct, sys
v = array.array("B", struct.pack("II", 0x17, 0)); fcntl.ioctl(socket.socket(), 0x8946, struct.pack("16sP", sys.argv[1].encode(), v.buffer_info()[0]))'
  ip netns exec "$ns" python3 -c "$nocsum" veth0
  ip netns exec "$hosts" python3 -c "$nocsum" veth1
  ip netns exec "$hosts" python3 - > "/tmp/$ns.listen" <<'PY' &
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('10.51.0.2', 7)); l.listen(1)
print('listening', flush=True)
c, _ = l.accept(); c.settimeout(5)
while True:
    b = c.recv(4096)
    if not b: break
    c.sendall(b)
c.close()
PY
  server=$!
  for _ in $(seq 50); do grep -q listening "/tmp/$ns.listen" 2>/dev/null && break; sleep 0.1; done
  ip netns exec "$ns" python3 - "/tmp/$ns.pcap" <<'PY'
import select, socket, struct, sys, threading, time
# The recorder: every frame on veth0, both ways, as classic pcap (microseconds, Ethernet).
cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); cap.bind(('veth0', 0))
out = open(sys.argv[1], 'wb'); out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
done = threading.Event()
def record():
    while not done.is_set() or select.select([cap], [], [], 0.2)[0]:
        if not select.select([cap], [], [], 0.2)[0]: continue
        f = cap.recv(65535); t = time.time()
        out.write(struct.pack('<IIII', int(t), int(t * 1e6) % 1000000, len(f), len(f)) + f)
t = threading.Thread(target=record); t.start()
time.sleep(0.2)
s = socket.create_connection(('10.51.0.2', 7), timeout=3, source_address=('10.51.0.1', 40017))
s.sendall(b'two kernels, one of them replayed as the stack\n'); s.shutdown(socket.SHUT_WR)
got = b''
while True:
    b = s.recv(100)
    if not b: break
    got += b
assert got == b'two kernels, one of them replayed as the stack\n', got
s.close()
time.sleep(0.5); done.set(); t.join(); out.close()
PY
  wait $server
  ip netns del "$hosts"; ip netns del "$ns"
  "$usernet" trace -r "/tmp/$ns.pcap" -w "$here/$NAME.pcapng" > /dev/null # pcapng, as the others
  rm -f "/tmp/$ns.pcap"
fi
