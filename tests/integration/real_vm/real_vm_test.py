#!/usr/bin/env python3
"""Real-VM test: a QEMU guest booted through `gpucloud up` and `gpucloud agent --driver libvirt`.

The guest is Debian's host kernel plus a busybox initramfs built here (guest_image.py) that takes
a DHCP lease on a libvirt network this test creates (dnsmasq), mounts its config drive and serves
HTTP, the config drive's files included. The agent reads the guest's address from libvirt (the
DHCP lease), reports it, probes the image's service_url (http://{}/config/meta-data) and the
server goes READY; `openstack server list` shows the address under the network's name; its SPICE
console URL's WebSocket, through the server's relay, gets QEMU's own SPICE link reply; a network
namespace on the guest's bridge is kept out of its HTTP port until a security group rule lets it in. A second
guest whose user data keeps its HTTP server from starting stays `waiting` with the probe's error.

With /dev/kvm the guest runs on KVM; without it, or when this machine is itself a VM (nested KVM:
under some hypervisors the guest kernel never gets past its decompressor), on QEMU's TCG
(--virt-type qemu), which is slower but boots the same guest. GPUCLOUD_REAL_VM_VIRT=kvm or =qemu
overrides the choice. Skipped (exit 77, saying why) when not root, or without libvirtd,
QEMU, genisoimage, a static busybox, a host kernel with modules, or when a libvirt network cannot
be created (user-mode networking with a forwarded port is not implemented as a fallback: see
docs/controller.md). Usage: real_vm_test.py /path/to/gpucloud
"""
import atexit
import base64
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guest_image  # noqa: E402

GPUCLOUD = os.path.abspath(sys.argv[1])
URI = "qemu:///system"
PROCS = []
CLEANUP = []
STARTED = time.time()


def log(msg):
    print(f"[{time.time() - STARTED:6.1f}s] {msg}", flush=True)


def skip(why):
    print(f"SKIPPED: the real-VM test cannot run here: {why}", flush=True)
    sys.exit(77)


@atexit.register
def _cleanup():
    for _, p, _ in PROCS:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    for f in reversed(CLEANUP):
        try:
            f()
        except Exception as e:  # cleanup must not hide the test's own result
            print("cleanup:", e)


WHY_TCG = ""  # why the guest runs on TCG, when it does (preconditions())


def fail(msg):
    print("FAIL:", msg, flush=True)
    for name, p, logfile in PROCS:
        print(f"---- {name} output (last 6000 bytes) ----")
        with open(logfile) as f:
            print(f.read()[-6000:])
    for path in glob_serial_logs():
        print(f"---- {path} ----")
        with open(path, errors="replace") as f:
            print(f.read()[-3000:])
    sys.exit(1)


def glob_serial_logs():
    d = "/var/log/libvirt/qemu"
    if not os.path.isdir(d):
        return []
    return [os.path.join(d, n) for n in os.listdir(d) if n.startswith("instance-")
            and os.path.getmtime(os.path.join(d, n)) >= STARTED]


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def virsh(*args):
    return run(["virsh", "-c", URI, *args])


