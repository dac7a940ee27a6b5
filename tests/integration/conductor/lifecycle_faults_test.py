#!/usr/bin/env python3
"""The conductor under faults, with real processes: two `gpucloud server` replicas on one database
(SQLite, or MariaDB with --mariadb URL_FILE) and eight `gpucloud agent --driver fake` processes,
one per host with one K2 GPU each (8 GPUs in all).

1. contention: 40 concurrent 1-GPU boots through both replicas: exactly 8 ACTIVE, 32 ERROR;
2. 8 boots on 8 free GPUs: 8 ACTIVE, 0 ERROR;
3. delete races: boots deleted at random points of their build never come back ACTIVE, and
   neither do servers deleted at random points of a rebuild;
4. kill -9 of a replica or an agent at random points of boots, deletes, rebuilds, shelves and
   unshelves,
   ROUNDS rounds; then, within the lease plus a few seconds, every server is ACTIVE, ERROR,
   SHELVED_OFFLOADED (with its snapshot image) or gone, no claim belongs to a server that is ERROR,
   SHELVED_OFFLOADED, DELETED or missing, and deleting everything frees every GPU and leaves no
   snapshot image.
After every phase pci_device_events is replayed: each transition starts from the state the
previous one left, so no device was ever handed to two servers.

Usage: lifecycle_faults_test.py /path/to/gpucloud [--mariadb URL_FILE] [--rounds N]
"""
import argparse
import atexit
import concurrent.futures
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("gpucloud")
ap.add_argument("--mariadb", help="file holding mysql://user:pw@127.0.0.1:PORT/")
ap.add_argument("--rounds", type=int, default=20)
ARGS = ap.parse_args()
GPUCLOUD = os.path.abspath(ARGS.gpucloud)
TMP = tempfile.mkdtemp(prefix="gpucloud-lifecycle-")
PROCS = {}  # name -> (Popen, log path, argv, env)
LEASE = 3  # seconds (--task-lease)
HOSTS = [f"h{i}" for i in range(8)]
random.seed(int(os.environ.get("GPUCLOUD_TEST_SEED", time.time())))


@atexit.register
def _stop_leftovers():
    for p, _, _, _ in PROCS.values():
        if p.poll() is None:
            p.kill()
            p.wait()


def fail(msg):
    print("FAIL:", msg)
    for name, (p, log, _, _) in PROCS.items():
        print(f"---- {name} output (last lines) ----")
        with open(log, errors="replace") as f:
            print(f.read()[-3000:])
    _stop_leftovers()
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, argv, env=None):
    log = os.path.join(TMP, name + ".log")
    p = subprocess.Popen(argv, stdout=open(log, "a"), stderr=subprocess.STDOUT,
                         env=env or os.environ.copy())
    PROCS[name] = (p, log, argv, env)
    return p


def restart(name):
    _, log, argv, env = PROCS[name]
    return start(name, argv, env)


def kill9(name):
    p = PROCS[name][0]
    p.send_signal(signal.SIGKILL)
    p.wait()


