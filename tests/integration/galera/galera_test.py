#!/usr/bin/env python3
"""gpucloud on a three-node MariaDB Galera cluster on 127.0.0.1 (galera.sh).

1. Schema: `gpucloud db upgrade` from two replicas at once (Galera has no GET_LOCK), then
   `gpucloud server init`.
2. Contended claims: three replica processes (galera_worker), each on its own node first, make
   GPUCLOUD_GALERA_CLAIMS claims (default 10,000) for the same 8 GPUs. Galera's certification
   failures (error 1213 at COMMIT) are retried and counted; the retry rate is printed.
3. kill -9 of node 2 while claims run: the other two keep quorum, node 2's replica fails over
   (its URL lists all three nodes), nothing is lost; node 2 rejoins with IST.
4. Rolling restart: three `gpucloud server` replicas, one per node, and two fake-driver agents;
   GPU servers boot and are deleted through the API while each node in turn is stopped and
   started again.
After each part the database itself is checked: no GPU ever held by two instances (each device's
pci_device_events replayed in order), no instance lost (every claim a replica reported is in the
instances table), nothing still held by an instance that ended, host usage equal to the holders.
Usage: galera_test.py GPUCLOUD GALERA_WORKER GALERA_SH WORKDIR
"""
import atexit
import collections
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

GPUCLOUD, WORKER, GALERA_SH, DIR = (os.path.abspath(a) for a in sys.argv[1:5])
CLAIMS = int(os.environ.get("GPUCLOUD_GALERA_CLAIMS", "10000"))
KILL_CLAIMS = int(os.environ.get("GPUCLOUD_GALERA_KILL_CLAIMS", "1500"))
BOOTS = int(os.environ.get("GPUCLOUD_GALERA_BOOTS", "24"))
THREADS = 4
HOSTS, GPUS = 2, 4
DB = "gpucloud"
PROCS = []
STARTED = time.time()


def log(msg):
    print(f"[{time.time() - STARTED:6.1f}s] {msg}", flush=True)


def galera(*args, check=True):
    return subprocess.run([GALERA_SH, args[0], DIR, *map(str, args[1:])], check=check,
                          timeout=300, capture_output=True, text=True)


@atexit.register
def _cleanup():
    for _, p, _ in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()
    if not os.environ.get("GPUCLOUD_GALERA_KEEP"):
        galera("stop", check=False)


def fail(msg):
    print("FAIL:", msg, flush=True)
    for name, p, logfile in PROCS:
        if p.poll() is None:
            p.kill()
        print(f"---- {name} ----")
        print(open(logfile).read()[-3000:])
    sys.exit(1)


def start(name, args, env=None):
    logfile = os.path.join(DIR, name + ".log")
    p = subprocess.Popen(args, stdout=open(logfile, "w"), stderr=subprocess.STDOUT,
                         env=env or os.environ.copy())
    PROCS.append((name, p, logfile))
    return p, logfile


# ---- the cluster ----
log("starting a 3-node Galera cluster")
r = galera("start", check=False)
if r.returncode != 0:
    fail("galera.sh start:\n" + r.stdout + r.stderr)
log(r.stdout.strip())
BASE_URL = open(os.path.join(DIR, "url")).read().strip()
CRED, HOSTLIST = re.match(r"mysql://([^@]*)@([^/]*)/", BASE_URL).groups()
NODES = HOSTLIST.split(",")  # node 1, 2, 3


def url_for(node):
    """The URL a replica on `node` uses: its own node first, then the others."""
    order = NODES[node - 1:] + NODES[:node - 1]
    return f"mysql://{CRED}@{','.join(order)}/{DB}"


