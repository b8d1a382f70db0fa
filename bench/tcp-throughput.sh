#!/usr/bin/env bash
# TCP bulk throughput, in one run, all inside namespaces this script creates:
#   a) kernel -> UserNet:  kernel `nc -N` sends to `usernet nc -l` on a TAP;
#   b) UserNet -> kernel:  `usernet nc` sends to kernel `nc -l` on the TAP;
#   c) kernel -> kernel:   `nc` to `nc` across a veth pair between two namespaces (the reference).
# Each transfer moves SIZE MiB (default 100) from a file of random bytes, checks the SHA-256 at the far end, and is
# timed end to end minus the time the same command takes for an empty transfer (process start, handshake, close),
# so the figure is the transfer itself. Prints a markdown table with MB/s and the ratios to (c).
#
# Run as root; needs OpenBSD netcat (nc -N) and iproute2. Namespaces and processes are removed on exit, also on
# failure or Ctrl-C. Usage: sudo bench/tcp-throughput.sh [--size MiB] [--runs N]
set -euo pipefail

size=100
runs=3
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "tcp-throughput.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "tcp-throughput.sh: run as root (it makes namespaces and a TAP)" >&2; exit 2; }
nc -h 2>&1 | grep -q -- '-N' || { echo "tcp-throughput.sh: needs OpenBSD netcat: apt-get install netcat-openbsd" >&2; exit 2; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usernet="$root/usernet"
"$usernet" --help >/dev/null   # build once, outside the timings

tag=$$
tapns="usernet-bench-tcp-$tag"; ns_a="usernet-bench-a-$tag"; ns_b="usernet-bench-b-$tag"
work="$(mktemp -d)"
cleanup() {
    set +e
    for ns in "$tapns" "$ns_a" "$ns_b"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

head -c "$((size << 20))" /dev/urandom > "$work/src"
: > "$work/empty"
want="$(sha256sum < "$work/src" | cut -d' ' -f1)"

ip netns add "$tapns"
ip -n "$tapns" link set lo up
ip netns exec "$tapns" ip tuntap add dev ubt0 mode tap
ip -n "$tapns" link set ubt0 up
ip -n "$tapns" addr add 10.78.0.1/24 dev ubt0

ip netns add "$ns_a"; ip netns add "$ns_b"
ip link add ubv0 netns "$ns_a" type veth peer name ubv1 netns "$ns_b"
ip -n "$ns_a" link set lo up; ip -n "$ns_b" link set lo up
ip -n "$ns_a" addr add 10.79.0.1/24 dev ubv0; ip -n "$ns_b" addr add 10.79.0.2/24 dev ubv1
ip -n "$ns_a" link set ubv0 up; ip -n "$ns_b" link set ubv1 up

now() { date +%s.%N; }

# wait_listen NS PORT: until something listens on that TCP port in that namespace
wait_listen() {
    for _ in $(seq 1 500); do ip netns exec "$1" ss -ltn | grep -q ":$2 " && return 0; sleep 0.01; done
    echo "tcp-throughput.sh: nothing listens on $2" >&2; return 1
}

# one transfer; prints seconds; $1 = kind, $2 = input file
transfer() {
    local kind="$1" input="$2" port=$((5000 + RANDOM % 1000)) t0 t1
    case "$kind" in
        k2u)
            ip netns exec "$tapns" "$usernet" nc --tap ubt0 --ip 10.78.0.2/24 -l "$port" > "$work/out" 2>"$work/err" &
            local rx=$!
            for _ in $(seq 1 500); do grep -q . "$work/err" 2>/dev/null && break; ip netns exec "$tapns" true; sleep 0.01; done
            sleep 0.5 # the stack is up once it has announced itself; nc -l prints nothing
            t0=$(now); ip netns exec "$tapns" nc -N 10.78.0.2 "$port" < "$input"; wait "$rx"; t1=$(now) ;;
        u2k)
            ip netns exec "$tapns" nc -l -N 10.78.0.1 "$port" > "$work/out" < /dev/null &
            local rx=$!; wait_listen "$tapns" "$port"
            t0=$(now); ip netns exec "$tapns" "$usernet" nc --tap ubt0 --ip 10.78.0.2/24 10.78.0.1 "$port" < "$input"; wait "$rx"; t1=$(now) ;;
        k2k)
            ip netns exec "$ns_b" nc -l -N 10.79.0.2 "$port" > "$work/out" < /dev/null &
            local rx=$!; wait_listen "$ns_b" "$port"
            t0=$(now); ip netns exec "$ns_a" nc -N 10.79.0.2 "$port" < "$input"; wait "$rx"; t1=$(now) ;;
    esac
    if [ "$input" = "$work/src" ] && [ "$(sha256sum < "$work/out" | cut -d' ' -f1)" != "$want" ]; then
        echo "tcp-throughput.sh: $kind: data differs at the far end" >&2; exit 1
    fi
    echo "$t1 - $t0" | bc -l
}

declare -A best
for kind in k2u u2k k2k; do
    base=$(transfer "$kind" "$work/empty")
    for r in $(seq 1 "$runs"); do
        t=$(transfer "$kind" "$work/src")
        net=$(echo "$t - $base" | bc -l)
        mbs=$(echo "$size * 1.048576 / $net" | bc -l)
        echo "tcp-throughput.sh: $kind run $r: $(printf %.3f "$t") s (empty transfer $(printf %.3f "$base") s) = $(printf %.0f "$mbs") MB/s" >&2
        if [ -z "${best[$kind]:-}" ] || (( $(echo "$mbs > ${best[$kind]}" | bc -l) )); then best[$kind]=$mbs; fi
    done
done

echo
echo "| path | MB/s (best of $runs, $size MiB) | ratio to kernel-kernel |"
echo "|---|--:|--:|"
for kind in k2u u2k k2k; do
    case "$kind" in k2u) name="kernel -> UserNet (TAP)";; u2k) name="UserNet -> kernel (TAP)";; k2k) name="kernel -> kernel (veth)";; esac
    printf "| %s | %.0f | %.2f |\n" "$name" "${best[$kind]}" "$(echo "${best[$kind]} / ${best[k2k]}" | bc -l)"
done
