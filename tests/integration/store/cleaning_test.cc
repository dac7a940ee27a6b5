// Cleaning between tenants, in the store: a released GPU goes to `cleaning` with a "clean" task
// for its host's agent in the same transaction, cannot be claimed meanwhile, and the agent's
// answer frees it or takes it out of service with the reason. one_time_use devices stay out.
#include <nlohmann/json.hpp>

#include "test_db.h"

namespace gpucloud::store::testing {
namespace {

using nlohmann::json;

ClaimRequest cleaning_claim(const std::string& instance, int count) {
  ClaimRequest c;
  c.instance_uuid = instance;
  c.project_id = "p1";
  c.host = "h1";
  c.resources = {2, 4096, 20};
  DeviceRequest r;
  r.alias = "K2_Grid";
  r.request_id = "req-" + instance;
  r.count = count;
  r.matches.push_back({*HexId::parse("10de"), *HexId::parse("11bf"), std::nullopt});
  c.devices.push_back(r);
  return c;
}

std::map<std::string, PciDeviceRecord> by_address(Store& s) {
  std::map<std::string, PciDeviceRecord> out;
  auto rows1 = s.list_pci_devices({});
  for (const auto& d : *rows1) out[d.address.to_string()] = d;
  return out;
}

// The answer an agent sends: per device id, clean or the reason why not.
std::string answer(const std::vector<std::tuple<int64_t, bool, std::string>>& devices) {
  json list = json::array();
  for (const auto& [id, clean, reason] : devices) {
    list.push_back({{"id", id}, {"clean", clean}, {"reason", reason}});
  }
  return json{{"devices", list}}.dump();
}

int64_t generation(Store& s) {
  auto rows2 = s.list_host_generations();
  for (const auto& g : *rows2) {
    if (g.name == "h1") return g.generation;
  }
  return -1;
}

TEST_P(StoreTest, ReleasedGpusAreCleanedBeforeTheyAreFreeAgain) {
  add_gpu_host("h1", 2);
  ASSERT_TRUE(store().claim(cleaning_claim("i1", 2)).ok());
  ASSERT_TRUE(store().allocate_claims("i1").ok());
  ASSERT_TRUE(store().release_claims("i1").ok());
  ASSERT_TRUE(store().release_claims("i1").ok());  // idempotent: no second task
  auto devs = by_address(store());
  const int64_t a = devs["0000:40:00.0"].id, b = devs["0000:41:00.0"].id;
  for (const auto& [addr, d] : devs) {
    EXPECT_EQ(d.status, PciDeviceStatus::kCleaning) << addr;
    EXPECT_FALSE(d.instance_uuid.has_value()) << addr;  // nobody holds it any more
  }
  EXPECT_EQ(store().get_compute_host("h1")->vcpus_used, 0);  // the host's resources are back

  // Not free while it is cleaned: a claim finds none.
  auto c = store().claim(cleaning_claim("i2", 1));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kConflict);

  auto tasks = store().list_agent_tasks("h1");
  ASSERT_TRUE(tasks.ok());
  ASSERT_EQ(tasks->size(), 1u);
  const AgentTask& t = tasks->front();
  EXPECT_EQ(t.kind, "clean");
  EXPECT_EQ(t.instance_uuid, "i1");
  EXPECT_EQ(t.state, AgentTaskState::kPending);
  json payload = json::parse(t.payload);
  ASSERT_EQ(payload["devices"].size(), 2u);
  EXPECT_EQ(payload["devices"][0]["id"], a);
  EXPECT_EQ(payload["devices"][0]["address"], "0000:40:00.0");
  EXPECT_EQ(payload["devices"][0]["vendor_id"], "10de");

  const int64_t before = generation(store());
  ASSERT_EQ(store().take_agent_tasks("h1", 8)->size(), 1u);
  ASSERT_TRUE(
      store()
          .finish_agent_task(t.id, "h1", true, "",
                             answer({{a, true, ""}, {b, false, "check: AER fatal errors 0 -> 2"}}))
          .ok());
  devs = by_address(store());
  EXPECT_EQ(devs["0000:40:00.0"].status, PciDeviceStatus::kAvailable);
  EXPECT_EQ(devs["0000:41:00.0"].status, PciDeviceStatus::kUnavailable);
  EXPECT_GT(generation(store()), before);  // the fleet views see the change
  auto reasons = store().pci_device_reasons();
  ASSERT_TRUE(reasons.ok());
  EXPECT_EQ(reasons->count(a), 0u);
  EXPECT_EQ(reasons->at(b), "cleaning failed: check: AER fatal errors 0 -> 2");

  // Every move is in the event log.
  int to_cleaning = 0, cleaned = 0, failed = 0;
  auto rows3 = store().list_pci_device_events("");
  for (const auto& e : *rows3) {
    if (e.to_status == PciDeviceStatus::kCleaning) ++to_cleaning;
    if (e.from_status == PciDeviceStatus::kCleaning && e.to_status == PciDeviceStatus::kAvailable)
      ++cleaned;
    if (e.from_status == PciDeviceStatus::kCleaning && e.to_status == PciDeviceStatus::kUnavailable)
      ++failed;
  }
  EXPECT_EQ(to_cleaning, 2);
  EXPECT_EQ(cleaned, 1);
  EXPECT_EQ(failed, 1);

