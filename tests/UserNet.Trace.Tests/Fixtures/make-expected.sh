#!/usr/bin/env bash
# Writes tcpdump's own text for each fixture capture and option set: the reference the formatter tests compare with.
# TZ=UTC so the times of day do not depend on the machine. live6-sll2.pcap has none: tcpdump names its interfaces
# by this machine's interface indexes, so it is only compared with the installed tcpdump.
set -euo pipefail
cd "$(dirname "$0")"
for cap in crafted live; do
  for opts in "" "-v" "-e" "-e -v" "-x" "-X" "-XX -v" "-tt" "-ttt" "-tttt" "-ttttt" "-t"; do
    name="$cap.tcpdump${opts// /}.txt"
    TZ=UTC tcpdump -n $opts -r "$cap.pcap" 2>/dev/null > "$name"
  done
done
for cap in crafted6 snap6 live6 live6-sll cooked-sll cooked-sll2 raw raw4 raw6; do
  for opts in "" "-v" "-e" "-e -v" "-x" "-X" "-XX -v" "-xx"; do
    name="$cap.tcpdump${opts// /}.txt"
    TZ=UTC tcpdump -n $opts -r "$cap.pcap" 2>/dev/null > "$name"
  done
done
