#!/usr/bin/env bash
# Records the captures in this folder for real: the Linux kernel and UserNet on a TAP in a namespace this script
# creates and deletes (also on failure). `usernet up --pcap` writes what the stack received and sent, with its
# decisions as comments. Needs root, iproute2, iputils ping, python3 and nftables. Run: captures/record.sh [NAME...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usernet="$here/../usernet"
ns="uncap-$$"
mac=02:00:00:00:00:02
up_pid=""
cleanup() { [ -n "$up_pid" ] && kill "$up_pid" 2>/dev/null; ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
"$usernet" --help >/dev/null # build first, outside the timing of the captures

fresh() { # a fresh namespace with a TAP whose kernel side is 10.50.0.1/24
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip netns exec "$ns" sh -c 'ip link set lo up; ip tuntap add dev tap0 mode tap; echo 1 > /proc/sys/net/ipv6/conf/tap0/disable_ipv6; ip link set tap0 up; ip addr add 10.50.0.1/24 dev tap0'
}
start() { # NAME: a fresh namespace and TAP, the stack up and recording
  fresh
  ip netns exec "$ns" "$usernet" up --tap tap0 --ip 10.50.0.2/24 --mac $mac --pcap "$here/$1.pcapng" > "/tmp/$ns.out" &
  up_pid=$!
  for _ in $(seq 100); do grep -q "usernet: up" "/tmp/$ns.out" 2>/dev/null && break; sleep 0.1; done
  sleep 0.3
}
stop() { kill -TERM "$up_pid"; wait "$up_pid" || true; up_pid=""; ip netns del "$ns"; }

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
rm -f "/tmp/$ns.out"