  // An admin looks at it and returns it to service; the reason goes with it.
  ASSERT_TRUE(store().set_pci_device_available(b, true).ok());
  EXPECT_EQ(by_address(store())["0000:41:00.0"].status, PciDeviceStatus::kAvailable);
  EXPECT_EQ(store().pci_device_reasons()->count(b), 0u);
  EXPECT_TRUE(store().claim(cleaning_claim("i2", 2)).ok());
}

TEST_P(StoreTest, ACleanTaskThatFailsAsAWholeLeavesItsGpusUnavailable) {
  add_gpu_host("h1", 2);
  ASSERT_TRUE(store().claim(cleaning_claim("i1", 1)).ok());
  ASSERT_TRUE(store().release_claims("i1").ok());  // claimed only: a spawn may have had it
  auto tasks = store().take_agent_tasks("h1", 8);
  ASSERT_EQ(tasks->size(), 1u);
  ASSERT_TRUE(store()
                  .finish_agent_task(tasks->front().id, "h1", false,
                                     "scrub: the command did not finish within 600 s", "{}")
                  .ok());
  PciDeviceFilter f;
  f.status = PciDeviceStatus::kUnavailable;
  auto out = store().list_pci_devices(f);
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ(store().pci_device_reasons()->at(out->front().id),
            "cleaning failed: scrub: the command did not finish within 600 s");
  // A second answer to a finished task changes nothing.
  EXPECT_EQ(store().finish_agent_task(tasks->front().id, "h1", true, "", "{}").error().code,
            ErrorCode::kConflict);
}

TEST_P(StoreTest, AnAnswerThatLeavesADeviceOutIsNotCleanForIt) {
  add_gpu_host("h1", 2);
  ASSERT_TRUE(store().claim(cleaning_claim("i1", 2)).ok());
  ASSERT_TRUE(store().release_claims("i1").ok());
  auto devs = by_address(store());
  auto tasks = store().take_agent_tasks("h1", 8);
  ASSERT_TRUE(store()
                  .finish_agent_task(tasks->front().id, "h1", true, "",
                                     answer({{devs["0000:40:00.0"].id, true, ""}}))
                  .ok());
  devs = by_address(store());
  EXPECT_EQ(devs["0000:40:00.0"].status, PciDeviceStatus::kAvailable);
  EXPECT_EQ(devs["0000:41:00.0"].status, PciDeviceStatus::kUnavailable);
}

TEST_P(StoreTest, OneTimeUseGpuIsHeldAfterItsFirstUse) {
  add_gpu_host("h1", 2);
  // The agent reports the device spec's tags with the inventory.
  std::vector<PciDevice> seen;
  for (const auto& [addr, d] : by_address(store())) {
    PciDevice p;
    p.address = d.address;
    p.vendor_id = d.vendor_id;
    p.product_id = d.product_id;
    seen.push_back(p);
  }
  const PciAddress first = *PciAddress::parse("0000:40:00.0");
  ASSERT_TRUE(store().sync_pci_devices("h1", seen, {{first, R"({"one_time_use":"true"})"}}).ok());
  auto devs = by_address(store());
  EXPECT_EQ(json::parse(devs["0000:40:00.0"].extra_info)["one_time_use"], "true");
  EXPECT_EQ(devs["0000:41:00.0"].extra_info, "{}");

  ASSERT_TRUE(store().claim(cleaning_claim("i1", 2)).ok());
  ASSERT_TRUE(store().allocate_claims("i1").ok());
  ASSERT_TRUE(store().release_claims("i1").ok());
  auto tasks = store().take_agent_tasks("h1", 8);
  ASSERT_TRUE(store()
                  .finish_agent_task(tasks->front().id, "h1", true, "",
                                     answer({{devs["0000:40:00.0"].id, true, ""},
                                             {devs["0000:41:00.0"].id, true, ""}}))
                  .ok());
  devs = by_address(store());
  EXPECT_EQ(devs["0000:40:00.0"].status, PciDeviceStatus::kUnavailable);
  EXPECT_EQ(devs["0000:41:00.0"].status, PciDeviceStatus::kAvailable);
  const std::string why = store().pci_device_reasons()->at(devs["0000:40:00.0"].id);
  EXPECT_EQ(why.rfind("one_time_use: used once (by instance i1)", 0), 0u) << why;
  // The next inventory report keeps it out of service.
  ASSERT_TRUE(store().sync_pci_devices("h1", seen, {{first, R"({"one_time_use":"true"})"}}).ok());
  EXPECT_EQ(by_address(store())["0000:40:00.0"].status, PciDeviceStatus::kUnavailable);
}

TEST_P(StoreTest, ReleaseOfGpusNoGuestHadSkipsCleaning) {
  add_gpu_host("h1", 1);
  ASSERT_TRUE(store().claim(cleaning_claim("i1", 1)).ok());
  ASSERT_TRUE(store().release_claims("i1", false).ok());
  EXPECT_EQ(by_address(store())["0000:40:00.0"].status, PciDeviceStatus::kAvailable);
  EXPECT_TRUE(store().list_agent_tasks("h1")->empty());
}

}  // namespace
}  // namespace gpucloud::store::testing
