// The fleet view against a real SQLite file: it sees another replica's claims and host changes
// through the generations, reserves its own choices at once, and counts devices as the
// admission check's GROUP BY would. The conductor end to end is tested through the API
// (tests/unit/api) and with real processes (tests/integration/conductor).
#include "conductor/fleet_view.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "conductor/conductor.h"
#include "config/config.h"

namespace gpucloud::conductor {
namespace {

namespace fs = std::filesystem;

class FleetViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("gpucloud-fleet-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    url_ = "sqlite:///" + (dir_ / "db.sqlite").string();
    auto s = store::open_store(url_);
    ASSERT_TRUE(s.ok()) << s.error().message;
    a_ = std::move(*s);
    auto t = store::open_store(url_);  // another replica's connection
    ASSERT_TRUE(t.ok());
    b_ = std::move(*t);
    for (const char* name : {"h1", "h2"}) add_host(name, 2);
    const char* nova =
        "[pci]\nalias = {\"name\": \"K2\", \"vendor_id\": \"10de\", \"product_id\": \"11bf\"}\n"
        "[filter_scheduler]\nenabled_filters = ComputeFilter,PciPassthroughFilter\n";
    cfg_ = config::load_nova_config({config::IniFile::parse(nova, "test nova.conf")});
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    fs::remove_all(dir_);
  }

  void add_host(const std::string& name, int gpus) {
    store::ComputeHost h;
    h.name = name;
    h.vcpus = 16;
    h.memory_mb = 65536;
    h.disk_gb = 1000;
    ASSERT_TRUE(a_->upsert_compute_host(h).ok());
    ASSERT_TRUE(a_->record_heartbeat(name, std::chrono::system_clock::now()).ok());
    std::vector<PciDevice> devs;
    for (int g = 0; g < gpus; ++g) {
      PciDevice d;
      d.address = *PciAddress::parse("0000:0" + std::to_string(g + 1) + ":00.0");
      d.vendor_id = *HexId::parse("10de");
      d.product_id = *HexId::parse("11bf");
      devs.push_back(d);
    }
    ASSERT_TRUE(a_->sync_pci_devices(name, devs).ok());
  }

  store::ClaimRequest gpu_claim(const std::string& instance, const std::string& host) {
    store::ClaimRequest c;
    c.instance_uuid = instance;
    c.project_id = "p";
    c.host = host;
    c.resources = {1, 512, 1};
    store::DeviceRequest r;
    r.alias = "K2";
    r.request_id = instance + "-r";
    r.matches.push_back({*HexId::parse("10de"), *HexId::parse("11bf"), std::nullopt});
    c.devices.push_back(r);
    return c;
  }

  int free_k2(const FleetView& v) {
    int n = 0;
    for (const auto& c : v.device_counts({})) {
      if (c.status == store::PciDeviceStatus::kAvailable) n += static_cast<int>(c.count);
    }
    return n;
  }

  scheduler::RequestSpec one_gpu() {
    scheduler::FlavorSpec f;
    f.name = "gpu";
    f.extra_specs = {{"pci_passthrough:alias", "K2:1"}};
    return *scheduler::make_request_spec(f, {}, "", 1, cfg_.aliases);
  }

  fs::path dir_;
  std::string url_;
  std::unique_ptr<store::Store> a_, b_;
  config::NovaConfig cfg_;
};

TEST_F(FleetViewTest, SeesAnotherReplicasClaimAtTheNextRefreshAndOnlyRereadsThatHost) {
  FleetView view(*a_, {}, std::chrono::seconds(60));
  ASSERT_TRUE(view.load().ok());
  EXPECT_EQ(view.size(), 2u);
  EXPECT_EQ(free_k2(view), 4);
  ASSERT_TRUE(b_->claim(gpu_claim("other", "h2")).ok());  // the other replica
  EXPECT_EQ(free_k2(view), 4);                            // a cache until refreshed
  auto n = view.refresh();
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 1);  // h2 only
  EXPECT_EQ(free_k2(view), 3);
  EXPECT_EQ(*view.refresh(), 0);  // nothing moved since
}

