#!/usr/bin/env bash
# Builds relprop and runs every test: installs what is missing, configures and builds
# incrementally, then runs ctest (doctest suites, the CLI on the worked example, and
# examples/embed built against an installed tree).
#   scripts/test.sh          release build (build/release)
#   scripts/test.sh asan     AddressSanitizer + UndefinedBehaviorSanitizer (build/asan)
#   scripts/test.sh debug    debug build (build/debug)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
relprop_ensure_deps
preset="${1:-release}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j"$(relprop_jobs)"
ctest --preset "$preset" -j"$(relprop_jobs)"