def socket_answers(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def ensure_libvirtd():
    """Starts virtlogd and libvirtd when installed but not running (no systemd in containers)."""
    if shutil.which("libvirtd") is None or shutil.which("virsh") is None:
        skip("libvirtd/virsh are not installed (scripts/packages.txt: libvirt-daemon-system)")
    if not socket_answers("/run/libvirt/virtlogd-sock"):
        try:
            os.remove("/run/libvirt/virtlogd-sock")
        except OSError:
            pass
        run(["virtlogd", "--daemon"])
        for _ in range(50):
            if socket_answers("/run/libvirt/virtlogd-sock"):
                break
            time.sleep(0.1)
    if virsh("version").returncode == 0:
        return
    run(["libvirtd", "--daemon"])
    for _ in range(50):
        if virsh("version").returncode == 0:
            return
        time.sleep(0.2)
    skip("no libvirtd answers at " + URI + ": " + virsh("version").stderr.strip())


def preconditions():
    if os.geteuid() != 0:
        skip("needs root (libvirt networks, qemu:///system)")
    for tool, pkg in [("qemu-system-x86_64", "qemu-system-x86"), ("qemu-img", "qemu-utils"),
                      ("genisoimage", "genisoimage")]:
        if shutil.which(tool) is None:
            skip(f"{tool} is not installed (Debian: {pkg})")
    busybox, why = guest_image.static_busybox()
    if not busybox:
        skip(why)
    kernel, version = guest_image.host_kernel()
    if not kernel:
        skip(version)
    if not shutil.which("dnsmasq"):
        skip("dnsmasq is not installed (Debian: dnsmasq-base): libvirt's DHCP needs it")
    ensure_libvirtd()
    kvm = os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)
    global WHY_TCG
    WHY_TCG = "no usable /dev/kvm here"
    with open("/proc/cpuinfo") as f:
        nested = any(line.startswith("flags") and " hypervisor" in line for line in f)
    choice = os.environ.get("GPUCLOUD_REAL_VM_VIRT", "")
    if choice in ("kvm", "qemu"):
        kvm = kvm and choice == "kvm"
        WHY_TCG = "GPUCLOUD_REAL_VM_VIRT=qemu"
    elif kvm and nested:
        # Seen on a firecracker VM: the nested guest spins in its kernel's decompressor.
        kvm = False
        WHY_TCG = "this machine is a VM (nested KVM is not relied on; GPUCLOUD_REAL_VM_VIRT=kvm tries it)"
    return busybox, kernel, version, kvm


def pick_subnet():
    """A /24 in 192.168.200-249 that no interface of this host uses."""
    used = run(["ip", "-4", "-o", "addr"]).stdout
    for third in range(200 + os.getpid() % 50, 250):
        net = f"192.168.{third}."
        if net not in used:
            return third
    skip("no free 192.168.2xx.0/24 for the test's network")


def create_network(name, bridge, third):
    xml = f"""<network>
  <name>{name}</name>
  <bridge name='{bridge}' stp='off'/>
  <ip address='192.168.{third}.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.{third}.10' end='192.168.{third}.99'/></dhcp>
  </ip>
</network>
"""
    path = os.path.join(TMP, "network.xml")
    with open(path, "w") as f:
        f.write(xml)
    r = virsh("net-create", path)
    if r.returncode != 0:
        skip(f"cannot create libvirt network {name}: {r.stderr.strip()} (user-mode networking "
             "with a forwarded port would be the fallback; it is not implemented)")
    CLEANUP.append(lambda: virsh("net-destroy", name))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, args, env=None):
    logfile = os.path.join(TMP, name + ".log")
    p = subprocess.Popen(args, stdout=open(logfile, "w"), stderr=subprocess.STDOUT,
                         env=env or os.environ.copy())
    PROCS.append((name, p, logfile))
    return p, logfile


def wait_for(what, predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        for name, p, _ in PROCS:
            if p.poll() is not None:
                fail(f"{name} exited ({p.returncode}) while waiting for {what}")
        time.sleep(0.5)
    fail(f"timed out after {timeout} s waiting for {what}")


def http(method, path, token=None, body=None, expect=None, raw=None, ctype="application/json"):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", ctype)
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
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


def upload_image(token, name, data, properties):
    body = {"name": name, "disk_format": "raw", "container_format": "bare",
            "visibility": "public", **properties}
    _, _, img = http("POST", "/image/v2/images", token, body, expect=201)
    http("PUT", f"/image/v2/images/{img['id']}/file", token, raw=data,
         ctype="application/octet-stream", expect=204)
    return img["id"]


def server(token, sid):
    return http("GET", f"/compute/v2.1/servers/{sid}", token, expect=200)[2]["server"]


def boot(token, name, image, user_data=None, key_name=None):
    s = {"name": name, "flavorRef": "1", "imageRef": image, "config_drive": True}
    if key_name:
        s["key_name"] = key_name
    if user_data:
        s["user_data"] = base64.b64encode(user_data.encode()).decode()
    _, _, out = http("POST", "/compute/v2.1/servers", token, {"server": s}, expect=202)
    sid = out["server"]["id"]
    CLEANUP.append(lambda: virsh("destroy", "instance-" + sid))
    CLEANUP.append(lambda: virsh("undefine", "instance-" + sid, "--nvram"))
    return sid


def address_on(s, network):
    for a in s.get("addresses", {}).get(network, []):
        if a.get("version") == 4:
            return a
    return None


# ---- preconditions and the guest ----
busybox, kernel, version, kvm = preconditions()
TMP = tempfile.mkdtemp(prefix="gpucloud-real-vm-", dir="/var/tmp")
os.chmod(TMP, 0o755)  # QEMU runs as libvirt-qemu and must reach the instances' files
CLEANUP.append(lambda: shutil.rmtree(TMP, ignore_errors=True))
virt_type = "kvm" if kvm else "qemu"
log(f"guest: kernel {kernel}, busybox {busybox}; "
    + ("KVM" if kvm else WHY_TCG + ": QEMU TCG (--virt-type qemu), slower"))
initramfs = guest_image.build_initramfs(version, busybox)
with open(kernel, "rb") as f:
    kernel_data = f.read()

third = pick_subnet()
NETWORK = f"gpucloud-rvm-{os.getpid()}"
BRIDGE = f"gcrvm{os.getpid() % 100000}"
create_network(NETWORK, BRIDGE, third)
subnet = ipaddress.ip_network(f"192.168.{third}.0/24")
log(f"libvirt network {NETWORK}: {subnet} with DHCP (dnsmasq)")

# ---- gpucloud up (server, no simulated hosts) with quick readiness probes ----
PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}"
data_dir = os.path.join(TMP, "data")
no_hosts = os.path.join(TMP, "no_hosts.json")
with open(no_hosts, "w") as f:
    json.dump({"hosts": []}, f)
