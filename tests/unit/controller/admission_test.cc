// Counting GPUs on a nova-shaped pci_devices table and the admission decision.
#include <gtest/gtest.h>

#include "controller/controller.h"
#include "controller_test_util.h"

namespace gpucloud::controller {
namespace {

ProductId pid(const char* s) { return *HexId::parse(s); }
std::vector<ProductId> configured() { return {pid("0ff2"), pid("11bf"), pid("13f2")}; }

class NovaTable : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir();
    db_ = testing::nova_sqlite(dir_);
    ASSERT_FALSE(db_.empty()) << "sqlite3 failed";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, db_;
};

TEST_F(NovaTable, CountsLiveDevicesPerProductAndNode) {
  auto url = DatabaseUrl::parse("sqlite:///" + db_);
  ASSERT_TRUE(url.ok());
  auto r = read_gpu_report(*url, configured());
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->products.size(), 3u);
  const ProductGpus* k2 = r->find(pid("11bf"));
  ASSERT_NE(k2, nullptr);
  EXPECT_EQ(k2->count.free, 3);
  EXPECT_EQ(k2->count.in_use, 2);
  EXPECT_EQ(k2->count.unavailable, 1);  // removed and soft-deleted rows are not counted
  ASSERT_EQ(k2->by_compute_node.size(), 2u);
  EXPECT_EQ(k2->by_compute_node.at(1).free, 2);
  EXPECT_EQ(k2->by_compute_node.at(1).in_use, 2);
  EXPECT_EQ(k2->by_compute_node.at(2).free, 1);
  EXPECT_EQ(k2->by_compute_node.at(2).unavailable, 1);
  const ProductGpus* m60 = r->find(pid("13f2"));
  EXPECT_EQ(m60->count.free, 0);  // node 3's free one is soft-deleted
  EXPECT_EQ(m60->count.in_use, 2);
  EXPECT_EQ(r->find(pid("0ff2"))->count.total(), 0);
  EXPECT_EQ(r->find(pid("10ed")), nullptr);  // not a configured model
}

TEST_F(NovaTable, ReportTextAndJsonNameEveryModel) {
  auto r = read_gpu_report(*DatabaseUrl::parse("sqlite:///" + db_), configured());
  ASSERT_TRUE(r.ok());
  const std::string text = report_text(*r);
  EXPECT_NE(text.find("11bf"), std::string::npos);
  EXPECT_NE(text.find("node 2"), std::string::npos);
  const std::string json = report_json(*r, 2, true);
  EXPECT_NE(json.find("\"product_id\": \"13f2\""), std::string::npos);
  EXPECT_NE(json.find("\"compute_node_id\": 1"), std::string::npos);
}

TEST(ReadGpuReport, MissingTableIsAnError) {
  const std::string dir = testing::temp_dir();
  testing::write_file(dir + "/empty.sqlite", "");
  auto r = read_gpu_report(*DatabaseUrl::parse("sqlite:///" + dir + "/empty.sqlite"), configured());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("pci_devices"), std::string::npos) << r.error().message;
  std::filesystem::remove_all(dir);
}

TEST(ReadGpuReport, UnreachableMysqlHidesThePassword) {
  auto url = DatabaseUrl::parse("mysql://cc:SECURE_PASSWORD@127.0.0.1:1/nova");
  ASSERT_TRUE(url.ok());
  auto r = read_gpu_report(*url, configured());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("SECURE_PASSWORD"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("***"), std::string::npos) << r.error().message;
}

AliasTable aliases() {
  AliasTable t;
  EXPECT_TRUE(
      t.add(*PciAlias::parse(R"({"vendor_id":"10de","product_id":"11bf","name":"K2_Grid"})")).ok());
  EXPECT_TRUE(
      t.add(*PciAlias::parse(R"({"vendor_id":"10de","product_id":"13f2","name":"M60"})")).ok());
  EXPECT_TRUE(t.add(*PciAlias::parse(R"({"vendor_id":"8086","name":"nic"})")).ok());
  return t;
}

GpuReport report(int k2_free, int m60_free) {
  GpuReport r;
  r.products.push_back({pid("11bf"), {k2_free, 1, 0}, {}});
  r.products.push_back({pid("13f2"), {m60_free, 0, 0}, {}});
  return r;
}

TEST(Admission, FlavorWithoutConfiguredModelAsksNothing) {
  auto asks = gpu_asks({{"pci_passthrough:alias", "nic:1"}}, aliases(), configured());
  ASSERT_TRUE(asks.ok());
  EXPECT_TRUE(asks->empty());
  auto none = gpu_asks({{"hw:cpu_policy", "dedicated"}}, aliases(), configured());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(Admission, RefusesWhenTheModelIsUsedUpAndSaysWhy) {
  auto asks = gpu_asks({{"pci_passthrough:alias", "K2_Grid:2"}}, aliases(), configured());
  ASSERT_TRUE(asks.ok());
  ASSERT_EQ(asks->size(), 1u);
  EXPECT_TRUE(check_admission(*asks, 1, report(2, 0)).ok());
  Status s = check_admission(*asks, 1, report(1, 0));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kConflict);
  EXPECT_NE(s.error().message.find("11bf"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("2 asked"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("1 free"), std::string::npos) << s.error().message;
  // Two instances of the flavor ask twice as many.
  Status two = check_admission(*asks, 2, report(3, 0));
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().message.find("4 asked"), std::string::npos) << two.error().message;
}

TEST(Admission, EachModelIsCheckedOnItsOwn) {
  auto asks = gpu_asks({{"pci_passthrough:alias", "K2_Grid:1,M60:1"}}, aliases(), configured());
  ASSERT_TRUE(asks.ok());
  ASSERT_EQ(asks->size(), 2u);
  Status s = check_admission(*asks, 1, report(5, 0));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("13f2"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("M60"), std::string::npos) << s.error().message;
}

TEST(Admission, BadAliasSpecIsAnError) {
  EXPECT_FALSE(gpu_asks({{"pci_passthrough:alias", "K2_Grid:0"}}, aliases(), configured()).ok());
}

}  // namespace
}  // namespace gpucloud::controller
