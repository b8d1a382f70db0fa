#!/usr/bin/env bash
# Packs the solution as a release would and checks what comes out: exactly the UserNet, UserNet.Tracing,
# UserNet.Simulation, UserNet.AspNetCore and UserNet.Tool packages (with the libraries' .snupkg symbols) and nothing
# else; each with its readme and its metadata; the README samples built and run against the packed libraries by a
# project of their own; the README's "Use it in your tests" steps run verbatim in a fresh `dotnet new xunit` project
# and its test passing there; and the tool installed from the packages into a tool path of its own, with
# `usernet --help` and `usernet demo --memory` run from there.
# Needs the .NET 10 SDK and python3; restores only from the machine's configured NuGet sources and the packages it
# has just made. Everything it makes is in a temporary folder, removed at the end. One line per check, then
# `pack-check: PASS`; any failed check prints `pack-check: FAIL: ...` and exits 1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Not chosen yet: the repository has no LICENSE file and no remote. When they are, set PackageLicenseExpression and
# RepositoryUrl in Directory.Build.props and the same values here; until then no package may claim either.
expected_license=""
expected_repository=""
expected_authors="UserNet contributors"
command_name="usernet"

started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/usernet-pack-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
out="$work/packages"

say() { echo "pack-check: $*"; }
fail() { echo "pack-check: FAIL: $*" >&2; exit 1; }
show_log() { echo "--- $1 (last 40 lines)" >&2; tail -n 40 "$1" >&2; }

version="$(dotnet msbuild src/UserNet/UserNet.csproj -getProperty:PackageVersion 2>"$work/version.log")" ||
  { show_log "$work/version.log"; fail "could not read the package version from src/UserNet/UserNet.csproj"; }
[ -n "$version" ] || fail "src/UserNet/UserNet.csproj has an empty PackageVersion"

# 1. Pack, with every warning (the compiler's and NuGet's NU5xxx) an error.
if ! dotnet pack UserNet.sln -c Release -o "$out" -warnaserror --nologo >"$work/pack.log" 2>&1; then
  show_log "$work/pack.log"
  fail "dotnet pack UserNet.sln -c Release failed (warnings count as errors)"
fi
say "pack: dotnet pack UserNet.sln -c Release -o DIR succeeded with no warnings (version $version)"

# 2. Exactly the expected files: the two libraries with their symbols, the tool, nothing from tests, bench or fuzz.
expected="$(printf '%s\n' "UserNet.$version.nupkg" "UserNet.$version.snupkg" \
  "UserNet.Tracing.$version.nupkg" "UserNet.Tracing.$version.snupkg" \
  "UserNet.Simulation.$version.nupkg" "UserNet.Simulation.$version.snupkg" \
  "UserNet.AspNetCore.$version.nupkg" "UserNet.AspNetCore.$version.snupkg" "UserNet.Tool.$version.nupkg" | sort)"
actual="$(cd "$out" && find . -mindepth 1 -printf '%P\n' | sort)"
missing="$(comm -23 <(echo "$expected") <(echo "$actual") | paste -sd' ')"
extra="$(comm -13 <(echo "$expected") <(echo "$actual") | paste -sd' ')"
[ -z "$missing" ] || fail "packages missing from the pack output: $missing"
[ -z "$extra" ] || fail "the pack output has what it should not (a project that should not be packed?): $extra"
say "package set: exactly $(echo "$expected" | paste -sd' ')"

# 3. Each package's contents and metadata.
python3 - "$out" "$version" "$expected_license" "$expected_repository" "$expected_authors" "$command_name" <<'PY'
import json, os, sys, zipfile
import xml.etree.ElementTree as ET