ini = os.path.join(TMP, "cloudcontroller.ini")
with open(ini, "w") as f:
    f.write("[app:main]\ngpucloud.readiness_interval = 1\ngpucloud.readiness_max_interval = 2\n"
            "gpucloud.readiness_probe_timeout = 2\n")
up, up_log = start("up", [GPUCLOUD, "up", "--data-dir", data_dir, "--port", str(PORT),
                          "--no-demo", "--fake-hosts", no_hosts, "--web-root", "none",
                          "--cloudcontroller", ini])
wait_for("gpucloud up", lambda: os.path.exists(os.path.join(data_dir, "openrc")), 120)
openrc = open(os.path.join(data_dir, "openrc")).read()
password = re.search(r"OS_PASSWORD='?([^'\n]+)'?", openrc).group(1)
admin = login("admin", password, "admin")

# ---- the agent: libvirt driver on the test's network ----
# The host doctor reads fake roots: this test is about guest networking and readiness, not
# passthrough, and a CI machine has no IOMMU groups (the doctor would make the host unschedulable).
roots = os.path.join(TMP, "roots")
os.makedirs(os.path.join(roots, "sys/bus/pci/devices"))
os.makedirs(os.path.join(roots, "sys/kernel/iommu_groups/0"))
os.makedirs(os.path.join(roots, "proc"))
os.makedirs(os.path.join(roots, "dev"))
with open(os.path.join(roots, "proc/cpuinfo"), "w") as f:
    f.write("processor\t: 0\nflags\t\t: fpu vmx\n")
with open(os.path.join(roots, "proc/cmdline"), "w") as f:
    f.write("intel_iommu=on\n")
open(os.path.join(roots, "dev/kvm"), "w").close()
os.makedirs(os.path.join(TMP, "instances"))  # the agent reports its disk size
env = dict(os.environ, OS_AUTH_URL=BASE + "/identity/v3", OS_USERNAME="admin",
           OS_PASSWORD=password, OS_PROJECT_NAME="admin", OS_USER_DOMAIN_NAME="Default",
           OS_PROJECT_DOMAIN_NAME="Default")
# The seed's [spice] enabled: guests get SPICE on a fixed port, which the console relay reaches.
agent_conf = os.path.join(TMP, "nova-compute.conf")
with open(agent_conf, "w") as f:
    f.write("[spice]\nenabled = True\n")
agent, agent_log = start("agent", [
    GPUCLOUD, "agent", "--host", "rvm-host", "--driver", "libvirt", "--libvirt-uri", URI,
    "--config", agent_conf,
    "--instances-path", os.path.join(TMP, "instances"), "--libvirt-network", NETWORK,
    "--virt-type", virt_type, "--guest-interval", "1", "--heartbeat-interval", "2",
    "--poll-wait", "2", "--sysfs-root", os.path.join(roots, "sys"),
    "--proc-root", os.path.join(roots, "proc"), "--dev-root", os.path.join(roots, "dev")], env)
