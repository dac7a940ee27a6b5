#!/usr/bin/env bash
# Installs every Debian package gpucloud needs (scripts/packages.txt) and builds it into build/.
# Idempotent: apt runs only when a package is missing, and the build is incremental (ccache).
# Usage: scripts/setup.sh [--sanitize]   (--sanitize also builds build-sanitize/ with ASan+UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done < scripts/packages.txt
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node/npm packages for the portal's browser tests, when there are any.
if [[ -f web/package.json ]] && command -v npm >/dev/null; then
  (cd web && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --silent; })
fi

jobs=$(nproc)
# ccache keys on paths relative to the checkout, so that another clone (CI's) reuses the cache.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
build() {  # build DIR TYPE [TARGET]
  if [[ ! -f "$1/build.ninja" ]]; then
    cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE="$2" >/dev/null
  fi
  cmake --build "$1" -j "$jobs" ${3:+--target "$3"}
}
build build RelWithDebInfo
if [[ "${1:-}" == "--sanitize" ]]; then
  # Only the unit tests run under the sanitizers: integration tests and benchmarks are not built.
  build build-sanitize sanitize unit_tests
fi
