// The agent's guest watch: from the server's view to the guests report, probing what is not READY
// (here against the fake driver's stand-in services on loopback addresses).
#include "agent/guest_watch.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gpucloud::agent {
namespace {

using nlohmann::json;

std::unique_ptr<compute::ComputeDriver> fake_host() {
  auto d = compute::make_fake_driver(R"({"hosts": [{"name": "kvm1", "vcpus": 4,
      "memory_mb": 4096, "disk_gb": 10, "guest_network": "127.0.88.0/24"}]})");
  EXPECT_TRUE(d.ok());
  return d.ok() ? std::move(*d) : nullptr;
}

void spawn(compute::ComputeDriver& d, const std::string& uuid, const std::string& service_url,
           bool down = false) {
  store::Instance i;
  i.uuid = uuid;
  i.name = uuid;
  i.host = "kvm1";
  if (down) i.metadata["gpucloud_fake_service"] = "down";
  store::Image image;
  if (!service_url.empty()) image.properties["service_url"] = service_url;
  ASSERT_TRUE(d.spawn(i, {}, image, {}).ok());
}

TEST(GuestWatch, ViewWithoutProbeSettingsMeansNoProbes) {
  auto v = parse_guest_watch_view(
      R"({"instances": [{"uuid": "a", "status": "ACTIVE"}], "pci_devices": []})");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->probe);
  ASSERT_EQ(v->guests.size(), 1u);
  EXPECT_EQ(v->guests[0].readiness, "waiting");
  EXPECT_FALSE(parse_guest_watch_view("[]").ok());
}

TEST(GuestWatch, ReportsAddressesAndProbesWhatIsNotReady) {
  auto driver = fake_host();
  spawn(*driver, "web", "http://{}:8080/");
  spawn(*driver, "broken", "http://{}:8080/", /*down=*/true);
  spawn(*driver, "done", "");
  spawn(*driver, "building", "");
  auto view = parse_guest_watch_view(json{
      {"instances",
       {{{"uuid", "web"},
         {"status", "ACTIVE"},
         {"readiness", "waiting"},
         {"service_url", "http://{}:8080/"}},
        {{"uuid", "broken"},
         {"status", "ACTIVE"},
         {"readiness", "waiting"},
         {"service_url", "http://{}:8080/"}},
        {{"uuid", "done"}, {"status", "ACTIVE"}, {"readiness", "ready"}, {"service_url", nullptr}},
        {{"uuid", "building"}, {"status", "BUILD"}, {"readiness", "waiting"}},
        {{"uuid", "gone"}, {"status", "ACTIVE"}, {"readiness", "waiting"}}}},
      {"probe", {{"ssh_port", 22}, {"probe_timeout_ms", 2000}, {"interval_ms", 500}}}}
                                         .dump());
  ASSERT_TRUE(view.ok()) << view.error().message;
  EXPECT_EQ(view->interval, std::chrono::milliseconds(500));
  json report = json::parse(guest_report(*driver, "kvm1", *view));
  std::map<std::string, json> by_uuid;
  for (const auto& g : report["guests"]) by_uuid[g["instance_uuid"].get<std::string>()] = g;
  // BUILD is not watched; a guest without a domain is the orphan check's business.
  EXPECT_EQ(by_uuid.size(), 3u) << report.dump();
  EXPECT_EQ(by_uuid["web"]["ip_address"], "127.0.88.2");
  EXPECT_EQ(by_uuid["web"]["address_source"], "fake");
  EXPECT_EQ(by_uuid["web"]["probe"]["ok"], true) << by_uuid["web"].dump();
  EXPECT_EQ(by_uuid["broken"]["probe"]["ok"], false);
  EXPECT_NE(by_uuid["broken"]["probe"]["error"].get<std::string>().find("HTTP 503"),
            std::string::npos)
      << by_uuid["broken"].dump();
  EXPECT_FALSE(by_uuid["done"].contains("probe"));  // READY: only the address is reported
  EXPECT_TRUE(by_uuid["done"].contains("ip_address"));
}

}  // namespace
}  // namespace gpucloud::agent

namespace gpucloud::agent {
namespace {

// Firewalls from the view are set when they change, only then, and a malformed one for one guest
// leaves the others alone.
TEST(GuestWatch, SetsEachGuestsFirewallWhenItChanges) {
  auto driver = fake_host();
  json view = {
      {"instances",
       {{{"uuid", "a"},
         {"status", "ACTIVE"},
         {"firewall",
          {{"ingress",
            {{{"protocol", "tcp"}, {"from_port", 22}, {"to_port", 22}, {"cidr", "0.0.0.0/0"}}}}}}},
        {{"uuid", "b"}, {"status", "ACTIVE"}, {"firewall", nullptr}},
        {{"uuid", "c"},
         {"status", "ACTIVE"},
         {"firewall", {{"ingress", {{{"protocol", "gre"}, {"cidr", "0.0.0.0/0"}}}}}}}}}};
  auto v = parse_guest_watch_view(view.dump());
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->guests.size(), 3u);
  EXPECT_TRUE(v->guests[0].firewall.has_value());
  EXPECT_FALSE(v->guests[1].firewall.has_value());  // unmanaged
  EXPECT_FALSE(v->guests[2].firewall.has_value());  // malformed: left as it is
  std::map<std::string, compute::Firewall> applied;
  EXPECT_EQ(apply_firewalls(*driver, "kvm1", *v, applied), 1);
  auto held = driver->firewall("kvm1", "a");
  ASSERT_TRUE(held.ok() && held->has_value());
  EXPECT_EQ((*held)->ingress.size(), 1u);
  EXPECT_FALSE(driver->firewall("kvm1", "b")->has_value());
  // Unchanged: nothing is set again.
  EXPECT_EQ(apply_firewalls(*driver, "kvm1", *v, applied), 0);
  // A changed firewall is set; a guest gone from the view is forgotten.
  view["instances"][0]["firewall"]["ingress"] = json::array();
  view["instances"].erase(1);
  v = parse_guest_watch_view(view.dump());
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(apply_firewalls(*driver, "kvm1", *v, applied), 1);
  EXPECT_TRUE((*driver->firewall("kvm1", "a"))->ingress.empty());
  EXPECT_EQ(applied.size(), 1u);
  // After an agent restart (nothing remembered) every firewall is set once.
  applied.clear();
  EXPECT_EQ(apply_firewalls(*driver, "kvm1", *v, applied), 1);
}

}  // namespace
}  // namespace gpucloud::agent
