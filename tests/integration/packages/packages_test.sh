#!/bin/bash
# The Debian packages as an operator gets them: builds them with CPack, installs them with
# dpkg -i, checks both systemd units with systemd-analyze verify, runs `gpucloud server init` and
# `gpucloud server --config /etc/gpucloud/nova.conf` as the packages' own user (no systemd
# needed), asks /healthz, /readyz, the portal and a login, then purges the packages again.
# Needs root (dpkg); exits 77 (skipped) otherwise. Usage: packages_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: packages_test.sh BUILD_DIR}" && pwd)
if [[ $EUID -ne 0 ]]; then
  echo "packages test: needs root for dpkg -i; skipped"
  exit 77
fi
# One at a time: several checkouts on one machine share dpkg and the gpucloud user.
exec 9>/tmp/gpucloud-packages-test.lock
flock 9

out=$(mktemp -d /tmp/gpucloud-packages.XXXXXX)
server_pid=""
had_user=$(getent passwd gpucloud >/dev/null && echo yes || echo no)
had_agent_user=$(getent passwd gpucloud-agent >/dev/null && echo yes || echo no)
cleanup() {
  set +e  # every step runs, whatever the one before it returned
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  dpkg --purge gpucloud-agent gpucloud-server gpucloud >/dev/null 2>&1 || true
  rm -rf /var/lib/gpucloud/gpucloud.sqlite* /etc/gpucloud "$out"
  rmdir /var/lib/gpucloud 2>/dev/null || true
  [[ $had_user == no ]] && userdel gpucloud 2>/dev/null
  [[ $had_agent_user == no ]] && userdel gpucloud-agent 2>/dev/null
  return 0
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [[ -f "$out/server.log" ]] && tail -20 "$out/server.log"
  exit 1
}

cpack -G DEB -B "$out" --config "$build/CPackConfig.cmake" >"$out/cpack.log" 2>&1 ||
  { cat "$out/cpack.log"; fail "cpack"; }
cli=$(ls "$out"/gpucloud_*.deb)
server=$(ls "$out"/gpucloud-server_*.deb)
agent=$(ls "$out"/gpucloud-agent_*.deb)

# What each package holds, and its dependencies as Debian package names.
dpkg-deb -c "$cli" >"$out/cli.list"
dpkg-deb -c "$server" >"$out/server.list"
dpkg-deb -c "$agent" >"$out/agent.list"
grep -q '\./usr/bin/gpucloud$' "$out/cli.list" || fail "no /usr/bin/gpucloud in $cli"
grep -q '\./etc/gpucloud/nova.conf$' "$out/cli.list" || fail "no /etc/gpucloud/nova.conf"
grep -q '\./usr/share/gpucloud/web/index.html$' "$out/server.list" || fail "no portal files"
grep -q 'gpucloud-server.service$' "$out/server.list" || fail "no server unit"
grep -q 'gpucloud-agent.service$' "$out/agent.list" || fail "no agent unit"
if grep -q 'node_modules\|package.json' "$out/server.list"; then fail "npm files in the portal"; fi
depends=$(dpkg-deb -f "$cli" Depends)
for lib in libsoci-core libsoci-sqlite3 libsoci-mysql libsodium libvirt0 libcpp-httplib; do
  [[ "$depends" == *"$lib"* ]] || fail "gpucloud's Depends lacks $lib: $depends"
done
[[ "$(dpkg-deb -f "$server" Depends)" == *"gpucloud (= "* ]] || fail "server does not depend on gpucloud"

dpkg -i "$cli" "$server" "$agent" >"$out/dpkg.log" 2>&1 || { cat "$out/dpkg.log"; fail "dpkg -i"; }
getent passwd gpucloud >/dev/null || fail "no gpucloud user"
getent passwd gpucloud-agent >/dev/null || fail "no gpucloud-agent user"
[[ "$(stat -c %a /etc/gpucloud/agent.env)" == 640 ]] || fail "agent.env is not mode 0640"

# The units, as systemd itself reads them.
systemd-analyze verify /lib/systemd/system/gpucloud-server.service \
  /lib/systemd/system/gpucloud-agent.service >"$out/verify.log" 2>&1 ||
  { cat "$out/verify.log"; fail "systemd-analyze verify"; }
if grep -i 'gpucloud' "$out/verify.log"; then fail "systemd-analyze has remarks on our units"; fi
for key in ProtectSystem=strict NoNewPrivileges=yes StateDirectory=gpucloud User=gpucloud; do
  grep -q "^$key" /lib/systemd/system/gpucloud-server.service || fail "server unit lacks $key"
done

# The installed binary, as the unit would run it.
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
runuser -u gpucloud -- env GPUCLOUD_ADMIN_PASSWORD="$password" GPUCLOUD_SERVICE_PASSWORD="$password" \
  /usr/bin/gpucloud server init --config /etc/gpucloud/nova.conf >"$out/init.log" 2>&1 ||
  { cat "$out/init.log"; fail "server init"; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
runuser -u gpucloud -- /usr/bin/gpucloud server --config /etc/gpucloud/nova.conf --port "$port" \
  >"$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$out/server.log" && break; sleep 0.1; done
grep -q "listening on" "$out/server.log" || fail "the installed server did not start"
PORT=$port PASSWORD=$password python3 - <<'PY' || fail "HTTP checks"
import json, os, urllib.request
base = f"http://127.0.0.1:{os.environ['PORT']}"
for path in ("/healthz", "/readyz"):
    with urllib.request.urlopen(base + path, timeout=10) as r:
        assert r.status == 200 and json.load(r)["status"] == "ok", path
with urllib.request.urlopen(base + "/portal/", timeout=10) as r:
    assert b"<html" in r.read().lower(), "portal"
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"name": "Default"}, "password": os.environ["PASSWORD"]}}},
    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
req = urllib.request.Request(base + "/identity/v3/auth/tokens", json.dumps(body).encode(),
                             {"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=10) as r:
    assert r.status == 201
PY
[[ "$(stat -c %U /var/lib/gpucloud/gpucloud.sqlite)" == gpucloud ]] || fail "database not the user's"
if grep -q "$password" "$out/server.log" "$out/init.log"; then fail "a password in the output"; fi
echo "packages test passed: $(basename "$cli") $(basename "$server") $(basename "$agent")"