def sql(statement, node=1):
    r = subprocess.run(["mariadb", "--no-defaults", f"--socket={DIR}/node{node}.sock", "-uroot",
                        "-N", "-B", DB, "-e", statement], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        fail(f"SQL on node {node}: {r.stderr}")
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def status(node):
    return galera("status", node).stdout


subprocess.run(["mariadb", "--no-defaults", f"--socket={DIR}/node1.sock", "-uroot", "-e",
                f"CREATE DATABASE {DB}"], check=True)

# ---- 1. schema from two replicas at once, then init ----
ups = [subprocess.Popen([GPUCLOUD, "db", "upgrade", "--database", url_for(n)],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
       for n in (1, 2)]
for p in ups:
    out = p.communicate(timeout=120)[0]
    if p.returncode != 0:
        fail("concurrent db upgrade:\n" + out)
versions = sql("SELECT version, COUNT(*) FROM schema_version GROUP BY version")
if not versions or any(c != "1" for _, c in versions):
    fail(f"schema_version after two concurrent upgrades: {versions}")
ADMIN_PW = "galera-admin-pw"
AGENT_PW = "galera-agent-pw"
init_env = dict(os.environ, GPUCLOUD_ADMIN_PASSWORD=ADMIN_PW, GPUCLOUD_SERVICE_PASSWORD=AGENT_PW)
r = subprocess.run([GPUCLOUD, "server", "init", "--database", url_for(3)], env=init_env,
                   capture_output=True, text=True, timeout=120)
if r.returncode != 0 or "user admin: created" not in r.stdout:
    fail("server init on Galera:\n" + r.stdout + r.stderr)
log(f"schema version {versions[-1][0]} from two replicas at once; init done on node 3")
r = subprocess.run([WORKER, url_for(1), "setup", str(HOSTS), str(GPUS)], capture_output=True,
                   text=True, timeout=120)
if r.returncode != 0:
    fail("worker setup: " + r.stdout + r.stderr)


# ---- the checks, on the database itself ----
def check_devices():
    """Replays every device's events in time order: a device is claimed only when free (never
    while a holder has it, never while it is being cleaned)."""
    rows = sql("SELECT device_id, IFNULL(from_status, ''), to_status, IFNULL(instance_uuid, ''), "
               "created_at, id FROM pci_device_events ORDER BY device_id, created_at, id")
    holder, cleaning, double, odd = {}, set(), [], []
    for dev, frm, to, inst, at, _ in rows:
        if to == "claimed":
            if holder.get(dev):
                double.append(f"device {dev} claimed by {inst} at {at} while {holder[dev]} held it")
            if dev in cleaning:
                double.append(f"device {dev} claimed by {inst} at {at} while it was cleaned")
            holder[dev] = inst
        elif to == "allocated":
            if holder.get(dev) != inst:
                odd.append(f"device {dev} allocated to {inst}, held by {holder.get(dev)}")
        elif to in ("available", "cleaning") and frm in ("claimed", "allocated"):
            if holder.get(dev) != inst:
                odd.append(f"device {dev} released by {inst}, held by {holder.get(dev)}")
            holder[dev] = None
            if to == "cleaning":
                cleaning.add(dev)
        elif frm == "cleaning":
            cleaning.discard(dev)
    if double or odd:
        bad_dev = (double + odd)[0].split()[1]
        around = [r for r in rows if r[0] == bad_dev]
        fail("double allocation:\n" + "\n".join((double + odd)[:20]) + "\nevents of device " +
             bad_dev + ":\n" + "\n".join(" ".join(r) for r in around[-40:]))
    return len(rows)


def check_held(expected_holders):
    """Devices held now, host usage, and who holds them, against what should hold them."""
    held = collections.Counter(
        uuid for (uuid,) in sql("SELECT instance_uuid FROM pci_devices WHERE deleted = 0 AND "
                                "status IN ('claimed', 'allocated')"))
    if set(held) != set(expected_holders):
        extra = sorted(set(held) - set(expected_holders))[:10]
        missing = sorted(set(expected_holders) - set(held))[:10]
        rows = [sql("SELECT uuid, status, vm_state, IFNULL(task_state, '') FROM instances "
                    f"WHERE uuid = '{u}'") for u in extra + missing
                if re.fullmatch(r"[0-9a-zA-Z-]+", u)]
        fail(f"devices held by {extra} (should not) / not held by {missing} (should): {rows}")
    if any(n != 1 for n in held.values()):
        fail(f"an instance holds more than its one GPU: {held.most_common(3)}")
    used = sum(int(v) for (v,) in sql("SELECT vcpus_used FROM compute_hosts"))
    claims = int(sql("SELECT COUNT(*) FROM instance_claims")[0][0])
    if claims != len(expected_holders) or used != claims:
        fail(f"{claims} instance_claims rows and {used} vCPUs used for "
             f"{len(expected_holders)} holders")


def run_workers(prefix, total, during=None):
    """Three replicas (one per node) make `total` claims; `during(procs)` runs meanwhile."""
    procs = []
    for node in (1, 2, 3):
        share = total // 3 + (1 if node <= total % 3 else 0)
        procs.append(start(f"{prefix}-worker{node}", [
            WORKER, url_for(node), "claims", str(THREADS), str(share), f"{prefix}{node}",
            str(HOSTS)]))
    if during:
        during(procs)
    for _, (p, _) in enumerate(procs):
        try:
            p.wait(timeout=600)
        except subprocess.TimeoutExpired:
            fail(f"{prefix}: a replica did not finish its claims")
    outcomes = collections.defaultdict(set)
    stats = collections.Counter()
    for _, logfile in procs:
        for line in open(logfile):
            word, _, rest = line.strip().partition(" ")
            if word == "stats":
                stats.update({k: float(v) for k, v in (kv.split("=") for kv in rest.split())})
            elif word in ("ok", "full", "deleted", "error"):
                outcomes[word].add(rest.split(" ")[0])
    if sum(1 for p, _ in procs if p.returncode != 0) or stats["galera"] != 3:
        fail(f"{prefix}: replicas exited with {[p.returncode for p, _ in procs]}, "
             f"galera={stats['galera']}")
    if outcomes["error"]:
        fail(f"{prefix}: {len(outcomes['error'])} claims ended in errors, e.g. "
             f"{sorted(outcomes['error'])[:3]}")
    # Every instance a replica created is in the database, in the state the replica left it.
    rows = dict(sql(f"SELECT uuid, status FROM instances WHERE uuid LIKE '{prefix}%'"))
    made = outcomes["ok"] | outcomes["full"]
    lost = sorted(u for u in made if u not in rows)
    if lost or len(made) != total:
        fail(f"{prefix}: {len(lost)} instances lost ({lost[:5]}), {len(made)} of {total} made")
    wrong = [u for u in outcomes["ok"] if rows[u] != "DELETED" or u not in outcomes["deleted"]]
    wrong += [u for u in outcomes["full"] if rows[u] != "ERROR"]
    if wrong:
        fail(f"{prefix}: instances in the wrong state: {wrong[:5]}")
    return outcomes, stats


def report(prefix, outcomes, stats):
    claims = len(outcomes["ok"]) + len(outcomes["full"])
    retries = stats["certification_failures"] + stats["deadlocks"] + stats["lock_wait_timeouts"]
    log(f"{prefix}: {claims} claims ({len(outcomes['ok'])} got a GPU, {len(outcomes['full'])} "
        f"found none free) in {max(stats['seconds'] / 3, 0.001) * 3 / 3:.1f} s per replica; "
        f"{int(stats['transactions'])} transactions, "
        f"{int(stats['certification_failures'])} certification failures (1213 at COMMIT), "
        f"{int(stats['deadlocks'])} deadlocks/BF aborts, {int(stats['reconnects'])} reconnects, "
        f"{int(stats['commit_unknown'])} commits with unknown outcome; retry rate "
        f"{retries / max(1, stats['transactions']):.1%} of transactions, "
        f"{retries / max(1, claims):.2f} retries per claim")


# ---- 2. contended claims ----
log(f"contended: {CLAIMS} claims from 3 replicas x {THREADS} threads for {HOSTS * GPUS} GPUs")
outcomes, stats = run_workers("c", CLAIMS)
events = check_devices()
check_held(set())
report("contended", outcomes, stats)
if stats["certification_failures"] == 0:
    fail("no certification failure at all: the claims did not contend across nodes")
log(f"contended: {events} device events replayed, no double allocation, nothing lost")


# ---- 3. kill -9 of node 2 mid-claim ----
def kill_node2(procs):
    logfile = procs[1][1]
    deadline = time.time() + 60
    while open(logfile).read().count("\nok ") < 20 and time.time() < deadline:
        time.sleep(0.05)
    galera("kill", 2)
    log("kill: node 2 killed with SIGKILL while its replica was claiming")


log(f"kill: {KILL_CLAIMS} claims; node 2 is killed once its replica is under way")
outcomes, stats = run_workers("k", KILL_CLAIMS, kill_node2)
st = status(1)
if "wsrep_cluster_size=2" not in st or "Synced" not in st:
    fail("after the kill, node 1 reports: " + st)
check_devices()
check_held(set())
report("kill", outcomes, stats)
if stats["reconnects"] + stats["commit_unknown"] == 0:
    fail("node 2's replica never noticed its node die")
galera("start-node", 2)
log("kill: quorum kept (2 of 3), replica 2 failed over, nothing lost; node 2 rejoined: "
    + status(2).strip())

# ---- 4. rolling restart with boots in flight through three API replicas ----
nova_conf = os.path.join(DIR, "nova.conf")
with open(nova_conf, "w") as f:
    f.write("[DEFAULT]\nservice_down_time = 20\n"
            "pci_alias = { 'name': 'K2_Grid', 'vendor_id': '10de', 'product_id': '11bf' }\n"
            "scheduler_default_filters = RetryFilter,RamFilter,ComputeFilter,"
            "PciPassthroughFilter\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


servers = []
for node in (1, 2, 3):
    port = free_port()
    data = os.path.join(DIR, f"server{node}")
    os.makedirs(data, exist_ok=True)
    _, logfile = start(f"server{node}", [
        GPUCLOUD, "server", "--config", nova_conf, "--database", url_for(node), "--port",
        str(port), "--data-dir", data, "--web-root", "none"])
    servers.append((f"http://127.0.0.1:{port}", logfile))
for base, logfile in servers:
    deadline = time.time() + 30
    while "listening on" not in open(logfile).read():
        if time.time() > deadline:
            fail("a server replica did not start")
        time.sleep(0.1)


def http(base, method, path, token=None, body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/octet-stream" if raw else "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
        return 0, {}, str(e)


def login(base):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PW}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    s, headers, text = http(base, "POST", "/identity/v3/auth/tokens", body=body)
    if s != 201:
        fail(f"login on {base}: {s} {text}")
    return headers["X-Subject-Token"]


tokens = [login(base) for base, _ in servers]
b0, t0 = servers[0][0], tokens[0]
if http(b0, "POST", "/compute/v2.1/flavors", t0, {"flavor": {
        "name": "gpu", "id": "gpu", "ram": 512, "vcpus": 1, "disk": 1}})[0] != 200:
    fail("flavor create")
http(b0, "POST", "/compute/v2.1/flavors/gpu/os-extra_specs", t0,
     {"extra_specs": {"pci_passthrough:alias": "K2_Grid:1"}})
_, _, body = http(b0, "POST", "/image/v2/images", t0, {
    "name": "galera", "disk_format": "raw", "container_format": "bare", "visibility": "public"})
image = json.loads(body)["id"]
http(b0, "PUT", f"/image/v2/images/{image}/file", t0, raw=b"\0" * 4096)

fake_hosts = os.path.join(DIR, "fake_hosts.json")
with open(fake_hosts, "w") as f:
    json.dump({"hosts": [
        {"name": name, "vcpus": 32, "memory_mb": 65536, "disk_gb": 1000, "pci_devices": [
            {"address": f"0000:{0x10 + i:02x}:00.0", "vendor_id": "10de", "product_id": "11bf"}
            for i in range(4)]} for name in ("vm-a", "vm-b")]}, f)
for i, host in enumerate(("vm-a", "vm-b")):
    base = servers[i][0]
    env = dict(os.environ, OS_AUTH_URL=base + "/identity/v3", OS_USERNAME="gpucloud-agent",
               OS_PASSWORD=AGENT_PW, OS_PROJECT_NAME="service", OS_USER_DOMAIN_NAME="Default")
    start(f"agent-{host}", [GPUCLOUD, "agent", "--driver", "fake", "--fake-hosts", fake_hosts,
                            "--host", host, "--heartbeat-interval", "1", "--poll-wait", "2"], env)


def hypervisors_up():
    s, _, text = http(b0, "GET", "/compute/v2.1/os-hypervisors", t0)
    return s == 200 and sum(h["state"] == "up" and h["hypervisor_hostname"] in ("vm-a", "vm-b")
                            for h in json.loads(text)["hypervisors"]) == 2


deadline = time.time() + 60
while not hypervisors_up():
    if time.time() > deadline:
        fail("the agents' hosts did not come up")
    time.sleep(0.5)

booted = {}  # uuid -> final status seen by the client
refused = []
restart_done = threading.Event()


def boot_loop():
    """Boots GPU servers round-robin over the replicas until the rolling restart is over (and at
    least BOOTS of them), waits for each, and deletes all but the last three ACTIVE ones."""
    held = []
    i = 0
    while (i < BOOTS or not restart_done.is_set()) and i < 400:
        k = i % 3
        base, token = servers[k][0], tokens[k]
        i += 1
        s, _, text = http(base, "POST", "/compute/v2.1/servers", token, {"server": {
            "name": f"g{i}", "flavorRef": "gpu", "imageRef": image}})
        if s != 202:
            refused.append(f"{s} {text[:200]}")
            time.sleep(0.5)
            continue
        uuid = json.loads(text)["server"]["id"]
        final = None
        deadline = time.time() + 120
        while time.time() < deadline and final is None:
            s, _, text = http(base, "GET", f"/compute/v2.1/servers/{uuid}", token)
            if s == 200 and json.loads(text)["server"]["status"] in ("ACTIVE", "ERROR"):
                final = json.loads(text)["server"]["status"]
            time.sleep(0.2)
        booted[uuid] = final
        if final == "ACTIVE":
            held.append((base, token, uuid))
        while len(held) > 3:
            b, t, old = held.pop(0)
            http(b, "DELETE", f"/compute/v2.1/servers/{old}", t)


log("rolling restart: GPU boots through 3 replicas and 2 fake agents while each node in turn "
    "stops and starts")
booter = threading.Thread(target=boot_loop)
booter.start()
for node in (1, 2, 3):
    time.sleep(2)
    galera("stop-node", node)
    log(f"rolling restart: node {node} stopped ({len(booted)} boots done)")
    time.sleep(1)
    galera("start-node", node)
    log(f"rolling restart: node {node} back: {status(node).strip()}")
restart_done.set()
booter.join(timeout=600)
if booter.is_alive():
    fail("boots did not finish")
deadline = time.time() + 60
while True:  # deletes finish in the background
    # A delete's row is DELETED at once (the API shows task_state `deleting` until its task
    # ends); its guest and GPU go in the task, so the task rows are what is still in flight.
    pending = sql("SELECT uuid, status, IFNULL(task_state, '') FROM instances WHERE "
                  "uuid NOT LIKE 'c%' AND uuid NOT LIKE 'k%' AND status = 'BUILD'") + \
        sql("SELECT instance_uuid, kind, step FROM lifecycle_tasks")
    if not pending or time.time() > deadline:
        break
    time.sleep(0.5)
if pending:
    fail(f"instances stuck after the rolling restart: {pending[:5]}")
stuck = [u for u, st in booted.items() if st is None]
if stuck:
    fail(f"{len(stuck)} boots never reached ACTIVE or ERROR: {stuck[:3]}")
rows = dict((u, s) for u, s in sql("SELECT uuid, status FROM instances"))
lost = [u for u in booted if u not in rows]
if lost:
    fail(f"booted instances missing from the database: {lost}")
active = {u for u, s in rows.items() if s == "ACTIVE"}
check_devices()
check_held(active)
errors = sorted(u for u, s in booted.items() if s == "ERROR")
log(f"rolling restart: {len(booted)} boots ({sum(1 for s in booted.values() if s == 'ACTIVE')} "
    f"ACTIVE, {len(errors)} ERROR), {len(refused)} requests refused while a replica's node "
    f"restarted; {len(active)} servers hold exactly their GPU, no double allocation")
if refused:
    log("refused: " + "; ".join(refused[:5]))
for name, p, logfile in PROCS:
    if "agent" in name or "server" in name:
        text = open(logfile).read()
        if ADMIN_PW in text or AGENT_PW in text or CRED.split(":")[1] in text:
            fail(f"{name}'s output shows a password")
log("galera test passed")
shutil.rmtree(os.path.join(DIR, "server1"), ignore_errors=True)
