#!/usr/bin/env bash
# Round-trip time of ICMP echo, measured by the kernel's ping:
#   a) kernel -> UserNet: the whole `usernet up` process on a TAP, inside a namespace of its own;
#   b) kernel -> kernel: two namespaces joined by a veth pair (the kernel's own floor);
#   c) kernel -> C floor: bench/tap-echo.c, the least a userspace program can do on the same kind of TAP in the same
#      kind of namespace: read each frame, answer ARP and ICMP echo in place, write the reply. Twice: with a blocking
#      read(2) per frame, and with poll(2) + non-blocking read(2) as UserNet's loop does. The faster of the two by
#      p50 is the floor UserNet is compared with (a userspace stack cannot beat a program that only echoes).
# Prints a markdown table with min/p50/mean/p99/max and the ratios of (a) to the C floor and to (b).
# The C floor needs a C compiler (cc or gcc); without one it is skipped and said so.
#
# Run as root. Every interface and address lives in namespaces this script creates, so no packet can leave
# them; the namespaces (and the stack) are removed on exit, including failure and Ctrl-C.
#
# Usage: sudo bench/rtt.sh [--count N] [--warmup N] [--cpu LIST] [--raw DIR]
set -euo pipefail

count=1000
warmup=200
raw_dir=""
cpus=""
interval=0.002

