// A real guest: the libvirt driver defines and starts a domain it generated (no GPU, SPICE +
// qxl, a qcow2 overlay on a tiny base image, the config drive) under libvirtd with QEMU/KVM,
// checks that QEMU runs it, and removes it. No bootable image is needed: QEMU running the
// domain is what is checked. Skips, saying why, without /dev/kvm or a usable libvirtd.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "agent/agent.h"
#include "agent/libvirt_command.h"
#include "agent/nwfilter_xml.h"

namespace gpucloud::agent {
namespace {

const char* kUri = "qemu:///system";

// True when a daemon accepts connections on the unix socket at `path`. A socket file alone
// proves nothing: a daemon that died (or was started by the package's install scripts and
// then stopped) leaves it behind, and libvirtd then fails every domain start.
bool socket_answers(const char* path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

bool can_connect() {
  virConnectPtr c = virConnectOpen(kUri);
  if (!c) return false;
  virConnectClose(c);
  return true;
}

// Why no libvirtd answers at kUri, or "" when one does. Starts virtlogd and libvirtd when they
// are installed but not running (containers without systemd).
std::string libvirtd_reason() {
  if (geteuid() != 0) return "needs root (qemu:///system)";
  virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
  // libvirtd hands QEMU's output to virtlogd; without systemd nothing socket-activates it.
  const char* logd_sock = "/run/libvirt/virtlogd-sock";
  if (!socket_answers(logd_sock)) {
    std::error_code ignored;
    std::filesystem::remove(logd_sock, ignored);  // stale: its daemon is gone
    auto logd = run_command({"virtlogd", "--daemon"});
    if (!logd.ok()) return "virtlogd cannot be started: " + logd.error().message;
    for (int i = 0; i < 50 && !socket_answers(logd_sock); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!socket_answers(logd_sock))
      return "virtlogd started but does not answer on " + std::string(logd_sock);
  }
  if (can_connect()) return "";
  auto started = run_command({"libvirtd", "--daemon"});
  if (!started.ok())
    return "no libvirtd at " + std::string(kUri) +
           " and none can be started: " + started.error().message;
  for (int i = 0; i < 50; ++i) {
    if (can_connect()) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const char* m = virGetLastErrorMessage();
  return "cannot connect to " + std::string(kUri) + ": " + (m ? m : "?");
}

// Why this host cannot run a guest, or "" when it can.
std::string unusable_reason() {
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("/dev/kvm cannot be opened: ") + strerror(errno);
  close(fd);
  for (const char* tool : {"qemu-img", "genisoimage", "qemu-system-x86_64"}) {
    if (!run_command({tool, "--version"}).ok()) {
      return std::string(tool) + " is not installed (scripts/setup.sh installs it)";
    }
  }
  return libvirtd_reason();
}

// A QEMU process whose command line names the guest (-name guest=<name>,...).
bool qemu_runs(const std::string& domain) {
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream f(e.path() / "cmdline");
    std::stringstream s;
    s << f.rdbuf();
    std::string cmd = s.str();
    if (cmd.find("qemu-system") != std::string::npos &&
        cmd.find("guest=" + domain) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// Spawns a guest through the driver, checks QEMU runs it as defined, destroys it.
void run_guest(const std::map<std::string, std::string>& image_props, bool spice,
               const std::string& graphics, const std::string& video, bool may_pause = false) {
  char tmpl[] = "/var/tmp/gpucloud-vm-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  chmod(root.c_str(), 0755);  // QEMU runs as libvirt-qemu and must reach the disks
  std::string base = root + "/base.raw";
  ASSERT_TRUE(run_checked({"qemu-img", "create", "-q", "-f", "raw", base, "16M"}).ok());

  LibvirtOptions o;
  o.uri = kUri;
  o.host_name = "kvm-host";
  o.instances_path = root + "/instances";
  o.domain.domain_type = "kvm";
  o.domain.spice_enabled = spice;
  // QEMU's default CPU: host-model/host-passthrough copy MSRs (arch-capabilities) that nested
  // hosts (CI machines are VMs) refuse, and the CPU model is not what this test is about.
  o.domain.cpu_mode = "";
  o.domain.network = "";  // no NIC: the default network may not be active here
  auto driver = make_libvirt_driver(o);
  ASSERT_TRUE(driver.ok()) << driver.error().message;

  store::Instance inst;
  inst.uuid = "0c0ffee0-7e57-4a11-8b00-" + std::to_string(100000000000 + getpid() % 100000);
  inst.name = "vm-test";
  inst.host = "kvm-host";
  inst.user_data = "I2Nsb3VkLWNvbmZpZwp7fQo=";  // "#cloud-config\n{}\n"
  store::Flavor flavor;
  flavor.vcpus = 1;
  flavor.memory_mb = 256;
  store::Image image;
  image.id = "base";
  image.location = base;
  image.disk_format = "raw";
  image.properties = image_props;

  auto s = (*driver)->spawn(inst, flavor, image, {});
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto doms = (*driver)->list_domains("kvm-host");
  ASSERT_TRUE(doms.ok());
  int power = -1;
  for (const auto& d : *doms) {
    if (d.instance_uuid == inst.uuid) power = static_cast<int>(d.power);
  }
  if (may_pause && power == static_cast<int>(store::PowerState::kPaused)) {
    // QEMU pauses a guest on "KVM internal error" (nested KVM failing to emulate OVMF's early
    // code): QEMU runs the domain as defined, the host's KVM cannot run the firmware.
    std::cout << "note: the guest is paused (see /var/log/libvirt/qemu/" << domain_name(inst.uuid)
              << ".log)\n";
  } else {
    EXPECT_EQ(power, static_cast<int>(store::PowerState::kRunning));
  }
  EXPECT_TRUE(qemu_runs(domain_name(inst.uuid)));
  // The live definition: SPICE got a port from libvirt, QEMU has the qxl card and the cdrom.
  virConnectPtr conn = virConnectOpen(kUri);
  ASSERT_NE(conn, nullptr);
  virDomainPtr dom = virDomainLookupByUUIDString(conn, inst.uuid.c_str());
  ASSERT_NE(dom, nullptr);
  char* live = virDomainGetXMLDesc(dom, 0);
  ASSERT_NE(live, nullptr);
  std::string xml = live;
  free(live);
  virDomainFree(dom);
  virConnectClose(conn);
  EXPECT_NE(xml.find("<graphics type='" + graphics + "' port='59"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<model type='" + video + "'"), std::string::npos) << xml;
  EXPECT_NE(xml.find("disk.config'"), std::string::npos) << xml;
  EXPECT_TRUE(std::filesystem::exists(o.instances_path + "/" + inst.uuid + "/disk.config"));

  ASSERT_TRUE((*driver)->destroy("kvm-host", inst.uuid).ok());
  doms = (*driver)->list_domains("kvm-host");
  ASSERT_TRUE(doms.ok());
  for (const auto& d : *doms) EXPECT_NE(d.instance_uuid, inst.uuid);
  EXPECT_FALSE(qemu_runs(domain_name(inst.uuid)));
  std::filesystem::remove_all(root);
}

// A guest's firewall on the real nwfilter driver: defined under the guest's name, redefined in
// place when it changes, removed with the guest.
TEST(LibvirtVm, FirewallIsAnNwfilterRemovedWithTheGuest) {
  std::string why = libvirtd_reason();
  if (!why.empty()) GTEST_SKIP() << "skipped: " << why;
  LibvirtOptions o;
  o.uri = kUri;
  o.host_name = "kvm-host";
  o.instances_path = "/nonexistent/gpucloud-fw";
  o.prepare_storage = false;
  auto driver = make_libvirt_driver(o);
  ASSERT_TRUE(driver.ok()) << driver.error().message;
  const std::string uuid = "0c0ffee0-f1e0-4a11-8b00-" + std::to_string(100000000000 + getpid());
  const std::string name = "gpucloud-" + uuid;
  auto dump = [&] {
    virConnectPtr conn = virConnectOpen(kUri);
    std::string xml;
    if (virNWFilterPtr f = virNWFilterLookupByName(conn, name.c_str())) {
      char* x = virNWFilterGetXMLDesc(f, 0);
      xml = x ? x : "";
      free(x);
      virNWFilterFree(f);
    }
    virConnectClose(conn);
    return xml;
  };
  compute::Firewall fw;
  fw.ingress = {{"tcp", 22, 22, "0.0.0.0/0"}};
  auto s = (*driver)->apply_firewall("kvm-host", uuid, fw);
  if (!s.ok() && s.error().code == ErrorCode::kNotImplemented) {
    GTEST_SKIP() << "libvirtd has no nwfilter driver: " << s.error().message;
  }
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_NE(dump().find("dstportstart='22'"), std::string::npos) << dump();
  // firewall() reads the rules back from what libvirt keeps.
  auto held = (*driver)->firewall("kvm-host", uuid);
  ASSERT_TRUE(held.ok()) << held.error().message;
  EXPECT_EQ(held->value_or(compute::Firewall{}), fw);
  fw.ingress = {{"udp", 53, 53, "10.0.0.0/8"}};
  s = (*driver)->apply_firewall("kvm-host", uuid, fw);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(dump().find("dstportstart='22'"), std::string::npos) << dump();
  EXPECT_NE(dump().find("<udp srcipaddr='10.0.0.0' srcipmask='8'"), std::string::npos) << dump();
  EXPECT_EQ((*driver)->firewall("kvm-host", uuid)->value_or(compute::Firewall{}), fw);
  ASSERT_TRUE((*driver)->destroy("kvm-host", uuid).ok());
  EXPECT_EQ(dump(), "");
  auto gone = (*driver)->firewall("kvm-host", uuid);
  ASSERT_TRUE(gone.ok()) << gone.error().message;
  EXPECT_FALSE(gone->has_value());
  // The guest watch's change of a guest that is gone (a pass racing the destroy) defines
  // nothing: no filter outlives its guest.
  s = (*driver)->update_firewall("kvm-host", uuid, fw);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(dump(), "");
}

// The firewall enforced, without QEMU: the "guest" is a network namespace whose veth is on a
// bridge, and libvirt instantiates gpucloud's filter on that veth through a filter binding (as it
// does on a guest's tap). Another namespace on the bridge is kept out of the guest's port 80
// until a rule lets it in; the guest's own connections are answered (connection tracking).
TEST(LibvirtVm, FirewallKeepsOthersOutUntilARuleLetsThemIn) {
  std::string why = libvirtd_reason();
  if (!why.empty()) GTEST_SKIP() << "skipped: " << why;
  const std::string p = "gcf" + std::to_string(getpid() % 100000);
  const std::string bridge = p + "br", guest_ns = p + "g", other_ns = p + "o";
  auto sh = [](const std::string& cmd) {
    auto r = run_command({"sh", "-c", cmd}, std::chrono::seconds(20));
    return r.ok() && r->exit_code == 0;
  };
  struct Cleanup {
    std::function<void()> f;
    ~Cleanup() { f(); }
  } cleanup{[&] {
    sh("virsh -c qemu:///system nwfilter-binding-delete " + p + "ga >/dev/null 2>&1");
    for (const auto& ns : {guest_ns, other_ns}) {
      sh("ip netns pids " + ns + " 2>/dev/null | xargs -r kill; ip netns del " + ns +
         " 2>/dev/null");
    }
    sh("ip link del " + p + "ga 2>/dev/null; ip link del " + p + "oa 2>/dev/null; ip link del " +
       bridge + " 2>/dev/null");
  }};
  const std::string setup =
      "set -e; ip link add " + bridge + " type bridge; ip link set " + bridge + " up; " +
      "for n in g o; do ip netns add " + p + "$n; ip link add " + p + "${n}a type veth peer name " +
      p + "${n}b; ip link set " + p + "${n}b netns " + p + "$n; ip link set " + p +
      "${n}a master " + bridge + "; ip link set " + p + "${n}a up; ip -n " + p +
      "$n link set lo up; ip -n " + p + "$n link set " + p + "${n}b up; done; ip -n " + guest_ns +
      " addr add 10.250.7.2/24 dev " + p + "gb; ip -n " + other_ns +
      " addr add 10.250.7.3/24 dev " + p + "ob";
  if (!sh(setup)) GTEST_SKIP() << "no network namespaces and bridges here";
  auto serve = [&](const std::string& ns, const std::string& addr, int port) {
    return sh("ip netns exec " + ns + " sh -c 'timeout 120 python3 -m http.server " +
              std::to_string(port) + " --bind " + addr + " >/dev/null 2>&1 &'");
  };
  auto connects = [&](const std::string& ns, const std::string& addr, int port) {
    return sh("ip netns exec " + ns + " python3 -c \"import socket; socket.create_connection(('" +
              addr + "', " + std::to_string(port) + "), timeout=2).close()\" 2>/dev/null");
  };
  auto eventually = [&](auto cond) {
    for (int i = 0; i < 40; ++i) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return false;
  };
  ASSERT_TRUE(serve(guest_ns, "10.250.7.2", 80));
  ASSERT_TRUE(serve(other_ns, "10.250.7.3", 8080));
  ASSERT_TRUE(eventually([&] { return connects(other_ns, "10.250.7.2", 80); }))
      << "the path works before any filter";

  LibvirtOptions o;
  o.uri = kUri;
  o.host_name = "kvm-host";
  o.instances_path = "/nonexistent/gpucloud-fw";
  o.prepare_storage = false;
  auto driver = make_libvirt_driver(o);
  ASSERT_TRUE(driver.ok()) << driver.error().message;
  const std::string uuid = "0c0ffee0-f1e0-4a11-8b01-" + std::to_string(100000000000 + getpid());
  auto s = (*driver)->apply_firewall("kvm-host", uuid, compute::Firewall{});
  if (!s.ok() && s.error().code == ErrorCode::kNotImplemented) {
    GTEST_SKIP() << "libvirtd has no nwfilter driver: " << s.error().message;
  }
  ASSERT_TRUE(s.ok()) << s.error().message;
  std::string mac;
  {
    auto r =
        run_command({"sh", "-c",
                     "cat /sys/class/net/" + p + "gb/address 2>/dev/null || ip -n " + guest_ns +
                         " -o link show " + p + "gb | sed 's/.*link.ether \\([^ ]*\\).*/\\1/'"});
    ASSERT_TRUE(r.ok());
    mac = r->output.substr(0, r->output.find('\n'));
  }
  virConnectPtr conn = virConnectOpen(kUri);
  ASSERT_NE(conn, nullptr);
  const std::string binding = "<filterbinding><owner><name>" + p + "</name><uuid>" + uuid +
                              "</uuid></owner><portdev name='" + p + "ga'/><mac address='" + mac +
                              "'/><filterref filter='gpucloud-" + uuid + "'/></filterbinding>";
  virNWFilterBindingPtr b = virNWFilterBindingCreateXML(conn, binding.c_str(), 0);
  ASSERT_NE(b, nullptr) << virGetLastErrorMessage();

  EXPECT_TRUE(eventually([&] { return !connects(other_ns, "10.250.7.2", 80); }))
      << "no rule: port 80 is closed to the other machine";
  EXPECT_TRUE(connects(guest_ns, "10.250.7.3", 8080))
      << "the guest's own connection is answered (the reply comes back in)";
  // The host is not exempt: its SYN leaves through OUTPUT, unfiltered, but the guest's answer
  // enters the host through INPUT, where libvirt's HI-<port> chain lets only replies to the
  // guest's own connections and to accepted rules back. So the agent's probes of a guest need a
  // rule of their own (the host's address on the guest network).
  // That rule is what the driver writes for the host's addresses on --libvirt-network
  // (nwfilter_xml's host_addresses); this bridge is no libvirt network, so it is written here.
  if (sh("ip addr add 10.250.7.1/24 dev " + bridge)) {
    auto host_connects = [&] {
      return sh(
          "python3 -c \"import socket; socket.create_connection(('10.250.7.2', 80), "
          "timeout=2).close()\" 2>/dev/null");
    };
    EXPECT_FALSE(host_connects()) << "the host reached the guest's port 80 with no rule";
    virNWFilterPtr f = virNWFilterLookupByName(conn, ("gpucloud-" + uuid).c_str());
    ASSERT_NE(f, nullptr) << virGetLastErrorMessage();
    char filter_uuid[VIR_UUID_STRING_BUFLEN];
    ASSERT_EQ(virNWFilterGetUUIDString(f, filter_uuid), 0);
    virNWFilterFree(f);
    const std::string xml = nwfilter_xml(uuid, compute::Firewall{}, filter_uuid, {"10.250.7.1"});
    f = virNWFilterDefineXML(conn, xml.c_str());
    ASSERT_NE(f, nullptr) << virGetLastErrorMessage();
    virNWFilterFree(f);
    EXPECT_TRUE(eventually(host_connects)) << "the host's own address is let in";
    EXPECT_FALSE(connects(other_ns, "10.250.7.2", 80)) << "and nobody else";
  }

  compute::Firewall web;
  web.ingress = {{"tcp", 80, 80, "10.250.7.0/24"}};
  ASSERT_TRUE((*driver)->apply_firewall("kvm-host", uuid, web).ok());
  EXPECT_TRUE(eventually([&] { return connects(other_ns, "10.250.7.2", 80); }))
      << "a rule for tcp 80 from the subnet lets it in (the filter redefined in place)";

  compute::Firewall elsewhere;
  elsewhere.ingress = {{"tcp", 80, 80, "192.0.2.0/24"}};
  ASSERT_TRUE((*driver)->apply_firewall("kvm-host", uuid, elsewhere).ok());
  EXPECT_TRUE(eventually([&] { return !connects(other_ns, "10.250.7.2", 80); }))
      << "a rule for another source network does not";

  virNWFilterBindingDelete(b);
  virNWFilterBindingFree(b);
  virConnectClose(conn);
  ASSERT_TRUE((*driver)->destroy("kvm-host", uuid).ok());
}

TEST(LibvirtVm, QemuRunsASpiceQxlGuest) {
  std::string why = unusable_reason();
  if (!why.empty()) GTEST_SKIP() << "skipped: " << why;
  run_guest({{"hw_video_model", "qxl"}}, true, "spice", "qxl");
}

// q35 with OVMF from Debian's ovmf package: the firmware paths and the per-guest NVRAM work.
TEST(LibvirtVm, QemuRunsAQ35UefiGuest) {
  std::string why = unusable_reason();
  if (!why.empty()) GTEST_SKIP() << "skipped: " << why;
  run_guest({{"hw_machine_type", "q35"}, {"hw_firmware_type", "uefi"}}, false, "vnc", "virtio",
            true);
}

// The golden domains (GPUs included) pass the QEMU driver's own validation, which is stricter
// than the RNG schema (reserved fw_cfg names, controller and address rules). Defined, not
// started: the GPUs are not on this host.
TEST(LibvirtVm, GoldenDomainsDefine) {
  std::string why = unusable_reason();
  if (!why.empty()) GTEST_SKIP() << "skipped: " << why;
  virConnectPtr conn = virConnectOpen(kUri);
  ASSERT_NE(conn, nullptr);
  int n = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(GPUCLOUD_TEST_DATA) + "/agent/domains")) {
    if (e.path().extension() != ".xml") continue;
    std::ifstream f(e.path());
    std::stringstream text;
    text << f.rdbuf();
    virDomainPtr dom = virDomainDefineXML(conn, text.str().c_str());
    const char* err = dom ? "" : virGetLastErrorMessage();
    EXPECT_NE(dom, nullptr) << e.path() << ": " << (err ? err : "?");
    if (dom) {
      virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM);
      virDomainFree(dom);
    }
    ++n;
  }
  EXPECT_GE(n, 4);
  virConnectClose(conn);
}

}  // namespace
}  // namespace gpucloud::agent
