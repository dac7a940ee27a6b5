#!/usr/bin/env python3
"""bench/networks_api.py: what nova's network proxy routes cost gpucloud (docs/networks.md), at the
seed's size (16 hosts) and at 10,000, with every host's guest network in a range of its own (the
fake driver's default) or all hosts in one shared range (libvirt's NAT network on every host).

Side by side in each run: GET /os-hypervisors/detail, the fleet-wide admin route these are most
like (it reads every host too), and GET /servers/detail. Best of 5, in ms. Not part of the tests.

    python3 bench/networks_api.py build/gpucloud
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

GPUCLOUD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/gpucloud")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def measure(n, shared):
    d = f"/tmp/gpucloud-bench-networks-{n}{'-shared' if shared else ''}"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    hosts = []
    for i in range(n):
        h = {"name": f"h{i}", "vcpus": 8, "memory_mb": 16384, "disk_gb": 100}
        if shared:
            h["guest_network"] = "10.0.0.0/16"
        hosts.append(h)
    with open(f"{d}/hosts.json", "w") as f:
        json.dump({"hosts": hosts}, f)
    port = free_port()
    up = subprocess.Popen([GPUCLOUD, "up", "--data-dir", f"{d}/data", "--port", str(port),
                           "--no-demo", "--fake-hosts", f"{d}/hosts.json", "--web-root", "none"],
                          stdout=open(f"{d}/log", "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            if time.time() > deadline or up.poll() is not None:
                sys.exit("gpucloud up did not start: " + open(f"{d}/log").read()[-2000:])
            try:
                urllib.request.urlopen(base + "/", timeout=1).read()
            except urllib.error.HTTPError:
                pass  # answering
            except OSError:
                time.sleep(0.2)
                continue
            if os.path.exists(f"{d}/data/openrc"):
                break
            time.sleep(0.2)
        password = re.search(r"OS_PASSWORD='?([^'\n]+)'?",
                             open(f"{d}/data/openrc").read()).group(1)
        auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        r = urllib.request.urlopen(urllib.request.Request(
            base + "/identity/v3/auth/tokens", json.dumps(auth).encode(),
            {"Content-Type": "application/json"}))
        token = r.headers["X-Subject-Token"]

        def best_ms(path):
            best = float("inf")
            for _ in range(5):
                t0 = time.time()
                try:
                    urllib.request.urlopen(urllib.request.Request(
                        base + path, headers={"X-Auth-Token": token}), timeout=120).read()
                except urllib.error.HTTPError as e:
                    e.read()
                best = min(best, time.time() - t0)
            return best * 1000

        ip = "10.0.0.9" if shared else "127.0.1.9"
        return {"os-hypervisors/detail": best_ms("/compute/v2.1/os-hypervisors/detail"),
                "servers/detail": best_ms("/compute/v2.1/servers/detail"),
                "os-networks": best_ms("/compute/v2.1/os-networks"),
                "os-fixed-ips/{ip}": best_ms(f"/compute/v2.1/os-fixed-ips/{ip}")}
    finally:
        up.terminate()
        up.wait()
        shutil.rmtree(d, ignore_errors=True)


for n, shared in [(16, False), (16, True), (10000, False), (10000, True)]:
    figures = measure(n, shared)
    ranges = "one shared range" if shared else "a range per host"
    print(f"{n:>6} hosts, {ranges:>16}: " +
          " | ".join(f"{k} {v:.1f} ms" for k, v in figures.items()), flush=True)