usage() {
    cat <<EOF
usage: $0 [--count N] [--warmup N] [--cpu LIST] [--raw DIR]
  --count N    echo requests measured per path (default $count)
  --warmup N   echo requests sent first and not measured, so ARP is resolved and the stack's
               code is jitted to its final tier (default $warmup)
  --cpu LIST   run usernet and both pings under \`taskset -c LIST\` (default: unpinned), to see how
               CPU placement (same CPU or a cross-CPU wake-up per packet) moves the figures
  --raw DIR    also keep ping's raw output and usernet's log in DIR
EOF
}

die() { echo "rtt.sh: $*" >&2; exit 2; }
say() { echo "rtt.sh: $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --count) [ $# -ge 2 ] || die "--count needs a value"; count="$2"; shift 2 ;;
        --count=*) count="${1#*=}"; shift ;;
        --warmup) [ $# -ge 2 ] || die "--warmup needs a value"; warmup="$2"; shift 2 ;;
        --warmup=*) warmup="${1#*=}"; shift ;;
        --cpu) [ $# -ge 2 ] || die "--cpu needs a CPU list"; cpus="$2"; shift 2 ;;
        --cpu=*) cpus="${1#*=}"; shift ;;
        --raw) [ $# -ge 2 ] || die "--raw needs a directory"; raw_dir="$2"; shift 2 ;;
        --raw=*) raw_dir="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ "$count" =~ ^[1-9][0-9]*$ ]] || die "--count must be a positive integer, not '$count'"
[[ "$warmup" =~ ^[0-9]+$ ]] || die "--warmup must be a non-negative integer, not '$warmup'"

[ "$(id -u)" -eq 0 ] || die "run as root: it creates network namespaces, a TAP and a veth pair"
command -v ip >/dev/null || die "'ip' not found: apt-get install iproute2"
command -v ping >/dev/null || die "'ping' not found: apt-get install iputils-ping"
# Other pings (busybox, inetutils) lack sub-millisecond intervals or print differently.
ping -V 2>&1 | grep -q iputils || die "ping is not iputils' ping: apt-get install iputils-ping"

pin=()
if [ -n "$cpus" ]; then
    command -v taskset >/dev/null || die "'taskset' not found: apt-get install util-linux"
    taskset -c "$cpus" true 2>/dev/null || die "--cpu '$cpus' is not a usable CPU list (this machine has $(nproc) CPUs)"
    pin=(taskset -c "$cpus")
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usernet="$root/usernet"
[ -x "$usernet" ] || die "$usernet not found or not executable"

# Unique per run, so two runs (or a leftover from a killed one) never share a namespace.
ns_stack="usernet-bench-$$"
ns_a="usernet-bench-a-$$"
ns_b="usernet-bench-b-$$"
ns_floor="usernet-bench-c-$$"
tap=ubt0
stack_host=10.78.0.1
stack_ip=10.78.0.2
veth_a_ip=10.79.0.1
veth_b_ip=10.79.0.2

created=()     # namespaces this run created; only these are ever deleted
stack_pid=""
work="$(mktemp -d /tmp/usernet-rtt.XXXXXX)"

stop_stack() {
    [ -n "$stack_pid" ] || return 0
    if kill -0 "$stack_pid" 2>/dev/null; then
        kill -TERM "$stack_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$stack_pid" 2>/dev/null || true
    fi
    wait "$stack_pid" 2>/dev/null || true
    stack_pid=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_stack
    local ns pid
    for ns in "${created[@]}"; do
        # Anything still running in a namespace we made was started by this script.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        # Delete the links explicitly: on namespace teardown the kernel may move a device to the root namespace
        # instead of destroying it.
        ip -n "$ns" link del "$tap" 2>/dev/null || true
        ip -n "$ns" link del ubv0 2>/dev/null || true
        ip netns delete "$ns" 2>/dev/null || say "could not delete namespace $ns; remove it with: ip netns delete $ns"
    done
    if [ -n "$raw_dir" ]; then mkdir -p "$raw_dir" && cp "$work"/* "$raw_dir"/ 2>/dev/null || true; fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

add_ns() {
    ip netns add "$1" || die "could not create namespace $1"
    created+=("$1")
    ip -n "$1" link set lo up
    # IPv6 would add router solicitations and MLD reports to the links; not part of what is measured.
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
}

# run_ping NS DEST OUT: warm up, then the measured run; per-reply lines go to OUT.
run_ping() {
    local ns="$1" dst="$2" out="$3"
    if [ "$warmup" -gt 0 ]; then
        ip netns exec "$ns" "${pin[@]}" ping -n -q -c "$warmup" -i "$interval" -W 1 "$dst" >/dev/null 2>&1 || true
    fi
    # ping exits 1 when some replies are missing; the loss is reported, not fatal.
    ip netns exec "$ns" "${pin[@]}" ping -n -c "$count" -i "$interval" "$dst" >"$out" 2>&1 || true
}

# stats FILE: "received min p50 mean p99 max" in ms over the time= values; nearest-rank percentiles.
stats() {
    { grep -o 'time=[0-9.]*' "$1" || true; } | cut -d= -f2 | sort -n | awk '
        function rank(p) { r = p * NR; r = (r == int(r)) ? r : int(r) + 1; return r < 1 ? 1 : r }
        { v[NR] = $1; sum += $1 }
        END {
            if (NR == 0) { print "0 - - - - -"; exit }
            printf "%d %.3f %.3f %.3f %.3f %.3f\n", NR, v[1], v[rank(0.50)], sum / NR, v[rank(0.99)], v[NR]
        }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

# Build the CLI now (if sources changed), so the wait for `usernet: up` below is not a build.
say "building usernet if needed..."
# ./usernet writes its build log beside out/cli but does not create out/ itself.
mkdir -p "$root/out"
"$usernet" --help >/dev/null || die "usernet does not build or run; see the output above"

# --- a) kernel -> UserNet over a TAP --------------------------------------------------------------------
say "a) namespace $ns_stack: TAP $tap $stack_host/24 <-> usernet $stack_ip/24"
add_ns "$ns_stack"
ip -n "$ns_stack" tuntap add dev "$tap" mode tap
ip -n "$ns_stack" addr add "$stack_host/24" dev "$tap"
ip -n "$ns_stack" link set "$tap" up

ip netns exec "$ns_stack" "${pin[@]}" "$usernet" up --tap "$tap" --ip "$stack_ip/24" >"$work/stack.log" 2>&1 &
stack_pid=$!
for _ in $(seq 600); do
    grep -q '^usernet: up' "$work/stack.log" && break
    kill -0 "$stack_pid" 2>/dev/null || { cat "$work/stack.log" >&2; die "usernet exited before coming up"; }
    sleep 0.1
done
grep -q '^usernet: up' "$work/stack.log" || { cat "$work/stack.log" >&2; die "usernet did not come up within 60 s"; }
say "$(grep '^usernet: up' "$work/stack.log")"

say "a) ping -c $count -i $interval $stack_ip (after $warmup warm-up requests)"
run_ping "$ns_stack" "$stack_ip" "$work/ping-stack.txt"
stop_stack

# --- b) kernel -> kernel over veth ----------------------------------------------------------------------
say "b) namespaces $ns_a ($veth_a_ip/24) <-veth-> $ns_b ($veth_b_ip/24)"
add_ns "$ns_a"
add_ns "$ns_b"
ip -n "$ns_a" link add ubv0 type veth peer name ubv1 netns "$ns_b"
ip -n "$ns_a" addr add "$veth_a_ip/24" dev ubv0
ip -n "$ns_b" addr add "$veth_b_ip/24" dev ubv1
ip -n "$ns_a" link set ubv0 up
ip -n "$ns_b" link set ubv1 up

say "b) ping -c $count -i $interval $veth_b_ip (after $warmup warm-up requests)"
run_ping "$ns_a" "$veth_b_ip" "$work/ping-veth.txt"

# --- c) kernel -> the C floor on a TAP -------------------------------------------------------------------
compiler="$(command -v cc || command -v gcc || true)"
floor_modes=()
if [ -n "$compiler" ]; then
    "$compiler" -O2 -o "$work/tap-echo" "$root/bench/tap-echo.c" || die "could not compile bench/tap-echo.c"
    add_ns "$ns_floor"
    ip -n "$ns_floor" tuntap add dev "$tap" mode tap
    ip -n "$ns_floor" addr add "$stack_host/24" dev "$tap"
    ip -n "$ns_floor" link set "$tap" up
    for mode in block poll; do
        ip netns exec "$ns_floor" "${pin[@]}" "$work/tap-echo" "$tap" "$stack_ip" "$mode" >"$work/floor-$mode.log" 2>&1 &
        stack_pid=$!
        for _ in $(seq 100); do grep -q '^tap-echo: up' "$work/floor-$mode.log" && break; sleep 0.05; done
        grep -q '^tap-echo: up' "$work/floor-$mode.log" || { cat "$work/floor-$mode.log" >&2; die "tap-echo did not come up"; }
        say "c) C floor ($mode) on $tap in $ns_floor: ping -c $count -i $interval $stack_ip (after $warmup warm-up requests)"
        # The floor's MAC is fixed: a stale neighbour entry from the other mode's run is still right.
        run_ping "$ns_floor" "$stack_ip" "$work/ping-floor-$mode.txt"
        stop_stack
        floor_modes+=("$mode")
    done
else
    say "c) skipped: no C compiler (cc or gcc) for bench/tap-echo.c"
fi

# --- results --------------------------------------------------------------------------------------------
read -r s_n s_min s_p50 s_mean s_p99 s_max < <(stats "$work/ping-stack.txt")
read -r v_n v_min v_p50 v_mean v_p99 v_max < <(stats "$work/ping-veth.txt")
[ "$s_n" -gt 0 ] || { cat "$work/ping-stack.txt" "$work/stack.log" >&2; die "no echo replies from usernet"; }
[ "$v_n" -gt 0 ] || { cat "$work/ping-veth.txt" >&2; die "no echo replies over veth"; }

placement="unpinned"
[ -z "$cpus" ] || placement="stack and ping pinned to CPU $cpus"
echo "ICMP echo RTT, \`ping -c $count -i $interval\` (56 data bytes) after $warmup unmeasured requests, $placement; $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, kernel $(uname -r)"
echo
echo "| path | replies | min ms | p50 ms | mean ms | p99 ms | max ms |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
echo "| kernel -> UserNet (TAP, \`usernet up\`) | $s_n/$count | $s_min | $s_p50 | $s_mean | $s_p99 | $s_max |"
echo "| kernel -> kernel (veth) | $v_n/$count | $v_min | $v_p50 | $v_mean | $v_p99 | $v_max |"
f_best=""
for mode in "${floor_modes[@]}"; do
    read -r f_n f_min f_p50 f_mean f_p99 f_max < <(stats "$work/ping-floor-$mode.txt")
    [ "$f_n" -gt 0 ] || { cat "$work/ping-floor-$mode.txt" "$work/floor-$mode.log" >&2; die "no echo replies from the C floor ($mode)"; }
    label="blocking read"; [ "$mode" = poll ] && label="poll + read"
    echo "| kernel -> C floor (TAP, tap-echo, $label) | $f_n/$count | $f_min | $f_p50 | $f_mean | $f_p99 | $f_max |"
    if [ -z "$f_best" ] || awk -v a="$f_p50" -v b="$fb_p50" 'BEGIN { exit !(a < b) }'; then
        f_best="$label"; fb_p50="$f_p50"; fb_p99="$f_p99"; fb_mean="$f_mean"
    fi
done
echo
if [ -n "$f_best" ]; then
    echo "UserNet / C floor ($f_best, the faster by p50): p50 **$(ratio "$s_p50" "$fb_p50")x**, p99 **$(ratio "$s_p99" "$fb_p99")x**, mean $(ratio "$s_mean" "$fb_mean")x"
    echo
fi
echo "UserNet / veth: p50 **$(ratio "$s_p50" "$v_p50")x**, p99 **$(ratio "$s_p99" "$v_p99")x**, mean $(ratio "$s_mean" "$v_mean")x"
echo
echo "usernet's counters at the end of the run:"
echo
echo '```'
sed -n '/^usernet: down/,$p' "$work/stack.log"
echo '```'
