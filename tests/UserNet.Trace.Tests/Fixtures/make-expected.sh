#!/usr/bin/env bash
# Writes tcpdump's own text for each fixture capture and option set: the reference the formatter tests compare with.
# TZ=UTC so the times of day do not depend on the machine.
set -euo pipefail
cd "$(dirname "$0")"
for cap in crafted live; do
  for opts in "" "-v" "-e" "-e -v" "-x" "-X" "-XX -v" "-tt" "-ttt" "-tttt" "-ttttt" "-t"; do
    name="$cap.tcpdump${opts// /}.txt"
    TZ=UTC tcpdump -n $opts -r "$cap.pcap" 2>/dev/null > "$name"
  done
done
