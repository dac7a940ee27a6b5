// The admission check inside the server: when gpu_query names the server's own database, the
// counts come from the conductor's fleet view (a count source) instead of a SELECT; any other
// gpu_query is still read with SQL.
#include <gtest/gtest.h>

#include "controller/controller.h"
#include "controller_test_util.h"

namespace gpucloud::controller {
namespace {

class OwnDatabase : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir();
    ini_ = dir_ + "/cloudcontroller.ini";
    // A gpu_query whose file does not exist: reading it with SQL fails, and the advisory check
    // then lets every boot through.
    url_ = "sqlite:///" + dir_ + "/own.sqlite";
    testing::write_file(ini_, testing::cloudcontroller_ini(url_));
    auto k2 = PciAlias::parse(R"({"name": "K2_Grid", "product_id": "11bf", "vendor_id": "10de"})");
    ASSERT_TRUE(k2.ok());
    ASSERT_TRUE(aliases_.add(*k2).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_, ini_, url_;
  AliasTable aliases_;
};

TEST_F(OwnDatabase, CountsComeFromTheFleetViewWhenGpuQueryNamesTheServersDatabase) {
  auto c = Controller::create({ini_, {}, ""});
  ASSERT_TRUE(c.ok()) << c.error().message;
  const std::map<std::string, std::string> one_k2 = {{"pci_passthrough:alias", "K2_Grid:1"}};
  EXPECT_TRUE((*c)->admit_boot(one_k2, aliases_, 1).ok());  // unreadable: advisory, let through
  int asked = 0;
  const ProductId k2 = *HexId::parse("11bf");
  (*c)->count_own_database_with(
      DatabaseUrl::parse(url_)->redacted(), [&](const std::vector<ProductId>& products) {
        ++asked;
        EXPECT_NE(std::find(products.begin(), products.end(), k2), products.end());
        return std::vector<store::PciDeviceCount>{{k2, 0, store::PciDeviceStatus::kAllocated, 4},
                                                  {k2, 0, store::PciDeviceStatus::kAvailable, 1}};
      });
  EXPECT_TRUE((*c)->admit_boot(one_k2, aliases_, 1).ok());
  auto two = (*c)->admit_boot(one_k2, aliases_, 2);
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().code, ErrorCode::kConflict);
  EXPECT_NE(two.error().message.find("2 asked, 1 free"), std::string::npos) << two.error().message;
  EXPECT_EQ(asked, 2);
}

TEST_F(OwnDatabase, AnotherDatabaseIsStillReadWithSql) {
  auto c = Controller::create({ini_, {}, ""});
  ASSERT_TRUE(c.ok());
  int asked = 0;
  (*c)->count_own_database_with("sqlite:///elsewhere.sqlite", [&](const std::vector<ProductId>&) {
    ++asked;
    return std::vector<store::PciDeviceCount>{};
  });
  EXPECT_TRUE((*c)->admit_boot({{"pci_passthrough:alias", "K2_Grid:1"}}, aliases_, 1).ok());
  EXPECT_EQ(asked, 0);
}

}  // namespace
}  // namespace gpucloud::controller