def wait_for(what, predicate, timeout=30.0, detail=None):
    """Polls `predicate` until it is true; on timeout fails with `detail()` (what was seen) too."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    fail(f"timed out waiting for {what}" + (":\n" + detail() if detail else ""))


# ---- the database ----
data = os.path.join(TMP, "data")
no_hosts = os.path.join(TMP, "no_hosts.json")
with open(no_hosts, "w") as f:
    json.dump({"hosts": []}, f)
port0 = free_port()
init = subprocess.run([GPUCLOUD, "up", "--data-dir", data, "--port", str(port0), "--no-demo",
                       "--exit-when-ready", "--fake-hosts", no_hosts, "--web-root", "none"],
                      capture_output=True, text=True, timeout=120)
if init.returncode != 0:
    fail("gpucloud up (init): " + init.stdout + init.stderr)
password = re.search(r"OS_PASSWORD='?([^'\n]+)'?",
                     open(os.path.join(data, "openrc")).read()).group(1)
sqlite_path = os.path.join(data, "gpucloud.sqlite")

if ARGS.mariadb:
    server_url = open(ARGS.mariadb).read().strip()
    parsed = urllib.parse.urlparse(server_url)
    dbname = "lifecycle_" + str(os.getpid())
    DB_URL = server_url.rstrip("/") + "/" + dbname
    MYSQL = ["mariadb", "--no-defaults", "-h", parsed.hostname, "-P", str(parsed.port),
             "-u", urllib.parse.unquote(parsed.username),
             "-p" + urllib.parse.unquote(parsed.password)]
    subprocess.run(MYSQL + ["-e", f"CREATE DATABASE {dbname}"], check=True)
    up = subprocess.run([GPUCLOUD, "db", "upgrade", "--database", DB_URL], capture_output=True,
                        text=True)
    if up.returncode != 0:
        fail("db upgrade: " + up.stdout + up.stderr)
    # The admin that `up` bootstrapped, copied over (what `gpucloud server init` would make).
    src = sqlite3.connect(sqlite_path)
    stmts = []
    for table in ("projects", "users", "role_assignments", "flavors", "flavor_extra_specs"):
        cur = src.execute(f"SELECT * FROM {table}")
        cols = [d[0] for d in cur.description]
        for row in cur.fetchall():
            vals = ", ".join("NULL" if v is None else
                             str(v) if isinstance(v, (int, float)) else
                             "'" + str(v).replace("\\", "\\\\").replace("'", "''") + "'"
                             for v in row)
            stmts.append(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({vals});")
    subprocess.run(MYSQL + [dbname], input="\n".join(stmts), text=True, check=True)

    def sql(query):
        out = subprocess.run(MYSQL + ["-N", "-B", dbname, "-e", query], capture_output=True,
                             text=True, check=True).stdout
        return [tuple(None if c == "NULL" else c for c in line.split("\t"))
                for line in out.splitlines() if line]
else:
    DB_URL = "sqlite:///" + sqlite_path

    def sql(query):
        con = sqlite3.connect(sqlite_path, timeout=30)
        try:
            return [tuple(None if c is None else str(c) for c in r)
                    for r in con.execute(query).fetchall()]
        finally:
            con.close()

# ---- two replicas ----
nova_conf = os.path.join(TMP, "nova.conf")
with open(nova_conf, "w") as f:
    f.write("[DEFAULT]\nservice_down_time = 4\n"
            "pci_alias = { 'name': 'K2_Grid', 'vendor_id': '10de', 'product_id': '11bf' }\n"
            "scheduler_default_filters = ComputeFilter,PciPassthroughFilter\n")
PORTS = {"A": free_port(), "B": free_port()}


def start_replica(r):
    start("server-" + r, [GPUCLOUD, "server", "--config", nova_conf, "--database", DB_URL,
                          "--port", str(PORTS[r]), "--data-dir", data, "--web-root", "none",
                          "--task-lease", str(LEASE)])


def listening(r):
    try:
        with socket.create_connection(("127.0.0.1", PORTS[r]), timeout=0.5):
            return True
    except OSError:
        return False


for r in PORTS:
    start_replica(r)
for r in PORTS:
    wait_for(f"replica {r} to listen", lambda: listening(r))


def http(method, path, token=None, body=None, replica="A", expect=None, retry=True):
    """One API call; connection errors (a replica being killed) are retried on the other."""
    for attempt in range(40):
        base = f"http://127.0.0.1:{PORTS[replica]}"
        data_ = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + path, data=data_, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("X-Auth-Token", token)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, headers, text = resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, headers, text = e.code, e.headers, e.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            if not retry:
                raise
            replica = "B" if replica == "A" else "A"
            time.sleep(0.1)
            continue
        if expect is not None and status != expect:
            fail(f"{method} {path}: expected {expect}, got {status}: {text}")
        return status, headers, (json.loads(text) if text.strip() else None)
    fail(f"{method} {path}: no replica answered")


def login(user, pw, project):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": pw}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    _, headers, _ = http("POST", "/identity/v3/auth/tokens", body=body, expect=201)
    return headers["X-Subject-Token"]


admin = login("admin", password, "admin")

# ---- eight agents, one GPU each, half of them talking to each replica ----
fake_hosts = os.path.join(TMP, "fake_hosts.json")
with open(fake_hosts, "w") as f:
    # Half the hosts spawn slowly (300 ms, a slow image download), which widens the windows
    # where a delete, a rebuild or a kill -9 lands while an agent runs a spawn.
    json.dump({"hosts": [{"name": h, "vcpus": 64, "memory_mb": 262144, "disk_gb": 4000,
                          "spawn_ms": 300 if i % 2 == 0 else 0,
                          "pci_devices": [{"address": "0000:06:00.0", "vendor_id": "10de",
                                           "product_id": "11bf"}]} for i, h in enumerate(HOSTS)]},
              f)
for i, h in enumerate(HOSTS):
    env = os.environ.copy()
    port = PORTS["A" if i % 2 == 0 else "B"]
    env.update({"OS_AUTH_URL": f"http://127.0.0.1:{port}/identity/v3", "OS_USERNAME": "admin",
                "OS_PASSWORD": password, "OS_PROJECT_NAME": "admin",
                "OS_USER_DOMAIN_NAME": "Default"})
    start("agent-" + h, [GPUCLOUD, "agent", "--driver", "fake", "--fake-hosts", fake_hosts,
                         "--host", h, "--heartbeat-interval", "1", "--orphan-interval", "0",
                         "--poll-wait", "2"], env)


def services_up():
    _, _, body = http("GET", "/compute/v2.1/os-services", admin, expect=200)
    return {s["host"] for s in body["services"] if s["state"] == "up"} == set(HOSTS)


wait_for("all eight hosts up", services_up)

_, _, img = http("POST", "/image/v2/images", admin, {
    "name": "tiny", "disk_format": "raw", "container_format": "bare", "visibility": "public"},
    expect=201)
IMAGE = img["id"]
upload = urllib.request.Request(f"http://127.0.0.1:{PORTS['A']}/image/v2/images/{IMAGE}/file",
                                data=b"\0" * 4096, method="PUT")
upload.add_header("Content-Type", "application/octet-stream")
upload.add_header("X-Auth-Token", admin)
urllib.request.urlopen(upload, timeout=30)
http("POST", "/compute/v2.1/flavors", admin, {"flavor": {
    "name": "gpu1", "id": "gpu1", "vcpus": 1, "ram": 512, "disk": 1}}, expect=200)
http("POST", "/compute/v2.1/flavors/gpu1/os-extra_specs", admin,
     {"extra_specs": {"pci_passthrough:alias": "K2_Grid:1"}}, expect=200)
# Forty boots at once are beyond nova's default quotas (10 instances); this test is about races.
_, _, projects = http("GET", "/identity/v3/projects", admin, expect=200)
ADMIN_PROJECT = next(p["id"] for p in projects["projects"] if p["name"] == "admin")
http("PUT", f"/compute/v2.1/os-quota-sets/{ADMIN_PROJECT}", admin,
     {"quota_set": {"instances": -1, "cores": -1, "ram": -1}}, expect=200)


def boot(name, replica="A"):
    status, _, body = http("POST", "/compute/v2.1/servers", admin, {"server": {
        "name": name, "flavorRef": "gpu1", "imageRef": IMAGE}}, replica=replica)
    if status != 202:
        return None  # e.g. the admission check, or a replica killed mid-request
    return body["server"]["id"]


def delete(uuid, replica="A"):
    status, _, _ = http("DELETE", f"/compute/v2.1/servers/{uuid}", admin, replica=replica)
    if status not in (204, 404):
        fail(f"DELETE {uuid}: {status}")


def act(uuid, action, replica="A"):
    status, _, _ = http("POST", f"/compute/v2.1/servers/{uuid}/action", admin, {action: None},
                        replica=replica)
    if status not in (202, 404, 409) and status < 500:
        fail(f"{action} {uuid}: {status}")


def rebuild(uuid, replica="A"):
    status, _, _ = http("POST", f"/compute/v2.1/servers/{uuid}/action", admin,
                        {"rebuild": {"imageRef": IMAGE}}, replica=replica)
    if status not in (202, 404, 409) and status < 500:
        fail(f"rebuild {uuid}: {status}")


def servers():
    _, _, body = http("GET", "/compute/v2.1/servers/detail?all_tenants=1", admin, expect=200)
    return body["servers"]


def settled(timeout):
    """Waits until no server is in BUILD or has a task in flight; returns the servers."""
    start_ = time.time()

    def done():
        s = servers()
        busy = [x for x in s if x["status"] == "BUILD" or x["OS-EXT-STS:task_state"]]
        return s if not busy and not sql("SELECT id FROM lifecycle_tasks") else None
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = done()
        if s is not None:
            return s, time.time() - start_
        time.sleep(0.1)
    busy = [(x["name"], x["status"], x["OS-EXT-STS:task_state"]) for x in servers()
            if x["status"] == "BUILD" or x["OS-EXT-STS:task_state"]]
    fail(f"tasks did not finish within {timeout} s: servers {busy}, conductor tasks "
         f"{sql('SELECT kind, step, owner, lease_until, attempts FROM lifecycle_tasks')}")


def check_devices(phase):
    """No claim outlives its server, and the event log never hands a device out twice."""
    live = {r[0]: r[1] for r in sql("SELECT uuid, status FROM instances")}
    for dev_id, status, inst in sql(
            "SELECT id, status, instance_uuid FROM pci_devices WHERE deleted = 0"):
        if status in ("claimed", "allocated"):
            if inst not in live or live[inst] not in ("ACTIVE", "SHUTOFF"):
                events = sql("SELECT id, from_status, to_status, instance_uuid, created_at FROM "
                             f"pci_device_events WHERE device_id = {int(dev_id)} ORDER BY id")
                calls = sql("SELECT kind, state, message, created_at, finished_at FROM "
                            f"agent_tasks WHERE instance_uuid = '{inst}' ORDER BY created_at")
                fail(f"{phase}: device {dev_id} is {status} by {inst}, which is "
                     f"{live.get(inst, 'missing')}; its events {events[-8:]}; the instance's "
                     f"agent calls {calls}")
    for inst, in sql("SELECT instance_uuid FROM instance_claims"):
        if live.get(inst) not in ("ACTIVE", "SHUTOFF"):
            fail(f"{phase}: instance_claims keeps {inst}, which is {live.get(inst, 'missing')}")
    state = {}
    for dev, frm, to, inst in sql("SELECT device_id, from_status, to_status, instance_uuid "
                                  "FROM pci_device_events ORDER BY id"):
        prev = state.get(dev)
        if frm is not None and prev is not None and prev[0] != frm:
            fail(f"{phase}: device {dev} moved {frm}->{to} ({inst}) but was {prev[0]} "
                 f"({prev[1]})")
        if to in ("claimed",) and prev is not None and prev[0] != "available":
            fail(f"{phase}: device {dev} claimed by {inst} while {prev[0]} by {prev[1]}")
        state[dev] = (to, inst)


def free_gpus():
    return int(sql("SELECT COUNT(*) FROM pci_devices WHERE deleted = 0 AND "
                   "status = 'available'")[0][0])


def busy_gpus():
    """What holds each GPU that is not free: its row, its last events, its host's agent tasks."""
    out = []
    for dev_id, host, status, inst in sql(
            "SELECT d.id, h.name, d.status, d.instance_uuid FROM pci_devices d JOIN "
            "compute_hosts h ON h.id = d.compute_node_id WHERE d.deleted = 0 AND "
            "d.status <> 'available'"):
        events = sql("SELECT from_status, to_status, instance_uuid, created_at FROM "
                     f"pci_device_events WHERE device_id = {int(dev_id)} ORDER BY id")
        tasks = sql("SELECT kind, state, instance_uuid, message, created_at, taken_at, "
                    f"finished_at FROM agent_tasks WHERE host = '{host}' ORDER BY created_at")
        reason = sql(f"SELECT reason FROM pci_device_reasons WHERE device_id = {int(dev_id)}")
        out.append(f"device {dev_id} on {host} is {status} ({inst}), reason {reason}; "
                   f"events {events[-6:]}; agent tasks {tasks[-6:]}")
    return "\n".join(out)


