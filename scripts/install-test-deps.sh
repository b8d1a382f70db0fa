#!/usr/bin/env bash
# Installs the Debian packages the integration tests drive: iputils ping (the kernel's pinger), iproute2
# (namespaces and TAPs), python3 (raw-socket frame injection and kernel sockets), OpenBSD netcat (the kernel's end
# of TCP transfers), nftables (random loss inside a namespace), ethtool (offloads off, so that the kernel's TCP sends
# MSS-sized segments, lost one by one), tcpdump and tshark (the tracer tests compare against tcpdump's text and
# check that tshark reads our pcapng comments), iperf3 (the kernel's end of the iperf3 tests, both ways), curl (the
# kernel's HTTP client against ASP.NET Core served by the stack), chromium (the packet-flow page tests render the
# page headless and check the screenshot). Does nothing when they are all there.
set -euo pipefail
need=()
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ -x /usr/bin/python3 ] || need+=(python3)
nc -h 2>&1 | grep -q -- '-N' || need+=(netcat-openbsd)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ethtool >/dev/null 2>&1 || [ -x /usr/sbin/ethtool ] || need+=(ethtool)
command -v tcpdump >/dev/null 2>&1 || [ -x /usr/sbin/tcpdump ] || need+=(tcpdump)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "tests need: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing ${need[*]}..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