TEST_F(FleetViewTest, ANewHostAndADisabledHostReachTheViewAtTheNextRefresh) {
  FleetView view(*a_, {}, std::chrono::seconds(60));
  ASSERT_TRUE(view.load().ok());
  add_host("h3", 2);
  ASSERT_TRUE(view.refresh().ok());
  EXPECT_EQ(view.size(), 3u);
  EXPECT_EQ(free_k2(view), 6);
  auto sched = scheduler::Scheduler::create(scheduler::options_from(cfg_));
  ASSERT_TRUE(sched.ok());
  for (const char* h : {"h1", "h2", "h3"}) {
    ASSERT_TRUE(b_->set_compute_host_enabled(h, false, "maintenance").ok());
  }
  // Changes through another process arrive by the refresh; select() refreshes first only for
  // this process's own changes (the topology version), so refresh explicitly here.
  ASSERT_TRUE(view.refresh().ok());
  auto sel = view.select(*sched, one_gpu());
  EXPECT_FALSE(sel.ok());
  EXPECT_NE(sel.fault.find("maintenance"), std::string::npos) << sel.fault;
}

TEST_F(FleetViewTest, ThisProcesssHostChangesApplyToTheNextSelection) {
  FleetView view(*a_, {}, std::chrono::seconds(60));
  ASSERT_TRUE(view.load().ok());
  auto sched = scheduler::Scheduler::create(scheduler::options_from(cfg_));
  ASSERT_TRUE(a_->set_compute_host_enabled("h1", false, "maintenance").ok());
  ASSERT_TRUE(a_->set_compute_host_enabled("h2", false, "maintenance").ok());
  EXPECT_FALSE(view.select(*sched, one_gpu()).ok());  // no explicit refresh needed
}

TEST_F(FleetViewTest, SelectReservesItsChoiceSoConcurrentBootsSpread) {
  FleetView view(*a_, {}, std::chrono::seconds(60));
  ASSERT_TRUE(view.load().ok());
  auto sched = scheduler::Scheduler::create(scheduler::options_from(cfg_));
  std::map<std::string, int> per_host;
  for (int i = 0; i < 4; ++i) {
    auto sel = view.select(*sched, one_gpu());
    ASSERT_TRUE(sel.ok()) << sel.fault;
    ++per_host[sel.candidates.front().front().host];
  }
  EXPECT_EQ(per_host, (std::map<std::string, int>{{"h1", 2}, {"h2", 2}}));
  EXPECT_EQ(free_k2(view), 0);
  EXPECT_FALSE(view.select(*sched, one_gpu()).ok());  // all four taken in the view
  // Nothing was claimed in the database: forgetting the hosts and refreshing restores the truth.
  view.forget("h1");
  view.forget("h2");
  ASSERT_TRUE(view.refresh().ok());
  EXPECT_EQ(free_k2(view), 4);
}

TEST_F(FleetViewTest, HeartbeatsAgeWithoutAWrite) {
  FleetView view(*a_, {}, std::chrono::seconds(60));
  ASSERT_TRUE(
      a_->record_heartbeat("h1", std::chrono::system_clock::now() - std::chrono::seconds(120))
          .ok());
  ASSERT_TRUE(
      a_->record_heartbeat("h2", std::chrono::system_clock::now() - std::chrono::seconds(120))
          .ok());
  ASSERT_TRUE(view.load().ok());
  auto sched = scheduler::Scheduler::create(scheduler::options_from(cfg_));
  EXPECT_FALSE(view.select(*sched, one_gpu()).ok());  // both down
  ASSERT_TRUE(b_->record_heartbeat("h2", std::chrono::system_clock::now()).ok());
  ASSERT_TRUE(view.refresh().ok());  // a heartbeat bumps no generation: liveness is re-derived
  auto sel = view.select(*sched, one_gpu());
  ASSERT_TRUE(sel.ok()) << sel.fault;
  EXPECT_EQ(sel.candidates.front().front().host, "h2");
}

}  // namespace
}  // namespace gpucloud::conductor