wait_for("the agent to register", lambda: "serving host rvm-host" in open(agent_log).read(), 60)

# ---- images: kernel, ramdisk and a root disk that names them (nova's kernel_id/ramdisk_id) ----
kernel_id = upload_image(admin, "rvm-kernel", kernel_data, {})
ramdisk_id = upload_image(admin, "rvm-initramfs", initramfs, {})
image_id = upload_image(admin, "rvm-guest", b"\0" * (1 << 20), {
    "kernel_id": kernel_id, "ramdisk_id": ramdisk_id, "os_command_line": "console=ttyS0",
    "service_url": "http://{}/config/meta-data", "hw_qemu_guest_agent": "yes"})
log(f"images uploaded: kernel {len(kernel_data)} bytes, initramfs {len(initramfs)} bytes")

# ---- a guest that serves HTTP: its address from the DHCP lease, then READY ----
# The guest gets the key pair named at boot (cloud-init's NoCloud `public-keys`).
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb3x1NhvGJfK1QyHk2zWfE3R0sXyYq1m1cQyQw2bY3t "
              "rvm@test")
http("POST", "/compute/v2.1/os-keypairs", admin,
     {"keypair": {"name": "rvm-key", "public_key": PUBLIC_KEY}}, expect=200)
ready_id = boot(admin, "rvm-ready", image_id, key_name="rvm-key")
s = wait_for("rvm-ready ACTIVE", lambda: (lambda x: x if x["status"] != "BUILD" else None)(
    server(admin, ready_id)), 300)
if s["status"] != "ACTIVE":
    fail(f"rvm-ready is {s['status']}: {s.get('fault')}")
log("rvm-ready is ACTIVE")
addr = wait_for(f"rvm-ready's address on {NETWORK}",
                lambda: address_on(server(admin, ready_id), NETWORK), 240)
ip = addr["addr"]
if ipaddress.ip_address(ip) not in subnet:
    fail(f"rvm-ready's address {ip} is not in {subnet}")
if not addr.get("OS-EXT-IPS-MAC:mac_addr"):
    fail(f"no MAC with the address: {addr}")
log(f"rvm-ready has {ip} on {NETWORK} (MAC {addr['OS-EXT-IPS-MAC:mac_addr']})")
s = wait_for("rvm-ready READY", lambda: (lambda x: x if x["gpucloud:readiness"]["state"] == "ready"
                                         else None)(server(admin, ready_id)), 240)
log(f"rvm-ready is READY: {s['gpucloud:readiness']}")
# The probe's target really is the guest: its config drive's meta-data over its HTTP server.
with urllib.request.urlopen(f"http://{ip}/config/meta-data", timeout=10) as r:
    meta = r.read().decode()
if ready_id not in meta:
    fail(f"the guest's /config/meta-data does not name the instance: {meta!r}")
try:
    import yaml
    keys = (yaml.safe_load(meta) or {}).get("public-keys")
except ImportError:  # python3-yaml comes with the openstack client; read the line instead
    keys = [PUBLIC_KEY] if f'  - "{PUBLIC_KEY}"' in meta.splitlines() else None
if keys != [PUBLIC_KEY]:
    fail(f"the guest's meta-data does not carry the boot's key pair as public-keys: {meta!r}")