def wait_for_free_gpus(phase):
    wait_for(f"{phase}: every GPU free", lambda: free_gpus() == 8, detail=busy_gpus)


def delete_all_and_check(phase):
    for s in servers():
        delete(s["id"], random.choice("AB"))
    settled(60)
    wait_for_free_gpus(phase)
    check_devices(phase)


# ---- 1. contention: 40 boots for 8 GPUs through both replicas ----
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    ids = [u for u in pool.map(lambda i: boot(f"race-{i}", "AB"[i % 2]), range(40)) if u]
final, took = settled(120)
active = [s for s in final if s["status"] == "ACTIVE"]
print(f"contention: {len(ids)} accepted, {len(active)} ACTIVE, "
      f"{sum(s['status'] == 'ERROR' for s in final)} ERROR, settled in {took:.1f} s")
if len(active) != 8:
    fail(f"{len(active)} servers ACTIVE on 8 GPUs: "
         f"{[(s['name'], s['status']) for s in final]}")
check_devices("contention")
delete_all_and_check("contention")

# ---- 2. eight boots on eight free GPUs on eight hosts ----
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    ids = list(pool.map(lambda i: boot(f"fit-{i}", "AB"[i % 2]), range(8)))
final, _ = settled(60)
if sorted(s["status"] for s in final) != ["ACTIVE"] * 8:
    fail(f"8 boots on 8 free GPUs: {[(s['name'], s['status'], s.get('fault')) for s in final]}")
