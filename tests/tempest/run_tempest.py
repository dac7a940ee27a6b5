#!/usr/bin/python3
"""OpenStack's own API tests (Debian's python3-tempest) against `gpucloud up`.

Starts `gpucloud up --no-demo` in a temporary folder, uploads a plain 1 MiB raw image (min_disk 0,
so flavors 1-5 can boot it), writes tempest.conf from what that cloud is (its URL, the admin's
credentials from openrc, the compute microversions its version document announces, the services
and features gpucloud has; docs/compatibility.md says why each absent one is off), runs Tempest's
identity, compute and image API tests and prints Tempest's summary.

Usage: run_tempest.py /path/to/gpucloud [--regex R] [--concurrency N] [--keep DIR]
                      [--known-failures FILE]
Exit status: Tempest's (0 when no test failed). With --known-failures (what CI runs, as the
ctest `tempest`): 0 when every failure is one the file lists (one test id per line, `#`
comments; docs/compatibility.md says why each fails), 1 when any other test failed. Listed tests
that passed are printed, so that the list only shrinks. Needs Debian's python3-tempest.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ARGS = argparse.ArgumentParser()
ARGS.add_argument("gpucloud")
ARGS.add_argument("--regex", default=r"^tempest\.api\.(identity|compute|image)\.")
ARGS.add_argument("--concurrency", type=int, default=max(2, os.cpu_count() or 2))
ARGS.add_argument("--keep", help="keep the workspace (logs, tempest.conf) in this folder")
ARGS.add_argument("--known-failures", help="tests allowed to fail (their ids, one a line)")
ARGS = ARGS.parse_args()

TMP = ARGS.keep or tempfile.mkdtemp(prefix="gpucloud-tempest-")
os.makedirs(TMP, exist_ok=True)
DATA = os.path.join(TMP, "data")


SEED_NOVA_CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "../../examples/seed/nova.conf")


def nova_conf():
    """The seed's nova.conf with nova's server group filters added to its filter list, as
    nova's own default list has them: Tempest boots servers into affinity groups, which nova
    (and gpucloud) refuse to place when the policy's filter is not enabled."""
    text = open(SEED_NOVA_CONF).read()
    text, n = re.subn(r"^(scheduler_default_filters = .*)$",
                      r"\1,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter", text,
                      flags=re.M)
    if n != 1:
        sys.exit("examples/seed/nova.conf: no scheduler_default_filters line to extend")
    path = os.path.join(TMP, "nova.conf")
    open(path, "w").write(text)
    return path


def start_up():
    log = open(os.path.join(TMP, "up.log"), "w")
    p = subprocess.Popen([os.path.abspath(ARGS.gpucloud), "up", "--no-demo", "--port", "0",
                          "--data-dir", DATA, "--web-root", "none", "--config", nova_conf()],
                         stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        if p.poll() is not None:
            sys.exit("gpucloud up exited: " + open(log.name).read()[-3000:])
        m = re.search(r"gpucloud is up in [0-9.]+ s: (\S+)", open(log.name).read())
        if m:
            return p, m.group(1)
        time.sleep(0.2)
    p.kill()
    sys.exit("gpucloud up did not start within 60 s")


def call(base, token, method, path, body=None, ctype="application/json"):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data, method=method,
                                 headers={"Content-Type": ctype, **({"X-Auth-Token": token}
                                                                    if token else {})})
    with urllib.request.urlopen(req) as r:
        raw = r.read()
        return r.headers, json.loads(raw) if raw else None


