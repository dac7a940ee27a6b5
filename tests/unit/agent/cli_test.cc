// `gpucloud pci discover` and `gpucloud host doctor` run as the real executable on fake hosts.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "unit/agent/fake_host.h"

namespace gpucloud::agent {
namespace {

using testing::FakeHost;

struct Run {
  int status = -1;
  std::string out;
};

Run run(const std::string& args) {
  const std::string cmd = std::string(GPUCLOUD_BINARY) + " " + args + " 2>&1";
  Run r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int raw = ::pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

// The seed's nova.conf lines, in its single-quoted form.
std::string write_seed_nova_conf(const FakeHost& host) {
  const std::string path = (host.root() / "nova.conf").string();
  std::ofstream(path) << "[DEFAULT]\n"
                         "pci_alias = { 'name': 'K2_Grid', 'vendor_id': '10de', 'product_id': "
                         "'11bf' }\n"
                         "pci_passthrough_whitelist = [ { 'vendor_id': '10de', 'product_id': "
                         "'11bf' } ]\n";
  return path;
}

std::string roots_args(const FakeHost& host) {
  const HostRoots r = host.roots();
  return " --sysfs-root " + r.sysfs.string() + " --proc-root " + r.proc.string() + " --dev-root " +
         r.dev.string();
}

TEST(Cli, PciDiscoverJsonAppliesTheSeedsWhitelistAndAlias) {
  FakeHost host;
  host.add({.address = "0000:0a:00.0", .numa_node = 0, .iommu_group = 20, .driver = "vfio-pci"});
  host.add({.address = "0000:0a:00.1", .device = "0x0e0a", .cls = "0x040300", .iommu_group = 20});
  auto r = run("pci discover --format json --config " + write_seed_nova_conf(host) +
               " --sysfs-root " + host.sysfs().string());
  ASSERT_EQ(r.status, 0) << r.out;
  auto json = nlohmann::json::parse(r.out);
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json[0]["address"], "0000:0a:00.0");
  EXPECT_EQ(json[0]["product_name"], "GK104GL [GRID K2]");  // from the system's pci.ids
  EXPECT_EQ(json[0]["allowed"], true);
  EXPECT_EQ(json[0]["aliases"], nlohmann::json::array({"K2_Grid"}));
  EXPECT_EQ(json[1]["allowed"], false);
  EXPECT_TRUE(json[1]["driver"].is_null());
}

TEST(Cli, PciDiscoverTextIsATable) {
  FakeHost host;
  host.add({.address = "0000:0a:00.0", .iommu_group = 20, .driver = "vfio-pci"});
  auto r = run("pci discover --sysfs-root " + host.sysfs().string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.rfind("ADDRESS       ID         CLASS   NUMA  GROUP  DRIVER", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("0000:0a:00.0  10de:11bf  030000  -     20     vfio-pci"), std::string::npos)
      << r.out;
}

TEST(Cli, PciDiscoverFailsOnMissingSysfs) {
  FakeHost host;
  auto r = run("pci discover --sysfs-root " + (host.root() / "nope").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("cannot list"), std::string::npos) << r.out;
}

TEST(Cli, HostDoctorExitStatusSaysReadyNotReadyOrCannotTell) {
  FakeHost host;
  host.add({.address = "0000:0a:00.0", .iommu_group = 20, .driver = "vfio-pci"});
  const std::string config = " --config " + write_seed_nova_conf(host);
  auto ready = run("host doctor" + config + roots_args(host));
  EXPECT_EQ(ready.status, 0) << ready.out;
  EXPECT_NE(ready.out.find("host: ready"), std::string::npos) << ready.out;

  host.add({.address = "0000:0b:00.0", .iommu_group = 21, .driver = "nvidia"});
  auto held = run("host doctor --format json" + config + roots_args(host));
  EXPECT_EQ(held.status, 1) << held.out;
  auto json = nlohmann::json::parse(held.out);
  EXPECT_EQ(json["readiness"], "not ready");
  EXPECT_NE(held.out.find("held by the host GPU driver nvidia"), std::string::npos);

  auto unknown = run("host doctor" + config + " --sysfs-root " + (host.root() / "nope").string() +
                     " --proc-root " + host.roots().proc.string() + " --dev-root " +
                     host.roots().dev.string());
  EXPECT_EQ(unknown.status, 2) << unknown.out;
  EXPECT_NE(unknown.out.find("host: cannot tell"), std::string::npos) << unknown.out;
}

TEST(Cli, HostDoctorWithUnreadableConfigCannotTell) {
  FakeHost host;
  auto r =
      run("host doctor --config " + (host.root() / "missing.conf").string() + roots_args(host));
  EXPECT_EQ(r.status, 2) << r.out;
}

}  // namespace
}  // namespace gpucloud::agent
