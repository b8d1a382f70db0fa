#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ through SharpFuzz (see fuzz/README.md).
#   scripts/fuzz.sh --list            the targets, one a line
#   scripts/fuzz.sh TARGET SECONDS    fuzz TARGET for SECONDS; exits 1 when it found a crash or a hang
# Builds the targets into out/fuzz/build (a copy whose UserNet.dll and UserNet.Tracing.dll are instrumented; the
# ordinary bin/ outputs are never touched), installs afl++ when missing (as root), seeds afl-fuzz with
# fuzz/corpus/TARGET and fuzz/regressions/TARGET (with fuzz/dictionaries/TARGET.dict if there is one), and leaves
# its findings in out/fuzz/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."

# The names of FuzzTargets.All in fuzz/UserNet.Fuzz/FuzzTarget.cs, in its order (a test checks they agree).
TARGETS=(frames tcp-established capture tcpdump iperf3-control)
SHARPFUZZ_VERSION=2.3.0

usage() { echo "usage: scripts/fuzz.sh --list | TARGET SECONDS (targets: ${TARGETS[*]})" >&2; exit 2; }

if [ "$#" -eq 1 ] && [ "$1" = "--list" ]; then
  printf '%s\n' "${TARGETS[@]}"
  exit 0
fi
[ "$#" -eq 2 ] || usage
target=$1 seconds=$2
known=0
for t in "${TARGETS[@]}"; do [ "$t" = "$target" ] && known=1; done
[ "$known" -eq 1 ] || { echo "fuzz.sh: no target '$target' (targets: ${TARGETS[*]})" >&2; exit 2; }
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: SECONDS must be a whole number of seconds above 0, not '$seconds'" >&2; exit 2; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# afl-fuzz: Debian's afl++.
if ! command -v afl-fuzz >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "fuzz.sh: afl-fuzz is missing; install it as root: apt-get install afl++" >&2
    exit 1
  fi
  echo "fuzz.sh: installing afl++..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends afl++ >/dev/null
fi

out=out/fuzz
mkdir -p "$out"

# The sharpfuzz instrumenter, as a tool of our own under out/.
if [ ! -x "$out/tools/sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version "$SHARPFUZZ_VERSION" --tool-path "$out/tools" >/dev/null
fi

# Build and instrument, unless the build there is of the same sources.
sources=$(find src fuzz/UserNet.Fuzz Directory.Build.props -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.txt' \) \
  -not -path '*/bin/*' -not -path '*/obj/*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [ "$(cat "$out/build/.sources" 2>/dev/null)" != "$sources" ] || [ ! -f "$out/publish/UserNet.Fuzz.dll" ]; then
  echo "fuzz.sh: building the fuzz targets into $out/build..." >&2
  dotnet publish fuzz/UserNet.Fuzz/UserNet.Fuzz.csproj -c Release -o "$out/publish" --nologo -v quiet >"$out/build.log" 2>&1 \
    || { cat "$out/build.log" >&2; echo "fuzz.sh: the build failed" >&2; exit 1; }
  rm -rf "$out/build"
  cp -r "$out/publish" "$out/build"
  for dll in UserNet.dll UserNet.Tracing.dll; do
    "$out/tools/sharpfuzz" "$out/build/$dll" >/dev/null || { echo "fuzz.sh: instrumenting $dll failed" >&2; exit 1; }
  done
  echo "$sources" >"$out/build/.sources"
fi

# Seeds: the corpus and every regression input.
findings="$out/$target"
seeds="$out/$target.seeds"
rm -rf "$findings" "$seeds"
mkdir -p "$seeds"
cp fuzz/corpus/"$target"/* "$seeds"/
if compgen -G "fuzz/regressions/$target/*" >/dev/null; then
  for f in fuzz/regressions/"$target"/*; do cp "$f" "$seeds/regression-$(basename "$f")"; done
fi
max=$(dotnet "$out/publish/UserNet.Fuzz.dll" --max-length "$target")
dict=()
[ -f "fuzz/dictionaries/$target.dict" ] && dict=(-x "fuzz/dictionaries/$target.dict")

# Non-interactive, as root, on a shared machine: no status screen, no CPU binding, no core_pattern or governor
# demands; dotnet is not instrumented itself (SharpFuzz instruments the assemblies it loads).
export AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_BIN_CHECK=1
echo "fuzz.sh: fuzzing $target for $seconds s (log: $out/$target.log)..." >&2
set +e
afl-fuzz -i "$seeds" -o "$findings" -V "$seconds" -t 5000 -m none -G "$max" "${dict[@]}" \
  -- dotnet "$out/build/UserNet.Fuzz.dll" "$target" >"$out/$target.log" 2>&1
status=$?
set -e
stats="$findings/default/fuzzer_stats"
if [ "$status" -ne 0 ] || [ ! -f "$stats" ]; then
  tail -n 30 "$out/$target.log" >&2
  echo "fuzz.sh: afl-fuzz failed on $target (exit $status)" >&2
  exit 1
fi
stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
crashes=$(find "$findings/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
hangs=$(find "$findings/default/hangs" -type f -name 'id:*' 2>/dev/null | wc -l)
echo "fuzz.sh: $target: $(stat execs_done) execs ($(stat execs_per_sec)/s), corpus $(stat corpus_count), edges $(stat edges_found), coverage $(stat bitmap_cvg), crashes $crashes, hangs $hangs"
if [ "$crashes" -ne 0 ] || [ "$hangs" -ne 0 ]; then
  find "$findings/default/crashes" "$findings/default/hangs" -type f -name 'id:*' | sort >&2
  echo "fuzz.sh: $target found $crashes crash(es) and $hangs hang(s); see why with (the build without instrumentation): dotnet $out/publish/UserNet.Fuzz.dll $target [--trace] FILE" >&2
  exit 1
fi
