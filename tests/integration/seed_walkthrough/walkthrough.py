#!/usr/bin/python3
"""The seed document, gpu-passthrough-for-kvm.txt, typed into the real Debian clients.

Starts `gpucloud up --no-demo` in a temporary directory (flavors 1-5 only, as a fresh nova has
them), then runs every `nova` and `glance` command of the seed, boots servers with
`openstack server create`, and checks where they landed and which K2 GPUs they hold in the
pci_devices table (nova's columns). Prints 'N passed, N failed' at the end.
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "support"))
import gpucloud_up  # noqa: E402  (tests/support)

GPUCLOUD = sys.argv[1]
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + detail), flush=True)
    return ok


def run(cmd, env, expect_ok=True, tty=False):
    """Runs a client command line exactly as a user types it (through the shell); with `tty`,
    on a pseudo-terminal (glance draws its --progress bar only on a terminal)."""
    print("$ " + cmd, flush=True)
    if tty:
        fd, script = tempfile.mkstemp(suffix=".sh")
        with os.fdopen(fd, "w") as f:
            f.write(cmd + "\n")
        cmd = "script -qec 'sh %s' /dev/null" % script
    p = subprocess.run(cmd, shell=True, env=env, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    if expect_ok and p.returncode != 0:
        print(out)
    return p.returncode, out


def main():
    tmp = tempfile.mkdtemp(prefix="gpucloud-walkthrough-")
    data = os.path.join(tmp, "data")
    up, base = gpucloud_up.start(GPUCLOUD, data)
    if not check("gpucloud up starts and prints its URL", base is not None):
        up.kill()
        return
    try:
        walk(base, data, tmp)
    finally:
        up.terminate()
        try:
            rc = up.wait(timeout=15)
            check("gpucloud up stops cleanly on SIGTERM", rc == 0, "exit status %s" % rc)
        except subprocess.TimeoutExpired:
            up.kill()
            check("gpucloud up stops cleanly on SIGTERM", False, "still running after 15 s")


def walk(base, data, tmp):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("OS_"):
            del env[k]
    env["OS_CLIENT_CONFIG_FILE"] = os.path.join(data, "clouds.yaml")
    env["OS_CLOUD"] = "gpucloud"
    mode = os.stat(os.path.join(data, "clouds.yaml")).st_mode & 0o777
    check("clouds.yaml is mode 0600", mode == 0o600, oct(mode))
    # nova and glance read OS_* variables: take them from the openrc that up wrote.
    with open(os.path.join(data, "openrc")) as f:
        for line in f:
            m = re.match(r"export (OS_\w+)='?([^'\n]*)'?", line)
            if m:
                env[m.group(1)] = m.group(2)

    # A flavor the seed calls my_existing_flavor (not one of 1-5: a site's own flavor).
    rc, out = run("nova flavor-create my_existing_flavor auto 4096 20 2", env)
    check("nova flavor-create my_existing_flavor", rc == 0, out)

    # --- Flavor changes ---
    rc, out = run('nova flavor-key my_existing_flavor set \\\n'
                  '    hw_video:ram_max_mb=64 \\\n'
                  '    "pci_passthrough:alias"="K2_Grid:1" \\\n', env)
    check("nova flavor-key my_existing_flavor set (seed)", rc == 0, out)
    rc, out = run("nova flavor-show my_existing_flavor", env)
    check("extra specs stored", "K2_Grid:1" in out and "ram_max_mb" in out, out)
    rc, out = run('nova flavor-key my_existing_flavor set "pci_passthrough:alias"="NoSuch:1"',
                  env, expect_ok=False)
    check("unknown alias refused with a clear error", rc != 0 and "NoSuch" in out, out)

    # --- Image changes ---
    image = os.path.join(tmp, "my_raw_image.raw")
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    # The seed's command, with --visibility public for --is-public true (glance v2 clients) and
    # the line continuations the seed's text lost after --file and --min-ram.
    rc, out = run("glance image-create \\\n"
                  "    --name my_new_image  \\\n"
                  "    --visibility public \\\n"
                  "    --file " + image + " \\\n"
                  "    --disk-format raw \\\n"
                  "    --container-format bare \\\n"
                  "    --min-disk 15 \\\n"
                  "    --min-ram 512 \\\n"
                  "    --progress \\\n"
                  "    --property image_type=loginnode \\\n"
                  "    --property service_type=loginNode \\\n"
                  "    --property hw_video_model=qxl \\\n"
                  "    --property hw_video_ram=8 \\\n"
                  "    --property configure_x=true \\\n"
                  "    --property service_url='https://{}/'", env, tty=True)
    check("glance image-create (seed)", rc == 0, out)
    check("glance --progress shows progress", re.search(r"\[=*>?\s*\] 100%", out) is not None,
          out[:400])
    m = re.search(r"\|\s+id\s+\|\s+([0-9a-f-]{36})", out)
    image_id = m.group(1) if m else ""
    check("image is active with the seed's properties",
          "active" in out and "loginNode" in out and "https://{}/" in out, out)
    rc, out = run("glance image-update \\\n"
                  "    --property hw_video_model=qxl \\\n"
                  "    --property hw_video_ram=8   \\\n"
                  "    --property configure_x=true   \\\n"
                  "    " + image_id, env)
    check("glance image-update (seed)", rc == 0 and "configure_x" in out, out)
    rc, out = run("glance image-create --name old --is-public true", env, expect_ok=False)
    check("--is-public is refused by today's glance client (README lists it)", rc != 0, out)

    # --- Host aggregates ---
    for cmd in ["nova aggregate-create aggregate_Denver Denver",
                "nova aggregate-create GPU Denver",
                "nova aggregate-create nonGPU Denver",
                "nova aggregate-set-metadata GPU gpu=true",
                "nova aggregate-set-metadata nonGPU gpu=false",
                "nova aggregate-add-host nonGPU vmhost1",
                "nova aggregate-add-host nonGPU vmhost2",
                "nova aggregate-add-host GPU vmhost3",
                "nova flavor-key 1 set gpu=false",
                "nova flavor-key 2 set gpu=false",
                "nova flavor-key 3 set gpu=false",
                "nova flavor-key 4 set gpu=true",
                "nova flavor-key 5 set gpu=true"]:
        rc, out = run("# " + cmd + "\n" + cmd, env)
        check(cmd, rc == 0, out)
    rc, out = run("nova aggregate-show GPU", env)
    check("GPU aggregate holds vmhost3 with gpu=true in Denver",
          "vmhost3" in out and "gpu=true" in out and "Denver" in out, out)
    rc, out = run("nova availability-zone-list", env)
    check("availability zone Denver is listed", "Denver" in out, out)

    # --- Booting ---
    # The seed's image asks for 8 MB of video RAM (hw_video_ram=8): as in nova, only flavors
    # with hw_video:ram_max_mb >= 8 may boot it. Plain servers boot a plain image.
    rc, out = run("glance image-create --name plain --visibility public --disk-format raw "
                  "--container-format bare --file " + image, env)
    check("plain image created", rc == 0, out)
    rc, out = run("openstack server create --flavor 2 --image my_new_image --wait plain-vm-qxl",
                  env, expect_ok=False)
    check("hw_video_ram above the flavor's hw_video:ram_max_mb is refused, naming both",
          rc != 0 and "hw_video_ram" in out and "ram_max_mb" in out, out)

    def boot(name, flavor, image="my_new_image"):
        rc, out = run("openstack server create --flavor %s --image %s "
                      "--availability-zone Denver --wait -f json %s" % (flavor, image, name), env,
                      expect_ok=False)
        try:
            return rc, json.loads(out[out.index("{"):])
        except ValueError:
            return rc, {"raw": out}

    def host_of(name):
        rc, out = run("openstack server show -f json %s" % name, env)
        return json.loads(out).get("OS-EXT-SRV-ATTR:host")

    rc, srv = boot("gpu-vm-1", "my_existing_flavor")
    check("GPU server becomes ACTIVE", rc == 0 and srv.get("status") == "ACTIVE", str(srv))
    check("GPU server landed on vmhost3", host_of("gpu-vm-1") == "vmhost3")
    rc, srv = boot("plain-vm", "2", "plain")
    check("non-GPU server becomes ACTIVE", rc == 0 and srv.get("status") == "ACTIVE", str(srv))
    check("non-GPU server landed on vmhost1 or vmhost2",
          host_of("plain-vm") in ("vmhost1", "vmhost2"))
    rc, srv = boot("gpu-flavor-4", "4", "plain")
    check("flavor 4 (gpu=true) landed on vmhost3", host_of("gpu-flavor-4") == "vmhost3")

    db = sqlite3.connect(os.path.join(data, "gpucloud.sqlite"))
    rc, out = run("openstack server show -f json gpu-vm-1", env)
    uuid = json.loads(out)["id"]
    # The Cloud Controller's kind of query, on nova's column names.
    rows = db.execute("SELECT address, vendor_id, product_id, status FROM pci_devices "
                      "WHERE instance_uuid = ? AND deleted = 0", (uuid,)).fetchall()
    check("gpu-vm-1 holds exactly one K2 (10de:11bf), allocated",
          len(rows) == 1 and rows[0][1:] == ("10de", "11bf", "allocated"), str(rows))

    total = db.execute("SELECT COUNT(*) FROM pci_devices WHERE product_id = '11bf' "
                       "AND deleted = 0").fetchone()[0]
    for i in range(2, total + 1):
        rc, srv = boot("gpu-vm-%d" % i, "my_existing_flavor")
        check("gpu-vm-%d ACTIVE" % i, srv.get("status") == "ACTIVE", str(srv))
    free = db.execute("SELECT COUNT(*) FROM pci_devices WHERE product_id = '11bf' "
                      "AND status = 'available' AND deleted = 0").fetchone()[0]
    check("all %d K2 GPUs are in use" % total, free == 0, "free=%d" % free)
    rc, srv = boot("gpu-vm-too-many", "my_existing_flavor")
    rc, out = run("openstack server show -f json gpu-vm-too-many", env)
    shown = json.loads(out)
    fault = json.dumps(shown.get("fault", ""))
    check("the next GPU boot ends in ERROR", shown.get("status") == "ERROR", str(shown))
    check("its fault names the alias K2_Grid", "K2_Grid" in fault, fault)

    rc, out = run("openstack server delete --wait gpu-vm-1", env)
    check("server delete", rc == 0, out)
    free = db.execute("SELECT COUNT(*) FROM pci_devices WHERE product_id = '11bf' "
                      "AND status = 'available' AND deleted = 0").fetchone()[0]
    check("deleting a GPU server frees its K2", free == 1, "free=%d" % free)

    # Issue 13: role assignments with names (the client failed with 'name'), a paged list.
    rc, out = run("openstack role assignment list --names -f json", env)
    check("openstack role assignment list --names", rc == 0 and "admin@Default" in out, out)
    rc, out = run("openstack server list --limit 1 -f json", env)
    check("openstack server list --limit 1", rc == 0 and out.count('"ID"') <= 1, out)

    # The Python SDK, one flow.
    sdk = subprocess.run(["/usr/bin/python3", "-c", """
import openstack
conn = openstack.connect(cloud='gpucloud')
flavors = {f.name for f in conn.compute.flavors()}
assert 'my_existing_flavor' in flavors, flavors
image = conn.image.find_image('my_new_image')
assert image.properties.get('service_type') == 'loginNode' or image.service_type == 'loginNode'
plain = conn.image.find_image('plain')
# The SDK negotiates 2.73 for servers, where nova (2.37+) requires 'networks'; 'auto'
# is what nova scripts pass, and gpucloud's guest network is that.
server = conn.compute.create_server(name='sdk-vm', flavor_id='2', image_id=plain.id,
                                    availability_zone='Denver', networks='auto')
server = conn.compute.wait_for_server(server, wait=60)
assert server.status == 'ACTIVE', server.status
conn.compute.delete_server(server)
print('sdk ok')
"""], env=env, capture_output=True, text=True, timeout=120)
    check("openstacksdk: list flavors, find image, boot and delete a server",
          sdk.returncode == 0 and "sdk ok" in sdk.stdout, sdk.stdout + sdk.stderr)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a crash is a failure, with its reason
        check("walkthrough ran to the end", False, repr(e))
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    sys.exit(1 if results["failed"] else 0)