if len({s["OS-EXT-SRV-ATTR:host"] for s in final}) != 8:
    fail("8 servers did not land on 8 hosts")
delete_all_and_check("eight on eight")

# ---- 3. deletes at random points of boots ----
racers = []
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    def boot_then_delete(i):
        uuid = boot(f"doomed-{i}", "AB"[i % 2])
        if uuid:
            time.sleep(random.uniform(0, 0.4))
            delete(uuid, "AB"[(i + 1) % 2])
        return uuid
    racers = [u for u in pool.map(boot_then_delete, range(24)) if u]
final, took = settled(60)
back = [s for s in final if s["id"] in racers]
if back:
    fail(f"deleted servers came back: {[(s['name'], s['status']) for s in back]}")
check_devices("delete races")
wait_for_free_gpus("delete races")
undone = sum(int(n) for n, in sql("SELECT COUNT(*) FROM instances WHERE status = 'DELETED'"))
print(f"delete races: {len(racers)} boots deleted mid-build, none came back; settled in "
      f"{took:.1f} s")

# Rebuilds deleted at random points: the rebuild undoes itself (guest, then claims).
rebuilt = [u for u in (boot(f"rebuilt-{i}", "AB"[i % 2]) for i in range(8)) if u]
settled(60)
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    def rebuild_then_delete(i, uuid):
        rebuild(uuid, "AB"[i % 2])
        time.sleep(random.uniform(0, 0.4))
        delete(uuid, "AB"[(i + 1) % 2])
    list(pool.map(rebuild_then_delete, range(len(rebuilt)), rebuilt))
