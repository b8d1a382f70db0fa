#!/usr/bin/env bash
# Soak: `usernet up` on a TAP under everything at once for MINUTES minutes, every byte compared, memory watched.
#
# One network namespace of its own (usernet-bench-soak-PID) holds everything; no packet leaves it:
#
#   usernet (10.77.0.2/24) --TAP ust0--+
#                                      |-- bridge usb0 --+-- usw0 ==veth== usk0  10.77.0.1/24 (the kernel; offloads on)
#   hostile frames (AF_PACKET on ust0) +                 +-- usw1 ==veth== usk1  10.77.0.3/24 (the kernel; the lossy
#                                                                                 flows only; offloads off)
#
# The kernel sits behind a bridge, as in tests/UserNet.IntegrationTests/LossyTcpTests.cs (TapWire), so that a frame
# can be lost on the way out of sight of both TCPs. Its second address, 10.77.0.3 on a veth of its own (policy
# routing sends what comes from it through usk1; arp_ignore=1 keeps each address's ARP on its own interface), carries
# the lossy flows and nothing else, with offloads off on both ends of that veth: the kernel sends one MSS per frame
# and the bridge cuts usernet's super-segments before they reach usk1, so every segment is lost or kept on its own.
# Everything else comes from 10.77.0.1 through usk0 with the kernel's offloads on, as a host would send it.
#
# The loads, all inside the namespace, all at once, for MINUTES minutes (python3 is /usr/bin/python3, kernel sockets):
#   ping       ICMP echo requests from the kernel (a raw socket), 100 a second as `ping -i 0.01` sends them, each
#              with 56 bytes of its own (its number, random bytes): every reply must come, intact, once, with a right
#              ICMP checksum (one not back 5 s after the end is lost). Not iputils' ping: under this load it sends
#              about 70 a second instead of 100 (it never catches up on a late wake-up), so `-c` runs far past the
#              end, and `-w` or SIGINT counts the requests still in flight as lost.
#   udp        datagrams to UDP echo (port 7), 500 a second, at most 8 outstanding, 0 to 8000 bytes (a quarter of
#              them fragmented) and now and then up to 60000, each with a sequence number and random bytes: every
#              one must come back exactly as sent (one not back 5 s after the end is lost).
#   tcp        100 connections at once, each over and over: connect to TCP echo (port 7), send 1 KiB to 256 KiB of
#              random bytes, read them back while sending, compare every byte, close; beside them 2 connections that
#              read 64 KiB to 4 MiB of chargen (port 19) and compare it with RFC 864's pattern, and 2 that send 1 KiB
#              to 1 MiB to discard (port 9) and must get nothing back but the close.
#   lossy      2 connections from 10.77.0.3, each over and over: 16 MiB of random bytes to TCP echo and back, every
#              byte compared, through 2% random loss each way: nftables drops 2% of the TCP segments of those flows
#              (data, ACKs, SYN and FIN alike) in the bridge on their way to usernet and at usk1's input on their way
#              to the kernel, out of sight of the sending TCP in both directions. Nothing else is lost: not ICMP, not
#              UDP, not the 100 connections. A connection that makes no progress for 120 s fails.
#   hostile    a python AF_PACKET sender on the TAP's kernel side, 100 a second (about 118 frames: some kinds are
#              several fragments), each wrong in some way (the
#              kinds of MalformedFrames.cs and HostileFragments.cs and more): random bytes, runts, truncated and bad
#              IP headers, bad checksums and lengths (IP, ICMP, UDP, TCP), garbage IP and TCP options, unknown
#              protocols, fragments that never complete, overlap with different bytes, or reach past 65535, TCP
#              segments for no connection (every flag mix), ICMP errors quoting connections that do not exist, ARP
#              garbage (truncated, wrong formats and operations, multicast senders) and ARP from strangers. They come
#              from made-up hosts (10.77.0.100-254, random MACs), never from the kernel's or usernet's addresses, so
#              the checked flows are never hit by chance (a forged segment could land in a live connection's window).
#
# usernet runs with `--stats 10`; every 10 s the script records its RSS, managed heap and GC counts with the loads'
# progress. All of it runs at once as fast as it goes, so usernet is saturated and frames queue in the TAP (round
# trips of tens of ms); the TAP's queue is sized (txqueuelen 10000) to hold all the loads can have in flight, so a
# slow reader delays and nothing is dropped on the way (the output says how many the TAP dropped all the same).
# At the end it prints a table over time and each check, then PASS (exit 0) or FAIL (exit 1):
#   - any ping lost, duplicated or with wrong data; any UDP datagram lost, corrupted, duplicated or unexpected;
#   - any TCP transfer failed (refused, reset, timed out, 120 s without progress) or not byte for byte what was sent;
#   - the hostile sender could not send; a load did not finish within 5 minutes after the end; a load made nothing;
#   - usernet died, or did not exit 0 with its counters on SIGTERM, or its counters show stack_fault > 0;
#   - memory grew without bound: the largest RSS of the last third of the run is more than 32 MiB above the largest
#     of the middle third (the first third is warm-up: the heap and pools find their size), or the smallest managed
#     heap (GC.GetTotalMemory, a floor near what is live) of the last third is more than 16 MiB above the smallest of
#     the middle third. Needs at least 2 samples in each third (a run of 1 minute or more).
#
# Run as root; needs iproute2, nftables, ethtool and /usr/bin/python3 (scripts/install-test-deps.sh installs the
# first three). The namespace and every process are removed on exit, also on failure and Ctrl-C. The
# work files (usernet's log, the loads' logs, samples.tsv) are kept in --out DIR if given, else in a temporary
# directory that is removed on PASS and kept (and named) on FAIL.
# Usage: sudo bench/soak.sh MINUTES [--no-build] [--out DIR]
#   MINUTES      how long the loads run, a positive number (e.g. 2, 0.5, 30)
#   --no-build   run the CLI already built in out/cli as it is (else ./usernet builds it when a source changed)
#   --out DIR    keep every log and the samples in DIR (created if missing)
set -euo pipefail

die() { echo "soak.sh: $*" >&2; exit 2; }
say() { echo "soak.sh: $*" >&2; }

minutes=""
build=1
out_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0; shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out_dir="$2"; shift 2 ;;
        --out=*) out_dir="${1#*=}"; shift ;;
        -h|--help) sed -n "2,$(( $(grep -n "^set -euo" "$0" | cut -d: -f1) - 1 ))p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [ -z "$minutes" ] || die "one MINUTES only (got '$minutes' and '$1')"; minutes="$1"; shift ;;
    esac