out, version, want_license, want_repo, want_authors, command = sys.argv[1:7]
# id -> (kind, the readme file in the repository the package must carry)
packages = {
    "UserNet": ("library", "src/UserNet/README.md"),
    "UserNet.Tracing": ("library", "src/UserNet.Tracing/README.md"),
    "UserNet.Simulation": ("library", "src/UserNet.Simulation/README.md"),
    "UserNet.AspNetCore": ("library", "src/UserNet.AspNetCore/README.md"),
    "UserNet.Tool": ("tool", "tools/UserNet.Cli/README.md"),
}
# What a published package must never depend on: test, bench and analyzer packages.
forbidden = ("xunit", "microsoft.net.test.sdk", "microsoft.codeanalysis", "benchmarkdotnet", "cscheck",
             "packetdotnet", "tngtech.archunitnet", "sharpfuzz")

def fail(msg):
    print(f"pack-check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)

def say(msg):
    print(f"pack-check: {msg}")

def local(tag):
    return tag.rsplit("}", 1)[-1]

def child(elem, name):
    for c in elem:
        if local(c.tag) == name:
            return c
    return None

for pid, (kind, readme_source) in packages.items():
    path = os.path.join(out, f"{pid}.{version}.nupkg")
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        nuspecs = [n for n in names if "/" not in n and n.endswith(".nuspec")]
        if len(nuspecs) != 1:
            fail(f"{pid}: expected one .nuspec at the package root, found {nuspecs}")
        meta = child(ET.fromstring(z.read(nuspecs[0])), "metadata")
        text = lambda name: ((child(meta, name).text or "").strip() if child(meta, name) is not None else "")

        if text("id") != pid or text("version") != version:
            fail(f"{pid}: nuspec says id {text('id')!r} version {text('version')!r}, expected {pid} {version}")
        if text("authors") != want_authors:
            fail(f"{pid}: authors {text('authors')!r}, expected {want_authors!r}")
        desc = text("description")
        if not desc or desc == "Package Description" or len(desc) < 40:
            fail(f"{pid}: no real description ({desc!r})")
        tags = text("tags").split()
        if not tags:
            fail(f"{pid}: no tags")
        say(f"{pid}: id, version {version}, authors, description ({len(desc)} chars), tags ({len(tags)}: {' '.join(tags)})")

        readme = text("readme")
        if not readme:
            fail(f"{pid}: the nuspec names no readme")
        if readme not in names:
            fail(f"{pid}: the nuspec names readme {readme!r}, which is not in the package")
        packed = z.read(readme)
        with open(readme_source, "rb") as f:
            source = f.read()
        if not packed.strip() or packed != source:
            fail(f"{pid}: the packed {readme} is not {readme_source}")
        say(f"{pid}: readme {readme} in the package, {len(packed)} bytes, the same as {readme_source}")

        lic = child(meta, "license")
        got_license = (lic.text or "").strip() if lic is not None else ""
        if child(meta, "licenseUrl") is not None:
            fail(f"{pid}: has a licenseUrl (deprecated); use PackageLicenseExpression")
        if want_license:
            if lic is None or lic.get("type") != "expression" or got_license != want_license:
                fail(f"{pid}: license {got_license!r} (type {lic.get('type') if lic is not None else None}), expected the expression {want_license!r}")
            say(f"{pid}: license expression {got_license}")
        else:
            if lic is not None:
                fail(f"{pid}: claims license {got_license!r}, but none is chosen yet (set expected_license in scripts/pack-check.sh)")
            say(f"{pid}: no license, as none is chosen yet (TODO: choose one; see scripts/pack-check.sh)")

        repo = child(meta, "repository")
        got_repo = repo.get("url", "") if repo is not None else ""
        if want_repo:
            if repo is None or repo.get("type") != "git" or got_repo != want_repo:
                fail(f"{pid}: repository {got_repo!r}, expected git {want_repo!r}")
            say(f"{pid}: repository git {got_repo}" + (f" at {repo.get('commit')}" if repo.get("commit") else ""))
        else:
            if got_repo:
                fail(f"{pid}: claims repository {got_repo!r}, but none is known yet (set expected_repository in scripts/pack-check.sh)")
            if repo is not None and repo.get("type") != "git":
                fail(f"{pid}: repository type {repo.get('type')!r}, expected git")
            say(f"{pid}: repository " + (f"git, commit {repo.get('commit')}" if repo is not None and repo.get("commit") else "none")
                + ", no URL as none is known yet (TODO: see scripts/pack-check.sh)")

        deps = []
        dependencies = child(meta, "dependencies")
        if dependencies is not None:
            for e in dependencies.iter():
                if local(e.tag) == "dependency":
                    deps.append((e.get("id"), e.get("version")))
        for did, dver in deps:
            if did.lower().startswith(forbidden):
                fail(f"{pid}: depends on {did} {dver}, a test, bench or analyzer package")

        if kind == "library":
            for f in (f"lib/net10.0/{pid}.dll", f"lib/net10.0/{pid}.xml"):
                if f not in names:
                    fail(f"{pid}: {f} is not in the package")
            # What each library must depend on (exact ids and this version); NuGet writes a bare version as ">= it".
            needs = {"UserNet.Tracing": ["UserNet"], "UserNet.Simulation": ["UserNet", "UserNet.Tracing"],
                     "UserNet.AspNetCore": ["UserNet"]}.get(pid, [])
            for need in needs:
                if (need, version) not in deps:
                    fail(f"{pid}: does not depend on {need} {version} (dependencies: {deps})")
            if pid == "UserNet.AspNetCore":
                # The shared framework flows to whoever references the package, so a plain test project gets it.
                frefs = [e.get("name") for e in meta.iter() if local(e.tag) == "frameworkReference"]
                if "Microsoft.AspNetCore.App" not in frefs:
                    fail(f"{pid}: the nuspec has no frameworkReference to Microsoft.AspNetCore.App ({frefs})")
                say(f"{pid}: carries the frameworkReference Microsoft.AspNetCore.App")
            say(f"{pid}: lib/net10.0/{pid}.dll and its XML docs; dependencies: "
                + (", ".join(f"{d} {v}" for d, v in deps) or "none"))
            spath = os.path.join(out, f"{pid}.{version}.snupkg")
            with zipfile.ZipFile(spath) as s:
                if f"lib/net10.0/{pid}.pdb" not in s.namelist():
                    fail(f"{pid}: lib/net10.0/{pid}.pdb is not in {os.path.basename(spath)}")
            say(f"{pid}: symbols lib/net10.0/{pid}.pdb in {os.path.basename(spath)}")
        else:
            types = child(meta, "packageTypes")
            if types is None or "DotnetTool" not in [t.get("name") for t in types]:
                fail(f"{pid}: not a DotnetTool package")
            if deps:
                fail(f"{pid}: a tool package carries its dependencies inside; it lists {deps}")
            settings = [n for n in names if n.endswith("/DotnetToolSettings.xml")]
            if len(settings) != 1:
                fail(f"{pid}: expected one DotnetToolSettings.xml, found {settings}")
            cmds = [(c.get("Name"), c.get("EntryPoint")) for c in ET.fromstring(z.read(settings[0])).iter() if local(c.tag) == "Command"]
            if [c[0] for c in cmds] != [command]:
                fail(f"{pid}: tool commands {cmds}, expected exactly {command!r}")
            folder = settings[0].rsplit("/", 1)[0]
            entry = f"{folder}/{cmds[0][1]}"
            if entry not in names:
                fail(f"{pid}: the entry point {entry} is not in the package")
            say(f"{pid}: a DotnetTool package, command {command!r} runs {entry}, no dependencies")
PY

# 4. The README samples, built and run by a project of its own against the packed libraries. NuGet takes UserNet*
# only from the fresh packages (a registry's package of the same name must not stand in for ours) and the rest from
# the machine's sources, into a packages folder of its own so that no earlier copy of this version is taken.
samples="$work/samples"
mkdir -p "$samples"
mapfile -t source_keys < <(cd "$work" && dotnet nuget list source --format detailed |
  sed -n 's/^ *[0-9][0-9]*\. *\(.*[^ ]\) *\[Enabled\]$/\1/p')
{
  echo '<?xml version="1.0" encoding="utf-8"?>'
  echo '<configuration>'
  echo "  <packageSources><add key=\"usernet-pack-check\" value=\"$out\" /></packageSources>"
  echo '  <packageSourceMapping>'
  echo '    <packageSource key="usernet-pack-check"><package pattern="UserNet" /><package pattern="UserNet.*" /></packageSource>'
  for key in "${source_keys[@]}"; do
    echo "    <packageSource key=\"$key\"><package pattern=\"*\" /></packageSource>"
  done
  echo '  </packageSourceMapping>'
  echo '</configuration>'
} >"$samples/NuGet.config"
export NUGET_PACKAGES="$work/nuget-packages"
cat >"$samples/Samples.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="UserNet" Version="[$version]" />
    <PackageReference Include="UserNet.Tracing" Version="[$version]" />
    <PackageReference Include="UserNet.Simulation" Version="[$version]" />
    <PackageReference Include="UserNet.AspNetCore" Version="[$version]" />
  </ItemGroup>
</Project>
EOF
# Each sample is the first csharp block of its file (of the 'As a library' section in README.md), run in a block of
# its own after a marker line, so one program runs them all.
python3 - "$samples/Program.cs" README.md src/UserNet/README.md src/UserNet.Tracing/README.md \
  src/UserNet.Simulation/README.md src/UserNet.AspNetCore/README.md <<'PY'
import re, sys
target, files = sys.argv[1], sys.argv[2:]
usings, bodies = [], []
for path in files:
    text = open(path, encoding="utf-8").read()
    if path == "README.md":
        at = text.find("### As a library")
        if at < 0:
            sys.exit("pack-check: FAIL: README.md has no 'As a library' section")
        text = text[at:]
    m = re.search(r"```csharp\n(.*?)```", text, re.S)
    if not m:
        sys.exit(f"pack-check: FAIL: {path} has no csharp block")
    body = []
    for line in m.group(1).splitlines():
        if re.fullmatch(r"using [A-Za-z0-9_.]+;", line.strip()):
            if line.strip() not in usings:
                usings.append(line.strip())
        else:
            body.append("    " + line if line else "")
    bodies.append(f'Console.WriteLine("== sample {path}");\n{{\n' + "\n".join(body) + "\n}\n")
open(target, "w", encoding="utf-8").write("\n".join(usings) + "\n\n" + "\n".join(bodies))
PY
if ! (cd "$samples" && timeout 300 dotnet run -c Release --nologo) >"$work/samples.log" 2>&1; then
  show_log "$work/samples.log"
  fail "the README samples did not build or run against the packages"
fi
# What each sample must print, in its own section of the output.
section() { awk -v s="== sample $1" '$0 == s {on = 1; next} /^== sample / {on = 0} on' "$work/samples.log"; }
expect() {
  section "$1" | grep -E "$2" >/dev/null || { show_log "$work/samples.log"; fail "the sample in $1 did not print a line matching '$2'"; }
}
expect README.md '^ping: reply from 10\.0\.0\.2$'
expect README.md '^udp: hello from 10\.0\.0\.1:[0-9]+$'
expect README.md '^tcp: 100000 bytes from 10\.0\.0\.1:[0-9]+$'
expect src/UserNet/README.md '^tcp: 100000 bytes from 10\.0\.0\.1:[0-9]+$'
expect src/UserNet.Tracing/README.md 'IP 10\.0\.0\.1 > 10\.0\.0\.2: ICMP echo request'
expect src/UserNet.Tracing/README.md '^ping: reply from 10\.0\.0\.2$'
expect src/UserNet.Simulation/README.md '^sim: hello \(seed 42\)$'
expect src/UserNet.AspNetCore/README.md '^http: hello from a userspace stack$'
for id in UserNet UserNet.Tracing UserNet.Simulation UserNet.AspNetCore; do
  lower="${id,,}"
  cmp -s "$NUGET_PACKAGES/$lower/$version/$lower.$version.nupkg" "$out/$id.$version.nupkg" ||
    fail "the samples' restore did not take $id $version from the packages just made"
done
say "samples: README.md and the four libraries' READMEs build (warnings as errors) and run against the packages just made"

# 4b. README's "Use it in your tests", verbatim: its sh block run in an empty folder outside the tree (it makes a
# fresh `dotnet new xunit` project and adds the packages), its csharp block saved as the test file it names, then
# `dotnet test` there must pass with every one of its facts run. The same source mapping as the samples: UserNet*
# only from the packages just made.
kit="$work/kit"
mkdir -p "$kit"
cp "$samples/NuGet.config" "$kit/NuGet.config"
python3 - README.md "$kit" <<'PY2'
import re, sys
readme, kit = sys.argv[1], sys.argv[2]
text = open(readme, encoding="utf-8").read()
m = re.search(r"^## Use it in your tests\n(.*?)(?=^## )", text, re.S | re.M)
if not m:
    sys.exit("pack-check: FAIL: README.md has no section headed exactly '## Use it in your tests'")
section = m.group(1)
sh = re.search(r"```sh\n(.*?)```", section, re.S)
cs = re.search(r"```csharp\n(.*?)```", section, re.S)
if not sh or not cs or sh.start() > cs.start():
    sys.exit("pack-check: FAIL: 'Use it in your tests' must hold a sh block, then a csharp block")
if "dotnet add package" not in sh.group(1):
    sys.exit("pack-check: FAIL: the sh block of 'Use it in your tests' has no 'dotnet add package' line")
code = cs.group(1)
if "[Fact]" not in code or not re.search(r"^using ", code, re.M) or " class " not in code:
    sys.exit("pack-check: FAIL: the csharp block of 'Use it in your tests' is not a complete test file (usings, a class, a [Fact])")
open(f"{kit}/steps.sh", "w").write(sh.group(1))
open(f"{kit}/Test.cs.txt", "w").write(code)
open(f"{kit}/facts", "w").write(str(code.count("[Fact]")))
# The section's next csharp block: the deterministic mode, a complete program of its own.
more = re.findall(r"```csharp\n(.*?)```", section[cs.end():], re.S)
if not more:
    sys.exit("pack-check: FAIL: 'Use it in your tests' has no csharp block for the deterministic mode")
open(f"{kit}/Deterministic.cs.txt", "w").write(more[0])
PY2
if ! (cd "$kit" && timeout 600 bash -euo pipefail steps.sh) >"$work/kit-steps.log" 2>&1; then
  show_log "$work/kit-steps.log"
  fail "the sh block of README.md's 'Use it in your tests' failed in an empty folder"
fi
kit_projects=("$kit"/*/*.csproj)
[ "${#kit_projects[@]}" -eq 1 ] && [ -f "${kit_projects[0]}" ] ||
  fail "the sh block of 'Use it in your tests' should make one project folder (found: ${kit_projects[*]})"
kit_project="$(dirname "${kit_projects[0]}")"
for id in UserNet.Simulation UserNet.AspNetCore; do
  grep -q "Include=\"$id\" Version=\"$version\"" "${kit_projects[0]}" ||
    fail "the sh block of 'Use it in your tests' did not add $id $version to the fresh project ($(grep PackageReference "${kit_projects[0]}" | paste -sd' '))"
done
cp "$kit/Test.cs.txt" "$kit_project/NetworkTests.cs"
if ! (cd "$kit_project" && timeout 600 dotnet test --nologo) >"$work/kit-test.log" 2>&1; then
  show_log "$work/kit-test.log"
  fail "the test of README.md's 'Use it in your tests' did not pass in a fresh xunit project"
fi
facts="$(cat "$kit/facts")"
passed="$(sed -n 's/.*Failed: *0, Passed: *\([0-9][0-9]*\),.*/\1/p' "$work/kit-test.log" | tail -n 1)"
[ -n "$passed" ] && [ "$passed" -ge "$facts" ] ||
  { show_log "$work/kit-test.log"; fail "the fresh project ran ${passed:-no} passing tests; README's test file has $facts facts"; }
for id in UserNet UserNet.Simulation UserNet.AspNetCore; do
  lower="${id,,}"
  cmp -s "$NUGET_PACKAGES/$lower/$version/$lower.$version.nupkg" "$out/$id.$version.nupkg" ||
    fail "the fresh project's restore did not take $id $version from the packages just made"
done
# The deterministic-mode program, against the same packages.
det="$kit/deterministic"
mkdir -p "$det"
cat >"$det/Deterministic.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="UserNet.Simulation" Version="[$version]" />
  </ItemGroup>
</Project>
EOF
cp "$kit/Deterministic.cs.txt" "$det/Program.cs"
if ! (cd "$det" && timeout 300 dotnet run -c Release --nologo) >"$work/kit-det.log" 2>&1; then
  show_log "$work/kit-det.log"
  fail "the deterministic-mode program of README.md's 'Use it in your tests' did not build or run against the packages"
fi
grep -Eq '^tcp: 1000000 bytes in ' "$work/kit-det.log" ||
  { show_log "$work/kit-det.log"; fail "the deterministic-mode program did not print 'tcp: 1000000 bytes in ...'"; }
say "use it in your tests: the deterministic-mode program ran against the packages: $(grep -E '^tcp: ' "$work/kit-det.log")"
say "use it in your tests: README's steps made a fresh xunit project outside the tree; its test file passed there ($passed tests) against the packages just made"

# 5. The tool, installed as a user would (the README's command; --add-source cannot be combined with the samples'
# source mapping, so it runs outside their folder), and run from where it was installed.
tools="$work/tools"
if ! (cd "$work" && dotnet tool install --tool-path "$tools" --add-source "$out" --version "$version" UserNet.Tool) \
    >"$work/tool.log" 2>&1; then
  show_log "$work/tool.log"
  fail "dotnet tool install --tool-path DIR --add-source DIR UserNet.Tool failed"
fi
[ -x "$tools/$command_name" ] || fail "the tool install put no executable $command_name in the tool path"
stored="$(find "$tools/.store" -iname "usernet.tool.$version.nupkg" | head -n 1)"
[ -n "$stored" ] && cmp -s "$stored" "$out/UserNet.Tool.$version.nupkg" ||
  fail "the installed tool is not the UserNet.Tool package just made"
say "tool: dotnet tool install --add-source DIR UserNet.Tool put $command_name in the tool path, from the package just made"

runtimeconfig="$(find "$tools/.store" -name UserNet.Cli.runtimeconfig.json | head -n 1)"
[ -n "$runtimeconfig" ] || fail "the installed tool has no UserNet.Cli.runtimeconfig.json"
python3 - "$runtimeconfig" <<'PY' || fail "the installed tool's runtimeconfig.json lost System.Threading.ThreadPool.UnfairSemaphoreSpinLimit = 0 (tools/UserNet.Cli/UserNet.Cli.csproj)"
import json, sys
props = json.load(open(sys.argv[1]))["runtimeOptions"].get("configProperties", {})
sys.exit(0 if props.get("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit") == 0 else 1)
PY
say "tool: the installed runtimeconfig.json sets System.Threading.ThreadPool.UnfairSemaphoreSpinLimit = 0"

if ! (cd "$work" && timeout 60 "$tools/$command_name" --help) >"$work/help.log" 2>&1; then
  show_log "$work/help.log"
  fail "$command_name --help failed"
fi
for sub in up ping demo nc iperf3 trace replay; do
  grep -Eq "^  $sub( |$)" "$work/help.log" || { show_log "$work/help.log"; fail "$command_name --help does not list '$sub'"; }
done
say "tool: $command_name --help exits 0 and lists up, ping, demo, nc, iperf3, trace and replay"

if ! (cd "$work" && timeout 120 "$tools/$command_name" demo --memory) >"$work/demo.log" 2>&1; then
  show_log "$work/demo.log"
  fail "$command_name demo --memory failed"
fi
grep -q '^demo: demo passed (in memory)' "$work/demo.log" || { show_log "$work/demo.log"; fail "$command_name demo --memory did not say it passed"; }
say "tool: $command_name demo --memory from the tool path: ping both ways, UDP and TCP echo between two stacks passed"

say "took $((SECONDS - started)) s"
say PASS