final, took = settled(60)
back = [s for s in final if s["id"] in rebuilt]
if back:
    fail(f"servers deleted mid-rebuild came back: {[(s['name'], s['status']) for s in back]}")
check_devices("rebuild delete races")
wait_for_free_gpus("rebuild delete races")
print(f"rebuild delete races: {len(rebuilt)} servers deleted mid-rebuild; settled in {took:.1f} s")

# ---- 4. kill -9 of a replica or an agent at random points ----
victims = ["server-A", "server-B"] + ["agent-" + h for h in HOSTS]
for rnd in range(ARGS.rounds):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futs = [pool.submit(boot, f"k{rnd}-{i}", random.choice("AB")) for i in range(4)]
        current = [s["id"] for s in servers()]
        for uuid in random.sample(current, min(len(current), 3)):
            futs.append(pool.submit(delete, uuid, random.choice("AB")))
        shelvable = [s["id"] for s in servers() if s["status"] == "ACTIVE"]
        for uuid in random.sample(shelvable, min(len(shelvable), 2)):
            futs.append(pool.submit(act, uuid, "shelve", random.choice("AB")))
        active = [s["id"] for s in servers() if s["status"] in ("ACTIVE", "SHUTOFF")]
        for uuid in random.sample(active, min(len(active), 2)):
            futs.append(pool.submit(rebuild, uuid, random.choice("AB")))
        shelved = [s["id"] for s in servers() if s["status"] == "SHELVED_OFFLOADED"]
        for uuid in random.sample(shelved, min(len(shelved), 2)):
            futs.append(pool.submit(act, uuid, "unshelve", random.choice("AB")))
        time.sleep(random.uniform(0.0, 0.5))
        victim = random.choice(victims)
        kill9(victim)
        concurrent.futures.wait(futs)
    if victim.startswith("server-"):
        r = victim[-1]
        start_replica(r)
        wait_for(f"replica {r} to listen again", lambda: listening(r))
    else:
        restart(victim)
    print(f"round {rnd + 1}: killed {victim}")
