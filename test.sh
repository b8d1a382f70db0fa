#!/usr/bin/env bash
# Runs every test: unit tests, and integration tests against the Linux kernel on TAPs in namespaces they create
# (these need root). Installs the few Debian packages the integration tests drive when they are missing.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
scripts/install-test-deps.sh
dotnet test UserNet.sln -c Release "$@"