log("the guest's config drive carries its key pair (public-keys)")
# ---- security groups: the host's firewall in front of the guest (docs/security_groups.md) ----
# The probes and the fetch above come from the host, which the firewall always lets in. Another
# machine on the guest network is a network namespace on the bridge: the default group has no
# rule, so it cannot reach the guest's HTTP port until a rule lets it, and not after the rule goes.
def firewall_check():
    ns, veth = f"gcns{os.getpid() % 100000}", f"gcv{os.getpid() % 100000}"
    steps = [["ip", "netns", "add", ns],
             ["ip", "link", "add", veth + "a", "type", "veth", "peer", "name", veth + "b"],
             ["ip", "link", "set", veth + "b", "netns", ns],
             ["ip", "link", "set", veth + "a", "master", BRIDGE],
             ["ip", "link", "set", veth + "a", "up"],
             ["ip", "netns", "exec", ns, "ip", "addr", "add", f"192.168.{third}.200/24", "dev",
              veth + "b"],
             ["ip", "netns", "exec", ns, "ip", "link", "set", veth + "b", "up"]]
    CLEANUP.append(lambda: run(["ip", "netns", "del", ns]))
    CLEANUP.append(lambda: run(["ip", "link", "del", veth + "a"]))
    for step in steps:
        r = run(step)
        if r.returncode != 0:
            log(f"note: no network namespace on the bridge ({' '.join(step)}: {r.stderr.strip()}); "
                "the firewall's enforcement is not checked here")
            return

    def connects(host, port):
        code = f"import socket; socket.create_connection(('{host}', {port}), timeout=2).close()"
        return run(["ip", "netns", "exec", ns, "python3", "-c", code]).returncode == 0

    # The path itself works: the network's DNS server (dnsmasq, on the host's bridge address).
    wait_for("the namespace to reach the host's dnsmasq", lambda: connects(f"192.168.{third}.1", 53),
             30)
    if connects(ip, 80):
        fail("a machine on the guest network reached rvm-ready's port 80 with no rule allowing it")
    _, _, groups = http("GET", "/compute/v2.1/os-security-groups", admin, expect=200)
    default = [g for g in groups["security_groups"] if g["name"] == "default"][0]
    _, _, rule = http("POST", "/compute/v2.1/os-security-group-rules", admin,
                      {"security_group_rule": {"parent_group_id": default["id"],
                                               "ip_protocol": "tcp", "from_port": 80,
                                               "to_port": 80, "cidr": f"192.168.{third}.0/24"}},
                      expect=200)
    wait_for("the rule to open port 80", lambda: connects(ip, 80), 60)
    http("DELETE", f"/compute/v2.1/os-security-group-rules/{rule['security_group_rule']['id']}",
         admin, expect=202)
    wait_for("port 80 to close again", lambda: not connects(ip, 80), 60)
    log("security groups: a machine on the guest network was kept out of rvm-ready's port 80, "
        "let in by a rule, and kept out again when the rule went")


firewall_check()

if "address " + ip not in open(agent_log).read() and "lease" not in open(up_log).read():
    log("note: the address report is not in the logs (they are informational only)")

# The real openstack client shows the address under the network's name, as nova does.
if shutil.which("openstack"):
    # Credentials from the environment, as openrc gives them (a generated password may start
    # with "-", which the client's option parser would take for an option).
    cli = run(["openstack", "--os-identity-api-version", "3", "--os-compute-api-version", "2.1",
               "server", "list", "-f", "json"], env=env, timeout=120)
    if cli.returncode != 0:
        fail("openstack server list: " + cli.stderr)
    rows = {r["Name"]: r for r in json.loads(cli.stdout)}
    networks = json.dumps(rows["rvm-ready"]["Networks"])
    if NETWORK not in networks or ip not in networks:
        fail(f"openstack server list shows Networks {networks}")
    log(f"openstack server list: rvm-ready Networks {networks}")
else:
    log("openstack client not installed: its check is left out")