killed_at = time.time()
final, took = settled(LEASE + 60)
print(f"after {ARGS.rounds} kill -9 rounds: {len(final)} servers "
      f"({sum(s['status'] == 'ACTIVE' for s in final)} ACTIVE, "
      f"{sum(s['status'] == 'ERROR' for s in final)} ERROR, "
      f"{sum(s['status'] == 'SHELVED_OFFLOADED' for s in final)} SHELVED_OFFLOADED), "
      f"repaired in {took:.1f} s (lease {LEASE} s)")
bad = [s for s in final if s["status"] not in ("ACTIVE", "ERROR", "SHELVED_OFFLOADED")]
if bad:
    fail(f"servers neither ACTIVE, ERROR nor SHELVED_OFFLOADED: "
         f"{[(s['name'], s['status']) for s in bad]}")
# Every shelved server has its snapshot, stored; no other snapshot is left over.
snapshots = {r[0]: r[1] for r in sql("SELECT instance_uuid, meta_value FROM "
                                     "instance_system_metadata WHERE meta_key = 'shelved_image_id'")}
images = {r[0]: r[1] for r in sql("SELECT id, status FROM images")}
for s in final:
    if s["status"] == "SHELVED_OFFLOADED" and images.get(snapshots.get(s["id"])) != "active":
        fail(f"shelved server {s['name']} has no stored snapshot: {snapshots.get(s['id'])} is "
             f"{images.get(snapshots.get(s['id']))}")
check_devices("kill -9")
delete_all_and_check("kill -9")
left = [r for r in sql("SELECT id, status FROM images") if r[0] != IMAGE]
if left:
    fail(f"snapshot images left after every server was deleted: {left}")
if sql("SELECT id FROM lifecycle_tasks"):
    fail("conductor tasks left behind")
for name, (_, log, _, _) in PROCS.items():
    if password in open(log, errors="replace").read():
        fail(f"{name}'s output shows the admin password")
for name, (p, _, _, _) in PROCS.items():
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
for name, (p, _, _, _) in PROCS.items():
    if p.wait(timeout=20) != 0:
        fail(f"{name} did not exit 0 on SIGTERM")
shutil.rmtree(TMP)
print("PASS")