up, base = start_up()
try:
    password = re.search(r"OS_PASSWORD='?([^'\n]+)'?",
                         open(os.path.join(DATA, "openrc")).read()).group(1)
    headers, _ = call(base, None, "POST", "/identity/v3/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    token = headers["X-Subject-Token"]
    _, img = call(base, token, "POST", "/image/v2/images", {
        "name": "tempest-raw", "visibility": "public", "disk_format": "raw",
        "container_format": "bare"})
    call(base, token, "PUT", f"/image/v2/images/{img['id']}/file", b"\0" * (1 << 20),
         "application/octet-stream")
    _, version = call(base, token, "GET", "/compute/v2.1/")
    vmin, vmax = version["version"]["min_version"], version["version"]["version"]
    # Tempest's multi-node tests (server groups across hosts) run when it knows there are several.
    _, hypervisors = call(base, token, "GET", "/compute/v2.1/os-hypervisors")
    nodes = len(hypervisors["hypervisors"])

    # Tempest registers workspaces by name in $HOME/.tempest: a HOME of its own per run, so that
    # runs (and earlier runs' leftovers) never collide.
    env = dict(os.environ, HOME=TMP)
    ws = os.path.join(TMP, "ws")
    init = subprocess.run(["tempest", "init", ws], env=env, capture_output=True, text=True)
    if init.returncode != 0:
        sys.exit("tempest init failed: " + init.stdout + init.stderr)
    conf = f"""[DEFAULT]
log_dir = {ws}/logs
log_file = tempest.log

[auth]
use_dynamic_credentials = True
admin_username = admin
admin_password = {password}
admin_project_name = admin
admin_domain_name = Default
default_credentials_domain_name = Default
create_isolated_networks = False

[identity]
uri_v3 = {base}/identity/v3
auth_version = v3
region = RegionOne
disable_ssl_certificate_validation = True

[identity-feature-enabled]
api_v2 = False
api_v2_admin = False
trust = False
domain_specific_drivers = False
security_compliance = False
project_tags = False
application_credentials = False
access_rules = False
# Keystone's extensions that gpucloud serves: none of OS-EC2, OS-INHERIT, OS-OAUTH1,
# OS-EP-FILTER, OS-TRUST (docs/compatibility.md). Tempest skips the tests it ties to them.
api_extensions =

[compute]
image_ref = {img['id']}
image_ref_alt = {img['id']}
flavor_ref = 1
flavor_ref_alt = 2
min_microversion = {vmin}
max_microversion = {vmax}
min_compute_nodes = {nodes}
# The guest network the demo's hosts report (docs/networks.md): os-networks lists it, and every
# server Tempest creates asks for it by id (networks: [{{"uuid"}}]).
fixed_network_name = private
build_timeout = 60
build_interval = 1

[compute-feature-enabled]
disk_config = False
change_password = False
console_output = True
resize = False
pause = False
shelve = True
shelve_migrate = False
suspend = False
cold_migration = False
live_migration = False
metadata_service = False
vnc_console = False
spice_console = True
serial_console = False
rescue = False
stable_rescue = False
enable_instance_password = True
interface_attach = False
snapshot = False
personality = False
attach_encrypted_volume = False
config_drive = True
swap_volume = False
volume_multiattach = False

[image]
build_timeout = 60
build_interval = 1
http_image = file:///dev/null

[image-feature-enabled]
api_v1 = False
api_v2 = True
import_image = False
os_glance_reserved = False
manage_locations = False

[network-feature-enabled]
ipv6 = False
# gpucloud has no floating IPs (docs/compatibility.md); Tempest ties its floating IP tests to this.
floating_ips = False

[service_available]
cinder = False
neutron = False
glance = True
swift = False
nova = True
heat = False

[validation]
run_validation = False
"""
    with open(os.path.join(ws, "etc", "tempest.conf"), "w") as f:
        f.write(conf)
    print(f"tempest against {base} (compute {vmin}-{vmax}), workspace {ws}", flush=True)
    r = subprocess.Popen(["tempest", "run", "--regex", ARGS.regex, "--concurrency",
                          str(ARGS.concurrency)], cwd=ws, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    # "{0} tempest.api.x.Y.test_z [0.1s] ... FAILED", "{1} setUpClass (tempest.api.x.Y) ... FAILED"
    outcome = re.compile(r"^\{\d+\} (?:setUpClass \()?([\w.]+)\)?(?: \[[^]]*\])? \.\.\. (\w+)")
    failed, passed = set(), set()
    for line in r.stdout:
        sys.stdout.write(line)
        m = outcome.match(line)
        if m:
            (failed if m.group(2) == "FAILED" else passed).add(m.group(1))
    rc = r.wait()
    if ARGS.known_failures:
        known = set()
        for raw in open(ARGS.known_failures):
            entry = raw.split("#", 1)[0].strip()
            if entry:
                known.add(entry)
        unexpected = sorted(failed - known)
        fixed = sorted(known & passed)
        print(f"\n{len(failed)} failed, {len(failed & known)} of them known "
              f"({os.path.basename(ARGS.known_failures)})")
        for t in fixed:
            print("now passes (remove it from the list):", t)
        for t in unexpected:
            print("UNEXPECTED FAILURE:", t)
        rc = 1 if unexpected else 0
finally:
    up.terminate()
    try:
        up.wait(timeout=20)
    except subprocess.TimeoutExpired:
        up.kill()
if not ARGS.keep:
    shutil.rmtree(TMP, ignore_errors=True)
sys.exit(rc)
