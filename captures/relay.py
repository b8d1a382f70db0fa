# The wire between the stack's TAP (tap0, in this namespace) and the kernel's (tap1, moved to another namespace):
# copies every frame across, except the TCP segments with data that a rule names, by their order on the wire.
# Rule: DIR:PORT:N[,N...]  DIR is "to-kernel" (the stack's frames) or "to-stack"; PORT the segment's source port for
# to-kernel, destination port for to-stack; N counts that direction's data-carrying segments with that port, from 1.
import fcntl, os, select, socket, struct, sys
ns, rules = sys.argv[1], sys.argv[2:]
drop = {}
for r in rules:
    d, port, ns_ = r.split(':')
    drop[(d, int(port))] = {int(x) for x in ns_.split(',')}
seen = {}
TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454ca, 0x0002, 0x1000
tap = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(tap, TUNSETIFF, struct.pack('16sH', b'tap1', IFF_TAP | IFF_NO_PI))
os.system(f'ip link set tap1 netns {ns}')
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); raw.bind(('tap0', 0))
print('relay: up', flush=True)
def dropped(direction, f):
    if len(f) < 34 or f[12:14] != b'\x08\x00' or f[23] != 6: return False
    ihl = (f[14] & 15) * 4; tcp = 14 + ihl
    if len(f) < tcp + 20: return False
    total = struct.unpack('!H', f[16:18])[0]; doff = (f[tcp + 12] >> 4) * 4
    if total - ihl - doff <= 0: return False
    sport, dport = struct.unpack('!HH', f[tcp:tcp + 4])
    key = (direction, sport if direction == 'to-kernel' else dport)
    if key not in drop: return False
    seen[key] = seen.get(key, 0) + 1
    if seen[key] in drop[key]:
        print(f'relay: dropped {direction} segment {seen[key]} of port {key[1]}', flush=True); return True
    return False
while True:
    r, _, _ = select.select([tap, raw], [], [])
    if raw in r:
        f, addr = raw.recvfrom(65535)
        if addr[2] != socket.PACKET_OUTGOING and not dropped('to-kernel', f): os.write(tap, f)
    if tap in r:
        f = os.read(tap, 65535)
        if not dropped('to-stack', f): raw.send(f)
