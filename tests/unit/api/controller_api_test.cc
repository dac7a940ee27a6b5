// The Cloud Controller in the API: 409 before scheduling when a GPU model is used up, GPU quotas
// through the extension route and in /limits, readiness in server show, and reload of nova.conf
// while requests run.
#include <atomic>
#include <fstream>
#include <thread>

#include "compute_fixture.h"
#include "controller/controller.h"

namespace gpucloud::api::testing {
namespace {

class ControllerApiTest : public ComputeTest {
 protected:
  void customize(ServerDeps& deps, ServerOptions& options) override {
    ComputeTest::customize(deps, options);
    ini_ = (dir_ / "cloudcontroller.ini").string();
    nova_ = (dir_ / "nova.conf").string();
    std::ofstream(ini_) << "[app:main]\nopenstack.gpu_query = sqlite:///"
                        << (dir_ / "db.sqlite").string() << "\nopenstack.gpu_pci_ids = 11bf\n";
    std::filesystem::copy_file(kSeedDir + "/nova.conf", nova_);
    auto c = controller::Controller::create({ini_, {nova_}, ""});
    ASSERT_TRUE(c.ok()) << c.error().message;
    controller_ = std::move(*c);
    deps.controller = controller_.get();
  }
  void TearDown() override {
    ComputeTest::TearDown();
    controller_.reset();
  }
  httplib::Result boot_raw(const std::string& token, const std::string& flavor, int min_count) {
    json s = {{"name", "g"},
              {"flavorRef", flavor},
              {"imageRef", image_id_},
              {"min_count", min_count},
              {"availability_zone", "Denver"}};
    return post(kV + "/servers", token, json{{"server", s}}.dump());
  }
  std::string ini_, nova_;
  std::unique_ptr<controller::Controller> controller_;
};

TEST_F(ControllerApiTest, RefusesBeforeSchedulingWhenTheModelIsUsedUp) {
  seed_aggregates();
  const std::string before = snapshot();
  auto r = boot_raw(alice_, "4", 5);  // vmhost3 has four K2 GPUs
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_NE(r->body.find("11bf"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("5 asked"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("4 free"), std::string::npos) << r->body;
  EXPECT_EQ(snapshot(), before);  // no instance created, nothing claimed

  for (int k = 0; k < 4; ++k) {
    const std::string id = boot(alice_, "vm" + std::to_string(k), "4");
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  }
  auto full = boot_raw(alice_, "4", 1);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 409) << full->body;
  EXPECT_NE(full->body.find("1 asked, 0 free"), std::string::npos) << full->body;
  // A flavor without GPUs is not checked.
  EXPECT_FALSE(boot(alice_, "plain", "1").empty());
}

TEST_F(ControllerApiTest, GpuQuotasThroughTheApiAndInLimits) {
  auto demo = store_->find_project_by_name("demo", "default");
  ASSERT_TRUE(demo.ok());
  const std::string path = kV + "/gpucloud-gpu-quotas/" + demo->id;
  auto denied = put(path, alice_, R"({"gpu_quotas": {"K2_Grid": 1}})");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403);
  auto unknown = put(path, admin_, R"({"gpu_quotas": {"NoSuchAlias": 1}})");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400) << unknown->body;
  auto set = put(path, admin_, R"({"gpu_quotas": {"K2_Grid": 1}})");
  ASSERT_TRUE(set);
  ASSERT_EQ(set->status, 200) << set->body;
  EXPECT_EQ(json::parse(set->body)["gpu_quotas"]["quotas"]["K2_Grid"]["limit"], 1);

  auto limits = get_json(kV + "/limits", alice_)["limits"]["absolute"];
  EXPECT_EQ(limits["gpucloud:maxTotalGPUs:K2_Grid"], 1);
  EXPECT_EQ(limits["gpucloud:totalGPUsUsed:K2_Grid"], 0);

  seed_aggregates();
  const std::string id = boot(alice_, "one", "4");
  EXPECT_EQ(wait_built(id, alice_)["status"], "ACTIVE");
  limits = get_json(kV + "/limits", alice_)["limits"]["absolute"];
  EXPECT_EQ(limits["gpucloud:totalGPUsUsed:K2_Grid"], 1);
  // The claim enforces the quota: a second GPU server of the project fails.
  const std::string two = boot(alice_, "two", "4");
  EXPECT_EQ(wait_built(two, alice_)["status"], "ERROR");
  EXPECT_EQ(devices("allocated"), 1);

  auto del = this->del(path + "/K2_Grid", admin_);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 204);
  EXPECT_TRUE(get_json(path, admin_)["gpu_quotas"]["quotas"].empty());
  EXPECT_FALSE(get_json(kV + "/limits", alice_)["limits"]["absolute"].contains(
      "gpucloud:maxTotalGPUs:K2_Grid"));
}

TEST_F(ControllerApiTest, ServerShowHasReadiness) {
  seed_aggregates();
  const std::string id = boot(alice_, "r", "1");
  auto s = wait_built(id, alice_);
  ASSERT_TRUE(s.contains("gpucloud:readiness")) << s.dump();
  EXPECT_EQ(s["gpucloud:readiness"]["state"], "waiting");
  auto metrics = get("/metrics", admin_);
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("gpucloud_server_readiness{state=\"waiting\"} 1"), std::string::npos)
      << metrics->body;
}

TEST_F(ControllerApiTest, ReloadUnderConcurrentRequests) {
  controller_->on_reload([this](const std::shared_ptr<const controller::Settings>& s) {
    server_->set_nova_config(s->nova);
  });
  const std::string spec = kV + "/flavors/3/os-extra_specs";
  // M60 is not configured yet: the flavor API refuses the alias.
  auto before = post(spec, admin_, R"({"extra_specs": {"pci_passthrough:alias": "M60:1"}})");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 400) << before->body;

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", server_->port());
      while (!stop) {
        auto r = c.Get((kV + "/flavors/detail").c_str(), {{"X-Auth-Token", alice_}});
        (r && r->status == 200 ? ok : failed)++;
      }
    });
  }
  std::ifstream in(nova_);
  const std::string seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string m60 =
      "\n[pci]\nalias = {\"vendor_id\": \"10de\", \"product_id\": \"13f2\", \"name\": \"M60\"}\n";
  int refused = 0;
  for (int k = 0; k < 10; ++k) {
    std::ofstream(nova_) << seed << (k % 2 ? "\n[pci]\nalias = {\"product_id\": \"zz\"}\n" : m60);
    if (!controller_->reload().ok()) ++refused;
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(refused, 5);  // each invalid file refused; the last valid one (with M60) stays
  auto after = post(spec, admin_, R"({"extra_specs": {"pci_passthrough:alias": "M60:1"}})");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200) << after->body;
}

}  // namespace
}  // namespace gpucloud::api::testing
