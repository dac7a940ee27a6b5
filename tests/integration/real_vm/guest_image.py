"""The real-VM test's guest: Debian's host kernel and a busybox initramfs built here.

The initramfs loads the few modules the guest needs from the host's /lib/modules (virtio NIC,
SATA cdrom, ISO 9660), takes a DHCP lease on eth0 with udhcpc, mounts the config drive and serves
HTTP with busybox httpd: `/` and the config drive's files under `/config/`. When the instance's
user data contains `gpucloud-test-no-http` the HTTP server is not started (the guest is up, its
service is not). The archive is a newc cpio written here, so no cpio tool is needed.
"""
import glob
import io
import os
import stat

# What the guest needs that Debian builds as modules (CONFIG_VIRTIO_PCI, VIRTIO_NET, SATA_AHCI,
# BLK_DEV_SR, ISO9660_FS are all =m in Debian 12's kernel).
WANTED = ["virtio_pci", "virtio_net", "ahci", "sr_mod", "isofs"]

INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/bin /usr/sbin /sbin /www /mnt/config
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "gpucloud-test-guest: $*" > /dev/console; }
for m in $(cat /modules.list); do insmod "/lib/modules/$m" || say "insmod $m failed"; done
ip link set lo up
n=0; while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
ip link set eth0 up
udhcpc -i eth0 -s /etc/udhcpc.script -t 60 -T 2 -A 2 -b -q || say "no DHCP lease"
n=0; while [ ! -e /dev/sr0 ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
mount -t iso9660 -o ro /dev/sr0 /mnt/config || say "no config drive"
ln -s /mnt/config /www/config
echo "gpucloud real-VM test guest" > /www/index.html
if grep -q gpucloud-test-no-http /mnt/config/user-data 2>/dev/null; then
  say "http: off (user data asks for no HTTP server)"
else
  httpd -p 80 -h /www && say "http: on"
fi
while true; do sleep 3600; done
"""

UDHCPC = r"""#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    echo "gpucloud-test-guest: lease $ip on $interface" > /dev/console
    ;;
esac
exit 0
"""


def host_kernel():
    """(path of vmlinuz, its version) of the newest kernel in /boot with modules, or (None, why)."""
    found = []
    for path in glob.glob("/boot/vmlinuz-*"):
        version = path[len("/boot/vmlinuz-"):]
        if os.path.isdir(f"/lib/modules/{version}") and os.access(path, os.R_OK):
            found.append((path, version))
    if not found:
        return None, ("no readable /boot/vmlinuz-* with /lib/modules/<version> "
                      "(Debian: linux-image-amd64)")
    return sorted(found)[-1]


def module_order(version, wanted=WANTED):
    """Paths (relative to /lib/modules/<version>) of `wanted` and their dependencies, dependencies
    first, from modules.dep."""
    base = f"/lib/modules/{version}"
    deps = {}
    with open(f"{base}/modules.dep") as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
    by_name = {os.path.basename(m).split(".ko")[0].replace("-", "_"): m for m in deps}
    order = []

    def visit(mod):
        if mod in order:
            return
        for d in deps.get(mod, []):
            visit(d)
        order.append(mod)

    for name in wanted:
        if name not in by_name:
            continue  # built into this kernel
        visit(by_name[name])
    return [(m, f"{base}/{m}") for m in order]


class Cpio:
    """A newc ("070701") cpio archive, as the kernel unpacks an initramfs."""

    def __init__(self):
        self.out = io.BytesIO()
        self.ino = 1

    def _entry(self, name, mode, data=b"", nlink=1):
        name_b = name.encode() + b"\0"
        header = "070701" + "".join(f"{v:08x}" for v in [
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name_b), 0])
        self.ino += 1
        self.out.write(header.encode() + name_b)
        self.out.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
        self.out.write(data)
        self.out.write(b"\0" * ((4 - len(data) % 4) % 4))

    def dir(self, name):
        self._entry(name, stat.S_IFDIR | 0o755, nlink=2)

    def file(self, name, data, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def finish(self):
        self._entry("TRAILER!!!", 0)
        data = self.out.getvalue()
        return data + b"\0" * ((512 - len(data) % 512) % 512)


def build_initramfs(version, busybox="/bin/busybox"):
    """The initramfs as bytes; raises OSError when busybox or a module cannot be read."""
    c = Cpio()
    for d in ["bin", "dev", "etc", "lib", "lib/modules", "proc", "sys", "tmp", "mnt", "www"]:
        c.dir(d)
    with open(busybox, "rb") as f:
        c.file("bin/busybox", f.read(), 0o755)
    c.file("init", INIT.encode(), 0o755)
    c.file("etc/udhcpc.script", UDHCPC.encode(), 0o755)
    names = []
    for rel, path in module_order(version):
        with open(path, "rb") as f:
            c.file("lib/modules/" + os.path.basename(rel), f.read())
        names.append(os.path.basename(rel))
    c.file("modules.list", ("\n".join(names) + "\n").encode())
    return c.finish()


def static_busybox():
    """Path of a statically linked busybox, or (None, why): the initramfs has no libc."""
    for path in ["/bin/busybox", "/usr/bin/busybox"]:
        if os.path.exists(path):
            with open(path, "rb") as f:
                head = f.read(1 << 20)
            if b"/lib64/ld-linux" not in head and b"ld-linux-x86-64" not in head:
                return path, ""
    return None, "no static busybox (Debian: busybox-static)"
