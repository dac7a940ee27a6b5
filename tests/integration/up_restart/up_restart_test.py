#!/usr/bin/env python3
"""`gpucloud up` killed and started again on the same data folder, with the Cloud Controller.

The simulated guests live in the process: after the restart the servers are still ACTIVE in the
database but their guests and stand-in services are gone. An impostor HTTP service listens on
0.0.0.0 at the port of the image's service_url, so it answers on every loopback address, as a
host's own sshd answers on port 22. Before the restart the probes reach the guests' stand-ins (one
answers 503: waiting); after it, the server that was waiting must stay waiting with "no address
known yet", and the impostor must never be asked. Usage: up_restart_test.py /path/to/gpucloud
"""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

GPUCLOUD = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="gpucloud-up-restart-")
DATA = os.path.join(TMP, "data")
PROCS = []


def fail(msg):
    print("FAIL:", msg, flush=True)
    for p, log in PROCS:
        if p.poll() is None:
            p.kill()
        print(f"---- {log} (last 4000 bytes) ----")
        with open(log, errors="replace") as f:
            print(f.read()[-4000:])
    sys.exit(1)


def wait_for(what, predicate, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    fail("timed out waiting for " + what)


# ---- the impostor: answers 200 to anything, on every address ----
IMPOSTOR_HITS = []


class Impostor(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        IMPOSTOR_HITS.append(self.server.server_address)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


impostor = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Impostor)
IMPOSTOR_PORT = impostor.server_address[1]
threading.Thread(target=impostor.serve_forever, daemon=True).start()

ini = os.path.join(TMP, "cloudcontroller.ini")
os.makedirs(DATA, mode=0o700)
with open(ini, "w") as f:
    f.write("[app:main]\n"
            f"openstack.gpu_query = sqlite:///{DATA}/gpucloud.sqlite\n"
            "openstack.gpu_pci_ids = 11bf\n"
            "gpucloud.readiness_interval = 0.3\n"
            "gpucloud.readiness_max_interval = 0.5\n"
            "gpucloud.readiness_probe_timeout = 1\n")


def start_up(n):
    log = os.path.join(TMP, f"up-{n}.log")
    out = open(log, "w")
    p = subprocess.Popen([GPUCLOUD, "up", "--no-demo", "--port", "0", "--data-dir", DATA,
                          "--web-root", "none", "--cloudcontroller", ini],
                         stdout=out, stderr=subprocess.STDOUT)
    PROCS.append((p, log))

    def url():
        if p.poll() is not None:
            fail(f"gpucloud up exited with {p.returncode}")
        m = re.search(r"gpucloud is up in [0-9.]+ s: (\S+)", open(log).read())
        return m and m.group(1)
    base = wait_for("gpucloud up to print its URL", url)
    password = re.search(r"OS_PASSWORD='?([^'\n]+)'?",
                         open(os.path.join(DATA, "openrc")).read()).group(1)
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    req = urllib.request.Request(base + "/identity/v3/auth/tokens", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return p, base, r.headers["X-Subject-Token"]


def call(base, token, method, path, body=None, ctype="application/json"):
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data, method=method,
                                 headers={"X-Auth-Token": token, "Content-Type": ctype})
    try:
        with urllib.request.urlopen(req) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def readiness(base, token, uuid):
    s, body = call(base, token, "GET", "/compute/v2.1/servers/" + uuid)
    if s != 200:
        fail(f"GET server {uuid}: {s} {body}")
    return body["server"]["status"], body["server"].get("gpucloud:readiness") or {}


p, base, token = start_up(1)

# A service image whose service_url is the impostor's port; the second server's stand-in answers
# 503 (gpucloud_fake_service=down in its metadata).
s, img = call(base, token, "POST", "/image/v2/images", {
    "name": "svc", "visibility": "public", "disk_format": "raw", "container_format": "bare",
    "min_disk": 1, "min_ram": 512, "image_type": "webservice", "service_type": "web",
    "service_url": f"http://{{}}:{IMPOSTOR_PORT}/"})
if s != 201:
    fail(f"image create: {s} {img}")
s, _ = call(base, token, "PUT", f"/image/v2/images/{img['id']}/file", b"x" * 1024,
            "application/octet-stream")
if s != 204:
    fail(f"image upload: {s}")
servers = {}
for name, meta in [("answers", {}), ("silent", {"gpucloud_fake_service": "down"})]:
    s, body = call(base, token, "POST", "/compute/v2.1/servers", {"server": {
        "name": name, "imageRef": img["id"], "flavorRef": "2", "metadata": meta}})
    if s != 202:
        fail(f"server create {name}: {s} {body}")
    servers[name] = body["server"]["id"]

wait_for("'answers' READY through its stand-in", lambda: readiness(
    base, token, servers["answers"])[1].get("state") == "ready")
wait_for("'silent' waiting on its stand-in's 503", lambda: "HTTP 503" in (readiness(
    base, token, servers["silent"])[1].get("error") or ""))
if IMPOSTOR_HITS:
    fail(f"the impostor answered for a guest with a stand-in: {IMPOSTOR_HITS}")
print("before the restart: 'answers' READY, 'silent' waiting (HTTP 503), impostor not asked")

# kill -9, then the same data folder again: the guests (and their stand-ins) are gone.
p.send_signal(signal.SIGKILL)
p.wait()
p, base, token = start_up(2)
status, r = readiness(base, token, servers["silent"])
print(f"after the restart: 'silent' is {status}, readiness {r}")
wait_for("'silent' to say its guest has no address",
         lambda: readiness(base, token, servers["silent"])[1].get("error") ==
         "no address known yet", timeout=30)
# Probed every 0.3-0.5 s: a few seconds is many probes that could have gone to the impostor.
time.sleep(3)
status, r = readiness(base, token, servers["silent"])
if r.get("state") == "ready" or IMPOSTOR_HITS:
    fail(f"after the restart 'silent' was answered by the impostor: {r}, hits {IMPOSTOR_HITS}")
if r.get("state") not in ("waiting", "timed_out") or r.get("error") != "no address known yet":
    fail(f"after the restart 'silent' should wait with 'no address known yet': {r}")
# READY stays READY: the readiness of a server that once answered is not taken back.
if readiness(base, token, servers["answers"])[1].get("state") != "ready":
    fail("'answers' lost its READY over the restart")

p.send_signal(signal.SIGTERM)
if p.wait(timeout=20) != 0:
    fail(f"gpucloud up exited with {p.returncode} on SIGTERM")
impostor.shutdown()
shutil.rmtree(TMP, ignore_errors=True)
print("PASS: after a restart of up, a guest that is gone is not probed at its old address")
