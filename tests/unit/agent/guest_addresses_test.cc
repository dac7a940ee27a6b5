// Guest addresses: which of libvirt's answers (DHCP lease, guest agent, ARP) gives the address,
// on recorded answers (tests/data/agent/addresses/recorded.json), and the libvirt query itself
// against libvirt's test:///default driver, through the driver's guest() as the agent uses it.
#include "agent/guest_addresses.h"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/agent.h"

namespace gpucloud::agent {
namespace {

using nlohmann::json;

std::string domain_xml_with(const json& nics, bool guest_agent) {
  std::string x = "<domain type='kvm'><name>t</name><devices>\n";
  for (const auto& n : nics) {
    x += "<interface type='network'><mac address='" + n["mac"].get<std::string>() +
         "'/><source network='" + n["network"].get<std::string>() +
         "' portid='1' bridge='virbr0'/><model type='virtio'/></interface>\n";
  }
  if (guest_agent) {
    x += "<channel type='unix'><source mode='bind' path='/run/x.sock'/>"
         "<target type='virtio' name='org.qemu.guest_agent.0' state='disconnected'/></channel>\n";
  }
  return x + "</devices></domain>\n";
}

Result<std::vector<InterfaceAddresses>> answer_of(const json& a) {
  if (a.is_object()) return Error::unavailable(a["error"].get<std::string>());
  std::vector<InterfaceAddresses> out;
  for (const auto& i : a) {
    out.push_back({i["name"].get<std::string>(), i["mac"].get<std::string>(),
                   i["ipv4"].get<std::vector<std::string>>()});
  }
  return out;
}

TEST(GuestAddresses, RecordedAnswers) {
  std::ifstream f(std::string(GPUCLOUD_TEST_DATA) + "/agent/addresses/recorded.json");
  std::stringstream text;
  text << f.rdbuf();
  json doc = json::parse(text.str());
  ASSERT_GE(doc["cases"].size(), 5u);
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::string xml = domain_xml_with(c["nics"], c["guest_agent"].get<bool>());
    std::vector<std::string> asked;
    auto found = find_guest_address(xml, [&](AddressSource s) {
      asked.push_back(to_string(s));
      return answer_of(c[to_string(s)]);
    });
    if (!c["guest_agent"].get<bool>()) {
      EXPECT_EQ(std::count(asked.begin(), asked.end(), "agent"), 0) << "the agent was asked";
    }
    const json& want = c["expect"];
    if (want.contains("error")) {
      ASSERT_FALSE(found.ok());
      EXPECT_EQ(found.error().message, want["error"].get<std::string>());
      EXPECT_EQ(found.error().code, ErrorCode::kNotFound);
      continue;
    }
    ASSERT_TRUE(found.ok()) << found.error().message;
    EXPECT_EQ(found->ip, want["ip"].get<std::string>());
    EXPECT_EQ(to_string(found->source), want["source"].get<std::string>());
    EXPECT_EQ(found->mac, want["mac"].get<std::string>());
    EXPECT_EQ(found->network, want["network"].get<std::string>());
  }
}

TEST(GuestAddresses, DomainNicsFromLiveXml) {
  const std::string xml =
      "<domain><devices><interface type='network'>\n  <mac address='52:54:00:AA:bb:01'/>\n"
      "  <source network='gpucloud-net' portid='x' bridge='virbr3'/>\n</interface>\n"
      "<interface type='user'><mac address='52:54:00:aa:bb:02'/></interface></devices></domain>";
  auto nics = domain_nics(xml);
  ASSERT_EQ(nics.size(), 2u);
  EXPECT_EQ(nics[0].mac, "52:54:00:aa:bb:01");
  EXPECT_EQ(nics[0].network, "gpucloud-net");
  EXPECT_EQ(nics[0].type, "network");
  EXPECT_EQ(nics[1].type, "user");
  EXPECT_EQ(nics[1].network, "");
  EXPECT_FALSE(has_guest_agent_channel(xml));
}

TEST(GuestAddresses, NoNicNoAddress) {
  auto found = find_guest_address("<domain><devices/></domain>", [](AddressSource) {
    return Result<std::vector<InterfaceAddresses>>(std::vector<InterfaceAddresses>{});
  });
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().message, "the domain has no network interface");
}

// libvirt's test driver answers every source with a made-up address for each NIC: the real
// query and the driver's guest() read it, the network named as the domain names it.
class TestDriverAddresses : public ::testing::Test {
 protected:
  void SetUp() override {
    // The test driver lacks virDomainAgentSetResponseTimeout; its error is expected, not news.
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
    conn_ = virConnectOpen("test:///default");
    ASSERT_NE(conn_, nullptr);
  }
  void TearDown() override {
    if (conn_) virConnectClose(conn_);
  }
  virConnectPtr conn_ = nullptr;
};

TEST_F(TestDriverAddresses, EverySourceOfTheBuiltInDomain) {
  virDomainPtr dom = virDomainLookupByName(conn_, "test");
  ASSERT_NE(dom, nullptr);
  auto query = libvirt_address_query(dom);
  for (AddressSource s : {AddressSource::kLease, AddressSource::kAgent, AddressSource::kArp}) {
    SCOPED_TRACE(to_string(s));
    auto answer = query(s);
    ASSERT_TRUE(answer.ok()) << answer.error().message;
    ASSERT_EQ(answer->size(), 1u);
    EXPECT_EQ(answer->front().mac, "aa:bb:cc:dd:ee:ff");
    ASSERT_EQ(answer->front().ipv4.size(), 1u);
    EXPECT_EQ(answer->front().ipv4.front(), "192.168.122.3");
  }
  char* xml = virDomainGetXMLDesc(dom, 0);
  auto found = find_guest_address(xml, query);
  free(xml);
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(found->ip, "192.168.122.3");
  EXPECT_EQ(found->source, AddressSource::kLease);
  EXPECT_EQ(found->network, "default");
  virDomainFree(dom);
}

TEST_F(TestDriverAddresses, DriverGuestHasTheAddressOfARunningGuest) {
  LibvirtOptions o;
  o.uri = "test:///default";
  o.host_name = "gpu-host-1";
  o.instances_path = "/nonexistent/gpucloud-test";
  o.domain.domain_type = "test";
  o.domain.network = "default";
  o.prepare_storage = false;
  auto d = make_libvirt_driver(o);
  ASSERT_TRUE(d.ok()) << d.error().message;
  store::Instance i;
  i.uuid = "5e1f0a2b-0000-4000-8000-00000000aaaa";
  i.name = "addr";
  i.host = "gpu-host-1";
  store::Flavor flavor;
  store::Image image;
  image.properties["hw_qemu_guest_agent"] = "yes";
  ASSERT_TRUE((*d)->spawn(i, flavor, image, {}).ok());
  auto g = (*d)->guest("gpu-host-1", i.uuid);
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->ip_address.rfind("192.168.122.", 0), 0u) << g->ip_address;
  EXPECT_EQ(g->network, "default");
  EXPECT_EQ(g->address_source, "lease");
  EXPECT_FALSE(g->mac_address.empty());
  EXPECT_EQ(*(*d)->guest_address("gpu-host-1", i.uuid), g->ip_address);
  // Stopped: no address is read.
  ASSERT_TRUE((*d)->power_off("gpu-host-1", i.uuid).ok());
  EXPECT_EQ((*d)->guest("gpu-host-1", i.uuid)->ip_address, "");
  ASSERT_TRUE((*d)->destroy("gpu-host-1", i.uuid).ok());
  EXPECT_EQ((*d)->guest("gpu-host-1", i.uuid).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace gpucloud::agent