done
[ -n "$minutes" ] || die "usage: sudo bench/soak.sh MINUTES [--no-build] [--out DIR]"
[[ "$minutes" =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v m="$minutes" 'BEGIN { exit !(m > 0) }' ||
    die "MINUTES must be a positive number (got '$minutes')"
duration=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 + 0.5 }')
[ "$duration" -ge 1 ] || die "MINUTES must be at least a second's worth (got '$minutes')"

[ "$(id -u)" -eq 0 ] || die "run as root: it creates a network namespace, a TAP, veths and a bridge"
for tool in ip nft ethtool; do
    command -v "$tool" >/dev/null 2>&1 || die "needs $tool (scripts/install-test-deps.sh installs it)"
done
python=/usr/bin/python3
[ -x "$python" ] || die "needs $python"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$build" = 1 ]; then
    usernet=("$root/usernet")
    say "building usernet if needed..."
    mkdir -p "$root/out"
    "${usernet[@]}" --help >/dev/null || die "usernet does not build or run; see the output above"
else
    usernet=("$root/out/cli/UserNet.Cli")
    [ -x "${usernet[0]}" ] || die "--no-build: ${usernet[0]} is not built (run ./usernet --help once)"
fi

ns="usernet-bench-soak-$$"
tap=ust0
stack_ip=10.77.0.2
kernel_ip=10.77.0.1
lossy_ip=10.77.0.3
loss_permille=20          # 2%
stats_every=10            # seconds between usernet's stats lines and the script's samples
grace=300                 # seconds the loads have after the end to finish what they started

if [ -n "$out_dir" ]; then mkdir -p "$out_dir"; work="$(cd "$out_dir" && pwd)"; keep=always
else work="$(mktemp -d /tmp/usernet-soak.XXXXXX)"; keep=on-fail
fi
created_ns=""
usernet_pid=""
declare -A load_pid=()
verdict=""

stop_usernet() {
    [ -n "$usernet_pid" ] || return 0
    if kill -0 "$usernet_pid" 2>/dev/null; then
        kill -TERM "$usernet_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$usernet_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$usernet_pid" 2>/dev/null || true
    fi
    wait "$usernet_pid" 2>/dev/null || true
    usernet_pid=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    local name pid
    for name in "${!load_pid[@]}"; do kill -KILL "${load_pid[$name]}" 2>/dev/null; done
    stop_usernet
    if [ -n "$created_ns" ]; then
        # Anything still running in the namespace this run made was started by this script.
        for pid in $(ip netns pids "$created_ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        # Delete the links explicitly: on namespace teardown the kernel may move a device elsewhere instead.
        for link in "$tap" usk0 usk1 usb0; do ip -n "$created_ns" link del "$link" 2>/dev/null; done
        ip netns delete "$created_ns" 2>/dev/null || say "could not delete namespace $created_ns; remove it with: ip netns delete $created_ns"
    fi
    if [ "$keep" = on-fail ]; then
        if [ "$verdict" = PASS ]; then rm -rf "$work"; else say "logs kept in $work"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the load generators (python3, kernel sockets) -------------------------------------------------------------
cat > "$work/soak_load.py" <<'PY'
"""Soak loads for bench/soak.sh: ping, udp, tcp, lossy, hostile. Each runs until --until (epoch seconds), finishes what it
started, writes its progress (JSON, replaced every second) to --progress and its summary (JSON) to stdout; problems go
to stderr, one line each (the first 50). Exit 0: nothing wrong; 1: something lost, corrupted or failed; 2: crashed."""
import argparse, asyncio, json, os, random, select, signal, socket, struct, sys, time

PROBLEMS = 0
STOP = False        # SIGTERM: the script saw usernet die; stop now and report what was lost

def on_term(*_):
    global STOP
    STOP = True
def problem(msg):
    global PROBLEMS
    PROBLEMS += 1
    if PROBLEMS <= 50:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

def progress(path, d):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(d, f)
    os.replace(tmp, path)

def first_difference(a, b):
    n = min(len(a), len(b))
    lo, hi = 0, n                       # binary search on prefix equality: a[:lo] == b[:lo]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]: lo = mid
        else: hi = mid - 1
    return lo

# ------------------------------------------------------------------------------------------------ ping and udp
MAGIC = 0x534F414B  # "SOAK"

def echo_loop(name, sock, make, parse, rate, window, until, progress_path):
    """Sends make(n) for n = 0, 1, ... at `rate` a second (catching up after a stall, at most `window` sent in the
    last second without an answer when window > 0) until `until`, then waits up to 5 s for what is outstanding.
    parse(reply) gives (n, body) for an answer, or (None, why) for anything else; body must equal what make gave as
    the expected answer. Every answer is compared; one that never comes is lost. Returns the summary."""
    outstanding = {}        # n -> (expected answer, sent at)
    answered = set()        # recent n that came back, to tell a duplicate from a stranger
    n = ok = corrupt = dup = unexpected = late = errors = 0
    nbytes = 0
    rtt_sum = 0.0; rtt_max = 0.0; rtt_min = None
    start = time.monotonic()
    next_send = start
    last_progress = 0.0
    def report(now):
        progress(progress_path, {"t": round(now - start, 1), "sent": n, "ok": ok, "bytes": nbytes,
                                 "outstanding": len(outstanding), "late": late, "problems": PROBLEMS})
    while True:
        now = time.monotonic()
        sending = time.time() < until and not STOP
        if sending and now >= next_send and (window == 0 or sum(1 for (_, t) in outstanding.values() if now - t < 1.0) < window):
            wire, expect = make(n)
            try:
                sock.send(wire)
            except BlockingIOError:
                select.select([], [sock], [], 0.01)
                continue
            except ConnectionRefusedError:
                errors += 1; problem(f"{name}: port unreachable from usernet (before #{n})")
                continue
            outstanding[n] = (expect, now)
            n += 1
            next_send = max(next_send + 1.0 / rate, now - 1.0)
            continue
        if not sending and (not outstanding or time.time() > until + 5 or STOP):
            break
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            data = None
        except ConnectionRefusedError:
            errors += 1; problem(f"{name}: port unreachable from usernet")
            data = None
        if data is None:
            if now - last_progress >= 1:
                last_progress = now
                report(now)
            select.select([sock], [], [], max(0.0, min(next_send - now, 0.005)) if sending else 0.05)
            continue
        q, body = parse(data)
        if q is None:
            if body is not None:
                unexpected += 1; problem(f"{name}: {body}")
            continue
        if q in outstanding:
            expect, t = outstanding.pop(q)
            rtt = now - t
            if rtt > 1.0: late += 1
            if body == expect:
                ok += 1; nbytes += len(body); answered.add(q)
                rtt_sum += rtt; rtt_max = max(rtt_max, rtt); rtt_min = rtt if rtt_min is None else min(rtt_min, rtt)
            else:
                corrupt += 1
                problem(f"{name}: #{q} came back different: {len(body)} of {len(expect)} bytes, first difference at byte {first_difference(body, expect)}")
        elif q in answered:
            dup += 1; problem(f"{name}: #{q} came back twice")
        else:
            unexpected += 1; problem(f"{name}: #{q} came back but was never sent")
        if len(answered) > 200000:
            answered = set(x for x in answered if x > n - 100000)
    lost = sorted(outstanding)
    for q in lost[:10]:
        problem(f"{name}: #{q} ({len(outstanding[q][0])} bytes, sent {outstanding[q][1] - start:.1f} s in) never came back")
    report(time.monotonic())
    rtt = f"{rtt_min * 1000:.3f}/{rtt_sum / ok * 1000:.3f}/{rtt_max * 1000:.3f}" if ok else "-"
    return {"sent": n, "ok": ok, "bytes": nbytes, "lost": len(lost), "corrupt": corrupt, "duplicated": dup,
            "unexpected": unexpected, "errors": errors, "late_over_1s": late, "rtt_ms_min_avg_max": rtt}

def finish(summary):
    print(json.dumps(summary), flush=True)
    bad = summary["lost"] + summary["corrupt"] + summary["duplicated"] + summary["unexpected"] + summary["errors"]
    return 0 if bad == 0 and summary["ok"] > 0 else 1

def udp(a):
    """Datagrams to UDP echo, each its number and random bytes: 0-1400 bytes mostly, up to 8000 (fragmented) a
    quarter of the time, up to 60000 now and then."""
    rng = random.Random(7)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((a.src, 0))
    s.connect((a.dst, 7))
    s.setblocking(False)
    def make(n):
        r = rng.random()
        size = rng.randint(0, 1400) if r < 0.72 else rng.randint(1401, 8000) if r < 0.98 else rng.randint(8001, 60000)
        d = struct.pack("!IQ", MAGIC, n) + rng.randbytes(size)
        return d, d
    def parse(d):
        if len(d) < 12 or struct.unpack("!I", d[:4])[0] != MAGIC:
            return None, f"a datagram that is none of ours ({len(d)} bytes)"
        return struct.unpack("!Q", d[4:12])[0], d
    return finish(echo_loop("udp", s, make, parse, a.rate, 8, a.until, a.progress))

def ping(a):
    """ICMP echo requests from the kernel (a raw socket: the kernel's IP), `rate` a second whatever the replies do,
    as ping -i does, but with 56 bytes of its own (its number and random bytes) checked in every reply, replies
    accepted up to 5 s after the end, and the reply's ICMP checksum verified."""
    rng = random.Random(3)
    ident = os.getpid() & 0xFFFF
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((a.src, 0))
    s.connect((a.dst, 0))
    s.setblocking(False)
    def make(n):
        data = struct.pack("!IQ", MAGIC, n) + rng.randbytes(44)
        m = struct.pack("!BBHHH", 8, 0, 0, ident, n & 0xFFFF) + data
        return m[:2] + struct.pack("!H", csum(m)) + m[4:], data
    def parse(d):
        ihl = (d[0] & 15) * 4
        m = d[ihl:]
        if len(m) < 8: return None, f"an ICMP message of {len(m)} bytes"
        typ, code, _, rid, rseq = struct.unpack("!BBHHH", m[:8])
        if typ == 8: return None, None                                  # a request (ours, or the hostile sender's)
        if typ != 0:
            inner = m[8:]
            ih = (inner[0] & 15) * 4 if inner else 0
            if len(inner) >= ih + 8 and inner[9] == 1 and struct.unpack("!H", inner[ih + 4:ih + 6])[0] == ident:
                return None, f"ICMP type {typ} code {code} about one of our requests"
            return None, None                                           # not about us
        if rid != ident: return None, None                              # another pinger's
        body = m[8:]
        if csum(m) != 0: return None, f"an echo reply with a bad ICMP checksum (seq {rseq})"
        if len(body) < 12 or struct.unpack("!I", body[:4])[0] != MAGIC:
            return None, f"an echo reply (seq {rseq}) with data that is none of ours"
        q = struct.unpack("!Q", body[4:12])[0]
        if q & 0xFFFF != rseq: return None, f"an echo reply whose seq {rseq} does not match its data's #{q}"
        return q, body
    return finish(echo_loop("ping", s, make, parse, a.rate, 0, a.until, a.progress))

# ---------------------------------------------------------------------------------------------------------- tcp
class Stats:
    def __init__(self):
        self.c = {}
    def add(self, k, n=1):
        self.c[k] = self.c.get(k, 0) + n

SNDBUF = 32 << 10   # the kernel doubles it: 64 KiB of sk_sndbuf, payload and overhead

async def exchange(src, dst, port, payload, stall, expect_len=None):
    """Connect, send payload (then FIN) while reading; return what came back until EOF, or expect_len bytes.
    Raises on failure, and TimeoutError when nothing moved for `stall` seconds."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small send buffer bounds what each connection has in flight, so what all of them have queued in the TAP
    # toward usernet stays far below the TAP's queue (see the script's txqueuelen): a slow reader delays, never drops.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF)
    s.setblocking(False)
    try:
        s.bind((src, 0))
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(s, (dst, port)), stall)
        r, w = await asyncio.open_connection(sock=s)
    except BaseException:
        s.close()
        raise
    sender = None
    try:
        async def send():
            if payload:
                w.write(payload)
                await w.drain()
            if expect_len is None:
                w.write_eof()
        sender = asyncio.ensure_future(send())
        got = bytearray()
        while True:
            want = 1 << 20 if expect_len is None else min(1 << 20, expect_len - len(got))
            if want == 0: break
            chunk = await asyncio.wait_for(r.read(want), stall)
            if not chunk: break
            got += chunk
            if expect_len is None and len(got) > len(payload):
                break
        await asyncio.wait_for(sender, stall)
        return got
    finally:
        if sender is not None and not sender.done(): sender.cancel()
        w.close()
        try: await asyncio.wait_for(w.wait_closed(), 5)
        except Exception: pass

def chargen_pattern(n):
    lines = bytearray()
    for start in range(95):
        lines += bytes(32 + (start + i) % 95 for i in range(72)) + b"\r\n"
    reps = n // len(lines) + 1
    return bytes(lines * reps)[:n]

async def tcp_worker(kind, i, a, st, deadline, pattern):
    """One connection after another of one kind until the deadline: echo (random size), chargen (compared with RFC
    864's pattern), discard (nothing may come back), lossy (a.size bytes through echo)."""
    rng = random.Random({"echo": 1000, "chargen": 2000, "discard": 3000, "lossy": 5000}[kind] + i)
    while time.time() < deadline and not STOP:
        st.add("inflight")
        try:
            if kind in ("echo", "lossy"):
                n = a.size if kind == "lossy" else rng.randint(1 << 10, 256 << 10)
                payload = rng.randbytes(n)
                got = await exchange(a.src, a.dst, 7, payload, a.stall)
                if got == payload:
                    st.add(kind + "_done"); st.add(kind + "_bytes", n)
                else:
                    st.add("failed")
                    problem(f"tcp {kind} #{i}: {len(got)} of {n} bytes came back, first difference at byte {first_difference(got, payload)}")
            elif kind == "chargen":
                n = rng.randint(64 << 10, 4 << 20)
                got = await exchange(a.src, a.dst, 19, b"", a.stall, expect_len=n)
                if got == pattern[:n]:
                    st.add("chargen_done"); st.add("chargen_bytes", n)
                else:
                    st.add("failed")
                    problem(f"tcp chargen #{i}: {len(got)} of {n} bytes, first difference from RFC 864 at byte {first_difference(got, pattern[:n])}")
            else:
                n = rng.randint(1 << 10, 1 << 20)
                got = await exchange(a.src, a.dst, 9, rng.randbytes(n), a.stall)
                if not got:
                    st.add("discard_done"); st.add("discard_bytes", n)
                else:
                    st.add("failed"); problem(f"tcp discard #{i}: {len(got)} bytes came back from discard")
        except (asyncio.TimeoutError, TimeoutError):
            st.add("failed"); problem(f"tcp {kind} #{i}: no progress for {a.stall} s")
        except (OSError, asyncio.IncompleteReadError) as e:
            st.add("failed"); problem(f"tcp {kind} #{i}: {type(e).__name__}: {e}")
        except asyncio.CancelledError:
            st.add("failed"); problem(f"tcp {kind} #{i}: abandoned unfinished (stopped)")
            return
        finally:
            st.add("inflight", -1)

async def tcp_main(a, kinds):
    st = Stats()
    deadline = a.until
    pattern = chargen_pattern(4 << 20) if "chargen" in kinds else b""
    start = time.monotonic()
    workers = []
    for kind, count in kinds.items():
        workers += [asyncio.ensure_future(tcp_worker(kind, i, a, st, deadline, pattern)) for i in range(count)]
    async def report():
        while True:
            d = dict(st.c); d["t"] = round(time.monotonic() - start, 1); d["problems"] = PROBLEMS
            progress(a.progress, d)
            await asyncio.sleep(1)
    reporter = asyncio.ensure_future(report())
    def stop():
        on_term()
        for w in workers: w.cancel()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)
    await asyncio.gather(*workers, return_exceptions=True)
    reporter.cancel()
    d = dict(st.c); d["t"] = round(time.monotonic() - start, 1); d["problems"] = PROBLEMS
    progress(a.progress, d)
    d.pop("inflight", None)
    print(json.dumps(d), flush=True)
    done = sum(v for k, v in d.items() if k.endswith("_done"))
    return 0 if d.get("failed", 0) == 0 and done > 0 else 1

def tcp(a):
    return asyncio.run(tcp_main(a, {"echo": a.connections, "chargen": 2, "discard": 2}))

def lossy(a):
    return asyncio.run(tcp_main(a, {"lossy": a.connections}))

# ------------------------------------------------------------------------------------------------------ hostile
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack(f"!{len(b)//2}H", b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

def ip4(a): return socket.inet_aton(a)

def mac(s): return bytes.fromhex(s.replace(":", ""))

class Hostile:
    def __init__(self, a):
        self.rng = random.Random(99)
        self.us = ip4(a.dst)
        self.umac = mac(a.mac)
        self.net = a.dst.rsplit(".", 1)[0]
        self.kinds = [(name, w) for name, w in self.KINDS]
        self.total = sum(w for _, w in self.kinds)

    def fake_ip(self): return ip4(f"{self.net}.{self.rng.randint(100, 254)}")
    def fake_mac(self): return bytes([0x02] + [self.rng.randint(0, 255) for _ in range(5)])
    def eth(self, payload, ethertype=0x0800, dst=None, src=None):
        return (dst or self.umac) + (src or self.fake_mac()) + struct.pack("!H", ethertype) + payload

    def ip(self, proto, payload, src=None, dst=None, ident=None, frag=0, ttl=64, opts=b"", total=None, ihl=None,
           version=4, good_csum=True):
        src = src or self.fake_ip(); dst = dst or self.us
        ihl = ihl if ihl is not None else 5 + len(opts) // 4
        total = total if total is not None else 20 + len(opts) + len(payload)
        ident = self.rng.randint(0, 65535) if ident is None else ident
        h = struct.pack("!BBHHHBBH4s4s", (version << 4) | (ihl & 15), 0, total & 0xFFFF, ident, frag, ttl, proto, 0, src, dst) + opts
        c = csum(h)
        if not good_csum: c ^= 0x5A5A
        return h[:10] + struct.pack("!H", c) + h[12:] + payload

    def pseudo(self, src, dst, proto, length):
        return src + dst + struct.pack("!BBH", 0, proto, length)

    def udp(self, src, dst, sport, dport, data, good_csum=True, length=None):
        length = 8 + len(data) if length is None else length
        h = struct.pack("!HHHH", sport, dport, length & 0xFFFF, 0)
        c = csum(self.pseudo(src, dst, 17, 8 + len(data)) + h + data) or 0xFFFF
        if not good_csum: c ^= 0x1234
        return h[:6] + struct.pack("!H", c) + data

    def tcp(self, src, dst, sport, dport, flags, data=b"", opts=b"", doff=None, good_csum=True, seq=None, ack=None):
        doff = doff if doff is not None else 5 + len(opts) // 4
        seq = self.rng.getrandbits(32) if seq is None else seq
        ack = self.rng.getrandbits(32) if ack is None else ack
        h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (doff & 15) << 4, flags, self.rng.randint(0, 65535), 0, 0) + opts
        c = csum(self.pseudo(src, dst, 6, len(h) + len(data)) + h + data)
        if not good_csum: c ^= 0x0F0F
        return h[:16] + struct.pack("!H", c) + h[18:] + data

    def icmp(self, typ, code, rest, data, good_csum=True):
        m = struct.pack("!BBH", typ, code, 0) + rest + data
        c = csum(m)
        if not good_csum: c ^= 0x00FF
        return m[:2] + struct.pack("!H", c) + m[4:]

    def echo(self, n=56):
        return self.icmp(8, 0, struct.pack("!HH", self.rng.randint(0, 65535), self.rng.randint(0, 65535)), self.rng.randbytes(n))

    def arp(self, op=1, sha=None, spa=None, tha=b"\0" * 6, tpa=None, htype=1, ptype=0x0800, hlen=6, plen=4):
        return struct.pack("!HHBBH", htype, ptype, hlen, plen, op) + (sha or self.fake_mac()) + (spa or self.fake_ip()) + tha + (tpa or self.us)

    # Each kind returns a list of frames.
    def k_random(self): return [self.eth(self.rng.randbytes(self.rng.randint(0, 1486)), self.rng.choice([0x0800, 0x0806, 0x86DD, 0x8100, self.rng.randint(0, 65535)]))]
    def k_random_broadcast(self): return [self.eth(self.rng.randbytes(self.rng.randint(0, 1486)), self.rng.choice([0x0800, 0x0806]), dst=b"\xff" * 6)]
    def k_runt(self): return [self.eth(self.rng.randbytes(self.rng.randint(0, 19)), self.rng.choice([0x0800, 0x0806]))]
    def k_bad_ip_checksum(self): return [self.eth(self.ip(1, self.echo(), good_csum=False))]
    def k_bad_icmp_checksum(self): return [self.eth(self.ip(1, self.icmp(8, 0, b"\0\1\0\1", self.rng.randbytes(56), good_csum=False)))]
    def k_ihl_below_5(self): return [self.eth(self.ip(1, self.echo(), ihl=self.rng.randint(0, 4)))]
    def k_ihl_beyond(self): return [self.eth(self.ip(1, b"\0" * 8, ihl=15))]
    def k_total_beyond(self): return [self.eth(self.ip(1, self.echo(), total=self.rng.randint(200, 65535)))]
    def k_total_below_header(self): return [self.eth(self.ip(1, self.echo(), total=self.rng.randint(0, 19)))]
    def k_bad_version(self): return [self.eth(self.ip(1, self.echo(), version=self.rng.choice([0, 5, 6, 15])))]
    def k_ip_options(self):
        opts = self.rng.randbytes(4 * self.rng.randint(1, 10))
        return [self.eth(self.ip(1, self.echo(), opts=opts))]
    def k_unknown_protocol(self): return [self.eth(self.ip(self.rng.choice([0, 2, 41, 47, 50, 132, 253, 255]), self.rng.randbytes(40)))]
    def k_udp_bad(self):
        src = self.fake_ip(); v = self.rng.randint(0, 3); data = self.rng.randbytes(self.rng.randint(0, 200))
        if v == 0: u = self.udp(src, self.us, 5555, 7, data, good_csum=False)
        elif v == 1: u = self.udp(src, self.us, 5555, 7, data, length=len(data) + 8 + self.rng.randint(1, 500))
        elif v == 2: u = self.udp(src, self.us, 5555, 7, data, length=self.rng.randint(0, 7))
        else: u = self.udp(src, self.us, 5555, 7, data)[:self.rng.randint(0, 7)]
        return [self.eth(self.ip(17, u, src=src))]
    def k_udp_closed_port(self):
        src = self.fake_ip()
        return [self.eth(self.ip(17, self.udp(src, self.us, 5555, self.rng.choice([1, 53, 1000, 40000, 65535]), b"x" * 20), src=src))]
    def k_tcp_no_connection(self):
        src = self.fake_ip()
        flags = self.rng.choice([0x10, 0x18, 0x11, 0x04, 0x14, 0x03, 0x06, 0x00, 0x3F, 0xFF, 0x20, 0x01, 0x02])
        data = self.rng.randbytes(self.rng.randint(0, 100)) if self.rng.random() < 0.5 else b""
        return [self.eth(self.ip(6, self.tcp(src, self.us, self.rng.randint(1024, 65535), self.rng.choice([7, 9, 19, 80, 5201, 12345]), flags, data), src=src))]
    def k_tcp_bad(self):
        src = self.fake_ip(); v = self.rng.randint(0, 4); sport = self.rng.randint(1024, 65535)
        if v == 0: t = self.tcp(src, self.us, sport, 7, 0x02, good_csum=False)
        elif v == 1: t = self.tcp(src, self.us, sport, 7, 0x02, doff=self.rng.randint(0, 4))
        elif v == 2: t = self.tcp(src, self.us, sport, 7, 0x02, doff=15)
        elif v == 3:
            opts = self.rng.choice([b"\x02\x00\x00\x00", b"\x02\x04\x00\x00", b"\x03\x03\xff\x00", b"\x08\x0a\x00\x00",
                                    b"\x04\x00\x00\x00", b"\x05\x01\x00\x00", b"\x02\xff\x00\x00", self.rng.randbytes(8)])
            t = self.tcp(src, self.us, sport, self.rng.choice([7, 9, 19]), 0x02, opts=opts)
        else: t = self.tcp(src, self.us, sport, 7, 0x10)[:self.rng.randint(0, 19)]
        return [self.eth(self.ip(6, t, src=src))]
    def k_frag_never(self):
        src = self.fake_ip(); ident = self.rng.randint(0, 65535); proto = self.rng.choice([1, 17, 6])
        v = self.rng.randint(0, 2)
        if v == 0: return [self.eth(self.ip(proto, self.rng.randbytes(1400), src=src, ident=ident, frag=0x2000))]
        if v == 1: return [self.eth(self.ip(proto, self.rng.randbytes(800), src=src, ident=ident, frag=0x2000 | self.rng.randint(1, 5000)))]
        return [self.eth(self.ip(proto, self.rng.randbytes(600), src=src, ident=ident, frag=self.rng.randint(1, 5000)))]
    def k_frag_teardrop(self):
        src = self.fake_ip(); ident = self.rng.randint(0, 65535); e = self.echo(64); evil = bytearray(e[24:]); evil[0] ^= 0xFF
        return [self.eth(self.ip(1, e[:40], src=src, ident=ident, frag=0x2000)), self.eth(self.ip(1, bytes(evil), src=src, ident=ident, frag=3))]
    def k_frag_past_max(self):
        src = self.fake_ip(); ident = self.rng.randint(0, 65535)
        return [self.eth(self.ip(1, self.echo(1472), src=src, ident=ident, frag=0x2000)), self.eth(self.ip(1, b"\0" * 100, src=src, ident=ident, frag=65528 // 8))]
    def k_frag_tiny_reversed(self):
        src = self.fake_ip(); ident = self.rng.randint(0, 65535); e = self.echo(56)
        frames = [self.eth(self.ip(1, e[o:o + 8], src=src, ident=ident, frag=(0x2000 if o + 8 < len(e) else 0) | (o // 8))) for o in range(0, len(e), 8)]
        return frames[::-1]
    def k_icmp_error_fake(self):
        router = self.fake_ip(); peer = self.fake_ip()
        proto = self.rng.choice([6, 17])
        inner_l4 = struct.pack("!HHI", 7, self.rng.randint(1024, 65535), self.rng.getrandbits(32))
        inner = self.ip(proto, inner_l4, src=self.us, dst=peer)[:28]
        typ, code = self.rng.choice([(3, 0), (3, 1), (3, 3), (3, 4), (11, 0), (11, 1), (12, 0), (4, 0), (5, 1)])
        rest = struct.pack("!HH", 0, self.rng.choice([0, 68, 296, 576])) if (typ, code) == (3, 4) else (router if typ == 5 else b"\0\0\0\0")
        return [self.eth(self.ip(1, self.icmp(typ, code, rest, inner), src=router))]
    def k_icmp_odd(self):
        v = self.rng.randint(0, 2)
        if v == 0: return [self.eth(self.ip(1, self.icmp(self.rng.choice([1, 2, 7, 13, 15, 17, 42, 200, 255]), self.rng.randint(0, 255), b"\0" * 4, self.rng.randbytes(20))))]
        if v == 1: return [self.eth(self.ip(1, self.echo(), dst=ip4(self.net + ".255")), dst=b"\xff" * 6)]
        return [self.eth(self.ip(1, self.rng.randbytes(self.rng.randint(0, 7))))]
    def k_loopback_source(self): return [self.eth(self.ip(1, self.echo(), src=ip4("127.0.0.1")))]
    def k_arp_garbage(self):
        v = self.rng.randint(0, 5)
        if v == 0: return [self.eth(self.arp()[:self.rng.randint(0, 27)], 0x0806)]
        if v == 1: return [self.eth(self.arp(htype=self.rng.choice([0, 6, 0xFFFF])), 0x0806)]
        if v == 2: return [self.eth(self.arp(ptype=self.rng.choice([0x86DD, 0, 0x0806])), 0x0806)]
        if v == 3: return [self.eth(self.arp(hlen=self.rng.choice([0, 8, 255]), plen=self.rng.choice([0, 16, 255])), 0x0806)]
        if v == 4: return [self.eth(self.arp(op=self.rng.choice([0, 3, 4, 8, 0xFFFF])), 0x0806)]
        return [self.eth(self.arp(sha=b"\x01\x00\x5e\x00\x00\x01"), 0x0806, dst=b"\xff" * 6)]
    def k_arp_strangers(self):
        v = self.rng.randint(0, 3)
        if v == 0: return [self.eth(self.arp(op=1), 0x0806, dst=b"\xff" * 6)]                      # who has us, tell a stranger
        if v == 1: return [self.eth(self.arp(op=2, tha=self.umac), 0x0806)]                        # an answer nobody asked for
        if v == 2: return [self.eth(self.arp(op=1, tpa=self.fake_ip()), 0x0806, dst=b"\xff" * 6)]  # about someone else
        return [self.eth(self.arp(op=1, spa=b"\0\0\0\0"), 0x0806, dst=b"\xff" * 6)]                 # an RFC 5227 probe for us

    KINDS = [("random", 6), ("random_broadcast", 2), ("runt", 4), ("bad_ip_checksum", 4), ("bad_icmp_checksum", 4),
             ("ihl_below_5", 3), ("ihl_beyond", 2), ("total_beyond", 3), ("total_below_header", 3), ("bad_version", 3),
             ("ip_options", 3), ("unknown_protocol", 3), ("udp_bad", 5), ("udp_closed_port", 2), ("tcp_no_connection", 8),
             ("tcp_bad", 6), ("frag_never", 6), ("frag_teardrop", 2), ("frag_past_max", 2), ("frag_tiny_reversed", 2),
             ("icmp_error_fake", 4), ("icmp_odd", 3), ("loopback_source", 2), ("arp_garbage", 6), ("arp_strangers", 4)]

    def pick(self):
        x = self.rng.uniform(0, self.total)
        for name, w in self.kinds:
            x -= w
            if x <= 0: return name
        return self.kinds[-1][0]

def hostile(a):
    h = Hostile(a)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    start = time.monotonic()
    counts = {}
    frames = failed = 0
    next_at = start
    last_progress = 0.0
    while time.time() < a.until and not STOP:
        now = time.monotonic()
        if now < next_at:
            time.sleep(next_at - now)
            continue
        kind = h.pick()
        for f in getattr(h, "k_" + kind)():
            if len(f) < 60 and kind not in ("runt",) and h.rng.random() < 0.5:
                f = f + b"\0" * (60 - len(f))      # as a NIC pads short frames: trailing bytes after the datagram
            try:
                s.send(f)
                frames += 1
            except OSError as e:
                failed += 1; problem(f"hostile: could not send a {kind} frame of {len(f)} bytes: {e}")
        counts[kind] = counts.get(kind, 0) + 1
        next_at = max(next_at + 1.0 / a.rate, now - 1.0)
        if now - last_progress >= 1:
            last_progress = now
            progress(a.progress, {"t": round(now - start, 1), "frames": frames, "failed": failed, "problems": PROBLEMS})
    progress(a.progress, {"t": round(time.monotonic() - start, 1), "frames": frames, "failed": failed, "problems": PROBLEMS})
    print(json.dumps({"frames": frames, "failed": failed, "kinds": counts}), flush=True)
    return 0 if failed == 0 and frames > 0 else 1

def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["ping", "udp", "tcp", "lossy", "hostile"])
    p.add_argument("--until", type=float, required=True)
    p.add_argument("--progress", required=True)
    p.add_argument("--src"); p.add_argument("--dst"); p.add_argument("--mac"); p.add_argument("--iface")
    p.add_argument("--rate", type=float, default=100)
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--size", type=int, default=16 << 20)
    p.add_argument("--stall", type=float, default=120)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    try:
        rc = {"ping": ping, "udp": udp, "tcp": tcp, "lossy": lossy, "hostile": hostile}[a.mode](a)
    except Exception as e:
        import traceback; traceback.print_exc()
        print(json.dumps({"crashed": f"{type(e).__name__}: {e}"}), flush=True)
        return 2
    return rc

if __name__ == "__main__":
    sys.exit(main())
PY
"$python" -c "import ast, sys; ast.parse(open(sys.argv[1]).read())" "$work/soak_load.py" || die "the load generator does not parse"

# --- the namespace ---------------------------------------------------------------------------------------------
say "namespace $ns: usernet $stack_ip on $tap, bridged to the kernel at $kernel_ip (usk0) and $lossy_ip (usk1, lossy flows)"
ip netns add "$ns" || die "could not create namespace $ns"
created_ns="$ns"
nsx() { ip netns exec "$ns" "$@"; }
ip -n "$ns" link set lo up
# IPv6 off before the devices exist, so the kernel stays quiet on them; one address per interface for ARP; no
# reverse-path filter (two interfaces on one prefix); TIME-WAIT reuse, as 100 connections close hundreds a second.
nsx sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv4.conf.default.arp_ignore=1 net.ipv4.conf.all.arp_ignore=1 \
    net.ipv4.conf.default.arp_announce=2 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.tcp_tw_reuse=1
ip -n "$ns" link add usb0 type bridge
ip -n "$ns" tuntap add dev "$tap" mode tap
# The TAP's queue toward usernet (tun's ring of txqueuelen frames; when it is full the kernel drops the frame and
# counts it as the TAP's TX dropped). 10,000 frames hold all that the loads can have in flight at once: 104 TCP
# connections with a 32 KiB send buffer each (64 KiB with the kernel's doubling: at most ~4,700 MSS-sized frames),
# 8 UDP datagrams (~330 fragments), ping, the hostile frames and the kernel's ACKs. So a stack slow to read makes
# the queue longer and the round trips slower, but nothing is lost on the way unless it stops reading for seconds.
ip -n "$ns" link set "$tap" txqueuelen 10000
ip -n "$ns" link add usw0 type veth peer name usk0
ip -n "$ns" link add usw1 type veth peer name usk1
for port in "$tap" usw0 usw1; do ip -n "$ns" link set "$port" master usb0 up; done
ip -n "$ns" link set usb0 up
for dev in usk1 usw1; do
    nsx ethtool -K "$dev" tso off gso off gro off sg off tx off rx off >/dev/null || die "ethtool could not turn offloads off on $dev"
done
ip -n "$ns" addr add "$kernel_ip/24" dev usk0
ip -n "$ns" addr add "$lossy_ip/24" dev usk1 noprefixroute
ip -n "$ns" link set usk0 up
ip -n "$ns" link set usk1 up
ip -n "$ns" route add "${stack_ip%.*}.0/24" dev usk1 src "$lossy_ip" table 77
ip -n "$ns" rule add from "$lossy_ip" lookup 77 pref 1000

# The loss: 2% of the lossy flows' TCP segments each way, each rule counting what it saw and what it dropped.
cat > "$work/loss.nft" <<EOF
table bridge usernet_soak_loss {
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "usw1" ip saddr $lossy_ip ip daddr $stack_ip tcp dport 7 counter numgen random mod 1000 < $loss_permille counter drop
  }
}
table inet usernet_soak_loss {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "usk1" ip saddr $stack_ip ip daddr $lossy_ip tcp sport 7 counter numgen random mod 1000 < $loss_permille counter drop
  }
}
EOF
nsx nft -f "$work/loss.nft" || die "nftables refused the loss rules"

# --- usernet ---------------------------------------------------------------------------------------------------
# Started directly (not through a function), so that $! is usernet itself and SIGTERM reaches it.
ip netns exec "$ns" "${usernet[@]}" up --tap "$tap" --ip "$stack_ip/24" --serve echo,discard,chargen --stats "$stats_every" \
    > "$work/usernet.log" 2>&1 &
usernet_pid=$!
for _ in $(seq 600); do
    grep -q '^usernet: up' "$work/usernet.log" && break
    kill -0 "$usernet_pid" 2>/dev/null || { cat "$work/usernet.log" >&2; die "usernet exited before coming up"; }
    sleep 0.1
done
grep -q '^usernet: up' "$work/usernet.log" || { cat "$work/usernet.log" >&2; die "usernet did not come up within 60 s"; }
up_line="$(grep -m1 '^usernet: up' "$work/usernet.log")"
say "$up_line"
stack_mac="$(sed -n 's/.* mac \([0-9a-f:]*\) .*/\1/p' <<< "$up_line")"
[ -n "$stack_mac" ] || die "could not read usernet's MAC from: $up_line"

# --- the loads -------------------------------------------------------------------------------------------------
cat /proc/net/softnet_stat > "$work/softnet.before" 2>/dev/null || true
t0=$(date +%s)
until_epoch=$(( t0 + duration ))
say "loads start for $duration s (until $(date -d "@$until_epoch" '+%H:%M:%S'))"
start_load() { # NAME COMMAND...: runs in the namespace, stdout NAME.out, stderr NAME.err
    local name="$1"; shift
    ip netns exec "$ns" "$@" > "$work/$name.out" 2> "$work/$name.err" &
    load_pid[$name]=$!
}
start_load ping "$python" "$work/soak_load.py" ping --until "$until_epoch" --progress "$work/ping.progress" \
    --src "$kernel_ip" --dst "$stack_ip" --rate 100
start_load udp "$python" "$work/soak_load.py" udp --until "$until_epoch" --progress "$work/udp.progress" \
    --src "$kernel_ip" --dst "$stack_ip" --rate 500
start_load tcp "$python" "$work/soak_load.py" tcp --until "$until_epoch" --progress "$work/tcp.progress" \
    --src "$kernel_ip" --dst "$stack_ip" --connections 100 --stall 120
start_load lossy "$python" "$work/soak_load.py" lossy --until "$until_epoch" --progress "$work/lossy.progress" \
    --src "$lossy_ip" --dst "$stack_ip" --connections 2 --size $(( 16 << 20 )) --stall 120
start_load hostile "$python" "$work/soak_load.py" hostile --until "$until_epoch" --progress "$work/hostile.progress" \
    --iface "$tap" --dst "$stack_ip" --mac "$stack_mac" --rate 100

# jget FILE KEY...: the keys' values (0 when absent) from a JSON progress file, space-separated
jget() {
    local f="$1"; shift
    "$python" - "$f" "$@" <<'PY' 2>/dev/null || { local k; for k in "$@"; do printf '0 '; done; echo; }
import json, sys
try: d = json.load(open(sys.argv[1]))
except Exception: d = {}
print(" ".join(str(d.get(k, 0)) for k in sys.argv[2:]))
PY
}

# sample: one row of samples.tsv: t, usernet's last stats (rss, managed, gc0-2, threads), the loads' progress
printf 't\trss_kib\tmanaged_kib\tgc0\tgc1\tgc2\tthreads\tpings\tudp_ok\tudp_bytes\techo_done\techo_bytes\tchargen_bytes\tlossy_done\tlossy_bytes\thostile_frames\n' > "$work/samples.tsv"
sample() {
    local t=$(( $(date +%s) - t0 )) stats rss managed g0 g1 g2 th pings
    stats="$(grep '^usernet: stats' "$work/usernet.log" | tail -n1 || true)"
    rss=$(sed -n 's/.*rss_kib=\([0-9]*\).*/\1/p' <<< "$stats"); managed=$(sed -n 's/.*managed_kib=\([0-9]*\).*/\1/p' <<< "$stats")
    g0=$(sed -n 's/.*gc0=\([0-9]*\).*/\1/p' <<< "$stats"); g1=$(sed -n 's/.*gc1=\([0-9]*\).*/\1/p' <<< "$stats")
    g2=$(sed -n 's/.*gc2=\([0-9]*\).*/\1/p' <<< "$stats"); th=$(sed -n 's/.*threads=\([0-9]*\).*/\1/p' <<< "$stats")
    read -r pings < <(jget "$work/ping.progress" ok)
    read -r udp_ok udp_bytes < <(jget "$work/udp.progress" ok bytes)
    read -r echo_done echo_bytes chargen_bytes < <(jget "$work/tcp.progress" echo_done echo_bytes chargen_bytes)
    read -r lossy_done lossy_bytes < <(jget "$work/lossy.progress" lossy_done lossy_bytes)
    read -r frames < <(jget "$work/hostile.progress" frames)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${rss:--}" "${managed:--}" "${g0:--}" "${g1:--}" "${g2:--}" "${th:--}" \
        "${pings:-0}" "$udp_ok" "$udp_bytes" "$echo_done" "$echo_bytes" "$chargen_bytes" "$lossy_done" "$lossy_bytes" "$frames" >> "$work/samples.tsv"
}

# --- the run: watch usernet and the loads, sample every $stats_every s ------------------------------------------
declare -A load_rc=()
usernet_died=""
next_sample=$(( t0 + stats_every + 1 ))   # a second after usernet's stats line, so that each row has a fresh one
while :; do
    now=$(date +%s)
    if ! kill -0 "$usernet_pid" 2>/dev/null; then
        usernet_died="usernet exited during the run, $(( now - t0 )) s in"
        say "$usernet_died; stopping the loads"
        wait "$usernet_pid" 2>/dev/null && usernet_rc=0 || usernet_rc=$?
        usernet_pid=""
        # The loads stop at SIGTERM and report what they had lost by then.
        for name in "${!load_pid[@]}"; do kill -TERM "${load_pid[$name]}" 2>/dev/null || true; done
        for _ in $(seq 150); do
            still=0
            for name in "${!load_pid[@]}"; do kill -0 "${load_pid[$name]}" 2>/dev/null && still=1; done
            [ "$still" = 0 ] && break
            sleep 0.1
        done
        for name in "${!load_pid[@]}"; do
            if kill -0 "${load_pid[$name]}" 2>/dev/null; then kill -KILL "${load_pid[$name]}" 2>/dev/null || true; fi
            wait "${load_pid[$name]}" && load_rc[$name]=0 || load_rc[$name]=$?
        done
        break
    fi
    running=0
    for name in "${!load_pid[@]}"; do
        [ -n "${load_rc[$name]+x}" ] && continue
        if kill -0 "${load_pid[$name]}" 2>/dev/null; then running=$(( running + 1 ))
        else wait "${load_pid[$name]}" && load_rc[$name]=0 || load_rc[$name]=$?
        fi
    done
    [ "$now" -ge "$next_sample" ] && { sample; next_sample=$(( next_sample + stats_every )); }
    [ "$running" -eq 0 ] && break
    if [ "$now" -gt $(( until_epoch + grace )) ]; then
        for name in "${!load_pid[@]}"; do
            [ -n "${load_rc[$name]+x}" ] && continue
            say "$name did not finish within $grace s after the end; stopping it"
            kill -KILL "${load_pid[$name]}" 2>/dev/null || true
            wait "${load_pid[$name]}" 2>/dev/null || true
            load_rc[$name]=timeout
        done
        break
    fi
    sleep 1
done
sample
for name in "${!load_pid[@]}"; do
    if [ -z "${load_rc[$name]+x}" ]; then
        kill -KILL "${load_pid[$name]}" 2>/dev/null || true
        wait "${load_pid[$name]}" 2>/dev/null || true
        load_rc[$name]=stopped
    fi
done
load_pid=()
t_end=$(( $(date +%s) - t0 ))

if [ -n "$usernet_pid" ]; then
    kill -TERM "$usernet_pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$usernet_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$usernet_pid" 2>/dev/null; then
        kill -KILL "$usernet_pid" 2>/dev/null || true; wait "$usernet_pid" 2>/dev/null || true; usernet_rc=killed
    else
        wait "$usernet_pid" && usernet_rc=0 || usernet_rc=$?
    fi
    usernet_pid=""
fi
nsx nft list ruleset > "$work/loss.counters" 2>/dev/null || true
# Where frames were dropped on the kernel's side, for a failure's diagnosis: per link, and the per-CPU backlogs.
{ nsx ip -s -s link; echo; echo "softnet_stat:"; cat /proc/net/softnet_stat; echo; nsx nstat -az 2>/dev/null; } > "$work/links.txt" 2>&1 || true

# --- the report ------------------------------------------------------------------------------------------------
fails=()
fail() { fails+=("${*%%:*}"); echo "  FAIL  $*"; }     # the verdict names each failed check by the words before its colon
pass() { echo "  ok    $*"; }

echo
echo "Soak: \`bench/soak.sh $minutes\`, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r); loads ran $duration s, the run $t_end s"
echo
echo "| t s | RSS MiB | managed MiB | gc0 | gc1 | gc2 | threads | pings | UDP ok | TCP echo done | lossy done | MiB compared |"
echo "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
rows=$(( $(wc -l < "$work/samples.tsv") - 1 ))
step=$(( (rows + 29) / 30 )); [ "$step" -ge 1 ] || step=1
awk -F'\t' -v step="$step" -v rows="$rows" '
    function mib(k) { return k == "-" ? "-" : sprintf("%.1f", k / 1024) }
    NR > 1 && ((NR - 1) % step == 0 || NR - 1 == rows) {
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.0f |\n", $1, mib($2), mib($3), $4, $5, $6, $7, $8, $9, $11, $14,
            ($10 + $12 + $13 + $15) / 1048576 }' "$work/samples.tsv"
echo
echo "Checks:"

summary() { tail -n1 "$work/$1.out" 2>/dev/null || true; }
problems() { if [ -s "$work/$1.err" ]; then sed -n '1,10s/^/          /p' "$work/$1.err"; fi; }
# load_check NAME TEXT: pass when the load exited 0 (its own checks held), else fail with its summary and first problems
load_check() {
    local name="$1" text="$2"
    if [ "${load_rc[$name]:-?}" = 0 ]; then pass "$text"
    else fail "$text (exit status ${load_rc[$name]:-?})"; problems "$name"
    fi
}
# outcome NAME KEY...: the keys' values ("?" when absent) from the last line of NAME.out, a load's JSON summary
outcome() {
    local f="$work/$1.out"; shift
    "$python" - "$f" "$@" <<'PY'
import json, sys
try: d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
except Exception: d = {}
print(*[d.get(k, "?") for k in sys.argv[2:]])
PY
}
# echo_check NAME TEXT: ping's or udp's summary in words, judged by its exit status
echo_check() {
    local sent ok bytes lost corrupt dup unexp errors late rtt
    read -r sent ok bytes lost corrupt dup unexp errors late rtt < <(outcome "$1" sent ok bytes lost corrupt duplicated unexpected errors late_over_1s rtt_ms_min_avg_max)
    local b=${bytes//[!0-9]/}
    load_check "$1" "$2: $ok of $sent back intact ($(awk -v b="${b:-0}" 'BEGIN { printf "%.1f", b / 1048576 }') MiB), lost $lost, corrupted $corrupt, duplicated $dup, unexpected $unexp, errors $errors; $late after more than 1 s; rtt min/avg/max $rtt ms"
}
echo_check ping "ping (ICMP echo)"
echo_check udp "udp echo"
mib() { local b=${1//[!0-9]/}; echo $(( ${b:-0} / 1048576 )); }
read -r e_n e_b c_n c_b d_n d_b t_f < <(outcome tcp echo_done echo_bytes chargen_done chargen_bytes discard_done discard_bytes failed)
load_check tcp "tcp: $e_n echo transfers ($(mib "$e_b") MiB) on 100 connections at a time, $c_n chargen ($(mib "$c_b") MiB), $d_n discard ($(mib "$d_b") MiB sent), all compared; failed ${t_f/\?/0}"
read -r l_n l_b l_f < <(outcome lossy lossy_done lossy_bytes failed)
load_check lossy "lossy tcp (2% each way): $l_n echo transfers of 16 MiB ($(mib "$l_b") MiB) on 2 connections, all compared; failed ${l_f/\?/0}"
read -r h_n h_f < <(outcome hostile frames failed)
load_check hostile "hostile frames: $h_n sent ($(( duration > 0 ? ${h_n//[!0-9]/0} / duration : 0 )) a second), $h_f could not be sent; kinds: $("$python" -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]).get("kinds",{}); print(len(d), "of them:", ", ".join(sorted(d)))' "$work/hostile.out" 2>/dev/null || echo '?')"
fwd_seen=$(grep -A3 'chain forward' "$work/loss.counters" | sed -n 's/.*counter packets \([0-9]*\) .*counter packets \([0-9]*\) .*/\1 \2/p')
in_seen=$(grep -A3 'chain input' "$work/loss.counters" | sed -n 's/.*counter packets \([0-9]*\) .*counter packets \([0-9]*\) .*/\1 \2/p')
if [ -n "$fwd_seen" ] && [ -n "$in_seen" ]; then
    read -r fs fd <<< "$fwd_seen"; read -r is id <<< "$in_seen"
    if [ "$fd" -gt 0 ] && [ "$id" -gt 0 ]; then
        pass "the loss rules dropped $fd of $fs segments to usernet ($(awk -v a="$fd" -v b="$fs" 'BEGIN { printf "%.1f", 100 * a / b }')%) and $id of $is to the kernel ($(awk -v a="$id" -v b="$is" 'BEGIN { printf "%.1f", 100 * a / b }')%)"
    else
        fail "the loss rules: dropped nothing ($fd of $fs to usernet, $id of $is to the kernel): the lossy flows were not lossy"
    fi
else
    fail "the loss rules: their counters are unreadable (see $work/loss.counters)"
fi

# where the kernel dropped frames (information: TCP recovers from these; a ping or datagram among them fails above)
tap_dropped=$(awk -v tap="$tap" '$2 == tap":" { f = 1 } f && /TX:/ { getline; print $4; exit }' "$work/links.txt")
echo "  --    the TAP's queue toward usernet dropped ${tap_dropped:-?} frames (full: usernet read too slowly); details in links.txt"

# usernet
if [ -n "$usernet_died" ]; then fail "usernet died: $usernet_died (exit status ${usernet_rc:-?}); the last lines of its log:"; tail -n 15 "$work/usernet.log" | sed 's/^/          /'
elif [ "${usernet_rc:-?}" != 0 ]; then fail "usernet's exit: not 0 on SIGTERM (${usernet_rc:-?})"
elif ! grep -q '^usernet: down; counters:' "$work/usernet.log"; then fail "usernet's exit: no counters printed on SIGTERM"
else pass "usernet stayed up for the whole run and exited 0 on SIGTERM"
fi
faults=$(sed -n 's/.*drop ethernet\/stack_fault: \([0-9]*\).*/\1/p' "$work/usernet.log")
if grep -q '^usernet: down; counters:' "$work/usernet.log"; then
    if [ -z "$faults" ]; then pass "stack_fault: 0"; else fail "stack_fault: $faults frames tripped a bug in the stack (the log has them)"; fi
fi

# memory: thirds of the run by t; the first is warm-up
read -r n_mid n_last rss_mid rss_last man_mid man_last < <(awk -F'\t' -v T="$duration" '
    NR > 1 && $2 != "-" {
        if ($1 >= T / 3 && $1 < 2 * T / 3) { nm++; if ($2 > rm) rm = $2; if (mm == "" || $3 < mm) mm = $3 }
        else if ($1 >= 2 * T / 3 && $1 <= T) { nl++; if ($2 > rl) rl = $2; if (ml == "" || $3 < ml) ml = $3 }
    }
    END { printf "%d %d %d %d %d %d\n", nm, nl, rm, rl, mm, ml }' "$work/samples.tsv")
rss_slack=$(( 32 * 1024 )); man_slack=$(( 16 * 1024 ))
mem_rule="largest RSS of the last third <= largest of the middle third + 32 MiB, smallest managed heap of the last third <= smallest of the middle third + 16 MiB"
if [ "$n_mid" -lt 2 ] || [ "$n_last" -lt 2 ]; then
    echo "  --    memory: too short a run to judge growth ($n_mid and $n_last samples in the middle and last thirds; needs 2 each, so 1 minute or more)"
else
    mem_text="RSS max $(( rss_mid / 1024 )) -> $(( rss_last / 1024 )) MiB, managed min $(( man_mid / 1024 )) -> $(( man_last / 1024 )) MiB (middle third -> last third; rule: $mem_rule)"
    if [ "$rss_last" -gt $(( rss_mid + rss_slack )) ] || [ "$man_last" -gt $(( man_mid + man_slack )) ]; then fail "memory: grew, $mem_text"
    else pass "memory bounded: $mem_text"
    fi
fi
echo
echo "usernet's counters at the end:"
echo
echo '```'
sed -n '/^usernet: down/,$p' "$work/usernet.log"
echo '```'
echo
if [ "${#fails[@]}" -eq 0 ]; then verdict=PASS; echo "soak: PASS"; exit 0
else verdict=FAIL; echo "soak: FAIL: $(IFS=';'; echo "${fails[*]}" | sed 's/;/; /g')"; exit 1
fi
