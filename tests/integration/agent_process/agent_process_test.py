#!/usr/bin/env python3
"""Two-process test of the agent: `gpucloud server` plus two `gpucloud agent --driver fake`.

The agents register hostA (no GPU) and hostB (two K2 GPUs) and heartbeat; servers boot and are
deleted through them (a GPU flavor's claim goes through hostB's agent); killing hostA's agent
marks its host down after service_down_time (3 s here) and new boots avoid it. SIGTERM stops an
agent cleanly, and a restarted agent with --repair-orphans releases the claim of a server whose
domain is gone. Usage: agent_process_test.py /path/to/gpucloud
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

GPUCLOUD = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="gpucloud-agent-process-")
PROCS = []


@atexit.register
def _stop_leftovers():
    # Whatever way the test ends (an exception included), no server or agent outlives it.
    for _, p, _ in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()


def fail(msg):
    print("FAIL:", msg)
    for name, p, log in PROCS:
        if p.poll() is None:
            p.kill()
        print(f"---- {name} output ----")
        with open(log) as f:
            print(f.read()[-4000:])
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}"


def start(name, args, env=None):
    log = os.path.join(TMP, name + ".log")
    p = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                         env=env or os.environ.copy())
    PROCS.append((name, p, log))
    return p, log


def wait_for(what, predicate, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    fail(f"timed out waiting for {what}")


def http(method, path, token=None, body=None, expect=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, headers, text = r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        status, headers, text = e.code, e.headers, e.read().decode()
    if expect is not None and status != expect:
        fail(f"{method} {path}: expected {expect}, got {status}: {text}")
    return status, headers, (json.loads(text) if text.strip() else None)


def login(user, password, project):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    _, headers, _ = http("POST", "/identity/v3/auth/tokens", body=body, expect=201)
    return headers["X-Subject-Token"]


# ---- a database with an admin user, flavors 1-5 and an image: `gpucloud up` initialises it ----
data = os.path.join(TMP, "data")
no_hosts = os.path.join(TMP, "no_hosts.json")
with open(no_hosts, "w") as f:
    json.dump({"hosts": []}, f)
init = subprocess.run([GPUCLOUD, "up", "--data-dir", data, "--port", str(PORT), "--no-demo",
                       "--exit-when-ready", "--fake-hosts", no_hosts, "--web-root", "none"],
                      capture_output=True, text=True, timeout=120)
if init.returncode != 0:
    fail("gpucloud up (init): " + init.stdout + init.stderr)
openrc = open(os.path.join(data, "openrc")).read()
password = re.search(r"OS_PASSWORD='?([^'\n]+)'?", openrc).group(1)

CLEAN_MS = 1500  # hostB's agent takes this long to clean a released GPU (docs/cleaning.md)
fake_hosts = os.path.join(TMP, "fake_hosts.json")
with open(fake_hosts, "w") as f:
    json.dump({"hosts": [
        {"name": "hostA", "vcpus": 8, "memory_mb": 16384, "disk_gb": 400},
        {"name": "hostB", "vcpus": 8, "memory_mb": 16384, "disk_gb": 400, "clean_ms": CLEAN_MS,
         "pci_devices": [
            {"address": "0000:06:00.0", "vendor_id": "10de", "product_id": "11bf"},
            {"address": "0000:07:00.0", "vendor_id": "10de", "product_id": "11bf"}]},
        # Started last: its spawns are slow (a large image being downloaded, say).
        {"name": "hostC", "vcpus": 8, "memory_mb": 16384, "disk_gb": 400, "spawn_ms": 5000,
         "pci_devices": [
            {"address": "0000:08:00.0", "vendor_id": "10de", "product_id": "11bf"}]}]}, f)


def start_agent(host, user, pw, name=None, extra=()):
    env = os.environ.copy()
    env.update({"OS_AUTH_URL": BASE + "/identity/v3", "OS_USERNAME": user, "OS_PASSWORD": pw,
                "OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default"})
    return start(name or "agent-" + host, [
        GPUCLOUD, "agent", "--driver", "fake", "--fake-hosts", fake_hosts, "--host", host,
        "--heartbeat-interval", "1", "--orphan-interval", "2", "--poll-wait", "2", *extra], env)


# hostA's agent starts before its server does (a server restarting, a host booting first): it
# keeps trying to log in, with backoff, and registers once the server answers.
agent_a, agent_a_log = start_agent("hostA", "admin", password)
wait_for("hostA's agent to retry", lambda: "retrying in" in open(agent_a_log).read())
if agent_a.poll() is not None:
    fail("hostA's agent exited while its server was not up yet")

# ---- the server, with a 3 s service_down_time ----
nova_conf = os.path.join(TMP, "nova.conf")
with open(nova_conf, "w") as f:
    f.write("[DEFAULT]\nservice_down_time = 3\n"
            "pci_alias = { 'name': 'K2_Grid', 'vendor_id': '10de', 'product_id': '11bf' }\n"
            "scheduler_default_filters = RetryFilter,RamFilter,ComputeFilter,"
            "PciPassthroughFilter\n")
server, server_log = start("server", [
    GPUCLOUD, "server", "--config", nova_conf, "--database",
    "sqlite:///" + os.path.join(data, "gpucloud.sqlite"), "--port", str(PORT), "--data-dir", data,
    "--web-root", "none"])
wait_for("the server to listen", lambda: "listening on" in open(server_log).read())
admin = login("admin", password, "admin")

# ---- agent credentials: hostB's agent gets its own user with only the `service` role ----
_, _, projects = http("GET", "/identity/v3/projects?name=admin", admin, expect=200)
project_id = projects["projects"][0]["id"]
_, _, user = http("POST", "/identity/v3/users", admin, {"user": {
    "name": "agent-b", "password": "agent-b-secret", "default_project_id": project_id}},
    expect=201)
http("PUT", f"/identity/v3/projects/{project_id}/users/{user['user']['id']}/roles/service", admin,
     expect=204)
svc = login("agent-b", "agent-b-secret", "admin")
# The service role reaches the agent API but not the projects' servers.
http("GET", "/compute/v2.1/servers", svc, expect=403)
http("POST", "/gpucloud/v1/agent/hosts/nohost/heartbeat", svc, {}, expect=404)

# hostB's agent (a service-only user) keeps images it is given in a cache of its own, as a
# remote KVM host must: the server's copy is not on its disk.
image_cache_b = os.path.join(TMP, "image-cache-b")
agent_b, agent_b_log = start_agent("hostB", "agent-b", "agent-b-secret",
                                   extra=("--image-cache", image_cache_b))


def states(path, key):
    _, _, body = http("GET", "/compute/v2.1/" + path, admin, expect=200)
    return {h[key]: h["state"] for h in body[path.split("/")[0].replace("os-", "")]}


wait_for("both hypervisors up",
         lambda: states("os-hypervisors", "hypervisor_hostname") ==
         {"hostA": "up", "hostB": "up"})
wait_for("both services up", lambda: states("os-services", "host") == {"hostA": "up", "hostB": "up"})
# Heartbeats move updated_at forward.
_, _, svcs = http("GET", "/compute/v2.1/os-services?host=hostB", admin, expect=200)
first = svcs["services"][0]["updated_at"]
wait_for("a heartbeat", lambda: http("GET", "/compute/v2.1/os-services?host=hostB", admin)[2]
         ["services"][0]["updated_at"] != first)
_, _, detail = http("GET", "/compute/v2.1/os-hypervisors/detail", admin, expect=200)
for h in detail["hypervisors"]:
    if h["vcpus"] != 8 or h["memory_mb"] != 16384:
        fail(f"hypervisor {h['hypervisor_hostname']} reported {h['vcpus']} vcpus, "
             f"{h['memory_mb']} MB")
for passwords in (password, "agent-b-secret"):
    for name, _, log in PROCS:
        if passwords in open(log).read():
            fail(f"{name}'s output shows a password")

# ---- boots and deletes through the agents ----
_, _, created = http("POST", "/image/v2/images", admin, {
    "name": "agent-test", "disk_format": "raw", "container_format": "bare",
    "visibility": "public"}, expect=201)
image = created["id"]
upload = urllib.request.Request(f"{BASE}/image/v2/images/{image}/file", data=b"\0" * 65536,
                                method="PUT")
upload.add_header("Content-Type", "application/octet-stream")
upload.add_header("X-Auth-Token", admin)
with urllib.request.urlopen(upload, timeout=30) as r:
    if r.status != 204:
        fail(f"image upload: {r.status}")
# The seed's image asks for 8 MB of video RAM, which needs hw_video:ram_max_mb on the flavor.
http("POST", "/compute/v2.1/flavors/2/os-extra_specs", admin,
     {"extra_specs": {"hw_video:ram_max_mb": "64"}}, expect=200)
http("POST", "/compute/v2.1/flavors/3/os-extra_specs", admin,
     {"extra_specs": {"pci_passthrough:alias": "K2_Grid:1", "hw_video:ram_max_mb": "64"}},
     expect=200)


def boot(name, flavor):
    _, _, body = http("POST", "/compute/v2.1/servers", admin, {"server": {
        "name": name, "flavorRef": flavor, "imageRef": image}}, expect=202)
    uuid = body["server"]["id"]

    def built():
        _, _, s = http("GET", f"/compute/v2.1/servers/{uuid}", admin, expect=200)
        return s["server"] if s["server"]["status"] != "BUILD" else None
    server = wait_for(f"server {name} to build", built)
    if server["status"] != "ACTIVE":
        fail(f"server {name}: {server['status']} {server.get('fault')}")
    host = server["OS-EXT-SRV-ATTR:host"]
    # The agent's fake driver gives guests of the file's host i addresses in 127.0.<i+1>.0/24
    # and reports them with the spawn's answer; the server shows them as the fixed IP.
    addrs = [a["addr"] for a in server["addresses"].get("private", [])]
    prefix = {"hostA": "127.0.1.", "hostB": "127.0.2."}[host]
    if len(addrs) != 1 or not addrs[0].startswith(prefix):
        fail(f"server {name} on {host} has addresses {server['addresses']}, not one in {prefix}0/24")
    return uuid, host


def delete(uuid):
    http("DELETE", f"/compute/v2.1/servers/{uuid}", admin, expect=204)
    # As nova: the server shows as deleting until its agent destroyed the guest and the
    # devices are released, then it is gone.
    wait_for(f"server {uuid} to be gone",
             lambda: http("GET", f"/compute/v2.1/servers/{uuid}", admin)[0] == 404)


gpu_vm, gpu_host = boot("gpu-vm", "3")
if gpu_host != "hostB":
    fail(f"the GPU server landed on {gpu_host}, not hostB")
if f"spawn {gpu_vm}" not in open(agent_b_log).read():
    fail("hostB's agent did not run the GPU server's spawn")
cached = os.path.join(image_cache_b, image)
if not os.path.exists(cached) or open(cached, "rb").read() != b"\0" * 65536:
    fail(f"hostB's agent did not cache the image's 65536 bytes at {cached}")
if os.path.exists(cached + ".part"):
    fail("a partial image download was left behind")
_, _, gpus = http("GET", "/compute/v2.1/os-hypervisors/detail", admin, expect=200)
plain = [boot(f"plain-{i}", "2") for i in range(2)]
hosts_used = {h for _, h in plain}
for uuid, host in plain:
    log = agent_a_log if host == "hostA" else agent_b_log
    if f"spawn {uuid}" not in open(log).read():
        fail(f"{host}'s agent did not run the spawn of {uuid}")
for uuid, _ in plain:
    delete(uuid)

# ---- guest networks through the agents (docs/networks.md) ----
# Both agents report network "private", each with its own range; os-networks lists one network
# without a range of its own. A reserved address travels with hostA's next spawn to its agent,
# whose driver skips it.
_, _, nets = http("GET", "/compute/v2.1/os-networks", admin, expect=200)
if [(n["label"], n["cidr"]) for n in nets["networks"]] != [("private", None)]:
    fail(f"os-networks: {nets}")
network_id = nets["networks"][0]["id"]


def boot_on_a(name):
    _, _, body = http("POST", "/compute/v2.1/servers", admin, {"server": {
        "name": name, "flavorRef": "2", "imageRef": image, "availability_zone": "nova:hostA",
        "networks": [{"uuid": network_id}]}}, expect=202)
    uuid = body["server"]["id"]
    s = wait_for(f"server {name} active", lambda: (lambda x: x if x["status"] == "ACTIVE" else None)(
        http("GET", f"/compute/v2.1/servers/{uuid}", admin, expect=200)[2]["server"]))
    return uuid, s["addresses"]["private"][0]["addr"]


net_vm, net_ip = boot_on_a("net-1")
_, _, fixed = http("GET", f"/compute/v2.1/os-fixed-ips/{net_ip}", admin, expect=200)
if fixed["fixed_ip"] != {"address": net_ip, "cidr": "127.0.1.0/24", "host": "hostA",
                         "hostname": "net-1"}:
    fail(f"os-fixed-ips {net_ip}: {fixed}")
last = int(net_ip.rsplit(".", 1)[1])
reserved_ip = f"127.0.1.{last + 1}"
http("POST", f"/compute/v2.1/os-fixed-ips/{reserved_ip}/action", admin, {"reserve": None},
     expect=202)
net_vm2, net_ip2 = boot_on_a("net-2")
if net_ip2 != f"127.0.1.{last + 2}":
    fail(f"hostA's agent gave {net_ip2} with {reserved_ip} reserved")
http("POST", f"/compute/v2.1/os-fixed-ips/{reserved_ip}/action", admin, {"unreserve": None},
     expect=202)
net_vm3, net_ip3 = boot_on_a("net-3")
if net_ip3 != reserved_ip:
    fail(f"hostA's agent gave {net_ip3}, not the unreserved {reserved_ip}")
for uuid in (net_vm, net_vm2, net_vm3):
    delete(uuid)


def k2(token=None):
    _, _, body = http("GET", "/compute/v2.1/gpucloud-gpus", token or admin, expect=200)
    return next(m for m in body["gpus"] if m["alias"] == "K2_Grid")


# The GPU server's delete: its GPU goes to cleaning, hostB's agent cleans it (CLEAN_MS), and it is
# free again after the cleaning time and no more than the agent's round trips beside it.
if k2()["free"] != 1:
    fail(f"before the delete: {k2()}")
deleted_at = time.time()
http("DELETE", f"/compute/v2.1/servers/{gpu_vm}", admin, expect=204)
seen_cleaning = False
while k2()["free"] != 2:
    seen_cleaning = seen_cleaning or k2()["cleaning"] == 1
    if time.time() - deleted_at > 30:
        fail(f"the GPU was not free 30 s after the delete: {k2()}")
    time.sleep(0.05)
freed = time.time() - deleted_at
print(f"DELETE to free: {freed:.2f} s, cleaning {CLEAN_MS / 1000:.2f} s")
if not seen_cleaning:
    fail("the deleted server's GPU was never seen in cleaning")
if freed < CLEAN_MS / 1000:
    fail(f"the GPU was free {freed:.2f} s after the delete, before its cleaning could finish")
if freed > CLEAN_MS / 1000 + 3:
    fail(f"the GPU was free only {freed:.2f} s after the delete: more than its cleaning time")
if f": clean {gpu_vm}" not in open(agent_b_log).read():
    fail("hostB's agent did not run the clean task")
wait_for("hostB's agent to destroy the GPU server",
         lambda: f"destroy {gpu_vm}" in open(agent_b_log).read())
# The GPU is free again: a second GPU boot, shelved and unshelved through hostB's agent (its
# snapshot uploaded by the agent process), then deleted.
gpu_vm2, _ = boot("gpu-vm-2", "3")
http("POST", f"/compute/v2.1/servers/{gpu_vm2}/action", admin, {"shelve": None}, expect=202)


def shelved():
    _, _, s = http("GET", f"/compute/v2.1/servers/{gpu_vm2}", admin, expect=200)
    s = s["server"]
    return s if s["OS-EXT-STS:task_state"] is None and s["status"] != "ACTIVE" else None


s = wait_for("the shelve", shelved)
if s["status"] != "SHELVED_OFFLOADED" or s["OS-EXT-SRV-ATTR:host"] is not None:
    fail(f"after the shelve: {s['status']} on {s['OS-EXT-SRV-ATTR:host']} ({s.get('fault')})")
if f"snapshot {gpu_vm2}" not in open(agent_b_log).read():
    fail("hostB's agent did not run the snapshot")
_, _, imgs = http("GET", "/image/v2/images?name=gpu-vm-2-shelved", admin, expect=200)
if len(imgs["images"]) != 1 or imgs["images"][0]["status"] != "active":
    fail(f"the shelve's snapshot image: {imgs['images']}")
snapshot = imgs["images"][0]["id"]
req = urllib.request.Request(f"{BASE}/image/v2/images/{snapshot}/file")
req.add_header("X-Auth-Token", admin)
with urllib.request.urlopen(req, timeout=30) as r:
    if gpu_vm2.encode() not in r.read():
        fail("the snapshot's data is not the fake guest's disk")
wait_for("the shelved server's GPU to be free", lambda: k2()["free"] == 2)
http("POST", f"/compute/v2.1/servers/{gpu_vm2}/action", admin, {"unshelve": None}, expect=202)


def unshelved():
    _, _, s = http("GET", f"/compute/v2.1/servers/{gpu_vm2}", admin, expect=200)
    s = s["server"]
    return s if s["OS-EXT-STS:task_state"] is None and s["status"] != "SHELVED_OFFLOADED" else None


s = wait_for("the unshelve", unshelved)
if s["status"] != "ACTIVE" or s["OS-EXT-SRV-ATTR:host"] != "hostB":
    fail(f"after the unshelve: {s['status']} on {s['OS-EXT-SRV-ATTR:host']} ({s.get('fault')})")
if k2()["free"] != 1:
    fail(f"the unshelved server holds no GPU: {k2()}")
wait_for("the snapshot to be deleted after the unshelve",
         lambda: http("GET", f"/image/v2/images/{snapshot}", admin)[0] == 404)
delete(gpu_vm2)

# Both agents report their orphan check to the admin (beside their guests reports: addresses).
def orphan_reports():
    _, _, r = http("GET", "/gpucloud/v1/agent/reports", admin, expect=200)
    mine = [x for x in r["reports"] if x["kind"] == "orphans"]
    return mine if len(mine) == 2 else None


for r in wait_for("orphan reports", orphan_reports):
    if "summary" not in r["report"]:
        fail(f"bad orphan report {r}")

# ---- hostA's agent dies: hostA goes down, new boots avoid it ----
agent_a.kill()
agent_a.wait()
killed_at = time.time()
wait_for("hostA down", lambda: states("os-services", "host") == {"hostA": "down", "hostB": "up"},
         timeout=15)
print(f"hostA down {time.time() - killed_at:.1f} s after its agent was killed")
_, _, hv = http("GET", "/compute/v2.1/os-hypervisors", admin, expect=200)
if {h["hypervisor_hostname"]: h["state"] for h in hv["hypervisors"]} != {"hostA": "down",
                                                                         "hostB": "up"}:
    fail("os-hypervisors disagrees with os-services")
after = [boot(f"after-{i}", "2") for i in range(3)]
if {h for _, h in after} != {"hostB"}:
    fail(f"boots after hostA went down landed on {[h for _, h in after]}")
for uuid, _ in after:
    delete(uuid)

# ---- SIGTERM stops an agent cleanly; a restarted fake hypervisor has forgotten its guest ----
kept, _ = boot("kept", "3")
agent_b.send_signal(signal.SIGTERM)
if agent_b.wait(timeout=15) != 0:
    fail("agent-hostB did not exit 0 on SIGTERM")
agent_b, agent_b_log = start_agent("hostB", "agent-b", "agent-b-secret", "agent-hostB-2",
                                   ["--repair-orphans"])


def repaired():
    _, _, s = http("GET", f"/compute/v2.1/servers/{kept}", admin, expect=200)
    return s["server"] if s["server"]["status"] == "ERROR" else None


gone = wait_for("the repair to put the server without a domain in ERROR", repaired)
if "is gone from host hostB" not in gone["fault"]["message"]:
    fail(f"unexpected fault {gone['fault']}")


def repair_reported():
    # The agent stores its report after the server answered the repair: wait for it.
    _, _, reports = http("GET", "/gpucloud/v1/agent/hosts/hostB/reports", admin, expect=200)
    orphans = [r["report"] for r in reports["reports"] if r["kind"] == "orphans"]
    report = orphans[0] if orphans else {}
    return kept in report.get("missing_domains", []) and \
        kept in report.get("repaired", {}).get("released", [])


wait_for("hostB's orphan report to show the repair", repair_reported)
_, _, hv = http("GET", "/compute/v2.1/os-hypervisors/detail", admin, expect=200)
if [h["vcpus_used"] for h in hv["hypervisors"] if h["hypervisor_hostname"] == "hostB"] != [0]:
    fail("the repaired server's resources were not released")
delete(kept)

# ---- a spawn the server stopped waiting for while the agent ran it ----
# hostC's spawns take 5 s. Its server is deleted while hostC's agent runs the spawn, with hostC
# forced down so that the delete sends no destroy (nova's local delete): the GPU goes to cleaning
# at once. The agent's late answer is refused (the delete failed the spawn); the agent destroys
# the guest it made, so the clean that follows finds the GPU free instead of passed through.
agent_c, agent_c_log = start_agent("hostC", "admin", password)
wait_for("hostC up", lambda: states("os-services", "host").get("hostC") == "up")


def boot_on_c(name, flavor):
    _, _, body = http("POST", "/compute/v2.1/servers", admin, {"server": {
        "name": name, "flavorRef": flavor, "imageRef": image,
        "availability_zone": "nova:hostC"}}, expect=202)
    return body["server"]["id"]


# Two spawns taken in one batch, the second's server deleted while the first runs: the agent
# asks before the second and skips it (no image download, no guest).
first = boot_on_c("first", "2")
wait_for("hostC's agent to start the first spawn",
         lambda: f"spawn {first}" in open(agent_c_log).read())
second, third = boot_on_c("second", "2"), boot_on_c("third", "2")
# Both spawns must be queued while the first runs, so that the agent takes them in one batch: the
# conductor marks a server `spawning` when its claim is made, just before it queues the spawn.
for uuid in (second, third):
    wait_for(f"server {uuid} spawning", lambda: http(
        "GET", f"/compute/v2.1/servers/{uuid}", admin)[2]["server"]["OS-EXT-STS:task_state"] ==
        "spawning", timeout=4)

# The conductor queues the two in whichever order their boots finish: the one the agent starts
# first runs, the other waits in the batch and is deleted meanwhile.
def started_of_two():
    log = open(agent_c_log).read()
    return next((u for u in (second, third) if f"spawn {u}" in log), None)


running = wait_for("hostC's agent to start one of the two spawns in its batch", started_of_two,
                   timeout=15)
waiting = third if running == second else second
http("DELETE", f"/compute/v2.1/servers/{waiting}", admin, expect=204)
wait_for("the waiting spawn skipped",
         lambda: f"spawn {waiting} skipped" in open(agent_c_log).read(), timeout=15)
if re.search(rf": spawn {waiting}$", open(agent_c_log).read(), re.M):
    fail("hostC's agent ran the spawn of a server deleted while it waited in the batch")
for uuid in (first, running):
    wait_for(f"server {uuid} active", lambda: http(
        "GET", f"/compute/v2.1/servers/{uuid}", admin)[2]["server"]["status"] == "ACTIVE")
    delete(uuid)
wait_for("the deleted server gone",
         lambda: http("GET", f"/compute/v2.1/servers/{waiting}", admin)[0] == 404)
slow = boot_on_c("slow", "3")
wait_for("hostC's agent to start the spawn", lambda: f"spawn {slow}" in open(agent_c_log).read())
http("PUT", "/compute/v2.1/os-services/force-down", admin,
     {"host": "hostC", "binary": "nova-compute", "forced_down": True}, expect=200,
     headers={"X-OpenStack-Nova-API-Version": "2.11"})
http("DELETE", f"/compute/v2.1/servers/{slow}", admin, expect=204)
wait_for("hostC's GPU cleaned and free again (not unavailable: passed through to the guest)",
         lambda: k2()["free"] == 3 and k2()["unavailable"] == 0, timeout=15)
if f"guest {slow}: destroyed" not in open(agent_c_log).read():
    fail("hostC's agent did not say it destroyed the guest nobody waits for")
agent_c.send_signal(signal.SIGTERM)
if agent_c.wait(timeout=15) != 0:
    fail("agent-hostC did not exit 0 on SIGTERM")

agent_b.send_signal(signal.SIGTERM)
if agent_b.wait(timeout=15) != 0:
    fail("agent-hostB did not exit 0 on SIGTERM")
server.send_signal(signal.SIGTERM)
if server.wait(timeout=15) != 0:
    fail("the server did not exit 0 on SIGTERM")
shutil.rmtree(TMP)  # kept when the test fails, for its logs
print(f"PASS (plain servers used {sorted(hosts_used)})")