# ---- its SPICE console through the server's relay: QEMU's own SPICE server answers ----
def spice_through_relay(url):
    """Opens the console URL's WebSocket as spice-html5 does and sends a SPICE link message for
    the main channel; returns QEMU's SpiceLinkHeader and the reply's error code."""
    import struct
    from urllib.parse import parse_qs, urlparse
    token = parse_qs(urlparse(url).query)["token"][0]
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=20)
    sock.sendall((f"GET /websockify HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: binary\r\nCookie: token={token}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    if b" 101 " not in head.split(b"\r\n")[0]:
        fail(f"the console relay refused: {head!r} {sock.recv(4096)!r}")
    # SpiceLinkMess: connection 0, channel main (1) id 0, no capabilities.
    body = struct.pack("<IBBIII", 0, 1, 0, 0, 0, 18)
    msg = b"REDQ" + struct.pack("<III", 2, 2, len(body)) + body
    mask = b"\x01\x02\x03\x04"
    sock.sendall(bytes([0x82, 0x80 | len(msg)]) + mask +
                 bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
    got = b""
    while len(got) < 20:
        b0, b1 = sock.recv(1)[0], sock.recv(1)[0]
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack(">H", sock.recv(2))[0]
        data = b""
        while len(data) < n:
            data += sock.recv(n - len(data))
        if b0 & 0x0f == 8:
            fail(f"the relay closed before QEMU answered: {got!r}")
        got += data
    sock.close()
    return got[:4], struct.unpack("<III", got[4:16]), struct.unpack("<I", got[16:20])[0]


def console_url():
    req = urllib.request.Request(
        BASE + f"/compute/v2.1/servers/{ready_id}/remote-consoles", method="POST",
        data=json.dumps({"remote_console": {"protocol": "spice", "type": "spice-html5"}}).encode(),
        headers={"X-Auth-Token": admin, "Content-Type": "application/json",
                 "OpenStack-API-Version": "compute 2.6"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())["remote_console"]["url"]
    except urllib.error.HTTPError as e:
        if e.code == 409:  # the agent's next guest report brings the console
            return None
        fail(f"remote-consoles: {e.code} {e.read()!r}")


url = wait_for("rvm-ready's console URL", console_url, 60)
magic, (major, minor, size), error = spice_through_relay(url)
if magic != b"REDQ" or major != 2 or error != 0:
    fail(f"QEMU's SPICE link reply through the relay: {magic!r} {major}.{minor} size {size} "
         f"error {error}")
xml = virsh("dumpxml", "instance-" + ready_id).stdout
if "autoport='no'" not in xml:
    fail("rvm-ready's SPICE port is not fixed in its domain XML")
log(f"rvm-ready's SPICE console answers through the relay (SPICE {major}.{minor}, link OK)")

# ---- its console log (openstack console log show): the kernel's boot messages on ttyS0 ----
_, _, out = http("POST", f"/compute/v2.1/servers/{ready_id}/action", admin,
                 {"os-getConsoleOutput": {"length": 50}}, expect=200)
if "Linux version" not in out["output"] and "Run /init" not in out["output"]:
    # Only the last 50 lines: the whole log must hold the kernel's banner.
    _, _, whole = http("POST", f"/compute/v2.1/servers/{ready_id}/action", admin,
                       {"os-getConsoleOutput": {}}, expect=200)
    if "Linux version" not in whole["output"]:
        fail(f"rvm-ready's console log has no kernel banner: {whole['output'][-2000:]!r}")
if len(out["output"].split("\n")) > 50:
    fail("os-getConsoleOutput with length 50 answered more than 50 lines")
log(f"rvm-ready's console log through the agent: {len(out['output'])} characters of its boot")

# ---- a guest whose HTTP server does not start: waiting, with the probe's error ----
down_id = boot(admin, "rvm-down", image_id, "#cloud-config\n# gpucloud-test-no-http\n")
addr = wait_for("rvm-down's address", lambda: address_on(server(admin, down_id), NETWORK), 300)
down_ip = addr["addr"]
log(f"rvm-down has {down_ip}; its HTTP server is off")
s = wait_for("rvm-down's probe error", lambda: (lambda x: x if x["gpucloud:readiness"]["error"]
                                               else None)(server(admin, down_id)), 120)
time.sleep(5)  # several more probes
r = server(admin, down_id)["gpucloud:readiness"]
if r["state"] != "waiting":
    fail(f"rvm-down's readiness is {r}, not waiting")
if f"http://{down_ip}/config/meta-data" not in (r["error"] or ""):
    fail(f"rvm-down's readiness error does not name the probe: {r}")
log(f"rvm-down stays waiting: {r['error']}")
_, _, metrics_text = None, None, None
req = urllib.request.Request(BASE + "/metrics", headers={"X-Auth-Token": admin})
with urllib.request.urlopen(req, timeout=30) as resp:
    metrics_text = resp.read().decode()
for want in ['gpucloud_server_readiness{state="ready"} 1',
             'gpucloud_server_readiness{state="waiting"} 1']:
    if want not in metrics_text:
        fail(f"/metrics lacks {want}")

# ---- deleting them removes the domains ----
for sid in (ready_id, down_id):
    http("DELETE", f"/compute/v2.1/servers/{sid}", admin, expect=204)
wait_for("the domains to go", lambda: all(
    virsh("domstate", "instance-" + sid).returncode != 0 for sid in (ready_id, down_id)), 120)
log("PASS: real guests got DHCP addresses read through libvirt, the agent's probe made one "
    "READY and kept the other waiting with its reason; the guest's firewall kept a neighbour out "
    "until a security group rule let it in; the SPICE console relay reached QEMU and the console "
    "log came back through the agent")
