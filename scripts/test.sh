#!/usr/bin/env bash
# Installs, builds and runs every test: all tests (unit and integration) on the normal build, then
# the unit tests again under ASan+UBSan. Ends with CTest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --sanitize

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== unit tests under ASan+UBSan (build-sanitize) =="
ctest --test-dir build-sanitize -L unit --output-on-failure -j "$(nproc)"
echo "== all tests (build) =="
ctest --test-dir build --output-on-failure -j "$(nproc)"
