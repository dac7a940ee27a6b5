// find_orphans: libvirt's domains against the server's instances and claims.
#include <gtest/gtest.h>

#include "agent/agent.h"

namespace gpucloud::agent {
namespace {

PciAddress orphan_addr(const char* text) { return PciAddress::parse(text).value(); }

compute::DomainInfo dom(const std::string& uuid, std::vector<PciAddress> devs,
                        std::string name = "") {
  compute::DomainInfo d;
  d.instance_uuid = uuid;
  d.name = name.empty() ? domain_name(uuid) : name;
  d.power = store::PowerState::kRunning;
  d.pci_devices = std::move(devs);
  return d;
}

store::Instance inst(const std::string& uuid, store::ServerStatus status) {
  store::Instance i;
  i.uuid = uuid;
  i.status = status;
  i.host = "h";
  return i;
}

store::PciDeviceRecord claim(const char* a, const std::string& uuid,
                             store::PciDeviceStatus s = store::PciDeviceStatus::kAllocated) {
  store::PciDeviceRecord r;
  r.address = orphan_addr(a);
  r.status = s;
  r.instance_uuid = uuid;
  return r;
}

TEST(FindOrphans, AgreeingViewsAreClean) {
  auto r = find_orphans(
      {dom("a", {orphan_addr("0000:0a:00.0")}), dom("b", {})},
      {inst("a", store::ServerStatus::kActive), inst("b", store::ServerStatus::kShutoff)},
      {claim("0000:0a:00.0", "a")});
  EXPECT_TRUE(r.clean());
}

TEST(FindOrphans, FindsEveryKindOfDisagreement) {
  store::PciDeviceRecord free_dev;
  free_dev.address = orphan_addr("0000:0c:00.0");
  auto r = find_orphans(
      {dom("gone", {orphan_addr("0000:0b:00.0")}),  // deleted on the server
       dom("a", {orphan_addr("0000:0c:00.0")}),     // uses a device the server thinks free
       dom("x", {orphan_addr("0000:0d:00.0")}, "someone-elses")},  // not gpucloud's
      {inst("a", store::ServerStatus::kActive), inst("lost", store::ServerStatus::kActive),
       inst("new", store::ServerStatus::kBuild), inst("old", store::ServerStatus::kDeleted)},
      {claim("0000:0a:00.0", "a"), claim("0000:0b:00.0", "gone"), claim("0000:0e:00.0", "new"),
       claim("0000:0f:00.0", "lost", store::PciDeviceStatus::kClaimed), free_dev});
  ASSERT_EQ(r.orphan_domains.size(), 1u);
  EXPECT_EQ(r.orphan_domains[0].instance_uuid, "gone");
  EXPECT_EQ(r.missing_domains, std::vector<std::string>{"lost"});
  ASSERT_EQ(r.leaked_claims.size(), 2u);  // a's 0a:00.0 (domain lacks it), lost's 0f:00.0
  EXPECT_EQ(r.leaked_claims[0].address, orphan_addr("0000:0a:00.0"));
  EXPECT_EQ(r.leaked_claims[0].instance_uuid, "a");
  EXPECT_EQ(r.leaked_claims[1].address, orphan_addr("0000:0f:00.0"));
  EXPECT_EQ(r.leaked_claims[1].instance_uuid, "lost");
  // gone's device is claimed for gone: the orphan domain is the problem, not the claim.
  ASSERT_EQ(r.unclaimed_uses.size(), 2u);
  EXPECT_EQ(r.unclaimed_uses[0].address, orphan_addr("0000:0c:00.0"));
  EXPECT_EQ(r.unclaimed_uses[0].domain, domain_name("a"));
  EXPECT_EQ(r.unclaimed_uses[1].address, orphan_addr("0000:0d:00.0"));
  EXPECT_EQ(r.unclaimed_uses[1].domain, "someone-elses");
  EXPECT_FALSE(r.clean());
}

}  // namespace
}  // namespace gpucloud::agent
